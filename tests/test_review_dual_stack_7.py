"""Seventh review of the dual-stack VIP pairs (commit 0b82c66): each case fails on it.

It goes after the last two commits' decision changes: _secondary_off(own=...) (a secondary claim kept where the XR's
manual primary is its address) and _live_family (None where the primary's recorded source is Manual).
"""

import copy

from tests.harness import World, _key, xr
from tests.test_review_dual_stack import WORLD, annotation, dual_live, variables
from tests.test_review_dual_stack_3 import PAIR_STATUS
from tests.test_review_dual_stack_4 import settle
from tests.test_review_dual_stack_5 import V6_PRIMARY, held
from tests.test_review_dual_stack_6 import INGRESS_VIP


# 1. _secondary_off's ``own`` branch returns dataclasses.replace(state, claim=claim, source=POOL) also where the XR
#    writes a secondary of its own (state.vip is that manual value). A manual IPv6 ingress VIP that is the secondary
#    claim's address plus the XR's own IPv4 secondary 10.0.1.99 (a manual pair keeping the address already served)
#    records ingressSecondarySource Pool for 10.0.1.99; the next reconcile reads the written value as "the pool VIP
#    the Cluster serves, copied onto the XR" (_repeats_pool), drops it, and the Cluster loses it; the one after puts
#    it back. The live Cluster's annotation and ingressVipSecondary variable flip on every reconcile, at ttl 1200.
#    On 6cdfdd5 (claim released, source Manual) the pair was fd01::10,10.0.1.99 for good.
def test_a_manual_ingress_pair_whose_primary_is_the_secondary_claims_address_is_stable():
    w = World()
    w.add(*WORLD)
    _, status = settle(w, xr(), {})
    x = xr(annotations={INGRESS_VIP: "fd01::10"}, variables=[{"name": "ingressVipSecondary", "value": "10.0.1.99"}])
    outs, status = settle(w, x, status, rounds=6)
    assert [o.fatal for o in outs if o.fatal] == []
    # today: fd01::10,10.0.1.99 / fd01::10 / fd01::10,10.0.1.99 / ... and ingressSecondarySource Pool
    assert [annotation(o) for o in outs[-3:]] == ["fd01::10,10.0.1.99"] * 3
    assert status.get("ingressSecondarySource") == "Manual"


# 2. The same branch for the control plane on a new XR (bound claims, no Cluster yet): a manual host fd00::10 that is
#    the secondary claim's address, and the XR's own clusterVipSecondary 10.0.0.99. The Cluster is composed with
#    both, status controlPlaneSecondarySource Pool; from then on the written value is taken for a copied pool VIP
#    and the live 10.0.0.99 for the pool's: an AddressMismatch Warning on every reconcile ("the Cluster was changed by
#    hand ... reserve 10.0.0.99"), ttl 15s for good, ControlPlaneSecondaryVIPReady "Allocated" for the XR's own VIP.
def test_a_manual_endpoint_that_is_the_secondary_claims_address_with_an_own_secondary_gives_no_mismatch():
    w = World()
    w.add(*WORLD)
    observed, store = dual_live()
    w.add(*store)
    for rn, obj in observed.items():
        if rn != "cluster":
            w.add(obj)
            w.composed.setdefault("c1", {})[rn] = _key(obj)
    x = xr(cluster={"topology": {"class": "cc", "version": "v1.31.0",
                                 "variables": [{"name": "clusterVipSecondary", "value": "10.0.0.99"}]},
                    "controlPlaneEndpoint": {"host": "fd00::10"}})
    outs, status = settle(w, x, dict(PAIR_STATUS), rounds=4)
    out = outs[-1]
    assert out.fatal is None and out.cluster is not None
    assert variables(out)["clusterVipSecondary"] == "10.0.0.99"
    assert not [m for o in outs for r, m in o.warnings if r == "AddressMismatch"]  # today: from the 2nd reconcile on
    assert status.get("controlPlaneSecondarySource") == "Manual"  # today: Pool
    assert out.reason("ControlPlaneSecondaryVIPReady") == "Manual"  # today: Allocated


# 3. _live_family returns None for a Manual primary, so the primary claim made when the manual ingress VIP is
#    removed takes dualStack.primaryFamily, whatever the secondary claim kept under ``own`` holds. A live IPv6-first
#    pair (primaryFamily since switched to IPv4, the premise of review 5's first case), a manual ingress VIP set to
#    the secondary claim's 10.0.1.10, then removed: the new primary is claimed from ing-pool (IPv4, 10.0.1.11) beside
#    the kept IPv4 claim - two claims of one family -, then three AddressFamilyMismatch Warnings telling the user to
#    "check the spec.addresses of ing-pool" (a pool that is fine) while the claim the Cluster was served from is
#    released and claimed again from ing6. The kept claim's family says which family the primary needs.
def test_a_removed_manual_ingress_vip_takes_the_family_beside_the_kept_secondary_claim():
    w = World(inp=V6_PRIMARY)
    w.add(*WORLD)
    _, status = settle(w, xr(), {})
    assert annotation(w.reconcile(_with(xr(), status))) == "fd01::10,10.0.1.10"
    w.inp = None  # new clusters IPv4-first from now on
    _, status = settle(w, xr(annotations={INGRESS_VIP: "10.0.1.10"}), status, rounds=6)
    assert held(w)["vip-ingress-c1-secondary"][0] == "10.0.1.10"
    outs, _ = settle(w, xr(), status, rounds=8)
    assert [o.fatal for o in outs if o.fatal] == []
    assert not [m for o in outs for r, m in o.warnings if r == "AddressFamilyMismatch"]  # today: three
    assert not [m for o in outs for r, m in o.normals if r == "Released" and "vip-ingress-c1-secondary" in m]
    assert held(w)["vip-ingress-c1-secondary"][0] == "10.0.1.10"
    assert annotation(outs[-1]).endswith(",10.0.1.10")  # today: 10.0.1.11,fd01::10


def _with(x, status):
    y = copy.deepcopy(x)
    y["status"] = {"vip": dict(status)}
    return y
