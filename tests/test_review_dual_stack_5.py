"""Fifth review of the dual-stack VIP pairs (commit 6cdfdd5): each case fails on it.

It goes after what the first four reviews (tests/test_review_dual_stack.py, _2.py, _3.py, _4.py) did not reach:
the family a primary claim made again draws from, a manual primary VIP that is the role's own secondary address,
a pool of both families read for manualVips.checkPools, and the DNS records of a pair whose endpoint is a name.
"""

import copy

import pytest

from tests.fixtures import CC, ING_POOL
from tests.harness import World, pool, run, xr
from tests.test_review_dual_stack import (
    DUAL,
    ING6,
    WORLD,
    annotation,
    dual_live,
    variables,
)
from tests.test_review_dual_stack_3 import CHECK
from tests.test_review_dual_stack_4 import settle

V6_PRIMARY = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "dualStack": {"primaryFamily": "IPv6"}}
DNS = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "dns": {"zone": "clusters.example.org"}}


def held(w):
    """IPAddressClaim name -> (the address it holds or None, its pool)."""
    addrs = {a["metadata"]["name"]: a["spec"]["address"] for a in w.of_kind("IPAddress")}
    return {c["metadata"]["name"]: (addrs.get(c["metadata"]["name"]), c["spec"]["poolRef"]["name"])
            for c in w.of_kind("IPAddressClaim")}


# 1. ctx.family[role] is Input dualStack.primaryFamily for every primary claim made (_read_secondaries), also the one
#    made again under a live Cluster (_remake / _unbound_under -> _allocate). The secondary follows the live VIP's
#    family ("a primary claimed before the class asked for a pair keeps its family"); the primary does not. With
#    primaryFamily changed to IPv6 on live IPv4 clusters (or a primary that was IPv6 before the pair), a primary
#    claim deleted by hand is made again from the IPv6 pool: bound to fd00::11 / fd01::11, an AddressMismatch for
#    good, and the live 10.0.x.10 is reserved by no claim. Without a pair it comes from any pool (da453f9), so from
#    the live VIP's own pool, which gives the same address back.
@pytest.mark.parametrize(("claim", "pool_name", "live"), [("vip-cp-c1", "cp-pool", "10.0.0.10"),
                                                          ("vip-ingress-c1", "ing-pool", "10.0.1.10")])
def test_a_primary_claim_made_again_under_a_live_cluster_comes_from_the_live_vips_family(claim, pool_name, live):
    w = World()
    w.add(*WORLD)
    _, status = settle(w, xr(), {})
    assert held(w)[claim] == (live, pool_name)
    w.inp = V6_PRIMARY  # the platform team switches new clusters to IPv6-first
    w.remove(w.get("IPAddressClaim", claim, "team-a"))  # deleted by hand (the provider frees its address)
    w.remove(w.get("IPAddress", claim, "team-a"))
    outs, _ = settle(w, xr(), status)
    assert [o.fatal for o in outs if o.fatal] == []
    # today: (fd00::11, cp6) / (fd01::11, ing6), AddressMismatch on every reconcile
    assert held(w)[claim] == (live, pool_name)
    assert not [m for r, m in outs[-1].warnings if r == "AddressMismatch"]


# 2. A manual primary VIP turns the role's secondary off (_secondary_state: primary.source == MANUAL), and
#    _secondary_off keeps the claim only where the XR's own *secondary* value is its address. A manual ingress VIP
#    that is the address the role's secondary claim holds (single-stack IPv6 from now on: the user keeps the IPv6
#    address the Cluster already answers on) releases that claim, Usage steps and all, with Normal events only: the
#    live Cluster's ingress VIP fd01::10 is then reserved by no claim, and IPAM gives it to the next cluster. The
#    primary's own rule ("a manual value equal to the claim's own address is that address: it stays claimed") and,
#    with checkPools, the Conflict against the secondary claim both say the address is the XR's.
def test_a_manual_ingress_vip_that_is_the_secondary_claims_address_stays_claimed():
    w = World()
    w.add(*WORLD)
    _, status = settle(w, xr(), {})
    outs, _ = settle(w, xr(annotations={"vip.capi.gorizond.io/ingress-vip": "fd01::10"}), status, rounds=6)
    assert [o.fatal for o in outs if o.fatal] == []
    assert annotation(outs[-1]) == "fd01::10"
    # today: vip-ingress-c1-secondary released ("the ingress VIP fd01::10 is the XR's own: ..."), no Warning;
    # a second XR then gets fd01::10 for its own ingress secondary
    assert held(w).get("vip-ingress-c1-secondary", (None,))[0] == "fd01::10" or \
        [m for o in outs for r, m in o.warnings if "fd01::10" in m]
    w.settle(xr("c2"), rounds=5)
    assert held(w).get("vip-ingress-c2-secondary", (None,))[0] != "fd01::10"


