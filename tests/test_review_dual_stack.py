"""The review of the dual-stack VIP pairs (commit 3155e6e): each case fails on that commit.

Sections 1-2 go through fn.run as it is. The cases after them are about the decision (decide.py); an
observed secondary claim or Usage never reaches it today (finding 1), so they use ``shapes``, which adds
the secondary names to fn.py's tables the way a fix would, to show the decision's own defects.
"""

import copy

import pytest

from function import adopt, fn
from function import decide as core
from tests.fixtures import CP_POOL, ING_POOL, STORE, live
from tests.harness import (
    World,
    cluster_class,
    ip_address,
    observed_claim,
    observed_cluster,
    pool,
    run,
    xr,
)

DUAL = cluster_class(variables=("clusterVip", "ingressVip", "clusterVipSecondary", "ingressVipSecondary"))
CP6 = pool("cp6", free=9, total=11, addresses=("fd00::10-fd00::20",), prefix=64, gateway="fd00::1")
ING6 = pool("ing6", role="ingress", free=9, total=11, addresses=("fd01::10-fd01::20",), prefix=64, gateway="fd01::1")
WORLD = [DUAL, CP_POOL, ING_POOL, CP6, ING6]
ANNOTATION = "vip.capi.gorizond.io/ingress-vip"


def usage(claim, *, attached=True):
    spec = {"of": {"apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddressClaim", "resourceRef": {"name": claim}},
            "replayDeletion": True}
    if attached:
        spec["by"] = {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "resourceRef": {"name": "c1"}}
    return {"apiVersion": "protection.crossplane.io/v1beta1", "kind": "Usage",
            "metadata": {"name": claim, "namespace": "team-a"}, "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def dual_live(cp6="fd00::10", ing6="fd01::10", *, usages=False, cp6_pool="cp6"):
    """A converged dual-stack XR: four bound claims, a Cluster carrying both pairs."""
    observed, store = live()
    observed["vip-claim-control-plane-secondary"] = observed_claim("vip-cp-c1-secondary", pool_name=cp6_pool)
    observed["vip-claim-ingress-secondary"] = observed_claim("vip-ingress-c1-secondary", pool_name="ing6", role="ingress")
    store += [ip_address("vip-cp-c1-secondary", cp6, pool_name=cp6_pool),
              ip_address("vip-ingress-c1-secondary", ing6, pool_name="ing6")]
    variables = {"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10", "clusterVipSecondary": cp6, "ingressVipSecondary": ing6}
    observed["cluster"] = observed_cluster(variables=variables, ingress=f"10.0.1.10,{ing6}")
    if usages:
        for rn, claim in (("control-plane", "vip-cp-c1"), ("ingress", "vip-ingress-c1"),
                          ("control-plane-secondary", "vip-cp-c1-secondary"), ("ingress-secondary", "vip-ingress-c1-secondary")):
            observed[f"vip-usage-{rn}"] = usage(claim)
    return observed, store


def variables(out):
    return {v["name"]: v["value"] for v in out.cluster["spec"]["topology"].get("variables", [])}


def annotation(out):
    return (out.cluster["metadata"].get("annotations") or {}).get(ANNOTATION)


@pytest.fixture
def shapes(monkeypatch):
    """fn.py reading the secondary claims and Usages (observed, and found by name) as it reads the primaries'."""
    claim = {"apiVersion": fn.ALL, "kind": fn.ALL, **fn.OBSERVED_SHAPES[core.CLAIM_RESOURCE[core.CONTROL_PLANE]]}
    use = {"apiVersion": fn.ALL, "kind": fn.ALL, **fn.OBSERVED_SHAPES[core.USAGE_RESOURCE[core.CONTROL_PLANE]]}
    for key, name in core.SECONDARY_CLAIM_RESOURCE.items():
        monkeypatch.setitem(fn.OBSERVED_SHAPES, name, claim)
        monkeypatch.setitem(fn._EXISTING_SHAPES, adopt.claim_requirement(key),
                            fn._EXISTING_SHAPES[adopt.claim_requirement(core.CONTROL_PLANE)])
    for name in core.SECONDARY_USAGE_RESOURCE.values():
        monkeypatch.setitem(fn.OBSERVED_SHAPES, name, use)


# 1. fn.py never hands the secondary claims and Usages to the decision, nor reads one found by name
def test_a_dual_stack_xr_settles_with_its_pair_on_crossplane_v2():
    """Reconcile 2 on: the by-name lookup of the (unobserved) secondary claim is read with the ClusterClass
    shape, so it has no spec.poolRef, and every reconcile is Fatal."""
    w = World()
    w.add(*WORLD)
    outs = w.settle(xr(), rounds=6)
    assert [o.fatal for o in outs if o.fatal] == []
    out = outs[-1]
    assert variables(out)["clusterVipSecondary"] == "fd00::10"
    assert annotation(out) == "10.0.1.10,fd01::10"


def test_a_dual_stack_xr_gets_its_cluster_on_legacy_crossplane():
    """Without adoption the secondary claims are never observed: each reconcile makes them 'new' (blocks),
    so the Cluster is never composed."""
    w = World(modern=False)
    w.add(*WORLD)
    out = w.settle(xr(), rounds=6)[-1]
    assert out.cluster is not None
    assert variables(out)["ingressVipSecondary"] == "fd01::10"


def test_observed_secondary_claims_keep_their_pool_and_usages_stay_in_desired_state():
    """Observed secondary Usages are left out of desired state, so Crossplane deletes them (the claims lose their
    protection), and an observed claim is rendered anew from today's pool choice (spec.poolRef is immutable)."""
    old6 = pool("cp6-old", free=9, total=11, addresses=("fd02::10-fd02::20",), prefix=64, gateway="fd02::1")
    observed, store = dual_live(cp6="fd02::10", usages=True, cp6_pool="cp6-old")
    out = run(xr(), observed, [*WORLD, old6, *store])
    assert out.fatal is None
    assert {"vip-usage-control-plane-secondary", "vip-usage-ingress-secondary"} <= set(out.desired)
    assert out.desired["vip-claim-control-plane-secondary"]["spec"]["poolRef"]["name"] == "cp6-old"
    assert not [w for w in out.warnings if w[0] == "ClaimMissing"]


# 2. non-opted-in users: the ingress annotation is now read as a pair
def test_a_cluster_without_a_pair_reads_a_two_address_annotation_as_before():
    """Class without the secondary variables. Before the commit an annotation "fd01::10,10.0.1.10" was no VIP, so
    the claim's 10.0.1.10 was put back. Now its first address is taken as the live VIP: the live Cluster's
    ingressVip variable changes to fd01::10 and an AddressMismatch is warned."""
    observed, store = live()
    observed["cluster"] = observed_cluster(variables={"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10"},
                                           ingress="fd01::10,10.0.1.10")
    out = run(xr(), observed, [*STORE, *store])
    assert variables(out)["ingressVip"] == "10.0.1.10"
    assert annotation(out) == "10.0.1.10"
    assert out.warnings == []


# 3. a lone secondary Usage where the pair is not wanted: _compose_claim is never called for it
def test_a_lone_secondary_usage_is_released_not_fatal_when_the_class_lacks_the_variable(shapes):
    observed, store = live()
    observed["vip-usage-control-plane-secondary"] = usage("vip-cp-c1-secondary", attached=False)
    out = run(xr(), observed, [*STORE, CP6, ING6, *store])
    assert out.fatal is None  # today: "refusing to drop observed composed resource vip-usage-control-plane-secondary"


# 4. the live ingress pair changes because of what IPAM says
@pytest.mark.parametrize("claim", ["deleting", "gone"])
def test_the_live_ingress_pair_stays_when_the_class_lost_the_variable_and_the_claim_goes(shapes, claim):
    """With the claim present, _secondary_without_variable keeps the annotation "10.0.1.10,fd01::10"; with it being
    deleted (or deleted by hand), vip=None / no state, and the workload's kube-vip loses fd01::10."""
    no_ing2 = cluster_class(variables=("clusterVip", "ingressVip", "clusterVipSecondary"))
    observed, store = dual_live()
    if claim == "deleting":
        observed["vip-claim-ingress-secondary"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    else:
        del observed["vip-claim-ingress-secondary"]
    out = run(xr(), observed, [no_ing2, CP_POOL, ING_POOL, CP6, ING6, *store])
    assert annotation(out) == "10.0.1.10,fd01::10"


def test_a_live_cluster_vip_secondary_is_kept_as_written(shapes):
    """clusterVip is kept verbatim on a live Cluster; clusterVipSecondary is rewritten in canonical form, a
    topology variable change (a control-plane rollout where a patch uses it)."""
    observed, store = dual_live(cp6="FD00:0::10")
    out = run(xr(), observed, [*WORLD, *store])
    assert variables(out)["clusterVipSecondary"] == "FD00:0::10"


# 5. an address held for nothing, unnoticed
def test_no_secondary_ingress_vip_is_claimed_where_the_class_defines_no_ingress_vip(shapes):
    """The class defines ingressVipSecondary but not ingressVip: the secondary ingress claim is made and bound
    (and protected by a Usage), the Cluster carries neither VIP, and the XR reports it Allocated, converged."""
    cls = cluster_class(variables=("clusterVip", "ingressVipSecondary"))
    w = World()
    w.add(cls, CP_POOL, ING_POOL, CP6, ING6)
    out = w.settle(xr(), rounds=5)[-1]
    assert w.get("IPAddressClaim", "vip-ingress-c1-secondary", "team-a") is None or out.warnings


def test_removing_the_xrs_own_ingress_secondary_puts_the_pool_vip_in_place(shapes):
    """The XR wrote ingressVipSecondary, then removed it: the status records the user's fd09::9 as Manual, so it is
    not taken for a pool VIP whose claim went (a claim made again, bound to fd01::10, and fd09::9 kept for good with
    an AddressMismatch blaming a hand edit); the pool VIP replaces it once bound."""
    w = World()
    w.add(*WORLD)
    w.settle(xr(), rounds=5)
    written = w.settle(xr(variables=[{"name": "ingressVipSecondary", "value": "fd09::9"}]), rounds=4)[-1]
    removed = xr()
    removed["status"] = {"vip": written.status}  # Crossplane keeps the XR's status; this World does not
    out = w.settle(removed, rounds=6)[-1]
    assert not [m for m in out.warnings if m[0] == "AddressMismatch"]
    assert variables(out)["ingressVipSecondary"] == "fd01::10"


# 6. Fatal where it should not be, and a bad Input accepted
def test_an_empty_secondary_variable_on_the_xr_is_no_manual_vip(shapes):
    """An empty ingress-vip annotation means unset; an empty clusterVipSecondary on the XR (the class default)
    is Fatal for the whole XR."""
    observed, store = dual_live()
    out = run(xr(variables=[{"name": "clusterVipSecondary", "value": ""}]), observed, [*WORLD, *store])
    assert out.fatal is None


def test_an_input_whose_secondary_variables_clash_is_refused(shapes):
    """roles.controlPlane.secondaryVariable = ingressVipSecondary, the ingress role's derived name: the Input loads,
    and both roles silently lose their pair (each sees the other's name as taken)."""
    inp = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input",
           "roles": {"controlPlane": {"labelValue": "control-plane", "variable": "clusterVip", "claimName": "vip-cp-{cluster}",
                                      "secondaryVariable": "ingressVipSecondary"}}}
    observed, store = live()
    out = run(xr(), copy.deepcopy(observed), [*WORLD, *store], inp=inp)
    assert out.fatal is not None and "secondaryVariable" in out.fatal
