"""Ordinary edits on a converged cluster: no address is held for nothing, no VIP is taken over unnoticed.

Each test drives a small management cluster (tests/harness.py World) through the
reconciles Crossplane makes, with CAPI's part played by hand: the Cluster is Ready
and its topology reconciled once composed. The rule under test, in decide.py: a
claim explains the VIP a live Cluster shows only if its address is that VIP; a
claim whose address the Cluster does not use is released when the user's own
setting explains the VIP, and reported when nothing does.
"""

from tests.fixtures import STORE
from tests.harness import World, ip_address, xr

INGRESS_VIP = "vip.capi.gorizond.io/ingress-vip"
INGRESS_ENABLED = "vip.capi.gorizond.io/ingress-enabled"


def _capi(w: World, name: str = "c1") -> None:
    """CAPI's part: the Cluster is Ready and its topology reconciled."""
    c = w.get("Cluster", name, "team-a")
    if c is not None:
        c["status"] = {"conditions": [
            {"type": "Ready", "status": "True", "reason": "Ready", "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "TopologyReconciled", "status": "True", "reason": "ReconcileSucceeded",
             "lastTransitionTime": "2026-01-01T00:00:00Z"},
        ]}


def _step(w: World, x: dict):
    out = w.reconcile(x)
    assert out.fatal is None, out.fatal
    x.setdefault("status", {})["vip"] = out.status
    w.converge_ipam()
    _capi(w)
    return out


def converged(*extra, annotations=None):
    """A world with one XR whose Cluster carries both VIPs from the pools."""
    w = World()
    w.add(*STORE, *extra)
    x = xr(annotations=annotations)
    for _ in range(6):
        _step(w, x)
    cluster = w.get("Cluster", "c1", "team-a")
    assert cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    return w, x


def _cluster(w: World) -> dict:
    return w.get("Cluster", "c1", "team-a")


def _variables(w: World) -> dict:
    return {v["name"]: v["value"] for v in _cluster(w)["spec"]["topology"].get("variables", [])}


# 1. A manual ingress VIP set on a converged cluster finishes its own release ----------------


def test_a_manual_ingress_vip_set_on_a_converged_cluster_releases_the_pool_claim_for_good():
    w, x = converged()
    x["metadata"]["annotations"] = {INGRESS_VIP: "10.0.1.77"}
    for _ in range(6):
        out = _step(w, x)
    assert w.get("IPAddressClaim", "vip-ingress-c1", "team-a") is None
    assert w.get("Usage", "vip-ingress-c1", "team-a") is None
    assert w.get("IPAddress", "vip-ingress-c1", "team-a") is None  # 10.0.1.10 is back in the pool
    assert _cluster(w)["metadata"]["annotations"][INGRESS_VIP] == "10.0.1.77"
    assert out.status["ingressSource"] == "Manual"
    assert out.warnings == []


def test_removing_a_manual_ingress_vip_again_gives_the_cluster_a_pool_vip():
    w, x = converged()
    x["metadata"]["annotations"] = {INGRESS_VIP: "10.0.1.77"}
    for _ in range(6):
        _step(w, x)
    del x["metadata"]["annotations"]
    for _ in range(6):
        out = _step(w, x)
    address = w.get("IPAddress", "vip-ingress-c1", "team-a")["spec"]["address"]
    assert _cluster(w)["metadata"]["annotations"][INGRESS_VIP] == address != "10.0.1.77"
    assert out.status["ingress"] == address and out.status["ingressSource"] == "Pool"


# 2. A control-plane release interrupted by the Cluster coming back is finished --------------


