"""Load benchmark: function-capi-vip against the floor (a no-op function on the same SDK).

    .venv/bin/python bench/load.py [--calls 2000] [--soak 100000] [--quick]

Starts both servers, drives them in the same run with the same requests over gRPC,
and prints markdown tables of ratios against the floor: latency p50/p99 at
concurrency 1, 8 and 32; calls/s; server CPU per call; RSS; cold start; and how server
CPU per call grows with the ClusterClass, the Cluster's variables and the pools.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import grpc
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import requests  # noqa: E402
from bench.progress import Progress  # noqa: E402
from tests.conftest import free_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
BIN = Path(sys.executable).parent


def precompile() -> None:
    """Write the function's bytecode, as the Dockerfile does: cold start must not measure compiling our
    source (with PYTHONDONTWRITEBYTECODE set, Python would otherwise compile it on every start)."""
    compileall.compile_dir(str(HERE.parent / "function"), quiet=1)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    def __init__(self, name: str, command: list[str]):
        self.name = name
        self.address = f"127.0.0.1:{free_port()}"
        self.command = [*command, "--insecure", "--address", self.address]
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def ours() -> Server:
    return Server("function-capi-vip", [str(BIN / "function"), "--metrics-address", "", "--shutdown-drain-seconds", "0"])


def floor() -> Server:
    return Server("no-op SDK function", [sys.executable, str(HERE / "noop.py")])


async def first_answer(server: Server, req) -> float:
    """Seconds from process start to the first answer."""
    while True:
        try:
            async with grpc.aio.insecure_channel(server.address) as ch:
                await grpcv1.FunctionRunnerServiceStub(ch).RunFunction(req, timeout=1, wait_for_ready=False)
            return time.perf_counter() - server.started
        except grpc.RpcError:
            await asyncio.sleep(0.002)


async def drive(address: str, req, concurrency: int, calls: int) -> tuple[list[float], float]:
    """Latencies of calls made by `concurrency` clients; and the wall time."""
    latencies: list[float] = []
    remaining = calls
    async with grpc.aio.insecure_channel(address) as ch:
        stub = grpcv1.FunctionRunnerServiceStub(ch)
        await stub.RunFunction(req, timeout=10)

        async def client():
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                t = time.perf_counter()
                await stub.RunFunction(req, timeout=10)
                latencies.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return latencies, time.perf_counter() - start


async def measure(server: Server, req, concurrency: int, calls: int) -> dict:
    before = cpu_seconds(server.proc.pid)
    lat, wall = await drive(server.address, req, concurrency, calls)
    cpu = cpu_seconds(server.proc.pid) - before
    lat.sort()
    return {"p50": lat[len(lat) // 2] * 1e3, "p99": lat[int(len(lat) * 0.99)] * 1e3, "rps": len(lat) / wall,
            "cpu": cpu / len(lat) * 1e3}


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


async def main(args) -> None:
    precompile()
    # "converged, fetched" is the one call of a steady reconcile from Crossplane v2.4 (and the second
    # before); "converged, first call" is the first call before v2.4, which only names what to fetch.
    reqs = {"first": requests.first(), "waiting": requests.waiting(), "converged, first call": requests.converged(),
            "converged, fetched": requests.converged(fetch=True)}
    servers, cold = [], {}
    for make in (ours, floor):  # one at a time, so neither start competes with the other
        s = make()
        cold[s.name] = [await first_answer(s, reqs["first"])]
        servers.append(s)
    await asyncio.sleep(1)
    idle = {s.name: rss_mib(s.proc.pid) for s in servers}

    print("Requests: " + ", ".join(f"{k} {r.ByteSize()} B" for k, r in reqs.items()) + f". {args.calls} calls per cell.\n")
    print("| request | concurrency | p50 ms (ours / floor) | p99 ms (ours / floor) | calls/s (ours / floor) | server CPU ms/call (ours / floor) |")
    print("|---|---|---|---|---|---|")
    cells = Progress("cells", len(reqs) * 3)
    for k, (kind, req) in enumerate(reqs.items()):
        for j, c in enumerate((1, 8, 32)):
            cells.update(k * 3 + j, f"{kind}, concurrency {c}")
            a = await measure(servers[0], req, c, args.calls)
            b = await measure(servers[1], req, c, args.calls)
            print(f"| {kind} | {c} | {a['p50']:.2f} / {b['p50']:.2f} ({ratio(a['p50'], b['p50'])}) | "
                  f"{a['p99']:.2f} / {b['p99']:.2f} ({ratio(a['p99'], b['p99'])}) | "
                  f"{a['rps']:.0f} / {b['rps']:.0f} ({ratio(a['rps'], b['rps'])}) | "
                  f"{a['cpu']:.3f} / {b['cpu']:.3f} ({ratio(a['cpu'], b['cpu'])}) |")

    rss_before = {s.name: rss_mib(s.proc.pid) for s in servers}
    if args.soak:
        for s in servers:
            await drive(s.address, reqs["converged, fetched"], 8, args.soak)
    rss_after = {s.name: rss_mib(s.proc.pid) for s in servers}
    for s in servers:
        s.stop()
    for _ in range(args.cold_runs - 1):
        for make in (ours, floor):
            s = make()
            cold[s.name].append(await first_answer(s, reqs["first"]))
            s.stop()

    print("\n| | cold start (median) | idle RSS | RSS before soak | RSS after soak |")
    print("|---|---|---|---|---|")
    for s in servers:
        print(f"| {s.name} | {statistics.median(cold[s.name]) * 1e3:.0f} ms | {idle[s.name]:.1f} MiB | "
              f"{rss_before[s.name]:.1f} MiB | {rss_after[s.name]:.1f} MiB ({args.soak} converged calls) |")

    print("\n| growth | size | request bytes | server CPU ms/call | CPU µs per KB |")
    print("|---|---|---|---|---|")
    scaled = ours()
    await first_answer(scaled, reqs["first"])
    for label, make, sizes in (
        ("ClusterClass variables", lambda n: requests.converged(class_variables=n, fetch=True), (10, 100, 1000)),
        ("Cluster topology variables", lambda n: requests.converged(cluster_variables=n), (10, 100, 1000)),
        ("matching pools", lambda n: requests.waiting(pools=n), (1, 10, 100)),
    ):
        for n in sizes:
            req = make(n)
            m = await measure(scaled, req, 1, max(200, args.calls // 10))
            kb = req.ByteSize() / 1024
            print(f"| {label} | {n} | {req.ByteSize()} | {m['cpu']:.3f} | {m['cpu'] * 1e3 / kb:.1f} |")
    scaled.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--soak", type=int, default=100_000)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer calls, no soak: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.soak, args.cold_runs = 300, 0, 1
    asyncio.run(main(args))
