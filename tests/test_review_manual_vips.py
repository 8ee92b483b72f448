"""Review of "Manual VIPs checked against the pools" (Input manualVips.checkPools): the cases a review found, each failing before its fix.

Each test states the scenario; all run with the check on unless said otherwise.
"""

import ipaddress

from function import ranges
from tests.fixtures import STORE, bound, live, world
from tests.harness import CP_CLAIM, INGRESS_CLAIM, observed_claim, observed_cluster, pool, run, xr
from tests.test_usage import CP_USAGE, INGRESS_USAGE, observed_usage

CHECK = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "manualVips": {"checkPools": True}}
INGRESS_VIP = "vip.capi.gorizond.io/ingress-vip"
OFF = {"vip.capi.gorizond.io/ingress-enabled": "false"}
POOL_STATUS = {"controlPlane": "10.0.0.10", "controlPlaneSource": "Pool", "ingress": "10.0.1.10", "ingressSource": "Pool"}


def manual(host, annotations=OFF):
    return xr(cluster={"topology": {"class": "cc", "version": "v1.31.0"}, "controlPlaneEndpoint": {"host": host}},
              annotations=annotations)


def _ingress_annotation(out):
    return (out.cluster["metadata"].get("annotations") or {}).get(INGRESS_VIP)


# --- 1. a live Cluster gets a manual ingress VIP the check knows is bad ------------------------------


def test_a_live_cluster_is_not_switched_to_a_manual_ingress_vip_that_is_its_own_control_plane_vip():
    """Live Cluster on 10.0.0.10 (cp claim) / 10.0.1.10 (ingress claim). The user annotates the XR
    with ingress-vip=10.0.0.10, the control-plane VIP. The check sees the Conflict, but the live
    Cluster's ingress VIP is switched to the API VIP anyway and the ingress claim is released."""
    observed, store = live()
    x = xr(annotations={INGRESS_VIP: "10.0.0.10"})
    x["status"] = {"vip": dict(POOL_STATUS)}
    out = run(x, observed, [*STORE, *store], inp=CHECK)
    assert "Conflict" in [r for r, _ in out.warnings]  # detected...
    assert _ingress_annotation(out) == "10.0.1.10", "...yet one Cluster now serves ingress on its API VIP"
    assert INGRESS_CLAIM in out.desired, "the claim of the VIP the Cluster served is released"


def test_a_live_cluster_is_not_switched_to_a_manual_ingress_vip_a_pool_can_hand_out():
    """Same live Cluster; the annotation is 10.0.1.15, which ing-pool can hand to another cluster.
    With the check on the new VIP (not yet on the Cluster) is applied and the old claim released."""
    observed, store = live()
    x = xr(annotations={INGRESS_VIP: "10.0.1.15"})
    x["status"] = {"vip": dict(POOL_STATUS)}
    out = run(x, observed, [*STORE, *store], inp=CHECK)
    assert "ManualVIPInPool" in [r for r, _ in out.warnings]
    assert _ingress_annotation(out) == "10.0.1.10"
    assert out.conditions["IngressVIPReady"][:2] == (False, "ManualVIPInPool")


# --- 2. only the role's own pools are read -------------------------------------------------------------


def test_a_manual_endpoint_inside_the_class_s_ingress_pool_is_caught():
    """Manual endpoint 10.0.1.15 lies in ing-pool (the class's ingress pool, read through the same
    class+role selectors the function already uses for ingress claims). IPAM hands it out as another cluster's ingress VIP; the check does not look."""
    observed, store = bound()
    del observed[CP_CLAIM]
    out = run(manual("10.0.1.15", annotations=None), observed, [*STORE, *store], inp=CHECK)
    assert out.cluster is None, "composed on an address the ingress pool can hand out"


def test_a_manual_ingress_vip_inside_the_class_s_control_plane_pool_is_caught():
    observed, store = bound(ingress=None)
    out = run(xr(annotations={INGRESS_VIP: "10.0.0.15"}), observed, [*STORE, *store], inp=CHECK)
    assert out.cluster is None, "composed with an ingress VIP the control-plane pool can hand out"


def test_two_clusters_never_share_an_ip_through_the_other_role_s_pool():
    """c1: manual endpoint 10.0.1.10, ingress off -> composed, no warning. c2: pool VIPs -> its
    ingress claim is bound to 10.0.1.10, the lowest free address of ing-pool: two Clusters, one IP."""
    w = world()
    w.inp = CHECK
    c1, c2 = manual("10.0.1.10"), xr("c2")
    w.settle(c1)
    w.settle(c2)
    hosts = {}
    for c in w.of_kind("Cluster"):
        for vip in {c["spec"].get("controlPlaneEndpoint", {}).get("host"),
                    (c["metadata"].get("annotations") or {}).get(INGRESS_VIP)} - {None}:
            assert vip not in hosts, f"{vip} is used by Cluster {hosts[vip]} and Cluster {c['metadata']['name']}"
            hosts[vip] = c["metadata"]["name"]


