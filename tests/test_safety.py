"""Never lose data: what keeps a workload cluster alive through every fault."""

import pytest

from function import compose
from function import decide as core
from function import fn
from tests.fixtures import CC, CP_POOL, ING_POOL, STORE, bound, live, world
from tests.harness import (
    CP_CLAIM,
    INGRESS_CLAIM,
    Outcome,
    cluster_class,
    ip_address,
    observed_claim,
    observed_cluster,
    request,
    run,
    xr,
)

OURS = {"cluster", CP_CLAIM, INGRESS_CLAIM}


def kept_everything(out, observed):
    return not out.fatal and set(observed) <= set(out.desired)


@pytest.mark.parametrize(
    "store_of",
    [
        pytest.param(lambda s: [o for o in s if o["kind"] != "ClusterClass"], id="class deleted"),
        pytest.param(lambda s: [o for o in s if "Pool" not in o["kind"]], id="pools deleted"),
        pytest.param(lambda s: [o for o in s if o["kind"] != "IPAddress"], id="addresses gone"),
        pytest.param(lambda s: [], id="nothing fetchable"),
    ],
)
def test_observed_cluster_and_claims_stay_when_what_they_came_from_is_gone(store_of):
    observed, store = live()
    out = run(xr(), observed, store_of([*STORE, *store]))
    assert kept_everything(out, observed)
    assert out.cluster["spec"]["controlPlaneEndpoint"] == {"host": "10.0.0.10", "port": 6443}
    assert out.cluster["metadata"]["annotations"] == {"vip.capi.gorizond.io/ingress-vip": "10.0.1.10"}


def test_variables_stay_while_the_class_cannot_be_read():
    observed, store = live()
    out = run(xr(), observed, [*STORE, *store], drop={"cluster-class"})
    assert out.cluster["spec"]["topology"]["variables"] == [
        {"name": "clusterVip", "value": "10.0.0.10"}, {"name": "ingressVip", "value": "10.0.1.10"}]


def test_everything_stays_when_every_requirement_goes_unanswered():
    observed, store = live()
    out = run(xr(), observed, [*STORE, *store],
              drop={"cluster-class", "address/control-plane", "address/ingress"})
    assert kept_everything(out, observed)
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"


def test_a_claim_unbound_again_stays_and_the_cluster_keeps_its_endpoint():
    observed, store = live()
    observed[CP_CLAIM] = observed_claim("vip-cp-c1", bound=False)
    out = run(xr(), observed, [*STORE, *store])
    assert kept_everything(out, observed)
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"


def test_the_endpoint_of_a_live_cluster_never_changes_even_if_the_address_does():
    observed, store = live()
    store[0] = ip_address("vip-cp-c1", "10.0.0.99")
    out = run(xr(), observed, [*STORE, *store])
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    assert {"name": "clusterVip", "value": "10.0.0.10"} in out.cluster["spec"]["topology"]["variables"]
    assert any(r == "AddressMismatch" and "10.0.0.10 stays" in m for r, m in out.warnings)


def test_the_ingress_vip_of_a_live_cluster_never_changes_even_if_the_address_does():
    observed, store = live()
    store[1] = ip_address("vip-ingress-c1", "10.0.1.77", pool_name="ing-pool")
    out = run(xr(), observed, [*STORE, *store])
    assert out.cluster["metadata"]["annotations"] == {"vip.capi.gorizond.io/ingress-vip": "10.0.1.10"}
    assert any(r == "AddressMismatch" for r, _ in out.warnings)


def test_a_manual_host_added_to_a_live_cluster_does_not_move_its_endpoint():
    observed, store = live()
    obj = xr(cluster={"topology": {"class": "cc", "version": "v1.31.0"}, "controlPlaneEndpoint": {"host": "10.9.9.9"}})
    out = run(obj, observed, [*STORE, *store])
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    assert CP_CLAIM in out.desired
    assert any(r == "Conflict" and "set the host back to 10.0.0.10 or remove it" in m for r, m in out.warnings)


