"""Claims: one that cannot bind (its pool gone or full) or is being deleted says so and holds back only what waits for
it; an observed claim is written back as it was; a pool's odd counts do not stop a claim being made."""

import pytest

from tests.cases import ABSENT, INGRESS_OFF, Case, Want, deleting, expect, run_case, with_items
from tests.fixtures import CC, CP_POOL, ING_POOL, STORE, bound
from tests.harness import CP_CLAIM, INGRESS_CLAIM, cluster_class, ip_address, observed_claim, pool, xr

BOUND, BOUND_STORE = bound()
UNBOUND_INGRESS = with_items(BOUND, **{INGRESS_CLAIM: observed_claim("vip-ingress-c1", pool_name="ing-pool",
                                                                     role="ingress", bound=False)})
NO_INGRESS, NO_INGRESS_STORE = bound(ingress=None)
DUAL_CLASS = cluster_class(variables=("clusterVip", "ingressVip", "clusterVipSecondary", "ingressVipSecondary"))
ING6 = pool("ing6-pool", role="ingress", free=99, total=100, addresses=("fd00:11::/120",), prefix=64, gateway="fd00:11::1")
CP6 = pool("cp6-pool", free=99, total=100, addresses=("fd00:10::10-fd00:10::ff",), prefix=64, gateway="fd00:10::1")
SECONDARY = {  # role: (resource name, claim name, pool, the pair's IPAddress when bound)
    "control-plane": ("vip-claim-control-plane-secondary", "vip-cp-c1-secondary", CP6, "fd00:10::10"),
    "ingress": ("vip-claim-ingress-secondary", "vip-ingress-c1-secondary", ING6, "fd00:11::10"),
}


def one_secondary_unbound(role):
    """Bound primaries, the role's secondary claim unbound (its pool gone), the other secondary bound."""
    observed, store = dict(BOUND), [DUAL_CLASS, CP_POOL, ING_POOL, *BOUND_STORE]
    for r, (rn, name, p, address) in SECONDARY.items():
        observed[rn] = observed_claim(name, pool_name=p["metadata"]["name"], role=r, bound=r != role)
        if r != role:
            store += [p, ip_address(name, address, pool_name=p["metadata"]["name"])]
    return observed, tuple(store)


NO_API_GROUP = observed_claim("vip-cp-c1", bound=False, api_group=None)
del NO_API_GROUP["spec"]["poolRef"]["apiGroup"]

CANNOT_BIND = [
    pytest.param(Case(
        reason="An ingress claim whose pool is gone does not hold the Cluster back: composed on the control-plane "
               "VIP, the claim kept, IngressVIPReady PoolNotFound.",
        finding="review findings: claims that cannot bind",
        xr=xr(), observed=UNBOUND_INGRESS, store=(CC, CP_POOL, *BOUND_STORE),
        want=Want(host="10.0.0.10", desired=(INGRESS_CLAIM,), reasons={"IngressVIPReady": "PoolNotFound"})),
        id="an-ingress-claim-whose-pool-is-gone"),
    pytest.param(Case(
        reason="An ingress claim on an exhausted pool does not hold the Cluster back; PoolExhausted says the pool has "
               "no free address.",
        finding="review findings: claims that cannot bind",
        xr=xr(), observed=UNBOUND_INGRESS,
        store=(CC, CP_POOL, pool("ing-pool", role="ingress", free=0, total=11), *BOUND_STORE),
        want=Want(composed=True, warned=(("PoolExhausted", "which has no free address"),))),
        id="an-ingress-claim-on-an-exhausted-pool"),
    pytest.param(Case(
        reason="A control-plane claim whose pool is gone holds the Cluster back and says the pool does not exist.",
        finding="review findings: claims that cannot bind",
        xr=xr(), observed={CP_CLAIM: observed_claim("vip-cp-c1", bound=False)}, store=(CC, ING_POOL),
        want=Want(composed=False, reasons={"ControlPlaneVIPReady": "PoolNotFound"},
                  warned=((None, "GlobalInClusterIPPool cp-pool, which does not exist"),))),
        id="a-control-plane-claim-whose-pool-is-gone"),
    *(pytest.param(Case(
        reason=f"A secondary {role} claim whose pool is gone does not hold the Cluster back, and says it is the "
               "secondary VIP the Cluster is composed without (not the ingress VIP).",
        finding="issue 26, a message the secondaries shared with ingress",
        xr=xr(), observed=one_secondary_unbound(role)[0], store=one_secondary_unbound(role)[1],
        want=Want(composed=True, reasons={condition: "PoolNotFound"},
                  warned=(("PoolNotFound", f"the Cluster is composed without the secondary {role} VIP meanwhile"),))),
        id=f"a-secondary-{role}-claim-whose-pool-is-gone")
      for role, condition in (("control-plane", "ControlPlaneSecondaryVIPReady"), ("ingress", "IngressSecondaryVIPReady"))),
    pytest.param(Case(
        reason="A claim being deleted gives no VIP to a Cluster not yet composed: the Cluster waits, and a new claim "
               "is made once it is gone.",
        finding="review findings, second review",
        xr=xr(annotations=INGRESS_OFF), observed=deleting(NO_INGRESS, CP_CLAIM), store=(*STORE, *NO_INGRESS_STORE),
        want=Want(composed=False, not_desired=(CP_CLAIM,), reasons={"ControlPlaneVIPReady": "WaitingForAddress"},
                  condition_messages={"ControlPlaneVIPReady": "IPAddressClaim team-a/vip-cp-c1 is being deleted; "
                                                              "a new claim is made once it is gone"})),
        id="a-claim-being-deleted-under-a-cluster-not-yet-composed"),
    pytest.param(Case(
        reason="So does an ingress claim being deleted: the Cluster waits for the new claim, as it waits for one still "
               "binding, and is composed with its ingress VIP.",
        finding="decision design note, disagreement 2 (ingress composed the Cluster without it)",
        xr=xr(), observed=deleting(BOUND, INGRESS_CLAIM), store=(*STORE, *BOUND_STORE),
        want=Want(composed=False, not_desired=(INGRESS_CLAIM,), reasons={"IngressVIPReady": "WaitingForAddress"})),
        id="an-ingress-claim-being-deleted-under-a-cluster-not-yet-composed"),
]


@pytest.mark.parametrize("case", CANNOT_BIND)
def test_a_claim_that_cannot_bind_or_is_being_deleted(case):
    expect(run_case(case), case.want)


MADE = [
    pytest.param(Case(
        reason="An observed claim whose poolRef has no apiGroup is written back without one.",
        finding="review findings: claims that cannot bind",
        xr=xr(), observed={CP_CLAIM: NO_API_GROUP}, store=STORE,
        want=Want(at={("desired", CP_CLAIM, "spec", "poolRef", "apiGroup"): ABSENT})),
        id="an-observed-claim-without-api-group-is-written-back-without-one"),
    *(pytest.param(Case(
        reason="A pool reporting a non-finite count of free addresses is read as not reporting one: the claim is "
               "made, nothing is Fatal.",
        finding="review findings: malformed values",
        xr=xr(), store=(CC, pool("cp-pool", free=free)),
        want=Want(fatal=None, desired=(CP_CLAIM,))),
        id=f"a-pool-reporting-{name}-free-addresses-is-read-as-unreported")
      for name, free in (("nan", float("nan")), ("inf", float("inf")))),
]


@pytest.mark.parametrize("case", MADE)
def test_how_a_claim_is_made(case):
    expect(run_case(case), case.want)
