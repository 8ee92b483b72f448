"""The runtime image and the package, as the README's Install it commands make them (tests/package.py).

The image is unpacked and its entrypoint started from its own root filesystem (tests/oci.py: chroot,
as the image's user, the root filesystem read-only), with --tls-certs-dir, as Crossplane runs it.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
import urllib.request
from pathlib import Path

import grpc
import pytest
import yaml
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests import oci
from tests.conftest import free_port, sigterm_through_the_drain
from tests.e2e.stack import Proc
from tests.harness import request, xr
from tools import image

ROOT = Path(__file__).resolve().parents[1]
SITE = "fn/lib/python3.11/site-packages"


@pytest.fixture(scope="module")
def rootfs(built_package, tmp_path_factory):
    folder = tmp_path_factory.mktemp("image") / "rootfs"
    config = oci.unpack(built_package.oci_archive, folder)
    return folder, config


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA; the function's server certificate for 127.0.0.1; a client certificate, as Crossplane's."""
    from tests.e2e.stack import CA

    folder = tmp_path_factory.mktemp("pki")
    ca = CA()
    ca.issue(folder / "server", "function-capi-vip", ips=["127.0.0.1"], dns=["localhost"], client=False)
    ca.issue(folder / "client", "crossplane", server=False)
    return folder


class Container:
    """The image's entrypoint started in its root filesystem, its certificates in /tls."""

    def __init__(self, rootfs, pki: Path, *args: str) -> None:
        folder, config = rootfs
        tls = folder / "tls"
        if not tls.exists():  # before the root filesystem is made read-only for the process
            shutil.copytree(pki / "server", tls)
            uid, gid = (int(x) for x in config["config"]["User"].split(":"))
            for f in [tls, *tls.iterdir()]:
                shutil.chown(f, uid, gid)
        self.address, self.metrics = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        argv = oci.command(folder, config, ["--tls-certs-dir", "/tls", "--address", self.address,
                                            "--metrics-address", self.metrics, *args])
        creds = grpc.ssl_channel_credentials((pki / "client" / "ca.crt").read_bytes(), (pki / "client" / "tls.key").read_bytes(),
                                             (pki / "client" / "tls.crt").read_bytes())
        self.runner = Proc(f"function-{free_port()}", argv, folder.parent, oci.environment(config, {"PYTHONUNBUFFERED": "1"}),
                           inherit_env=False)
        self.proc = self.runner.p
        self.channel = grpc.secure_channel(self.address, creds)
        try:
            grpc.channel_ready_future(self.channel).result(timeout=60)
        except BaseException:  # whatever stops the start, no process of the image outlives the test
            log = self.stop()
            pytest.fail(f"the image's entrypoint did not serve on {self.address}:\n{log[-3000:]}")
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def status(self) -> str:
        return Path(f"/proc/{self.proc.pid}/status").read_text()

    def stop(self) -> str:
        self.channel.close()
        self.runner.stop(30)
        return self.runner.log.read_text()


@pytest.fixture(scope="module")
def container(rootfs, pki):
    c = Container(rootfs, pki)
    yield c
    c.stop()


# --- what the image is ---------------------------------------------------------------------------


def test_the_image_is_configured_as_the_dockerfile_says(rootfs):
    _, config = rootfs
    rec = image.recipe()
    c = config["config"]
    assert c["User"] == rec.user
    assert sorted(int(p.split("/")[0]) for p in c["ExposedPorts"]) == sorted(rec.ports)
    assert c["Entrypoint"] == list(rec.entrypoint)
    assert not c.get("Cmd")  # ENTRYPOINT without CMD, as in the Dockerfile
    labels = c["Labels"]
    assert labels["org.opencontainers.image.version"] == image.project_version()
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.title"] == "function-capi-vip"


def test_the_dockerfile_is_read_as_written():
    text = (ROOT / "Dockerfile").read_text()
    rec = image.recipe()
    assert f"USER {rec.user}" in text and f"ENTRYPOINT {json.dumps(list(rec.entrypoint))}" in text
    assert f"EXPOSE {' '.join(map(str, rec.ports))}" in text and f"COPY --from=build {rec.venv} {rec.venv}" in text
    assert f"ARG PYTHON_IMAGE={rec.base}" in text and rec.base == f"python:{rec.python}-slim-{rec.suite}"
    assert set(rec.sources) == {"pyproject.toml", "README.md", "function"}


def test_the_image_has_the_python_and_debian_release_of_the_dockerfiles_base(rootfs, built_package):
    folder, _ = rootfs
    rec = image.recipe()
    assert re.search(rf"^VERSION_CODENAME={rec.suite}$", (folder / "etc/os-release").read_text(), re.M)
    assert (folder / f"usr/bin/python{rec.python}").exists()
    assert f"python3 {rec.python}." in built_package.report["base"]
    assert (folder / "fn/pyvenv.cfg").read_text().count(f"version = {rec.python}.") == 1


