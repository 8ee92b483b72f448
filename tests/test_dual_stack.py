"""Dual-stack VIP pairs, where the ClusterClass defines clusterVipSecondary / ingressVipSecondary.

Each role then gets a second claim (vip-cp-<cluster>-secondary, vip-ingress-<cluster>-secondary) from a pool
of the role whose spec.addresses are of the other family. The endpoint host and the roles' variables carry
the primary family's VIP (IPv4 unless Input dualStack.primaryFamily says IPv6), the secondary variables the
other; the ingress annotation carries both, "<primary>,<secondary>". A new Cluster waits for both, but a
missing pool of the other family never holds it back.
"""

import pytest

from tests.fixtures import CP_POOL, ING_POOL, applied_without, bound, live
from tests.harness import (
    cluster_class,
    ip_address,
    observed_claim,
    observed_cluster,
    pool,
    run,
    xr,
)

DUAL_CLASS = cluster_class(variables=("clusterVip", "ingressVip", "clusterVipSecondary", "ingressVipSecondary"))
CP6 = pool("cp6-pool", free=99, total=100, addresses=("fd00:10::10-fd00:10::ff",), prefix=64, gateway="fd00:10::1")
ING6 = pool("ing6-pool", role="ingress", free=99, total=100, addresses=("fd00:11::/120",), prefix=64, gateway="fd00:11::1")
WORLD = [DUAL_CLASS, CP_POOL, ING_POOL, CP6, ING6]
CP2, ING2 = "vip-claim-control-plane-secondary", "vip-claim-ingress-secondary"
SECONDARY_CLAIMS = {CP2: ("vip-cp-c1-secondary", "cp6-pool", "control-plane"), ING2: ("vip-ingress-c1-secondary", "ing6-pool", "ingress")}
ANNOTATION = "vip.capi.gorizond.io/ingress-vip"


def pair(cp6="fd00:10::10", ing6="fd00:11::10", *, which=(CP2, ING2)):
    """Observed bound secondary claims and their IPAddresses."""
    observed, store = {}, []
    for rn in which:
        name, pool_name, role = SECONDARY_CLAIMS[rn]
        observed[rn] = observed_claim(name, pool_name=pool_name, role=role)
        store.append(ip_address(name, cp6 if rn == CP2 else ing6, pool_name=pool_name))
    return observed, store


def bound_pair():
    observed, store = bound()
    o2, s2 = pair()
    return {**observed, **o2}, [*store, *s2]


def live_pair(**kw):
    """A converged dual-stack XR: four bound claims and a Cluster carrying the pair."""
    observed, store = bound_pair()
    variables = {"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10", "clusterVipSecondary": "fd00:10::10",
                 "ingressVipSecondary": "fd00:11::10"}
    observed["cluster"] = observed_cluster(host="10.0.0.10", variables=variables, ingress="10.0.1.10,fd00:11::10", **kw)
    return observed, store


def variable(out, name):
    return next((v["value"] for v in out.cluster["spec"]["topology"].get("variables", []) if v["name"] == name), None)


# --- not opted in -----------------------------------------------------------------------------------


def test_a_class_without_the_secondary_variables_gets_no_secondary_claims_and_no_secondary_conditions():
    observed, store = bound()
    out = run(xr(), observed, [*WORLD[1:], cluster_class(), CP6, ING6, *store])
    assert CP2 not in out.desired and ING2 not in out.desired
    assert "ControlPlaneSecondaryVIPReady" not in out.conditions
    assert "controlPlaneSecondary" not in out.status


def test_without_a_pair_the_primary_may_come_from_a_pool_of_either_family():
    out = run(xr(), {}, [cluster_class(), CP6])
    assert out.desired["vip-claim-control-plane"]["spec"]["poolRef"]["name"] == "cp6-pool"


# --- claims ------------------------------------------------------------------------------------------


def test_a_dual_stack_class_gets_a_claim_of_each_family_per_role():
    out = run(xr(), {}, WORLD)
    pools_of = {rn: out.desired[rn]["spec"]["poolRef"]["name"] for rn in ("vip-claim-control-plane", CP2, "vip-claim-ingress", ING2)}
    assert pools_of == {"vip-claim-control-plane": "cp-pool", CP2: "cp6-pool", "vip-claim-ingress": "ing-pool", ING2: "ing6-pool"}
    assert out.desired[CP2]["metadata"]["name"] == "vip-cp-c1-secondary"
    assert out.desired[ING2]["metadata"]["labels"] == {"vip.capi.gorizond.io/role": "ingress"}


