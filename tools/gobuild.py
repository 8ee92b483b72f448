"""Binaries and folders from Go modules at pinned versions, with the ordinary Go tooling.

`build(...)` gives the binaries built from main packages of a module at a version, over the Go
module proxy, in a throwaway wrapper module: `go get M/PKG@V` (plus any extra requirements and
replace directives), then `go build M/PKG...` (several packages of one module share one wrapper
and one `go build`). Not `go install M/PKG@V`, for two reasons: it refuses
a module whose go.mod has `replace` lines (in a wrapper a dependency's `replace` lines are ignored,
so the wrapper requires the replaced sibling at its tag instead), and it reads the module's version
list to look for a deprecation, which the proxy refuses (403) for several of the pinned modules,
where `go get` only warns. The build list is the same: the wrapper requires nothing but the module
(and what the pins add). A module that keeps sibling modules in folders of its own and replaces
them with those folders (Kubernetes: `k8s.io/api => ./staging/src/k8s.io/api`, 31 of them) names
the version the siblings are tagged with (`local_replaces`); the wrapper then replaces each module
that the module's go.mod replaces with a folder inside it by that module at that version, so the
list is derived from the pinned go.mod, never written out. Binaries are cached outside the repository, keyed by module, version and
package:

    $FUNCTION_CAPI_VIP_BIN_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/function-capi-vip/bin)
      /<module>@<version>/<package>/<binary>        and <binary>.build.json, what it was built from
      (the package "." is the module's root: /<module>@<version>/<binary>)

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
    packages: tuple[str, ...] = ()
    binary: str | None = None
    binaries: dict[str, str] = field(default_factory=dict)  # package -> binary, where not named after the package
    ldflags: tuple[str, ...] = ()
    require: dict[str, str] = field(default_factory=dict)
    replace: dict[str, str] = field(default_factory=dict)
    local_replaces: str | None = None

    @property
    def package(self) -> str | None:
        """The main package, for a component that builds one."""
        if len(self.packages) > 1:
            raise ValueError(f"{self.name} builds {len(self.packages)} packages: name one")
        return self.packages[0] if self.packages else None

    @property
    def binary_name(self) -> str | None:
        return self.binary_of_package(self.package) if self.packages else None

    def binary_of_package(self, package: str) -> str:
        """A binary is named after its package's last element, unless `binary` names the only one or
        `binaries` names it."""
        if self.binary and len(self.packages) == 1:
            return self.binary
        return self.binaries.get(package) or default_binary(package)

    def flags(self) -> list[str]:
        """The linker flags with {version}, {major}, {minor} and {patch} filled in."""
        return expand(self.ldflags, self.version)


def default_binary(package: str) -> str:
    name = package.rstrip("/").rsplit("/", 1)[-1]
    if name in ("", "."):
        raise ValueError(f"package {package!r} has no name of its own: set `binary`")
    return name


def expand(ldflags, version: str) -> list[str]:
    major, minor, patch = version.lstrip("v").split("-", 1)[0].split("+", 1)[0].split(".")
    fill = {"{version}": version, "{major}": major, "{minor}": minor, "{patch}": patch}
    out = []
    for f in ldflags:
        for k, v in fill.items():
            f = f.replace(k, v)
        out.append(f)
    return out


def components() -> dict[str, Component]:
    """Every component pinned in tools/versions.toml, by table name."""
    with PINS.open("rb") as f:
        pins = tomllib.load(f)
    out = {}
    for name, t in pins.items():
        if name in ("debian", "peers"):  # Debian's packages (tools/image.py); peers built from source (tools/peers.py)
            continue
        if "package" in t and "packages" in t:
            raise ValueError(f"{PINS}: [{name}] has both package and packages")
        packages = tuple(t["packages"]) if "packages" in t else ((t["package"],) if "package" in t else ())
        out[name] = Component(
            name=name, module=t["module"], version=t["version"], purpose=t["for"], crds=tuple(t.get("crds", ())),
            packages=packages, binary=t.get("binary"), binaries=dict(t.get("binaries", {})),
            ldflags=tuple(t.get("ldflags", ())),
            require=dict(t.get("require", {})), replace=dict(t.get("replace", {})),
            local_replaces=t.get("local_replaces"),
        )
    return out


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


def _recipe(module, version, package, binary, ldflags, require, replace, local_replaces=None) -> dict:
    recipe = {"module": module, "version": version, "package": package, "binary": binary, "ldflags": list(ldflags),
              "require": dict(sorted(require.items())), "replace": dict(sorted(replace.items()))}
    if local_replaces:
        recipe["local_replaces"] = local_replaces
    return recipe


def cached(module: str, version: str, package: str, binary: str, ldflags=(), require=None, replace=None,
           local_replaces: str | None = None) -> Path | None:
    """The cached binary, if it exists and was built from exactly this recipe."""
    path = binary_path(module, version, package, binary)
    recipe = _recipe(module, version, package, binary, ldflags, require or {}, replace or {}, local_replaces)
    meta = path.with_name(binary + ".build.json")
    try:
        built = json.loads(meta.read_text())
        built.pop("godebug", None)  # what the pinned go.mod says: a function of module and version
        if path.is_file() and os.access(path, os.X_OK) and built == recipe:
            return path
    except (OSError, json.JSONDecodeError):
        pass
    return None


def build(module: str, version: str, package: str, binary: str | None = None, *, ldflags=(), require=None,
          replace=None, local_replaces: str | None = None,
          log=lambda msg: print(msg, file=sys.stderr, flush=True)) -> Path:
    """Binary `binary` built from package `package` of module@version; reused from the cache when built before."""
    binary = binary or default_binary(package)
    (path,) = build_all(module, version, {package: binary}, ldflags=expand(ldflags, version), require=require,
                        replace=replace, local_replaces=local_replaces, log=log).values()
    return path


def build_all(module: str, version: str, binaries: dict[str, str], *, ldflags=(), require=None, replace=None,
              local_replaces: str | None = None, log=lambda msg: print(msg, file=sys.stderr, flush=True)) -> dict[str, Path]:
    """The binaries {package: binary} of module@version, built in one wrapper module when any is not cached.

    ``ldflags`` are final (placeholders already filled in). Several packages are built by one
    `go build -o DIR/` when each binary has its package's name, else by one `go build -o FILE` each
    (two main packages of one name, say), in the same wrapper and build cache."""
    require, replace, ldflags = dict(require or {}), dict(replace or {}), list(ldflags)
    found = {pkg: cached(module, version, pkg, b, ldflags, require, replace, local_replaces) for pkg, b in binaries.items()}
    if all(found.values()):
        return found
    paths = {pkg: binary_path(module, version, pkg, b) for pkg, b in binaries.items()}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    pkgs = [module if pkg in ("", ".") else f"{module}/{pkg}".rstrip("/") for pkg in binaries]
    names = " ".join(pkgs)
    how = (f"go get {' '.join(p + '@' + version for p in pkgs)}" + "".join(f" {m}@{v}" for m, v in require.items())
           + f" && go build {names}")
    try:
        gomod = _go_mod(module, version)
    except Missing as e:
        raise RuntimeError(f"building {names}@{version} failed: {e}") from e
    wrapper_replace = dict(replace)
    if local_replaces:
        local = local_replaces_of(gomod, local_replaces)
        if not local:
            raise RuntimeError(f"{module}@{version}'s go.mod replaces no module with a folder of its own: drop local_replaces")
        log(f"  {len(local)} modules that {module}'s go.mod replaces with folders of its own, each at {local_replaces}")
        wrapper_replace = {**local, **replace}
    godebug = godebug_of(gomod)
    common = ["-trimpath", *([f"-ldflags={' '.join(ldflags)}"] if ldflags else [])]
    env = {"CGO_ENABLED": "0"}
    started = time.monotonic()
    scratch = cache_root() / f"{module}@{version}"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gobuild-", dir=scratch) as tmp:
        work = Path(tmp)
        log(f"  wrapper module: {how}")
        out = work / "out"
        out.mkdir()
        named = len(binaries) == 1 or all(b == default_binary(pkg) for pkg, b in binaries.items())
        if len(binaries) > 1 and named:
            targets, built = {f"{out}/": pkgs}, {pkg: out / b for pkg, b in binaries.items()}
        else:  # a folder each: the binaries may share a name (upstream calls each provider's `manager`)
            built = {pkg: out / str(i) / b for i, (pkg, b) in enumerate(binaries.items())}
            targets = {str(built[pkg]): [full] for pkg, full in zip(binaries, pkgs)}
        p = _wrapper_build(work, version, pkgs, common, require, wrapper_replace, godebug, env, targets)
        if p.returncode != 0 or not all(f.is_file() for f in built.values()):
            raise RuntimeError(f"building {names}@{version} failed ({how}):\n{p.stderr.strip()}")
        for pkg, f in built.items():
            os.replace(f, paths[pkg])  # the same file system: a reader sees the old binary or the new one
            recipe = _recipe(module, version, pkg, binaries[pkg], ldflags, require, replace, local_replaces)
            if godebug:
                recipe["godebug"] = godebug
            paths[pkg].with_name(binaries[pkg] + ".build.json").write_text(json.dumps(recipe, indent=1))
    log(f"  built {', '.join(map(str, paths.values()))} in {time.monotonic() - started:.0f} s")
    return paths


def _go_mod(module: str, version: str) -> dict:
    """module@version's go.mod, as `go mod edit -json` reads it."""
    with tempfile.TemporaryDirectory() as tmp:
        p = _go("mod", "download", "-json", f"{module}@{version}", cwd=Path(tmp), env={"GOFLAGS": "-mod=mod"})
        try:
            gomod = Path(json.loads(p.stdout)["GoMod"])
        except (json.JSONDecodeError, KeyError):
            raise Missing(f"go mod download {module}@{version}: {p.stderr.strip() or p.stdout.strip()}") from None
        p = _go("mod", "edit", "-json", str(gomod), cwd=Path(tmp))
    if p.returncode != 0:
        raise Missing(f"go mod edit -json {gomod}: {p.stderr.strip()}")
    return json.loads(p.stdout)


