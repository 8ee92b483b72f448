"""Manual VIPs checked against the pools (Input manualVips.checkPools, off by default).

A manual endpoint host or ingress VIP that a pool of the XR's class and role can hand out may be
given to another cluster by IPAM. With the check on, a Cluster not composed yet is held back with a
False condition naming the pool and the excludedAddresses line; a live Cluster keeps its VIP and
the XR warns on every reconcile until the pool excludes it.
"""

import pytest

from function import ranges
from tests.fixtures import STORE, bound, live
from tests.harness import CP_CLAIM, pool, run, xr

CHECK = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "manualVips": {"checkPools": True}}
INGRESS_VIP = "vip.capi.gorizond.io/ingress-vip"
OFF = {"vip.capi.gorizond.io/ingress-enabled": "false"}


def manual(host, annotations=OFF):
    return xr(cluster={"topology": {"class": "cc", "version": "v1.31.0"}, "controlPlaneEndpoint": {"host": host}},
              annotations=annotations)


def cp_pool(**spec):
    p = pool("cp-pool", free=9, total=11)
    p["spec"].update(spec)
    return p


# --- off by default: nothing changes ---------------------------------------------------------


def test_without_the_check_a_manual_host_inside_a_pool_is_the_endpoint():
    out = run(manual("10.0.0.15"), {}, STORE)
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.15"
    assert out.warnings == []


def test_without_the_check_no_pool_is_fetched_for_a_manual_host():
    out = run(manual("10.0.0.15"), {}, STORE)
    assert not [name for name in out.requirements if name.startswith("pools/control-plane/")]


# --- a Cluster not composed yet ----------------------------------------------------------------


def test_a_manual_host_a_pool_can_hand_out_holds_the_cluster_back():
    out = run(manual("10.0.0.15"), {}, STORE, inp=CHECK)
    assert out.cluster is None
    ok, reason, message = out.conditions["ControlPlaneVIPReady"]
    assert (ok, reason) == (False, "ManualVIPInPool")
    assert "GlobalInClusterIPPool cp-pool" in message and "`- 10.0.0.15`" in message and "spec.excludedAddresses" in message
    assert [r for r, _ in out.warnings] == ["ManualVIPInPool"]
    assert CP_CLAIM not in out.desired


def test_a_manual_host_outside_every_pool_is_the_endpoint():
    out = run(manual("10.9.9.9"), {}, STORE, inp=CHECK)
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.9.9.9"
    assert out.warnings == []


@pytest.mark.parametrize("excluded", [["10.0.0.15"], ["10.0.0.14-10.0.0.16"], ["10.0.0.0/28"]])
def test_a_manual_host_the_pool_excludes_is_the_endpoint(excluded):
    out = run(manual("10.0.0.15"), {}, [cp_pool(excludedAddresses=excluded), *STORE[:1], *STORE[2:]], inp=CHECK)
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.15"
    assert out.warnings == []


def test_the_pool_s_gateway_is_never_handed_out_so_it_is_no_conflict():
    out = run(manual("10.0.0.12"), {}, [cp_pool(gateway="10.0.0.12"), *STORE[:1], *STORE[2:]], inp=CHECK)
    assert out.cluster is not None and out.warnings == []


def test_once_the_pool_excludes_it_the_held_back_cluster_is_composed():
    assert run(manual("10.0.0.15"), {}, STORE, inp=CHECK).cluster is None
    fixed = [cp_pool(excludedAddresses=["10.0.0.15"]), *STORE[:1], *STORE[2:]]
    assert run(manual("10.0.0.15"), {}, fixed, inp=CHECK).cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.15"


def test_a_manual_dns_name_is_not_checked():
    out = run(manual("api.example.com"), {}, STORE, inp=CHECK)
    assert out.cluster is not None and out.warnings == []


def test_a_manual_ingress_vip_a_pool_can_hand_out_holds_the_cluster_back():
    observed, store = bound(ingress=None)
    out = run(xr(annotations={INGRESS_VIP: "10.0.1.15"}), observed, [*STORE, *store], inp=CHECK)
    assert out.cluster is None
    ok, reason, message = out.conditions["IngressVIPReady"]
    assert (ok, reason) == (False, "ManualVIPInPool") and "ing-pool" in message and "`- 10.0.1.15`" in message
    assert out.desired[CP_CLAIM]  # the control-plane claim is kept: only the Cluster waits


def test_a_manual_ingress_vip_that_is_the_control_plane_claim_s_address_is_a_conflict():
    observed, store = bound(ingress=None)
    out = run(xr(annotations={INGRESS_VIP: "10.0.0.10"}), observed, [*STORE, *store], inp=CHECK)
    assert out.cluster is None
    ok, reason, message = out.conditions["IngressVIPReady"]
    assert (ok, reason) == (False, "Conflict") and "vip-cp-c1" in message


def test_a_pool_whose_spec_cannot_be_read_holds_a_new_cluster_back_rather_than_guess():
    broken = cp_pool(addresses=["not-an-address"])
    out = run(manual("10.0.0.15"), {}, [broken, *STORE[:1], *STORE[2:]], inp=CHECK)
    assert "InvalidPool" in [r for r, _ in out.warnings]
    assert out.cluster is None
    assert out.conditions["ControlPlaneVIPReady"][:2] == (False, "InvalidPool")


