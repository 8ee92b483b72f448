"""Service load-balancer addresses (role service-lb): what the Cluster lists, where claims are made, the status record of
which claim holds which address, and resources of another step's under a service-lb name."""

import copy
import dataclasses

import pytest

from tests.cases import (
    ANY_WARNING,
    COUNT,
    INPUT,
    LB_POOL,
    LB_WORLD,
    Case,
    Check,
    Scenario,
    Settle,
    Want,
    deleting,
    earlier_step_wrote,
    expect,
    lb_claims,
    play,
    run_case,
    store_without,
    with_lb,
    with_list,
    with_status,
    without,
)
from tests.fixtures import STORE, bound, live
from tests.harness import ip_address, observed_claim, pool, xr

LIVE, LIVE_STORE = live()
LB2, LB2_STORE = with_lb(*live(), lb_claims(2))
LB3, LB3_STORE = with_lb(*live(), lb_claims(3))
LISTED2 = ["10.0.2.10", "10.0.2.11"]
LISTED3 = ["10.0.2.10", "10.0.2.11", "10.0.2.12"]
RECORD = "0=10.0.2.10,1=10.0.2.11"
CLAIM_API_V1BETA2 = {**INPUT, "ipam": {"claimApiVersion": "ipam.cluster.x-k8s.io/v1beta2"}}
SMALL_POOL = pool("lb-small", role="service-lb", kind="InClusterIPPool", namespace="team-a", free=1, total=1,
                  addresses=("10.0.3.10",), gateway="10.0.3.1")