def test_the_primary_comes_from_a_pool_of_the_primary_family_even_when_the_other_has_more_room():
    bigger6 = pool("cp6-big", free=10**6, total=10**6, addresses=("fd00:12::/100",), prefix=64, gateway="fd00:12::1")
    out = run(xr(), {}, [*WORLD, bigger6])
    assert out.desired["vip-claim-control-plane"]["spec"]["poolRef"]["name"] == "cp-pool"
    assert out.desired[CP2]["spec"]["poolRef"]["name"] == "cp6-big"


def test_input_primary_family_ipv6_puts_the_ipv6_vip_first():
    out = run(xr(), {}, WORLD, inp={"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "dualStack": {"primaryFamily": "IPv6"}})
    assert out.desired["vip-claim-control-plane"]["spec"]["poolRef"]["name"] == "cp6-pool"
    assert out.desired[CP2]["spec"]["poolRef"]["name"] == "cp-pool"


def test_a_pool_of_both_families_is_no_pool_of_either():
    mixed = pool("mixed", free=50, total=50, addresses=("10.0.5.10-10.0.5.20", "fd00:13::/120"), gateway="10.0.5.1")
    out = run(xr(), {}, [DUAL_CLASS, mixed, ING_POOL, ING6])
    assert "vip-claim-control-plane" not in out.desired and CP2 not in out.desired
    assert out.reason("ControlPlaneVIPReady") == "PoolNotFound"
    assert any("no IPv4 pool for ClusterClass cc and role control-plane" in m for _, m in out.warnings)


# --- the Cluster ------------------------------------------------------------------------------------


def test_the_cluster_waits_for_both_vips_of_a_pair():
    observed, store = bound()
    out = run(xr(), observed, [*WORLD, *store])
    assert out.cluster is None
    assert out.reason("ControlPlaneSecondaryVIPReady") == "WaitingForAddress"


def test_the_cluster_carries_the_pair_in_its_variables_and_the_ingress_annotation():
    observed, store = bound_pair()
    out = run(xr(), observed, [*WORLD, *store])
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    assert variable(out, "clusterVip") == "10.0.0.10"
    assert variable(out, "clusterVipSecondary") == "fd00:10::10"
    assert variable(out, "ingressVipSecondary") == "fd00:11::10"
    assert out.cluster["metadata"]["annotations"][ANNOTATION] == "10.0.1.10,fd00:11::10"
    assert out.status["controlPlaneSecondary"] == "fd00:10::10"
    assert out.conditions["IngressSecondaryVIPReady"][0] is True


def test_with_ipv6_primary_the_ingress_annotation_lists_the_ipv6_vip_first():
    inp = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "dualStack": {"primaryFamily": "IPv6"}}
    observed = {"vip-claim-control-plane": observed_claim("vip-cp-c1", pool_name="cp6-pool"),
                "vip-claim-ingress": observed_claim("vip-ingress-c1", pool_name="ing6-pool", role="ingress"),
                CP2: observed_claim("vip-cp-c1-secondary", pool_name="cp-pool"),
                ING2: observed_claim("vip-ingress-c1-secondary", pool_name="ing-pool", role="ingress")}
    store = [ip_address("vip-cp-c1", "fd00:10::10", pool_name="cp6-pool"),
             ip_address("vip-ingress-c1", "fd00:11::10", pool_name="ing6-pool"),
             ip_address("vip-cp-c1-secondary", "10.0.0.10", pool_name="cp-pool"),
             ip_address("vip-ingress-c1-secondary", "10.0.1.10", pool_name="ing-pool")]
    out = run(xr(), observed, [*WORLD, *store], inp=inp)
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "fd00:10::10"
    assert out.cluster["metadata"]["annotations"][ANNOTATION] == "fd00:11::10,10.0.1.10"
    assert (variable(out, "ingressVip"), variable(out, "ingressVipSecondary")) == ("fd00:11::10", "10.0.1.10")


def test_a_class_that_stops_defining_the_secondary_variables_takes_them_off_the_live_cluster_and_keeps_the_claims():
    """CAPI refuses a Cluster with a variable its class does not define: the secondary variables leave, the claims
    and the ingress annotation's pair stay, warned (docs/dual-stack.md)."""
    observed, store = live_pair()
    out = run(xr(), observed, [cluster_class(variables=("clusterVip", "ingressVip")), *WORLD[1:], *store])
    names = [v["name"] for v in out.cluster["spec"]["topology"]["variables"]]
    assert "clusterVipSecondary" not in names and "ingressVipSecondary" not in names
    assert CP2 in out.desired and ING2 in out.desired
    assert out.cluster["metadata"]["annotations"][ANNOTATION] == "10.0.1.10,fd00:11::10"
    assert [r for r, _ in out.warnings] == ["ClusterClassMissingVariable"] * 2


def test_a_missing_pool_of_the_other_family_never_holds_the_cluster_back():
    observed, store = bound()
    out = run(xr(), observed, [DUAL_CLASS, CP_POOL, ING_POOL, *store])
    assert out.cluster is not None
    assert variable(out, "clusterVipSecondary") is None
    assert out.reason("ControlPlaneSecondaryVIPReady") == "PoolNotFound"
    assert any("no IPv6 pool for ClusterClass cc and role control-plane" in m for _, m in out.warnings)


def test_a_converged_pair_is_converged():
    observed, store = live_pair()
    out = run(xr(), observed, [*WORLD, *store])
    assert out.warnings == []
    assert out.ttl == 1200


def test_the_ingress_annotation_pair_of_a_live_cluster_is_read_as_its_two_vips():
    observed, store = live_pair()
    out = run(xr(), observed, [*WORLD, *store])
    assert not [m for _, m in out.normals if "assigned" in m]


# --- a live Cluster --------------------------------------------------------------------------------


def test_a_live_cluster_gets_the_secondary_added_once_bound():
    observed, store = live()
    o2, s2 = pair()
    out = run(xr(), {**observed, **o2}, [*WORLD, *store, *s2])
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    assert variable(out, "clusterVipSecondary") == "fd00:10::10"
    assert any("secondary control-plane VIP fd00:10::10 assigned" in m for _, m in out.normals)


def test_a_live_secondary_vip_stays_when_its_claim_is_bound_elsewhere():
    observed, store = live_pair()
    store = [o for o in store if o["metadata"]["name"] != "vip-cp-c1-secondary"]
    store.append(ip_address("vip-cp-c1-secondary", "fd00:10::99", pool_name="cp6-pool"))
    out = run(xr(), observed, [*WORLD, *store])
    assert variable(out, "clusterVipSecondary") == "fd00:10::10"
    assert CP2 in out.desired
    assert out.reason("ControlPlaneSecondaryVIPReady") == "Allocated"
    assert any(r == "AddressMismatch" and "clusterVipSecondary=fd00:10::10" in m for r, m in out.warnings)


def test_a_secondary_claim_deleted_by_hand_is_made_again_and_the_live_vip_stays():
    observed, store = live_pair()
    del observed[CP2]
    out = run(xr(), observed, [*WORLD, *store])
    assert out.desired[CP2]["spec"]["poolRef"]["name"] == "cp6-pool"
    assert variable(out, "clusterVipSecondary") == "fd00:10::10"
    assert any(r == "ClaimMissing" for r, _ in out.warnings)


def test_a_secondary_claim_whose_address_is_unread_stays_and_the_live_vip_stays():
    observed, store = live_pair()
    store = [o for o in store if o["metadata"]["name"] != "vip-cp-c1-secondary"]
    out = run(xr(), observed, [*WORLD, *store])
    assert CP2 in out.desired
    assert variable(out, "clusterVipSecondary") == "fd00:10::10"
    assert out.ttl == 15


# --- nothing is given up while unsure ----------------------------------------------------------------


@pytest.mark.parametrize("store_class", [False, True], ids=["class-not-found", "class-lost-the-variables"])
def test_the_pair_stays_while_the_class_is_unread_or_lost_the_variables(store_class):
    observed, store = live_pair()
    world = [CP_POOL, ING_POOL, CP6, ING6, *store, *([cluster_class()] if store_class else [])]
    out = run(xr(), observed, world)
    assert CP2 in out.desired and ING2 in out.desired
    assert out.cluster["metadata"]["annotations"][ANNOTATION] == "10.0.1.10,fd00:11::10"
    if not store_class:
        assert variable(out, "clusterVipSecondary") == "fd00:10::10"
    else:
        assert any(r == "ClusterClassMissingVariable" and "dual-stack" in m for r, m in out.warnings)


# --- turned off ------------------------------------------------------------------------------------


def test_the_dual_stack_annotation_false_releases_both_secondaries():
    observed, store = live_pair()
    first = run(xr(annotations={"vip.capi.gorizond.io/dual-stack": "false"}), observed, [*WORLD, *store])
    assert CP2 in first.desired and ING2 in first.desired  # until the API server's Cluster no longer carries them
    assert variable(first, "clusterVipSecondary") is None
    observed = applied_without(observed, "fd00:10::10", "fd00:11::10")
    out = run(xr(annotations={"vip.capi.gorizond.io/dual-stack": "false"}), observed, [*WORLD, *store])
    assert CP2 not in out.desired and ING2 not in out.desired
    assert variable(out, "clusterVipSecondary") is None
    assert out.cluster["metadata"]["annotations"][ANNOTATION] == "10.0.1.10"
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    assert out.reason("ControlPlaneSecondaryVIPReady") == "Disabled"


def test_turning_ingress_off_releases_both_ingress_claims():
    observed, store = live_pair()
    first = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), observed, [*WORLD, *store])
    assert "vip-claim-ingress" in first.desired and ING2 in first.desired
    assert ANNOTATION not in first.cluster["metadata"].get("annotations", {})
    observed = applied_without(observed, "10.0.1.10", "fd00:11::10")
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), observed, [*WORLD, *store])
    assert "vip-claim-ingress" not in out.desired and ING2 not in out.desired
    assert CP2 in out.desired
    assert ANNOTATION not in out.cluster["metadata"].get("annotations", {})