def test_with_the_check_the_pools_of_a_manual_host_are_fetched():
    out = run(manual("10.0.0.15"), {}, STORE, inp=CHECK)
    assert [name for name in out.requirements if name.startswith("pools/control-plane/")]


# --- a live Cluster: warned on every reconcile, never changed -------------------------------------


def test_a_live_cluster_on_a_manual_host_a_pool_can_hand_out_keeps_it_and_is_warned_about():
    observed, store = live(cp="10.0.0.15", ingress=None)
    del observed[CP_CLAIM]
    x = manual("10.0.0.15")
    x["status"] = {"vip": {"controlPlane": "10.0.0.15", "controlPlaneSource": "Manual"}}
    for _ in range(2):  # every reconcile
        out = run(x, observed, [*STORE, *store], inp=CHECK)
        assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.15"
        assert [r for r, _ in out.warnings] == ["ManualVIPInPool"]
        assert out.conditions["ControlPlaneVIPReady"][0] is True


def test_a_pool_vip_of_the_xr_s_own_claim_is_not_a_manual_vip():
    observed, store = live()
    out = run(xr(), observed, [*STORE, *store], inp=CHECK)
    assert out.warnings == []
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"


# --- the pool's allocatable addresses, as the in-cluster provider reads them ---------------------


@pytest.mark.parametrize(("spec", "ip", "handed_out"), [
    pytest.param({"addresses": ["10.0.0.10-10.0.0.20"], "prefix": 24}, "10.0.0.10", True, id="range start"),
    pytest.param({"addresses": ["10.0.0.10-10.0.0.20"], "prefix": 24}, "10.0.0.21", False, id="past the range"),
    pytest.param({"addresses": ["10.0.0.0/24"], "prefix": 24}, "10.0.0.0", False, id="network address"),
    pytest.param({"addresses": ["10.0.0.0/24"], "prefix": 24}, "10.0.0.255", False, id="broadcast address"),
    pytest.param({"addresses": ["10.0.0.0/24"], "prefix": 24, "allocateReservedIPAddresses": True}, "10.0.0.255", True,
                 id="reserved allowed"),
    pytest.param({"addresses": ["10.0.0.5"], "prefix": 24}, "10.0.0.5", True, id="a single address"),
    pytest.param({"addresses": ["10.0.0.0/24"], "prefix": 24, "gateway": "10.0.0.1"}, "10.0.0.1", False, id="gateway"),
    pytest.param({"addresses": ["fd00::/120"], "prefix": 120}, "fd00::ff", True, id="IPv6 has no broadcast"),
    pytest.param({"addresses": ["fd00::/120"], "prefix": 120}, "fd00::", False, id="IPv6 anycast"),
    pytest.param({"addresses": ["10.0.0.0/24"], "prefix": 24}, "fd00::5", False, id="another family"),
])
def test_allocatable_addresses(spec, ip, handed_out):
    assert ranges.read(spec).can_hand_out(ip) is handed_out


@pytest.mark.parametrize("spec", [None, {}, {"addresses": "10.0.0.1"}, {"addresses": ["10.0.0.9-10.0.0.1"], "prefix": 24},
                                  {"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.1"], "prefix": 24, "gateway": "x"}])
def test_a_pool_spec_the_provider_would_refuse_is_unreadable(spec):
    with pytest.raises(ranges.Unreadable):
        ranges.read(spec)



def test_the_check_is_refused_with_pool_kinds_it_cannot_read():
    from function import input as inputs

    bad = {**CHECK, "ipam": {"poolKinds": [{"apiVersion": "ipam.cluster.x-k8s.io/v1alpha1", "kind": "InClusterIPPool",
                                             "namespaced": True}]}}
    with pytest.raises(inputs.InputError, match="manualVips.checkPools reads the in-cluster provider's pools"):
        inputs.load(bad)


def test_a_refused_manual_ingress_vip_holds_no_claim_the_cluster_does_not_use():
    """Found by the long differential run: a live Cluster on the manual ingress VIP 192.168.0.39, a
    pool claim made since (bound to 10.0.1.10, not served yet), and the annotation changed to an
    address the pool can hand out. The new VIP is refused; the claim of nothing the Cluster serves goes."""
    from tests.harness import INGRESS_CLAIM, observed_cluster

    observed, store = bound(cp="10.0.0.10", ingress="10.0.1.10")
    observed["cluster"] = observed_cluster(host="10.0.0.10", variables={"clusterVip": "10.0.0.10", "ingressVip": "192.168.0.39"},
                                           ingress="192.168.0.39")
    x = xr(annotations={INGRESS_VIP: "10.0.1.15"})
    x["status"] = {"vip": {"controlPlane": "10.0.0.10", "controlPlaneSource": "Pool", "ingress": "192.168.0.39",
                           "ingressSource": "Manual"}}
    out = run(x, observed, [*STORE, *store], inp=CHECK)
    assert (out.cluster["metadata"].get("annotations") or {}).get(INGRESS_VIP) == "192.168.0.39"
    assert out.conditions["IngressVIPReady"][:2] == (False, "ManualVIPInPool")
    assert INGRESS_CLAIM not in out.desired
