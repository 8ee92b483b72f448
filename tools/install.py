"""Install what the tests take from Go modules: `python -m tools.install [COMPONENT ...]`.

Downloads every pinned module that has CRDs into the Go module cache and builds every pinned
binary into the binary cache (tools/gobuild.py), printing progress. With warm caches it only
checks, and builds nothing. Needs `go` on PATH and the Go module proxy.
"""

from __future__ import annotations

import sys
import time

from tools import gobuild


def main(argv: list[str]) -> int:
    pins = gobuild.components()
    names = argv or list(pins)
    unknown = [n for n in names if n not in pins]
    if unknown:
        print(f"unknown components {unknown}; pinned in {gobuild.PINS}: {', '.join(pins)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        for name in names:
            install(name, pins[name])
    except (gobuild.Missing, RuntimeError) as e:
        print(f"tools.install: {e}", file=sys.stderr)
        return 1
    print(f"tools installed in {time.monotonic() - started:.0f} s (binaries in {gobuild.cache_root()})", flush=True)
    return 0


def install(name: str, c: gobuild.Component) -> None:
    print(f"{name}: {c.module}@{c.version}", flush=True)
    if c.crds:
        root = gobuild.module_dir(c.module, c.version)
        for d in gobuild.crd_dirs(name):
            print(f"  CRDs: {root}/{d.relative_to(root)}", flush=True)
    for package in c.packages:
        path = gobuild.binary_of(name, package, install=True, log=lambda m: print(m, flush=True))
        print(f"  {package} -> {path}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
