"""Service load-balancer address sets (role service-lb), wanted where the ClusterClass defines serviceLbVips.

The XR's annotation vip.capi.gorizond.io/service-lb-count says how many (default 3, from the Input).
Claims vip-lb-<cluster>-<i>; the Cluster's variable lists the bound addresses in index order. The
Cluster never waits for them. Raising the count adds claims and keeps the addresses; lowering it
releases the highest indexes. Once observed, a claim and its Usage stay, or are released on purpose.
"""

import pytest

from function import service_lb
from tests.fixtures import STORE, bound, live
from tests.harness import cluster_class, ip_address, observed_claim, pool, run, xr

COUNT = "vip.capi.gorizond.io/service-lb-count"
LB_CLASS = cluster_class(variables=("clusterVip", "ingressVip", "serviceLbVips"))
LB_POOL = pool("lb-pool", role="service-lb", free=20, total=21, addresses=("10.0.2.10-10.0.2.30",), gateway="10.0.2.1")
WORLD = [LB_CLASS, *STORE[1:], LB_POOL]


def lb_claims(n, *, bound_to=None, start=0):
    """Observed service-lb claims start..n-1 and, where bound, their IPAddresses (10.0.2.10+i)."""
    observed, store = {}, []
    for i in range(start, n):
        name = f"vip-lb-c1-{i}"
        is_bound = bound_to is None or i in bound_to
        observed[f"vip-claim-service-lb-{i}"] = observed_claim(name, pool_name="lb-pool", role="service-lb", bound=is_bound)
        if is_bound:
            store.append(ip_address(name, f"10.0.2.{10 + i}", pool_name="lb-pool"))
    return observed, store


def lb_usage(i, *, attached=True):
    spec = {"of": {"apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddressClaim", "resourceRef": {"name": f"vip-lb-c1-{i}"}},
            "replayDeletion": True}
    if attached:
        spec["by"] = {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "resourceRef": {"name": "c1"}}
    return {"apiVersion": "protection.crossplane.io/v1beta1", "kind": "Usage",
            "metadata": {"name": f"vip-lb-c1-{i}", "namespace": "team-a"}, "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def listed(out):
    return next((v["value"] for v in out.cluster["spec"]["topology"].get("variables", []) if v["name"] == "serviceLbVips"), None)


def claim_names(out):
    return sorted(r["metadata"]["name"] for n, r in out.desired.items() if n.startswith("vip-claim-service-lb-"))


def with_lb(observed, store, extra):
    return {**observed, **extra[0]}, [*store, *extra[1]]


# --- not wanted -----------------------------------------------------------------------------------


def test_a_class_without_the_variable_gets_no_service_lb_claims_and_no_pool_is_fetched():
    observed, store = bound()
    out = run(xr(), observed, [*STORE, LB_POOL, *store])
    assert claim_names(out) == []
    assert not [n for n in out.requirements if n.startswith("pools/service-lb/")]
    assert "ServiceLBVIPsReady" not in out.conditions


# --- wanted ---------------------------------------------------------------------------------------


def test_a_class_with_the_variable_gets_three_claims_from_the_service_lb_pool():
    observed, store = bound()
    out = run(xr(), observed, [*WORLD, *store])
    assert claim_names(out) == ["vip-lb-c1-0", "vip-lb-c1-1", "vip-lb-c1-2"]
    claim = out.desired["vip-claim-service-lb-0"]
    assert claim["spec"]["poolRef"] == {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "GlobalInClusterIPPool", "name": "lb-pool"}
    assert claim["metadata"]["labels"] == {"vip.capi.gorizond.io/role": "service-lb"}


def test_the_cluster_does_not_wait_for_the_service_lb_addresses():
    observed, store = bound()
    out = run(xr(), observed, [*WORLD, *store])
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    assert listed(out) == []
    ok, reason, message = out.conditions["ServiceLBVIPsReady"]
    assert (ok, reason) == (False, "WaitingForAddress") and "0 of 3" in message


def test_the_variable_lists_the_bound_addresses_in_index_order():
    observed, store = with_lb(*live(), lb_claims(3))
    out = run(xr(), observed, [*WORLD, *store])
    assert listed(out) == ["10.0.2.10", "10.0.2.11", "10.0.2.12"]
    assert out.conditions["ServiceLBVIPsReady"][:2] == (True, "Allocated")


def test_the_list_grows_as_the_claims_bind():
    observed, store = with_lb(*live(), lb_claims(3, bound_to={0, 2}))
    out = run(xr(), observed, [*WORLD, *store])
    assert listed(out) == ["10.0.2.10", "10.0.2.12"]


def test_the_xr_annotation_sets_the_count():
    observed, store = bound()
    out = run(xr(annotations={COUNT: "5"}), observed, [*WORLD, *store])
    assert claim_names(out) == [f"vip-lb-c1-{i}" for i in range(5)]


def test_the_input_sets_the_default_count():
    observed, store = bound()
    inp = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "roles": {"serviceLb": {"defaultCount": 1}}}
    out = run(xr(), observed, [*WORLD, *store], inp=inp)
    assert claim_names(out) == ["vip-lb-c1-0"]