def test_a_control_plane_release_interrupted_by_the_cluster_coming_back_is_finished():
    w, x = converged()
    x["spec"]["cluster"]["controlPlaneEndpoint"] = {"host": "10.0.0.99"}
    out = _step(w, x)
    assert [r for r, _ in out.warnings] == ["Conflict"]  # a live endpoint never changes
    w.remove(_cluster(w))  # deleted by hand; composed again on the manual host
    for _ in range(6):
        out = _step(w, x)
    assert _cluster(w)["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.99"
    assert w.get("IPAddressClaim", "vip-cp-c1", "team-a") is None
    assert w.get("Usage", "vip-cp-c1", "team-a") is None
    assert w.get("IPAddress", "vip-cp-c1", "team-a") is None  # 10.0.0.10 is back in the pool
    assert out.status["controlPlaneSource"] == "Manual"
    assert out.warnings == []


def test_a_manual_host_equal_to_the_live_endpoint_releases_a_claim_bound_elsewhere():
    # The way out of an AddressMismatch: say on the XR that the live endpoint is yours.
    w, x = converged()
    w.remove(w.get("IPAddressClaim", "vip-cp-c1", "team-a"))  # deleted by hand, IPAM frees 10.0.0.10
    w.remove(w.get("IPAddress", "vip-cp-c1", "team-a"))
    w.add(ip_address("vip-cp-other", "10.0.0.10", namespace="team-b"))  # and gives it to another cluster
    for _ in range(2):
        out = _step(w, x)
    assert "AddressMismatch" in [r for r, _ in out.warnings]
    x["spec"]["cluster"]["controlPlaneEndpoint"] = {"host": "10.0.0.10"}
    for _ in range(5):
        out = _step(w, x)
    assert w.get("IPAddressClaim", "vip-cp-c1", "team-a") is None
    assert _cluster(w)["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    assert out.status["controlPlaneSource"] == "Manual" and out.warnings == []


# 3. A hand-edited VIP on a live Cluster is reported -----------------------------------------


def test_a_hand_edited_ingress_vip_on_a_live_cluster_is_reported_within_two_reconciles():
    w, x = converged()
    c = _cluster(w)
    c["metadata"]["annotations"][INGRESS_VIP] = "10.0.1.15"  # another free address of the pool
    for v in c["spec"]["topology"]["variables"]:
        if v["name"] == "ingressVip":
            v["value"] = "10.0.1.15"
    warned = []
    for _ in range(2):
        warned += _step(w, x).warnings
    messages = [m for r, m in warned if r == "AddressMismatch"]
    assert messages, warned
    assert "Cluster team-a/c1" in messages[0] and "10.0.1.15" in messages[0] and "10.0.1.10" in messages[0]
    assert "excludedAddresses" in messages[0]
    assert _cluster(w)["metadata"]["annotations"][INGRESS_VIP] == "10.0.1.15"  # a live VIP never changes


def test_a_hand_edited_endpoint_on_a_live_cluster_is_reported_and_kept():
    w, x = converged()
    c = _cluster(w)
    c["spec"]["controlPlaneEndpoint"]["host"] = "10.0.0.15"  # the endpoint and the VIP kube-vip holds, moved by hand
    for v in c["spec"]["topology"]["variables"]:
        if v["name"] == "clusterVip":
            v["value"] = "10.0.0.15"
    _step(w, x)
    out = _step(w, x)
    messages = [m for r, m in out.warnings if r == "AddressMismatch"]
    assert messages and "10.0.0.15" in messages[0] and "10.0.0.10" in messages[0]
    assert "controlPlaneEndpoint.host=10.0.0.15" in messages[0]  # how to make it deliberate
    assert _cluster(w)["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.15"
    assert _variables(w)["clusterVip"] == "10.0.0.15"


def test_an_endpoint_host_edited_apart_from_its_cluster_vip_is_reported_and_both_stay():
    w, x = converged()
    _cluster(w)["spec"]["controlPlaneEndpoint"]["host"] = "10.0.0.15"  # clusterVip (kube-vip) still 10.0.0.10
    _step(w, x)
    out = _step(w, x)
    messages = [m for r, m in out.warnings if r == "AddressMismatch"]
    assert messages and "two addresses" in messages[0] and "Reserve 10.0.0.15" in messages[0]
    assert _cluster(w)["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.15"
    assert _variables(w)["clusterVip"] == "10.0.0.10"
    assert w.get("IPAddressClaim", "vip-cp-c1", "team-a") is not None  # kube-vip still holds its address


# 4. A port change on a live Cluster is kept, with a warning ----------------------------------


def test_a_port_change_on_a_live_cluster_is_kept_with_a_warning():
    w, x = converged()
    x["spec"]["cluster"]["controlPlaneEndpoint"] = {"port": 7443}
    out = _step(w, x)
    assert _cluster(w)["spec"]["controlPlaneEndpoint"] == {"host": "10.0.0.10", "port": 6443}
    messages = [m for r, m in out.warnings if r == "Conflict"]
    assert messages and "7443" in messages[0] and "6443" in messages[0]
    assert "spec.controlPlaneEndpoint.port" in messages[0]


def test_the_port_of_a_cluster_not_yet_composed_is_the_xrs():
    w = World()
    w.add(*STORE)
    x = xr()
    x["spec"]["cluster"]["controlPlaneEndpoint"] = {"port": 7443}
    for _ in range(4):
        out = _step(w, x)
    assert _cluster(w)["spec"]["controlPlaneEndpoint"] == {"host": "10.0.0.10", "port": 7443}
    assert out.warnings == []


# The 1,000-XR churn in miniature: edits back and forth leave nothing held -------------------


def test_ingress_turned_off_and_on_again_holds_one_ingress_address():
    w, x = converged()
    x["metadata"]["annotations"] = {INGRESS_ENABLED: "false"}
    for _ in range(5):
        _step(w, x)
    assert w.get("IPAddressClaim", "vip-ingress-c1", "team-a") is None
    del x["metadata"]["annotations"]
    for _ in range(5):
        _step(w, x)
    addresses = [a for a in w.of_kind("IPAddress") if a["metadata"]["name"].startswith("vip-ingress-")]
    assert len(addresses) == 1
    assert _cluster(w)["metadata"]["annotations"][INGRESS_VIP] == addresses[0]["spec"]["address"]


def test_a_manual_ingress_vip_changed_twice_holds_no_pool_address():
    w, x = converged()
    for vip in ("10.0.1.77", "10.0.1.78"):
        x["metadata"]["annotations"] = {INGRESS_VIP: vip}
        for _ in range(4):
            out = _step(w, x)
    assert not [a for a in w.of_kind("IPAddress") if a["metadata"]["name"].startswith("vip-ingress-")]
    assert _cluster(w)["metadata"]["annotations"][INGRESS_VIP] == "10.0.1.78"
    assert out.status["ingressSource"] == "Manual"



# Found in review: each failed before its fix ------------------------------------------------


def test_a_manual_ingress_vip_set_while_the_claims_address_is_unread_is_recorded_as_manual():
    w, x = converged()
    x["metadata"]["annotations"] = {INGRESS_VIP: "192.168.5.5"}
    out = w.reconcile(x, drop={"address/ingress"})
    assert out.status["ingress"] == "192.168.5.5" and out.status["ingressSource"] == "Manual"
    x["status"]["vip"] = out.status
    del x["metadata"]["annotations"]  # removed again: the pool's VIP comes back
    for _ in range(3):
        out = _step(w, x)
    assert _cluster(w)["metadata"]["annotations"][INGRESS_VIP] == "10.0.1.10" and out.warnings == []


def test_a_manual_ingress_vip_equal_to_the_claims_address_is_the_ingress_vip_even_after_a_hand_edit():
    w, x = converged()
    _cluster(w)["metadata"]["annotations"][INGRESS_VIP] = "192.168.7.7"
    _step(w, x)
    x["metadata"]["annotations"] = {INGRESS_VIP: "10.0.1.10"}  # back to the claim's own address
    for _ in range(2):
        out = _step(w, x)
    assert _cluster(w)["metadata"]["annotations"][INGRESS_VIP] == "10.0.1.10"
    assert w.get("IPAddressClaim", "vip-ingress-c1", "team-a") is not None and out.warnings == []


def test_a_live_clusters_claim_that_cannot_bind_is_warned_about_and_not_converged():
    w, x = converged()
    w.remove(w.get("IPAddressClaim", "vip-cp-c1", "team-a"))
    w.remove(w.get("IPAddress", "vip-cp-c1", "team-a"))
    w.get("GlobalInClusterIPPool", "cp-pool")["spec"]["addresses"] = ["10.0.0.30"]
    w.add(ip_address("other", "10.0.0.30"))  # the pool is full: the claim made again cannot bind
    for _ in range(3):
        out = _step(w, x)
        w.get("GlobalInClusterIPPool", "cp-pool")["status"] = {"ipAddresses": {"total": 1, "used": 1, "free": 0}}
    assert out.reason("ControlPlaneVIPReady") == "PoolExhausted" and out.ttl == 15
    assert any(r == "PoolExhausted" and "10.0.0.10 stays on the Cluster meanwhile" in m for r, m in out.warnings)
    assert _cluster(w)["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"


def test_a_pinned_endpoint_whose_claim_is_being_deleted_waits_for_it_before_a_new_claim():
    w, x = converged()
    x["spec"]["cluster"]["controlPlaneEndpoint"] = {"host": "10.0.0.10"}  # pinned to its pool VIP
    _step(w, x)
    w.get("IPAddressClaim", "vip-cp-c1", "team-a")["metadata"]["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    out = w.reconcile(x)
    assert "vip-claim-control-plane" not in out.desired  # not composed over the one being deleted
    assert any(r == "ClaimMissing" and "is being deleted" in m for r, m in out.warnings)


def test_a_manual_ingress_vip_equal_to_the_claims_address_before_the_cluster_is_composed_is_that_address():
    w = World()
    w.add(*STORE)
    x = xr()
    w.reconcile(x)
    w.converge_ipam()  # claims bound; the Cluster waits for the next reconcile
    x["metadata"]["annotations"] = {INGRESS_VIP: "10.0.1.10"}  # the address IPAM gave the ingress claim
    for _ in range(4):
        out = _step(w, x)
    assert _cluster(w)["metadata"]["annotations"][INGRESS_VIP] == "10.0.1.10"
    assert w.get("IPAddressClaim", "vip-ingress-c1", "team-a") is not None and out.warnings == []


def test_a_cluster_deleted_by_hand_under_a_manual_ingress_vip_equal_to_its_claims_address_is_composed_again():
    w, x = converged()
    x["metadata"]["annotations"] = {INGRESS_VIP: "10.0.1.10"}
    _step(w, x)
    w.remove(_cluster(w))
    out = _step(w, x)
    assert out.cluster is not None
    assert _cluster(w)["metadata"]["annotations"][INGRESS_VIP] == "10.0.1.10"
    assert w.get("IPAddressClaim", "vip-ingress-c1", "team-a") is not None


def test_an_ingress_vip_pinned_to_its_pool_address_whose_claim_is_deleted_is_warned_about_and_claimed_again():
    w, x = converged()
    x["metadata"]["annotations"] = {INGRESS_VIP: "10.0.1.10"}  # the pool's VIP, copied onto the XR
    _step(w, x)
    w.remove(w.get("IPAddressClaim", "vip-ingress-c1", "team-a"))  # by hand; IPAM frees 10.0.1.10
    w.remove(w.get("IPAddress", "vip-ingress-c1", "team-a"))
    out = w.reconcile(x)
    assert "ClaimMissing" in [r for r, _ in out.warnings]
    x["status"]["vip"] = out.status
    w.converge_ipam()
    for _ in range(2):
        out = _step(w, x)
    assert w.get("IPAddressClaim", "vip-ingress-c1", "team-a") is not None  # 10.0.1.10 reserved again
    assert out.status["ingressSource"] == "Pool" and out.warnings == []


def test_an_endpoint_pinned_to_its_pool_address_waits_for_its_claim_made_again():
    w, x = converged()
    x["spec"]["cluster"]["controlPlaneEndpoint"] = {"host": "10.0.0.10"}  # the pool's VIP, copied onto the XR
    _step(w, x)
    w.remove(w.get("IPAddressClaim", "vip-cp-c1", "team-a"))  # by hand; IPAM frees 10.0.0.10
    w.remove(w.get("IPAddress", "vip-cp-c1", "team-a"))
    out = w.reconcile(x)
    assert [r for r, _ in out.warnings] == ["ClaimMissing"]  # made again
    x["status"]["vip"] = out.status
    out = w.reconcile(x)  # not bound yet: kept and waited for
    assert w.get("IPAddressClaim", "vip-cp-c1", "team-a") is not None
    assert out.reason("ControlPlaneVIPReady") == "WaitingForAddress"
    w.converge_ipam()
    out = _step(w, x)
    assert w.get("IPAddress", "vip-cp-c1", "team-a")["spec"]["address"] == "10.0.0.10"
    assert out.status["controlPlaneSource"] == "Pool"


def test_a_pinned_pool_vip_whose_claim_made_again_binds_elsewhere_is_released_with_a_warning_that_it_is_unreserved():
    w, x = converged()
    x["metadata"]["annotations"] = {INGRESS_VIP: "10.0.1.10"}  # the pool's VIP, copied onto the XR
    _step(w, x)
    w.remove(w.get("IPAddressClaim", "vip-ingress-c1", "team-a"))  # by hand; IPAM frees 10.0.1.10
    w.remove(w.get("IPAddress", "vip-ingress-c1", "team-a"))
    w.add(ip_address("vip-ingress-other", "10.0.1.10", namespace="team-b", pool_name="ing-pool"))  # given away
    warnings = [r for _ in range(4) for r, _ in _step(w, x).warnings]  # the release goes in steps (Usage)
    assert warnings.count("ClaimMissing") == 2  # made again; then released, saying 10.0.1.10 is unreserved
    assert w.get("IPAddressClaim", "vip-ingress-c1", "team-a") is None  # it held nothing the Cluster uses


def test_a_pinned_pool_vip_whose_address_is_unread_for_a_moment_stays_the_pools():
    w, x = converged()
    x["metadata"]["annotations"] = {INGRESS_VIP: "10.0.1.10"}
    _step(w, x)
    out = w.reconcile(x, drop={"address/ingress"})
    assert out.status["ingressSource"] == "Pool"


def test_a_stale_pool_source_under_a_manual_ingress_vip_raises_no_false_alarm():
    w, x = converged()
    pooled = dict(x["status"]["vip"])
    x["metadata"]["annotations"] = {INGRESS_VIP: "192.168.5.5"}
    for _ in range(4):
        _step(w, x)
    x["status"]["vip"] = pooled  # the status write of the releasing reconcile lost
    out = _step(w, x)
    assert out.warnings == [] and w.get("IPAddressClaim", "vip-ingress-c1", "team-a") is None


def test_an_ingress_claim_deleted_while_the_class_lacks_the_variable_is_said_to_leave_the_vip_unreserved():
    from tests.harness import cluster_class

    w, x = converged()
    w.add(cluster_class(variables=("clusterVip",)))  # the class loses ingressVip: the claim is kept, not remade
    _step(w, x)
    w.remove(w.get("IPAddressClaim", "vip-ingress-c1", "team-a"))  # by hand; IPAM frees 10.0.1.10
    w.remove(w.get("IPAddress", "vip-ingress-c1", "team-a"))
    out = _step(w, x)
    (message,) = [m for r, m in out.warnings if r == "ClusterClassMissingVariable"]
    assert "no claim reserves 10.0.1.10 any more" in message and "spec.excludedAddresses" in message


def test_a_pinned_pool_vip_under_a_status_without_its_value_is_still_claimed_again_when_its_claim_goes():
    w, x = converged()
    x["metadata"]["annotations"] = {INGRESS_VIP: "10.0.1.10"}
    _step(w, x)
    del x["status"]["vip"]["ingress"]  # an older status: the source without the value
    w.remove(w.get("IPAddressClaim", "vip-ingress-c1", "team-a"))
    w.remove(w.get("IPAddress", "vip-ingress-c1", "team-a"))
    out = w.reconcile(x)
    assert "ClaimMissing" in [r for r, _ in out.warnings] and out.status["ingressSource"] == "Pool"
