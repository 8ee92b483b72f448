"""Edge cases found in review: sources of VIPs, claims that cannot bind, status, malformed values."""

import pytest

from function import fn
from function import input as inputs
from tests.fixtures import CC, CP_POOL, ING_POOL, STORE, bound, live
from tests.harness import (
    CP_CLAIM,
    INGRESS_CLAIM,
    Outcome,
    cluster_class,
    observed_claim,
    observed_cluster,
    pool,
    request,
    run,
    to_dict,
    xr,
)


def with_status(obj, **vip):
    obj["status"] = {"vip": vip}
    return obj


# Where a VIP came from ------------------------------------------------------------------


def test_a_live_ingress_vip_without_its_claim_stays_while_the_class_cannot_be_read():
    observed, store = live()
    del observed[INGRESS_CLAIM]
    out = run(xr(), observed, [CP_POOL, ING_POOL, *store])
    assert out.cluster["metadata"]["annotations"] == {"vip.capi.gorizond.io/ingress-vip": "10.0.1.10"}
    assert not any(r == "Released" for r, _ in out.normals)


def test_a_live_ingress_vip_without_its_claim_stays_when_the_class_lost_the_variable():
    observed, store = live()
    del observed[INGRESS_CLAIM]
    out = run(xr(), observed, [cluster_class(variables=("clusterVip",)), CP_POOL, ING_POOL, *store])
    assert out.cluster["metadata"]["annotations"] == {"vip.capi.gorizond.io/ingress-vip": "10.0.1.10"}
    assert any(r == "ClusterClassMissingVariable" and "the Cluster keeps its annotation" in m for r, m in out.warnings)


def test_a_manual_endpoint_removed_from_the_xr_stays_and_claims_nothing():
    observed = {"cluster": observed_cluster(host="192.168.5.5")}
    obj = with_status(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}),
                      controlPlane="192.168.5.5", controlPlaneSource="Manual")
    out = run(obj, observed, STORE)
    assert CP_CLAIM not in out.desired
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "192.168.5.5"
    assert out.conditions["ControlPlaneVIPReady"][:2] == (True, "Manual")
    assert any(r == "Conflict" and "Set spec.cluster.controlPlaneEndpoint.host=192.168.5.5 again" in m for r, m in out.warnings)


def test_a_pool_endpoint_whose_claim_is_gone_is_claimed_again():
    observed = {"cluster": observed_cluster(host="10.0.0.10")}
    obj = with_status(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), controlPlaneSource="Pool")
    out = run(obj, observed, STORE)
    assert CP_CLAIM in out.desired
    assert any(r == "ClaimMissing" for r, _ in out.warnings)


def test_a_manual_ingress_vip_removed_from_the_xr_is_replaced_by_a_pool_vip_once_bound():
    observed, store = bound(ingress=None)
    observed["cluster"] = observed_cluster(variables={"clusterVip": "10.0.0.10", "ingressVip": "10.7.7.7"}, ingress="10.7.7.7")
    obj = with_status(xr(), ingressSource="Manual")
    waiting = run(obj, observed, [*STORE, *store])
    assert INGRESS_CLAIM in waiting.desired
    assert waiting.cluster["metadata"]["annotations"] == {"vip.capi.gorizond.io/ingress-vip": "10.7.7.7"}
    observed[INGRESS_CLAIM] = observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress")
    from tests.harness import ip_address

    switched = run(obj, observed, [*STORE, *store, ip_address("vip-ingress-c1", "10.0.1.10", pool_name="ing-pool")])
    assert switched.cluster["metadata"]["annotations"] == {"vip.capi.gorizond.io/ingress-vip": "10.0.1.10"}
    assert switched.status["ingressSource"] == "Pool"


def test_a_manual_ingress_vip_replaces_an_allocated_one_and_releases_its_claim():
    observed, store = live()
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-vip": "10.7.7.7"}), observed, [*STORE, *store])
    assert INGRESS_CLAIM not in out.desired
    assert out.cluster["metadata"]["annotations"] == {"vip.capi.gorizond.io/ingress-vip": "10.7.7.7"}


