"""Behaviours 1-9 of the function: pools, claims, addresses, the Cluster, ingress, ClusterClass, manual VIPs, readiness."""

from tests.fixtures import CC, CP_POOL, ING_POOL, STORE, bound, live, world
from tests.harness import (
    CP_CLAIM,
    INGRESS_CLAIM,
    cluster_class,
    ip_address,
    observed_claim,
    observed_cluster,
    pool,
    run,
    xr,
)

# 1. Pools are found by labels -------------------------------------------------------


def test_first_reconcile_claims_from_the_labelled_pool_and_composes_no_cluster():
    out = run(xr(), {}, STORE)
    assert out.desired[CP_CLAIM]["spec"]["poolRef"] == {
        "apiGroup": "ipam.cluster.x-k8s.io", "kind": "GlobalInClusterIPPool", "name": "cp-pool"}
    assert out.cluster is None


def test_pools_are_required_by_class_and_role_labels():
    out = run(xr(), {}, STORE)
    sel = out.requirements["pools/control-plane/GlobalInClusterIPPool/exact"]
    assert dict(sel.match_labels.labels) == {
        "vip.capi.gorizond.io/cluster-class": "cc", "vip.capi.gorizond.io/role": "control-plane"}


def test_a_pool_in_the_operators_list_form_is_used():
    listed = pool("shared-pool", listed="other,cc", free=3)
    out = run(xr(), {}, [CC, listed])
    assert out.desired[CP_CLAIM]["spec"]["poolRef"]["name"] == "shared-pool"


def test_a_namespaced_pool_in_the_clusters_namespace_is_preferred():
    mine = pool("team-pool", kind="InClusterIPPool", namespace="team-a", free=1)
    out = run(xr(), {}, [*STORE, mine])
    assert out.desired[CP_CLAIM]["spec"]["poolRef"] == {
        "apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "team-pool"}


# 2. Several pools -----------------------------------------------------------------


def test_the_pool_with_most_free_addresses_wins():
    out = run(xr(), {}, [CC, pool("a-pool", free=2), pool("b-pool", free=8)])
    assert out.desired[CP_CLAIM]["spec"]["poolRef"]["name"] == "b-pool"


def test_an_existing_claim_keeps_its_pool_when_a_better_pool_appears():
    observed = {CP_CLAIM: observed_claim("vip-cp-c1", pool_name="cp-pool", bound=False)}
    better = pool("zz-better", kind="InClusterIPPool", namespace="team-a", free=100)
    out = run(xr(), observed, [*STORE, better])
    assert out.desired[CP_CLAIM]["spec"]["poolRef"]["name"] == "cp-pool"


def test_exhausted_pools_get_no_claim_and_a_warning_naming_them():
    out = run(xr(), {}, [CC, pool("cp-pool", free=0, total=11)])
    assert CP_CLAIM not in out.desired
    assert out.reason("ControlPlaneVIPReady") == "PoolExhausted"
    assert any("GlobalInClusterIPPool cp-pool (free 0, total 11)" in m for _, m in out.warnings)


def test_no_pool_is_a_warning_saying_which_labels_to_set():
    out = run(xr(), {}, [CC])
    assert out.reason("ControlPlaneVIPReady") == "PoolNotFound"
    assert (
        "PoolNotFound",
        "no pool for ClusterClass cc and role control-plane: label a pool (InClusterIPPool in namespace team-a or "
        "GlobalInClusterIPPool) with vip.capi.gorizond.io/cluster-class=cc and vip.capi.gorizond.io/role=control-plane "
        "(or vip.capi.gorizond.io/cluster-class=\"true\" and an annotation vip.capi.gorizond.io/cluster-class listing cc)",
    ) in out.warnings


# 3. Claims -------------------------------------------------------------------------


def test_claims_are_named_labelled_and_namespaced_as_the_operator_did():
    out = run(xr(name="c1", namespace="team-a"), {}, STORE)
    cp, ing = out.desired[CP_CLAIM], out.desired[INGRESS_CLAIM]
    assert cp["metadata"] == {"name": "vip-cp-c1", "namespace": "team-a", "labels": {"vip.capi.gorizond.io/role": "control-plane"}}
    assert ing["metadata"] == {"name": "vip-ingress-c1", "namespace": "team-a", "labels": {"vip.capi.gorizond.io/role": "ingress"}}
    assert cp["apiVersion"] == "ipam.cluster.x-k8s.io/v1beta1"


def test_claims_never_name_their_cluster():
    out = run(xr(), {}, STORE)
    for claim in (out.desired[CP_CLAIM], out.desired[INGRESS_CLAIM]):
        assert "clusterName" not in claim["spec"]
        assert "cluster.x-k8s.io/cluster-name" not in claim["metadata"]["labels"]


def test_claim_api_version_and_name_pattern_come_from_the_input():
    inp = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input",
           "ipam": {"claimApiVersion": "ipam.cluster.x-k8s.io/v1beta2"},
           "roles": {"controlPlane": {"labelValue": "control-plane", "variable": "clusterVip", "claimName": "{cluster}-apiserver"}}}
    out = run(xr(), {}, STORE, inp=inp)
    claim = out.desired[CP_CLAIM]
    assert (claim["apiVersion"], claim["metadata"]["name"]) == ("ipam.cluster.x-k8s.io/v1beta2", "c1-apiserver")


