"""Cold start only: process start to the first answered RunFunction, ours against the floor.

    .venv/bin/python bench/cold.py [--runs 9] [--metrics] [--input]

Writes the function's bytecode first (as the Dockerfile does), then starts ours and the
floor alternately, --runs times each, after one discarded warm-up run of each, and prints
the medians and their ratio; and, less disturbed by other load on the machine, the server's CPU time
(user + system) up to its first answer. The first request carries no Input, as in load.py;
with --input it carries the example Composition's. Ours is started exactly as bench/load.py starts it; with --metrics, with
the metrics server on (as in production) on a free local port.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import load, requests  # noqa: E402
from bench.progress import Progress  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.harness import to_struct  # noqa: E402


def example_input() -> dict:
    import yaml

    comp = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / "composition.yaml").read_text())
    return next(step["input"] for step in comp["spec"]["pipeline"] if "input" in step)


def ours_with_metrics() -> load.Server:
    return load.Server("function-capi-vip (metrics on)", [str(load.BIN / "function"), "--metrics-address",
                                                          f"127.0.0.1:{free_port()}", "--shutdown-drain-seconds", "0"])


async def main(args) -> None:
    if not args.no_precompile:
        load.precompile()
    req = requests.first()
    if args.input:
        req.input.CopyFrom(to_struct(example_input()))
    makers = [ours_with_metrics if args.metrics else load.ours, load.floor]
    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    progress = Progress("cold starts", args.runs + 1)
    for i in range(args.runs + 1):
        progress.update(i)
        for make in makers:
            s = make()
            t = await load.first_answer(s, req)
            c = load.cpu_seconds(s.proc.pid)
            s.stop()
            if i:
                times.setdefault(s.name, []).append(t)
                cpu.setdefault(s.name, []).append(c)
    for name, ts in times.items():
        print(f"{name}: median {statistics.median(ts) * 1e3:.0f} ms (min {min(ts) * 1e3:.0f}, "
              f"max {max(ts) * 1e3:.0f}, runs {len(ts)}); CPU median {statistics.median(cpu[name]) * 1e3:.0f} ms")
    (ours, floor), (ours_cpu, floor_cpu) = ([statistics.median(v) for v in d.values()] for d in (times, cpu))
    print(f"ratio: {ours / floor:.2f}x (CPU {ours_cpu / floor_cpu:.2f}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--metrics", action="store_true", help="ours with the metrics server on, as in production")
    parser.add_argument("--input", action="store_true", help="the first request carries the example Composition's Input")
    parser.add_argument("--no-precompile", action="store_true", help="do not write the function's bytecode first")
    asyncio.run(main(parser.parse_args()))