# Claims that cannot bind -----------------------------------------------------------------


def test_an_ingress_claim_whose_pool_is_gone_does_not_hold_the_cluster_back():
    observed, store = bound()
    observed[INGRESS_CLAIM] = observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress", bound=False)
    out = run(xr(), observed, [CC, CP_POOL, *store])
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    assert INGRESS_CLAIM in out.desired
    assert out.reason("IngressVIPReady") == "PoolNotFound"


def test_an_ingress_claim_on_an_exhausted_pool_does_not_hold_the_cluster_back():
    observed, store = bound()
    observed[INGRESS_CLAIM] = observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress", bound=False)
    full = pool("ing-pool", role="ingress", free=0, total=11)
    out = run(xr(), observed, [CC, CP_POOL, full, *store])
    assert out.cluster is not None
    assert any(r == "PoolExhausted" and "which has no free address" in m for r, m in out.warnings)


def test_a_control_plane_claim_whose_pool_is_gone_says_so():
    observed = {CP_CLAIM: observed_claim("vip-cp-c1", bound=False)}
    out = run(xr(), observed, [CC, ING_POOL])
    assert out.cluster is None
    assert out.reason("ControlPlaneVIPReady") == "PoolNotFound"
    assert any("GlobalInClusterIPPool cp-pool, which does not exist" in m for _, m in out.warnings)


def test_an_observed_claim_without_api_group_is_re_emitted_without_one():
    observed = {CP_CLAIM: observed_claim("vip-cp-c1", bound=False, api_group=None)}
    del observed[CP_CLAIM]["spec"]["poolRef"]["apiGroup"]
    out = run(xr(), observed, STORE)
    assert "apiGroup" not in out.desired[CP_CLAIM]["spec"]["poolRef"]


# The XR's status --------------------------------------------------------------------------


def test_status_written_by_earlier_pipeline_steps_is_kept():
    observed, store = live()
    req = request(xr(), observed, fetched={"cluster-class": [CC], "address/control-plane": [store[0]], "address/ingress": [store[1]]})
    req.desired.composite.resource.update({"status": {"network": "eth0", "vip": {"dns": "api.example.com"}}})
    status = to_dict(fn.run(req).desired.composite.resource)["status"]
    assert status["network"] == "eth0"
    assert status["vip"]["dns"] == "api.example.com"
    assert status["vip"]["controlPlane"] == "10.0.0.10"