def _requires(dist_info: Path) -> list[str]:
    """The distribution names a dist-info requires, outside extras."""
    out = []
    for line in (dist_info / "METADATA").read_text().splitlines():
        if line.startswith("Requires-Dist:"):
            spec = line.split(":", 1)[1].strip()
            if "extra ==" in spec:
                continue
            out.append(re.split(r"[ ;<>=!~\[(]", spec, 1)[0])
    return out


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_virtual_environment_holds_the_wheel_and_its_dependencies_only(rootfs):
    folder, _ = rootfs
    infos = {}
    for d in (folder / SITE).glob("*.dist-info"):
        name = next(ln.split(":", 1)[1].strip() for ln in (d / "METADATA").read_text().splitlines() if ln.startswith("Name:"))
        infos[_norm(name)] = d
    wanted, todo = set(), ["function-capi-vip"]
    while todo:
        name = _norm(todo.pop())
        if name not in wanted:
            wanted.add(name)
            todo.extend(_requires(infos[name]))
    # pip and setuptools are what `python -m venv` seeds, in the Dockerfile's image too
    assert set(infos) == wanted | {"pip", "setuptools"}
    assert "pytest" not in infos and "kubernetes" not in infos


def test_the_functions_bytecode_is_compiled_in_the_image(rootfs):
    folder, _ = rootfs
    sources = sorted((folder / SITE / "function").rglob("*.py"))
    assert sources
    for src in sources:
        assert (src.parent / "__pycache__" / f"{src.stem}.cpython-311.pyc").exists(), src


def test_the_image_reports_its_sizes(built_package):
    sizes = built_package.report["bytes"]
    assert built_package.oci_archive.stat().st_size == sizes["oci_archive"]
    assert built_package.docker_archive.stat().st_size == sizes["docker_archive"]
    assert sizes["oci_archive"] < sizes["docker_archive"]  # layers compressed in the OCI archive


# --- the image works -----------------------------------------------------------------------------


def test_the_entrypoint_is_serving_over_mutual_tls(container):
    rsp = container.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert rsp.status == health_pb2.HealthCheckResponse.SERVING


def test_the_entrypoint_answers_run_function_over_mutual_tls(container):
    rsp = grpcv1.FunctionRunnerServiceStub(container.channel).RunFunction(request(xr()), timeout=10)
    assert "cluster-class" in rsp.requirements.resources


