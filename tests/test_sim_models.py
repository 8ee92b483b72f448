"""The simulator's models of upstream behaviour, checked on their own: a wrong model proves nothing."""

from tests.harness import cluster_class, pool
from tests.sim import Sim

IPAM = "ipam.cluster.x-k8s.io"


def claim(name, pool_name="p", *, kind="GlobalInClusterIPPool", api_group=IPAM, cluster_name=None, labels=None):
    spec = {"poolRef": {"apiGroup": api_group, "kind": kind, "name": pool_name}}
    if cluster_name:
        spec["clusterName"] = cluster_name
    return {"apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddressClaim",
            "metadata": {"name": name, "namespace": "a", "labels": labels or {}}, "spec": spec}


def address_of(sim, name):
    obj = sim.find("IPAddress", name, "a")
    return obj["spec"]["address"] if obj else None


def test_ipam_hands_out_the_lowest_free_address_skipping_network_gateway_broadcast_and_exclusions():
    sim = Sim()
    p = pool("p", addresses=("10.0.0.0-10.0.0.255",), gateway="10.0.0.1")
    p["spec"]["excludedAddresses"] = ["10.0.0.2"]
    sim.add(p)
    for i in range(3):
        sim.add(claim(f"c{i}"))
    sim.run_for(10)
    assert [address_of(sim, f"c{i}") for i in range(3)] == ["10.0.0.3", "10.0.0.4", "10.0.0.5"]
    assert sim.find("IPAddress", "c0", "a")["metadata"]["name"] == "c0"  # named as its claim


def test_ipam_never_hands_out_the_ipv4_broadcast_address():
    sim = Sim()
    sim.add(pool("p", addresses=("10.0.0.254-10.0.0.255",), gateway="10.0.0.1"), claim("c0"), claim("c1"))
    sim.run_for(10)
    assert (address_of(sim, "c0"), address_of(sim, "c1")) == ("10.0.0.254", None)


def test_ipam_skips_a_claim_naming_a_cluster_that_does_not_exist():
    sim = Sim()
    sim.add(pool("p"), claim("by-field", cluster_name="ghost"),
            claim("by-label", labels={"cluster.x-k8s.io/cluster-name": "ghost"}))
    sim.run_for(10)
    assert address_of(sim, "by-field") is None and address_of(sim, "by-label") is None


def test_ipam_ignores_a_claim_with_another_api_group_or_an_unknown_pool():
    sim = Sim()
    sim.add(pool("p"), claim("wrong-group", api_group="ipam.example.org"), claim("no-pool", "nope"))
    sim.run_for(10)
    assert address_of(sim, "wrong-group") is None and address_of(sim, "no-pool") is None


def test_ipam_leaves_claims_pending_when_exhausted_and_frees_on_claim_deletion():
    sim = Sim()
    sim.add(pool("p", addresses=("10.0.0.10",), gateway="10.0.0.1"), claim("c0"), claim("c1"))
    sim.run_for(10)
    assert (address_of(sim, "c0"), address_of(sim, "c1")) == ("10.0.0.10", None)
    assert sim.find("GlobalInClusterIPPool", "p")["status"]["ipAddresses"] == {"total": 1, "used": 1, "free": 0, "outOfRange": 0}
    sim.api.delete((IPAM, "IPAddressClaim", "a", "c0"), actor="user")
    sim.run_for(10)
    assert sim.find("IPAddressClaim", "c0", "a") is None
    assert address_of(sim, "c1") == "10.0.0.10"


def test_capi_rejects_a_topology_variable_the_class_does_not_define():
    sim = Sim()
    sim.add(cluster_class("cc", "a", variables=("clusterVip",)))
    cluster = {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "metadata": {"name": "x", "namespace": "a"},
               "spec": {"topology": {"class": "cc", "version": "v1", "variables": [{"name": "ingressVip", "value": "1.2.3.4"}]}}}
    try:
        sim.api.apply(cluster)
    except Exception as e:  # noqa: BLE001
        assert "variable is not defined" in str(e)
    else:
        raise AssertionError("the webhook accepted an undefined variable")


