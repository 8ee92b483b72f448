"""Sixth review of the dual-stack VIP pairs (commit 2170442): each case fails on it.

It goes after the fifth review's fixes (tests/test_review_dual_stack_5.py): _live_family, the manual primary that
is the secondary claim's address (_secondary_off ``own``), and ranges.read refusing a pool of both families.
"""

import copy

import pytest

from tests.fixtures import CC, ING_POOL
from tests.harness import World, pool, run, xr
from tests.test_review_dual_stack import WORLD, annotation
from tests.test_review_dual_stack_3 import CHECK
from tests.test_review_dual_stack_4 import settle
from tests.test_review_dual_stack_5 import held

INGRESS_VIP = "vip.capi.gorizond.io/ingress-vip"


def manual_ingress(w, status, vip, rounds=6):
    return settle(w, xr(annotations={INGRESS_VIP: vip}), status, rounds=rounds)


# 1. _live_family takes the family of the live ingress VIP whatever its source. After a manual IPv6 ingress VIP
#    (status ingressSource Manual) is removed, the pool VIP that replaces it is claimed from the IPv6 pool, so the
#    ingress pair comes back IPv6-first (fd01::x,10.0.1.10) although dualStack.primaryFamily is IPv4 and the control
#    plane stays IPv4-first; on 6cdfdd5 it came back 10.0.1.10,fd01::10. Where the manual VIP was the secondary
#    claim's own address (kept since 2170442), that claim is then released with an AddressFamilyMismatch Warning on
#    three reconciles telling the user to "check the spec.addresses of ing6", a pool that is fine. The family of a
#    VIP the user set is no pool's: only a Pool-sourced live VIP should decide the family of a claim made again.
@pytest.mark.parametrize("vip", ["fd01::15", "fd01::10"], ids=["own-address", "secondary-claims-address"])
def test_a_removed_manual_ingress_vip_is_replaced_from_the_primary_family_without_a_family_warning(vip):
    w = World()
    w.add(*WORLD)
    _, status = settle(w, xr(), {})
    _, status = manual_ingress(w, status, vip)
    outs, _ = settle(w, xr(), status, rounds=8)
    assert [o.fatal for o in outs if o.fatal] == []
    # today: "fd01::10,10.0.1.10" / "fd01::11,10.0.1.10", and for fd01::10 three AddressFamilyMismatch Warnings
    assert ":" not in annotation(outs[-1]).split(",")[0]
    assert not [m for o in outs for r, m in o.warnings if r == "AddressFamilyMismatch"]


# 2. _secondary_off(own=...) returns hold=True also where the claim's address is known and IS the manual primary.
#    hold means "not read yet, nothing changes", and decision.converged requires no hold: the XR reconciles every
#    15s (ttl.waiting) for good, although every VIP is in place and nothing is warned about. The same address kept
#    by the primary's own claim (a manual ingress VIP equal to vip-ingress-c1's address) converges.
def test_a_manual_ingress_vip_that_is_the_secondary_claims_address_converges():
    w = World()
    w.add(*WORLD)
    _, status = settle(w, xr(), {})
    outs, _ = manual_ingress(w, status, "fd01::10", rounds=8)
    out = outs[-1]
    assert out.fatal is None and not out.warnings
    assert held(w)["vip-ingress-c1-secondary"][0] == "fd01::10"
    assert out.ttl == 1200.0  # today: 15.0 on every reconcile (converged False: the state is a hold)


# 3. The same hold keeps the secondary's Usage "exactly as observed". A manual ingress VIP changed to another value
#    starts the claim's release (Usage detached); changed on to the claim's own address before the claim is gone,
#    the claim is kept, but its Usage stays detached for good: the live Cluster's ingress VIP fd01::10 is reserved
#    by a claim that nothing protects from deletion (usages.py: a kept claim of a live Cluster is attached).
def test_a_kept_secondary_claim_under_a_manual_ingress_vip_gets_its_usage_attached_again():
    w = World()
    w.add(*WORLD)
    _, status = settle(w, xr(), {})
    _, status = manual_ingress(w, status, "10.0.1.50", rounds=1)  # release begins: Usage detached
    usage = w.get("Usage", "vip-ingress-c1-secondary", "team-a")
    assert usage is not None and not usage["spec"].get("by")
    outs, _ = manual_ingress(w, status, "fd01::10", rounds=6)
    assert [o.fatal for o in outs if o.fatal] == []
    assert annotation(outs[-1]) == "fd01::10"
    assert held(w)["vip-ingress-c1-secondary"][0] == "fd01::10"
    usage = w.get("Usage", "vip-ingress-c1-secondary", "team-a")
    assert usage is not None and usage["spec"].get("by")  # today: detached on every reconcile


# 4. ranges.read now refuses a pool of both families before it looks at spec.allocateReservedIPAddresses. da453f9
#    read such a pool where allocateReservedIPAddresses is true (min() over both families, the TypeError review 5
#    fixed, is only taken for the reserved network address): a manual VIP outside it was Manual, one inside it
#    ManualVIPInPool. A user without secondary variables now gets InvalidPool, and a new Cluster held back, for
#    both. (The provider's webhook refuses such pools, so this is a pool that got past it.)
@pytest.mark.parametrize(("host", "reason"), [("192.168.5.5", "Manual"), ("10.0.0.12", "ManualVIPInPool")])
def test_with_check_pools_a_single_stack_user_sees_da453f9s_reading_of_a_pool_of_both_families(host, reason):
    mixed = pool("cp-pool", free=9, total=11, addresses=("10.0.0.10-10.0.0.20", "fd00::10-fd00::20"))
    mixed["spec"]["allocateReservedIPAddresses"] = True
    x = xr(cluster={"topology": {"class": "cc", "version": "v1.31.0"}, "controlPlaneEndpoint": {"host": host}})
    out = run(copy.deepcopy(x), {}, [CC, mixed, ING_POOL], inp=CHECK)
    assert out.fatal is None
    assert out.reason("ControlPlaneVIPReady") == reason  # today: InvalidPool
