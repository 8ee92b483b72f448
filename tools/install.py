"""Install what the tests take from outside: `python -m tools.install [COMPONENT ...]`, or `--crds`.

Downloads every pinned module that has CRDs into the Go module cache and builds every pinned
binary into the binary cache (tools/gobuild.py), printing progress. The component `debian` installs
Debian's packages for the image build and the loopback registry (apt-get, as root) and makes the
image's root filesystem (debootstrap; tools/image.py). With warm caches it only checks, and builds
nothing. `--crds` only downloads the modules whose CRDs the tests validate against (seconds, nothing
built): what the fast tier needs besides `pip install`. Needs `go` on PATH, the Go module proxy, and for `debian` apt and Debian's mirror.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tools import gobuild, peers


def main(argv: list[str]) -> int:
    pins = gobuild.components()
    if argv == ["--crds"]:
        return install_crds(pins)
    peer_pins = peers.pins()
    # The peers are built where their sources are (tools/peers.py); elsewhere they are left out, and said so.
    all_peers = [f"peer:{n}" for n in peer_pins] if peers.available() else []
    names = argv or [*pins, "debian", *all_peers]
    unknown = [n for n in names if n not in pins and n != "debian" and n.removeprefix("peer:") not in peer_pins]
    if unknown:
        print(f"unknown components {unknown}; pinned in {gobuild.PINS}: {', '.join(pins)}, "
              f"{', '.join('peer:' + n for n in peer_pins)}", file=sys.stderr)
        return 2
    if not argv and not all_peers:
        print(f"peers: not built: {peers.not_collected_reason()}", flush=True)
    started = time.monotonic()
    times = _times()
    took: dict[str, float] = {}
    try:
        for i, name in enumerate(names, 1):
            key = (name if name == "debian" else f"{name}@{peer_pins[name[5:]].version}" if name.startswith("peer:")
                   else f"{name}@{pins[name].version}")
            before = times.get(key)
            print(f"[{i}/{len(names)}] {name}" + (f" (its last build here took {before:.0f} s)" if before else ""), flush=True)
            t0 = time.monotonic()
            with _heartbeat(name):
                if name == "debian":
                    install_debian()
                elif name.startswith("peer:"):
                    install_peer(peer_pins[name[5:]])
                else:
                    install(name, pins[name])
            took[name] = time.monotonic() - t0
            if took[name] > 5:  # something was downloaded or built: remember it for the next estimate
                times[key] = took[name]
                _save_times(times)
    except (gobuild.Missing, RuntimeError) as e:
        print(f"tools.install: {e}", file=sys.stderr)
        return 1
    slow = ", ".join(f"{n} {t:.0f} s" for n, t in sorted(took.items(), key=lambda x: -x[1]) if t >= 1)
    print(f"tools installed in {time.monotonic() - started:.0f} s ({slow or 'all cached'}; binaries in {gobuild.cache_root()})",
          flush=True)
    return 0


def _times_file() -> Path:
    return gobuild.cache_root() / "install-times.json"


def _times() -> dict[str, float]:
    """How long each component's last real download and build took here (the estimate shown before it)."""
    try:
        return json.loads(_times_file().read_text())
    except (OSError, ValueError):
        return {}


def _save_times(times: dict[str, float]) -> None:
    _times_file().parent.mkdir(parents=True, exist_ok=True)
    _times_file().write_text(json.dumps(times, indent=1, sort_keys=True))


@contextlib.contextmanager
def _heartbeat(name: str, every: float = 60):
    """A line every minute while a component takes long (a cold `go build` prints nothing for minutes)."""
    done = threading.Event()
    t0 = time.monotonic()

    def beat():
        while not done.wait(every):
            print(f"  ... {name}: {time.monotonic() - t0:.0f} s", flush=True)
    t = threading.Thread(target=beat, daemon=True)
    t.start()
    try:
        yield
    finally:
        done.set()


def install_crds(pins: dict[str, gobuild.Component]) -> int:
    """Download the modules with CRDs, build nothing."""
    started = time.monotonic()
    with_crds = [name for name, c in pins.items() if c.crds]
    try:
        for i, name in enumerate(with_crds, 1):
            c = pins[name]
            print(f"[{i}/{len(with_crds)}] {name}: {c.module}@{c.version}", flush=True)
            gobuild.crd_dirs(name, download=True)
    except (gobuild.Missing, RuntimeError) as e:
        print(f"tools.install: {e}", file=sys.stderr)
        return 1
    print(f"CRDs downloaded in {time.monotonic() - started:.0f} s", flush=True)
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


def install_peer(p: peers.Peer) -> None:
    print(f"{p.name}: {p.module}@{p.version} from {peers.root() / p.source}", flush=True)
    path = peers.binary_of(p.name, install=True, log=lambda m: print(m, flush=True))
    print(f"  {p.package} -> {path}", flush=True)


def install_debian() -> None:
    from tools import image

    d = image.debian()
    print(f"debian: {d['suite']} from {d['mirror']}", flush=True)
    missing = [p for p in d["host"] if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                                      text=True).stdout != "install ok installed"]
    if missing:
        if os.geteuid() != 0:
            raise RuntimeError(f"Debian packages {missing} are not installed and this is not root: "
                               f"apt-get install {' '.join(missing)}")
        print(f"  apt-get install {' '.join(missing)}", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        # docker-registry's package starts its service on :5000 (all interfaces) where an init system
        # runs; the tests start their own on 127.0.0.1, so no service is started while installing.
        policy = Path("/usr/sbin/policy-rc.d")
        ours = not policy.exists()
        if ours:
            policy.write_text("#!/bin/sh\n# tools.install: no service starts while it installs packages\nexit 101\n")
            policy.chmod(0o755)
        try:
            for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]):
                p = subprocess.run(argv, capture_output=True, text=True, env=env)
                if p.returncode != 0:
                    raise RuntimeError(f"`{' '.join(argv)}` exited {p.returncode}:\n{(p.stdout + p.stderr)[-3000:]}")
        finally:
            if ours:
                policy.unlink()
    for p in d["host"]:
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", p], capture_output=True, text=True).stdout
        print(f"  {p} {version}", flush=True)
    tar, about = image.base_rootfs(image.recipe(), log=lambda m: print(m, flush=True))
    print(f"  the image's root filesystem: {tar} (python3 {about['python']}, {len(about['packages'])} packages)", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
