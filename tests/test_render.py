"""The render walkthrough (docs/render.md) and the feature pages' renders, run with the real crossplane CLIs against the
running function.

The newest CLI's output (tests/golden/render-N.yaml) is what docs/render.md prints; the v2.2 line's is
in render-N.v2.2.yaml, the legacy example's (Crossplane v1's CLI) in render-legacy.yaml. To
regenerate all of them and docs/render.md's outputs after a deliberate change (then review the diff):

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render.py
"""

import difflib
import os
import shlex
from pathlib import Path

import pytest

from tests.cli import (
    dns_render,
    documents,
    dual_stack_render,
    legacy_render,
    walkthrough_passes,
    service_lb_render,
    with_functions,
)

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
WALKTHROUGH = ROOT / "docs" / "render.md"
UPDATE = bool(os.environ.get("UPDATE_GOLDEN"))


def render_ok(cli, args: list[str]) -> str:
    p = cli.render(*args)
    assert p.returncode == 0, f"{cli} render {shlex.join(args)} failed ({p.returncode}):\n{p.stderr}"
    return p.stdout


def matches_golden(out: str, name: str) -> None:
    golden = GOLDEN / name
    if UPDATE:
        golden.write_text(out)
    expected = golden.read_text()
    if out != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), out.splitlines(True), str(golden), "rendered"))
        pytest.fail(f"output differs from {golden.name}:\n{diff}")


def sync_walkthrough() -> None:
    """Put each golden render output into docs/render.md, in the yaml block after its command."""
    text = WALKTHROUGH.read_text()
    parts = text.split("```sh\ncrossplane composition render examples/")
    for n in range(1, len(parts)):
        head, sep, rest = parts[n].partition("```yaml\n")
        _, end, tail = rest.partition("```\n")
        parts[n] = head + sep + (GOLDEN / f"render-{n}.yaml").read_text() + end + tail
    WALKTHROUGH.write_text("```sh\ncrossplane composition render examples/".join(parts))


def test_the_walkthrough_has_two_render_passes():
    first, second = walkthrough_passes()
    assert "-o" not in first and "-o" in second


@pytest.mark.parametrize("n", [1, 2])
def test_the_newest_cli_prints_each_pass_as_its_golden_file(newest_cli, functions, n):
    out = render_ok(newest_cli, with_functions(walkthrough_passes()[n - 1], functions))
    matches_golden(out, f"render-{n}.yaml")


@pytest.mark.parametrize("n", [1, 2])
def test_the_v2_2_cli_prints_each_pass_as_its_golden_file(v2_2_cli, functions, n):
    out = render_ok(v2_2_cli, with_functions(walkthrough_passes()[n - 1], functions))
    matches_golden(out, f"render-{n}.v2.2.yaml")


@pytest.mark.parametrize("n", [1, 2])
def test_both_cli_lines_compose_the_same_resources(n):
    """They differ in the XR they print (the v2.2 line has no resourceRefs, Responsive or Synced) and the owner's uid."""
    def composed(name):
        docs = documents((GOLDEN / name).read_text())[1:]
        for d in docs:
            for ref in d["metadata"]["ownerReferences"]:
                ref.pop("uid")
        return docs

    assert composed(f"render-{n}.yaml") == composed(f"render-{n}.v2.2.yaml")


def test_the_v1_cli_renders_the_legacy_example_into_the_claims_namespace(v1_cli, functions):
    out = render_ok(v1_cli, with_functions(legacy_render(), functions))
    matches_golden(out, "render-legacy.yaml")
    xr, *composed = documents(out)
    assert "namespace" not in xr["metadata"] and {d["metadata"]["namespace"] for d in composed} == {"team-a"}


def test_the_service_lb_example_lists_the_bound_addresses_in_the_clusters_variable(newest_cli, functions):
    out = render_ok(newest_cli, with_functions(service_lb_render(), functions))
    matches_golden(out, "render-service-lb.yaml")
    cluster = next(d for d in documents(out) if d["kind"] == "Cluster")
    listed = {v["name"]: v["value"] for v in cluster["spec"]["topology"]["variables"]}["serviceLbVips"]
    assert listed == ["10.0.5.2", "10.0.5.3"]
    names = sorted(d["metadata"]["name"] for d in documents(out) if d["kind"] == "IPAddressClaim")
    assert names == ["vip-cp-lb-cluster", "vip-lb-lb-cluster-0", "vip-lb-lb-cluster-1"]


def test_the_dual_stack_example_composes_a_vip_of_each_family_per_role(newest_cli, functions):
    out = render_ok(newest_cli, with_functions(dual_stack_render(), functions))
    matches_golden(out, "render-dual-stack.yaml")
    cluster = next(d for d in documents(out) if d["kind"] == "Cluster")
    variables = {v["name"]: v["value"] for v in cluster["spec"]["topology"]["variables"]}
    assert cluster["spec"]["controlPlaneEndpoint"]["host"] == variables["clusterVip"] == "10.0.6.10"
    assert variables["clusterVipSecondary"] == "fd00:6::10"
    assert cluster["metadata"]["annotations"]["vip.capi.gorizond.io/ingress-vip"] == "10.0.7.10,fd00:7::2"


def test_the_dns_example_composes_a_dns_endpoint_with_a_record_per_vip(newest_cli, functions):
    out = render_ok(newest_cli, with_functions(dns_render(), functions))
    matches_golden(out, "render-dns.yaml")
    (endpoint,) = [d for d in documents(out) if d["kind"] == "DNSEndpoint"]
    cluster = next(d for d in documents(out) if d["kind"] == "Cluster")
    host = cluster["spec"]["controlPlaneEndpoint"]["host"]
    assert endpoint["spec"]["endpoints"][0] == {"dnsName": "my-cluster-api.clusters.example.org", "recordType": "A",
                                                "targets": [host], "recordTTL": 300}


@pytest.mark.parametrize("n", [1, 2])
def test_the_walkthrough_shows_what_each_pass_prints(n):
    if UPDATE:
        sync_walkthrough()
    assert (GOLDEN / f"render-{n}.yaml").read_text() in WALKTHROUGH.read_text()


@pytest.mark.parametrize("line", ["newest", "v2.2", "v1"])
def test_a_fatal_result_fails_the_render(request, line, functions, tmp_path):
    cli = request.getfixturevalue({"newest": "newest_cli", "v2.2": "v2_2_cli", "v1": "v1_cli"}[line])
    bad = tmp_path / "xr.yaml"
    bad.write_text("apiVersion: platform.example.org/v1alpha1\nkind: WorkloadCluster\nmetadata: {name: x, namespace: a}\n"
                   "spec: {cluster: {topology: {version: v1.31.0}}}\n")
    p = cli.render(str(bad), "examples/composition.yaml", str(functions), "-e", "examples/required-resources.yaml")
    assert p.returncode != 0
    assert "returned a fatal result" in p.stderr and "topology.class" in p.stderr, p.stderr
