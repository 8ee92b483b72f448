"""Bad input through the real server: named cases with the exact message a user sees, and fuzzing.

Whatever arrives, the server answers (never a gRPC error, never a crash), and the answer
either keeps every observed Cluster and claim in desired state or is Fatal.
"""

from pathlib import Path

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures import CC, CP_POOL, ING_POOL, STORE, bound, live
from tests.harness import CP_CLAIM, INGRESS_CLAIM, Outcome, request, run, xr

PRODUCTION = (Path(__file__).resolve().parents[1] / "docs" / "production.md").read_text()
HEAD = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input"}


def _endpoint(**e):
    return xr(cluster={"topology": {"class": "cc", "version": "v1.31.0"}, "controlPlaneEndpoint": e})


def _with_meta(obj, **meta):
    obj["metadata"].update(meta)
    return obj


def _observed_cluster_without_name():
    observed, _ = live()
    del observed["cluster"]["metadata"]["name"]
    return request(xr(), observed)


def _observed_claim_without_pool():
    observed, _ = live()
    del observed[CP_CLAIM]["spec"]["poolRef"]
    return request(xr(), observed)


# name -> (request, the exact Fatal message)
BAD_INPUTS = {
    "XR without spec.cluster": (
        request({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "c1", "namespace": "a"}, "spec": {}}),
        "XR a/c1: spec.cluster must hold the Cluster spec (an object with topology.class or topology.classRef.name), "
        "but it is missing"),
    "Cluster spec without topology": (
        request(xr(cluster={"paused": False})),
        "XR team-a/c1: spec.cluster.topology is required: this function composes ClusterClass-based Clusters; set "
        "topology.class (v1beta1) or topology.classRef.name (v1beta2) and topology.version"),
    "topology without a class": (
        request(xr(cluster={"topology": {"version": "v1.31.0"}})),
        "XR team-a/c1: spec.cluster.topology.class (v1beta1) or spec.cluster.topology.classRef.name (v1beta2) is "
        "required: name the ClusterClass"),
    "topology without a version": (
        request(xr(cluster={"topology": {"class": "cc"}})),
        "XR team-a/c1: spec.cluster.topology.version must be a non-empty string, but it is missing"),
    "endpoint host that is no IP or DNS name": (
        request(_endpoint(host="10.0.0.1/24")),
        "XR team-a/c1: spec.cluster.controlPlaneEndpoint.host='10.0.0.1/24' is neither an IP address nor an RFC 1123 DNS "
        "name; fix it, or remove it to allocate the VIP from a pool"),
    "endpoint port out of range": (
        request(_endpoint(port=70000)),
        "XR team-a/c1: spec.cluster.controlPlaneEndpoint.port must be a whole number from 1 to 65535, but it is 70000"),
    "ingress-vip annotation that is no IP": (
        request(xr(annotations={"vip.capi.gorizond.io/ingress-vip": "ingress.example.com"})),
        "XR team-a/c1: annotation vip.capi.gorizond.io/ingress-vip='ingress.example.com' is not an IP address; set it to an "
        "IPv4 or IPv6 address, or remove it to allocate the ingress VIP from a pool"),
    "XR annotations that are no map": (
        request(_with_meta(xr(), annotations=["vip.capi.gorizond.io/ingress-enabled=false"])),
        "XR team-a/c1: metadata.annotations must be a map of strings, but it is a list; the ingress annotations cannot be "
        "read, so nothing is applied until it is a map"),
    "ingress-enabled annotation that is neither true nor false": (
        request(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "no"})),
        "XR team-a/c1: annotation vip.capi.gorizond.io/ingress-enabled='no' must be \"true\" or \"false\"; set it to "
        "\"false\" to turn the ingress VIP off, or remove it"),
    "topology variables that are no list": (
        request(xr(variables={"cni": "calico"})),
        "XR team-a/c1: spec.cluster.topology.variables must be a list of {name, value} objects, but it is a dict"),
    "Input with an unknown field": (
        request(xr(), inp={**HEAD, "labels": {"rol": "x"}}),
        "the function's Input is invalid: labels.rol: Extra inputs are not permitted"),
    "Input with a bad duration": (
        request(xr(), inp={**HEAD, "ttl": {"waiting": "soon"}}),
        "the function's Input is invalid: ttl.waiting: Value error, 'soon' is not a duration; write it like 15s, "
        "10m or 1h30m"),
    "observed Cluster without a name": (
        _observed_cluster_without_name(),
        "the observed Cluster has no readable metadata.name and namespace; nothing is applied until it has"),
    "observed claim without poolRef": (
        _observed_claim_without_pool(),
        "the observed control-plane IPAddressClaim (vip-claim-control-plane) has no readable metadata.name, "
        "namespace or spec.poolRef; nothing is applied until it has"),
    "no XR at all": (fnv1.RunFunctionRequest(), "the XR has no metadata"),
}


