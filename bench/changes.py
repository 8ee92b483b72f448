"""What users feel: the time from a change to an XR to the composed objects showing it, on the real stack.

    .venv/bin/python bench/changes.py [--xrs 6] [--burst N] [--refill R]

Starts the e2e stack of tests/e2e (etcd, kube-apiserver, Crossplane, the IPAM provider, the function
installed from its package), creates --xrs XRs at once and makes each XR's plan of changes
(tests/e2e/changes.py: the service-lb count right after creation, a Cluster variable, a manual ingress
VIP set and removed, ingress off and on, the count to 0, the Kubernetes version, and a burst of three
changes), each as soon as the last one shows. Prints, per kind of change and over all, the time to
effect (p50, p99, max), what each change's watch events cost the XR's circuit breaker and the
function's calls; then the breaker's opens and the XRs whose breaker is open. --burst and --refill
are Crossplane's --circuit-breaker-burst and --circuit-breaker-refill-rate (its defaults: 100 and 1).
Needs what the e2e tests need (python -m tools.install, root).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository, not bench/ (bench/requests.py would hide the library)

from tests.e2e import changes  # noqa: E402
from tests.e2e.metrics import parse, total  # noqa: E402
from tests.e2e.stack import Stack  # noqa: E402
from tests.e2e.watchlog import WatchLog, breaker_opened  # noqa: E402
from tests.e2e.world import KIND_API, XR_KIND, StackWorld, install_examples  # noqa: E402
from tests.package import Registry, build_and_push  # noqa: E402

CONTROLLER = "composite/workloadclusters.platform.example.org"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--xrs", type=int, default=6, help="XRs created at once, each with its plan of 9 changes")
    ap.add_argument("--burst", type=float, help="Crossplane's --circuit-breaker-burst (default: Crossplane's, 100)")
    ap.add_argument("--refill", type=float, help="Crossplane's --circuit-breaker-refill-rate (default: Crossplane's, 1)")
    args = ap.parse_args()
    flags = [*([f"--circuit-breaker-burst={args.burst:g}"] if args.burst else []),
             *([f"--circuit-breaker-refill-rate={args.refill:g}"] if args.refill else [])]
    wd = Path(tempfile.mkdtemp(prefix="bench-changes-"))
    started = time.monotonic()
    print(f"building the image and the package, starting the stack in {wd} ...", flush=True)
    registry = Registry(wd / "registry")
    stack = None
    try:
        stack = Stack(wd / "stack", build_and_push(registry), crossplane_args=tuple(flags))
        stack.up()
        install_examples(stack)
        stack.watch_log = WatchLog(stack.client, [(api, kind) for kind, api in KIND_API.items()],
                                   keep=frozenset({XR_KIND}), file=stack.logs / "watch-events.jsonl")
        print(f"stack up in {time.monotonic() - started:.0f} s; Crossplane {' '.join(flags) or 'with its default breaker'}; "
              f"{args.xrs} XRs, {9 * args.xrs} changes ...", flush=True)
        world = StackWorld(stack, "bench")
        world.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}})
        done = changes.run(world, "10.250.0", args.xrs)
        for line in changes.summary(done):
            print(line)
        opens = total(parse(stack.metrics("crossplane")), "circuit_breaker_opens_total", controller=CONTROLLER)
        still = breaker_opened(world)
        print(f"circuit breaker: opened {opens:.0f} times; " + ("; ".join(still) if still else "no XR's is open"))
        every = [c.seconds for c in done if c.what != "creation" and c.seconds is not None]
        print(f"changes: {len(every)}, to effect p50 {changes.percentile(every, 50):.2f} s p99 "
              f"{changes.percentile(every, 99):.2f} s max {max(every):.2f} s; breaker opens {opens:.0f}")
        return 0
    finally:
        if stack is not None:
            if getattr(stack, "watch_log", None):
                stack.watch_log.stop()
            stack.down()
        registry.stop()
        print(f"logs in {wd / 'stack' / 'logs'}")


if __name__ == "__main__":
    raise SystemExit(main())
