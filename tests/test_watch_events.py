"""Few watch events per XR, and progress that never waits on one.

Crossplane v2.4 re-runs an XR on every change of what it composes or requires, and counts those
watch events against the XR's circuit breaker (100 at once, 1 a second after; an update counts
twice). While the breaker is open it drops them, a user's edit of the XR among them. So the function
asks to watch only what can move it on, says the same while nothing changes, and keeps the XR on
the waiting TTL while Crossplane says it drops its events.
"""

from datetime import datetime

import pytest

from function import fn
from tests.fixtures import CP_POOL, STORE, bound, live
from tests.harness import CP_CLAIM, observed_claim, run, xr

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
    assert out.ttl == 15  # looked at again, with its pools, once it has had the waiting TTL to bind


def test_a_claim_still_unbound_after_the_waiting_ttl_is_read_with_its_pools():
    observed = {CP_CLAIM: observed_claim("vip-cp-c1", pool_name="gone", bound=False)}
    out = run(xr(annotations=OFF), observed, STORE, transport=at(16))
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
    from tests.harness import cluster_class

    cls = cluster_class(variables=("clusterVip", "serviceLbVips"))
    out = run(xr(annotations={**OFF, COUNT: "1"}), observed, [cls, CP_POOL, lb_pool, *store], transport=at(3))
    assert pool_requirements(out) == set()
    later = run(xr(annotations={**OFF, COUNT: "1"}), observed, [cls, CP_POOL, lb_pool, *store], transport=at(16))
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
