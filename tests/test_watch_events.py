"""Few watch events per XR, and progress that never waits on one.

Crossplane v2.4 re-runs an XR on every change of what it composes or requires, and counts those
watch events against the XR's circuit breaker (100 at once, 1 a second after; an update counts
twice). While the breaker is open it drops them, a user's edit of the XR among them. So the function
asks to watch only what can move it on, says the same while nothing changes, and keeps the XR on
the waiting TTL while Crossplane says it drops its events.
"""

from datetime import datetime

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn
from function.allocation import BINDING
from tests.fixtures import CC, CP_POOL, STORE, bound, live
from tests.harness import CP_CLAIM, INGRESS_CLAIM, cluster_class, observed_claim, observed_cluster, pool, run, xr
from tests.test_usage import with_usages

CREATED = datetime.fromisoformat("2026-01-01T00:00:00Z").timestamp()  # the observed claims' creationTimestamp
OFF = {"vip.capi.gorizond.io/ingress-enabled": "false"}
COUNT = "vip.capi.gorizond.io/service-lb-count"


def at(seconds: float):
    """The function, its clock `seconds` after the observed claims were made."""
    return lambda req: fn.run(req, now=CREATED + seconds)


def breaker(status: str, reason: str) -> dict:
    return {"conditions": [{"type": "Responsive", "status": status, "reason": reason,
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}]}


def pool_requirements(out) -> set[str]:
    return {name for name in out.requirements if name.startswith("pools/")}


# --- the TTL: progress never waits on a watch event ---------------------------------------


def test_a_converged_xr_whose_watch_events_crossplane_drops_is_reconciled_at_the_waiting_ttl():
    observed, store = live()
    composite = xr()
    composite["status"] = breaker("False", "WatchCircuitOpen")  # since CREATED
    out = run(composite, observed, [*STORE, *store], transport=at(60))
    assert out.reason("ControlPlaneVIPReady") == "Allocated" and out.ttl == 15


def test_a_converged_xr_goes_back_to_the_converged_ttl_once_crossplanes_cooldown_is_long_over():
    # The condition stays False until an event after the cooldown (5 minutes by default) closes the
    # breaker; a quiet XR has none, so it is not kept on the waiting TTL for good.
    observed, store = live()
    composite = xr()
    composite["status"] = breaker("False", "WatchCircuitOpen")
    out = run(composite, observed, [*STORE, *store], transport=at(11 * 60))
    assert out.ttl == 20 * 60


@pytest.mark.parametrize("status, reason", [("True", "WatchCircuitClosed"), ("False", "SomethingElse")])
def test_a_converged_xr_whose_events_reach_it_waits_the_converged_ttl(status, reason):
    observed, store = live()
    composite = xr()
    composite["status"] = breaker(status, reason)
    out = run(composite, observed, [*STORE, *store])
    assert out.ttl == 20 * 60


# --- what is watched: a pool changes with every address it hands out ---------------------


def test_a_claim_ipam_is_still_binding_watches_no_pool():
    observed = {CP_CLAIM: observed_claim("vip-cp-c1", bound=False)}
    out = run(xr(annotations=OFF), observed, STORE, transport=at(3))
    assert pool_requirements(out) == set()
    assert out.conditions["ControlPlaneVIPReady"] == (
        False, "WaitingForAddress", "IPAddressClaim team-a/vip-cp-c1 waits for GlobalInClusterIPPool cp-pool to allocate an address")
    assert out.ttl == 15  # looked at again at the waiting TTL; with its pools once it has had BINDING to bind


def test_a_claim_queued_behind_a_burst_of_clusters_still_watches_no_pool():
    # IPAM binds one claim at a time: 100 clusters created together queue 200 claims for about 40 s
    observed = {CP_CLAIM: observed_claim("vip-cp-c1", bound=False)}
    out = run(xr(annotations=OFF), observed, STORE, transport=at(BINDING - 4))
    assert pool_requirements(out) == set() and not out.rsp.results


