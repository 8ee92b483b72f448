"""The long differential run: under random user edits, a seeded answer always equals a fresh one.

    .venv/bin/python bench/differential.py [--steps 100000] [--segment 500] [--seed 0] [--jobs 2]

Crossplane v2.4+ sends a step the requirements it returned on the XR's last reconcile and
takes its first answer when nothing it asked for changed: a reconcile in one call. That
answer must be the one a fresh fetching loop gives on the same state. This run drives the
simulated management cluster (tests/sim.py) with random edits (tests/edits.py) in segments of
--segment steps, each a fresh cluster with its own seed, in turn with the default Input, with
Usages off, with manualVips.checkPools (manual VIPs inside the pools among the edits), with dns
(turned off and on among the edits), with service load-balancer addresses (their counts
edited) and with dual-stack pairs (IPv6 pools, the pair turned off and on), and compares every seeded answer with a fresh one (Sim(differential=True)).
After each segment the world settles and every property the tests check is checked,
including that no claim holds an address its Cluster does not use.

Prints one line per segment with a violation, and a last line:
    differential: <steps> steps in <n> segments, <answers> seeded answers compared (<one> in one call), <d> differences, <v> other violations; <s> s
Exit status 1 on any violation.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def segment(args: tuple[int, int]) -> dict:
    from crossplane.function import logging

    logging.configure(logging.Level.DISABLED)
    from tests import edits
    from tests.sim import Sim

    seed, steps = args
    inp = (None, edits.USAGE_OFF, edits.CHECK_POOLS, edits.DNS, edits.SERVICE_LB, edits.DUAL_STACK)[seed % 6]
    usage_off = inp is edits.USAGE_OFF
    sim = Sim(seed=seed, seeding=True, differential=True, inp=inp, teardown_may_share=usage_off)
    edits.run(sim, steps, wait=(0.5, 5.0))
    sim.check_claims_serve()
    differences = [v for v in sim.violations if "seeded (" in v]
    return {
        "seed": seed,
        "answers": sim.crossplane.seeded_answers,
        "one_call": sim.crossplane.one_call_answers,
        "differences": differences,
        "others": [v for v in sim.violations if v not in differences],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--segment", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    count = -(-args.steps // args.segment)
    work = [(args.seed + i, min(args.segment, args.steps - i * args.segment)) for i in range(count)]
    started = time.perf_counter()
    totals = {"answers": 0, "one_call": 0, "differences": 0, "others": 0}
    with multiprocessing.Pool(args.jobs) as pool:
        for result in pool.imap_unordered(segment, work):
            for key in ("answers", "one_call"):
                totals[key] += result[key]
            totals["differences"] += len(result["differences"])
            totals["others"] += len(result["others"])
            for v in (result["differences"] + result["others"])[:5]:
                print(f"seed {result['seed']}: {v}", flush=True)
    print(
        f"differential: {args.steps} steps in {count} segments, {totals['answers']} seeded answers compared "
        f"({totals['one_call']} in one call), {totals['differences']} differences, {totals['others']} other violations; "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 1 if totals["differences"] or totals["others"] else 0


if __name__ == "__main__":
    sys.exit(main())
