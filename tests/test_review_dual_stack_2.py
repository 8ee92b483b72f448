"""Second review of the dual-stack VIP pairs (commit 3a98783): each case fails on that commit.

It goes after the fixes of the first review (tests/test_review_dual_stack.py) and what that review did not reach:
a second reconcile after a fix, the XR's status between the release steps, a claim found being deleted by name,
the ordering of _secondary's branches, and manualVips.checkPools.
"""

import copy

import pytest

from tests.fixtures import CP_POOL, ING_POOL
from tests.harness import (
    World,
    cluster_class,
    ip_address,
    observed_claim,
    observed_cluster,
    run,
    xr,
)
from tests.test_review_dual_stack import (
    CP6,
    ING6,
    WORLD,
    annotation,
    dual_live,
    variables,
)

NO_ING2 = cluster_class(variables=("clusterVip", "ingressVip", "clusterVipSecondary"))
INGRESS_OFF = {"vip.capi.gorizond.io/ingress-enabled": "false"}
DUAL_OFF = {"vip.capi.gorizond.io/dual-stack": "false"}


def held(w):
    """IPAddressClaim name -> the address it holds (None while unbound)."""
    addrs = {a["metadata"]["name"]: a["spec"]["address"] for a in w.of_kind("IPAddress")}
    return {c["metadata"]["name"]: addrs.get(c["metadata"]["name"]) for c in w.of_kind("IPAddressClaim")}


