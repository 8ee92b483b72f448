"""The README's "Install it" commands, run exactly as written, and the registry on loopback they push to.

`Registry` is Debian's docker-registry (the CNCF distribution registry, as most registries are)
serving plain HTTP on 127.0.0.1, which the crossplane CLI and Crossplane's package manager talk to
without TLS because the address is a loopback one. `install_block()` is the README's shell block
under "Install it"; `build_and_push(registry)` runs it with bash, in the repository, with the pinned
crossplane CLI first on PATH and REGISTRY set, and returns what it made.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tools import gobuild

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DIST = ROOT / "dist"
REPOSITORY = "function-capi-vip"
MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"


def install_block() -> str:
    """The README's first shell block under "## Install it"."""
    section = README.read_text().split("\n## Install it\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```sh\n", 1)[1].split("\n```", 1)[0]


def function_manifest() -> str:
    """The README's Function object under "## Install it" (with $REGISTRY in its package)."""
    section = README.read_text().split("\n## Install it\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```yaml\n", 1)[1].split("\n```", 1)[0]


def crossplane_args() -> tuple[str, ...]:
    """The flags the README's Install it gives Crossplane (its Helm values' args)."""
    import yaml

    section = README.read_text().split("\n## Install it\n", 1)[1].split("\n## ", 1)[0]
    for block in section.split("```yaml\n")[1:]:
        values = yaml.safe_load(block.split("\n```", 1)[0])
        if isinstance(values, dict) and set(values) == {"args"}:
            return tuple(values["args"])
    raise LookupError("the README's Install it gives Crossplane no args (a yaml block of Helm values with only args)")


class Registry:
    """docker-registry on 127.0.0.1:<free port>, its storage and log in folder."""

    def __init__(self, folder: Path) -> None:
        from tests.e2e.stack import Proc, StackError, free_port, wait_for

        binary = shutil.which("docker-registry")
        if binary is None:
            raise StackError("docker-registry is not installed: run `.venv/bin/python -m tools.install debian`")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "config.yml"
        config.write_text(json.dumps({  # YAML is a superset of JSON
            "version": 0.1, "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(folder / "data")}},
            "http": {"addr": self.address}}))
        self.proc = Proc("docker-registry", [binary, "serve", config], folder)

        def up() -> bool:
            with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2) as r:
                return r.status == 200

        try:
            wait_for(f"docker-registry on {self.address}", up, timeout=30, proc=self.proc, interval=0.2)
        except BaseException:
            self.stop()
            raise

    def manifest(self, repository: str, reference: str) -> tuple[str, dict]:
        """(digest, manifest) of repository:reference (a tag or a digest)."""
        req = urllib.request.Request(f"http://{self.address}/v2/{repository}/manifests/{reference}",
                                     headers={"Accept": MANIFEST_TYPES})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.headers["Docker-Content-Digest"], json.loads(r.read())

    def blob(self, repository: str, digest: str, to: Path) -> Path:
        with urllib.request.urlopen(f"http://{self.address}/v2/{repository}/blobs/{digest}", timeout=120) as r, \
                to.open("wb") as out:
            shutil.copyfileobj(r, out, 1 << 20)
        return to

    def stop(self) -> None:
        self.proc.stop(10)


@dataclass(frozen=True)
class Built:
    registry: Registry
    ref: str              # what the README's Function names: REGISTRY/function-capi-vip:v0.1.0
    digest: str           # the pushed package's manifest digest, as the registry reported it after the push
    oci_archive: Path
    docker_archive: Path
    xpkg: Path
    report: dict          # tools/image.py's record of what went into the image
    seconds: dict         # the block's time, and the image build's


def build_and_push(registry: Registry) -> Built:
    cli = gobuild.binary_of("crossplane-cli")
    env = {**os.environ, "PATH": f"{cli.parent}{os.pathsep}{os.environ.get('PATH', '')}", "REGISTRY": registry.address}
    started = time.monotonic()
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", install_block()], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"the README's Install it commands exited {p.returncode}:\n{(p.stdout + p.stderr)[-4000:]}")
    ref = function_manifest().split("package: ", 1)[1].split()[0].replace("$REGISTRY", registry.address)
    repository, tag = ref.split("/", 1)[1].rsplit(":", 1)
    digest, _ = registry.manifest(repository, tag)
    report = json.loads((DIST / "function-capi-vip-runtime.json").read_text())
    return Built(registry=registry, ref=ref, digest=digest, oci_archive=DIST / "function-capi-vip-runtime.oci.tar",
                 docker_archive=DIST / "function-capi-vip-runtime.tar", xpkg=DIST / "function-capi-vip.xpkg",
                 report=report, seconds={"install commands": round(time.monotonic() - started, 1),
                                         "image build": report["seconds"]})


def pull(registry: Registry, repository: str, digest: str, folder: Path) -> dict:
    """What a runtime does with the revision's image: fetch it by digest and unpack its layers."""
    from tests import oci

    _, manifest = registry.manifest(repository, digest)
    blobs = folder.with_name(folder.name + "-blobs")
    blobs.mkdir(parents=True, exist_ok=True)
    config = json.loads(registry.blob(repository, manifest["config"]["digest"], blobs / "config").read_bytes())
    layers = [registry.blob(repository, layer["digest"], blobs / layer["digest"].split(":", 1)[1])
              for layer in manifest["layers"]]
    oci.unpack_layers(layers, folder)
    shutil.rmtree(blobs)
    return config