def test_turning_ingress_off_with_a_manual_ingress_vip_of_the_users_own_releases_the_claims():
    observed, store = live_pair()
    observed = applied_without(observed, "10.0.1.10", "fd00:11::10")  # the Cluster as applied without them
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false", ANNOTATION: "192.0.2.8"}), observed, [*WORLD, *store])
    assert "vip-claim-ingress" not in out.desired and ING2 not in out.desired


def test_a_manual_endpoint_gets_no_secondary_claim():
    spec = {"controlPlaneEndpoint": {"host": "192.168.9.9"}, "topology": {"class": "cc", "version": "v1.31.0"}}
    out = run(xr(cluster=spec), {}, WORLD)
    assert CP2 not in out.desired
    assert ING2 in out.desired
    assert out.reason("ControlPlaneSecondaryVIPReady") == "Disabled"


def test_a_secondary_the_xr_writes_itself_is_the_xrs_and_no_claim_is_made():
    spec = {"topology": {"class": "cc", "version": "v1.31.0", "variables": [{"name": "clusterVipSecondary", "value": "fd00:99::1"}]}}
    observed, store = bound()
    o2, s2 = pair(which=(ING2,))
    out = run(xr(cluster=spec), {**observed, **o2}, [*WORLD, *store, *s2])
    assert CP2 not in out.desired
    assert variable(out, "clusterVipSecondary") == "fd00:99::1"
    assert out.reason("ControlPlaneSecondaryVIPReady") == "Manual"


