"""The real `function --insecure` process, called over gRPC with the SDK's protobufs."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from crossplane.function.proto.v1beta1 import run_function_pb2 as fnv1beta1
from crossplane.function.proto.v1beta1 import run_function_pb2_grpc as grpcv1beta1

from tests.fixtures import STORE, world
from tests.harness import Outcome, request, run, xr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command() -> list[str]:
    script = Path(sys.executable).with_name("function")
    if script.exists():
        return [str(script)]
    found = shutil.which("function")
    if found:
        return [found]
    pytest.fail("the console script `function` is not installed; run: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def server():
    address = f"127.0.0.1:{_free_port()}"
    proc = subprocess.Popen([*_command(), "--insecure", "--address", address], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
    except grpc.FutureTimeoutError:
        proc.kill()
        pytest.fail(f"function did not start: {proc.communicate()[0].decode()}")
    yield channel, proc
    channel.close()
    proc.terminate()
    proc.wait(timeout=15)


def test_the_server_answers_run_function_v1(server):
    channel, _ = server
    stub = grpcv1.FunctionRunnerServiceStub(channel)
    out = run(xr(), {}, STORE, transport=lambda req: stub.RunFunction(req, timeout=10))
    assert "vip-claim-control-plane" in out.desired


def test_the_server_answers_run_function_v1beta1(server):
    channel, _ = server
    stub = grpcv1beta1.FunctionRunnerServiceStub(channel)
    req = fnv1beta1.RunFunctionRequest()
    req.ParseFromString(request(xr(), {}, modern=False).SerializeToString())
    rsp = stub.RunFunction(req, timeout=10)
    assert "cluster-class" in rsp.requirements.extra_resources


def test_a_whole_lifecycle_over_grpc_composes_the_cluster(server):
    channel, _ = server
    stub = grpcv1.FunctionRunnerServiceStub(channel)
    w = world()
    w.transport = lambda req: stub.RunFunction(req, timeout=10)
    w.settle(xr())
    cluster = w.get("Cluster", "c1", "team-a")
    assert cluster["spec"]["controlPlaneEndpoint"] == {"host": "10.0.0.10", "port": 6443}


def test_a_bad_xr_gets_a_fatal_result_not_a_grpc_error(server):
    channel, proc = server
    stub = grpcv1.FunctionRunnerServiceStub(channel)
    bad = request({"metadata": {"name": "x"}, "spec": {"cluster": [1, 2]}})
    out = Outcome(stub.RunFunction(bad, timeout=10))
    assert "spec.cluster must hold the Cluster spec" in out.fatal
    empty = Outcome(stub.RunFunction(fnv1.RunFunctionRequest(), timeout=10))
    assert empty.fatal
    assert proc.poll() is None


def test_the_server_stops_on_sigterm():
    address = f"127.0.0.1:{_free_port()}"
    proc = subprocess.Popen([*_command(), "--insecure", "--address", address])
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=30)
    channel.close()
    started = time.monotonic()
    proc.terminate()
    assert proc.wait(timeout=15) is not None
    assert time.monotonic() - started < 10