# Malformed fetched objects: a Warning that names the object and the field ----------------------


def test_a_cluster_class_whose_spec_is_no_object_is_reported_and_holds_a_new_cluster_back():
    observed, store = bound()
    broken = {**CC, "spec": "variables: [clusterVip]"}
    out = run(xr(), observed, [broken, CP_POOL, ING_POOL, *store])
    messages = [m for r, m in out.warnings if r == "InvalidClusterClass"]
    assert messages and "ClusterClass team-a/cc" in messages[0] and "its spec is a string, not an object" in messages[0]
    assert out.reason("ControlPlaneVIPReady") == "InvalidClusterClass"
    assert out.cluster is None


def test_a_cluster_class_whose_variables_are_no_list_is_reported_and_a_live_cluster_keeps_its_variables():
    observed, store = live()
    broken = {**CC, "spec": {"variables": {"clusterVip": {}}}}
    out = run(xr(), observed, [broken, CP_POOL, ING_POOL, *store])
    assert any(r == "InvalidClusterClass" and "its spec.variables is an object, not a list" in m
               for r, m in out.warnings), out.warnings
    names = {v["name"]: v["value"] for v in out.cluster["spec"]["topology"]["variables"]}
    assert names == {"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10"}


def test_an_ipaddress_whose_address_is_a_number_under_a_live_cluster_is_reported():
    observed, store = live()
    store[1]["spec"]["address"] = 167837962
    out = run(xr(), observed, [*STORE, *store])
    messages = [m for r, m in out.warnings if r == "InvalidAddress"]
    assert messages and "IPAddress team-a/vip-ingress-c1" in messages[0] and "spec.address=167837962" in messages[0]
    assert out.cluster["metadata"]["annotations"] == {"vip.capi.gorizond.io/ingress-vip": "10.0.1.10"}
    assert INGRESS_CLAIM in out.desired


def test_an_ipaddress_without_a_spec_under_a_live_cluster_is_reported():
    observed, store = live()
    store[0]["spec"] = "10.0.0.10"
    out = run(xr(), observed, [*STORE, *store])
    messages = [m for r, m in out.warnings if r == "InvalidAddress"]
    assert messages and "IPAddress team-a/vip-cp-c1" in messages[0]
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"


@pytest.fixture(scope="module")
def stub(server):
    channel, *_ = server
    return grpcv1.FunctionRunnerServiceStub(channel)


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_a_named_bad_input_gets_its_exact_message(stub, name):
    req, message = BAD_INPUTS[name]
    assert Outcome(stub.RunFunction(req, timeout=10)).fatal == message


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_the_production_page_lists_each_bad_input_with_its_message(name):
    _, message = BAD_INPUTS[name]
    assert f"| {name} | `{message}` |" in PRODUCTION


