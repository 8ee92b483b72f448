"""Binaries and folders from Go modules at pinned versions, with the ordinary Go tooling.

`build(...)` gives a binary built from a main package of a module at a version, over the Go
module proxy, in a throwaway wrapper module: `go get M/PKG@V` (plus any extra requirements and
replace directives), then `go build M/PKG`. Not `go install M/PKG@V`, for two reasons: it refuses
a module whose go.mod has `replace` lines (in a wrapper a dependency's `replace` lines are ignored,
so the wrapper requires the replaced sibling at its tag instead), and it reads the module's version
list to look for a deprecation, which the proxy refuses (403) for several of the pinned modules,
where `go get` only warns. The build list is the same: the wrapper requires nothing but the module
(and what the pins add). Binaries are cached outside the repository, keyed by module, version and
package:

    $FUNCTION_CAPI_VIP_BIN_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/function-capi-vip/bin)
      /<module>@<version>/<package>/<binary>        and <binary>.build.json, what it was built from

so a warm run reuses them; a binary whose recorded build differs from the one asked for is rebuilt.
`module_dir(M, V)` is the module's folder in the Go module cache (`go mod download -json`).
The pins live in tools/versions.toml; `component(name)` reads one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

PINS = Path(__file__).with_name("versions.toml")
INSTALL_COMMAND = ".venv/bin/python -m tools.install"


class Missing(RuntimeError):
    """A module or binary the tests need is not installed; the message names the install command."""


@dataclass(frozen=True)
class Component:
    name: str
    module: str
    version: str
    purpose: str
    crds: tuple[str, ...] = ()
    package: str | None = None
    binary: str | None = None
    ldflags: tuple[str, ...] = ()
    require: dict[str, str] = field(default_factory=dict)
    replace: dict[str, str] = field(default_factory=dict)

    @property
    def binary_name(self) -> str | None:
        if self.package is None:
            return None
        return self.binary or self.package.rstrip("/").rsplit("/", 1)[-1]


def components() -> dict[str, Component]:
    """Every component pinned in tools/versions.toml, by table name."""
    with PINS.open("rb") as f:
        pins = tomllib.load(f)
    return {
        name: Component(
            name=name, module=t["module"], version=t["version"], purpose=t["for"], crds=tuple(t.get("crds", ())),
            package=t.get("package"), binary=t.get("binary"), ldflags=tuple(t.get("ldflags", ())),
            require=dict(t.get("require", {})), replace=dict(t.get("replace", {})),
        )
        for name, t in pins.items()
    }


def component(name: str) -> Component:
    return components()[name]


def cache_root() -> Path:
    env = os.environ.get("FUNCTION_CAPI_VIP_BIN_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "function-capi-vip" / "bin"


def _go(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    if shutil.which("go") is None:
        raise Missing(f"`go` is not on PATH: install Go, then run {INSTALL_COMMAND}")
    return subprocess.run(["go", *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)


def module_dir(module: str, version: str, *, download: bool = True) -> Path:
    """The module's folder in the Go module cache; with download=False nothing is fetched."""
    env = {"GOFLAGS": "-mod=mod"} if download else {"GOPROXY": "off", "GOFLAGS": "-mod=mod"}
    with tempfile.TemporaryDirectory() as tmp:  # outside any module, so go.mod of a caller does not matter
        p = _go("mod", "download", "-json", f"{module}@{version}", cwd=Path(tmp), env=env)
    try:
        info = json.loads(p.stdout)
    except json.JSONDecodeError:
        info = {"Error": p.stderr.strip() or p.stdout.strip()}
    if p.returncode != 0 or info.get("Error") or not info.get("Dir"):
        hint = f"; run {INSTALL_COMMAND}" if not download else ""
        raise Missing(f"Go module {module}@{version} is not in the module cache: {info.get('Error')}{hint}")
    return Path(info["Dir"])


def binary_path(module: str, version: str, package: str, binary: str) -> Path:
    return cache_root() / f"{module}@{version}" / package / binary


def _recipe(module, version, package, binary, ldflags, require, replace) -> dict:
    return {"module": module, "version": version, "package": package, "binary": binary, "ldflags": list(ldflags),
            "require": dict(sorted(require.items())), "replace": dict(sorted(replace.items()))}