def test_raising_the_count_keeps_the_addresses_and_adds_claims():
    observed, store = with_lb(*live(), lb_claims(2))
    out = run(xr(annotations={COUNT: "4"}), observed, [*WORLD, *store])
    assert claim_names(out) == [f"vip-lb-c1-{i}" for i in range(4)]
    assert listed(out) == ["10.0.2.10", "10.0.2.11"]


def test_lowering_the_count_releases_the_highest_indexes_with_an_event():
    observed, store = with_lb(*live(), lb_claims(3))
    out = run(xr(annotations={COUNT: "1"}), observed, [*WORLD, *store])
    assert claim_names(out) == ["vip-lb-c1-0"]
    assert listed(out) == ["10.0.2.10"]
    released = [m for r, m in out.normals if r == "Released"]
    assert len(released) == 2 and all("asks for 1 service load-balancer addresses" in m for m in released)


def test_lowering_the_count_detaches_a_usage_first():
    observed, store = with_lb(*live(), lb_claims(2))
    observed["vip-usage-service-lb-1"] = lb_usage(1)
    out = run(xr(annotations={COUNT: "1"}), observed, [*WORLD, *store])
    assert "vip-claim-service-lb-1" in out.desired  # kept while its Usage protects it
    assert "by" not in out.desired["vip-usage-service-lb-1"]["spec"]
    assert listed(out) == ["10.0.2.10"]


def test_a_count_of_zero_releases_every_claim():
    observed, store = with_lb(*live(), lb_claims(2))
    out = run(xr(annotations={COUNT: "0"}), observed, [*WORLD, *store])
    assert claim_names(out) == []
    assert listed(out) == []
    assert out.conditions["ServiceLBVIPsReady"][:2] == (True, "Allocated")


@pytest.mark.parametrize("value", ["three", "-1", "33", "1.5", " "])
def test_a_count_that_is_not_a_whole_number_up_to_32_is_fatal(value):
    observed, store = with_lb(*live(), lb_claims(2))
    out = run(xr(annotations={COUNT: value}), observed, [*WORLD, *store])
    assert COUNT in out.fatal and "0 to 32" in out.fatal


def test_a_bound_claim_of_a_composed_cluster_gets_a_usage():
    observed, store = with_lb(*live(), lb_claims(1))
    out = run(xr(annotations={COUNT: "1"}), observed, [*WORLD, *store])
    usage = out.desired["vip-usage-service-lb-0"]
    assert usage["spec"]["of"]["resourceRef"] == {"name": "vip-lb-c1-0"}
    assert usage["spec"]["by"]["resourceRef"] == {"name": "c1"}


def test_no_service_lb_pool_is_warned_about_and_the_cluster_is_composed():
    observed, store = bound()
    out = run(xr(), observed, [LB_CLASS, *STORE[1:], *store])
    assert out.cluster is not None
    assert ("PoolNotFound" in [r for r, _ in out.warnings])
    ok, reason, message = out.conditions["ServiceLBVIPsReady"]
    assert (ok, reason) == (False, "PoolNotFound") and "vip.capi.gorizond.io/role=service-lb" in message


def test_an_address_not_read_yet_leaves_the_live_list_as_it_is():
    observed, store = with_lb(*live(), lb_claims(2))
    observed["cluster"]["spec"]["topology"]["variables"].append({"name": "serviceLbVips", "value": ["10.0.2.10", "10.0.2.11"]})
    store = [a for a in store if a["metadata"]["name"] != "vip-lb-c1-1"]  # its IPAddress is not found
    out = run(xr(annotations={COUNT: "2"}), observed, [*WORLD, *store])
    assert listed(out) == ["10.0.2.10", "10.0.2.11"]
    assert "vip-claim-service-lb-1" in out.desired


def test_no_event_when_the_list_is_what_the_live_cluster_has():
    observed, store = with_lb(*live(), lb_claims(3))
    observed["cluster"]["spec"]["topology"]["variables"].append(
        {"name": "serviceLbVips", "value": ["10.0.2.10", "10.0.2.11", "10.0.2.12"]})
    out = run(xr(), observed, [*WORLD, *store])
    assert not [m for _, m in out.normals if "service load-balancer" in m]
    assert out.warnings == []