def test_a_claim_still_unbound_after_binding_is_read_with_its_pools():
    observed = {CP_CLAIM: observed_claim("vip-cp-c1", pool_name="gone", bound=False)}
    out = run(xr(annotations=OFF), observed, STORE, transport=at(BINDING + 2))
    assert "pools/control-plane/claimed" in pool_requirements(out)
    assert out.normals == [("Released", "control-plane VIP of IPAddressClaim team-a/vip-cp-c1 released: moving to "
                                        "GlobalInClusterIPPool cp-pool, which has room")]
    assert CP_CLAIM not in out.desired  # made again from cp-pool once it is gone


def test_a_claim_whose_pool_is_gone_is_waited_for_while_ipam_may_still_be_binding_it():
    observed = {CP_CLAIM: observed_claim("vip-cp-c1", pool_name="gone", bound=False)}
    out = run(xr(annotations=OFF), observed, STORE, transport=at(3))
    assert not out.rsp.results
    assert CP_CLAIM in out.desired and out.reason("ControlPlaneVIPReady") == "WaitingForAddress"


def test_a_service_lb_claim_ipam_is_still_binding_watches_no_pool():
    observed, store = live(ingress=None)
    observed["vip-claim-service-lb-0"] = observed_claim("vip-lb-c1-0", pool_name="lb-pool", role="service-lb", bound=False)
    lb_pool = {**CP_POOL, "metadata": {**CP_POOL["metadata"], "name": "lb-pool",
                                       "labels": {**CP_POOL["metadata"]["labels"], "vip.capi.gorizond.io/role": "service-lb"}}}
    cls = cluster_class(variables=("clusterVip", "serviceLbVips"))
    out = run(xr(annotations={**OFF, COUNT: "1"}), observed, [cls, CP_POOL, lb_pool, *store], transport=at(3))
    assert pool_requirements(out) == set()
    later = run(xr(annotations={**OFF, COUNT: "1"}), observed, [cls, CP_POOL, lb_pool, *store], transport=at(BINDING + 2))
    assert pool_requirements(later)


# --- what is said: the same while nothing changes -----------------------------------------


def test_a_claim_made_and_the_same_claim_observed_unbound_say_the_same():
    made = run(xr(annotations=OFF), {}, STORE)
    observed = {CP_CLAIM: observed_claim("vip-cp-c1", bound=False)}
    waiting = run(xr(annotations=OFF), observed, STORE, transport=at(3))
    assert made.conditions["ControlPlaneVIPReady"] == waiting.conditions["ControlPlaneVIPReady"]


def test_a_bound_claim_says_the_same_before_and_after_its_cluster_is_observed():
    observed, store = bound()
    before = run(xr(), observed, [*STORE, *store])
    observed, store = live()
    after = run(xr(), observed, [*STORE, *store])
    assert before.cluster is not None
    assert before.conditions["ControlPlaneVIPReady"] == after.conditions["ControlPlaneVIPReady"] == (
        True, "Allocated", "control-plane VIP 10.0.0.10 from IPAddressClaim team-a/vip-cp-c1")
    assert before.conditions["IngressVIPReady"] == after.conditions["IngressVIPReady"]


# --- while a claim binds, and no longer ---------------------------------------------------

LONG_WAIT = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "ttl": {"waiting": "24h", "converged": "24h"}}


def young_ingress_claim(pool_state: str):
    """A bound control-plane claim and an ingress claim IPAM has not bound, whose pool ran out of addresses
    ("full": n XRs chose it together from its status) or was deleted ("gone") after the claim was made."""
    observed, store = bound(ingress=None)
    observed[INGRESS_CLAIM] = observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress", bound=False)
    if pool_state == "full":
        store.append(pool("ing-pool", role="ingress", free=0, total=11, addresses=("10.0.1.10-10.0.1.20",),
                          gateway="10.0.1.1"))
    return observed, [CC, CP_POOL, *store]


@pytest.mark.parametrize("pool_state", ["full", "gone"])
def test_an_ingress_pool_that_cannot_serve_holds_a_new_cluster_back_only_while_its_claim_may_still_bind(pool_state):
    observed, store = young_ingress_claim(pool_state)
    binding = run(xr(), observed, store, transport=at(5))
    assert binding.cluster is None and binding.ttl == 15 and not binding.warnings
    still = run(xr(), observed, store, transport=at(BINDING - 4))
    assert still.cluster is None and not still.warnings
    later = run(xr(), observed, store, transport=at(BINDING + 2))  # the first reconcile after BINDING
    assert later.cluster is not None and later.reason("IngressVIPReady") in ("PoolNotFound", "PoolExhausted")
    assert [r for r, _ in later.warnings] == [later.reason("IngressVIPReady")]


