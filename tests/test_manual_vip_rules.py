"""Manual VIPs, the ones the XR writes itself, and manualVips.checkPools: a manual VIP a pool can hand out (or another
claim holds) is refused, a refusal leaves a live Cluster as it is, and a manual VIP that is the pool's own is the
pool's."""

import dataclasses
import ipaddress

import pytest

from function import ranges
from tests.cases import (
    CHECK,
    COUNT,
    CP_USAGE,
    DUAL,
    INGRESS_OFF,
    INGRESS_USAGE,
    ING6,
    INGRESS_VIP,
    LB_WORLD,
    MIXED_CP_POOL,
    PAIR_STATUS,
    PAIR_WORLD,
    POOL_STATUS,
    Case,
    Scenario,
    Settle,
    Want,
    deleting,
    expect,
    lb_claims,
    live_pair,
    manual_endpoint,
    observed_usage,
    play,
    run_case,
    store_without,
    with_items,
    with_lb,
    with_status,
    without,
)
from tests.fixtures import CC, ING_POOL, STORE, applied_without, bound, live
from tests.harness import CP_CLAIM, INGRESS_CLAIM, ip_address, observed_claim, observed_cluster, pool, xr

LIVE, LIVE_STORE = live()
BOUND, BOUND_STORE = bound()
NO_INGRESS, NO_INGRESS_STORE = bound(ingress=None)
PAIR, PAIR_STORE = live_pair()
IN_POOL = "ManualVIPInPool"
REFUSED_INGRESS = with_status(xr(annotations={INGRESS_VIP: "10.0.1.15"}), POOL_STATUS)  # 10.0.1.15: ing-pool's


def _refused_secondary(usages):
    observed, store = live_pair(usages=usages)
    return pytest.param(Case(
        reason="With checkPools, the XR's own ingress secondary refused (in a pool) on a live Cluster releases "
               "nothing the Cluster keeps: the claim of the live fd01::10 stays, recorded as the pool's.",
        finding="dual-stack review 3, #1",
        xr=with_status(xr(variables=[{"name": "ingressVipSecondary", "value": "fd01::15"}]), PAIR_STATUS),
        observed=observed, store=(*PAIR_WORLD, *store), inp=CHECK,
        want=Want(fatal=None, annotation="10.0.1.10,fd01::10", warned=(IN_POOL,),
                  not_noted=(("Released", "ingress-secondary"),), desired=("vip-claim-ingress-secondary",),
                  status={"ingressSecondarySource": "Pool"})),
        id=f"a-refused-written-secondary-releases-nothing-{'with' if usages else 'without'}-usages")