def test_a_status_path_taken_by_a_non_object_is_fatal():
    req = request(xr(), {}, inp={"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "xr": {"statusPath": "status.network.vip"}})
    req.desired.composite.resource.update({"status": {"network": "eth0"}})
    assert "an earlier pipeline step wrote a non-object at network" in Outcome(fn.run(req)).fatal


def test_a_status_path_outside_status_is_an_input_error():
    with pytest.raises(inputs.InputError, match="must be below status"):
        inputs.load({"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "xr": {"statusPath": "spec.cluster"}})


# Malformed values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "message"),
    [("abc", "spec.cluster.topology.variables must be a list of {name, value} objects, but it is a str"),
     ({"a": 1}, "must be a list of {name, value} objects, but it is a dict"),
     ([1], "spec.cluster.topology.variables[0] must be an object with a non-empty string name"),
     ([{"name": {"x": 1}}], "variables[0] must be an object with a non-empty string name")],
)
def test_malformed_topology_variables_are_fatal_naming_the_field(variables, message):
    out = run(xr(variables=variables), {}, STORE)
    assert message in out.fatal


@pytest.mark.parametrize("free", [float("nan"), float("inf")])
def test_a_pool_reporting_a_non_finite_count_is_read_as_unreported(free):
    out = run(xr(), {}, [CC, pool("cp-pool", free=free)])
    assert not out.fatal
    assert CP_CLAIM in out.desired


def test_an_absurd_ttl_is_an_input_error():
    with pytest.raises(inputs.InputError, match="longer than 24h"):
        inputs.load({"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "ttl": {"converged": "9999999999999999h"}})


def test_xr_metadata_of_the_wrong_type_gets_the_proper_message():
    out = Outcome(fn.run(request({"metadata": "oops", "spec": {}})))
    assert out.fatal == "the XR has no metadata"


# Second review --------------------------------------------------------------------------


def deleting(claim):
    claim["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return claim


def test_a_claim_being_deleted_gives_no_vip_to_a_cluster_not_yet_composed():
    observed, store = bound(ingress=None)
    deleting(observed[CP_CLAIM])
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), observed, [*STORE, *store])
    assert out.cluster is None
    assert CP_CLAIM not in out.desired
    assert out.conditions["ControlPlaneVIPReady"][1:] == (
        "WaitingForAddress", "IPAddressClaim team-a/vip-cp-c1 is being deleted; a new claim is made once it is gone")


def test_a_claim_being_deleted_under_a_live_cluster_keeps_the_vip_and_warns():
    observed, store = live()
    deleting(observed[INGRESS_CLAIM])
    out = run(xr(), observed, [*STORE, *store])
    assert INGRESS_CLAIM not in out.desired
    assert out.cluster["metadata"]["annotations"] == {"vip.capi.gorizond.io/ingress-vip": "10.0.1.10"}
    assert any(r == "ClaimMissing" and "is being deleted" in m for r, m in out.warnings)


def test_a_manual_host_equal_to_the_pool_vip_keeps_it_reserved():
    observed = {"cluster": observed_cluster(host="10.0.0.10")}
    obj = with_status(_manual_xr("10.0.0.10"), controlPlane="10.0.0.10", controlPlaneSource="Pool")
    out = run(obj, observed, STORE)
    assert CP_CLAIM in out.desired
    assert out.status["controlPlaneSource"] == "Pool"


def _manual_xr(host):
    return xr(cluster={"topology": {"class": "cc", "version": "v1.31.0"}, "controlPlaneEndpoint": {"host": host}},
              annotations={"vip.capi.gorizond.io/ingress-enabled": "false"})


def test_a_manual_ingress_vip_equal_to_the_claims_address_keeps_the_claim():
    observed, store = live()
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-vip": "10.0.1.10"}), observed, [*STORE, *store])
    assert INGRESS_CLAIM in out.desired
    assert out.status["ingressSource"] == "Pool"
    assert out.normals == []


def test_no_usage_for_a_claim_that_holds_no_address_yet():
    observed, store = live(ingress=None)
    observed[INGRESS_CLAIM] = observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress", bound=False)
    out = run(xr(), observed, [*STORE, *store])
    assert "vip-usage-control-plane" in out.desired
    assert "vip-usage-ingress" not in out.desired


def test_usage_none_keeps_an_existing_usage_but_makes_no_new_one():
    from tests.test_usage import observed_usage

    observed, store = live()
    observed["vip-usage-control-plane"] = observed_usage()
    out = run(xr(), observed, [*STORE, *store], inp={"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "usage": "None"})
    assert "vip-usage-control-plane" in out.desired
    assert "vip-usage-ingress" not in out.desired


def test_a_bad_variable_item_is_shown_as_json_not_protobuf_text():
    out = run(xr(variables=[{"value": {"a": 1}}]), {}, STORE)
    assert "but it is {'value': {'a': 1}}" in out.fatal


def test_metrics_forget_xrs_and_pools_not_seen_for_an_hour():
    from function import metrics

    metrics.observe_waiting("team-z/gone", "ingress", "WaitingForAddress", now=1_000_000.0)
    metrics.observe_pool("GlobalInClusterIPPool", None, "old-pool", 3, 5, now=1_000_000.0)
    assert metrics.WAITING.labels("ingress")._value.get() >= 1
    metrics.observe_waiting("team-z/other", "ingress", "Allocated", now=1_000_000.0 + metrics.FORGET_AFTER + 61)
    assert "team-z/gone" not in metrics._waiting["ingress"]
    assert ("GlobalInClusterIPPool", "", "old-pool") not in metrics._pools
