"""The function's runtime image, built without a container engine: `python3 -m tools.image [--out DIR]`.

Run as root (it runs the image's own Python under chroot to make the virtual environment). What
goes in is read from the Dockerfile, so the two cannot drift (tests/test_image.py checks the result
against it):

- the files its build stage copies (pyproject.toml, README.md, function/) are built into a wheel
  (by this machine's pip), whose dependencies are downloaded as wheels for the image's Python and
  glibc; the image's own Python then makes the virtual environment at the path the final stage
  copies (/fn), installs them there without an index and without bytecode, and `compileall` makes
  the bytecode: the steps of the Dockerfile's RUN, which must be exactly BUILD_STEPS below;
- its final stage's USER, EXPOSE and ENTRYPOINT become the image's config (any other instruction,
  ENV or CMD say, is refused with a message, so the two cannot drift unnoticed);
- its base, `python:3.11-slim-bookworm`, is matched by Debian bookworm's own python3 (3.11), taken
  from Debian's packages with `debootstrap --variant=minbase` (tools/versions.toml, [debian]) and
  brought up to date with the suite's updates and security fixes, into a root filesystem that is
  cached outside the repository, keyed by what it was made from, and made again after 7 days:

    ${XDG_CACHE_HOME:-~/.cache}/function-capi-vip/rootfs/<suite>-<key>.tar  (and .json: its packages)

buildah (Debian's package) turns the two into an image of two layers, the root filesystem and the
virtual environment, and writes it twice into DIR (default dist/):

    function-capi-vip-runtime.oci.tar   the image as an OCI archive
    function-capi-vip-runtime.tar       the same image as a docker archive, which
                                        `crossplane xpkg build --embed-runtime-image-tarball` reads
    function-capi-vip-runtime.json      what went in: Python, Debian packages, wheels; the sizes

Only this machine's architecture is built (no emulation here for another one).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS = Path(__file__).with_name("versions.toml")
IMAGE = "function-capi-vip-runtime"
# Trimmed from the root filesystem, as Debian's slim images do: apt's caches and lists, manuals,
# translations, and every document but the copyright files. The host's resolver configuration and
# name, and the device nodes debootstrap makes in /dev, are not the image's (a container runtime
# provides its own: tests/oci.py does).
TRIM = ("var/cache/apt", "var/lib/apt/lists", "usr/share/man", "usr/share/info", "usr/share/locale",
        "var/log", "etc/resolv.conf", "etc/hostname", "dev")
RECIPE_VERSION = 2  # part of the root filesystem's cache key: raise it when TRIM or the steps change
MAX_AGE_DAYS = 7    # an older root filesystem is made again, so the image takes Debian's updates
CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}


class BuildError(RuntimeError):
    """A step failed; the message says which and what it printed."""


@dataclass(frozen=True)
class Recipe:
    """What the Dockerfile puts in the image."""

    base: str                 # the base image, e.g. python:3.11-slim-bookworm
    python: str               # its Python's minor version, e.g. 3.11
    suite: str                # its Debian release, e.g. bookworm
    sources: tuple[str, ...]  # what its build stage copies to build the wheel from
    venv: str                 # the virtual environment its final stage copies
    user: str                 # USER of the final stage
    ports: tuple[int, ...]    # EXPOSE of the final stage
    entrypoint: tuple[str, ...]


# The build stage's RUN, which build() below reproduces step by step; any other RUN is refused, so
# an edit of the Dockerfile's steps fails here until this script follows it.
BUILD_STEPS = ("python -m venv /venv && /venv/bin/pip install --no-cache-dir --upgrade pip build"
               " && /venv/bin/python -m build --wheel --outdir /dist && python -m venv {venv}"
               " && {venv}/bin/pip install --no-cache-dir --no-compile /dist/*.whl && {venv}/bin/python -m compileall -q {venv}/lib")
ALLOWED = {"build": {"FROM", "WORKDIR", "COPY", "RUN"}, "final": {"FROM", "COPY", "USER", "EXPOSE", "ENTRYPOINT"}}


def recipe(dockerfile: Path = ROOT / "Dockerfile") -> Recipe:
    """Read the Dockerfile: its base image, the build stage's sources, the final stage's config.

    Strict: an instruction this build does not reproduce (ENV, CMD, a second COPY into the final
    stage, another base for it, another RUN) is an error that names it, never ignored."""
    lines, args = [], {}
    for raw in dockerfile.read_text().replace("\\\n", " ").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(" ".join(line.split()))
    stages: list[list[tuple[str, str]]] = []
    for line in lines:
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "ARG" and not stages:
            k, _, v = rest.partition("=")
            args[k.strip()] = v.strip()
        elif word == "FROM":
            stages.append([(word, rest)])
        elif stages:
            stages[-1].append((word, rest.strip()))
        else:
            raise BuildError(f"{dockerfile}: {word} before the first FROM is not reproduced by tools/image.py")
    if len(stages) != 2:
        raise BuildError(f"{dockerfile}: expected a build stage and a final stage, found {len(stages)} stages")
    build, final = stages
    for name, stage in (("build", build), ("final", final)):
        for word, rest in stage:
            if word not in ALLOWED[name]:
                raise BuildError(f"{dockerfile}: `{word} {rest}` in the {name} stage is not reproduced by "
                                 f"tools/image.py: teach it the step, or leave the step out")
    expand = lambda text: re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), text)  # noqa: E731
    base = expand(build[0][1].split()[0])
    if build[0][1].split()[1:] != ["AS", "build"] or expand(final[0][1]) != base:
        raise BuildError(f"{dockerfile}: expected `FROM <base> AS build`, then `FROM <the same base>`")
    m = re.fullmatch(r"python:(\d+\.\d+)-slim-(\w+)", base)
    if not m:
        raise BuildError(f"{dockerfile}: base image {base!r} is not python:<minor>-slim-<debian release>")
    sources = tuple(s for w, rest in build if w == "COPY" for s in rest.split()[:-1])
    copies = [rest.split() for w, rest in final if w == "COPY"]
    if len(copies) != 1 or len(copies[0]) != 3 or copies[0][0] != "--from=build" or copies[0][1] != copies[0][2]:
        raise BuildError(f"{dockerfile}: the final stage must copy one folder from the build stage to the same path")
    venv = copies[0][1]
    runs = [rest for w, rest in build if w == "RUN"]
    if runs != [BUILD_STEPS.format(venv=venv)]:
        raise BuildError(f"{dockerfile}: the build stage's RUN is {runs}, tools/image.py reproduces exactly "
                         f"[{BUILD_STEPS.format(venv=venv)!r}]: make them the same")
    one = lambda w: [rest for word, rest in final if word == w][-1]  # noqa: E731 - the last one counts, as in Docker
    return Recipe(base=base, python=m.group(1), suite=m.group(2), sources=sources, venv=venv, user=one("USER"),
                  ports=tuple(int(p.split("/")[0]) for p in one("EXPOSE").split()),
                  entrypoint=tuple(json.loads(one("ENTRYPOINT"))))


def project_version() -> str:
    """The version in pyproject.toml: the package's, the image's label, and `function --version`'s."""
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def debian() -> dict:
    with PINS.open("rb") as f:
        return tomllib.load(f)["debian"]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "function-capi-vip"


