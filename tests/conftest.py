import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from crossplane.function import logging

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
logging.configure(logging.Level.DISABLED)


SUMMARY: list[str] = []  # lines for the end of the run (what the image and package builds took)


def pytest_terminal_summary(terminalreporter):
    for line in SUMMARY:
        terminalreporter.write_line(line)


# The tiers, by module: `pytest -m "not e2e and not image and not slow"` is the fast one (every rule's table, the
# small worlds' properties, the server), `pytest` everything (what CI runs).
TIERS = {
    "e2e": lambda path: "e2e" in path.parts,
    "image": lambda path: path.name == "test_image.py",
    "slow": lambda path: path.name in ("test_simulation.py", "test_validate.py", "test_render.py"),
}


def pytest_configure(config):
    config.addinivalue_line("markers", "peers: runs the real capi-vip-allocator or the Go pipeline, built from their "
                                       "sources (tools/peers.py); not collected where the sources are absent")
    config.addinivalue_line("markers", "e2e: runs on the real management cluster the suite starts (tests/e2e)")
    config.addinivalue_line("markers", "image: builds the image and the package, and runs the image")
    config.addinivalue_line("markers", "slow: the simulator's long runs, and what the real crossplane CLIs render and validate")


def pytest_collection_modifyitems(config, items):
    """Each test gets its tier's marker; where the peers' sources are absent (a user's clone), the peer runs are left
    out, and the summary says so."""
    from tools import peers

    for item in items:
        for marker, applies in TIERS.items():
            if applies(Path(str(item.path))):
                item.add_marker(marker)

    left_out = [item for item in items if item.get_closest_marker("peers")]
    if not left_out or peers.available():
        return
    items[:] = [item for item in items if not item.get_closest_marker("peers")]
    config.hook.pytest_deselected(items=left_out)
    SUMMARY.append(f"NOT COLLECTED: {len(left_out)} peer run(s) ({', '.join(sorted({i.name for i in left_out}))}): "
                   f"{peers.not_collected_reason()}")


def sigterm_through_the_drain(proc, channel, seconds: float = 0.7) -> tuple[list[int], int]:
    """SIGTERM a serving function and call RunFunction for `seconds` (within its drain period):
    returns the health statuses its Watch gave until NOT_SERVING, and how many calls were answered."""
    import signal
    import threading
    import time

    from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from tests.harness import request, xr

    statuses: list[int] = []
    watching = threading.Event()

    def watch():
        for rsp in health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=20):
            statuses.append(rsp.status)
            watching.set()
            if rsp.status == health_pb2.HealthCheckResponse.NOT_SERVING:
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert watching.wait(10)
    proc.send_signal(signal.SIGTERM)
    sent, answered = time.monotonic(), 0
    while time.monotonic() - sent < seconds:
        grpcv1.FunctionRunnerServiceStub(channel).RunFunction(request(xr()), timeout=5)
        answered += 1
    watcher.join(10)
    return statuses, answered


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def function_command(metrics_address: str = "") -> list[str]:
    """The installed console script; metrics off unless an address is given (tests run servers side by side)."""
    script = Path(sys.executable).with_name("function")
    found = str(script) if script.exists() else shutil.which("function")
    if not found:
        pytest.fail("the console script `function` is not installed; run: pip install -e '.[test]'")
    return [found, "--metrics-address", metrics_address]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The real `function --insecure` process; its log goes to a file (a pipe nobody reads would fill up)."""
    address = f"127.0.0.1:{free_port()}"
    metrics_address = f"127.0.0.1:{free_port()}"
    log = tmp_path_factory.mktemp("server") / "function.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*function_command(metrics_address), "--insecure", "--address", address,
                                 "--shutdown-drain-seconds", "0"], stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
    except grpc.FutureTimeoutError:
        proc.kill()
        pytest.fail(f"function did not start: {log.read_text()}")
    yield channel, proc, address, metrics_address, log
    channel.close()
    proc.terminate()
    proc.wait(timeout=15)


def _cli(line: str):
    """A line of the real crossplane CLI; the test fails, naming the install command, when it is not built."""
    from tests.cli import CLI, LINES
    from tools.gobuild import Missing

    try:
        return CLI(LINES[line])
    except Missing as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def newest_cli():
    return _cli("newest")


@pytest.fixture(scope="session")
def v2_2_cli():
    return _cli("v2.2")


@pytest.fixture(scope="session")
def v1_cli():
    return _cli("v1")


@pytest.fixture(scope="session")
def functions(server, tmp_path_factory) -> Path:
    """examples/functions.yaml, its Development runtime aimed at the function the tests started."""
    import yaml

    *_, address, _, _ = server
    root = Path(__file__).resolve().parents[1]
    docs = list(yaml.safe_load_all((root / "examples" / "functions.yaml").read_text()))
    for fn in docs:
        fn["metadata"]["annotations"]["render.crossplane.io/runtime-development-target"] = address
    path = tmp_path_factory.mktemp("functions") / "functions.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


@pytest.fixture(scope="session")
def built_package(tmp_path_factory):
    """The README's Install it commands, run once: the image, the package, pushed to a registry on 127.0.0.1."""
    from tests import oci
    from tests.e2e.stack import StackError
    from tests.package import Registry, build_and_push

    why = oci.need_root()
    if why:
        pytest.fail(f"the image and package tests need root: {why}", pytrace=False)
    try:
        registry = Registry(tmp_path_factory.mktemp("registry"))
    except StackError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        built = build_and_push(registry)
        SUMMARY.append(f"image and package built and pushed in {built.seconds['install commands']:.0f} s (image "
                      f"{built.report['bytes']['oci_archive'] / 2**20:.0f} MiB compressed, "
                      f"{built.report['bytes']['docker_archive'] / 2**20:.0f} MiB unpacked)")
        yield built
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    finally:
        registry.stop()


@pytest.fixture(autouse=True)
def conditions_keep_their_contract(monkeypatch):
    """Every condition a response of the function carries is one function/conditions.py's CONTRACTS allows (the
    table of docs/how-it-works.md is generated from them)."""
    from crossplane.function.proto.v1 import run_function_pb2 as fnv1

    from function import conditions, fn

    original = fn.to_response

    def checked(req, inp, decision):
        rsp = original(req, inp, decision)
        for c in rsp.conditions:
            contract = conditions.contract(c.type)
            status = c.status == fnv1.STATUS_CONDITION_TRUE
            assert contract is not None and contract.allows(status, c.reason), (
                f"condition {c.type} {status} {c.reason} is not in function/conditions.py's CONTRACTS: {c.message}")
        return rsp

    monkeypatch.setattr(fn, "to_response", checked)
