"""Every example, the Composition's Input and both render passes, validated offline by the real CLIs.

`crossplane resource validate` (newest) and `crossplane beta validate` (v2.2 and v1 lines) check
each object against the CRDs of the pinned modules (Cluster API, the in-cluster IPAM provider, the
line's own Crossplane) and the example XRDs, defaults, unknown fields and CEL rules included, with
--error-on-missing-schemas so that a kind without a schema fails.
"""

from pathlib import Path

import pytest
import yaml

from tests.cli import (OFFLINE, crds_of, dns_render, documents, legacy_render, service_lb_render, validate_walkthrough,
                       walkthrough_passes, with_functions)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GOLDEN = ROOT / "tests" / "golden"
# Files in examples/ that hold no Kubernetes objects, and what they are.
NOT_OBJECTS = {
    "kube-vip-ingress/fleet.yaml": "a Fleet bundle definition (fleet.yaml), read by Fleet, never applied",
    "kube-vip-cloud-provider/fleet.yaml": "a Fleet bundle definition (fleet.yaml), read by Fleet, never applied",
    "kube-vip-cloud-provider/chart/Chart.yaml": "a Helm chart's metadata, read by Helm",
    "kube-vip-cloud-provider/chart/templates/kubevip-configmap.yaml": "a Helm template: a ConfigMap once Helm renders it",
}
# Examples that need Crossplane v2, and why: the v1 CLI validates every other example.
V2_ONLY = {
    "definition.yaml": "an apiextensions.crossplane.io/v2 XRD (namespaced XRs)",
    "xr.yaml": "a namespaced XR of that XRD",
    "composition-dns.yaml": "a Composition for that XRD's namespaced XRs",
    "service-lb/xr.yaml": "a namespaced XR of that XRD",
    "dual-stack/xr.yaml": "a namespaced XR of that XRD",
}
# Examples only the newest CLI validates, and why.
NEWEST_ONLY = {
    "rbac.yaml": "a ClusterRole: the v2.2 and v1 CLIs have no schema of Kubernetes' own kinds (missing schema)",
}
XRDS = [EXAMPLES / "definition.yaml", EXAMPLES / "definition-legacy.yaml"]
INPUT_CRD = ROOT / "package" / "input"
CLIS = {"newest": "newest_cli", "v2.2": "v2_2_cli", "v1": "v1_cli"}


def example_files() -> list[str]:
    files = (str(p.relative_to(EXAMPLES)) for p in sorted(EXAMPLES.rglob("*.yaml")))
    return [f for f in files if f not in NOT_OBJECTS]


def cases():
    for line in CLIS:
        for f in example_files():
            if (line != "v1" or f not in V2_ONLY) and (line == "newest" or f not in NEWEST_ONLY):
                yield pytest.param(line, f, id=f"{line}-{f}")


@pytest.fixture(scope="session")
def validate_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("validate-cache")


def cli_of(request, line):
    return request.getfixturevalue(CLIS[line])


def extensions(cli) -> list[Path]:
    """What the examples need beside Crossplane's own CRDs: CAPI (with the kubeadm, RKE2, vSphere and
    Proxmox providers the example ClusterClasses' templates belong to), IPAM, package metadata, the XRDs, the Input."""
    xrds = [x for x in XRDS if cli.line.name != "v1" or x.name not in V2_ONLY]
    meta = [d for d in crds_of(cli.crossplane.name) if d.name == "meta"]
    return [*crds_of("cluster-api", "cluster-api-provider-vsphere", "cluster-api-provider-rke2",
                     "cluster-api-provider-proxmox", "ipam-in-cluster", "external-dns"), *meta, *xrds, INPUT_CRD]


def validate(cli, resources, cache, exts=None):
    p = cli.validate(exts if exts is not None else extensions(cli), resources, cache)
    return p, f"{cli} validate ({p.returncode}):\n{p.stdout}{p.stderr}"


