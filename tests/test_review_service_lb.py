"""The review of the service-lb role (helper-14): each case failed before its fix."""

import copy

from function import fn
from tests.fixtures import STORE, bound, live
from tests.harness import (
    ip_address,
    observed_claim,
    pool,
    run,
    xr,
)
from tests.test_service_lb import (
    COUNT,
    LB_POOL,
    WORLD,
    lb_claims,
    listed,
    with_lb,
)


def _with_list(observed, addrs):
    observed["cluster"]["spec"]["topology"]["variables"].append({"name": "serviceLbVips", "value": list(addrs)})
    return observed


# 1. a released claim's address stays on the Cluster while another index's address is unread
def test_lowering_the_count_while_an_address_is_unread_takes_the_released_address_off_the_list():
    observed, store = with_lb(*live(), lb_claims(3))
    _with_list(observed, ["10.0.2.10", "10.0.2.11", "10.0.2.12"])
    store = [a for a in store if a["metadata"]["name"] != "vip-lb-c1-0"]  # index 0's IPAddress not found
    out = run(xr(annotations={COUNT: "1"}), observed, [*WORLD, *store])
    assert "vip-claim-service-lb-2" not in out.desired  # released: IPAM frees 10.0.2.12 ...
    assert "10.0.2.12" not in listed(out)  # ... so the Cluster must not keep announcing it