def test_a_usage_refuses_deletion_while_its_user_exists_and_replays_it_after():
    sim = Sim(teardown=100)
    sim.add(cluster_class("cc", "a"), pool("p"), claim("c0"))
    cluster = {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
               "metadata": {"name": "x", "namespace": "a", "labels": {"crossplane.io/composite": "xr"}},
               "spec": {"topology": {"class": "cc", "version": "v1"}}}
    usage = {"apiVersion": "protection.crossplane.io/v1beta1", "kind": "Usage",
             "metadata": {"name": "u", "namespace": "a", "labels": {"crossplane.io/composite": "xr"}},
             "spec": {"of": {"apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddressClaim", "resourceRef": {"name": "c0"}},
                      "by": {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "resourceRef": {"name": "x"}},
                      "replayDeletion": True}}
    sim.api.apply(cluster)
    sim.api.apply(usage)
    sim.run_for(5)
    assert sim.find("IPAddressClaim", "c0", "a")["metadata"]["labels"]["crossplane.io/in-use"] == "true"
    assert sim.api.delete((IPAM, "IPAddressClaim", "a", "c0"), actor="gc") is False
    sim.api.delete(("protection.crossplane.io", "Usage", "a", "u"), actor="gc")
    sim.api.delete(("cluster.x-k8s.io", "Cluster", "a", "x"), actor="gc")
    sim.run_for(50)
    assert sim.find("Usage", "u", "a") is not None  # waits for the Cluster
    assert sim.find("IPAddressClaim", "c0", "a") is not None
    sim.run_for(100)
    assert sim.find("Cluster", "x", "a") is None
    assert sim.find("Usage", "u", "a") is None
    assert sim.find("IPAddressClaim", "c0", "a") is None  # the refused deletion was replayed


def test_a_listed_object_is_sent_as_it_is_now_also_when_it_changed_in_place_since_it_was_last_sent():
    """The simulator turns each IPAddress into its protobuf once per content (tests/sim.py _fill): what it sends must
    equal what a fresh conversion gives, after the object changed in place and after it was made anew."""
    from crossplane.function.proto.v1 import run_function_pb2 as fnv1
    from google.protobuf import struct_pb2

    from tests.harness import ip_address
    from tests.sim import _fill

    def sent(obj: dict) -> struct_pb2.Struct:
        req = fnv1.RunFunctionRequest()
        _fill(req.required_resources, {"ipaddresses": [obj]})
        return req.required_resources["ipaddresses"].items[0].resource

    def fresh(obj: dict) -> struct_pb2.Struct:
        s = struct_pb2.Struct()
        s.update(obj)
        return s

    obj = ip_address("vip-cp-cached", "10.0.0.10")
    assert sent(obj) == fresh(obj) and sent(obj) == fresh(obj)  # built, then from the cache
    obj["metadata"]["finalizers"] = ["ipam.cluster.x-k8s.io/ProtectAddress"]
    obj["metadata"]["deletionTimestamp"] = "2026-12-07T12:00:00Z"
    assert sent(obj) == fresh(obj)
    anew = ip_address("vip-cp-cached", "10.0.0.11")
    assert sent(anew) == fresh(anew) and sent(anew).fields["spec"].struct_value.fields["address"].string_value == "10.0.0.11"


def test_an_address_given_twice_stays_in_use_until_both_its_ipaddresses_are_gone():
    """The provider's cache lagging (after an API server outage) gives one address to two claims; deleting one of
    them leaves the address held by the other, so it is not handed out a third time."""
    sim = Sim()
    sim.add(pool("p", addresses=("10.0.0.10-10.0.0.20",), gateway="10.0.0.1"))
    sim.ipam.lag(sim.clock.now + 30)  # IPAddresses made meanwhile are seen only then
    sim.add(claim("c0"), claim("c1"))
    sim.run_for(40)
    assert address_of(sim, "c0") == address_of(sim, "c1") == "10.0.0.10"
    sim.api.delete((IPAM, "IPAddressClaim", "a", "c1"), actor="user")
    sim.run_for(10)
    assert address_of(sim, "c1") is None
    sim.add(claim("c2"))
    sim.run_for(10)
    assert address_of(sim, "c2") == "10.0.0.11"


def test_the_one_worker_provider_binds_claims_one_after_another_and_after_a_restart_reads_every_claim_first():
    """sim.Ipam.one_worker, as the real provider ran in the fault suite: one reconcile at a time, each taking what
    its API calls took; a restart queues every claim that exists, in key order, before the new ones' events."""
    sim = Sim()
    sim.ipam.one_worker(bind=0.5, release=0.4, read=0.2)
    sim.add(pool("p", addresses=("10.0.0.10-10.0.0.20",), gateway="10.0.0.1"))
    sim.add(*(claim(f"c{i}") for i in range(4)))
    sim.run_for(1.6)
    assert [address_of(sim, f"c{i}") for i in range(4)] == ["10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13"]
    sim.ipam.set_up(False)
    sim.add(claim("d0"))  # waits: the provider is down
    sim.run_for(5)
    sim.ipam.set_up(True)  # c0..c3 read again (0.2 s each) before d0 is bound
    sim.run_for(0.7)
    assert address_of(sim, "d0") is None
    sim.run_for(0.6)
    assert address_of(sim, "d0") == "10.0.0.14"