# 4. Binding ------------------------------------------------------------------------


def test_a_bound_claim_requires_its_ipaddress_by_name_in_the_claims_namespace():
    observed, store = bound()
    out = run(xr(), observed, [*STORE, *store])
    sel = out.requirements["address/control-plane"]
    assert (sel.kind, sel.match_name, sel.namespace) == ("IPAddress", "vip-cp-c1", "team-a")


def test_an_address_that_is_no_ip_holds_the_cluster_back_with_a_warning():
    observed, _ = bound(ingress=None)
    out = run(xr(), observed, [cluster_class(variables=("clusterVip",)), CP_POOL, ip_address("vip-cp-c1", "ten.zero")])
    assert out.cluster is None
    assert out.reason("ControlPlaneVIPReady") == "InvalidAddress"
    assert any("spec.address='ten.zero', which is not an IP address" in m for _, m in out.warnings)


# 5. The Cluster --------------------------------------------------------------------


def test_the_cluster_is_composed_once_both_vips_are_bound():
    observed, store = bound()
    cluster = run(xr(variables=[{"name": "cni", "value": "calico"}]), observed, [*STORE, *store]).cluster
    assert cluster["spec"]["controlPlaneEndpoint"] == {"host": "10.0.0.10", "port": 6443}
    assert cluster["spec"]["topology"]["variables"] == [
        {"name": "cni", "value": "calico"}, {"name": "clusterVip", "value": "10.0.0.10"}, {"name": "ingressVip", "value": "10.0.1.10"}]
    assert cluster["metadata"] == {"name": "c1", "namespace": "team-a", "annotations": {"vip.capi.gorizond.io/ingress-vip": "10.0.1.10"}}


def test_the_xrs_port_is_used():
    observed, store = bound()
    obj = xr(cluster={"topology": {"class": "cc", "version": "v1.31.0"}, "controlPlaneEndpoint": {"port": 7443}})
    assert run(obj, observed, [*STORE, *store]).cluster["spec"]["controlPlaneEndpoint"]["port"] == 7443


def test_the_cluster_waits_for_a_pending_ingress_claim():
    observed, store = bound()
    observed[INGRESS_CLAIM] = observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress", bound=False)
    out = run(xr(), observed, [*STORE, *store])
    assert out.cluster is None
    assert out.reason("IngressVIPReady") == "WaitingForAddress"


def test_a_missing_ingress_pool_never_blocks_the_control_plane_vip():
    observed, store = bound(ingress=None)
    out = run(xr(), observed, [CC, CP_POOL, *store])
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    assert "annotations" not in out.cluster["metadata"]
    assert out.reason("IngressVIPReady") == "PoolNotFound"
    assert any("the Cluster is composed without it" in m for _, m in out.warnings)