THE_LIST = [
    pytest.param(Case(
        reason="Lowering the count while another index's address is unread: the released claim's address leaves the "
               "list (IPAM frees it).",
        finding="service-lb review, #1",
        xr=xr(annotations={COUNT: "1"}), observed=with_list(LB3, LISTED3),
        store=(*LB_WORLD, *store_without(LB3_STORE, "vip-lb-c1-0")),
        want=Want(desired=("vip-claim-service-lb-2",), listed_lacks=("10.0.2.12",))),  # released once the list lacks it
        id="a-lowered-count-takes-the-released-address-off-while-another-is-unread"),
    pytest.param(Case(
        reason="Once the API server's Cluster lists it no more, the claim above the count is released.",
        finding="service-lb review, #1; adversarial review of the split decision, #2",
        xr=xr(annotations={COUNT: "1"}), observed=with_list(LB3, LISTED2),
        store=(*LB_WORLD, *store_without(LB3_STORE, "vip-lb-c1-0")),
        want=Want(not_desired=("vip-claim-service-lb-2",), listed_lacks=("10.0.2.12",))),
        id="then-the-claim-above-the-count-is-released"),
    pytest.param(Case(
        reason="A claim deleted by hand while another index's address is unread leaves the list.",
        finding="service-lb review, #1",
        xr=xr(annotations={COUNT: "2"}), observed=deleting(with_list(LB2, LISTED2), "vip-claim-service-lb-1"),
        store=(*LB_WORLD, *store_without(LB2_STORE, "vip-lb-c1-0")),
        want=Want(not_desired=("vip-claim-service-lb-1",), listed_lacks=("10.0.2.11",))),
        id="a-claim-deleted-by-hand-leaves-the-list-while-another-is-unread"),
    pytest.param(Case(
        reason="A claim above the count whose address is unread is kept, and its address stays listed.",
        finding="service-lb review 2",
        xr=xr(annotations={COUNT: "1"}), observed=with_list(LB2, LISTED2),
        store=(*LB_WORLD, *store_without(LB2_STORE, "vip-lb-c1-1")),
        want=Want(desired=("vip-claim-service-lb-1",), listed_has=("10.0.2.11",))),
        id="a-claim-above-the-count-whose-address-is-unread-stays-listed"),
    pytest.param(Case(
        reason="A list the XR sets itself (a class that already had serviceLbVips) is the Cluster's, or is warned "
               "about.",
        finding="service-lb review, #6",
        xr=xr(variables=[{"name": "serviceLbVips", "value": ["192.168.9.9", "192.168.9.10"]}]),
        observed=with_list(LIVE, ["192.168.9.9", "192.168.9.10"]), store=(*LB_WORLD, *LIVE_STORE),
        want=Want(either=(Want(listed=["192.168.9.9", "192.168.9.10"]), Want(warned=(ANY_WARNING,))))),
        id="the-xrs-own-list-is-the-clusters"),
    pytest.param(Case(
        reason="A list the XR writes itself is what a live Cluster gets (Manual).",
        finding="service-lb review 2",
        xr=xr(variables=[{"name": "serviceLbVips", "value": ["10.0.2.99"]}]), observed=with_list(LIVE, LISTED2),
        store=(*LB_WORLD, *LIVE_STORE),
        want=Want(reasons={"ServiceLBVIPsReady": "Manual"}, listed=["10.0.2.99"])),
        id="the-xrs-own-list-replaces-the-live-one"),
    pytest.param(Case(
        reason="A written list naming a claimed address keeps that claim; the other is released.",
        finding="service-lb review 2",
        xr=xr(annotations={COUNT: "2"}, variables=[{"name": "serviceLbVips", "value": ["10.0.2.10"]}]),
        observed=with_list(LB2, ["10.0.2.10"]), store=(*LB_WORLD, *LB2_STORE),
        want=Want(desired=("vip-claim-service-lb-0",), not_desired=("vip-claim-service-lb-1",))),
        id="a-written-list-naming-a-claimed-address-keeps-that-claim"),
    pytest.param(Case(
        reason="A claim being deleted whose address is gone leaves the list by the address the status recorded.",
        finding="service-lb review 2",
        xr=with_status(xr(annotations={COUNT: "3"}), {"serviceLb": "0=10.0.2.10,1=10.0.2.11,2=10.0.2.12"}),
        observed=deleting(with_list(LB3, LISTED3), "vip-claim-service-lb-2"),
        store=(*LB_WORLD, *store_without(LB3_STORE, "vip-lb-c1-0", "vip-lb-c1-2")),
        want=Want(not_desired=("vip-claim-service-lb-2",), listed=LISTED2)),
        id="a-deleting-claim-whose-address-is-gone-leaves-by-the-recorded-address"),
    pytest.param(Case(
        reason="A live Cluster's service-lb address stays in its list when its claim's IPAddress says another (made "
               "anew), as the endpoint does: an AddressMismatch warning says what to reserve.",
        finding="adversarial review of the split decision, #1",
        xr=with_status(xr(annotations={COUNT: "2"}), {"serviceLb": RECORD}), observed=with_list(LB2, LISTED2),
        store=(*LB_WORLD, *store_without(LB2_STORE, "vip-lb-c1-0"),
               ip_address("vip-lb-c1-0", "10.0.2.15", pool_name="lb-pool")),
        want=Want(listed=LISTED2, warning_reasons=("AddressMismatch",), status={"serviceLb": RECORD})),
        id="a-live-service-lb-address-stays-when-its-ipaddress-says-another"),
    pytest.param(Case(
        reason="The live entry is found in whatever form the list writes it (fd02:0:0:0:0:0:0:11 is fd02::11).",
        finding="adversarial review of the deliberate changes, #3",
        xr=with_status(xr(annotations={COUNT: "2"}), {"serviceLb": "0=fd02::11,1=fd02::10"}),
        observed=with_list(LB2, ["fd02:0:0:0:0:0:0:11", "fd02:0:0:0:0:0:0:10"]),
        store=(*LB_WORLD, *store_without(LB2_STORE, "vip-lb-c1-0", "vip-lb-c1-1"),
               ip_address("vip-lb-c1-0", "fd02::20", pool_name="lb-pool"),
               ip_address("vip-lb-c1-1", "fd02::10", pool_name="lb-pool")),
        want=Want(listed=["fd02:0:0:0:0:0:0:11", "fd02::10"], warning_reasons=("AddressMismatch",))),
        id="a-live-service-lb-address-is-found-in-any-form"),
    pytest.param(Case(
        reason="A live service-lb address another claim of the XR is bound to since (IPAM gave it out again) is listed "
               "once; the live entries stay, the mismatch warned.",
        finding="adversarial review of the deliberate changes, #2 (listed twice); review of its fix, #1 (a live "
                "entry dropped when two IPAddresses were made anew)",
        xr=with_status(xr(annotations={COUNT: "3"}), {"serviceLb": RECORD}), observed=with_list(LB3, LISTED2),
        store=(*LB_WORLD, *store_without(LB3_STORE, "vip-lb-c1-0", "vip-lb-c1-2"),
               ip_address("vip-lb-c1-0", "10.0.2.20", pool_name="lb-pool"),
               ip_address("vip-lb-c1-2", "10.0.2.10", pool_name="lb-pool")),
        want=Want(listed=["10.0.2.10", "10.0.2.11"], warning_reasons=("AddressMismatch",))),
        id="a-live-service-lb-address-another-claim-holds-is-listed-once"),
    pytest.param(Case(
        reason="Two IPAddresses made anew, one with the other's live address: both live entries stay.",
        finding="review of the fix of the deliberate changes' review, #1",
        xr=with_status(xr(annotations={COUNT: "2"}), {"serviceLb": RECORD}), observed=with_list(LB2, LISTED2),
        store=(*LB_WORLD, *store_without(LB2_STORE, "vip-lb-c1-0", "vip-lb-c1-1"),
               ip_address("vip-lb-c1-0", "10.0.2.11", pool_name="lb-pool"),
               ip_address("vip-lb-c1-1", "10.0.2.12", pool_name="lb-pool")),
        want=Want(listed=LISTED2, warning_reasons=("AddressMismatch", "AddressMismatch"))),
        id="two-ipaddresses-made-anew-keep-both-live-entries"),
    pytest.param(Case(
        reason="The ClusterClassMissingVariable fix offered for serviceLbVips is an array schema (CAPI rejects a list "
               "for a string), the only warning.",
        finding="service-lb review, #9",
        xr=xr(), observed=LB2, store=(*STORE, LB_POOL, *LB2_STORE),
        want=Want(warning_reasons=("ClusterClassMissingVariable",), not_warned=((None, "type: string, default"),))),
        id="the-missing-variable-fix-is-an-array-schema"),
]