def test_a_long_waiting_ttl_gives_a_claim_no_longer_to_bind():
    observed, store = young_ingress_claim("gone")
    out = run(xr(), observed, store, inp=LONG_WAIT, transport=at(BINDING + 2))
    assert out.cluster is not None and out.reason("IngressVIPReady") == "PoolNotFound"


def test_a_claim_made_in_the_future_of_the_functions_clock_is_binding():
    # the function's clock a second behind the API server's: the claim is a moment old, not read with its pools
    observed = {CP_CLAIM: observed_claim("vip-cp-c1", bound=False)}
    out = run(xr(annotations=OFF), observed, STORE, transport=at(-1))
    assert pool_requirements(out) == set()


def test_claims_turning_old_between_the_calls_of_one_reconcile_change_its_requirements_once():
    # Seven service-lb claims made a second apart, and a reconcile whose calls are a second apart (slow
    # fetches): on a 2-second grid, every call of it sees the same claims binding but for one crossing.
    observed, store = live()
    for i in range(7):
        claim = observed_claim(f"vip-lb-c1-{i}", pool_name="lb-pool", role="service-lb", bound=False)
        claim["metadata"]["creationTimestamp"] = f"2026-01-01T00:00:0{i}Z"
        observed[f"vip-claim-service-lb-{i}"] = claim
    calls = []

    def transport(req):
        calls.append(req)
        return fn.run(req, now=CREATED + BINDING + len(calls))

    lb_class = cluster_class(variables=("clusterVip", "ingressVip", "serviceLbVips"))
    lb_pool = pool("lb-pool", role="service-lb", free=20, total=21, addresses=("10.0.2.10-10.0.2.30",), gateway="10.0.2.1")
    out = run(xr(annotations={COUNT: "7"}), observed, [lb_class, *STORE[1:], lb_pool, *store], transport=transport)
    assert out.calls <= 4


def test_a_live_vip_its_claim_does_not_hold_is_told_on_the_cluster_not_as_the_claims():
    observed, store = live()  # vip-cp-c1 holds 10.0.0.10
    observed["cluster"] = observed_cluster(host="10.0.0.15", variables={"clusterVip": "10.0.0.15", "ingressVip": "10.0.1.10"},
                                           ingress="10.0.1.10")  # edited by hand
    out = run(xr(), observed, [*STORE, *store])
    assert out.conditions["ControlPlaneVIPReady"] == (True, "Allocated", "control-plane VIP 10.0.0.15 on Cluster team-a/c1")
    assert "AddressMismatch" in [r for r, _ in out.warnings]


def test_a_dns_name_endpoint_beside_the_claims_vip_is_told_as_the_claims_vip():
    observed, store = live()
    observed["cluster"] = observed_cluster(host="api.example.org", variables={"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10"},
                                           ingress="10.0.1.10")
    out = run(xr(), observed, [*STORE, *store])
    assert out.conditions["ControlPlaneVIPReady"] == (True, "Allocated", "control-plane VIP 10.0.0.10 from IPAddressClaim team-a/vip-cp-c1")


def test_an_earlier_steps_resource_keeps_its_own_readiness():
    # An earlier pipeline step's resource of unspecified readiness (a later function-auto-ready decides it):
    # with everything of ours ready the XR's readiness is left to Crossplane, which derives it from all.
    observed, store = live(ready=True)

    def earlier(req):
        req.desired.resources["earlier"].resource.update({
            "apiVersion": "externaldns.k8s.io/v1alpha1", "kind": "DNSEndpoint", "metadata": {"name": "c1-extra", "namespace": "team-a"},
            "spec": {"endpoints": [{"dnsName": "extra.example.org", "recordType": "A", "targets": ["10.9.9.9"]}]}})
        return fn.run(req)

    out = run(xr(), with_usages(observed), [*STORE, *store], transport=earlier)
    assert out.rsp.desired.resources["earlier"].ready == fnv1.READY_UNSPECIFIED
    assert out.rsp.desired.composite.ready == fnv1.READY_UNSPECIFIED