# 1. the as_pair fix holds for one reconcile only: the class lost ingressVipSecondary, so the Cluster is composed
#    without the variable; once the claim is gone too, nothing in decide() reads the annotation as a pair
@pytest.mark.parametrize("claim", ["deleting", "gone"])
def test_the_live_ingress_pair_stays_on_the_reconcile_after_the_class_lost_the_variable(claim):
    observed, store = dual_live()
    world = [NO_ING2, CP_POOL, ING_POOL, CP6, ING6, *store]
    first = run(xr(), copy.deepcopy(observed), world)
    assert annotation(first) == "10.0.1.10,fd01::10"  # the first review's fix
    # The next reconcile observes the Cluster as composed: no ingressVipSecondary variable, the pair annotation.
    observed["cluster"] = observed_cluster(variables=variables(first), ingress=annotation(first))
    kept = xr()
    kept["status"] = {"vip": first.status}  # Crossplane keeps the XR's status between reconciles
    if claim == "deleting":
        observed["vip-claim-ingress-secondary"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        out = run(kept, copy.deepcopy(observed), world)
        assert annotation(out) == "10.0.1.10,fd01::10"
        observed["cluster"] = observed_cluster(variables=variables(out), ingress=annotation(out))
        kept["status"] = {"vip": out.status}
    del observed["vip-claim-ingress-secondary"]
    out = run(kept, observed, world)
    # today: "10.0.1.10" -- kube-vip drops fd01::10, with no Warning at all
    assert annotation(out) == "10.0.1.10,fd01::10"


# 2. _secondary decides "class unread" before "turned off": the XR's own switch does nothing while the
#    ClusterClass is not found, although the primary ingress claim is released by the same annotation
@pytest.mark.parametrize("annotations", [INGRESS_OFF, DUAL_OFF], ids=["ingress-off", "dual-stack-off"])
def test_the_xrs_off_switch_releases_the_secondary_while_the_class_is_not_found(annotations):
    observed, store = dual_live(usages=True)
    out = run(xr(annotations=annotations), observed, [CP_POOL, ING_POOL, CP6, ING6, *store])  # no ClusterClass
    assert out.fatal is None
    # today: both kept attached (hold), condition "...so it stays as it is"; with ingress off the Cluster no
    # longer carries fd01::10 at all, so the claim holds it for nothing
    assert out.conditions["IngressSecondaryVIPReady"][1] == "Disabled"
    assert any("ingress-secondary" in m for r, m in out.normals if r == "Released")


# 3. the XR copies the live pool VIP into its secondary variable (an export of the Cluster, say), then the claim is
#    deleted by hand: the primaries' _repeats_pool remakes the claim and warns; the secondary goes silent, and its
#    status flips to Manual (so removing the variable later replaces a live control-plane secondary)
@pytest.mark.parametrize(("variable", "value", "claim"), [
    ("clusterVipSecondary", "fd00::10", "vip-claim-control-plane-secondary"),
    ("ingressVipSecondary", "fd01::10", "vip-claim-ingress-secondary"),
])
def test_a_written_secondary_that_repeats_the_live_pool_vip_keeps_it_reserved(variable, value, claim):
    observed, store = dual_live()
    del observed[claim]
    x = xr(variables=[{"name": variable, "value": value}])
    x["status"] = {"vip": {"controlPlaneSecondary": "fd00::10", "controlPlaneSecondarySource": "Pool",
                           "ingressSecondary": "fd01::10", "ingressSecondarySource": "Pool"}}
    out = run(x, observed, [*WORLD, *store])
    assert out.fatal is None
    source = "controlPlaneSecondarySource" if variable.startswith("cluster") else "ingressSecondarySource"
    assert out.status[source] == "Pool"  # today: Manual
    assert claim in out.desired or [m for r, m in out.warnings if r == "ClaimMissing"]  # today: neither


# 4. a claim found by name being deleted (adopt.py, Crossplane v2.2+): _claim_deleting(required=False) does not
#    block, so a new Cluster is composed without its control-plane secondary ("The Cluster waits for both")
def test_a_new_cluster_waits_for_its_secondary_while_an_old_claim_of_that_name_is_deleted():
    w = World()
    w.add(*WORLD)
    old = observed_claim("vip-cp-c1-secondary", pool_name="cp6")
    old["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z", finalizers=["ipam.cluster.x-k8s.io/ReleaseAddress"])
    w.add(old, ip_address("vip-cp-c1-secondary", "fd00::10", pool_name="cp6"))
    outs = w.settle(xr(), rounds=4)
    assert [o.fatal for o in outs if o.fatal] == []
    composed = [o for o in outs if o.cluster is not None]
    # today: composed from reconcile 2 with clusterVip only; clusterVipSecondary arrives later on the live
    # Cluster (a control-plane rollout where the class puts it in the certificate SANs)
    assert all("clusterVipSecondary" in variables(o) for o in composed)


# 5. the XR's own secondary is recorded Manual only once its claim's release is done: status is skipped while
#    releasing, so a variable removed between the steps (Usage detached, removed, claim released) is read as a
#    pool VIP whose claim was made again -- the first review's AddressMismatch, back with Usages
def test_the_xrs_own_secondary_removed_between_the_release_steps_is_replaced_by_the_pool_vip():
    w = World()
    w.add(*WORLD)
    w.settle(xr(), rounds=5)
    step = w.reconcile(xr(variables=[{"name": "ingressVipSecondary", "value": "fd09::9"}]))  # detaches the Usage
    assert step.status.get("ingressSecondarySource") == "Manual"  # today: no ingressSecondary fields at all
    removed = xr()
    removed["status"] = {"vip": step.status}  # Crossplane keeps the XR's status; this World does not
    out = w.settle(removed, rounds=6)[-1]
    assert not [m for r, m in out.warnings if r == "AddressMismatch"]
    assert variables(out)["ingressVipSecondary"] == "fd01::10"  # today: fd09::9 for good, recorded as Pool


# 6. manualVips.checkPools checks the host and the ingress annotation, not a secondary the XR writes: an address
#    IPAM may give to another cluster is put on the live Cluster without a word
def test_with_check_pools_a_written_secondary_inside_a_pool_is_not_put_in_place():
    observed, store = dual_live()
    inp = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "manualVips": {"checkPools": True}}
    out = run(xr(variables=[{"name": "ingressVipSecondary", "value": "fd01::15"}]), observed, [*WORLD, *store], inp=inp)
    assert out.fatal is None
    assert annotation(out) == "10.0.1.10,fd01::10"  # today: "10.0.1.10,fd01::15"
    assert [m for r, m in out.warnings if r == "ManualVIPInPool"]  # today: none


# 7. _secondary_without_variable with no live VIP (a claim deleted before the Cluster got it): a Warning on every
#    reconcile about "the secondary VIP None", which "no claim reserves any more"
def test_a_missing_variable_warning_never_names_a_vip_none():
    observed, store = dual_live()
    observed["cluster"] = observed_cluster(variables={"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10",
                                                      "ingressVipSecondary": "fd01::10"}, ingress="10.0.1.10,fd01::10")
    observed["vip-claim-control-plane-secondary"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    cls = cluster_class(variables=("clusterVip", "ingressVip", "ingressVipSecondary"))
    out = run(xr(), observed, [cls, CP_POOL, ING_POOL, CP6, ING6, *store])
    assert out.fatal is None
    assert not [m for _, m in out.warnings if "None" in m]