def run(argv: list, what: str, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise BuildError(f"{what}: `{' '.join(map(str, argv))}` exited {p.returncode}:\n{(p.stdout + p.stderr)[-4000:]}")
    return p


def chroot(rootfs: Path, *argv: str, what: str, env: dict | None = None) -> subprocess.CompletedProcess:
    # env -i: nothing of this machine's environment (its pip settings, say) reaches the image's steps.
    return run(["chroot", rootfs, "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in {**CLEAN_ENV, **(env or {})}.items()),
                *argv], what)


def need_root() -> None:
    if os.geteuid() != 0:
        raise BuildError("the image build runs the image's Python under chroot: run it as root")
    for tool in ("debootstrap", "buildah", "chroot"):
        if shutil.which(tool) is None:
            raise BuildError(f"`{tool}` is not installed: run `python3 -m tools.install debian` "
                             f"(apt-get install {' '.join(debian()['host'])})")


def _is_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def remove(path: Path) -> None:
    """Remove a file, link or folder, if there is one (a link is removed, never followed)."""
    if _is_folder(path):
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _empty(folder: Path, keep: str | None = None) -> None:
    for child in folder.iterdir():
        if child.name != keep:
            remove(child)


def unmount_under(folder: Path) -> None:
    """Unmount whatever a step left mounted under folder (debootstrap mounts /proc and /sys in its
    target, and leaves them when it is killed), deepest first, so removing folder cannot reach the host."""
    inside = str(folder.resolve()) + "/"
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for point in sorted((p for p in points if p.startswith(inside)), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True)


# --- the base: Debian's python3, debootstrapped -------------------------------------------------


def base_key(rec: Recipe) -> str:
    d = debian()
    what = {"suite": d["suite"], "mirror": d["mirror"], "security": d["security_mirror"], "variant": "minbase",
            "include": sorted(d["image"]),
            "trim": TRIM, "recipe": RECIPE_VERSION, "arch": platform.machine()}
    return f"{d['suite']}-{hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]}"


def base_rootfs(rec: Recipe, log=print) -> tuple[Path, dict]:
    """The cached root filesystem (a tar) and what it holds; made with debootstrap when missing."""
    d = debian()
    if d["suite"] != rec.suite:
        raise BuildError(f"the Dockerfile's base {rec.base} is Debian {rec.suite}, but {PINS} [debian] takes "
                         f"suite {d['suite']!r}: make them the same")
    folder = cache_root() / "rootfs"
    tar, info = folder / f"{base_key(rec)}.tar", folder / f"{base_key(rec)}.json"
    if tar.exists() and info.exists() and time.time() - tar.stat().st_mtime < MAX_AGE_DAYS * 86400:
        return tar, json.loads(info.read_text())
    need_root()
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log(f"  debootstrap {d['suite']} (minbase, {', '.join(d['image'])}) from {d['mirror']}")
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        fs = Path(tmp) / "rootfs"
        try:
            run(["debootstrap", "--variant=minbase", f"--include={','.join(d['image'])}", d["suite"], fs, d["mirror"]],
                "debootstrap")
            # debootstrap takes the release as it was; the suite's updates and security fixes come after
            (fs / "etc/apt/sources.list").write_text(
                f"deb {d['mirror']} {d['suite']} main\ndeb {d['mirror']} {d['suite']}-updates main\n"
                f"deb {d['security_mirror']} {d['suite']}-security main\n")
            shutil.copy2("/etc/resolv.conf", fs / "etc/resolv.conf")
            chroot(fs, "apt-get", "update", "-q", what="apt-get update in the root filesystem")
            chroot(fs, "apt-get", "upgrade", "-y", "-q", what="apt-get upgrade in the root filesystem",
                   env={"DEBIAN_FRONTEND": "noninteractive"})
            chroot(fs, "apt-get", "clean", what="apt-get clean")
        finally:
            unmount_under(Path(tmp))
        python = chroot(fs, "/usr/bin/python3", "-c", "import platform; print(platform.python_version())",
                        what="the root filesystem's python3").stdout.strip()
        if not python.startswith(rec.python + "."):
            raise BuildError(f"Debian {d['suite']}'s python3 is {python}, the Dockerfile's base {rec.base} has "
                             f"Python {rec.python}: make them the same")
        libc = chroot(fs, "/usr/bin/python3", "-c", "import platform; print(platform.libc_ver()[1])",
                      what="the root filesystem's glibc").stdout.strip()
        packages = dict(line.split("\t") for line in chroot(
            fs, "dpkg-query", "-W", "-f=${Package}\t${Version}\n", what="dpkg-query").stdout.splitlines())
        for t in TRIM:  # a folder is emptied and kept, a file removed
            _empty(fs / t) if _is_folder(fs / t) else remove(fs / t)
        for doc in filter(_is_folder, (fs / "usr/share/doc").iterdir()):
            _empty(doc, keep="copyright")
        part = Path(tmp) / "rootfs.tar"
        run(["tar", "--numeric-owner", "--xattrs", "-C", fs, "-cf", part, "."], "tar of the root filesystem")
        about = {"suite": d["suite"], "mirror": d["mirror"], "python": python, "libc": libc, "packages": packages,
                 "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": round(time.monotonic() - started)}
        info.write_text(json.dumps(about, indent=1, sort_keys=True) + "\n")
        part.rename(tar)
    log(f"  root filesystem: {tar} ({tar.stat().st_size / 2**20:.0f} MiB, {time.monotonic() - started:.0f} s)")
    return tar, about


# --- the image ---------------------------------------------------------------------------------


def wheels(rec: Recipe, about: dict, out: Path) -> list[Path]:
    """The project's wheel, built from what the Dockerfile's build stage copies, and its dependencies'
    wheels for the image's Python and glibc (not this machine's), for an install with no index."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for s in (s.rstrip("/") for s in rec.sources):
            if (ROOT / s).is_dir():
                shutil.copytree(ROOT / s, src / s, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(ROOT / s, src / s)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        run([*pip, "wheel", "--quiet", "--no-deps", "-w", out, src], "pip wheel of the project")
        (project,) = out.glob("function_capi_vip-*.whl")
        major, minor = rec.python.split(".")
        arch = platform.machine()
        # the manylinux tags the image's glibc runs, newest first (pip takes only the tags it is given)
        glibc = int(about["libc"].split(".")[1])
        tags = [f"manylinux_2_{m}_{arch}" for m in range(glibc, 4, -1)]
        tags += [f"{legacy}_{arch}" for legacy in ("manylinux2014", "manylinux2010", "manylinux1")]
        run([*pip, "download", "--quiet", "--only-binary=:all:", "--implementation", "cp", "--python-version", rec.python,
             *(a for abi in (f"cp{major}{minor}", "abi3", "none") for a in ("--abi", abi)),
             *(a for tag in tags for a in ("--platform", tag)), "-d", out, project],
            "pip download of the dependencies for the image's Python")
    return sorted(out.glob("*.whl"))


def build(out: Path, log=print) -> dict:
    need_root()
    rec = recipe()
    started = time.monotonic()
    base, about = base_rootfs(rec, log)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fs = tmp / "rootfs"
        fs.mkdir()
        run(["tar", "--numeric-owner", "--xattrs", "-C", fs, "-xf", base], "unpacking the root filesystem")
        found = wheels(rec, about, fs / "tmp" / "wheels")
        (project,) = [w for w in found if w.name.startswith("function_capi_vip-")]
        log(f"  {len(found)} wheels; the virtual environment {rec.venv}, by the image's python3")
        chroot(fs, "/usr/bin/python3", "-m", "venv", rec.venv, what="python3 -m venv")
        # as the Dockerfile's RUN: no bytecode from pip, compileall makes it
        chroot(fs, f"{rec.venv}/bin/pip", "install", "--quiet", "--no-cache-dir", "--no-compile", "--disable-pip-version-check",
               "--no-index", "--find-links", "/tmp/wheels", f"/tmp/wheels/{project.name}", what="pip install of the wheel")
        chroot(fs, f"{rec.venv}/bin/python", "-m", "compileall", "-q", f"{rec.venv}/lib", what="compileall")
        installed = chroot(fs, f"{rec.venv}/bin/pip", "list", "--format=freeze", "--disable-pip-version-check",
                           what="pip list").stdout.split()
        shutil.rmtree(fs / "tmp" / "wheels")
        layer = tmp / "venv.tar"
        run(["tar", "--numeric-owner", "-C", fs, "-cf", layer, rec.venv.lstrip("/")], "tar of the virtual environment")

        storage = tmp / "storage"
        b = ["buildah", "--storage-driver=vfs", f"--root={storage}", f"--runroot={tmp / 'run'}"]
        c = run([*b, "from", "scratch"], "buildah from scratch").stdout.strip()
        run([*b, "add", c, base, "/"], "buildah add (the root filesystem)")
        run([*b, "commit", "--quiet", "--rm", c, "localhost/base"], "buildah commit (the root filesystem)")
        c = run([*b, "from", "localhost/base"], "buildah from").stdout.strip()
        run([*b, "add", c, layer, "/"], "buildah add (the virtual environment)")
        config = ["--user", rec.user, "--entrypoint", json.dumps(list(rec.entrypoint)),
                  *(a for p in rec.ports for a in ("--port", str(p))),
                  *(a for k in ("PATH", "LANG") for a in ("--env", f"{k}={CLEAN_ENV[k]}")),
                  "--label", "org.opencontainers.image.title=function-capi-vip",
                  "--label", f"org.opencontainers.image.version={project_version()}",
                  "--label", "org.opencontainers.image.licenses=Apache-2.0",
                  "--label", "org.opencontainers.image.description=A Crossplane composition function that allocates "
                             "virtual IPs for Cluster API clusters from IPAM pools",
                  "--label", f"org.opencontainers.image.base.name=debian:{rec.suite} (python3 {about['python']})"]
        run([*b, "config", *config, c], "buildah config")
        run([*b, "commit", "--quiet", "--rm", c, f"localhost/{IMAGE}:latest"], "buildah commit")
        archives = {"oci": out / f"{IMAGE}.oci.tar", "docker": out / f"{IMAGE}.tar"}
        for transport, path in archives.items():
            path.unlink(missing_ok=True)
            run([*b, "push", "--quiet", f"localhost/{IMAGE}:latest", f"{transport}-archive:{path}:{IMAGE}:latest"],
                f"buildah push to a {transport} archive")
        run([*b, "rmi", "--all"], "buildah rmi")  # vfs layers are whole copies: leave none behind
    report = {
        "image": IMAGE, "base": f"debian {rec.suite} (minbase) with python3 {about['python']}",
        "dockerfile_base": rec.base, "arch": platform.machine(), "venv": rec.venv, "user": rec.user,
        "ports": list(rec.ports), "entrypoint": list(rec.entrypoint), "wheels": sorted(installed),
        "debian_packages": about["packages"], "libc": about["libc"],
        "bytes": {"oci_archive": archives["oci"].stat().st_size, "docker_archive": archives["docker"].stat().st_size},
        "seconds": round(time.monotonic() - started, 1),
    }
    (out / f"{IMAGE}.json").write_text(json.dumps(report, indent=1) + "\n")
    mib = lambda n: f"{n / 2**20:.0f} MiB"  # noqa: E731
    log(f"{IMAGE}: {archives['oci']} ({mib(report['bytes']['oci_archive'])} compressed, "
        f"{mib(report['bytes']['docker_archive'])} unpacked), {archives['docker']}; {report['seconds']:.0f} s")
    return report


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m tools.image", description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--out", type=Path, default=ROOT / "dist", help="where the archives go (default: dist/)")
    args = ap.parse_args(argv)
    try:
        build(args.out)
    except BuildError as e:
        print(f"tools.image: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
