"""Eighth review of the dual-stack VIP pairs (commit e95f6fb): each case fails on it.

It goes after the seventh review's fixes (tests/test_review_dual_stack_7.py): _secondary_off's ``own`` branch keeping
the state's source (``source or POOL``), and _live_family reading a kept secondary claim under a Manual primary.
"""

from tests.harness import World, xr
from tests.test_review_dual_stack import WORLD, annotation
from tests.test_review_dual_stack_4 import settle
from tests.test_review_dual_stack_5 import held
from tests.test_review_dual_stack_6 import INGRESS_VIP


# 1. The ``own`` branch now records the XR's written secondary as Manual whatever it is. Swapping a live IPv4-first
#    ingress pair (10.0.1.10,fd01::10) on the XR - the manual ingress VIP fd01::10 (the secondary claim's address,
#    kept) and ingressVipSecondary 10.0.1.10 (the address the XR's own primary claim holds) - releases vip-ingress-c1
#    with Normal events only, records ingressSecondary 10.0.1.10 Source Manual, and converges (ttl 1200, no Warning)
#    while the Cluster serves 10.0.1.10, reserved by no claim: the next XR's ingress claim is bound to 10.0.1.10.
#    (On e95f6fb^ the same release happened, hidden by the flapping of review 7's first case; with checkPools it is a
#    Conflict.) The rule a manual value follows for its own role's claim ("its own address: it stays claimed") is not
#    applied to the pair's other claim.
def test_a_swapped_ingress_pair_keeps_both_addresses_reserved():
    w = World()
    w.add(*WORLD)
    _, status = settle(w, xr(), {})
    x = xr(annotations={INGRESS_VIP: "fd01::10"}, variables=[{"name": "ingressVipSecondary", "value": "10.0.1.10"}])
    outs, status = settle(w, x, status, rounds=6)
    assert [o.fatal for o in outs if o.fatal] == []
    assert annotation(outs[-1]) == "fd01::10,10.0.1.10"
    reserved = held(w)
    # today: vip-ingress-c1 released, ingressSecondarySource Manual, no Warning
    assert reserved.get("vip-ingress-c1", (None,))[0] == "10.0.1.10" or \
        [m for o in outs for r, m in o.warnings if "10.0.1.10" in m]
    w.settle(xr("c2"), rounds=5)
    assert held(w)["vip-ingress-c2"][0] != "10.0.1.10"  # today: 10.0.1.10, served by c1 as well