# --- nothing given up while unsure ------------------------------------------------------------------


def test_while_the_class_cannot_be_read_the_claims_stay_as_they_are():
    observed, store = with_lb(*live(), lb_claims(2))
    out = run(xr(annotations={COUNT: "0"}), observed, [*STORE[1:], LB_POOL, *store])  # the class is gone
    assert claim_names(out) == ["vip-lb-c1-0", "vip-lb-c1-1"]
    ok, reason, message = out.conditions["ServiceLBVIPsReady"]
    assert (ok, reason) == (False, "ClusterClassNotFound") and "stay as they are" in message


def test_a_class_that_lost_the_variable_keeps_the_claims_and_warns():
    observed, store = with_lb(*live(), lb_claims(2))
    out = run(xr(), observed, [*STORE, LB_POOL, *store])
    assert claim_names(out) == ["vip-lb-c1-0", "vip-lb-c1-1"]
    [(reason, message)] = out.warnings
    assert reason == "ClusterClassMissingVariable" and "serviceLbVips" in message and f'{COUNT}="0"' in message


def test_a_class_that_lost_the_variable_takes_the_list_off_the_live_cluster_and_keeps_the_claims():
    """CAPI refuses a Cluster with a variable its class does not define: the list leaves the Cluster, the addresses
    stay claimed (docs/service-lb.md)."""
    observed, store = with_lb(*live(), lb_claims(2))
    observed["cluster"]["spec"]["topology"]["variables"].append({"name": "serviceLbVips", "value": ["10.0.5.2", "10.0.5.3"]})
    out = run(xr(), observed, [*STORE, LB_POOL, *store])
    assert "serviceLbVips" not in [v["name"] for v in out.cluster["spec"]["topology"]["variables"]]
    assert claim_names(out) == ["vip-lb-c1-0", "vip-lb-c1-1"]


def test_a_class_that_lost_the_variable_releases_the_claims_when_the_xr_asks_for_none():
    observed, store = with_lb(*live(), lb_claims(2))
    out = run(xr(annotations={COUNT: "0"}), observed, [*STORE, LB_POOL, *store])
    assert claim_names(out) == []
    assert out.warnings == []


def test_a_claim_deleted_by_hand_is_made_again_once_gone():
    observed, store = with_lb(*live(), lb_claims(2))
    observed["vip-claim-service-lb-1"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    out = run(xr(annotations={COUNT: "2"}), observed, [*WORLD, *store])
    assert claim_names(out) == ["vip-lb-c1-0"]  # not composed over the one being deleted
    assert listed(out) == ["10.0.2.10"]
    out = run(xr(annotations={COUNT: "2"}), {k: v for k, v in observed.items() if k != "vip-claim-service-lb-1"},
              [*WORLD, *store])
    assert claim_names(out) == ["vip-lb-c1-0", "vip-lb-c1-1"]


def test_a_usage_whose_claim_is_gone_goes_when_its_index_is_no_longer_wanted():
    observed, store = with_lb(*live(), lb_claims(1))
    observed["vip-usage-service-lb-1"] = lb_usage(1, attached=False)
    out = run(xr(annotations={COUNT: "1"}), observed, [*WORLD, *store])
    assert out.fatal is None and "vip-usage-service-lb-1" not in out.desired


def test_an_observed_service_lb_claim_is_never_dropped_by_mistake(monkeypatch):
    monkeypatch.setattr(service_lb, "service_lb", lambda ctx: service_lb.ServiceLb())
    observed, store = with_lb(*live(), lb_claims(1))
    out = run(xr(), observed, [*WORLD, *store])
    assert "refusing to drop observed composed resource vip-claim-service-lb-0" in out.fatal


def test_an_unreadable_service_lb_claim_is_fatal():
    observed, store = live()
    observed["vip-claim-service-lb-0"] = {"apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddressClaim", "metadata": {}}
    out = run(xr(), observed, [*WORLD, *store])
    assert "vip-claim-service-lb-0" in out.fatal


def test_a_claim_name_too_long_for_an_object_is_fatal():
    observed, store = bound()
    inp = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input",
           "roles": {"serviceLb": {"claimName": "vip-lb-{cluster}-{index}-" + "x" * 250}}}
    out = run(xr(), observed, [*WORLD, *store], inp=inp)
    assert "roles.serviceLb.claimName" in out.fatal


def test_legacy_crossplane_gets_the_same_claims():
    observed, store = with_lb(*live(), lb_claims(3))
    out = run(xr(), observed, [*WORLD, *store], modern=False)
    assert listed(out) == ["10.0.2.10", "10.0.2.11", "10.0.2.12"]