REFUSED_ON_A_LIVE_CLUSTER = [
    pytest.param(Case(
        reason="A manual ingress VIP that is the Cluster's own control-plane VIP is a Conflict: the live Cluster keeps "
               "its ingress VIP, and its claim.",
        finding="manual-VIPs review, #1",
        xr=with_status(xr(annotations={INGRESS_VIP: "10.0.0.10"}), POOL_STATUS), observed=LIVE,
        store=(*STORE, *LIVE_STORE), inp=CHECK,
        want=Want(warned=("Conflict",), annotation="10.0.1.10", desired=(INGRESS_CLAIM,))),
        id="a-manual-ingress-vip-that-is-the-control-plane-vip"),
    pytest.param(Case(
        reason="A manual ingress VIP a pool can hand out is refused (ManualVIPInPool), and the live Cluster keeps its "
               "ingress VIP.",
        finding="manual-VIPs review, #1",
        xr=REFUSED_INGRESS, observed=LIVE, store=(*STORE, *LIVE_STORE), inp=CHECK,
        want=Want(warned=(IN_POOL,), annotation="10.0.1.10",
                  condition_status={"IngressVIPReady": False}, reasons={"IngressVIPReady": IN_POOL})),
        id="a-manual-ingress-vip-a-pool-can-hand-out"),
    pytest.param(Case(
        reason="A refused manual ingress VIP stays off the live Cluster while its claim's address is not read.",
        finding="manual-VIPs review, second review",
        xr=REFUSED_INGRESS, observed=LIVE, store=(*STORE, *store_without(LIVE_STORE, "vip-ingress-c1")), inp=CHECK,
        want=Want(condition_status={"IngressVIPReady": False}, reasons={"IngressVIPReady": IN_POOL},
                  annotation="10.0.1.10")),
        id="while-the-claims-address-is-unread"),
    pytest.param(Case(
        reason="A refused manual ingress VIP keeps the unbound claim made again for the live pool VIP.",
        finding="manual-VIPs review, second review",
        xr=REFUSED_INGRESS, store=(*STORE, *LIVE_STORE), inp=CHECK,
        observed=with_items(LIVE, **{INGRESS_CLAIM: observed_claim("vip-ingress-c1", pool_name="ing-pool",
                                                                   role="ingress", bound=False)}),
        want=Want(annotation="10.0.1.10", desired=(INGRESS_CLAIM,))),
        id="the-unbound-claim-made-again-is-kept"),
    pytest.param(Case(
        reason="A refused manual ingress VIP: the live pool VIP's claim deleted by hand is made again (or a "
               "ClaimMissing warning says so).",
        finding="manual-VIPs review, second review",
        xr=REFUSED_INGRESS, observed=without(LIVE, INGRESS_CLAIM), store=(*STORE, *LIVE_STORE), inp=CHECK,
        want=Want(annotation="10.0.1.10", either=(Want(desired=(INGRESS_CLAIM,)), Want(warned=("ClaimMissing",))))),
        id="the-claim-deleted-by-hand-is-made-again-or-warned"),
    pytest.param(Case(
        reason="A refused manual ingress VIP keeps the Usage of a claim being deleted that the Cluster still uses, "
               "with a ClaimMissing warning.",
        finding="manual-VIPs review, second review",
        xr=REFUSED_INGRESS, store=(*STORE, *LIVE_STORE), inp=CHECK,
        observed=with_items(deleting(LIVE, INGRESS_CLAIM), **{INGRESS_USAGE: observed_usage("vip-ingress-c1"),
                                                              CP_USAGE: observed_usage()}),
        want=Want(annotation="10.0.1.10", desired=(INGRESS_USAGE,), warned=("ClaimMissing",))),
        id="the-usage-of-a-deleting-claim-is-kept"),
    pytest.param(Case(
        reason="A refused manual ingress VIP keeps the ingressVip variable a live Cluster carries (its annotation "
               "removed by hand, or adopted) and the claim of that address.",
        finding="manual-VIPs review, second review",
        xr=REFUSED_INGRESS, store=(*STORE, *LIVE_STORE), inp=CHECK,
        observed=with_items(LIVE, cluster=observed_cluster(host="10.0.0.10", ingress=None,
                                                           variables={"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10"})),
        want=Want(variables={"ingressVip": "10.0.1.10"}, desired=(INGRESS_CLAIM,))),
        id="the-ingress-variable-and-its-claim-are-kept"),
    pytest.param(Case(
        reason="With checkPools, a secondary the XR writes that lies in a pool is not put on the live Cluster, and is "
               "warned about.",
        finding="dual-stack review 2, #6",
        xr=xr(variables=[{"name": "ingressVipSecondary", "value": "fd01::15"}]), observed=PAIR,
        store=(*PAIR_WORLD, *PAIR_STORE), inp=CHECK,
        want=Want(fatal=None, annotation="10.0.1.10,fd01::10", warned=(IN_POOL,))),
        id="a-written-secondary-inside-a-pool"),
    _refused_secondary(False),
    _refused_secondary(True),
]


@pytest.mark.parametrize("case", REFUSED_ON_A_LIVE_CLUSTER)
def test_a_refused_manual_vip_leaves_the_live_cluster_as_it_is(case):
    expect(run_case(case), case.want)


