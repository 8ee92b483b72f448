"""The steady state: a converged XR is reconciled in one call, and nothing composed differs (steady.py)."""

import pytest

from tests.fixtures import STORE, live
from tests.harness import (
    CP_CLAIM,
    INGRESS_CLAIM,
    World,
    cluster_class,
    ip_address,
    observed_claim,
    observed_cluster,
    request,
    run,
    xr,
)
from function import fn

STATUS = {"status": {"vip": {"controlPlane": "10.0.0.10", "controlPlaneSource": "Pool",
                             "ingress": "10.0.1.10", "ingressSource": "Pool"}}}


def converged_xr(**kw):
    return {**xr(**kw), **STATUS}


def steady(reconciled=True, **kw):
    observed, store = live(reconciled=reconciled, ready=True, **kw)
    return observed, [*STORE, *store]


def same_outcome(a, b):
    assert a.desired == b.desired
    assert a.ready == b.ready
    assert a.status == b.status
    assert a.conditions == b.conditions
    assert a.ttl == b.ttl
    assert a.warnings == b.warnings == [] and a.normals == b.normals == []


def test_a_converged_xr_whose_cluster_capi_reconciled_takes_one_call():
    observed, store = steady()
    out = run(converged_xr(), observed, store)
    assert out.calls == 1
    assert out.reason("ControlPlaneVIPReady") == "Allocated" and out.reason("IngressVIPReady") == "Allocated"


def test_the_one_call_asks_for_nothing_not_even_an_empty_requirements_message():
    # Crossplane compares with proto.Equal against nil: an empty message would cost a second call.
    observed, _ = steady()
    rsp = fn.run(request(converged_xr(), observed))
    assert not rsp.HasField("requirements")


def test_the_one_call_composes_exactly_what_the_fetched_decision_composes():
    observed, store = steady()
    fetched = run(converged_xr(), {**observed, "cluster": observed_cluster(
        host="10.0.0.10", variables={"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10"}, ingress="10.0.1.10",
        ready=True, reconciled=None)}, store)
    assert fetched.calls == 2
    same_outcome(run(converged_xr(), observed, store), fetched)


def test_the_one_call_keeps_the_converged_ttl():
    observed, store = steady()
    assert run(converged_xr(), observed, store).ttl == 600


def test_a_cluster_capi_cannot_reconcile_is_decided_from_a_fetch():
    observed, store = steady(reconciled=False)
    assert run(converged_xr(), observed, store).calls == 2


def test_a_cluster_without_the_topology_reconciled_condition_is_decided_from_a_fetch():
    observed, store = steady(reconciled=None)
    assert run(converged_xr(), observed, store).calls == 2


def test_a_class_that_dropped_the_cluster_vip_variable_is_noticed_once_capi_reports_it():
    observed, store = steady(reconciled=False)
    store = [s for s in store if s.get("kind") != "ClusterClass"] + [cluster_class(variables=("ingressVip",))]
    out = run(converged_xr(), observed, store)
    assert out.reason("ControlPlaneVIPReady") == "ClusterClassMissingVariable"
    names = [v["name"] for v in out.cluster["spec"]["topology"]["variables"]]
    assert "clusterVip" not in names and out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"


def test_an_xr_that_names_another_class_is_decided_from_a_fetch_of_that_class():
    observed, store = steady()
    out = run(converged_xr(cls="other"), observed, [*store, cluster_class("other", variables=("clusterVip",))])
    assert out.calls == 2
    assert "ingressVip" not in [v["name"] for v in out.cluster["spec"]["topology"]["variables"]]


def test_a_cluster_without_the_ingress_variable_is_decided_from_a_fetch_every_time():
    # Its class may have gained the variable since: only a fetch can tell.
    observed, store = steady(ingress=None)
    store = [s for s in store if s.get("kind") != "ClusterClass"] + [cluster_class(variables=("clusterVip",))]
    x = {**xr(), "status": {"vip": {"controlPlane": "10.0.0.10", "controlPlaneSource": "Pool"}}}
    out = run(x, observed, store)
    assert out.calls == 2 and out.reason("IngressVIPReady") == "Disabled"


