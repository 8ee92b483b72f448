"""Third review of the dual-stack VIP pairs (commit ee14caf): each case fails on that commit.

It goes after the fixes of the first two reviews (tests/test_review_dual_stack.py, tests/test_review_dual_stack_2.py):
manualVips.checkPools on the XR's own secondary, the ``managed`` variables of cluster.render, the as_pair trigger
read from the XR's status, and a manual primary beside a live secondary.
"""

import copy

import pytest

from tests.fixtures import CP_POOL, ING_POOL, STORE, live
from tests.harness import World, cluster_class, observed_cluster, run, xr
from tests.test_review_dual_stack import (
    CP6,
    ING6,
    WORLD,
    annotation,
    dual_live,
    variables,
)

CHECK = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "manualVips": {"checkPools": True}}
PAIR_STATUS = {"controlPlane": "10.0.0.10", "controlPlaneSource": "Pool", "ingress": "10.0.1.10", "ingressSource": "Pool",
               "controlPlaneSecondary": "fd00::10", "controlPlaneSecondarySource": "Pool",
               "ingressSecondary": "fd01::10", "ingressSecondarySource": "Pool"}


# 1. checkPools and the XR's own ingress secondary on a live Cluster: _secondary_off releases the pool claim first,
#    then _check_manual_secondary puts the live fd01::10 back. The Cluster keeps fd01::10, the claim reserving it is
#    deleted (in steps where Usages protect it), and the status records the pool VIP as the XR's own (Manual). The
#    primary's check (_refused_manual_ingress) refuses before anything is released.
@pytest.mark.parametrize("usages", [False, True], ids=["no-usage", "usage"])
def test_with_check_pools_a_refused_written_secondary_releases_nothing_the_cluster_keeps(usages):
    observed, store = dual_live(usages=usages)
    x = xr(variables=[{"name": "ingressVipSecondary", "value": "fd01::15"}])
    x["status"] = {"vip": dict(PAIR_STATUS)}
    out = run(x, copy.deepcopy(observed), [*WORLD, *store], inp=CHECK)
    assert out.fatal is None
    assert annotation(out) == "10.0.1.10,fd01::10"  # the second review's fix holds
    assert [m for r, m in out.warnings if r == "ManualVIPInPool"]
    # today: "Released ... vip-ingress-c1-secondary" (or "releasing ... detaching its Usage"); the claim is left out
    # of desired state (no Usage) or its Usage detached, and fd01::10 is then reserved by nothing, unnoticed
    assert not [m for r, m in out.normals if r == "Released" and "ingress-secondary" in m]
    assert "vip-claim-ingress-secondary" in out.desired
    assert out.status.get("ingressSecondarySource") == "Pool"  # today: Manual, for the pool's fd01::10


# 2. managed (cluster.render) drops the XR's own variable of the secondary name where the role has no pair (the class
#    defines ingressVipSecondary but not ingressVip, or clusterVipSecondary but not clusterVip): while the Cluster
#    does not carry it, _secondary returns None and it passes through; once it does, live is an IP, the state is
#    Disabled with vip None, and the variable is taken off the live Cluster -- on, off, on, every reconcile.
#    da453f9 (and 3a98783) pass it through on every reconcile.
@pytest.mark.parametrize(("class_vars", "variable"), [
    (("clusterVip", "ingressVipSecondary"), "ingressVipSecondary"),
    (("clusterVipSecondary", "ingressVip"), "clusterVipSecondary"),
])
def test_the_xrs_own_variable_of_a_secondary_name_passes_through_where_the_role_has_no_pair(class_vars, variable):
    w = World()
    w.add(cluster_class(variables=class_vars), CP_POOL, ING_POOL, CP6, ING6)
    outs = w.settle(xr(variables=[{"name": variable, "value": "fd09::9"}]), rounds=6)
    composed = [o for o in outs if o.cluster is not None]
    assert len(composed) >= 3
    # today: [fd09::9, None, fd09::9, None, fd09::9]
    assert [variables(o).get(variable) for o in composed] == ["fd09::9"] * len(composed)


# 3. as_pair is also triggered by the XR's status recording an ingress secondary, whatever it records. A status that
#    is stale (Crossplane before the fix of crossplane/crossplane#5334 never deletes a status field a function stops
#    returning) makes a non-dual XR read a two-address annotation as a pair: the first review's finding 2 again, and
#    the status then records the annotation's second address, so it never goes.
def test_a_stale_ingress_secondary_in_the_status_does_not_make_a_non_dual_cluster_a_pair():
    observed, store = live()
    observed["cluster"] = observed_cluster(variables={"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10"},
                                           ingress="fd01::10,10.0.1.10")
    x = xr()
    x["status"] = {"vip": {"controlPlane": "10.0.0.10", "controlPlaneSource": "Pool", "ingress": "10.0.1.10",
                           "ingressSource": "Pool", "ingressSecondary": "fd09::9", "ingressSecondarySource": "Pool"}}
    out = run(x, observed, [*STORE, *store])  # the class defines no secondary variable; no secondary claim
    assert out.fatal is None
    # today: ingressVip fd01::10 on the live Cluster, annotation kept as "fd01::10,10.0.1.10", an AddressMismatch
    # and a ClusterClassMissingVariable warning, and the status records ingress fd01::10, ingressSecondary 10.0.1.10
    assert variables(out)["ingressVip"] == "10.0.1.10"
    assert annotation(out) == "10.0.1.10"
    assert out.warnings == []
    assert "ingressSecondary" not in out.status


# 4. A live Cluster's control-plane secondary goes when the primary is made the XR's own. Following the README's
#    AddressMismatch fix ("to keep A for good and free B, set spec.cluster.controlPlaneEndpoint.host=A") on a live
#    dual-stack Cluster takes clusterVipSecondary off it and releases its claim, with a Normal event only; the same
#    VIP written differently on the XR is kept (Conflict), "as its endpoint does not" change.
def test_making_the_live_endpoint_the_xrs_own_keeps_the_live_control_plane_secondary():
    observed, store = dual_live(usages=True)
    live_vars = {"clusterVip": "10.0.0.99", "ingressVip": "10.0.1.10", "clusterVipSecondary": "fd00::10",
                 "ingressVipSecondary": "fd01::10"}
    observed["cluster"] = observed_cluster(host="10.0.0.99", variables=live_vars, ingress="10.0.1.10,fd01::10")
    status = {**PAIR_STATUS, "controlPlane": "10.0.0.99"}
    before = xr()
    before["status"] = {"vip": status}
    assert [r for r, _ in run(before, copy.deepcopy(observed), [*WORLD, *store]).warnings] == ["AddressMismatch"]
    x = xr(cluster={"topology": {"class": "cc", "version": "v1.31.0"}, "controlPlaneEndpoint": {"host": "10.0.0.99"}})
    x["status"] = {"vip": status}
    out = run(x, copy.deepcopy(observed), [*WORLD, *store])
    assert out.fatal is None
    # today: clusterVipSecondary gone from the live Cluster (kube-vip drops fd00::10; a control-plane rollout where
    # the class puts it in the certificate SANs), and "releasing ... vip-cp-c1-secondary (detaching its Usage)"
    assert variables(out).get("clusterVipSecondary") == "fd00::10"
    assert not [m for r, m in out.normals if r == "Released" and "control-plane-secondary" in m]