ENDPOINTLESS = observed_cluster(host=None, variables={}, ingress=None)
ENDPOINTLESS_UNOWNED = observed_cluster(host=None, variables={}, ingress=None)
ENDPOINTLESS_UNOWNED["metadata"].pop("ownerReferences", None)
V1ALPHA1_POOL = pool("cp-pool", free=9, total=11)
V1ALPHA1_POOL["apiVersion"] = "ipam.cluster.x-k8s.io/v1alpha1"
V1ALPHA1_POOL["spec"] = {"subnet": "10.0.0.0/24", "start": "10.0.0.10", "end": "10.0.0.20", "prefix": 24, "gateway": "10.0.0.1"}
V1ALPHA1 = {**CHECK, "ipam": {"poolKinds": [{"apiVersion": "ipam.cluster.x-k8s.io/v1alpha1", "kind": "GlobalInClusterIPPool",
                                             "namespaced": False}]}}
RESERVED_MIXED_POOL = pool("cp-pool", free=9, total=11, addresses=("10.0.0.10-10.0.0.20", "fd00::10-fd00::20"))
RESERVED_MIXED_POOL["spec"]["allocateReservedIPAddresses"] = True
LB_INGRESS, LB_INGRESS_STORE = with_lb(*live(ingress=None), lb_claims(1))


def _own_claims_address(role, variable, value):
    return pytest.param(Case(
        reason="With checkPools, the XR writing the address its own secondary claim holds (copied from the status) "
               "does not hold a new Cluster back: it is composed with that secondary.",
        finding="dual-stack review 4, #1",
        xr=with_status(xr(variables=[{"name": variable, "value": value}]), PAIR_STATUS),
        observed=without(PAIR, "cluster"), store=(*PAIR_WORLD, *PAIR_STORE), inp=CHECK,
        want=Want(fatal=None, not_warned=(IN_POOL,), composed=True, variables={variable: value})),
        id=f"the-own-claims-address-as-the-{role}-secondary-does-not-hold-a-new-cluster-back")