def test_a_class_that_loses_the_ingress_variable_keeps_the_ingress_claim_and_vip():
    observed, store = live()
    out = run(xr(), observed, [cluster_class(variables=("clusterVip",)), CP_POOL, ING_POOL, *store])
    assert kept_everything(out, observed)
    assert out.cluster["metadata"]["annotations"] == {"vip.capi.gorizond.io/ingress-vip": "10.0.1.10"}
    assert [v["name"] for v in out.cluster["spec"]["topology"]["variables"]] == ["clusterVip"]
    assert out.reason("IngressVIPReady") == "ClusterClassMissingVariable"


def test_an_ipam_outage_keeps_claims_and_holds_the_cluster():
    w = world()
    w.ipam_up = False
    outs = w.settle(xr(), rounds=3)
    assert all(set(o.desired) == {CP_CLAIM, INGRESS_CLAIM} for o in outs)
    assert w.deleted == []
    w.ipam_up = True
    w.settle(xr(), rounds=2)
    assert w.get("Cluster", "c1", "team-a") is not None


def test_a_broken_xr_after_the_cluster_exists_is_fatal_and_deletes_nothing():
    w = world()
    w.settle(xr())
    assert w.get("Cluster", "c1", "team-a") is not None
    out = w.reconcile(xr(cluster={"topology": {"version": "v1.31.0"}}))
    assert "topology.class (v1beta1)" in out.fatal
    assert w.deleted == []
    assert w.get("Cluster", "c1", "team-a") is not None


def test_an_unexpected_exception_becomes_a_fatal_result(monkeypatch):
    def boom(*_, **__):
        raise KeyError("surprise")

    monkeypatch.setattr(core, "decide", boom)
    out = Outcome(fn.run(request(xr())))
    assert out.fatal == "function-capi-vip failed unexpectedly (KeyError: 'surprise'); nothing was applied"


def test_a_decision_that_would_drop_an_observed_resource_is_refused(monkeypatch):
    monkeypatch.setattr(compose, "compose_cluster", lambda ctx, cp, ing, lb, second: (cp, None))
    observed, store = live()
    out = run(xr(), observed, [*STORE, *store])
    assert "refusing to drop observed composed resource cluster" in out.fatal


def test_an_unreadable_observed_claim_is_fatal_not_forgotten():
    observed, store = live()
    del observed[CP_CLAIM]["spec"]["poolRef"]
    out = run(xr(), observed, [*STORE, *store])
    assert "has no readable metadata.name, namespace or spec.poolRef" in out.fatal


def test_only_owned_fields_are_emitted():
    observed, store = live()
    out = run(xr(), observed, [*STORE, *store])
    cluster = out.cluster
    assert set(cluster) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(cluster["metadata"]) == {"name", "namespace", "annotations"}
    assert set(cluster["spec"]) == {"topology", "controlPlaneEndpoint"}
    claim = out.desired[CP_CLAIM]
    assert set(claim) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(claim["metadata"]) == {"name", "namespace", "labels"}
    assert claim["metadata"]["labels"] == {"vip.capi.gorizond.io/role": "control-plane"}


def test_the_desired_xr_carries_only_the_vip_status():
    observed, store = live()
    out = run(xr(), observed, [*STORE, *store])
    from tests.harness import to_dict

    assert to_dict(out.rsp.desired.composite.resource) == {"status": {"vip": {
        "controlPlane": "10.0.0.10", "controlPlaneSource": "Pool", "ingress": "10.0.1.10", "ingressSource": "Pool"}}}


def test_resources_of_other_pipeline_steps_pass_through():
    req = request(xr(), {})
    req.desired.resources["bucket"].resource.update({"apiVersion": "s3/v1", "kind": "Bucket"})
    out = Outcome(fn.run(req))
    assert out.desired["bucket"] == {"apiVersion": "s3/v1", "kind": "Bucket"}


def test_an_invalid_input_is_fatal_naming_the_field():
    inp = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "labels": {"rol": "x"}, "ttl": {"waiting": "soon"}}
    out = run(xr(), {}, STORE, inp=inp)
    assert out.fatal.startswith("the function's Input is invalid: ")
    assert "labels.rol: Extra inputs are not permitted" in out.fatal
    assert "ttl.waiting: Value error, 'soon' is not a duration; write it like 15s, 10m or 1h30m" in out.fatal


def test_a_cluster_observed_without_an_endpoint_gets_one_once_known():
    observed, store = bound()
    observed["cluster"] = observed_cluster(host=None, variables={})
    out = run(xr(), observed, [*STORE, *store])
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"


