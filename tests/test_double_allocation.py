"""An address the provider handed out twice goes onto no Cluster (function/double_allocation.py): before a bound
address is first placed, its pool's IPAddresses are listed; a claim whose address another IPAddress of the pool holds
is released and made again; an address a live Cluster carries is never checked, so never moved."""

import pytest

from tests.cases import COUNT, LB_WORLD, Case, Want, expect, lb_claims, run_case, with_lb, with_list, with_status
from tests.fixtures import CC, CP_POOL, ING_POOL, STORE, bound, live, world
from tests.harness import CP_CLAIM, INGRESS_CLAIM, ip_address, observed_claim, observed_cluster, pool, run, xr

BOUND, BOUND_STORE = bound()
LIVE, LIVE_STORE = live()
# The in-cluster provider's cache lagging after an API server outage: another claim's IPAddress, in another namespace,
# of the same GlobalInClusterIPPool, holds the same address.
CP_TWIN = ip_address("vip-cp-c2", "10.0.0.10", namespace="team-b")
ING_TWIN = ip_address("vip-ingress-c2", "10.0.1.10", namespace="team-b", pool_name="ing-pool")
TEAM_POOL = pool("team-pool", kind="InClusterIPPool", namespace="team-a", free=9, total=11)
# Both claims bound (the lists are asked for once the Cluster could be composed), the control plane's of a namespaced pool.
NAMESPACED = {CP_CLAIM: observed_claim("vip-cp-c1", pool_name="team-pool", kind="InClusterIPPool"),
              INGRESS_CLAIM: observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress")}
NAMESPACED_STORE = (CC, TEAM_POOL, ING_POOL, ip_address("vip-cp-c1", "10.0.0.10", pool_name="team-pool", kind="InClusterIPPool"),
                    ip_address("vip-ingress-c1", "10.0.1.10", pool_name="ing-pool"))
# A converged XR (no ingress) whose new ingress claim is bound to an address another IPAddress holds.
CP_ONLY, CP_ONLY_STORE = live(ingress=None)
INGRESS_ADDED = {**CP_ONLY, INGRESS_CLAIM: observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress")}
INGRESS_ADDED_STORE = (*STORE, *CP_ONLY_STORE, ip_address("vip-ingress-c1", "10.0.1.10", pool_name="ing-pool"))
LB2, LB2_STORE = with_lb(*live(), lb_claims(2))
LB_TWIN = ip_address("vip-lb-c2-0", "10.0.2.11", namespace="team-b", pool_name="lb-pool")

CASES = [
    pytest.param(Case(
        reason="A control-plane address another IPAddress of the pool holds goes onto no Cluster: the Cluster is not "
               "composed, the claim is released (made again once gone), and the warning names both IPAddresses.",
        finding="fault suite: kube-apiserver stopped for 30 s, two new XRs' claims bound to one address",
        xr=xr(), observed=BOUND, store=(*STORE, *BOUND_STORE, CP_TWIN),
        want=Want(composed=False, not_desired=(CP_CLAIM,), reasons={"ControlPlaneVIPReady": "Conflict"},
                  warned=(("Conflict", "IPAddressClaim team-a/vip-cp-c1 is bound to 10.0.0.10, which IPAddress "
                                       "team-b/vip-cp-c2 of GlobalInClusterIPPool cp-pool holds too"),))),
        id="a-control-plane-address-held-twice-is-not-placed"),
    pytest.param(Case(
        reason="An ingress address held twice holds the new Cluster back as a claim still binding does, and is "
               "released.",
        finding="fault suite: kube-apiserver stopped for 30 s (the ingress pool, in another run)",
        xr=xr(), observed=BOUND, store=(*STORE, *BOUND_STORE, ING_TWIN),
        want=Want(composed=False, desired=(CP_CLAIM,), not_desired=(INGRESS_CLAIM,),
                  reasons={"IngressVIPReady": "Conflict", "ControlPlaneVIPReady": "Allocated"})),
        id="an-ingress-address-held-twice-is-not-placed"),
    pytest.param(Case(
        reason="The same address in another pool is the platform's choice (an overlapping range on another "
               "network): the Cluster is composed.",
        finding="fault suite: kube-apiserver stopped for 30 s",
        xr=xr(), observed=BOUND,
        store=(*STORE, *BOUND_STORE, ip_address("vip-cp-c2", "10.0.0.10", namespace="team-b", pool_name="other-pool")),
        want=Want(host="10.0.0.10", desired=(CP_CLAIM, INGRESS_CLAIM), warning_reasons=())),
        id="the-same-address-in-another-pool-is-no-double-allocation"),
    pytest.param(Case(
        reason="Until Crossplane has listed the pool's IPAddresses, the claim is held as it is and no Cluster is "
               "composed.",
        finding="fault suite: kube-apiserver stopped for 30 s",
        xr=xr(), observed=BOUND, store=(*STORE, *BOUND_STORE), drop=frozenset({"ipaddresses"}),
        want=Want(composed=False, desired=(CP_CLAIM, INGRESS_CLAIM), reasons={"ControlPlaneVIPReady": "WaitingForAddress"},
                  warning_reasons=())),
        id="an-address-not-listed-yet-waits"),
    pytest.param(Case(
        reason="An address the live Cluster carries stays, whatever else holds it: a live endpoint never moves, and no "
               "list is asked for.",
        finding="fault suite: kube-apiserver stopped for 30 s",
        xr=xr(), observed=LIVE, store=(*STORE, *LIVE_STORE, CP_TWIN, ING_TWIN),
        want=Want(host="10.0.0.10", annotation="10.0.1.10", desired=(CP_CLAIM, INGRESS_CLAIM), warning_reasons=())),
        id="an-address-the-live-cluster-carries-stays"),
    pytest.param(Case(
        reason="A live Cluster keeps what it serves while an ingress address held twice is released, not added.",
        finding="fault suite: kube-apiserver stopped for 30 s",
        xr=xr(), observed=INGRESS_ADDED, store=(*INGRESS_ADDED_STORE, ING_TWIN),
        want=Want(host="10.0.0.10", annotation=None, not_desired=(INGRESS_CLAIM,), reasons={"IngressVIPReady": "Conflict"})),
        id="an-ingress-address-held-twice-is-not-added-to-a-live-cluster"),
    pytest.param(Case(
        reason="A namespaced pool's claims and addresses are in its namespace: an IPAddress of a pool of the same name "
               "in another namespace holds another address.",
        finding="fault suite: kube-apiserver stopped for 30 s",
        xr=xr(), observed=NAMESPACED,
        store=(*NAMESPACED_STORE,
               ip_address("vip-cp-c2", "10.0.0.10", namespace="team-b", pool_name="team-pool", kind="InClusterIPPool")),
        want=Want(desired=(CP_CLAIM,), reasons={"ControlPlaneVIPReady": "Allocated"}, warning_reasons=())),
        id="a-namespaced-pools-twin-is-in-its-own-namespace-only"),
    pytest.param(Case(
        reason="A service-lb address held twice is not listed on the Cluster, and its claim is released.",
        finding="fault suite: kube-apiserver stopped for 30 s",
        xr=xr(annotations={COUNT: "2"}), observed=with_list(LB2, ["10.0.2.10"]), store=(*LB_WORLD, *LB2_STORE, LB_TWIN),
        want=Want(listed=["10.0.2.10"], not_desired=("vip-claim-service-lb-1",), desired=("vip-claim-service-lb-0",),
                  warned=(("Conflict", "which IPAddress team-b/vip-lb-c2-0 of GlobalInClusterIPPool lb-pool holds too"),))),
        id="a-service-lb-address-held-twice-is-not-listed"),
]


# Two service-lb claims of the XR bound to one address: the first is listed, the second is not.
LB_SAME = with_list(with_lb(*live(), lb_claims(1))[0], ["10.0.2.10"])
LB_SAME["vip-claim-service-lb-1"] = observed_claim("vip-lb-c1-1", pool_name="lb-pool", role="service-lb")
LB_SAME_STORE = (*LB_WORLD, *with_lb(*live(), lb_claims(1))[1], ip_address("vip-lb-c1-1", "10.0.2.10", pool_name="lb-pool"))
ONLY_INPUT = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "ipam": {"poolKinds": [
    {"apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool", "namespaced": True}]}}
CP_ONLY_BOUND, CP_ONLY_BOUND_STORE = bound(ingress=None)
INGRESS_OFF = {"vip.capi.gorizond.io/ingress-enabled": "false"}
FOUND_CLUSTER = observed_cluster(host="10.0.0.10")  # of the XR's name, not observed yet: to be adopted

CASES += [
    pytest.param(Case(
        reason="Two service-lb claims of one XR bound to one address: the one listed on the live Cluster stays, the "
               "other is released (the first one's IPAddress keeps the address used), not listed twice.",
        finding="adversarial review of the double-allocation check, F1",
        xr=xr(annotations={COUNT: "2"}), observed=LB_SAME, store=LB_SAME_STORE,
        want=Want(listed=["10.0.2.10"], desired=("vip-claim-service-lb-0",), not_desired=("vip-claim-service-lb-1",),
                  reasons={"ServiceLBVIPsReady": "WaitingForAddress"})),
        id="a-second-service-lb-claim-on-the-first-ones-address-goes"),
    pytest.param(Case(
        reason="An endpoint the XR sets itself is the user's, placed as any manual value is, even where the claim "
               "holding it has a twin.",
        finding="adversarial review of the double-allocation check, F2",
        xr=xr(cluster={"controlPlaneEndpoint": {"host": "10.0.0.10", "port": 6443},
                       "topology": {"class": "cc", "version": "v1.31.0"}}, annotations=INGRESS_OFF),
        observed=CP_ONLY_BOUND, store=(*STORE, *CP_ONLY_BOUND_STORE, CP_TWIN),
        want=Want(host="10.0.0.10", desired=(CP_CLAIM,), warning_reasons=())),
        id="an-endpoint-the-xr-sets-itself-is-placed"),
    pytest.param(Case(
        reason="A claim of a pool kind the Input does not name is checked against every namespace's IPAddresses.",
        finding="adversarial review of the double-allocation check, T1",
        xr=xr(annotations=INGRESS_OFF), observed=CP_ONLY_BOUND, store=(*STORE, *CP_ONLY_BOUND_STORE, CP_TWIN),
        inp=ONLY_INPUT, want=Want(composed=False, not_desired=(CP_CLAIM,), reasons={"ControlPlaneVIPReady": "Conflict"})),
        id="a-pool-kind-not-named-is-listed-everywhere"),
    pytest.param(Case(
        reason="Until Crossplane has said whether a Cluster of the XR's name exists (one to adopt may carry the "
               "address), nothing is released for a twin.",
        finding="adversarial review of the double-allocation check, T2",
        xr=xr(annotations=INGRESS_OFF), observed=CP_ONLY_BOUND,
        store=(*STORE, *CP_ONLY_BOUND_STORE, CP_TWIN, FOUND_CLUSTER), drop=frozenset({"existing/cluster"}),
        want=Want(composed=False, desired=(CP_CLAIM,), warning_reasons=())),
        id="nothing-is-released-before-crossplane-says-whether-a-cluster-exists"),
    pytest.param(Case(
        reason="A Cluster of the XR's name found existing and carrying the address is adopted with it; its twin "
               "elsewhere is not this claim's to answer for.",
        finding="adversarial review of the double-allocation check, T2",
        xr=xr(annotations=INGRESS_OFF), observed=CP_ONLY_BOUND,
        store=(*STORE, *CP_ONLY_BOUND_STORE, CP_TWIN, FOUND_CLUSTER),
        want=Want(host="10.0.0.10", desired=(CP_CLAIM,))),
        id="a-cluster-found-existing-keeps-its-address"),
]

INGRESS_ON_LIST = with_list({**CP_ONLY, INGRESS_CLAIM: observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress")},
                            ["10.0.1.10"])

CASES += [
    pytest.param(Case(
        reason="Of two service-lb claims of one XR on one address, the one the XR's status records with it keeps it, "
               "whatever its index; the other goes.",
        finding="second adversarial review of the double-allocation check, 1",
        xr=with_status(xr(annotations={COUNT: "2"}), {"serviceLb": "1=10.0.2.10"}), observed=LB_SAME, store=LB_SAME_STORE,
        want=Want(listed=["10.0.2.10"], desired=("vip-claim-service-lb-1",), not_desired=("vip-claim-service-lb-0",))),
        id="the-recorded-service-lb-claim-keeps-the-address"),
    pytest.param(Case(
        reason="The count lowered while two service-lb claims hold one address: the one above the count goes at once "
               "(the kept one's IPAddress keeps the address used), and the address stays listed as the kept one's.",
        finding="second adversarial review of the double-allocation check, 1",
        xr=xr(annotations={COUNT: "1"}), observed=LB_SAME, store=LB_SAME_STORE,
        want=Want(listed=["10.0.2.10"], desired=("vip-claim-service-lb-0",), not_desired=("vip-claim-service-lb-1",))),
        id="a-lowered-count-lets-the-twin-above-it-go-at-once"),
    pytest.param(Case(
        reason="A value the XR sets for another role is no placement of this claim's address: it is checked; kept, as "
               "the XR names it, with one Conflict warning that says where, and on no Cluster.",
        finding="second adversarial review of the double-allocation check, 2",
        xr=xr(annotations={"vip.capi.gorizond.io/ingress-vip": "10.0.0.10"}), observed=CP_ONLY_BOUND,
        store=(*STORE, *CP_ONLY_BOUND_STORE, CP_TWIN),
        want=Want(composed=False, desired=(CP_CLAIM,), reasons={"ControlPlaneVIPReady": "Conflict"},
                  warning_reasons=("Conflict",),
                  condition_message_has={"ControlPlaneVIPReady": ("stays claimed while the XR names the address",)})),
        id="a-value-the-xr-sets-for-another-role-is-no-placement"),
    pytest.param(Case(
        reason="An address the live Cluster carries in another place (its service-lb list) is no placement of a new "
               "ingress claim's: it is checked, and the ingress VIP not added.",
        finding="second adversarial review of the double-allocation check, 3",
        xr=xr(), observed=INGRESS_ON_LIST, store=(*LB_WORLD, *CP_ONLY_STORE,
                                                  ip_address("vip-ingress-c1", "10.0.1.10", pool_name="ing-pool"), ING_TWIN),
        want=Want(host="10.0.0.10", annotation=None, reasons={"IngressVIPReady": "Conflict"})),
        id="another-place-on-the-live-cluster-is-no-placement"),
]


@pytest.mark.parametrize("case", CASES)
def test_an_address_held_twice(case):
    expect(run_case(case), case.want)


def test_a_converged_xr_asks_for_no_list_of_addresses():
    out = run(xr(), LIVE, [*STORE, *LIVE_STORE])
    assert not [name for name in out.requirements if name.startswith("ipaddresses")]


def lists(out) -> list[str]:
    return [name for name in out.requirements if name.startswith("ipaddresses")]


def test_the_pools_addresses_are_asked_for_only_once_the_cluster_can_be_composed():
    # Asked for, Crossplane watches every IPAddress of the pool (for a GlobalInClusterIPPool, of every namespace) for
    # the XR, and their events cost its watch circuit breaker: not while the Cluster waits for something else.
    cp_only = {CP_CLAIM: BOUND[CP_CLAIM]}
    waiting_for_ingress = run(xr(), cp_only, [*STORE, *BOUND_STORE])
    assert lists(waiting_for_ingress) == [] and waiting_for_ingress.cluster is None
    assert waiting_for_ingress.conditions["ControlPlaneVIPReady"][1:] == (
        "WaitingForAddress", "IPAddressClaim team-a/vip-cp-c1 is bound to 10.0.0.10; it goes onto the Cluster once the "
        "Cluster can take it and GlobalInClusterIPPool cp-pool's IPAddresses show no other claim holds it")
    no_class = run(xr(), BOUND, [CP_POOL, ING_POOL, *BOUND_STORE])
    assert lists(no_class) == [] and no_class.reason("ControlPlaneVIPReady") == "ClusterClassNotFound"
    both_bound = run(xr(), BOUND, [*STORE, *BOUND_STORE])
    assert lists(both_bound) == ["ipaddresses"] and both_bound.cluster is not None


def test_lists_crossplane_sends_unasked_place_nothing_and_release_nothing_while_the_cluster_waits():
    # Crossplane v2.4 sends the last reconcile's requirements with the first call: the pool's list shows a twin of
    # the bound control-plane address while the ingress claim still binds. The answer that asks for no list is
    # the one applied, as a fresh reconcile gives it: the claim is held, released only once the list is asked for.
    seeded = run(xr(), BOUND, [*STORE, *BOUND_STORE]).requirements
    cp_only = {CP_CLAIM: BOUND[CP_CLAIM]}
    out = run(xr(), cp_only, [*STORE, *BOUND_STORE, CP_TWIN], seeded=seeded)
    fresh = run(xr(), cp_only, [*STORE, *BOUND_STORE, CP_TWIN])
    assert CP_CLAIM in out.desired and lists(out) == [] and out.warnings == [] and out.cluster is None
    assert (out.desired, out.conditions, out.status, lists(out)) == (fresh.desired, fresh.conditions, fresh.status, lists(fresh))
    both = run(xr(), BOUND, [*STORE, *BOUND_STORE, CP_TWIN], seeded=seeded)
    assert CP_CLAIM not in both.desired and both.reason("ControlPlaneVIPReady") == "Conflict"


def test_before_crossplane_v2_2_every_namespace_is_listed_and_a_namespaced_pools_twin_is_still_its_own_namespaces():
    store = [*NAMESPACED_STORE,
             ip_address("vip-cp-c2", "10.0.0.10", namespace="team-b", pool_name="team-pool", kind="InClusterIPPool")]
    out = run(xr(), NAMESPACED, store, modern=False)
    assert out.conditions["ControlPlaneVIPReady"][1] == "Allocated"


def test_a_namespaced_pools_addresses_are_listed_in_its_namespace_and_a_global_pools_in_every_one():
    namespaced = run(xr(), NAMESPACED, list(NAMESPACED_STORE)).requirements
    assert namespaced["ipaddresses/team-a"].namespace == "team-a"
    everywhere = run(xr(), BOUND, [*STORE, *BOUND_STORE]).requirements["ipaddresses"]
    assert not everywhere.HasField("namespace")
    assert everywhere.kind == "IPAddress" and dict(everywhere.match_labels.labels) == {}


def test_a_claim_released_for_a_twin_is_made_again_and_its_cluster_composed_on_another_address():
    w = world(CP_TWIN)
    w.reconcile(xr())  # the claims are made
    claim = w.get("IPAddressClaim", "vip-cp-c1", "team-a")
    claim["status"] = {"addressRef": {"name": "vip-cp-c1"}}  # the provider, its cache lagging: the twin's address
    w.add(ip_address("vip-cp-c1", "10.0.0.10"))
    outs = w.settle(xr(), rounds=6)
    assert all(o.cluster is None or o.cluster["spec"]["controlPlaneEndpoint"]["host"] != "10.0.0.10" for o in outs)
    assert outs[-1].cluster is not None
    assert outs[-1].cluster["spec"]["controlPlaneEndpoint"]["host"] == w.get("IPAddress", "vip-cp-c1", "team-a")["spec"]["address"]
