"""The fault suite on the real management cluster at a fleet's size: each of the six faults of
tests/e2e/recovery.py (kube-apiserver and etcd stopped for 30 s, the IPAM provider for 3 minutes, the function
unreachable for 2 minutes, Crossplane restarted mid-deletion, the function restarted with a new Input) struck
at --xrs XRs in mixed states, then every property checked on the real objects and the time to recover measured.

    .venv/bin/python bench/faults.py [--xrs 100] [--only ipam]

Runs tests/e2e/test_recovery.py's stack cases with FAULT_FLEET=--xrs (CI runs them at 10), one e2e stack for
all; prints one line per fault (the session summary's `recovery, stack:` lines), then the pytest result. Needs
what the e2e tests need (python -m tools.install, root).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xrs", type=int, default=100, help="XRs in the fleet each fault strikes (at most 100)")
    parser.add_argument("--only", help="the faults whose test id has this word (kube-apiserver, etcd, ipam, function, "
                                       "crossplane, new-input)")
    args = parser.parse_args()
    select = "stack" + (f" and {args.only}" if args.only else "")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                          "tests/e2e/test_recovery.py", "-k", select], cwd=ROOT, text=True, capture_output=True,
                         env={**os.environ, "FAULT_FLEET": str(args.xrs)})
    lines = run.stdout.splitlines()
    for line in lines:
        if line.startswith("recovery, stack:"):
            print(line)
    print(lines[-1] if lines else run.stderr[-2000:])
    if run.returncode:
        print(run.stdout[-6000:], file=sys.stderr)
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
