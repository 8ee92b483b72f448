"""Fleet load: N clusters created and converged in the simulated management cluster.

    .venv/bin/python bench/fleet.py [--clusters 10000] [--seed 0] [--hours 2]
    .venv/bin/python bench/fleet.py --edits 300 [--clusters 10000] [--seed 0] [--teams 20]

Prints, for Crossplane before v2.4 and for v2.4+ (which seeds each reconcile with the last
one's requirements): wall time; function calls per cluster until every Cluster exists and
is Ready; steady-state function calls and applies of composed resources (each a
server-side apply request to the API server) per cluster per hour under the function's
TTLs; and the same steady state under the SDK's 60 s default TTL, for comparison. Every
property the tests check is checked here too; a violation fails the run.

With --edits N: the fleet converged (v2.4+), then N steps of what platform engineers do (tests/edits.py: manual
endpoints and ingress VIPs, ingress off and on, hand edits of live Clusters, claims deleted by hand, pools and
ClusterClasses removed and added, IPAM down and up, new XRs) on the XRs of team-a, the world settled, and every
property checked, including that every address went back to its pool. With --teams K the fleet is spread over K
team namespaces (see build()): every XR's placing calls carry its pool's IPAddresses, so one namespace of thousands
of XRs created at once costs the square of its size.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crossplane.function import logging  # noqa: E402

from bench.progress import Progress  # noqa: E402
from tests.harness import cluster_class, pool, xr  # noqa: E402
from tests.sim import Sim  # noqa: E402

CLASSES = ("alpha", "beta", "gamma", "delta")


def namespace_of(i: int, teams: int | None) -> str:
    """XR c<i>'s namespace: team-a and team-b in turn, or with ``teams`` one of team-a, team-1 ... team-<teams-1>."""
    if teams is None:
        return ("team-a", "team-b")[i % 2]
    return "team-a" if i % teams == 0 else f"team-{i % teams}"


def build(n: int, seed: int, inp: dict | None = None, seeding: bool = False, teams: int | None = None) -> Sim:
    """The fleet: classes alpha to delta with a global control-plane and ingress pool each (a /16), in team-a and
    team-b. With ``teams``: those in team-a only, and each other team its own classes (alpha-team-<k> ...) with
    InClusterIPPools in its namespace (a /20 each), as tenants of a large management cluster have; a placing call
    then carries its team's IPAddresses, and team-a's (global pools) every namespace's."""
    sim = Sim(seed=seed, inp=inp, seeding=seeding)
    for i, cls in enumerate(CLASSES):
        for ns in ("team-a", "team-b") if teams is None else ("team-a",):
            sim.add(cluster_class(cls, ns))
        sim.add(pool(f"{cls}-cp", cls, addresses=(f"10.{i}.0.0/16",), prefix=16, gateway=f"10.{i}.0.1"),
                pool(f"{cls}-ingress", cls, "ingress", addresses=(f"10.{i + 100}.0.0/16",), prefix=16,
                     gateway=f"10.{i + 100}.0.1"))
        for k in range(1, teams or 0):
            ns = f"team-{k}"
            sim.add(cluster_class(f"{cls}-{ns}", ns),
                    pool(f"{cls}-cp", f"{cls}-{ns}", kind="InClusterIPPool", namespace=ns,
                         addresses=(f"10.{10 + k}.{16 * i}.0/20",), prefix=16, gateway=f"10.{10 + k}.0.1"),
                    pool(f"{cls}-ingress", f"{cls}-{ns}", "ingress", kind="InClusterIPPool", namespace=ns,
                         addresses=(f"10.{110 + k}.{16 * i}.0/20",), prefix=16, gateway=f"10.{110 + k}.0.1"))
    for i in range(n):
        ns = namespace_of(i, teams)
        cls = CLASSES[i % 4] if ns in ("team-a", "team-b") else f"{CLASSES[i % 4]}-{ns}"
        sim.crossplane.create_xr(xr(f"c{i}", ns, cls))
    return sim


