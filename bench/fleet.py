"""Fleet load: N clusters created and converged in the simulated management cluster.

    .venv/bin/python bench/fleet.py [--clusters 10000] [--seed 0] [--hours 2]

Prints: wall time; function calls per cluster until every Cluster exists and is Ready;
steady-state calls per cluster per hour under the function's TTLs; and the same steady
state under the SDK's 60 s default TTL, for comparison. Every property the tests check
is checked here too; a violation fails the run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crossplane.function import logging  # noqa: E402

from tests.harness import cluster_class, pool, xr  # noqa: E402
from tests.sim import Sim  # noqa: E402

CLASSES = ("alpha", "beta", "gamma", "delta")


def build(n: int, seed: int, inp: dict | None = None) -> Sim:
    sim = Sim(seed=seed, inp=inp)
    for i, cls in enumerate(CLASSES):
        for ns in ("team-a", "team-b"):
            sim.add(cluster_class(cls, ns))
        sim.add(pool(f"{cls}-cp", cls, addresses=(f"10.{i}.0.0/16",), prefix=16, gateway=f"10.{i}.0.1"),
                pool(f"{cls}-ingress", cls, "ingress", addresses=(f"10.{i + 100}.0.0/16",), prefix=16,
                     gateway=f"10.{i + 100}.0.1"))
    for i in range(n):
        sim.crossplane.create_xr(xr(f"c{i}", ("team-a", "team-b")[i % 2], CLASSES[i % 4]))
    return sim


def ready(sim: Sim) -> int:
    return sum(1 for c in sim.api.of_kind("Cluster")
               if any(x["type"] == "Ready" and x["status"] == "True" for x in (c.get("status") or {}).get("conditions", [])))


def run(n: int, seed: int, hours: float, inp: dict | None = None) -> dict:
    sim = build(n, seed, inp)
    started = time.perf_counter()
    while ready(sim) < n and sim.clock.now < 3600:
        sim.run_for(30)
    converge_calls = sim.crossplane.calls
    converge_time = sim.clock.now
    steady_from = sim.crossplane.calls
    sim.run_for(hours * 3600)
    sim.audit()
    sim.check()
    return {
        "clusters": n,
        "wall_s": time.perf_counter() - started,
        "sim_converge_s": converge_time,
        "calls_per_cluster_to_converge": converge_calls / n,
        "steady_calls_per_cluster_hour": (sim.crossplane.calls - steady_from) / n / hours,
        "errors": len(sim.crossplane.errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hours", type=float, default=2.0)
    args = parser.parse_args()
    logging.configure(logging.Level.DISABLED)
    ours = run(args.clusters, args.seed, args.hours)
    sdk = run(min(args.clusters, 200), args.seed, 1.0,
              {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "ttl": {"waiting": "15s", "converged": "60s"}})
    print(f"| clusters | wall | converged after (simulated) | calls/cluster to converge | steady calls/cluster/hour | errors |")
    print("|---|---|---|---|---|---|")
    print(f"| {ours['clusters']} | {ours['wall_s']:.1f} s | {ours['sim_converge_s']:.0f} s | "
          f"{ours['calls_per_cluster_to_converge']:.1f} | {ours['steady_calls_per_cluster_hour']:.1f} | {ours['errors']} |")
    print(f"| {sdk['clusters']} (SDK default TTL 60 s) | {sdk['wall_s']:.1f} s | {sdk['sim_converge_s']:.0f} s | "
          f"{sdk['calls_per_cluster_to_converge']:.1f} | {sdk['steady_calls_per_cluster_hour']:.1f} | {sdk['errors']} |")


if __name__ == "__main__":
    main()
