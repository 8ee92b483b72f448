"""Crossplane installs the function as users do: the README's Function, its package pulled from a
registry on 127.0.0.1, the revision's image run from its own root filesystem (tests/e2e/stack.py)."""

import re
from pathlib import Path

import yaml

from tests.e2e.kube import Kube
from tests.e2e.stack import revision_name
from tests.package import function_manifest

ROOT = Path(__file__).resolve().parents[2]


def test_the_function_is_the_readmes_with_the_registrys_package(stack):
    fn = Kube(stack.client).get("pkg.crossplane.io/v1", "Function", "function-capi-vip")
    assert fn["spec"]["package"] == f"{stack.package.registry.address}/function-capi-vip:v0.1.0"
    assert fn["spec"]["package"] == yaml.safe_load(function_manifest().replace("$REGISTRY", stack.package.registry.address))["spec"]["package"]
    conditions = {c["type"]: (c["status"], c.get("reason")) for c in fn["status"]["conditions"]}
    assert conditions["Installed"][0] == "True" and conditions["Healthy"][0] == "True", conditions


def test_the_revision_is_of_the_digest_pushed(stack):
    """Crossplane resolved the README's tag to the digest the push reported: v2.4 names the revision
    after that digest and the Function's generation."""
    kube = Kube(stack.client)
    rev = stack.revision(kube)
    assert rev["spec"]["desiredState"] == "Active"
    assert rev["spec"]["image"] == f"{stack.package.registry.address}/function-capi-vip:v0.1.0"
    generation = kube.get("pkg.crossplane.io/v1", "Function", "function-capi-vip")["metadata"]["generation"]
    assert rev["metadata"]["name"] == revision_name("function-capi-vip", stack.package.digest, generation)
    assert rev["metadata"]["name"] != revision_name("function-capi-vip", "sha256:" + "0" * 64, generation)


def test_crossplane_reads_the_packages_crossplane_yaml(stack):
    rev = stack.revision(Kube(stack.client))
    meta = yaml.safe_load((ROOT / "package/crossplane.yaml").read_text())
    assert {k: v for k, v in rev["metadata"]["annotations"].items() if k.startswith("meta.crossplane.io/")} \
        == meta["metadata"]["annotations"]
    assert rev["status"]["capabilities"] == meta["spec"]["capabilities"]


def test_crossplane_does_not_install_the_input_crd_of_a_function_package(stack):
    """The xpkg specification: a Function package may carry CRDs (ours: the Input, for validation
    and documentation), and Crossplane does not install them (v2.4's FunctionRevision controller
    filters every object out). The Input works without it: it is embedded in the Composition."""
    kube = Kube(stack.client)
    rev = stack.revision(kube)
    assert not rev["status"].get("objectRefs")
    assert kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "inputs.vip.fn.crossplane.io") is None


def test_the_function_crossplane_dials_runs_from_the_revisions_image_as_its_user(stack):
    pid = stack.procs["function"].p.pid
    assert Path(f"/proc/{pid}/root").resolve() == (stack.wd / "function-rootfs").resolve()
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2] == [b"/fn/bin/python3", b"/fn/bin/function"]
    uids = re.search(r"^Uid:\s+(.*)$", Path(f"/proc/{pid}/status").read_text(), re.M).group(1).split()
    assert set(uids) == {"65532"}
    assert (stack.wd / "function-rootfs" / "package.yaml").exists()  # the package's own layer, as pulled
