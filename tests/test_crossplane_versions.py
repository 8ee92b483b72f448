"""Behaviour 12: every Crossplane from v1.15 on, old and new ways of fetching resources."""

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn
from tests.fixtures import STORE, bound, live, world
from tests.harness import CP_CLAIM, Outcome, cluster_class, pool, request, run, to_struct, xr


def test_modern_crossplane_is_asked_on_requirements_resources_with_namespaces():
    out = run(xr(), {}, STORE, modern=True)
    assert not out.rsp.requirements.extra_resources
    sel = out.rsp.requirements.resources["cluster-class"]
    assert (sel.match_name, sel.namespace) == ("cc", "team-a")


def test_legacy_crossplane_is_asked_on_extra_resources_without_by_name_fetches_of_namespaced_kinds():
    observed, store = bound()
    out = run(xr(), observed, [*STORE, *store], modern=False)
    assert not out.rsp.requirements.resources
    for name, sel in out.rsp.requirements.extra_resources.items():
        assert sel.WhichOneof("match") == "match_labels", name
    assert dict(out.rsp.requirements.extra_resources["cluster-class"].match_labels.labels) == {}


def test_legacy_crossplane_gets_the_same_cluster_as_modern():
    observed, store = bound()
    modern = run(xr(), observed, [*STORE, *store], modern=True)
    legacy = run(xr(), observed, [*STORE, *store], modern=False)
    assert legacy.cluster == modern.cluster
    assert legacy.desired == modern.desired


def test_legacy_answers_listing_every_namespace_are_filtered_by_name_and_namespace():
    # v1 ignores the selector's namespace: a same-named class elsewhere must not be read.
    other = cluster_class(namespace="team-b", variables=())
    others_pool = pool("b-pool", kind="InClusterIPPool", namespace="team-b", free=99)
    observed, store = bound(ingress=None)
    out = run(xr(), observed, [other, cluster_class(variables=("clusterVip",)), pool("cp-pool", free=3), others_pool, *store],
              modern=False)
    assert {"name": "clusterVip", "value": "10.0.0.10"} in out.cluster["spec"]["topology"]["variables"]


def test_a_legacy_world_converges_like_a_modern_one():
    results = []
    for modern in (True, False):
        w = world()
        w.modern = modern
        w.settle(xr())
        results.append(w.get("Cluster", "c1", "team-a"))
    assert results[0] == results[1]
    assert results[0]["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"


def test_resources_pre_filled_in_required_resources_on_the_first_call_are_read():
    observed, store = live()
    fetched = {"cluster-class": [STORE[0]], "address/control-plane": [store[0]], "address/ingress": [store[1]]}
    out = Outcome(fn.run(request(xr(), observed, fetched=fetched)))
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    assert out.rsp.results == []


def test_resources_in_both_request_fields_are_read():
    observed, store = bound(ingress=None)
    # No Cluster observed yet: Crossplane also answers whether one exists already (adopt.py): none does.
    req = request(xr(), observed, modern=True, fetched={"cluster-class": [cluster_class(variables=("clusterVip",))],
                                                        "existing/cluster": [], "ipaddresses": [store[0]]})
    req.extra_resources["address/control-plane"].items.add().resource.CopyFrom(to_struct(store[0]))
    out = Outcome(fn.run(req))
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"


def test_the_v1beta1_protocol_is_served_like_v1():
    from crossplane.function.proto.v1beta1 import run_function_pb2 as fnv1beta1
    from crossplane.function.runtime import BetaFunctionRunner
    import asyncio

    req = fnv1beta1.RunFunctionRequest()
    req.ParseFromString(request(xr(), {}, modern=False).SerializeToString())
    rsp = asyncio.run(BetaFunctionRunner(fn.FunctionRunner()).RunFunction(req, None))
    assert "cluster-class" in rsp.requirements.extra_resources


def test_requirements_are_stable_on_the_second_call_of_a_converged_xr():
    observed, store = live()
    out = run(xr(), observed, [*STORE, *store])
    assert out.calls == 2
    assert isinstance(out.rsp, fnv1.RunFunctionResponse)


def test_bound_addresses_not_yet_on_a_cluster_take_one_call_more_for_their_pools_addresses():
    # The first call asks for the claims' IPAddresses, the second for their pools' (double_allocation.py), the third
    # composes the Cluster and asks for nothing new.
    out = run(xr(), *bound_with_store())
    assert out.calls == 3
    assert "ipaddresses" in out.requirements
    assert out.cluster is not None


def test_a_bound_address_waits_unlisted_while_the_other_binds_so_no_pool_is_watched_meanwhile():
    # The control-plane address is bound, the ingress claim is new: the Cluster cannot be composed this call
    # whatever the pool's IPAddresses say, so they are not asked for (Crossplane would watch every IPAddress of
    # the pool for the XR meanwhile); the address goes onto nothing.
    out = run(xr(), {CP_CLAIM: bound()[0][CP_CLAIM]}, [*STORE, *bound()[1]])
    assert out.calls == 2
    assert not any(name.startswith("ipaddresses") for name in out.requirements)
    assert out.cluster is None
    assert "controlPlane" not in out.status and out.status.get("controlPlaneSource") is None


def bound_with_store() -> tuple[dict, list]:
    observed, store = bound()
    return observed, [*STORE, *store]