def test_a_manual_endpoint_equal_to_a_deleting_ingress_claim_s_address_is_caught():
    """The XR's ingress claim (10.0.1.10) is being deleted; the manual endpoint is 10.0.1.10.
    Claim.bound is False for a deleting claim, so no Conflict; 10.0.1.10 is in ing-pool, which is
    not read: the Cluster is composed on an address IPAM frees into the ingress pool right away
    (and hands to this XR's own new ingress claim next, as the lowest free)."""
    observed, store = bound()
    observed[INGRESS_CLAIM]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    out = run(manual("10.0.1.10", annotations=None), observed, [*STORE, *store], inp=CHECK)
    assert out.cluster is None
    assert out.conditions["ControlPlaneVIPReady"][0] is False


# --- 3. a Cluster that exists but has no endpoint yet ---------------------------------------------------


def test_an_observed_cluster_without_an_endpoint_does_not_get_an_in_pool_manual_endpoint():
    """An observed (e.g. adopted) Cluster with no controlPlaneEndpoint yet. held is ctx.cluster is
    None, so the in-pool manual host is written as its endpoint with a warning -- and from then on
    it is a live endpoint that never changes, so the warning can never be acted on."""
    observed = {"cluster": observed_cluster(host=None, variables={}, ingress=None)}
    out = run(manual("10.0.0.15"), observed, STORE, inp=CHECK)
    assert "cluster" in out.desired  # observed: it must stay
    assert out.cluster["spec"].get("controlPlaneEndpoint", {}).get("host") is None, \
        "an endpoint IPAM can hand out is made permanent"
    assert out.conditions["ControlPlaneVIPReady"][:2] == (False, "ManualVIPInPool")


def test_an_adopted_cluster_without_an_endpoint_does_not_get_an_in_pool_manual_endpoint():
    """The same through adoption (Crossplane v2.2+, by name): a Cluster of the XR's name exists with
    no endpoint; it is adopted and 'control-plane VIP 10.0.0.15 (manual) assigned' to it."""
    existing = observed_cluster(host=None, variables={}, ingress=None)
    existing["metadata"].pop("ownerReferences", None)
    out = run(manual("10.0.0.15"), {}, [*STORE, existing], inp=CHECK)
    assert "Adopted" in [r for r, _ in out.normals]
    assert out.cluster["spec"].get("controlPlaneEndpoint", {}).get("host") is None


# --- 4. a pool the check cannot read: fail-open -------------------------------------------------------------


def test_a_pool_read_at_v1alpha1_is_not_silently_passed():
    """ipam.poolKinds may name v1alpha1 (still served by the provider). Its spec has no
    excludedAddresses/allocateReservedIPAddresses and, for pools written at v1alpha1,
    subnet/start/end instead of addresses. The check then cannot read the pool and composes the
    Cluster on an address the pool hands out (10.0.0.15 is inside start..end)."""
    v1a1 = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "manualVips": {"checkPools": True},
            "ipam": {"poolKinds": [{"apiVersion": "ipam.cluster.x-k8s.io/v1alpha1", "kind": "GlobalInClusterIPPool",
                                    "namespaced": False}]}}
    p = pool("cp-pool", free=9, total=11)
    p["apiVersion"] = "ipam.cluster.x-k8s.io/v1alpha1"
    p["spec"] = {"subnet": "10.0.0.0/24", "start": "10.0.0.10", "end": "10.0.0.20", "prefix": 24, "gateway": "10.0.0.1"}
    out = run(manual("10.0.0.15"), {}, [STORE[0], p], inp=v1a1)
    assert out.cluster is None, "an address the pool hands out was not checked, and the Cluster composed on it"


# --- 5. messages ---------------------------------------------------------------------------------


def test_the_in_pool_message_names_the_field_to_change_and_what_a_refused_exclusion_means():
    """The fix offered is an excludedAddresses line; the provider's webhook refuses to exclude an
    address already allocated ("pool addresses do not contain allocated addresses"), which means
    another cluster holds it. The message names neither the XR field nor that case."""
    out = run(manual("10.0.0.15"), {}, STORE, inp=CHECK)
    _, _, message = out.conditions["ControlPlaneVIPReady"]
    assert "spec.cluster.controlPlaneEndpoint.host" in message
    assert "allocated" in message