CHECKED = [
    pytest.param(Case(
        reason="A manual endpoint inside the class's ingress pool holds the Cluster back: the role's pools are not "
               "the only ones read.",
        finding="manual-VIPs review, #2",
        xr=manual_endpoint("10.0.1.15", annotations=None), observed=without(BOUND, CP_CLAIM),
        store=(*STORE, *BOUND_STORE), inp=CHECK,
        want=Want(composed=False)),
        id="a-manual-endpoint-in-the-ingress-pool"),
    pytest.param(Case(
        reason="A manual endpoint that checkPools refuses keeps the pool claim of a Cluster not yet composed (it is "
               "released once the endpoint is put in place), as a refused manual ingress VIP keeps its claim.",
        finding="decision design note, disagreement 3 (the control plane released it before checkPools ran)",
        xr=manual_endpoint("10.0.1.15", annotations=None), observed=BOUND, store=(*STORE, *BOUND_STORE), inp=CHECK,
        want=Want(composed=False, desired=(CP_CLAIM,), reasons={"ControlPlaneVIPReady": IN_POOL})),
        id="a-refused-manual-endpoint-keeps-the-pool-claim"),
    pytest.param(Case(
        reason="A manual ingress VIP inside the class's control-plane pool holds the Cluster back.",
        finding="manual-VIPs review, #2",
        xr=xr(annotations={INGRESS_VIP: "10.0.0.15"}), observed=NO_INGRESS, store=(*STORE, *NO_INGRESS_STORE), inp=CHECK,
        want=Want(composed=False)),
        id="a-manual-ingress-vip-in-the-control-plane-pool"),
    pytest.param(Case(
        reason="A manual endpoint equal to the address of the XR's ingress claim being deleted holds the Cluster back "
               "(IPAM frees it into the ingress pool).",
        finding="manual-VIPs review, #2",
        xr=manual_endpoint("10.0.1.10", annotations=None), observed=deleting(BOUND, INGRESS_CLAIM),
        store=(*STORE, *BOUND_STORE), inp=CHECK,
        want=Want(composed=False, condition_status={"ControlPlaneVIPReady": False})),
        id="a-manual-endpoint-on-a-deleting-ingress-claims-address"),
    pytest.param(Case(
        reason="An observed Cluster without an endpoint yet does not get an in-pool manual endpoint (it would be a "
               "live endpoint for good); it stays composed.",
        finding="manual-VIPs review, #3",
        xr=manual_endpoint("10.0.0.15"), observed={"cluster": ENDPOINTLESS}, store=STORE, inp=CHECK,
        want=Want(desired=("cluster",), host=None,
                  condition_status={"ControlPlaneVIPReady": False}, reasons={"ControlPlaneVIPReady": IN_POOL})),
        id="an-observed-cluster-without-an-endpoint"),
    pytest.param(Case(
        reason="A Cluster adopted by name without an endpoint does not get an in-pool manual endpoint.",
        finding="manual-VIPs review, #3",
        xr=manual_endpoint("10.0.0.15"), store=(*STORE, ENDPOINTLESS_UNOWNED), inp=CHECK,
        want=Want(noted=("Adopted",), host=None)),
        id="an-adopted-cluster-without-an-endpoint"),
    pytest.param(Case(
        reason="A pool read at v1alpha1 (subnet/start/end) is checked, not passed: the Cluster is not composed on an "
               "address it hands out.",
        finding="manual-VIPs review, #4",
        xr=manual_endpoint("10.0.0.15"), store=(STORE[0], V1ALPHA1_POOL), inp=V1ALPHA1,
        want=Want(composed=False)),
        id="a-pool-read-at-v1alpha1"),
    pytest.param(Case(
        reason="checkPools reads the service-lb pools: a manual endpoint one can hand out is ManualVIPInPool.",
        finding="service-lb review, #5",
        xr=manual_endpoint("10.0.2.15"), store=LB_WORLD, inp=CHECK,
        want=Want(reasons={"ControlPlaneVIPReady": IN_POOL})),
        id="a-manual-endpoint-a-service-lb-pool-can-hand-out"),
    pytest.param(Case(
        reason="A manual ingress VIP one of the XR's own service-lb claims holds is a Conflict.",
        finding="service-lb review, #5",
        xr=xr(annotations={COUNT: "1", INGRESS_VIP: "10.0.2.10"}), observed=LB_INGRESS,
        store=(*LB_WORLD, *LB_INGRESS_STORE), inp=CHECK,
        want=Want(reasons={"IngressVIPReady": "Conflict"})),
        id="a-manual-ingress-vip-the-xrs-service-lb-claim-holds"),
    _own_claims_address("cp", "clusterVipSecondary", "fd00::10"),
    _own_claims_address("ingress", "ingressVipSecondary", "fd01::10"),
    *(pytest.param(Case(
        reason="With checkPools, a pool of both families is read, not a crash: the manual endpoint outside it is "
               "composed, or the pool is named InvalidPool.",
        finding="dual-stack review 5, #3",
        xr=manual_endpoint("192.168.5.5", annotations=None), store=(cls, MIXED_CP_POOL, ING_POOL, ING6), inp=CHECK,
        want=Want(fatal=None, either=(Want(composed=True), Want(reasons={"ControlPlaneVIPReady": "InvalidPool"})))),
        id=f"a-pool-of-both-families-is-read-not-a-crash-{name}")
      for name, cls in (("single-stack", CC), ("dual-stack", DUAL))),
    *(pytest.param(Case(
        reason="With checkPools, a single-stack user's pool of both families with allocateReservedIPAddresses is read "
               "as before: a manual endpoint outside it is Manual, one inside it ManualVIPInPool (not InvalidPool).",
        finding="dual-stack review 6, #4",
        xr=manual_endpoint(host, annotations=None), store=(CC, RESERVED_MIXED_POOL, ING_POOL), inp=CHECK,
        want=Want(fatal=None, reasons={"ControlPlaneVIPReady": reason})),
        id=f"a-reserved-pool-of-both-families-{name}")
      for name, host, reason in (("outside-is-manual", "192.168.5.5", "Manual"),
                                 ("inside-is-in-pool", "10.0.0.12", IN_POOL))),
]


