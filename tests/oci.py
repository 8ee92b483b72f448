"""An image's root filesystem and config, and a process started from it as a container runtime would.

`unpack(archive, folder)` reads an OCI archive (index.json) or a docker archive (manifest.json: what
`buildah push docker-archive:`, `docker save` and `crossplane xpkg build` write), applies its layers
in order (whiteouts included) and returns the image's config. `command(folder, config, args)` is the
argv that starts the image's entrypoint in that root filesystem, as the image's user: in a mount
namespace of its own (`unshare --mount`, so /proc and /dev are mounted for it alone and nothing is
left mounted when it exits), under `chroot --userspec`. Each step execs the next, so the process started is the
entrypoint itself: signals sent to it reach the function, and its pid is the function's. No network
namespace, no cgroups: the function listens on the host's loopback, which is what the tests dial.
Needs root, as chroot does.
"""

from __future__ import annotations

import json
import os
import shlex
import tarfile
from pathlib import Path

from tools.image import remove

WHITEOUT, OPAQUE = ".wh.", ".wh..wh..opq"
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")  # what runc puts in a container's /dev


class ArchiveError(ValueError):
    pass


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    f = tar.extractfile(name)
    if f is None:
        raise ArchiveError(f"{name} is not a file in the archive")
    return f.read()


def layers_and_config(archive: Path) -> tuple[list[str], dict, tarfile.TarFile]:
    tar = tarfile.open(archive)
    names = set(tar.getnames())
    if "manifest.json" in names:  # docker archive
        (manifest,) = json.loads(_read(tar, "manifest.json"))
        return manifest["Layers"], json.loads(_read(tar, manifest["Config"])), tar
    if "index.json" in names:  # OCI archive
        index = json.loads(_read(tar, "index.json"))
        blob = lambda d: "blobs/" + d.replace(":", "/", 1)  # noqa: E731
        (entry,) = index["manifests"]
        manifest = json.loads(_read(tar, blob(entry["digest"])))
        return [blob(layer["digest"]) for layer in manifest["layers"]], json.loads(_read(tar, blob(manifest["config"]["digest"]))), tar
    raise ArchiveError(f"{archive} is neither an OCI archive (index.json) nor a docker archive (manifest.json)")


def unpack(archive: Path, folder: Path) -> dict:
    """Apply the image's layers into folder (made here); returns the image's config."""
    layers, config, tar = layers_and_config(archive)
    with tar:
        unpack_layers([tar.extractfile(name) for name in layers], folder)
    return config


def unpack_layers(layers, folder: Path) -> None:
    """Apply layers (paths or open files of tar archives, compressed or not), in order, into folder."""
    folder.mkdir(parents=True)
    for source in layers:
        opened = tarfile.open(source, mode="r:*") if isinstance(source, (str, Path)) else tarfile.open(fileobj=source, mode="r:*")
        with opened as layer:
            members = []
            for m in layer.getmembers():
                path = Path(m.name)
                if path.name == OPAQUE:
                    target = folder / path.parent
                    for child in target.iterdir() if target.is_dir() else ():
                        remove(child)
                elif path.name.startswith(WHITEOUT):
                    remove(folder / path.parent / path.name[len(WHITEOUT):])
                else:
                    members.append(m)
            # Our own image: ownership, modes and absolute links as they are (Python before 3.11.4,
            # Debian bookworm's 3.11.2 among them, has no filter and extracts so anyway).
            trusted = {"filter": "fully_trusted"} if hasattr(tarfile, "data_filter") else {}
            layer.extractall(folder, members=members, numeric_owner=True, **trusted)


def environment(config: dict, extra: dict | None = None) -> dict:
    """The image's Env (and extra): the process's whole environment, nothing of the host's."""
    env = dict(e.split("=", 1) for e in config["config"].get("Env") or [])
    return {**env, **(extra or {})}


def command(folder: Path, config: dict, args=(), *, read_only: bool = True) -> list[str]:
    """The argv that runs the image's entrypoint (and args) in folder, as the image's user; with
    read_only (as examples/runtime/function.yaml runs it: readOnlyRootFilesystem) nothing in the
    root filesystem can be written."""
    c = config["config"]
    user = c.get("User") or "0:0"
    uid, _, gid = user.partition(":")
    if not (uid.isdigit() and (gid or uid).isdigit()):
        raise ArchiveError(f"image user {user!r}: only numeric uid:gid is supported here")
    argv = [*(c.get("Entrypoint") or []), *((c.get("Cmd") or []) if not args else args)]
    root = shlex.quote(str(folder))
    dev = shlex.quote(str(folder / "dev"))
    inner = " && ".join([
        *([f"mount --bind {root} {root}", f"mount -o remount,bind,ro {root}"] if read_only else []),
        f"mount -t proc proc {shlex.quote(str(folder / 'proc'))}",
        # /dev as a container runtime makes it: a tmpfs with the usual devices (the image has none)
        f"mount -t tmpfs -o mode=755,nosuid tmpfs {dev}",
        *(f"touch {dev}/{d} && mount --bind /dev/{d} {dev}/{d}" for d in DEVICES),
        f"ln -s /proc/self/fd {dev}/fd",
        f"exec /usr/sbin/chroot --userspec={uid}:{gid or uid} --groups={gid or uid} {root} "
        + " ".join(shlex.quote(a) for a in argv)])
    return ["/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", inner]


def need_root() -> str | None:
    """Why processes cannot be started from an image here, or None."""
    if os.geteuid() != 0:
        return "starting the image's entrypoint needs root (chroot, a mount namespace)"
    return None