def test_the_in_pool_message_names_every_pool_to_fix():
    """Two pools hand the address out; the message gives the addresses and the fix for the first
    only ('the pool's spec.excludedAddresses'), so fixing it leaves the Cluster held by the second."""
    second = pool("cp-pool-2", free=9, total=11, addresses=("10.0.0.0/24",))
    out = run(manual("10.0.0.15"), {}, [*STORE, second], inp=CHECK)
    _, _, message = out.conditions["ControlPlaneVIPReady"]
    assert "cp-pool-2" in message
    assert "each" in message or "both" in message or "every" in message


# --- 6. the provider's reading, edge forms -------------------------------------------------------------------


def test_the_first_address_is_the_lowest_not_the_first_listed():
    """PoolSpecToIPSet takes the network of addressesIPSet.Ranges()[0].From(): the lowest address.
    With a webhook-valid pool both give the same network; without the webhook (or a pool written
    before it) they differ: here the provider reserves 10.0.0.0/10.0.0.255 and hands out 10.0.1.255."""
    spec = {"addresses": ["10.0.1.250-10.0.1.255", "10.0.0.5"], "prefix": 24}
    assert ranges.read(spec).can_hand_out("10.0.1.255") is True
    assert ipaddress.ip_address("10.0.0.5") < ipaddress.ip_address("10.0.1.250")


# --- a second review: the refused path on a live Cluster ---------------------------------------------------


def _final_x(vip="10.0.1.15", **status):
    x = xr(annotations={INGRESS_VIP: vip})
    x["status"] = {"vip": {**POOL_STATUS, **status}}
    return x


def _final_ann(out):
    return (out.cluster["metadata"].get("annotations") or {}).get(INGRESS_VIP)


def test_an_in_pool_manual_ingress_vip_stays_off_a_live_cluster_while_its_claim_s_address_is_unknown():
    observed, store = live()
    store = [s for s in store if s["metadata"]["name"] != "vip-ingress-c1"]  # IPAddress not fetched / gone
    out = run(_final_x(), observed, [*STORE, *store], inp=CHECK)
    assert out.conditions["IngressVIPReady"][:2] == (False, "ManualVIPInPool")
    assert _final_ann(out) == "10.0.1.10", "the live ingress VIP is switched to an address the pool can hand out"


def test_a_refused_manual_ingress_vip_keeps_the_unbound_claim_made_again_for_the_live_pool_vip():
    observed, store = live()
    observed[INGRESS_CLAIM] = observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress", bound=False)
    out = run(_final_x(), observed, [*STORE, *store], inp=CHECK)
    assert _final_ann(out) == "10.0.1.10"
    assert INGRESS_CLAIM in out.desired, "without the annotation the claim made again is kept (_unbound_under)"


def test_a_refused_manual_ingress_vip_remakes_or_warns_about_the_live_pool_vip_s_claim_deleted_by_hand():
    observed, store = live()
    del observed[INGRESS_CLAIM]
    out = run(_final_x(), observed, [*STORE, *store], inp=CHECK)
    assert _final_ann(out) == "10.0.1.10"
    assert INGRESS_CLAIM in out.desired or "ClaimMissing" in [r for r, _ in out.warnings]


def test_a_refused_manual_ingress_vip_keeps_the_usage_of_a_deleting_claim_the_cluster_still_uses():
    observed, store = live()
    observed[INGRESS_CLAIM]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    observed[INGRESS_USAGE], observed[CP_USAGE] = observed_usage("vip-ingress-c1"), observed_usage()
    out = run(_final_x(), observed, [*STORE, *store], inp=CHECK)
    assert _final_ann(out) == "10.0.1.10"
    assert INGRESS_USAGE in out.desired and "ClaimMissing" in [r for r, _ in out.warnings]


def test_a_refused_manual_ingress_vip_keeps_the_claim_of_the_ingress_variable_a_live_cluster_carries():
    observed, store = live()
    observed["cluster"] = observed_cluster(host="10.0.0.10", variables={"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10"},
                                           ingress=None)  # the annotation removed by hand, or an adopted Cluster
    out = run(_final_x(), observed, [*STORE, *store], inp=CHECK)
    variables = {v["name"]: v["value"] for v in out.cluster["spec"]["topology"]["variables"]}
    assert variables.get("ingressVip") == "10.0.1.10", "a refusal changes the live Cluster's ingressVip"
    assert INGRESS_CLAIM in out.desired, "the claim of the address the Cluster uses is released"
