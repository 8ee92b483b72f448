"""The peers, built from their sources: the operator the function replaces and the Go functions of
the pipeline it is measured against (tools/versions.toml, [peers.*]).

The Go module proxy refuses these modules' own paths, while every dependency they need is served,
so each is built from its source folder beside the project (`../shared/peers/<source>`, or
`$FUNCTION_CAPI_VIP_PEERS/<source>`): the folder is copied into the binary cache (the source may be
read-only), `go mod download` fetches its dependencies over the proxy, `go build` makes the binary.
Nothing of theirs enters the repository. The binary is cached with what it was built from (module,
version, commit, and a digest of the source tree), and rebuilt when any of it differs:

    <cache_root>/peers/<module>@<version>/<binary>     and <binary>.build.json

Where the sources are absent (a user's clone), `available()` is False and the runs that need the
peers are not collected (tests/conftest.py says so at the end of the run).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tools import gobuild

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Peer:
    name: str
    module: str
    version: str
    commit: str
    source: str
    package: str
    binary: str
    purpose: str


def pins() -> dict[str, Peer]:
    with gobuild.PINS.open("rb") as f:
        tables = tomllib.load(f).get("peers", {})
    return {name: Peer(name=name, module=t["module"], version=t["version"], commit=t["commit"], source=t["source"],
                       package=t["package"], binary=t["binary"], purpose=t["for"]) for name, t in tables.items()}


def root() -> Path:
    """Where the peers' sources are looked for."""
    env = os.environ.get("FUNCTION_CAPI_VIP_PEERS")
    return Path(env) if env else REPO.parent / "shared" / "peers"


def available() -> bool:
    """Whether every pinned peer's source folder is there."""
    return all((root() / p.source / "go.mod").is_file() for p in pins().values())


def not_collected_reason() -> str:
    return (f"the peers' sources are not at {root()} (set FUNCTION_CAPI_VIP_PEERS to their folder): the runs against "
            f"the real capi-vip-allocator and the Go pipeline (tests/e2e/test_takeover.py, bench/peers.py) were not "
            f"collected")


def tree_digest(folder: Path) -> str:
    """sha256 over the tree's relative paths and contents: the binary is rebuilt when the source changes."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _recipe(peer: Peer, digest: str) -> dict:
    return {"module": peer.module, "version": peer.version, "commit": peer.commit, "source": peer.source,
            "package": peer.package, "binary": peer.binary, "tree": digest}


def binary_path(peer: Peer) -> Path:
    return gobuild.cache_root() / "peers" / f"{peer.module}@{peer.version}" / peer.binary


def _source(peer: Peer) -> Path:
    src = root() / peer.source
    if not (src / "go.mod").is_file():
        raise gobuild.Missing(f"{peer.name}: no go.mod in {src}; {not_collected_reason()}")
    declared = (src / "go.mod").read_text().split("\n", 1)[0].removeprefix("module").strip()
    if declared != peer.module:
        raise RuntimeError(f"{src}/go.mod declares module {declared}, tools/versions.toml pins {peer.module}")
    return src


def cached(peer: Peer) -> Path | None:
    path = binary_path(peer)
    try:
        built = json.loads(path.with_name(peer.binary + ".build.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not (path.is_file() and os.access(path, os.X_OK)):
        return None
    return path if built == _recipe(peer, tree_digest(_source(peer))) else None


def binary_of(name: str, *, install: bool = False, log=print) -> Path:
    """The binary of peer `name`; with install True it is built when it is not cached from this source."""
    peer = pins()[name]
    found = cached(peer)
    if found:
        return found
    if not install:
        raise gobuild.Missing(f"{peer.binary} ({peer.module}@{peer.version}, from {root() / peer.source}) is not built "
                              f"in {gobuild.cache_root()}: run {gobuild.INSTALL_COMMAND}")
    return build(peer, log=log)


def build(peer: Peer, *, log=print) -> Path:
    src = _source(peer)
    digest = tree_digest(src)
    path = binary_path(peer)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    with tempfile.TemporaryDirectory(prefix="peer-", dir=path.parent) as tmp:
        work = Path(tmp) / peer.source
        shutil.copytree(src, work)
        for p in [work, *work.rglob("*")]:  # the source may be read-only; go writes go.sum beside go.mod
            p.chmod(p.stat().st_mode | 0o200)
        for argv in (["go", "mod", "download"],
                     ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(Path(tmp) / peer.binary), peer.package]):
            log(f"  {' '.join(argv)}  (in a copy of {src})")
            p = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True)
            if p.returncode != 0:
                raise RuntimeError(f"building {peer.name} from {src} failed: `{' '.join(argv)}` exited "
                                   f"{p.returncode}:\n{p.stderr.strip()[-3000:]}")
        os.replace(Path(tmp) / peer.binary, path)
    path.with_name(peer.binary + ".build.json").write_text(json.dumps(_recipe(peer, digest), indent=1))
    log(f"  built {path} in {time.monotonic() - started:.0f} s")
    return path