def test_a_class_that_gained_the_ingress_variable_gets_an_ingress_claim():
    observed, store = steady(ingress=None)
    x = {**xr(), "status": {"vip": {"controlPlane": "10.0.0.10", "controlPlaneSource": "Pool"}}}
    out = run(x, observed, store)  # STORE's class defines ingressVip
    assert out.desired[INGRESS_CLAIM]["spec"]["poolRef"]["name"] == "ing-pool"


def test_ingress_turned_off_by_the_xr_is_steady_without_the_ingress_variable():
    observed, store = steady(ingress=None)
    x = {**xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}),
         "status": {"vip": {"controlPlane": "10.0.0.10", "controlPlaneSource": "Pool"}}}
    out = run(x, observed, store)
    assert out.calls == 1 and out.reason("IngressVIPReady") == "Disabled"


def test_a_manual_endpoint_is_steady():
    observed = {"cluster": observed_cluster(host="192.168.9.9", variables={"clusterVip": "192.168.9.9", "ingressVip": "10.0.1.10"},
                                            ingress="10.0.1.10", ready=True, reconciled=True),
                INGRESS_CLAIM: observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress")}
    x = {**xr(cluster={"topology": {"class": "cc", "version": "v1.31.0"}, "controlPlaneEndpoint": {"host": "192.168.9.9"}}),
         "status": {"vip": {"controlPlane": "192.168.9.9", "controlPlaneSource": "Manual",
                            "ingress": "10.0.1.10", "ingressSource": "Pool"}}}
    out = run(x, observed, [*STORE, ip_address("vip-ingress-c1", "10.0.1.10", pool_name="ing-pool")])
    assert out.calls == 1 and out.reason("ControlPlaneVIPReady") == "Manual"


def test_an_unbound_claim_on_a_live_cluster_is_decided_alike_with_and_without_a_fetch():
    # A claim made again after a hand deletion: the Cluster keeps its VIP either way.
    observed, store = steady()
    observed[INGRESS_CLAIM] = observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress", bound=False)
    unreconciled = {**observed, "cluster": observed_cluster(
        host="10.0.0.10", variables={"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10"}, ingress="10.0.1.10",
        ready=True, reconciled=None)}
    same_outcome(run(converged_xr(), observed, store), run(converged_xr(), unreconciled, store))


def test_a_claim_deleted_by_hand_is_made_again_after_a_fetch():
    observed, store = steady()
    del observed[CP_CLAIM]
    out = run(converged_xr(), observed, store)
    assert out.calls >= 2 and CP_CLAIM in out.desired
    assert out.warnings[0][0] == "ClaimMissing"


def test_an_ingress_annotation_that_differs_from_the_variable_is_decided_from_a_fetch():
    observed, store = steady()
    observed["cluster"]["metadata"]["annotations"]["vip.capi.gorizond.io/ingress-vip"] = "10.0.1.99"
    assert run(converged_xr(), observed, store).calls == 2


def test_turning_ingress_off_on_a_steady_xr_releases_the_claim_after_a_fetch():
    observed, store = steady()
    out = run({**converged_xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"})}, observed, store)
    assert out.calls == 2 and INGRESS_CLAIM not in out.desired
    assert out.normals and out.normals[0][0] == "Released"


@pytest.mark.parametrize("modern", [True, False])
def test_both_crossplane_generations_take_one_call(modern):
    observed, store = steady()
    assert run(converged_xr(), observed, store, modern=modern).calls == 1


def test_a_v1beta2_cluster_is_steady():
    observed, store = steady(api_version="cluster.x-k8s.io/v1beta2")
    assert run(converged_xr(), observed, store).calls == 1


def test_the_ipaddress_of_a_claim_older_than_its_cluster_is_not_read_again():
    # Documented: it is the address the Cluster was composed with, and it cannot change while
    # its claim exists (immutable spec, ProtectAddress finalizer).
    observed, store = steady()
    store = [s for s in store if s.get("kind") != "IPAddress"] + [ip_address("vip-cp-c1", "10.0.0.77"),
                                                                  ip_address("vip-ingress-c1", "10.0.1.10", pool_name="ing-pool")]
    out = run(converged_xr(), observed, store)
    assert out.calls == 1 and out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    assert out.warnings == []


def test_the_steady_state_needs_no_status_of_its_own():
    # Nothing is recorded to make the one-call path work: an XR whose status was lost is steady too.
    observed, store = steady()
    out = run(xr(), observed, store)
    assert out.calls == 1 and out.status == STATUS["status"]["vip"]



# --- the two paths agree --------------------------------------------------------------

CP_STATES = ("pool", "pool-unbound", "pool-deleting", "pool-missing", "manual", "manual-removed", "manual-differs")
INGRESS_STATES = ("pool", "pool-unbound", "pool-missing", "manual", "manual-changed", "disabled", "disabled-live")


def _state(cp: str, ing: str, usages: bool, recorded: bool, api_version: str):
    """An XR, its observed resources and a consistent store, where the Cluster CAPI reconciled is live."""
    from tests.test_usage import observed_usage

    host = "192.168.9.9" if cp.startswith("manual") else "10.0.0.10"
    annotations, observed, store, status = {}, {}, [*STORE], {}
    cluster = {"topology": {"class": "cc", "version": "v1.31.0"}}
    if cp in ("manual", "manual-differs"):
        cluster["controlPlaneEndpoint"] = {"host": host if cp == "manual" else "192.168.9.8"}
    if cp.startswith("pool"):
        if cp != "pool-missing":
            observed[CP_CLAIM] = observed_claim("vip-cp-c1", bound=cp != "pool-unbound")
            if cp == "pool-deleting":
                observed[CP_CLAIM]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        store.append(ip_address("vip-cp-c1", host))
    status.update(controlPlane=host, controlPlaneSource="Manual" if cp.startswith("manual") else "Pool")
    ingress = "10.0.1.10"
    if ing.startswith("pool"):
        if ing != "pool-missing":
            observed[INGRESS_CLAIM] = observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress",
                                                     bound=ing != "pool-unbound")
        store.append(ip_address("vip-ingress-c1", ingress, pool_name="ing-pool"))
        status.update(ingress=ingress, ingressSource="Pool")
    elif ing.startswith("manual"):
        annotations["vip.capi.gorizond.io/ingress-vip"] = ingress if ing == "manual" else "10.0.1.77"
        status.update(ingress=ingress, ingressSource="Manual")
    else:
        annotations["vip.capi.gorizond.io/ingress-enabled"] = "false"
        if ing == "disabled-live":
            observed[INGRESS_CLAIM] = observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress")
            store.append(ip_address("vip-ingress-c1", ingress, pool_name="ing-pool"))
    live_ingress = None if ing == "disabled" else ingress
    variables = {"clusterVip": host, **({"ingressVip": live_ingress} if live_ingress else {})}
    if usages:
        for name, claim in ((CP_CLAIM, "vip-cp-c1"), (INGRESS_CLAIM, "vip-ingress-c1")):
            if name in observed:
                observed[name.replace("claim", "usage")] = observed_usage(claim)
    x = xr(annotations=annotations or None, cluster=cluster)
    if recorded:
        x["status"] = {"vip": status}

    def observed_with(reconciled):
        return {**observed, "cluster": observed_cluster(host=host, variables=variables, ingress=live_ingress, ready=True,
                                                        api_version=api_version, reconciled=reconciled)}

    return x, observed_with, store


@pytest.mark.parametrize("api_version", ["cluster.x-k8s.io/v1beta1", "cluster.x-k8s.io/v1beta2"])
@pytest.mark.parametrize("cp", CP_STATES)
def test_the_one_call_path_decides_as_the_fetch_path_does(cp, api_version):
    """Over every control-plane x ingress x Usage x status combination: where one call suffices,
    it composes, reports and schedules exactly what the reconcile with a fetch does."""
    one_call = 0
    for ing in INGRESS_STATES:
        for usages in (False, True):
            for recorded in (False, True):
                x, observed_with, store = _state(cp, ing, usages, recorded, api_version)
                fetched = run(x, observed_with(None), store)
                fast = run(x, observed_with(True), store)
                assert fetched.calls >= 2
                if fast.calls == 1:
                    one_call += 1
                    same_outcome(fast, fetched)
                else:
                    assert (fast.desired, fast.conditions, fast.warnings) == (fetched.desired, fetched.conditions, fetched.warnings)
    if cp in ("pool", "manual"):
        assert one_call > 0  # the clean states do take one call: this test compares something


# --- claims younger than their Cluster ----------------------------------------------------


def _capi_reconciled(w: World) -> None:
    """What CAPI's topology controller reports on a Cluster it applied."""
    c = w.get("Cluster", "c1", "team-a")
    conditions = [x for x in (c.get("status") or {}).get("conditions", []) if x["type"] != "TopologyReconciled"]
    c["status"] = {"conditions": [*conditions, {"type": "TopologyReconciled", "status": "True", "reason": "ReconcileSucceeded"}]}


def _reconcile(w: World, x: dict):
    out = w.reconcile(x)
    x["status"] = {"vip": out.status}
    w.converge_ipam()
    if w.get("Cluster", "c1", "team-a"):
        _capi_reconciled(w)
    return out


def test_a_claim_made_again_and_bound_to_another_address_keeps_warning_in_the_steady_state():
    w = World()
    w.add(*STORE)
    x = xr()
    for _ in range(5):
        _reconcile(w, x)
    assert w.get("Cluster", "c1", "team-a")["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    w.remove(w.get("IPAddressClaim", "vip-cp-c1", "team-a"))  # deleted by hand; IPAM frees 10.0.0.10
    w.remove(w.get("IPAddress", "vip-cp-c1", "team-a"))
    w.add(ip_address("vip-cp-other", "10.0.0.10", namespace="team-b"))  # and gives it to another cluster
    _reconcile(w, x)  # the claim is made again, and bound to 10.0.0.11
    assert w.get("IPAddress", "vip-cp-c1", "team-a")["spec"]["address"] == "10.0.0.11"
    for _ in range(3):
        out = _reconcile(w, x)
        assert out.calls == 2
        assert [r for r, _ in out.warnings] == ["AddressMismatch"] and out.ttl == 15


def test_a_manual_ingress_vip_removed_from_the_xr_is_replaced_by_the_pools_after_a_fetch():
    w = World()
    w.add(*STORE)
    x = xr(annotations={"vip.capi.gorizond.io/ingress-vip": "10.0.1.77"})
    for _ in range(4):
        _reconcile(w, x)
    assert w.get("Cluster", "c1", "team-a")["metadata"]["annotations"]["vip.capi.gorizond.io/ingress-vip"] == "10.0.1.77"
    del x["metadata"]["annotations"]
    for _ in range(4):
        out = _reconcile(w, x)
    assert w.get("IPAddress", "vip-ingress-c1", "team-a")["spec"]["address"] == "10.0.1.10"
    assert w.get("Cluster", "c1", "team-a")["metadata"]["annotations"]["vip.capi.gorizond.io/ingress-vip"] == "10.0.1.10"
    assert out.status["ingress"] == "10.0.1.10" and out.status["ingressSource"] == "Pool"


def test_a_converged_world_reaches_the_one_call_steady_state():
    w = World()
    w.add(*STORE)
    x = xr()
    outs = [_reconcile(w, x) for _ in range(6)]
    assert outs[-1].calls == 1 and outs[-1].warnings == [] and outs[-1].ttl == 600


def test_a_cluster_endpoint_in_another_ipv6_spelling_is_no_address_mismatch():
    observed, store = steady(reconciled=None, cp="fd00::10", ingress=None)
    observed["cluster"]["spec"]["controlPlaneEndpoint"]["host"] = "fd00:0:0::10"
    x = {**xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"})}
    out = run(x, observed, store)
    assert "AddressMismatch" not in [r for r, _ in out.warnings]