def test_a_cluster_observed_without_an_endpoint_stays_while_waiting():
    observed = {"cluster": observed_cluster(host=None, variables={}),
                CP_CLAIM: observed_claim("vip-cp-c1", bound=False)}
    out = run(xr(), observed, [CC, CP_POOL, ING_POOL])
    assert kept_everything(out, observed)
    assert "controlPlaneEndpoint" not in out.cluster["spec"]


def test_a_claim_deleted_by_hand_is_recreated_and_the_endpoint_stays():
    w = world()
    w.settle(xr())
    claim = w.get("IPAddressClaim", "vip-cp-c1", "team-a")
    w.remove(claim)
    w.remove(w.get("IPAddress", "vip-cp-c1", "team-a"))
    w.settle(xr(), rounds=3)
    assert w.get("Cluster", "c1", "team-a")["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    assert w.get("IPAddressClaim", "vip-cp-c1", "team-a") is not None


def test_a_claim_deleted_by_hand_is_warned_about():
    observed, store = live()
    del observed[CP_CLAIM]
    out = run(xr(), observed, [*STORE, *store])
    assert out.desired[CP_CLAIM]["metadata"]["name"] == "vip-cp-c1"
    assert any(r == "ClaimMissing" and "10.0.0.10 is free in the pool" in m for r, m in out.warnings)


def test_an_ingress_claim_deleted_by_hand_is_recreated_and_the_ingress_vip_stays():
    w = world()
    w.settle(xr())
    w.remove(w.get("IPAddressClaim", "vip-ingress-c1", "team-a"))
    w.remove(w.get("IPAddress", "vip-ingress-c1", "team-a"))
    w.add(ip_address("squatter", "10.0.1.10", pool_name="ing-pool"))  # another cluster took the address meanwhile
    w.settle(xr(), rounds=3)
    cluster = w.get("Cluster", "c1", "team-a")
    assert cluster["metadata"]["annotations"] == {"vip.capi.gorizond.io/ingress-vip": "10.0.1.10"}
    assert w.get("IPAddress", "vip-ingress-c1", "team-a")["spec"]["address"] == "10.0.1.11"
    out = w.reconcile(xr())
    assert any(r == "AddressMismatch" for r, _ in out.warnings)


def test_a_live_dns_endpoint_was_manual_and_gets_no_claim():
    observed = {"cluster": observed_cluster(host="api.example.com", variables={"clusterVip": "api.example.com"})}
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), observed, STORE)
    assert CP_CLAIM not in out.desired
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "api.example.com"
    assert out.warnings == [("Conflict", "XR c1 does not set spec.cluster.controlPlaneEndpoint.host, but Cluster "
                             "team-a/c1 serves on the manual endpoint api.example.com, which never changes for a live "
                             "cluster. Set spec.cluster.controlPlaneEndpoint.host=api.example.com on the XR.")]


def test_a_composed_resource_leaves_the_desired_state_only_through_the_named_ways_out():
    """Crossplane deletes what a response leaves out. The decision's ways out are allocation.release (asks the ledger),
    allocation.let_go (a claim already being deleted), allocation.let_go_usage (a Usage whose claim is gone) and
    lifecycle.compose (a claim's Usage with it); decide._guard refuses any other. A new step adds to the released set
    through them, so the rules that hold for a release hold for it."""
    import ast
    from pathlib import Path

    allowed = {("allocation.py", "let_go"), ("allocation.py", "let_go_usage"), ("allocation.py", "release"),
               ("lifecycle.py", "compose"), ("compose.py", "compose_claim")}
    found = set()
    for path in sorted((Path(__file__).resolve().parents[1] / "function").glob("*.py")):
        for fn_node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn_node, ast.FunctionDef):
                continue
            for node in ast.walk(fn_node):
                if (isinstance(node, ast.Attribute) and node.attr in ("add", "update", "__ior__")
                        and isinstance(node.value, ast.Attribute | ast.Name)
                        and getattr(node.value, "attr", getattr(node.value, "id", None)) == "released"):
                    found.add((path.name, fn_node.name))
    assert found <= allowed, f"released written outside the ways out: {sorted(found - allowed)}"
    assert ("allocation.py", "release") in found and ("allocation.py", "let_go") in found
