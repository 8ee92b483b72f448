"""Behaviours 10-11: conditions, events (results) and TTLs."""

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from tests.fixtures import STORE, applied_without, bound, live, world
from tests.harness import INGRESS_CLAIM, cluster_class, observed_cluster, run, xr
from tests.test_usage import with_usages

INP_TTL = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "ttl": {"waiting": "5s", "converged": "1h"}}


def test_both_conditions_are_set_on_every_response():
    out = run(xr(), {}, STORE)
    assert set(out.conditions) == {"ControlPlaneVIPReady", "IngressVIPReady"}


def test_a_converged_reconcile_emits_no_result():
    observed, store = live()
    out = run(xr(), observed, [*STORE, *store])
    assert out.rsp.results == []
    assert out.conditions["ControlPlaneVIPReady"] == (True, "Allocated", "control-plane VIP 10.0.0.10 from IPAddressClaim team-a/vip-cp-c1")
    assert out.conditions["IngressVIPReady"] == (True, "Allocated", "ingress VIP 10.0.1.10 from IPAddressClaim team-a/vip-ingress-c1")


def test_a_vip_first_assigned_is_a_normal_event_once():
    w = world()
    outs = w.settle(xr(), rounds=4)
    assigned = [m for o in outs for r, m in o.normals if r == "Assigned"]
    assert assigned == [
        "control-plane VIP 10.0.0.10 (from GlobalInClusterIPPool cp-pool) assigned to Cluster team-a/c1",
        "ingress VIP 10.0.1.10 (from GlobalInClusterIPPool ing-pool) assigned to Cluster team-a/c1",
    ]
    assert outs[-1].rsp.results == []


def test_a_problem_is_warned_on_every_reconcile_while_it_lasts():
    w = world()
    w.remove(STORE[1])  # the control-plane pool
    outs = w.settle(xr(), rounds=3)
    assert all(any(r == "PoolNotFound" for r, _ in o.warnings) for o in outs)


def test_the_xr_status_shows_the_vips():
    observed, store = live()
    assert run(xr(), observed, [*STORE, *store]).status == {
        "controlPlane": "10.0.0.10", "controlPlaneSource": "Pool", "ingress": "10.0.1.10", "ingressSource": "Pool"}


def test_the_xr_status_shows_an_allocated_vip_before_the_cluster_exists():
    observed, store = bound()
    assert run(xr(), observed, [cluster_class(), *store]).status["controlPlane"] == "10.0.0.10"


def test_conditions_and_results_target_the_claim_too():
    out = run(xr(), {}, [STORE[0]])
    assert all(c.target == 2 for c in out.rsp.conditions)  # TARGET_COMPOSITE_AND_CLAIM
    assert all(r.target == 2 for r in out.rsp.results)


def test_ttl_is_short_while_waiting_on_ipam():
    assert run(xr(), {}, STORE).ttl == 15


def test_ttl_is_long_once_converged():
    observed, store = live()
    assert run(xr(), observed, [*STORE, *store]).ttl == 1200


def test_ttls_come_from_the_input():
    observed, store = live()
    assert run(xr(), observed, [*STORE, *store], inp=INP_TTL).ttl == 3600
    assert run(xr(), {}, STORE, inp=INP_TTL).ttl == 5


def test_ttl_is_short_while_a_problem_lasts():
    observed, store = live(ingress=None)
    observed["cluster"] = observed_cluster(variables={"clusterVip": "10.0.0.10"})
    out = run(xr(), observed, [cluster_class(variables=()), *store])
    assert out.ttl == 15


def test_turning_ingress_off_releases_the_claim_with_a_normal_event():
    observed, store = live()
    first = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), observed, [*STORE, *store])
    assert INGRESS_CLAIM in first.desired  # until the API server's Cluster no longer carries the VIP
    assert [r for r, _ in first.normals] == ["Released", "Released"]
    observed = applied_without(observed, "10.0.1.10")
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), observed, [*STORE, *store])
    assert INGRESS_CLAIM not in out.desired
    assert "annotations" not in out.cluster["metadata"]
    assert [v["name"] for v in out.cluster["spec"]["topology"]["variables"]] == ["clusterVip"]
    assert out.normals == [("Released", 'ingress VIP of IPAddressClaim team-a/vip-ingress-c1 released: XR annotated '
                                        'vip.capi.gorizond.io/ingress-enabled="false"')]
    assert "ingress" not in out.status


def test_an_xr_without_its_cluster_is_not_ready_even_with_nothing_composed():
    # Crossplane counts an XR ready when every composed resource is: with none (no pool), that
    # would be Ready=True beside PoolNotFound, as a real Crossplane showed.
    out = run(xr(), {}, [cluster_class()])
    assert out.desired == {} and out.reason("ControlPlaneVIPReady") == "PoolNotFound"
    assert out.rsp.desired.composite.ready == fnv1.READY_FALSE


def test_an_xr_with_its_cluster_is_ready_when_what_it_composed_is():
    observed, store = live(ready=True)
    out = run(xr(), with_usages(observed), [*STORE, *store])
    assert all(out.ready.values())
    assert out.rsp.desired.composite.ready == fnv1.READY_UNSPECIFIED  # Crossplane derives it: Available


def test_an_xr_is_said_not_ready_while_anything_it_composed_is_not():
    # Said outright, Crossplane writes Ready=False Creating without listing the unready resources: a
    # list that changes with every claim and Usage that becomes ready, each change two writes of the
    # XR (and two watch events each that its circuit breaker counts).
    observed, store = live(ready=True)
    out = run(xr(), observed, [*STORE, *store])  # the Usages are new: not ready yet
    assert out.ready["cluster"] and not out.ready["vip-usage-control-plane"]
    assert out.rsp.desired.composite.ready == fnv1.READY_FALSE


def test_an_xr_whose_claims_are_bound_but_whose_cluster_is_held_back_is_not_ready():
    observed, store = bound()
    out = run(xr(), observed, [*store])  # no ClusterClass: the Cluster is held back
    assert out.cluster is None and all(out.ready.values())
    assert out.rsp.desired.composite.ready == fnv1.READY_FALSE


def test_an_xr_waiting_for_its_claims_is_not_ready_and_its_conditions_name_them():
    out = run(xr(), {}, STORE)
    assert out.rsp.desired.composite.ready == fnv1.READY_FALSE
    assert out.reason("ControlPlaneVIPReady") == "WaitingForAddress"