# Fuzzing ------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**60), 2**60), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.sampled_from(["", "10.0.0.1", "::1", "0" * 70_000, "ünïcødé ✓", "cc", "true", "false"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=12), inner, max_size=6)),
    max_leaves=25,
)
PATHS = [
    ("metadata",), ("metadata", "name"), ("metadata", "namespace"), ("metadata", "annotations"),
    ("metadata", "annotations", "vip.capi.gorizond.io/ingress-vip"), ("spec",), ("spec", "cluster"),
    ("spec", "cluster", "topology"), ("spec", "cluster", "topology", "class"), ("spec", "cluster", "topology", "classRef"),
    ("spec", "cluster", "topology", "variables"), ("spec", "cluster", "controlPlaneEndpoint"),
    ("spec", "cluster", "controlPlaneEndpoint", "host"), ("spec", "cluster", "controlPlaneEndpoint", "port"),
    ("spec", "claimRef"), ("status",), ("status", "vip"), ("status", "vip", "controlPlaneSource"),
]
OBSERVED_PATHS = [
    ("metadata",), ("metadata", "name"), ("metadata", "annotations"), ("spec",), ("spec", "controlPlaneEndpoint"),
    ("spec", "controlPlaneEndpoint", "host"), ("spec", "topology", "variables"), ("spec", "poolRef"),
    ("spec", "poolRef", "name"), ("status",), ("status", "addressRef"), ("status", "conditions"), ("spec", "by"),
]


def _xr_meta(req: fnv1.RunFunctionRequest):
    from tests.harness import to_dict

    return to_dict(req.observed.composite.resource).get("metadata")


def _put(obj: dict, path: tuple, value) -> dict:
    cur = obj
    for part in path[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = cur[part] = {}
        cur = nxt
    cur[path[-1]] = value
    return obj


@st.composite
def bad_requests(draw):
    observed, store = live()
    composite = _put(xr(), draw(st.sampled_from(PATHS)), draw(json_values)) if draw(st.booleans()) else xr()
    names = draw(st.lists(st.sampled_from(sorted(observed)), max_size=2, unique=True))
    for name in names:
        _put(observed[name], draw(st.sampled_from(OBSERVED_PATHS)), draw(json_values))
    fetched = {"cluster-class": [STORE[0]], "address/control-plane": [store[0]], "address/ingress": [store[1]]}
    if draw(st.booleans()):
        target = draw(st.sampled_from(sorted(fetched)))
        fetched[target] = [draw(st.dictionaries(st.sampled_from(["apiVersion", "kind", "metadata", "spec", "status"]),
                                                json_values, max_size=5))]
    inp = None
    if draw(st.integers(0, 4)) == 0:
        inp = draw(st.dictionaries(st.sampled_from(["apiVersion", "kind", "labels", "ttl", "roles", "xr", "usage", "ipam"]),
                                   json_values, max_size=4))
    return request(composite, observed, inp=inp, fetched=fetched, modern=draw(st.booleans())), observed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=bad_requests())
def test_malformed_requests_never_break_the_server_and_never_drop_what_exists(stub, case):
    req, observed = case
    try:
        rsp = stub.RunFunction(req, timeout=10)
    except grpc.RpcError as e:  # pragma: no cover - the failure this test exists to catch
        pytest.fail(f"gRPC error {e.code()}: {e.details()}")
    out = Outcome(rsp)
    if out.fatal:
        return
    dropped = ({"cluster", CP_CLAIM, INGRESS_CLAIM} & set(observed)) - set(out.desired)
    assert "cluster" not in dropped, "dropped the observed Cluster without a Fatal result"
    for name in dropped:
        assert any(r == "Released" for r, _ in out.normals), f"dropped {name} without a Fatal result or a release"
        bound = isinstance((observed[name].get("status") or {}).get("addressRef"), dict)
        annotations = {}
        if isinstance(req_meta := _xr_meta(req), dict) and isinstance(req_meta.get("annotations"), dict):
            annotations = req_meta["annotations"]
        deliberate = name == INGRESS_CLAIM and (
            "vip.capi.gorizond.io/ingress-vip" in annotations or annotations.get("vip.capi.gorizond.io/ingress-enabled") == "false")
        assert deliberate or not bound, f"released the bound claim {name} without being asked to"