def test_a_manual_ingress_vip_does_not_release_a_secondary_claim_whose_address_is_unread():
    """The address may be the manual VIP itself (as _hold says for the primaries): nothing about the claim changes
    until it is read."""
    observed, store = dual_live(usages=True)
    x = xr(annotations={"vip.capi.gorizond.io/ingress-vip": "fd01::10"})
    x["status"] = {"vip": {"ingressSecondary": "fd01::10", "ingressSecondarySource": "Pool"}}
    out = run(x, copy.deepcopy(observed), [*WORLD, *store], drop={"address/ingress-secondary"})
    assert out.fatal is None
    # today: "releasing the ingress-secondary VIP of ... vip-ingress-c1-secondary (detaching its Usage)"
    assert not [m for r, m in out.normals if r == "Released" and "ingress-secondary" in m]
    assert out.desired["vip-usage-ingress-secondary"]["spec"].get("by")


# 3. "A pool of both families is a pool of neither" (README), so relabelling a pool to both families is a supported
#    state. With manualVips.checkPools, ranges.read takes min() over the pool's ranges, which raises TypeError for
#    IPv4 and IPv6 together: every reconcile of every XR of the class with a manual VIP (a host, an ingress VIP, or
#    its own secondary) ends "failed unexpectedly". Expected: checked (the address is outside), or InvalidPool.
@pytest.mark.parametrize("cls", [CC, DUAL], ids=["single", "dual"])
def test_with_check_pools_a_pool_of_both_families_is_read_not_a_crash(cls):
    mixed = pool("cp-pool", free=9, total=11, addresses=("10.0.0.10-10.0.0.20", "fd00::10-fd00::20"))
    x = xr(cluster={"topology": {"class": "cc", "version": "v1.31.0"}, "controlPlaneEndpoint": {"host": "192.168.5.5"}})
    out = run(x, {}, [cls, mixed, ING_POOL, ING6], inp=CHECK)
    # today: "function-capi-vip failed unexpectedly (TypeError: fd00::10 and 10.0.0.10 are not of the same version)"
    assert out.fatal is None
    assert out.cluster is not None or out.reason("ControlPlaneVIPReady") == "InvalidPool"


# 4. _dns_records gives the control-plane secondary a record "beside" the host, skipped only when both are of one
#    family: where the host is a DNS name (beside None) the secondary still gets one. The README: "a manual host
#    that is a DNS name already is one, and gets none". Here c1-api.clusters.example.org is published AAAA-only
#    (IPv4 clients of the name get nothing), and the status names it as the XR's control-plane name.
def test_a_dns_name_endpoint_gets_no_control_plane_record_from_its_secondary():
    w = World(inp=DNS)
    w.add(*WORLD)
    x = xr(cluster={"topology": {"class": "cc", "version": "v1.31.0",
                                 "variables": [{"name": "clusterVipSecondary", "value": "fd09::9"}]},
                    "controlPlaneEndpoint": {"host": "api.example.com"}})
    outs, status = settle(w, x, {})
    out = outs[-1]
    assert out.fatal is None and out.cluster is not None
    assert variables(out)["clusterVipSecondary"] == "fd09::9"
    names = {e["dnsName"] for e in out.desired["vip-dns"]["spec"]["endpoints"]}
    # today: {"*.c1...", "c1-api.clusters.example.org"} with c1-api AAAA fd09::9
    assert "c1-api.clusters.example.org" not in names
    assert "controlPlaneDnsName" not in status