def test_every_file_named_as_no_kubernetes_object_exists():
    assert set(NOT_OBJECTS) <= {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.yaml")}


@pytest.mark.parametrize(("line", "example"), list(cases()))
def test_example_is_valid(request, line, example, validate_cache):
    p, out = validate(cli_of(request, line), [EXAMPLES / example], validate_cache)
    assert p.returncode == 0, out
    assert out.count("validated successfully") >= len(documents((EXAMPLES / example).read_text())), out


@pytest.mark.parametrize("line", ["newest", "v2.2"])
def test_the_package_metadata_is_valid(request, line, validate_cache):
    p, out = validate(cli_of(request, line), [ROOT / "package" / "crossplane.yaml"], validate_cache)
    assert p.returncode == 0, out
    (meta,) = yaml.safe_load_all((ROOT / "package" / "crossplane.yaml").read_text())
    assert meta["spec"]["capabilities"] == ["composition"]


def test_crossplane_v1_package_metadata_lacks_only_capabilities(v1_cli, validate_cache):
    """Crossplane v1.20's package metadata schema has no spec.capabilities (Crossplane v2 added it). Its package
    parser decodes the metadata without strictness (crossplane-runtime v1.20 pkg/parser), so it ignores the field."""
    p, out = validate(v1_cli, [ROOT / "package" / "crossplane.yaml"], validate_cache)
    errors = [ln for ln in p.stdout.splitlines() if ln.startswith("[x]")]
    assert len(errors) == 1 and 'spec.capabilities: Invalid value: "capabilities": unknown field' in errors[0], out


@pytest.mark.parametrize("line", list(CLIS))
def test_the_compositions_input_is_valid_against_the_input_crd(request, line, validate_cache):
    """validate checks the Input embedded in each pipeline step against its CRD, package/input."""
    p, out = validate(cli_of(request, line), [EXAMPLES / "composition.yaml"], validate_cache, exts=[INPUT_CRD])
    assert p.returncode == 0, out
    assert "vip.fn.crossplane.io/v1beta1, Kind=Input" in p.stdout, out


@pytest.mark.parametrize("line", list(CLIS))
def test_the_input_crd_rejects_a_port_out_of_range(request, line, validate_cache, tmp_path):
    bad = tmp_path / "composition.yaml"
    bad.write_text((EXAMPLES / "composition.yaml").read_text().replace("defaultPort: 6443", "defaultPort: 70000"))
    p, out = validate(cli_of(request, line), [bad], validate_cache, exts=[INPUT_CRD])
    assert p.returncode != 0, out
    assert "cluster.defaultPort" in out


@pytest.mark.parametrize("line", list(CLIS))
def test_validation_rejects_a_claim_with_an_unknown_field(request, line, validate_cache, tmp_path):
    bad = tmp_path / "claim.yaml"
    bad.write_text("apiVersion: ipam.cluster.x-k8s.io/v1beta1\nkind: IPAddressClaim\nmetadata: {name: c, namespace: a}\n"
                   "spec: {poolRef: {apiGroup: ipam.cluster.x-k8s.io, kind: GlobalInClusterIPPool, name: p}, clusterNme: x}\n")
    p, out = validate(cli_of(request, line), [bad], validate_cache)
    assert p.returncode != 0, out
    assert "clusterNme" in out


@pytest.mark.parametrize("line", list(CLIS))
def test_validation_rejects_a_kind_without_a_schema(request, line, validate_cache, tmp_path):
    bad = tmp_path / "nope.yaml"
    bad.write_text("apiVersion: example.org/v1\nkind: Nope\nmetadata: {name: x}\n")
    p, out = validate(cli_of(request, line), [bad], validate_cache)
    assert p.returncode != 0, out


RENDERS = {"pass 1": lambda: walkthrough_passes()[0], "pass 2": lambda: walkthrough_passes()[1], "legacy": legacy_render,
           "dns": dns_render, "service-lb": service_lb_render}
# Without the XRD, Crossplane v2's render treats every XR as a modern one (spec.crossplane.resourceRefs,
# which a legacy XRD does not allow); the v1 CLI knows only legacy XRs and has no --xrd.
LEGACY_XRD = "--xrd=examples/definition-legacy.yaml"


@pytest.mark.parametrize(("line", "render"), [(line, r) for r in RENDERS for line in CLIS if line != "v1" or r == "legacy"])
def test_what_a_render_prints_is_valid(request, line, render, functions, validate_cache, tmp_path):
    """Every composed resource, and the XR with its new status (--include-full-xr: the XRD requires its spec)."""
    cli = cli_of(request, line)
    xrd = [LEGACY_XRD] if render == "legacy" and line != "v1" else []
    r = cli.render("--include-full-xr", *xrd, *with_functions(RENDERS[render](), functions))
    assert r.returncode == 0, r.stderr
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(r.stdout)
    p, out = validate(cli, [rendered], validate_cache)
    assert p.returncode == 0, out
    assert out.count("validated successfully") == len(documents(r.stdout)), out


def test_the_render_validation_of_the_docs_passes_as_written(newest_cli, functions, validate_cache, tmp_path):
    """docs/render.md's two commands: the render with --include-full-xr into a file, validated with Cluster API's CRDs
    (those of the pinned release for $CAPI_CRDS), the XRD and the Input's CRD."""
    render, extensions, (written,) = validate_walkthrough()
    r = newest_cli.render(*with_functions(render, functions))
    assert r.returncode == 0, r.stderr
    (tmp_path / written).write_text(r.stdout)
    (capi,) = [d for d in crds_of("cluster-api") if d.parts[-3:] == ("config", "crd", "bases") and d.parts[-4] == "core"]
    exts = [str(capi) if e == "$CAPI_CRDS" else str(ROOT / e) for e in extensions]
    p, out = validate(newest_cli, [tmp_path / written], validate_cache, exts)
    assert p.returncode == 0, out
    assert out.count("validated successfully") == len(documents(r.stdout)), out


@pytest.mark.parametrize("line", list(CLIS))
def test_validation_cannot_download_what_the_cache_lacks(request, line, tmp_path):
    """An image not seeded would be downloaded; behind the dead proxy the attempt fails, so a pass used only the cache."""
    cli = cli_of(request, line)
    image = "xpkg.crossplane.io/crossplane/crossplane:v0.0.0-not-seeded"
    p = cli.run(*cli.line.validate_words, str(INPUT_CRD), str(EXAMPLES / "composition.yaml"),
                f"--cache-dir={tmp_path}", f"--crossplane-image={image}", env=OFFLINE)
    assert p.returncode != 0
    assert "127.0.0.1:9" in p.stdout + p.stderr, p.stdout + p.stderr


def test_the_class_crossplane_render_reads_is_the_walkthroughs_class():
    """examples/required-resources.yaml gives `crossplane render` the ClusterClass the function reads
    (its variables); examples/clusterclass-kubeadm-kube-vip.yaml is that class with its templates, which
    the e2e walkthrough gives Cluster API. They must not drift apart."""
    def classes(name):
        return [d for d in documents((EXAMPLES / name).read_text()) if d["kind"] == "ClusterClass"]

    (rendered,) = classes("required-resources.yaml")
    (real,) = classes("clusterclass-kubeadm-kube-vip.yaml")
    assert rendered["metadata"] == real["metadata"]
    assert rendered["spec"]["variables"] == real["spec"]["variables"]