def test_a_secondary_the_xr_writes_that_is_its_claims_address_keeps_the_claim():
    spec = {"topology": {"class": "cc", "version": "v1.31.0", "variables": [{"name": "clusterVipSecondary", "value": "fd00:10::10"}]}}
    observed, store = live_pair()
    out = run(xr(cluster=spec), observed, [*WORLD, *store])
    assert CP2 in out.desired
    assert variable(out, "clusterVipSecondary") == "fd00:10::10"


def test_a_dual_stack_annotation_that_is_not_true_or_false_is_fatal():
    observed, store = live_pair()
    out = run(xr(annotations={"vip.capi.gorizond.io/dual-stack": "no"}), observed, [*WORLD, *store])
    assert "must be \"true\" or \"false\"" in out.fatal


# --- family ----------------------------------------------------------------------------------------


def test_a_secondary_bound_in_the_primarys_family_is_released_and_claimed_again():
    observed, store = bound()
    observed[CP2] = observed_claim("vip-cp-c1-secondary", pool_name="cp6-pool")
    store.append(ip_address("vip-cp-c1-secondary", "10.0.0.15", pool_name="cp6-pool"))
    out = run(xr(), observed, [*WORLD, *store])
    assert CP2 not in out.desired
    assert out.cluster is None
    assert any(r == "AddressFamilyMismatch" for r, _ in out.warnings)


def test_a_primary_of_ipv6_gets_an_ipv4_secondary():
    observed = {"vip-claim-control-plane": observed_claim("vip-cp-c1", pool_name="cp6-pool")}
    store = [ip_address("vip-cp-c1", "fd00:10::20", pool_name="cp6-pool")]
    out = run(xr(), observed, [*WORLD, *store])
    assert out.desired[CP2]["spec"]["poolRef"]["name"] == "cp-pool"


# --- input -------------------------------------------------------------------------------------------


def test_the_input_renames_the_secondary_variable_and_claim():
    inp = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "roles": {"controlPlane": {
        "labelValue": "control-plane", "variable": "clusterVip", "claimName": "vip-cp-{cluster}",
        "secondaryVariable": "clusterVipV6", "secondaryClaimName": "v6-{cluster}"}}}
    cls = cluster_class(variables=("clusterVip", "ingressVip", "clusterVipV6"))
    out = run(xr(), {}, [cls, CP_POOL, ING_POOL, CP6], inp=inp)
    assert out.desired[CP2]["metadata"]["name"] == "v6-c1"


