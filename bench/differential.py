"""The long differential run: under random user edits, a seeded answer always equals a fresh one.

    .venv/bin/python bench/differential.py [--steps 100000] [--segment 500] [--seed 0] [--jobs 2] [--setup dns]
        [--log bench/gate.jsonl]   # the runs kept so far: bench/gate.jsonl
    .venv/bin/python bench/differential.py --summary bench/gate.jsonl

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

--setup runs one Input setup only (default, usage-off, check-pools, dns, service-lb, dual-stack), every
segment with its own seed.

bench/gate.jsonl keeps issue 26's gate: the rebuilt decision against the one it replaced (then frozen
in tests/oracle.py, read from git, and run with --oracle; both gone since), per setup, 0 differences over
100,000 steps each; --summary adds those lines up, calls answered by both included.

Prints one line per segment with a violation, and a last line:
    differential: <steps> steps in <n> segments, <answers> seeded answers compared (<one> in one call), <d> differences, <v> other violations; <s> s
Exit status 1 on any violation.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


SETUPS = ("default", "usage-off", "check-pools", "dns", "service-lb", "dual-stack")


def segment(args: tuple[int, int] | tuple[int, int, bool, str | None]) -> dict:
    from crossplane.function import logging

    logging.configure(logging.Level.DISABLED)
    from tests import edits
    from tests.sim import Sim

    seed, steps, *rest = args
    setup = (rest + [None])[0]
    index = SETUPS.index(setup) if setup else seed % 6
    inp = (None, edits.USAGE_OFF, edits.CHECK_POOLS, edits.DNS, edits.SERVICE_LB, edits.DUAL_STACK)[index]
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
        "others": [v for v in sim.violations if "seeded (" not in v],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--segment", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--setup", choices=SETUPS, help="one Input setup only")
    parser.add_argument("--log", type=Path, help="append each segment's result to this file, one JSON line each "
                        "(a long gate can stop and go on with new seeds; --summary adds them up)")
    parser.add_argument("--summary", type=Path, help="add up the segments of a --log file per setup, and run nothing")
    args = parser.parse_args()
    if args.summary is not None:
        return summary(args.summary)
    count = -(-args.steps // args.segment)
    work = [(args.seed + i, min(args.segment, args.steps - i * args.segment), args.setup) for i in range(count)]
    commit, decision = revision()
    started = time.perf_counter()
    totals = {"answers": 0, "one_call": 0, "differences": 0, "others": 0}
    done = 0
    with multiprocessing.Pool(args.jobs) as pool:
        for result in pool.imap_unordered(segment, work):
            done += 1
            if sys.stderr.isatty() or count > 1:
                print(f"  segment {done}/{count} (seed {result['seed']}) done, {time.perf_counter() - started:.0f} s",
                      file=sys.stderr, flush=True)
            for key in ("answers", "one_call"):
                totals[key] += result[key]
            totals["differences"] += len(result["differences"])
            totals["others"] += len(result["others"])
            if args.log is not None:
                entry = {**result, "steps": work[result["seed"] - args.seed][1],
                         "setup": args.setup or SETUPS[result["seed"] % 6], "commit": commit, "decision": decision}
                with args.log.open("a") as out:
                    out.write(json.dumps(entry) + "\n")
            for v in (result["differences"] + result["others"])[:5]:
                print(f"seed {result['seed']}: {v}", flush=True)
    print(
        f"differential: {args.steps} steps in {count} segments, {totals['answers']} seeded answers compared "
        f"({totals['one_call']} in one call), {totals['differences']} differences, {totals['others']} other violations; "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 1 if totals["differences"] or totals["others"] else 0


# What a segment runs: the decision and the world that drives it.
GATED = ("function", "tests/sim.py", "tests/edits.py", "tests/harness.py", "tests/crds.py")


def revision() -> tuple[str, str]:
    """The commit (git describe, "-dirty" with changes) and the decision it runs: the git objects of GATED, so the
    segments of commits that changed only docs, benchmarks or other tests add up. With any of GATED changed from
    HEAD the decision is "dirty", and such runs add up only with each other."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=root).stdout.strip()

    commit = git("describe", "--always", "--dirty", "--abbrev=7")
    if git("status", "--porcelain", "--", *GATED):
        return commit, "dirty"
    objects = git("rev-parse", *(f"HEAD:{path}" for path in GATED)).split()
    return commit, hashlib.sha256(" ".join(objects).encode()).hexdigest()[:12]


def summary(log: Path) -> int:
    """Per setup and decision (see revision(); the commit where a row has none): steps, seeded
    answers, calls answered by both decisions, differences, violations. The first commit seen names each decision."""
    rows: dict[tuple[str, str], dict] = {}
    seeds: dict[tuple[str, str], set] = {}
    names: dict[str, str] = {}
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        decision = entry.get("decision", entry["commit"])
        names.setdefault(decision, entry["commit"])
        key = (decision, entry["setup"])
        if entry["seed"] in seeds.setdefault(key, set()):
            continue  # a seed run twice counts once
        seeds[key].add(entry["seed"])
        row = rows.setdefault(key, {"segments": 0, "steps": 0, "answers": 0, "calls": 0, "differences": 0, "others": 0})
        row["segments"] += 1
        for k in ("steps", "answers", "calls"):
            row[k] += entry.get(k, 0)
        row["differences"] += len(entry["differences"])
        row["others"] += len(entry["others"])
    for (decision, setup), row in sorted(rows.items()):
        print(f"{names[decision]} ({decision}) {setup}: {row['steps']} steps in {row['segments']} segments, {row['answers']} seeded answers, "
              + (f"{row['calls']} calls answered by both decisions, " if row["calls"] else "")
              + f"{row['differences']} differences, {row['others']} other violations")
    return 1 if any(r["differences"] or r["others"] for r in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
