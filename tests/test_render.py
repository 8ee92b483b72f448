"""The README's `crossplane render` walkthrough, run against the real server and checked against golden files.

Set UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change; review the diff.
"""

import difflib
import os
import re
from pathlib import Path

import pytest
import yaml
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from tests import crds
from tests.render import RenderError, parse_command, render

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
README = (ROOT / "README.md").read_text()
COMMANDS = re.findall(r"^(crossplane render examples/\S.*)$", README, flags=re.M)


def test_the_readme_walks_through_two_render_passes():
    assert len(COMMANDS) == 2, COMMANDS
    assert "-o" not in COMMANDS[0].split() and "-o" in COMMANDS[1].split()


@pytest.mark.parametrize("n", [1, 2])
def test_render_pass_matches_its_golden_file(server, n):
    channel, *_ = server
    stub = grpcv1.FunctionRunnerServiceStub(channel)
    args = parse_command(COMMANDS[n - 1])
    xr, composition, functions = (ROOT / p for p in args["paths"])
    out = render(xr, composition, functions, observed=ROOT / args["observed"] if "observed" in args else None,
                 extra=ROOT / args["extra"], target=lambda req: stub.RunFunction(req, timeout=10))
    golden = GOLDEN / f"render-{n}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(out)
    expected = golden.read_text()
    if out != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), out.splitlines(True), str(golden), "rendered"))
        pytest.fail(f"render pass {n} differs from {golden.name}:\n{diff}")
    for doc in list(yaml.safe_load_all(out))[1:]:
        crds.assert_valid(doc)


@pytest.mark.parametrize("n", [1, 2])
def test_the_readme_shows_what_each_pass_prints(n):
    assert (GOLDEN / f"render-{n}.yaml").read_text() in README


def test_a_fatal_result_fails_the_render(server, tmp_path):
    channel, *_ = server
    stub = grpcv1.FunctionRunnerServiceStub(channel)
    bad = tmp_path / "xr.yaml"
    bad.write_text("apiVersion: platform.example.org/v1alpha1\nkind: WorkloadCluster\nmetadata: {name: x, namespace: a}\n"
                   "spec: {cluster: {topology: {version: v1.31.0}}}\n")
    with pytest.raises(RenderError, match="topology.class"):
        render(bad, ROOT / "examples/composition.yaml", ROOT / "examples/functions.yaml",
               extra=ROOT / "examples/required-resources.yaml", target=lambda req: stub.RunFunction(req, timeout=10))