@pytest.mark.parametrize("case", CHECKED)
def test_check_pools_on_a_manual_vip(case):
    expect(run_case(case), case.want)


MESSAGES = [
    pytest.param(Case(
        reason="The in-pool message names the XR field to change and what a refused exclusion means (allocated to "
               "another cluster).",
        finding="manual-VIPs review, #5",
        xr=manual_endpoint("10.0.0.15"), store=STORE, inp=CHECK,
        want=Want(condition_message_has={"ControlPlaneVIPReady": ("spec.cluster.controlPlaneEndpoint.host", "allocated")})),
        id="names-the-field-and-a-refused-exclusion"),
    pytest.param(Case(
        reason="The in-pool message names every pool that hands the address out, and says to fix each.",
        finding="manual-VIPs review, #5",
        xr=manual_endpoint("10.0.0.15"), store=(*STORE, pool("cp-pool-2", free=9, total=11, addresses=("10.0.0.0/24",))),
        inp=CHECK,
        want=Want(condition_message_has={"ControlPlaneVIPReady": ("cp-pool-2",)},
                  either=tuple(Want(condition_message_has={"ControlPlaneVIPReady": (word,)})
                               for word in ("each", "both", "every")))),
        id="names-every-pool"),
]


@pytest.mark.parametrize("case", MESSAGES)
def test_the_in_pool_message(case):
    expect(run_case(case), case.want)


MANUAL_INGRESS = with_items(NO_INGRESS, cluster=observed_cluster(variables={"clusterVip": "10.0.0.10", "ingressVip": "10.7.7.7"},
                                                                 ingress="10.7.7.7"))
POOL_VIPS = [
    pytest.param(Case(
        reason="A manual ingress VIP removed from the XR stays on the Cluster while the pool VIP's new claim is not "
               "bound; the claim is made.",
        finding="review findings: where a VIP came from",
        xr=with_status(xr(), {"ingressSource": "Manual"}), observed=MANUAL_INGRESS, store=(*STORE, *NO_INGRESS_STORE),
        want=Want(desired=(INGRESS_CLAIM,), annotations={INGRESS_VIP: "10.7.7.7"})),
        id="a-removed-manual-ingress-vip-stays-until-the-pool-vip-is-bound"),
    pytest.param(Case(
        reason="A manual ingress VIP removed from the XR is replaced by the pool VIP once its claim is bound, recorded "
               "as the pool's.",
        finding="review findings: where a VIP came from",
        xr=with_status(xr(), {"ingressSource": "Manual"}),
        observed=with_items(MANUAL_INGRESS, **{INGRESS_CLAIM: observed_claim("vip-ingress-c1", pool_name="ing-pool",
                                                                             role="ingress")}),
        store=(*STORE, *NO_INGRESS_STORE, ip_address("vip-ingress-c1", "10.0.1.10", pool_name="ing-pool")),
        want=Want(annotations={INGRESS_VIP: "10.0.1.10"}, status={"ingressSource": "Pool"})),
        id="a-removed-manual-ingress-vip-is-replaced-once-the-pool-vip-is-bound"),
    pytest.param(Case(
        reason="A manual ingress VIP replaces an allocated one; its claim stays until the API server's Cluster no "
               "longer carries the old VIP.",
        finding="review findings: where a VIP came from; adversarial review of the split decision, #2",
        xr=xr(annotations={INGRESS_VIP: "10.7.7.7"}), observed=LIVE, store=(*STORE, *LIVE_STORE),
        want=Want(desired=(INGRESS_CLAIM,), annotations={INGRESS_VIP: "10.7.7.7"})),
        id="a-manual-ingress-vip-replaces-an-allocated-one"),
    pytest.param(Case(
        reason="Once the Cluster carries the manual ingress VIP instead, the allocated one's claim is released.",
        finding="review findings: where a VIP came from",
        xr=xr(annotations={INGRESS_VIP: "10.7.7.7"}), observed=applied_without(LIVE, "10.0.1.10"),
        store=(*STORE, *LIVE_STORE),
        want=Want(not_desired=(INGRESS_CLAIM,), annotations={INGRESS_VIP: "10.7.7.7"})),
        id="then-the-allocated-claim-is-released"),
    pytest.param(Case(
        reason="A manual host equal to the pool VIP is that address: it stays claimed, recorded as the pool's.",
        finding="review findings, second review",
        xr=with_status(manual_endpoint("10.0.0.10"), {"controlPlane": "10.0.0.10", "controlPlaneSource": "Pool"}),
        observed={"cluster": observed_cluster(host="10.0.0.10")}, store=STORE,
        want=Want(desired=(CP_CLAIM,), status={"controlPlaneSource": "Pool"})),
        id="a-manual-host-equal-to-the-pool-vip-keeps-it-reserved"),
    pytest.param(Case(
        reason="A manual ingress VIP equal to its claim's address keeps the claim, recorded as the pool's, and "
               "nothing is released.",
        finding="review findings, second review",
        xr=xr(annotations={INGRESS_VIP: "10.0.1.10"}), observed=LIVE, store=(*STORE, *LIVE_STORE),
        want=Want(desired=(INGRESS_CLAIM,), status={"ingressSource": "Pool"}, normal_reasons=())),
        id="a-manual-ingress-vip-equal-to-the-claims-address-keeps-the-claim"),
]