def test_the_ingress_vip_is_added_when_a_pool_appears():
    w = world()
    w.remove(ING_POOL)
    w.settle(xr())
    assert w.get("Cluster", "c1", "team-a")["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    w.add(ING_POOL)
    w.settle(xr())
    cluster = w.get("Cluster", "c1", "team-a")
    assert cluster["metadata"]["annotations"] == {"vip.capi.gorizond.io/ingress-vip": "10.0.1.10"}
    assert cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"


def test_a_new_cluster_is_composed_in_the_reconcile_after_its_claims_bind():
    w = world()
    first = w.reconcile(xr())
    assert first.cluster is None and set(first.desired) == {CP_CLAIM, INGRESS_CLAIM}
    w.converge_ipam()
    second = w.reconcile(xr())
    assert second.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"


# 6. Ingress wanted? ----------------------------------------------------------------


def test_no_ingress_claim_when_the_class_defines_no_ingress_variable():
    out = run(xr(), {}, [cluster_class(variables=("clusterVip",)), CP_POOL, ING_POOL])
    assert INGRESS_CLAIM not in out.desired
    assert out.conditions["IngressVIPReady"][:2] == (True, "Disabled")


def test_a_variable_defined_only_in_the_class_status_counts():
    out = run(xr(), {}, [cluster_class(in_status=True), CP_POOL, ING_POOL])
    assert INGRESS_CLAIM in out.desired


def test_ingress_enabled_false_turns_the_ingress_vip_off():
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), {}, STORE)
    assert INGRESS_CLAIM not in out.desired
    assert out.conditions["IngressVIPReady"][:2] == (True, "Disabled")


def test_a_manual_ingress_vip_goes_on_the_annotation_and_the_variable():
    observed, store = bound(ingress=None)
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-vip": "10.7.7.7"}), observed, [*STORE, *store])
    assert INGRESS_CLAIM not in out.desired
    assert out.cluster["metadata"]["annotations"] == {"vip.capi.gorizond.io/ingress-vip": "10.7.7.7"}
    assert {"name": "ingressVip", "value": "10.7.7.7"} in out.cluster["spec"]["topology"]["variables"]
    assert out.conditions["IngressVIPReady"][:2] == (True, "Manual")


def test_a_manual_ingress_vip_goes_only_on_the_annotation_when_the_class_lacks_the_variable():
    observed, store = bound(ingress=None)
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-vip": "10.7.7.7"}), observed,
              [cluster_class(variables=("clusterVip",)), CP_POOL, *store])
    assert out.cluster["metadata"]["annotations"] == {"vip.capi.gorizond.io/ingress-vip": "10.7.7.7"}
    assert [v["name"] for v in out.cluster["spec"]["topology"]["variables"]] == ["clusterVip"]


# 7. The ClusterClass ---------------------------------------------------------------


def test_the_class_is_required_by_name_in_its_namespace():
    out = run(xr(classNamespace="shared"), {}, STORE)
    sel = out.requirements["cluster-class"]
    assert (sel.kind, sel.match_name, sel.namespace) == ("ClusterClass", "cc", "shared")


def test_a_class_without_cluster_vip_gets_the_endpoint_and_a_warning_with_the_fix():
    observed, store = bound(ingress=None)
    out = run(xr(), observed, [cluster_class(variables=()), CP_POOL, *store])
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    assert "variables" not in out.cluster["spec"]["topology"]
    assert (
        "ClusterClassMissingVariable",
        "ClusterClass team-a/cc defines no variable clusterVip, so the control-plane VIP 10.0.0.10 is not passed to "
        "the topology (CAPI rejects undefined variables). Add to its spec.variables: {name: clusterVip, required: "
        'false, schema: {openAPIV3Schema: {type: string, default: ""}}}',
    ) in out.warnings
    assert out.reason("ControlPlaneVIPReady") == "ClusterClassMissingVariable"


def test_a_cluster_is_held_back_while_its_class_is_missing():
    observed, store = bound()
    out = run(xr(), observed, [CP_POOL, ING_POOL, *store])
    assert out.cluster is None
    assert out.reason("ControlPlaneVIPReady") == "ClusterClassNotFound"
    assert any("ClusterClass team-a/cc not found; the Cluster is held back" in m for _, m in out.warnings)


def test_a_cluster_is_held_back_until_the_class_has_been_fetched():
    observed, store = bound()
    out = run(xr(), observed, [*STORE, *store], drop={"cluster-class"})
    assert out.cluster is None
    assert out.reason("ControlPlaneVIPReady") == "WaitingForClusterClass"


# 8. Manual endpoint ----------------------------------------------------------------


def manual(host, port=None):
    endpoint = {"host": host, **({"port": port} if port else {})}
    return xr(cluster={"topology": {"class": "cc", "version": "v1.31.0"}, "controlPlaneEndpoint": endpoint},
              annotations={"vip.capi.gorizond.io/ingress-enabled": "false"})


def test_a_manual_host_needs_no_claim_and_is_the_endpoint_and_variable():
    out = run(manual("api.example.com", 443), {}, STORE)
    assert CP_CLAIM not in out.desired
    assert out.cluster["spec"]["controlPlaneEndpoint"] == {"host": "api.example.com", "port": 443}
    assert out.cluster["spec"]["topology"]["variables"] == [{"name": "clusterVip", "value": "api.example.com"}]
    assert out.conditions["ControlPlaneVIPReady"][:2] == (True, "Manual")