@pytest.mark.parametrize("case", THE_LIST)
def test_the_service_lb_list(case):
    expect(run_case(case), case.want)


def _at_most_in(pool_name, n, claims):
    def test(seen):
        refs = [seen.out.desired[f"vip-claim-service-lb-{i}"]["spec"]["poolRef"]["name"] for i in range(claims)]
        return refs.count(pool_name) <= n
    return Check(f"at most {n} of the {claims} new claims in {pool_name}", test)


def _moved_or_said(gone):
    def test(seen):
        out = seen.out
        moved = out.desired.get("vip-claim-service-lb-1", {}).get("spec", {}).get("poolRef", {}).get("name") != gone
        said = any(gone in m for _, m in out.warnings) or gone in out.conditions["ServiceLBVIPsReady"][2]
        return moved or said
    return Check(f"the unbound claim of {gone} is made again elsewhere, or {gone} is named", test)


GONE_POOL, GONE_POOL_STORE = with_lb(*live(), lb_claims(2, bound_to={0}))
GONE_POOL["vip-claim-service-lb-1"]["spec"]["poolRef"]["name"] = "lb-gone"

WHERE_CLAIMS_ARE_MADE = [
    pytest.param(Case(
        reason="New claims made at once are not all put in a pool with too few free addresses.",
        finding="service-lb review, #4",
        xr=xr(annotations={COUNT: "3"}), observed=LIVE, store=(*LB_WORLD, SMALL_POOL, *LIVE_STORE),
        want=Want(also=(_at_most_in("lb-small", 1, 3),))),
        id="new-claims-are-not-all-put-in-a-pool-with-too-few-addresses"),
    pytest.param(Case(
        reason="An unbound claim whose pool is gone is made again from a pool with room (or the gone pool is named).",
        finding="service-lb review, #4",
        xr=xr(annotations={COUNT: "2"}), observed=GONE_POOL, store=(*LB_WORLD, *GONE_POOL_STORE),
        want=Want(also=(_moved_or_said("lb-gone"),))),
        id="an-unbound-claim-whose-pool-is-gone-is-made-again"),
    pytest.param(Case(
        reason="A service-lb claim found existing, not yet composed, unbound on a pool that is gone, is composed as it is "
               "first and moved once observed: one move rule for every slot (the control plane's and ingress's too).",
        finding="decision design note, disagreement 1 (service-lb moved it at once)",
        xr=xr(annotations={COUNT: "2"}), observed=without(GONE_POOL, "vip-claim-service-lb-1"),
        store=(*LB_WORLD, *GONE_POOL_STORE, GONE_POOL["vip-claim-service-lb-1"]),
        want=Want(fatal=None, at={("desired", "vip-claim-service-lb-1", "spec", "poolRef", "name"): "lb-gone"},
                  not_noted=(("Released", "vip-lb-c1-1"),))),
        id="a-claim-found-existing-is-composed-as-it-is-before-it-moves"),
    pytest.param(Case(
        reason="Another claim apiVersion (ipam.claimApiVersion) keeps the service-lb claims.",
        finding="service-lb review 2",
        xr=xr(), observed=LB3, store=(*LB_WORLD, *LB3_STORE), inp=CLAIM_API_V1BETA2,
        want=Want(fatal=None, desired=("vip-claim-service-lb-0",))),
        id="another-claim-api-version-keeps-the-claims"),
    pytest.param(Case(
        reason="Another claim apiVersion keeps the claims of a class that lost the variable.",
        finding="service-lb review 2",
        xr=xr(), observed=LB2, store=(*STORE, *LB_WORLD[1:], *LB2_STORE), inp=CLAIM_API_V1BETA2,
        want=Want(fatal=None, desired=("vip-claim-service-lb-0",))),
        id="another-claim-api-version-keeps-the-claims-of-a-class-without-the-variable"),
]