@pytest.mark.parametrize("case", POOL_VIPS)
def test_a_manual_vip_and_the_pool_vip(case):
    expect(run_case(case), case.want)


OVER_RECONCILES = [
    pytest.param(Scenario(
        reason="With checkPools, two clusters never share an address through the other role's pool: c1's manual "
               "endpoint in ing-pool, c2's ingress claim from ing-pool.",
        finding="manual-VIPs review, #2",
        objects=STORE, inp=CHECK,
        steps=(Settle(manual_endpoint("10.0.1.10"), 4, status="as-written"),
               Settle(xr("c2"), 4, status="as-written", then=Want(no_shared_vips=True)))),
        id="two-clusters-never-share-an-address-through-the-other-roles-pool"),
    pytest.param(Scenario(
        reason="With ingress turned off, an in-pool ingressVipSecondary the XR writes (which is never used) does not "
               "hold a new Cluster back.",
        finding="dual-stack review 4, #4",
        objects=PAIR_WORLD, inp=CHECK,
        steps=(Settle(xr(annotations=INGRESS_OFF, variables=[{"name": "ingressVipSecondary", "value": "fd01::15"}]), 5,
                      status="as-written", then=Want(composed=True, variables={"clusterVipSecondary": "fd00::10"})),)),
        id="with-ingress-off-an-in-pool-ingress-secondary-holds-nothing-back"),
]


@pytest.mark.parametrize("scenario", OVER_RECONCILES)
def test_manual_vips_over_reconciles(scenario):
    play(scenario)


@dataclasses.dataclass(frozen=True)
class PoolReading:
    """The provider's reading of a pool spec (function/ranges.py): whether it hands ``address`` out."""

    reason: str
    finding: str
    spec: dict
    address: str
    hands_out: bool
    lowest: str  # the pool's lowest address, and the first it lists: the premise the row rests on
    first_listed: str


READINGS = [
    pytest.param(PoolReading(
        reason="The first address (whose network the provider reserves) is the lowest, not the first listed: here the "
               "provider reserves 10.0.0.0/10.0.0.255 and hands out 10.0.1.255.",
        finding="manual-VIPs review, #6",
        spec={"addresses": ["10.0.1.250-10.0.1.255", "10.0.0.5"], "prefix": 24}, address="10.0.1.255", hands_out=True,
        lowest="10.0.0.5", first_listed="10.0.1.250"),
        id="the-first-address-is-the-lowest-not-the-first-listed"),
]


@pytest.mark.parametrize("case", READINGS)
def test_the_providers_reading_of_a_pool(case):
    assert ipaddress.ip_address(case.lowest) < ipaddress.ip_address(case.first_listed)
    assert ranges.read(case.spec).can_hand_out(case.address) is case.hands_out