def local_replaces_of(gomod: dict, sibling_version: str) -> dict[str, str]:
    """What a go.mod replaces with folders inside its module, each by itself at sibling_version."""
    return {r["Old"]["Path"]: f"{r['Old']['Path']} {sibling_version}" for r in gomod.get("Replace") or []
            if r["New"]["Path"].startswith("./") and not r["New"].get("Version")}


def godebug_of(gomod: dict) -> list[str]:
    """A go.mod's godebug directives (key=value): the wrapper takes them, so the binary has the
    GODEBUG defaults of an upstream build (Kubernetes: default=go1.25)."""
    return [f"{d['Key']}={d['Value']}" for d in gomod.get("GoDebug") or []]


def _wrapper_build(work, version, pkgs, common, require, replace, godebug, env, targets) -> subprocess.CompletedProcess:
    (work / "go.mod").write_text("module function-capi-vip.invalid/gobuild\n")
    for d in godebug:
        p = _go("mod", "edit", f"-godebug={d}", cwd=work, env=env)
        if p.returncode != 0:
            return p
    for old, new in replace.items():
        p = _go("mod", "edit", f"-replace={old}={new.replace(' ', '@')}", cwd=work, env=env)
        if p.returncode != 0:
            return p
    p = _go("get", *(f"{pkg}@{version}" for pkg in pkgs), *(f"{m}@{v}" for m, v in require.items()), cwd=work, env=env)
    if p.returncode != 0:
        return p
    for target, these in targets.items():
        p = _go("build", *common, "-o", target, *these, cwd=work, env=env)
        if p.returncode != 0:
            return p
    return p


