"""The README walkthrough, on a real management cluster and in the simulator."""

import pytest

from tests.e2e import scenarios
from tests.e2e.world import INGRESS_VIP, conditions_of

BOTH = pytest.mark.parametrize("world", ["stack", "sim"], indirect=True)


@BOTH
def test_the_readme_walkthrough_allocates_both_vips_and_composes_the_cluster(world):
    scenarios.walkthrough(world.with_ns("team-a"))


@pytest.mark.parametrize("world", ["stack"], indirect=True)
def test_the_cluster_as_the_api_server_stored_it_is_what_the_render_printed(world):
    from tests.cli import ROOT, documents

    w = world.with_ns("team-a")
    stored = scenarios.walkthrough(w)
    (rendered,) = [d for d in documents((ROOT / "tests/golden/render-2.yaml").read_text()) if d["kind"] == "Cluster"]
    assert stored["spec"] == rendered["spec"]
    assert stored["metadata"]["annotations"][INGRESS_VIP] == rendered["metadata"]["annotations"][INGRESS_VIP]
    assert stored["metadata"]["labels"]["crossplane.io/composite"] == "my-cluster"
    (owner,) = stored["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("WorkloadCluster", "my-cluster", True)


@pytest.mark.parametrize("world", ["stack"], indirect=True)
def test_a_claim_in_use_by_its_cluster_cannot_be_deleted(world):
    w = world.with_ns("team-a")
    scenarios.walkthrough(w)
    w.wait("the claims labelled in use", lambda: all(
        (c["metadata"].get("labels") or {}).get("crossplane.io/in-use") == "true" for c in w.list("IPAddressClaim")))
    from tests.e2e.kube import ApiError

    with pytest.raises(ApiError) as refused:
        w.kube.delete("ipam.cluster.x-k8s.io/v1beta1", "IPAddressClaim", "vip-cp-my-cluster", "team-a", dry_run=True)
    assert 'admission webhook "nousages.protection.crossplane.io" denied the request' in str(refused.value)
    assert "by resource Cluster/my-cluster" in str(refused.value)


@pytest.mark.parametrize("world", ["stack"], indirect=True)
def test_the_xr_is_ready_once_capi_reports_its_cluster_ready(world):
    w = world.with_ns("team-a")
    scenarios.walkthrough(w)
    ready = conditions_of(w.xr("my-cluster")).get("Ready", {})
    assert (ready.get("status"), ready.get("reason")) == ("False", "Creating"), ready
    # which composed resource is not ready Crossplane says in an event, not in the condition
    assert ("Normal", "ComposeResources", 'Composed resource "cluster" is not yet ready') in w.events("my-cluster")
    w.cluster_ready("my-cluster")
    w.wait("the XR Ready", lambda: conditions_of(w.xr("my-cluster")).get("Ready", {}).get("status") == "True")