@pytest.mark.parametrize("case", WHERE_CLAIMS_ARE_MADE)
def test_where_service_lb_claims_are_made(case):
    expect(run_case(case), case.want)


THEIR_CLAIM = {"apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddressClaim",
               "metadata": {"name": "egress-c1", "namespace": "team-a", "labels": {"team": "net"}},
               "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "GlobalInClusterIPPool", "name": "egress"}}}
THEIR_USAGE = {"apiVersion": "protection.crossplane.io/v1beta1", "kind": "Usage",
               "metadata": {"name": "keep-db", "namespace": "team-a"},
               "spec": {"of": {"apiVersion": "v1", "kind": "Secret", "resourceRef": {"name": "db"}}, "replayDeletion": True}}
EARLIER_XR = {"apiVersion": "platform.example.org/v1alpha1", "kind": "WorkloadCluster", "name": "c1",
              "uid": "earlier-1", "controller": True}
EARLIER_XRS_CLAIM = observed_claim("vip-lb-c1-0", pool_name="lb-pool", role="service-lb")
EARLIER_XRS_CLAIM["metadata"]["ownerReferences"] = [EARLIER_XR]
EARLIER_XRS_CLAIM["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"  # the old Cluster's Usage / IPAM holds it
BOUND, BOUND_STORE = bound()

NOT_OURS = [
    pytest.param(Case(
        reason="Another step's claim under a service-lb name is left to it where the role is not used: not rewritten, "
               "no ServiceLBVIPsReady, no warning.",
        finding="service-lb review, #2",
        xr=xr(), observed={**LIVE, "vip-claim-service-lb-0": observed_claim("egress-c1", pool_name="egress", role="egress")},
        store=(*STORE, *LIVE_STORE), transport=earlier_step_wrote("vip-claim-service-lb-0", THEIR_CLAIM),
        want=Want(at={("desired", "vip-claim-service-lb-0"): THEIR_CLAIM}, no_conditions=("ServiceLBVIPsReady",),
                  warning_reasons=())),
        id="another-steps-claim-is-left-to-it"),
    pytest.param(Case(
        reason="Another step's Usage under a service-lb name is never dropped from desired state (Crossplane would "
               "delete it).",
        finding="service-lb review, #6",
        xr=xr(annotations={COUNT: "0"}), observed={**LIVE, "vip-usage-service-lb-0": copy.deepcopy(THEIR_USAGE)},
        store=(*STORE, *LIVE_STORE), transport=earlier_step_wrote("vip-usage-service-lb-0", THEIR_USAGE),
        want=Want(at={("desired", "vip-usage-service-lb-0"): THEIR_USAGE})),
        id="another-steps-usage-is-never-deleted"),
    pytest.param(Case(
        reason="A service-lb claim of an earlier XR of the same name is not composed over (it would get a second "
               "controller).",
        finding="service-lb review, #8",
        xr=xr(annotations={COUNT: "1"}), observed=BOUND,
        store=(*LB_WORLD, EARLIER_XRS_CLAIM, ip_address("vip-lb-c1-0", "10.0.2.10", pool_name="lb-pool"), *BOUND_STORE),
        want=Want(not_desired=("vip-claim-service-lb-0",))),
        id="an-earlier-xrs-claim-of-the-same-name-is-not-composed-over"),
]


@pytest.mark.parametrize("case", NOT_OURS)
def test_what_is_not_ours_under_a_service_lb_name_is_left_alone(case):
    expect(run_case(case), case.want)


THE_RECORD = [
    pytest.param(Case(
        reason="The status records which claim holds which address.",
        finding="service-lb review 2",
        xr=xr(annotations={COUNT: "2"}), observed=LB2, store=(*LB_WORLD, *LB2_STORE),
        want=Want(status={"serviceLb": RECORD})),
        id="the-status-records-which-claim-holds-which-address"),
    pytest.param(Case(
        reason="While the class cannot be read the claims are held, and the address record stays.",
        finding="service-lb review 3",
        xr=with_status(xr(annotations={COUNT: "2"}), {"serviceLb": RECORD}), observed=LB2,
        store=(*STORE[1:], LB_POOL, *LB2_STORE),
        want=Want(desired=("vip-claim-service-lb-0",), status={"serviceLb": RECORD})),
        id="while-the-class-is-unread-the-record-stays"),
    pytest.param(Case(
        reason="With the XR's own list, a held claim's address record stays (the one whose address is read).",
        finding="service-lb review 3",
        xr=with_status(xr(annotations={COUNT: "2"}, variables=[{"name": "serviceLbVips", "value": ["10.0.2.99"]}]),
                       {"serviceLb": RECORD}),
        observed=LB2, store=(*LB_WORLD, *store_without(LB2_STORE, "vip-lb-c1-0")),
        want=Want(desired=("vip-claim-service-lb-0",), status={"serviceLb": "0=10.0.2.10"})),
        id="with-the-xrs-own-list-a-held-claims-record-stays"),
]


@pytest.mark.parametrize("case", THE_RECORD)
def test_the_service_lb_address_record(case):
    expect(run_case(case), case.want)


OVER_RECONCILES = [
    pytest.param(Scenario(
        reason="Two clusters never list one address while an address is unread: c1 lowers its count with index 0's "
               "address unanswered, the released claim is gone, and c2's claims get other addresses.",
        finding="service-lb review, #1",
        objects=LB_WORLD,
        steps=(Settle(xr("c1", annotations={COUNT: "2"}), 6, status="as-written", then=Want(lists={"c1": LISTED2})),
               Settle(xr("c1", annotations={COUNT: "1"}), 4, status="as-written", drop=frozenset({"address/service-lb-0"}),
                      then=Want(gone=(("IPAddressClaim", "vip-lb-c1-1"),))),
               Settle(xr("c2"), 6, status="as-written", then=Want(lists_disjoint=("c1", "c2"))))),
        id="two-clusters-never-list-one-address"),
    pytest.param(Scenario(
        reason="A claim in a full pool is not stuck while another pool has room: the Cluster lists both addresses.",
        finding="service-lb review, #4",
        objects=(*LB_WORLD, SMALL_POOL),
        steps=(Settle(xr("c1", annotations={COUNT: "2"}), 8, status="as-written", then=Want(list_len={"c1": 2})),)),
        id="a-claim-in-a-full-pool-is-not-stuck"),
]


@pytest.mark.parametrize("scenario", OVER_RECONCILES)
def test_service_lb_over_reconciles(scenario):
    play(scenario)


@dataclasses.dataclass(frozen=True)
class SimCase:
    """The simulator (tests/sim.py) with a service-lb fleet, XR c1 of class alpha settled ``seconds``.

    listed: how many addresses c1 lists once settled; tamper: an address appended to c1's list by hand, then the
    claims are checked and the fleet audited; want: "flagged" (a violation), or "listed-or-flagged" (c1 lists
    ``listed`` addresses, or a violation)."""

    reason: str
    finding: str
    seconds: float
    listed: int
    want: str
    pools: tuple = ()
    tamper: str | None = None


def _sim_list(sim, name):
    c = sim.find("Cluster", name, "team-a")
    return next((v["value"] for v in c["spec"]["topology"].get("variables", []) if v["name"] == "serviceLbVips"), None)


SIMULATED = [
    pytest.param(SimCase(
        reason="A service-lb claim stuck in a one-address pool is flagged after settling (or c1 lists both).",
        finding="service-lb review, #7",
        pools=(pool("alpha-lb-small", "alpha", "service-lb", kind="InClusterIPPool", namespace="team-a",
                    addresses=("10.9.1.10",), gateway="10.9.1.1"),),
        seconds=900, listed=2, want="listed-or-flagged"),
        id="a-stuck-claim-is-flagged"),
    pytest.param(SimCase(
        reason="check_claims_serve flags a listed address no claim of the XR holds (an address IPAM may hand to "
               "another cluster).",
        finding="service-lb review, #7",
        seconds=600, listed=2, tamper="10.0.32.200", want="flagged"),
        id="a-listed-address-no-claim-holds-is-flagged"),
]


@pytest.mark.parametrize("case", SIMULATED)
def test_the_simulator_flags_a_service_lb_defect(case):
    from tests import edits
    from tests.sim import Sim

    sim = Sim(seed=1, inp=edits.SERVICE_LB)
    edits.fleet(sim, classes=("alpha",), service_lb=True)
    sim.add(*case.pools)
    sim.crossplane.create_xr(xr("c1", "team-a", "alpha"))  # defaultCount 2
    sim.settle(case.seconds)
    if case.tamper:
        assert len(_sim_list(sim, "c1")) == case.listed
        _sim_list(sim, "c1").append(case.tamper)
        sim.check_claims_serve()
        sim.audit()
    else:
        sim.check_claims_serve()
    if case.want == "flagged":
        assert sim.violations
    else:
        assert len(_sim_list(sim, "c1")) == case.listed or sim.violations, (_sim_list(sim, "c1"), sim.violations)