def binary_of(name: str, package: str | None = None, *, install: bool = False, log=None) -> Path:
    """A binary of pinned component `name` (of `package`, for a component that builds several).

    With install True every binary of the component is built (in one wrapper) if any is missing;
    otherwise it must be in the cache."""
    c = component(name)
    package = package if package is not None else c.package
    if package not in c.packages:
        raise ValueError(f"[{name}] in {PINS} builds no package {package!r}: {list(c.packages)}")
    if install:
        kwargs = {"log": log} if log else {}
        return build_all(c.module, c.version, {p: c.binary_of_package(p) for p in c.packages}, ldflags=c.flags(),
                         require=c.require, replace=c.replace, local_replaces=c.local_replaces, **kwargs)[package]
    binary = c.binary_of_package(package)
    found = cached(c.module, c.version, package, binary, c.flags(), c.require, c.replace, c.local_replaces)
    if found is None:
        raise Missing(f"{binary} of {c.module}@{c.version} ({package}) is not built in {cache_root()}: "
                      f"run {INSTALL_COMMAND}")
    return found


def module_file(name: str, relative: str) -> Path:
    """A file or folder of pinned component `name`'s module in the module cache."""
    c = component(name)
    path = module_dir(c.module, c.version, download=False) / relative
    if not path.exists():
        raise Missing(f"{c.module}@{c.version} has no {relative}")
    return path


def crd_dirs(name: str, *, download: bool = False) -> list[Path]:
    """The CRD folders of pinned component `name` in the module cache."""
    c = component(name)
    root = module_dir(c.module, c.version, download=download)
    dirs = [root / d for d in c.crds]
    for d in dirs:
        if not d.is_dir():
            raise Missing(f"{c.module}@{c.version} has no folder {d.relative_to(root)}: check crds in {PINS}")
    return dirs