def ready(sim: Sim) -> int:
    return sum(1 for c in sim.api.of_kind("Cluster")
               if any(x["type"] == "Ready" and x["status"] == "True" for x in (c.get("status") or {}).get("conditions", [])))


def run(n: int, seed: int, hours: float, inp: dict | None = None, seeding: bool = False) -> dict:
    sim = build(n, seed, inp, seeding)
    started = time.perf_counter()
    converging = Progress("Clusters Ready", n)
    while (done := ready(sim)) < n and sim.clock.now < 3600:
        converging.update(done, f"{sim.clock.now:.0f} simulated s")
        sim.run_for(30)
    converge_calls = sim.crossplane.calls
    converge_time = sim.clock.now
    steady_from, applies_from = sim.crossplane.calls, sim.crossplane.applies
    steady = Progress("steady state, simulated minutes", hours * 60)
    for minute in range(int(hours * 60)):
        steady.update(minute)
        sim.run_for(60)
    sim.run_for(hours * 3600 - int(hours * 60) * 60)
    sim.audit()
    sim.check()
    return {
        "clusters": n,
        "wall_s": time.perf_counter() - started,
        "sim_converge_s": converge_time,
        "calls_per_cluster_to_converge": converge_calls / n,
        "steady_calls_per_cluster_hour": (sim.crossplane.calls - steady_from) / n / hours,
        "steady_applies_per_cluster_hour": (sim.crossplane.applies - applies_from) / n / hours,
        "errors": len(sim.crossplane.errors),
    }


def run_edits(n: int, seed: int, steps: int, teams: int | None = None) -> dict:
    from tests.edits import EditRun

    sim = build(n, seed, seeding=True, teams=teams)
    started = time.perf_counter()
    converging = Progress("Clusters Ready", n)
    while (done := ready(sim)) < n and sim.clock.now < 3600:
        converging.update(done, f"{sim.clock.now:.0f} simulated s")
        sim.run_for(30)
    edits = EditRun(sim)
    edits.names = [f"c{i}" for i in range(n) if namespace_of(i, teams) == "team-a"]  # the namespace the edits work in
    editing = Progress("edit steps", steps)
    for step in range(steps):
        editing.update(step)
        edits.step()
    edits.settle()
    sim.check()
    return {"clusters": n, "steps": steps, "wall_s": time.perf_counter() - started, "ops": dict(sorted(edits.ops.items())),
            "errors": len(sim.crossplane.errors), "violations": len(sim.violations)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--edits", type=int, help="random user edits on the converged fleet instead of the steady state")
    parser.add_argument("--teams", type=int, help="with --edits: the fleet spread over this many team namespaces, "
                                                  "team-a's on global pools, every other team's on pools of its own")
    args = parser.parse_args()
    logging.configure(logging.Level.DISABLED)
    if args.edits is not None:
        r = run_edits(args.clusters, args.seed, args.edits, args.teams)
        print(f"fleet with edits: {r['clusters']} XRs in {args.teams or 2} namespaces, {r['steps']} edit steps ({r['ops']}), settled; "
              f"{r['violations']} property violations, {r['errors']} errors; {r['wall_s']:.0f} s")
        return
    sdk_ttl = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "ttl": {"waiting": "15s", "converged": "60s"}}
    rows = [
        ("Crossplane before v2.4", run(args.clusters, args.seed, args.hours)),
        ("Crossplane v2.4+", run(args.clusters, args.seed, args.hours, seeding=True)),
        ("before v2.4, SDK default TTL 60 s", run(min(args.clusters, 200), args.seed, 1.0, sdk_ttl)),
    ]
    print("| runner | clusters | wall | converged after (simulated) | calls/cluster to converge "
          "| steady calls/cluster/hour | steady applies/cluster/hour | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for label, r in rows:
        print(f"| {label} | {r['clusters']} | {r['wall_s']:.1f} s | {r['sim_converge_s']:.0f} s | "
              f"{r['calls_per_cluster_to_converge']:.1f} | {r['steady_calls_per_cluster_hour']:.1f} | "
              f"{r['steady_applies_per_cluster_hour']:.1f} | {r['errors']} |")

if __name__ == "__main__":
    main()