def cached(module: str, version: str, package: str, binary: str, ldflags=(), require=None, replace=None) -> Path | None:
    """The cached binary, if it exists and was built from exactly this recipe."""
    path = binary_path(module, version, package, binary)
    recipe = _recipe(module, version, package, binary, ldflags, require or {}, replace or {})
    meta = path.with_name(binary + ".build.json")
    try:
        if path.is_file() and os.access(path, os.X_OK) and json.loads(meta.read_text()) == recipe:
            return path
    except (OSError, json.JSONDecodeError):
        pass
    return None


def build(module: str, version: str, package: str, binary: str | None = None, *, ldflags=(), require=None,
          replace=None, log=lambda msg: print(msg, file=sys.stderr, flush=True)) -> Path:
    """Binary `binary` built from package `package` of module@version; reused from the cache when built before."""
    binary = binary or package.rstrip("/").rsplit("/", 1)[-1]
    require, replace = dict(require or {}), dict(replace or {})
    ldflags = [f.replace("{version}", version) for f in ldflags]
    found = cached(module, version, package, binary, ldflags, require, replace)
    if found:
        return found
    path = binary_path(module, version, package, binary)
    path.parent.mkdir(parents=True, exist_ok=True)
    pkg = f"{module}/{package}".rstrip("/")
    common = ["-trimpath", *([f"-ldflags={' '.join(ldflags)}"] if ldflags else [])]
    env = {"CGO_ENABLED": "0"}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gobuild-", dir=path.parent) as tmp:
        work = Path(tmp)
        how = f"go get {pkg}@{version}" + "".join(f" {m}@{v}" for m, v in require.items()) + f" && go build {pkg}"
        log(f"  wrapper module: {how}")
        p = _wrapper_build(work, version, pkg, common, require, replace, env)
        built = work / "out"
        if p.returncode != 0 or not built.is_file():
            raise RuntimeError(f"building {pkg}@{version} failed ({how}):\n{p.stderr.strip()}")
        os.replace(built, path)  # the same file system: a reader sees the old binary or the new one
    path.with_name(binary + ".build.json").write_text(
        json.dumps(_recipe(module, version, package, binary, ldflags, require, replace), indent=1))
    log(f"  built {path} in {time.monotonic() - started:.0f} s")
    return path


def _wrapper_build(work, version, pkg, common, require, replace, env) -> subprocess.CompletedProcess:
    (work / "go.mod").write_text("module function-capi-vip.invalid/gobuild\n")
    for old, new in replace.items():
        p = _go("mod", "edit", f"-replace={old}={new.replace(' ', '@')}", cwd=work, env=env)
        if p.returncode != 0:
            return p
    p = _go("get", f"{pkg}@{version}", *(f"{m}@{v}" for m, v in require.items()), cwd=work, env=env)
    if p.returncode != 0:
        return p
    return _go("build", *common, "-o", str(work / "out"), pkg, cwd=work, env=env)


def binary_of(name: str, *, install: bool = False, log=None) -> Path:
    """The binary of pinned component `name`: built when install is True, else it must be in the cache."""
    c = component(name)
    if install:
        kwargs = {"log": log} if log else {}
        return build(c.module, c.version, c.package, c.binary_name, ldflags=c.ldflags, require=c.require,
                     replace=c.replace, **kwargs)
    ldflags = [f.replace("{version}", c.version) for f in c.ldflags]
    found = cached(c.module, c.version, c.package, c.binary_name, ldflags, c.require, c.replace)
    if found is None:
        raise Missing(f"{c.binary_name} of {c.module}@{c.version} ({c.package}) is not built in {cache_root()}: "
                      f"run {INSTALL_COMMAND}")
    return found


def crd_dirs(name: str, *, download: bool = False) -> list[Path]:
    """The CRD folders of pinned component `name` in the module cache."""
    c = component(name)
    root = module_dir(c.module, c.version, download=download)
    dirs = [root / d for d in c.crds]
    for d in dirs:
        if not d.is_dir():
            raise Missing(f"{c.module}@{c.version} has no folder {d.relative_to(root)}: check crds in {PINS}")
    return dirs