def test_a_claim_deleted_by_hand_while_another_address_is_unread_leaves_the_list():
    observed, store = with_lb(*live(), lb_claims(2))
    _with_list(observed, ["10.0.2.10", "10.0.2.11"])
    observed["vip-claim-service-lb-1"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    store = [a for a in store if a["metadata"]["name"] != "vip-lb-c1-0"]
    out = run(xr(annotations={COUNT: "2"}), observed, [*WORLD, *store])
    assert "vip-claim-service-lb-1" not in out.desired
    assert "10.0.2.11" not in listed(out)


def _lists(w, name):
    c = w.get("Cluster", name, "team-a")
    return next((v["value"] for v in c["spec"]["topology"].get("variables", []) if v["name"] == "serviceLbVips"), [])


def test_two_clusters_never_list_one_address_while_an_address_is_unread():
    from tests.harness import World
    w = World()
    w.add(*WORLD)
    c1 = xr("c1", annotations={COUNT: "2"})
    w.settle(c1, rounds=6)
    assert sorted(_lists(w, "c1")) == ["10.0.2.10", "10.0.2.11"]  # in the order IPAM bound them
    c1 = xr("c1", annotations={COUNT: "1"})
    for _ in range(4):  # Crossplane leaves address/service-lb-0 unanswered meanwhile (a fault; or not found yet)
        w.reconcile(c1, drop={"address/service-lb-0"})
        w.converge_ipam()
    assert w.get("IPAddressClaim", "vip-lb-c1-1", "team-a") is None  # released: 10.0.2.11 is free in IPAM
    c2 = xr("c2")
    w.settle(c2, rounds=6)
    shared = set(_lists(w, "c1")) & set(_lists(w, "c2"))
    assert not shared, f"both Clusters list {shared}"


# 2. a class without serviceLbVips: another pipeline step's resource named vip-claim-service-lb-<i> is taken for ours
def _earlier(name, obj):
    from tests.harness import to_struct

    def transport(req):
        req.desired.resources[name].resource.CopyFrom(to_struct(obj))
        return fn.run(req)
    return transport




def test_another_steps_claim_under_a_service_lb_name_is_left_to_it_where_the_role_is_not_used():
    theirs = {"apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddressClaim",
              "metadata": {"name": "egress-c1", "namespace": "team-a", "labels": {"team": "net"}},
              "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "GlobalInClusterIPPool", "name": "egress"}}}
    observed, store = live()
    observed["vip-claim-service-lb-0"] = observed_claim("egress-c1", pool_name="egress", role="egress")
    out = run(xr(), observed, [*STORE, *store], transport=_earlier("vip-claim-service-lb-0", theirs))
    assert out.desired["vip-claim-service-lb-0"] == theirs  # not rewritten with our role label
    assert "ServiceLBVIPsReady" not in out.conditions and out.warnings == []


# 3. Inputs that were valid before the role existed are refused now
INPUT = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input"}


def test_an_input_whose_ingress_pools_are_labelled_service_lb_still_loads():
    inp = {**INPUT, "roles": {"ingress": {"labelValue": "service-lb", "variable": "ingressVip", "claimName": "vip-ingress-{cluster}"}}}
    observed, store = live()
    out = run(xr(), observed, [*STORE, *store], inp=inp)
    assert out.fatal is None


def test_an_input_whose_dns_variable_is_servicelbvips_still_loads():
    inp = {**INPUT, "dns": {"zone": "clusters.example.org", "variable": "serviceLbVips"}}
    observed, store = live()
    out = run(xr(), observed, [*STORE, *store], inp=inp)
    assert out.fatal is None


# 4. several claims are made at once from the best pool, however few addresses it has; an unbound claim never moves
def test_new_claims_are_not_all_put_in_a_pool_with_too_few_free_addresses():
    small = pool("lb-small", role="service-lb", kind="InClusterIPPool", namespace="team-a", free=1, total=1,
                 addresses=("10.0.3.10",), gateway="10.0.3.1")
    observed, store = live()
    out = run(xr(annotations={COUNT: "3"}), observed, [*WORLD, small, *store])
    refs = [out.desired[f"vip-claim-service-lb-{i}"]["spec"]["poolRef"]["name"] for i in range(3)]
    assert refs.count("lb-small") <= 1, refs  # lb-pool has 20 free; lb-small has room for one


def test_an_unbound_claim_whose_pool_is_gone_is_made_again_from_a_pool_with_room():
    observed, store = with_lb(*live(), lb_claims(2, bound_to={0}))
    observed["vip-claim-service-lb-1"]["spec"]["poolRef"]["name"] = "lb-gone"
    out = run(xr(annotations={COUNT: "2"}), observed, [*WORLD, *store])
    moved = out.desired.get("vip-claim-service-lb-1", {}).get("spec", {}).get("poolRef", {}).get("name") != "lb-gone"
    said = any("lb-gone" in m for _, m in out.warnings) or "lb-gone" in out.conditions["ServiceLBVIPsReady"][2]
    assert moved or said, out.conditions["ServiceLBVIPsReady"]


def test_a_claim_in_a_full_pool_is_not_stuck_while_another_pool_has_room():
    from tests.harness import World
    small = pool("lb-small", role="service-lb", kind="InClusterIPPool", namespace="team-a", free=1, total=1,
                 addresses=("10.0.3.10",), gateway="10.0.3.1")
    w = World()
    w.add(*WORLD, small)
    c1 = xr("c1", annotations={COUNT: "2"})
    outs = w.settle(c1, rounds=8)
    assert len(_lists(w, "c1")) == 2, (_lists(w, "c1"), outs[-1].conditions.get("ServiceLBVIPsReady"))


# 5. manualVips.checkPools does not look at the service-lb pools, nor at the XR's own service-lb claims
CHECK = {**INPUT, "manualVips": {"checkPools": True}}


def test_check_pools_holds_back_a_manual_host_a_service_lb_pool_can_hand_out():
    manual = xr(cluster={"topology": {"class": "cc", "version": "v1.31.0"}, "controlPlaneEndpoint": {"host": "10.0.2.15"}},
                annotations={"vip.capi.gorizond.io/ingress-enabled": "false"})
    out = run(manual, {}, WORLD, inp=CHECK)
    assert out.conditions["ControlPlaneVIPReady"][1] == "ManualVIPInPool", out.conditions["ControlPlaneVIPReady"]


def test_check_pools_refuses_a_manual_ingress_vip_one_of_the_xrs_service_lb_claims_holds():
    observed, store = with_lb(*live(ingress=None), lb_claims(1))
    out = run(xr(annotations={COUNT: "1", "vip.capi.gorizond.io/ingress-vip": "10.0.2.10"}), observed,
              [*WORLD, *store], inp=CHECK)
    assert out.conditions["IngressVIPReady"][1] == "Conflict", (out.conditions["IngressVIPReady"], listed(out), out.cluster["metadata"])


# 6. a list the user wrote on the XR (a class that already had serviceLbVips) is replaced on upgrade, without a warning
def test_a_list_the_xr_sets_itself_is_the_clusters():
    mine = ["192.168.9.9", "192.168.9.10"]
    observed, store = live()
    _with_list(observed, mine)
    out = run(xr(variables=[{"name": "serviceLbVips", "value": mine}]), observed, [*WORLD, *store])
    assert listed(out) == mine or out.warnings, (listed(out), out.warnings)


def test_another_steps_usage_under_a_service_lb_name_is_never_deleted():
    theirs = {"apiVersion": "protection.crossplane.io/v1beta1", "kind": "Usage",
              "metadata": {"name": "keep-db", "namespace": "team-a"},
              "spec": {"of": {"apiVersion": "v1", "kind": "Secret", "resourceRef": {"name": "db"}}, "replayDeletion": True}}
    observed, store = live()
    observed["vip-usage-service-lb-0"] = copy.deepcopy(theirs)
    out = run(xr(annotations={COUNT: "0"}), observed, [*STORE, *store], transport=_earlier("vip-usage-service-lb-0", theirs))
    assert out.desired.get("vip-usage-service-lb-0") == theirs  # dropped from desired: Crossplane deletes it


# 7. simulator properties that hide the defects above
def _lb_sim(**kw):
    from tests import edits
    from tests.sim import Sim
    sim = Sim(seed=1, inp=edits.SERVICE_LB, **kw)
    edits.fleet(sim, classes=("alpha",), service_lb=True)
    return sim


def _sim_list(sim, name):
    c = sim.find("Cluster", name, "team-a")
    return next((v["value"] for v in c["spec"]["topology"].get("variables", []) if v["name"] == "serviceLbVips"), None)


def test_sim_a_stuck_service_lb_claim_is_flagged_after_settling():
    sim = _lb_sim()
    sim.add(pool("alpha-lb-small", "alpha", "service-lb", kind="InClusterIPPool", namespace="team-a",
                 addresses=("10.9.1.10",), gateway="10.9.1.1"))
    sim.crossplane.create_xr(xr("c1", "team-a", "alpha"))  # defaultCount 2
    sim.settle(900)
    sim.check_claims_serve()
    assert len(_sim_list(sim, "c1")) == 2 or sim.violations, (_sim_list(sim, "c1"), sim.violations)


def test_sim_check_claims_serve_flags_a_listed_address_no_claim_of_the_xr_holds():
    sim = _lb_sim()
    sim.crossplane.create_xr(xr("c1", "team-a", "alpha"))
    sim.settle(600)
    assert len(_sim_list(sim, "c1")) == 2
    _sim_list(sim, "c1").append("10.0.32.200")  # what defect 1 leaves: an address IPAM may hand to another cluster
    sim.check_claims_serve()
    sim.audit()
    assert sim.violations


# 8. an XR made again under its name composes its service-lb claims over the earlier XR's (no lookup, unlike the other roles)
def test_a_service_lb_claim_of_an_earlier_xr_of_the_same_name_is_not_composed_over():
    earlier = {"apiVersion": "platform.example.org/v1alpha1", "kind": "WorkloadCluster", "name": "c1",
               "uid": "earlier-1", "controller": True}
    old = observed_claim("vip-lb-c1-0", pool_name="lb-pool", role="service-lb")
    old["metadata"]["ownerReferences"] = [earlier]
    old["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"  # the old Cluster's Usage / IPAM's finalizer holds it
    observed, store = bound()
    out = run(xr(annotations={COUNT: "1"}), observed, [*WORLD, old, ip_address("vip-lb-c1-0", "10.0.2.10", pool_name="lb-pool"), *store])
    assert "vip-claim-service-lb-0" not in out.desired  # applying it would give the old claim a second controller


# 9. the ClusterClassMissingVariable fix it gives for serviceLbVips is a string schema (CAPI would then reject the list)
def test_the_missing_variable_fix_for_the_service_lb_list_is_an_array_schema():
    observed, store = with_lb(*live(), lb_claims(2))
    out = run(xr(), observed, [*STORE, LB_POOL, *store])
    [(_, message)] = out.warnings
    assert "type: string, default" not in message, message


# 10. a non-ASCII digit in the count is an unexpected error, not the annotation's Fatal
def test_a_superscript_count_is_refused_naming_the_annotation():
    observed, store = with_lb(*live(), lb_claims(2))
    out = run(xr(annotations={COUNT: "\u00b2"}), observed, [*WORLD, *store])
    assert COUNT in out.fatal, out.fatal


# The second review of the fixes (helper-15): each case failed before its fix.


def _with_list(observed, addrs):
    observed["cluster"]["spec"]["topology"]["variables"].append({"name": "serviceLbVips", "value": list(addrs)})
    return observed


def test_a_claim_above_the_count_whose_address_is_unread_keeps_its_address_listed():
    observed, store = with_lb(*live(), lb_claims(2))
    _with_list(observed, ["10.0.2.10", "10.0.2.11"])
    store = [a for a in store if a["metadata"]["name"] != "vip-lb-c1-1"]
    out = run(xr(annotations={COUNT: "1"}), observed, [*WORLD, *store])
    assert "vip-claim-service-lb-1" in out.desired
    assert "10.0.2.11" in listed(out)


def test_a_list_the_xr_writes_itself_is_what_a_live_cluster_gets():
    observed, store = live()
    _with_list(observed, ["10.0.2.10", "10.0.2.11"])
    out = run(xr(variables=[{"name": "serviceLbVips", "value": ["10.0.2.99"]}]), observed, [*WORLD, *store])
    assert out.conditions["ServiceLBVIPsReady"][1] == "Manual"
    assert listed(out) == ["10.0.2.99"]


def test_a_written_list_naming_a_claimed_address_keeps_that_claim():
    observed, store = with_lb(*live(), lb_claims(2))
    _with_list(observed, ["10.0.2.10", "10.0.2.11"])
    out = run(xr(annotations={COUNT: "2"}, variables=[{"name": "serviceLbVips", "value": ["10.0.2.10"]}]),
              observed, [*WORLD, *store])
    assert "vip-claim-service-lb-0" in out.desired
    assert "vip-claim-service-lb-1" not in out.desired


def test_a_written_value_that_is_not_a_list_of_addresses_is_fatal():
    observed, store = with_lb(*live(), lb_claims(2))
    out = run(xr(variables=[{"name": "serviceLbVips", "value": "10.0.2.50"}]), observed, [*WORLD, *store])
    assert "not a list of IP addresses" in out.fatal


def test_a_deleting_claim_whose_address_is_gone_leaves_the_list_by_the_recorded_address():
    observed, store = with_lb(*live(), lb_claims(3))
    _with_list(observed, ["10.0.2.10", "10.0.2.11", "10.0.2.12"])
    observed["vip-claim-service-lb-2"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    store = [a for a in store if a["metadata"]["name"] not in ("vip-lb-c1-0", "vip-lb-c1-2")]
    composite = xr(annotations={COUNT: "3"})
    composite["status"] = {"vip": {"serviceLb": "0=10.0.2.10,1=10.0.2.11,2=10.0.2.12"}}
    out = run(composite, observed, [*WORLD, *store])
    assert "vip-claim-service-lb-2" not in out.desired
    assert listed(out) == ["10.0.2.10", "10.0.2.11"]


def test_the_status_records_which_claim_holds_which_address():
    observed, store = with_lb(*live(), lb_claims(2))
    out = run(xr(annotations={COUNT: "2"}), observed, [*WORLD, *store])
    assert out.status["serviceLb"] == "0=10.0.2.10,1=10.0.2.11"


_V1BETA2 = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "ipam": {"claimApiVersion": "ipam.cluster.x-k8s.io/v1beta2"}}


def test_another_claim_api_version_keeps_the_service_lb_claims():
    observed, store = with_lb(*live(), lb_claims(3))
    out = run(xr(), observed, [*WORLD, *store], inp=_V1BETA2)
    assert out.fatal is None
    assert "vip-claim-service-lb-0" in out.desired


def test_another_claim_api_version_keeps_the_claims_of_a_class_that_lost_the_variable():
    observed, store = with_lb(*live(), lb_claims(2))
    out = run(xr(), observed, [*STORE, *WORLD[1:], *store], inp=_V1BETA2)
    assert out.fatal is None
    assert "vip-claim-service-lb-0" in out.desired


# The last review (helper-16): the record of which claim holds which address survives while claims are held.

RECORD = "0=10.0.2.10,1=10.0.2.11"


def test_while_the_class_cannot_be_read_the_address_record_stays():
    observed, store = with_lb(*live(), lb_claims(2))
    composite = xr(annotations={COUNT: "2"})
    composite["status"] = {"vip": {"serviceLb": RECORD}}
    out = run(composite, observed, [*STORE[1:], LB_POOL, *store])
    assert "vip-claim-service-lb-0" in out.desired
    assert out.status.get("serviceLb") == RECORD


def test_with_the_xrs_own_list_a_held_claims_address_record_stays():
    observed, store = with_lb(*live(), lb_claims(2))
    composite = xr(annotations={COUNT: "2"}, variables=[{"name": "serviceLbVips", "value": ["10.0.2.99"]}])
    composite["status"] = {"vip": {"serviceLb": RECORD}}
    store = [a for a in store if a["metadata"]["name"] != "vip-lb-c1-0"]
    out = run(composite, observed, [*WORLD, *store])
    assert "vip-claim-service-lb-0" in out.desired
    assert out.status.get("serviceLb") == "0=10.0.2.10"