def test_a_secondary_variable_that_is_another_variable_is_refused():
    inp = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "roles": {"controlPlane": {
        "labelValue": "control-plane", "variable": "clusterVip", "claimName": "vip-cp-{cluster}", "secondaryVariable": "ingressVip"}}}
    out = run(xr(), {}, WORLD, inp=inp)
    assert "secondaryVariable 'ingressVip' is another variable" in out.fatal


# --- DNS names (Input dns) --------------------------------------------------------------------------

DNS_INPUT = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "dns": {"zone": "clusters.example.org"}}


def test_a_pair_gets_an_a_and_an_aaaa_record_of_each_name():
    observed, store = live_pair()
    out = run(xr(), observed, [*WORLD, *store], inp=DNS_INPUT)
    records = {(e["dnsName"], e["recordType"]): e["targets"] for e in out.desired["vip-dns"]["spec"]["endpoints"]}
    assert records == {
        ("c1-api.clusters.example.org", "A"): ["10.0.0.10"], ("c1-api.clusters.example.org", "AAAA"): ["fd00:10::10"],
        ("*.c1.clusters.example.org", "A"): ["10.0.1.10"], ("*.c1.clusters.example.org", "AAAA"): ["fd00:11::10"],
    }


def test_a_secondary_released_while_its_record_is_published_waits_for_external_dns():
    observed, store = live_pair()
    first = run(xr(), observed, [*WORLD, *store], inp=DNS_INPUT)
    dns = first.desired["vip-dns"]
    observed["vip-dns"] = {**dns, "metadata": {**dns["metadata"], "generation": 1}, "status": {"observedGeneration": 1}}
    out = run(xr(annotations={"vip.capi.gorizond.io/dual-stack": "false"}), observed, [*WORLD, *store], inp=DNS_INPUT)
    assert CP2 in out.desired, "the AAAA record still names fd00:10::10: the claim waits"
    assert ("c1-api.clusters.example.org", "AAAA") not in {(e["dnsName"], e["recordType"]) for e in out.desired["vip-dns"]["spec"]["endpoints"]}
    assert out.ttl == 15


def test_with_check_pools_a_new_xrs_own_secondary_inside_a_pool_holds_the_cluster_back_and_claims_nothing():
    spec = {"topology": {"class": "cc", "version": "v1.31.0", "variables": [{"name": "clusterVipSecondary", "value": "fd00:10::15"}]}}
    observed, store = bound()
    o2, s2 = pair(which=(ING2,))
    inp = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "manualVips": {"checkPools": True}}
    out = run(xr(cluster=spec), {**observed, **o2}, [*WORLD, *store, *s2], inp=inp)
    assert out.cluster is None
    assert CP2 not in out.desired
    assert out.reason("ControlPlaneSecondaryVIPReady") == "ManualVIPInPool"
    assert any(r == "ManualVIPInPool" and "fd00:10::15" in m for r, m in out.warnings)


def test_a_new_pair_adopting_both_secondary_claims_with_its_own_secondary_vip_settles_within_crossplanes_calls():
    # The deepest reconcile known (the review of the deferred pool lists): with manualVips.checkPools, the XR writes
    # its own clusterVipSecondary, and both secondary claims exist already, bound. The pools are asked for, dropped
    # while an adopted claim's address is read, and asked for again; the pool lists come only once the Cluster could
    # be composed. It settles in 6 calls, Crossplane's most (MaxRequirementsIterations 5): one more fails the reconcile.
    observed, store = bound()
    unowned = []
    for name, pool_name, role in SECONDARY_CLAIMS.values():
        claim = observed_claim(name, pool_name=pool_name, role=role)
        claim["metadata"].pop("ownerReferences", None)
        claim["metadata"]["labels"].pop("crossplane.io/composite", None)
        unowned.append(claim)
    store += [*WORLD, *unowned, ip_address("vip-cp-c1-secondary", "fd00:10::10", pool_name="cp6-pool"),
              ip_address("vip-ingress-c1-secondary", "fd00:11::10", pool_name="ing6-pool")]
    inp = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "manualVips": {"checkPools": True}}
    out = run(xr(variables=[{"name": "clusterVipSecondary", "value": "fd00:99::1"}]), observed, store, inp=inp)
    assert out.cluster is not None
    assert out.calls <= 6