def test_a_manual_ipv6_host_is_written_canonically():
    out = run(manual("FD00:0::10"), {}, STORE)
    assert out.cluster["spec"]["controlPlaneEndpoint"] == {"host": "fd00::10", "port": 6443}


# 9. Readiness ----------------------------------------------------------------------


def test_a_claim_is_ready_when_bound_and_not_before():
    observed, store = bound()
    observed[INGRESS_CLAIM] = observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress", bound=False)
    out = run(xr(), observed, [*STORE, *store])
    assert out.ready[CP_CLAIM] is True
    assert out.ready[INGRESS_CLAIM] is False


def test_a_v1beta1_cluster_is_ready_when_its_ready_condition_is_true():
    observed, store = live(ready=True)
    assert run(xr(), observed, [*STORE, *store]).ready["cluster"] is True
    observed, store = live(ready=False)
    assert run(xr(), observed, [*STORE, *store]).ready["cluster"] is False


def test_a_v1beta2_cluster_is_ready_when_its_available_condition_is_true():
    inp = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "cluster": {"apiVersion": "cluster.x-k8s.io/v1beta2"}}
    observed, store = live()
    observed["cluster"] = observed_cluster(variables={"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10"},
                                           ingress="10.0.1.10", ready=True, api_version="cluster.x-k8s.io/v1beta2")
    out = run(xr(), observed, [*STORE, *store], inp=inp)
    assert out.ready["cluster"] is True


# The emitted API version ------------------------------------------------------------


def test_v1beta2_output_converts_the_class_reference():
    inp = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "cluster": {"apiVersion": "cluster.x-k8s.io/v1beta2"}}
    observed, store = bound()
    cluster = run(xr(classNamespace="team-a"), observed, [*STORE, *store], inp=inp).cluster
    assert cluster["apiVersion"] == "cluster.x-k8s.io/v1beta2"
    assert cluster["spec"]["topology"]["classRef"] == {"name": "cc", "namespace": "team-a"}
    assert "class" not in cluster["spec"]["topology"]


def test_v1beta1_output_converts_a_v1beta2_class_reference():
    observed, store = bound()
    obj = xr(cluster={"topology": {"classRef": {"name": "cc"}, "version": "v1.31.0"}})
    topology = run(obj, observed, [*STORE, *store]).cluster["spec"]["topology"]
    assert (topology["class"], "classRef" in topology) == ("cc", False)


# Spill-over ------------------------------------------------------------------------------


def test_an_unbound_claim_on_an_exhausted_pool_moves_to_a_pool_with_room():
    full = pool("team-pool", kind="InClusterIPPool", namespace="team-a", free=0, total=3)
    observed = {CP_CLAIM: observed_claim("vip-cp-c1", pool_name="team-pool", kind="InClusterIPPool", bound=False)}
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), observed, [CC, full, CP_POOL])
    assert CP_CLAIM not in out.desired
    assert out.normals == [("Released", "control-plane VIP of IPAddressClaim team-a/vip-cp-c1 released: moving to "
                                        "GlobalInClusterIPPool cp-pool, which has room")]
    again = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), {}, [CC, full, CP_POOL])
    assert again.desired[CP_CLAIM]["spec"]["poolRef"]["name"] == "cp-pool"


def test_an_unbound_claim_whose_pool_was_deleted_moves_to_another_pool():
    observed = {CP_CLAIM: observed_claim("vip-cp-c1", pool_name="gone-pool", bound=False)}
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), observed, [CC, CP_POOL])
    assert CP_CLAIM not in out.desired
    assert out.reason("ControlPlaneVIPReady") == "WaitingForAddress"


def test_an_unbound_claim_stays_when_no_other_pool_has_room():
    full = pool("cp-pool", free=0, total=3)
    observed = {CP_CLAIM: observed_claim("vip-cp-c1", bound=False)}
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), observed, [CC, full])
    assert CP_CLAIM in out.desired
    assert out.reason("ControlPlaneVIPReady") == "PoolExhausted"


def test_a_bound_claim_never_moves():
    observed, store = bound(ingress=None)
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), observed,
              [CC, pool("cp-pool", free=0, total=3), pool("other", free=9), *store])
    assert out.desired[CP_CLAIM]["spec"]["poolRef"]["name"] == "cp-pool"
