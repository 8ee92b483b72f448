"""Running in production: health, metrics, graceful shutdown (the image itself: tests/test_image.py)."""

import os
import subprocess
import urllib.request
from pathlib import Path

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port, function_command, sigterm_through_the_drain
from tests.fixtures import world
from tests.harness import request, xr

ROOT = Path(__file__).resolve().parents[1]
RUNNER = "apiextensions.fn.proto.v1.FunctionRunnerService"


class Server:
    """A dedicated `function --insecure` process, so its metrics count only this test's calls."""

    def __init__(self, *extra: str):
        extra = extra or ("--shutdown-drain-seconds", "0")
        self.address = f"127.0.0.1:{free_port()}"
        self.metrics = f"127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen([*function_command(self.metrics), "--insecure", "--address", self.address, *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.channel = grpc.insecure_channel(self.address)
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = grpcv1.FunctionRunnerServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def scrape(self) -> dict[tuple, float]:
        text = urllib.request.urlopen(f"http://{self.metrics}/metrics", timeout=5).read().decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    def stop(self) -> str:
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        return out.decode()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


def test_health_is_serving_once_the_function_can_answer(server):
    for service in ("", RUNNER):
        rsp = server.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert rsp.status == health_pb2.HealthCheckResponse.SERVING


def test_metrics_count_calls_results_vips_waiting_and_pools(server):
    w = world()
    w.transport = lambda req: server.stub.RunFunction(req, timeout=10)
    w.reconcile(xr("m1"))  # claims made: both roles wait on IPAM
    m = server.scrape()
    assert m[("function_capi_vip_xrs_waiting_for_address", (("role", "control-plane"),))] == 1
    assert m[("function_capi_vip_pool_free_addresses", (("kind", "GlobalInClusterIPPool"), ("name", "cp-pool"), ("namespace", "")))] == 9
    assert m[("function_capi_vip_pool_addresses", (("kind", "GlobalInClusterIPPool"), ("name", "ing-pool"), ("namespace", "")))] == 11
    w.converge_ipam()
    w.reconcile(xr("m1"))  # the Cluster is composed with both VIPs
    m = server.scrape()
    assert m[("function_capi_vip_vips_assigned_total", (("role", "control-plane"),))] == 1
    assert m[("function_capi_vip_vips_assigned_total", (("role", "ingress"),))] == 1
    assert m[("function_capi_vip_results_total", (("reason", "Assigned"), ("severity", "Normal")))] == 2
    assert m[("function_capi_vip_xrs_waiting_for_address", (("role", "control-plane"),))] == 0
    calls = m[("function_capi_vip_run_function_duration_seconds_count", ())]
    assert calls >= 4  # two reconciles, each at least two calls (requirements)
    assert m[("function_capi_vip_run_function_duration_seconds_sum", ())] > 0


def test_a_fatal_result_is_counted(server):
    server.stub.RunFunction(request({"metadata": {"name": "x"}, "spec": {}}), timeout=5)
    assert server.scrape()[("function_capi_vip_results_total", (("reason", ""), ("severity", "Fatal")))] == 1


def test_logs_are_quiet_in_steady_state_and_say_what_changed(server):
    w = world()
    w.transport = lambda req: server.stub.RunFunction(req, timeout=10)
    w.settle(xr("q1"), rounds=3)
    steady = [w.reconcile(xr("q1")) for _ in range(5)]
    assert all(o.rsp.results == [] for o in steady)
    lines = [line for line in server.stop().splitlines() if '"msg"' in line]
    assigned = [line for line in lines if "assigned to Cluster team-a/q1" in line]
    assert len(assigned) == 2, lines
    assert '"xr": "team-a/q1"' in assigned[0] and '"reason": "Assigned"' in assigned[0]
    # serving, the two assignments, and nothing per steady reconcile
    assert len([line for line in lines if "assigned" not in line and '"serving"' not in line and "shutting" not in line
                and '"stopped"' not in line]) == 0, lines


def test_on_stop_health_goes_not_serving_first_and_a_call_in_flight_finishes():
    """The shutdown sequence itself, in-process, with a call that takes a second."""
    import asyncio

    from function import fn
    from function import server as servers

    class Slow(grpcv1.FunctionRunnerServiceServicer):
        async def RunFunction(self, req, context):  # noqa: N802
            await asyncio.sleep(1.0)
            return fn.run(req)

    address = f"127.0.0.1:{free_port()}"

    async def scenario():
        stopping = asyncio.Event()
        serving = asyncio.create_task(servers._serve(Slow(), address, None, [], drain=0.5, grace=5, stopping=stopping))
        async with grpc.aio.insecure_channel(address) as channel:
            await asyncio.wait_for(channel.channel_ready(), 10)
            in_flight = asyncio.ensure_future(grpcv1.FunctionRunnerServiceStub(channel).RunFunction(request(xr()), timeout=10))
            await asyncio.sleep(0.2)
            stopping.set()
            await asyncio.sleep(0.1)
            checked = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            rsp = await in_flight
        await asyncio.wait_for(serving, 10)
        return checked.status, rsp

    status, rsp = asyncio.run(scenario())
    assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert "cluster-class" in rsp.requirements.resources


def test_sigterm_stops_the_process_cleanly_after_answering_through_the_drain():
    server = Server("--shutdown-drain-seconds", "1", "--shutdown-grace-seconds", "5")
    statuses, answered_after_sigterm = sigterm_through_the_drain(server.proc, server.channel)
    assert statuses == [health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING]
    assert answered_after_sigterm > 0
    assert server.proc.wait(timeout=15) == 0
    assert '"msg": "stopped"' in server.stop()
