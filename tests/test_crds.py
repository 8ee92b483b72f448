"""The CRD validator itself must catch what the API server would reject."""

from tests import crds
from tests.harness import observed_claim


def claim(**spec):
    return {
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2",
        "kind": "IPAddressClaim",
        "metadata": {"name": "vip-cp-c1", "namespace": "team-a"},
        "spec": spec or {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "GlobalInClusterIPPool", "name": "p"}},
    }


def test_a_valid_claim_passes():
    assert crds.errors(claim()) == []


def test_a_missing_required_field_is_caught():
    assert any("apiGroup" in e for e in crds.errors(claim(poolRef={"kind": "K", "name": "p"})))


def test_an_unknown_field_is_caught():
    assert any("clusterNme" in e for e in crds.errors(claim(poolRef=claim()["spec"]["poolRef"], clusterNme="x")))


def test_a_pattern_violation_is_caught():
    bad = claim(poolRef={"apiGroup": "Not_A_Group", "kind": "K", "name": "p"})
    assert any("apiGroup" in e for e in crds.errors(bad))


def test_a_bad_object_name_is_caught():
    bad = claim()
    bad["metadata"]["name"] = "Vip_CP"
    assert any("metadata.name" in e for e in crds.errors(bad))


def test_a_kind_without_crd_is_caught():
    assert crds.errors({"apiVersion": "example.org/v1", "kind": "Nope", "metadata": {"name": "x"}})


def test_status_written_by_the_server_validates_too():
    assert crds.errors(observed_claim("vip-cp-c1")) == []


def test_int32_range_and_list_map_keys_are_enforced():
    cluster = {
        "apiVersion": "cluster.x-k8s.io/v1beta1",
        "kind": "Cluster",
        "metadata": {"name": "c1", "namespace": "a"},
        "spec": {
            "controlPlaneEndpoint": {"host": "h", "port": 2**40},
            "topology": {"class": "cc", "version": "v1", "variables": [{"name": "x", "value": 1}, {"name": "x", "value": 2}]},
        },
    }
    errs = crds.errors(cluster)
    assert any("port" in e for e in errs)
    assert any("duplicate" in e for e in errs)


def test_the_objects_tests_build_are_valid_too():
    from tests.harness import cluster_class, ip_address, observed_cluster, pool

    for obj in (pool("p", free=3), pool("n", kind="InClusterIPPool", namespace="a"), cluster_class(),
                cluster_class(in_status=True), ip_address("vip-cp-c1", "10.0.0.10"), observed_cluster(),
                observed_cluster(api_version="cluster.x-k8s.io/v1beta2")):
        crds.assert_valid(obj)
