"""Every object in examples/ validates against the real CRDs (the XR against the example XRD)."""

from pathlib import Path

import pytest
import yaml

from tests import crds

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# Files that hold no Kubernetes objects, and what they are.
NOT_OBJECTS = {
    "kube-vip-ingress/fleet.yaml": "a Fleet bundle definition (fleet.yaml), read by Fleet, never applied",
}


def _objects():
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        if str(path.relative_to(EXAMPLES)) in NOT_OBJECTS:
            continue
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                yield pytest.param(doc, id=f"{path.relative_to(EXAMPLES)}#{i}")


def _xrd_errors(obj: dict) -> list[str] | None:
    """Validate an XR against the XRD in examples/ that defines its kind, if any."""
    for path in EXAMPLES.rglob("*.yaml"):
        for xrd in yaml.safe_load_all(path.read_text()):
            if not xrd or xrd.get("kind") != "CompositeResourceDefinition":
                continue
            spec = xrd["spec"]
            group, _, version = obj["apiVersion"].rpartition("/")
            kinds = {spec["names"]["kind"], (spec.get("claimNames") or {}).get("kind")}
            if spec["group"] != group or obj["kind"] not in kinds:
                continue
            for v in spec["versions"]:
                if v["name"] == version:
                    return crds.errors_against(obj, v["schema"]["openAPIV3Schema"])
    return None


@pytest.mark.parametrize("obj", list(_objects()))
def test_example_object_is_valid(obj):
    errs = _xrd_errors(obj)
    if errs is None:
        errs = crds.errors(obj)
    assert errs == [], "\n".join(errs)


def test_the_package_metadata_is_valid():
    (meta,) = yaml.safe_load_all((EXAMPLES.parent / "package" / "crossplane.yaml").read_text())
    assert crds.errors(meta) == []
    assert meta["spec"]["capabilities"] == ["composition"]