def test_a_client_without_a_certificate_is_refused_by_the_image(container, pki):
    channel = grpc.secure_channel(container.address, grpc.ssl_channel_credentials((pki / "client" / "ca.crt").read_bytes()))
    try:
        with pytest.raises(grpc.RpcError) as e:
            grpcv1.FunctionRunnerServiceStub(channel).RunFunction(request(xr()), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        channel.close()


def test_the_image_serves_metrics(container):
    grpcv1.FunctionRunnerServiceStub(container.channel).RunFunction(request(xr()), timeout=10)
    text = urllib.request.urlopen(f"http://{container.metrics}/metrics", timeout=5).read().decode()
    assert re.search(r"^function_capi_vip_run_function_duration_seconds_count [1-9]", text, re.M)
    assert re.search(r"^process_resident_memory_bytes ", text, re.M)  # /proc is there, as in a container


def test_the_entrypoint_runs_as_the_images_non_root_user(container):
    status = container.status()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
    assert set(uids) == {"65532"} and set(gids) == {"65532"}
    cmdline = Path(f"/proc/{container.proc.pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[:2] == [b"/fn/bin/python3", b"/fn/bin/function"]  # the entrypoint itself, no shell left


def test_the_entrypoint_runs_on_a_read_only_root_filesystem(container):
    # mountinfo as the process sees it: mount points relative to its root; the last "/" is on top
    mounts = [m.split() for m in Path(f"/proc/{container.proc.pid}/mountinfo").read_text().splitlines()]
    root = [m for m in mounts if m[4] == "/"][-1]
    assert "ro" in root[5].split(","), root


def test_sigterm_turns_the_image_not_serving_drains_and_exits_zero(rootfs, pki):
    c = Container(rootfs, pki, "--shutdown-drain-seconds", "1", "--shutdown-grace-seconds", "5")
    try:
        _sigterm(c)
    finally:
        c.stop()


def _sigterm(c: Container) -> None:
    statuses, answered = sigterm_through_the_drain(c.proc, c.channel)
    assert statuses == [health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING]
    assert answered > 0
    assert c.proc.wait(15) == 0
    assert '"msg": "stopped"' in c.stop()


# --- the package ---------------------------------------------------------------------------------


def _package_layer(xpkg: Path) -> tuple[list[dict], list[str], dict]:
    """The xpkg's package.yaml documents, its layers' diff ids, and its config."""
    layers, config, tar = oci.layers_and_config(xpkg)
    with tar:
        labels = config["config"]["Labels"]
        # Crossplane finds the package's layer by this label, keyed by the layer's (compressed) digest,
        # which names the layer's file in the archive.
        (digest,) = [k.split(":", 1)[1] for k, v in labels.items() if k.startswith("io.crossplane.xpkg:") and v == "base"]
        (name,) = [n for n in layers if n.split(".", 1)[0] == digest.split(":", 1)[1]]
        assert layers.index(name) == len(layers) - 1  # on top of the runtime image's layers
        with tarfile.open(fileobj=tar.extractfile(name), mode="r:*") as layer:
            assert layer.getnames() == ["package.yaml"]
            docs = list(yaml.safe_load_all(layer.extractfile("package.yaml")))
    return docs, config["rootfs"]["diff_ids"], config


def test_the_package_holds_crossplane_yaml_and_the_input_crd(built_package):
    docs, _, _ = _package_layer(built_package.xpkg)
    meta = yaml.safe_load((ROOT / "package/crossplane.yaml").read_text())
    crds = [yaml.safe_load(f.read_text()) for f in sorted((ROOT / "package/input").glob("*.yaml"))]
    docs = [d for d in docs if d]
    for d in docs[1:]:  # the builder writes a CRD back from its Go type, with an empty status
        assert d.pop("status", None) in (None, {"acceptedNames": {"kind": "", "plural": ""}, "conditions": None,
                                              "storedVersions": None})
    assert docs == [meta, *crds]


def test_the_package_embeds_the_runtime_image(built_package):
    _, diff_ids, config = _package_layer(built_package.xpkg)
    _, image_config, tar = oci.layers_and_config(built_package.oci_archive)
    tar.close()
    assert diff_ids[:-1] == image_config["rootfs"]["diff_ids"]  # the image's layers, then the package's
    assert config["config"]["Entrypoint"] == image_config["config"]["Entrypoint"]
    assert config["config"]["User"] == image_config["config"]["User"]


def test_the_registry_serves_the_pushed_package(built_package, tmp_path):
    repository, tag = built_package.ref.split("/", 1)[1].rsplit(":", 1)
    digest, manifest = built_package.registry.manifest(repository, tag)
    assert digest == built_package.digest
    _, diff_ids, _ = _package_layer(built_package.xpkg)
    assert len(manifest["layers"]) == len(diff_ids)
    config = json.loads(built_package.registry.blob(repository, manifest["config"]["digest"],
                                                    tmp_path / "config.json").read_bytes())
    assert config["rootfs"]["diff_ids"] == diff_ids



# --- the Dockerfile and tools/image.py cannot drift ------------------------------------------------


@pytest.mark.parametrize("edit, refused", [
    (lambda t: t.replace("USER 65532:65532", "ENV TLS_SERVER_CERTS_DIR=/tls\nUSER 65532:65532"), "ENV"),
    (lambda t: t.replace('ENTRYPOINT ["/fn/bin/function"]', 'ENTRYPOINT ["/fn/bin/function"]\nCMD ["--debug"]'), "CMD"),
    (lambda t: t.replace("COPY --from=build /fn /fn", "COPY --from=build /fn /fn\nCOPY examples /examples"), "copy one folder"),
    (lambda t: t.replace("FROM ${PYTHON_IMAGE}\n", "FROM gcr.io/distroless/python3\n"), "the same base"),
    (lambda t: t.replace("/fn/bin/pip install --no-cache-dir --no-compile /dist/*.whl",
                         "/fn/bin/pip install --no-cache-dir --no-compile /dist/*.whl uvloop"), "RUN"),
    (lambda t: t.replace(" \\\n && /fn/bin/python -m compileall -q /fn/lib", ""), "RUN"),
    (lambda t: t.replace("python:3.11-slim-bookworm", "python:3.11-alpine"), "python:<minor>-slim-<debian release>"),
])
def test_a_dockerfile_step_the_image_build_does_not_reproduce_is_refused(tmp_path, edit, refused):
    text = (ROOT / "Dockerfile").read_text()
    changed = edit(text)
    assert changed != text  # the edit applies to the Dockerfile as it is
    (tmp_path / "Dockerfile").write_text(changed)
    with pytest.raises(image.BuildError, match=re.escape(refused)):
        image.recipe(tmp_path / "Dockerfile")
