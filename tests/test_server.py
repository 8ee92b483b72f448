"""The real `function --insecure` process, called over gRPC with the SDK's protobufs."""

import socket
import subprocess
import time

import grpc
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from crossplane.function.proto.v1beta1 import run_function_pb2 as fnv1beta1
from crossplane.function.proto.v1beta1 import run_function_pb2_grpc as grpcv1beta1

from tests.fixtures import STORE, world
from tests.conftest import free_port, function_command
from tests.harness import Outcome, request, run, xr


def test_the_server_answers_run_function_v1(server):
    channel, *_ = server
    stub = grpcv1.FunctionRunnerServiceStub(channel)
    out = run(xr(), {}, STORE, transport=lambda req: stub.RunFunction(req, timeout=10))
    assert "vip-claim-control-plane" in out.desired


def test_the_server_answers_run_function_v1beta1(server):
    channel, *_ = server
    stub = grpcv1beta1.FunctionRunnerServiceStub(channel)
    req = fnv1beta1.RunFunctionRequest()
    req.ParseFromString(request(xr(), {}, modern=False).SerializeToString())
    rsp = stub.RunFunction(req, timeout=10)
    assert "cluster-class" in rsp.requirements.extra_resources


def test_a_whole_lifecycle_over_grpc_composes_the_cluster(server):
    channel, *_ = server
    stub = grpcv1.FunctionRunnerServiceStub(channel)
    w = world()
    w.transport = lambda req: stub.RunFunction(req, timeout=10)
    w.settle(xr())
    cluster = w.get("Cluster", "c1", "team-a")
    assert cluster["spec"]["controlPlaneEndpoint"] == {"host": "10.0.0.10", "port": 6443}


def test_a_bad_xr_gets_a_fatal_result_not_a_grpc_error(server):
    channel, proc, *_ = server
    stub = grpcv1.FunctionRunnerServiceStub(channel)
    bad = request({"metadata": {"name": "x"}, "spec": {"cluster": [1, 2]}})
    out = Outcome(stub.RunFunction(bad, timeout=10))
    assert "spec.cluster must hold the Cluster spec" in out.fatal
    empty = Outcome(stub.RunFunction(fnv1.RunFunctionRequest(), timeout=10))
    assert empty.fatal
    assert proc.poll() is None


def test_the_server_stops_on_sigterm():
    address = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen([*function_command(), "--insecure", "--address", address])
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=30)
    channel.close()
    started = time.monotonic()
    proc.terminate()
    assert proc.wait(timeout=15) is not None
    assert time.monotonic() - started < 10


def test_a_metrics_port_in_use_is_one_line_that_names_the_flag():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics = f"127.0.0.1:{taken.getsockname()[1]}"
        done = subprocess.run([*function_command(metrics), "--insecure", "--address", f"127.0.0.1:{free_port()}"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith(f"the /metrics endpoint cannot listen on '{metrics}'")
    assert "--metrics-address (or METRICS_ADDRESS)" in done.stderr and "Traceback" not in done.stderr


def test_a_second_instance_on_the_same_grpc_port_is_refused():
    address = f"127.0.0.1:{free_port()}"
    first = subprocess.Popen([*function_command(), "--insecure", "--address", address])
    try:
        channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(channel).result(timeout=30)
        channel.close()
        second = subprocess.run([*function_command(), "--insecure", "--address", address],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert f"cannot listen for gRPC on '{address}'" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.terminate()
        first.wait(timeout=15)


def test_help_names_every_flags_environment_variable():
    done = subprocess.run([*function_command(), "--help"], capture_output=True, text=True, timeout=60)
    for variable in ("TLS_SERVER_CERTS_DIR", "ADDRESS", "METRICS_ADDRESS", "SHUTDOWN_DRAIN_SECONDS", "SHUTDOWN_GRACE_SECONDS"):
        assert variable in done.stdout


def test_version_is_the_projects():
    from tools import image

    done = subprocess.run([*function_command(), "--version"], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == f"function-capi-vip, version {image.project_version()}"


def test_a_call_carrying_a_large_pools_ipaddresses_is_served(server):
    """A call that places a new address carries its pool's IPAddresses (function/double_allocation.py): for a
    GlobalInClusterIPPool, every namespace's. 10,000 of them, as Crossplane sends them, are 14 MB: more than the
    SDK's 4 MB default, within the function's."""
    from tests.fixtures import bound
    from tests.harness import ip_address

    channel, *_ = server
    stub = grpcv1.FunctionRunnerServiceStub(channel)
    observed, store = bound()
    managed = [{"manager": "cluster-api-ipam-provider-in-cluster", "operation": "Update", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:finalizers": {}, "f:ownerReferences": {}},
                             "f:spec": {"f:address": {}, "f:claimRef": {}, "f:gateway": {}, "f:poolRef": {}, "f:prefix": {}}}}]
    others = []
    for i in range(10_000):
        a = ip_address(f"vip-cp-x{i}", f"10.1.{i // 250}.{i % 250 + 1}", namespace=f"team-{i % 50}")
        a["metadata"].update({"uid": f"0f8fe0a0-7d0f-4ef1-9a43-{i:012d}", "resourceVersion": str(100_000 + i),
                              "finalizers": ["ipam.cluster.x-k8s.io/ProtectAddress"], "managedFields": managed})
        others.append(a)
    fetched = {"cluster-class": [STORE[0]], "existing/cluster": [], "address/control-plane": [store[0]],
               "address/ingress": [store[1]], "ipaddresses": [*others, *store]}
    req = request(xr(), observed, modern=True, fetched=fetched)
    assert req.ByteSize() > 4 * 1024 * 1024
    out = Outcome(stub.RunFunction(req, timeout=30))
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
