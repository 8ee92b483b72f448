"""The real crossplane CLIs the tests run, built from the pins in tools/versions.toml.

Three lines of the CLI, each with its own subcommands:

- newest: module github.com/crossplane/cli/v2. `crossplane composition render` hands the request to
  Crossplane core's hidden `crossplane internal render`; `--crossplane-binary` points it at the core
  binary built from the [crossplane] pin instead of a container. `crossplane resource validate`.
- v2.2: cmd/crank of github.com/crossplane/crossplane/v2 v2.2.x, rendering in process
  (`crossplane render`), `crossplane beta validate`.
- v1: cmd/crank of github.com/crossplane/crossplane v1.20.x, for the legacy (Crossplane v1) example.

Validation never downloads: validate always adds Crossplane's own image to the packages whose CRDs
it needs, so its cache is seeded with the CRDs of that line's Crossplane module, under the image
tag passed as --crossplane-image; and it runs behind a proxy where nothing listens, so a download
it tried would fail instead of reaching a registry.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools import gobuild

ROOT = Path(__file__).resolve().parents[1]
CROSSPLANE_IMAGE = "xpkg.crossplane.io/crossplane/crossplane"
# A proxy on a loopback port where nothing listens: a download that validate tries fails at once.
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": "",
           "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
RENDER = re.compile(r"^crossplane composition render (examples/\S.*)$", flags=re.MULTILINE)
LEGACY_RENDER = re.compile(r"^#\s+crossplane render (examples/xr-legacy\.yaml .*)$", flags=re.MULTILINE)


@dataclass(frozen=True)
class Line:
    name: str
    component: str  # the CLI's table in tools/versions.toml
    render_words: tuple[str, ...]
    validate_words: tuple[str, ...]
    crossplane: str  # the table of the Crossplane whose CRDs this line validates against
    engine: str | None = None  # the table of the render engine, passed as --crossplane-binary
    one_source: bool = False  # validate takes one file or folder per argument, not a comma-separated list


LINES = {
    "newest": Line("newest", "crossplane-cli", ("composition", "render"), ("resource", "validate"), "crossplane",
                   engine="crossplane"),
    "v2.2": Line("v2.2", "crossplane-cli-v2-2", ("render",), ("beta", "validate"), "crossplane-cli-v2-2"),
    "v1": Line("v1", "crossplane-cli-v1", ("render",), ("beta", "validate"), "crossplane-cli-v1", one_source=True),
}


class CLI:
    """One line of the crossplane CLI, ready to run; raises gobuild.Missing when it is not installed."""

    def __init__(self, line: Line):
        self.line = line
        self.binary = gobuild.binary_of(line.component)
        self.engine = gobuild.binary_of(line.engine) if line.engine else None
        self.version = gobuild.component(line.component).version
        self.crossplane = gobuild.component(line.crossplane)

    def __repr__(self) -> str:
        return f"crossplane CLI {self.line.name} ({self.version})"

    def run(self, *args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.binary), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})

    def render(self, *args: str) -> subprocess.CompletedProcess:
        """`crossplane render` (or `composition render`) with these arguments, on this line's engine."""
        engine = [f"--crossplane-binary={self.engine}"] if self.engine else []
        return self.run(*self.line.render_words, *engine, *args)

    def validate(self, extensions: list[Path | str], resources: list[Path | str], cache_dir: Path) -> subprocess.CompletedProcess:
        """Validate resources against the extensions (CRDs, XRDs) and Crossplane's CRDs, offline."""
        image = self.seed_cache(cache_dir)
        with tempfile.TemporaryDirectory() as tmp:
            args = [self._source(list(map(Path, s)), Path(tmp) / kind) for kind, s in (("ext", extensions), ("res", resources))]
            return self.run(*self.line.validate_words, *args, f"--cache-dir={cache_dir}", f"--crossplane-image={image}",
                            "--error-on-missing-schemas", env=OFFLINE)

    def _source(self, paths: list[Path], folder: Path) -> str:
        """A comma-separated list, or for a line that takes one source, a folder linking every file."""
        if not self.line.one_source or len(paths) == 1:
            return ",".join(map(str, paths))
        folder.mkdir()
        files = [f for p in paths for f in (sorted(p.rglob("*.yaml")) if p.is_dir() else [p])]
        for i, f in enumerate(files):
            (folder / f"{i:03d}-{f.name}").symlink_to(f.resolve())
        return str(folder)

    def seed_cache(self, cache_dir: Path) -> str:
        """Put Crossplane's CRDs where validate looks for its image's schemas; returns that image."""
        image = f"{CROSSPLANE_IMAGE}:{self.crossplane.version}"
        target = cache_dir / image.replace(":", "@")
        if not (target / "package.yaml").exists():
            target.mkdir(parents=True, exist_ok=True)
            (crds_dir,) = (d for d in gobuild.crd_dirs(self.crossplane.name) if d.name == "crds")  # what the image ships
            docs = [p.read_text() for p in sorted(crds_dir.glob("*.yaml"))]
            (target / "package.yaml").write_text("---\n".join(d if d.endswith("\n") else d + "\n" for d in docs))
        return image


def crds_of(*components: str) -> list[Path]:
    """The CRD folders of pinned components, for validate's extensions."""
    return [d for c in components for d in gobuild.crd_dirs(c)]


def documents(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def page_renders(page: str) -> list[list[str]]:
    """The arguments of each `crossplane composition render` command a page of the docs gives."""
    return [shlex.split(args) for args in RENDER.findall((ROOT / page).read_text())]


def walkthrough_passes() -> list[list[str]]:
    """The two passes of docs/render.md."""
    return page_renders("docs/render.md")


def validate_walkthrough() -> tuple[list[str], list[str], list[str]]:
    """docs/render.md's validation of a render: the render's arguments, validate's extensions (with $CAPI_CRDS
    standing for Cluster API's CRD folder) and its resources (the file the render wrote)."""
    text = (ROOT / "docs" / "render.md").read_text()
    block = text.split("\n## Validate what a render prints\n", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    render, validate = (shlex.split(line) for line in block.splitlines())
    assert render[:3] == ["crossplane", "composition", "render"] and render[-2] == ">", render
    assert validate[:3] == ["crossplane", "resource", "validate"] and len(validate) == 5, validate
    assert validate[4] == render[-1], (validate, render)
    return render[3:-2], validate[3].split(","), [validate[4]]


def legacy_render() -> list[str]:
    """The arguments of the render command that examples/xr-legacy.yaml gives in its comment (Crossplane v1's CLI)."""
    (args,) = LEGACY_RENDER.findall((ROOT / "examples" / "xr-legacy.yaml").read_text())
    return shlex.split(args)


def service_lb_render() -> list[str]:
    """The render command of docs/service-lb.md."""
    (args,) = page_renders("docs/service-lb.md")
    return args


def dual_stack_render() -> list[str]:
    """The render command of docs/dual-stack.md."""
    (args,) = page_renders("docs/dual-stack.md")
    return args


def dns_render() -> list[str]:
    """The render command of docs/dns.md."""
    (args,) = page_renders("docs/dns.md")
    return args


def with_functions(args: list[str], functions: Path) -> list[str]:
    """The arguments with examples/functions.yaml replaced by a copy aimed at the function under test."""
    assert "examples/functions.yaml" in args, args
    return [str(functions) if a == "examples/functions.yaml" else a for a in args]
