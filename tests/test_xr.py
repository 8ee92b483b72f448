"""The XR contract (function/xr.py): what a user writes, and the message for each mistake."""

import pytest

from function import input as inputs
from function import xr as xrs
from tests.harness import xr

INP = inputs.DEFAULT


def parse(obj):
    return xrs.parse(obj, INP)


def test_v1beta1_class_reference():
    r = parse(xr(cls="cc", classNamespace="shared"))
    assert (r.class_name, r.class_namespace) == ("cc", "shared")


def test_v1beta2_class_reference():
    r = parse(xr(cluster={"topology": {"classRef": {"name": "cc", "namespace": "shared"}, "version": "v1.31.0"}}))
    assert (r.class_name, r.class_namespace) == ("cc", "shared")


def test_class_namespace_defaults_to_the_cluster_namespace():
    assert parse(xr(namespace="team-a")).class_namespace == "team-a"


def test_namespaced_xr_composes_into_its_namespace():
    r = parse(xr(name="c1", namespace="team-a"))
    assert (r.name, r.namespace) == ("c1", "team-a")


def test_legacy_cluster_scoped_xr_composes_into_its_claims_namespace():
    obj = xr(namespace=None)
    obj["spec"]["claimRef"] = {"apiVersion": "x/v1", "kind": "Claim", "name": "c", "namespace": "team-c"}
    assert parse(obj).namespace == "team-c"


def test_legacy_cluster_scoped_xr_without_claim_composes_into_default():
    assert parse(xr(namespace=None)).namespace == "default"


def test_a_fatal_names_a_namespaced_xr_with_its_namespace_and_a_cluster_scoped_one_without():
    no_class = {"topology": {"version": "v1"}}
    with pytest.raises(xrs.Fatal, match=r"^XR team-a/c1: spec\.cluster\.topology\.class"):
        parse(xr(cluster=no_class))
    legacy = xr(namespace=None, cluster=no_class)
    legacy["spec"]["claimRef"] = {"apiVersion": "x/v1", "kind": "Claim", "name": "c", "namespace": "team-c"}
    with pytest.raises(xrs.Fatal, match=r"^XR c1: spec\.cluster\.topology\.class"):
        parse(legacy)


def test_a_release_address_that_is_no_ip_is_fatal_and_names_the_annotation():
    with pytest.raises(xrs.Fatal, match=r"annotation vip\.capi\.gorizond\.io/release-address='api' is not an IP address"):
        parse(xr(annotations={"vip.capi.gorizond.io/release-address": "api"}))
    assert parse(xr(annotations={"vip.capi.gorizond.io/release-address": "FD00::1"})).release_address == "fd00::1"


def test_a_port_without_host_is_not_a_manual_endpoint():
    r = parse(xr(cluster={"topology": {"class": "cc", "version": "v1"}, "controlPlaneEndpoint": {"port": 7443}}))
    assert (r.manual_host, r.port) == (None, 7443)


@pytest.mark.parametrize(
    ("host", "expected"),
    [("10.1.2.3", "10.1.2.3"), ("fd00::0:10", "fd00::10"), ("api.example.com", "api.example.com")],
)
def test_manual_host_is_an_ip_or_dns_name(host, expected):
    r = parse(xr(cluster={"topology": {"class": "cc", "version": "v1"}, "controlPlaneEndpoint": {"host": host}}))
    assert r.manual_host == expected


def test_ingress_annotations_are_read():
    r = parse(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false", "vip.capi.gorizond.io/ingress-vip": "10.9.9.9"}))
    assert (r.ingress_disabled, r.manual_ingress) == (True, "10.9.9.9")


def test_ingress_enabled_other_than_false_keeps_ingress_on():
    assert not parse(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "true"})).ingress_disabled


# Each bad XR, and the message the user sees in the Fatal result.
BAD = [
    ("no spec.cluster", {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "c1", "namespace": "a"}, "spec": {}},
     "spec.cluster must hold the Cluster spec"),
    ("spec.cluster a string", xr(cluster="oops"), "spec.cluster must hold the Cluster spec (an object with topology.class or topology.classRef.name), but it is a str"),
    ("no topology", xr(cluster={"paused": False}), "spec.cluster.topology is required"),
    ("no class", xr(cluster={"topology": {"version": "v1"}}), "XR team-a/c1: spec.cluster.topology.class (v1beta1) or spec.cluster.topology.classRef.name (v1beta2) is required: name"),
    ("class a number", xr(cluster={"topology": {"class": 7, "version": "v1"}}), "spec.cluster.topology.class must be a non-empty string, but it is int 7"),
    ("classRef without name", xr(cluster={"topology": {"classRef": {}, "version": "v1"}}), "spec.cluster.topology.classRef.name must be a non-empty string, but it is missing"),
    ("blank class", xr(cluster={"topology": {"class": "", "version": "v1"}}), "spec.cluster.topology.class must be a non-empty string, but it is empty"),
    ("two classes", xr(cluster={"topology": {"class": "a", "classRef": {"name": "b"}, "version": "v1"}}), "names two ClusterClasses"),
    ("no version", xr(cluster={"topology": {"class": "cc"}}), "spec.cluster.topology.version must be a non-empty string"),
    ("bad host", xr(cluster={"topology": {"class": "cc", "version": "v1"}, "controlPlaneEndpoint": {"host": "not a host!"}}),
     "spec.cluster.controlPlaneEndpoint.host='not a host!' is neither an IP address nor an RFC 1123 DNS name"),
    ("host with prefix", xr(cluster={"topology": {"class": "cc", "version": "v1"}, "controlPlaneEndpoint": {"host": "10.0.0.1/24"}}),
     "controlPlaneEndpoint.host='10.0.0.1/24' is neither an IP address"),
    ("bad port", xr(cluster={"topology": {"class": "cc", "version": "v1"}, "controlPlaneEndpoint": {"port": 70000}}),
     "spec.cluster.controlPlaneEndpoint.port must be a whole number from 1 to 65535, but it is 70000"),
    ("port a string", xr(cluster={"topology": {"class": "cc", "version": "v1"}, "controlPlaneEndpoint": {"port": "6443"}}),
     "port must be a whole number from 1 to 65535, but it is '6443'"),
    ("bad ingress annotation", xr(annotations={"vip.capi.gorizond.io/ingress-vip": "10.0.0.300"}),
     "annotation vip.capi.gorizond.io/ingress-vip='10.0.0.300' is not an IP address"),
    ("no name", {"metadata": {"namespace": "a"}, "spec": {"cluster": {}}}, "XR metadata.name must be a non-empty string"),
    ("claim name too long", xr(name="c" * 250), "is not a valid object name; use a shorter XR name"),
]


@pytest.mark.parametrize(("obj", "message"), [pytest.param(o, m, id=i) for i, o, m in BAD])
def test_a_bad_xr_is_fatal_with_a_message_naming_the_field(obj, message):
    with pytest.raises(xrs.Fatal) as e:
        parse(obj)
    assert message in str(e.value)
