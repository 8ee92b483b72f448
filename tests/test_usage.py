"""Deletion order: a Usage keeps each VIP claim alive until the Cluster that uses it is gone."""

from tests.fixtures import STORE, applied_without, bound, live
from tests.harness import CP_CLAIM, INGRESS_CLAIM, run, xr

CP_USAGE, INGRESS_USAGE = "vip-usage-control-plane", "vip-usage-ingress"
HEAD = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input"}
OFF = {"vip.capi.gorizond.io/ingress-enabled": "false"}


def observed_usage(claim="vip-cp-c1", attached=True, ready=True):
    spec = {"of": {"apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddressClaim", "resourceRef": {"name": claim}},
            "replayDeletion": True}
    if attached:
        spec["by"] = {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "resourceRef": {"name": "c1"}}
    else:
        spec["reason"] = "function-capi-vip is releasing this VIP"
    return {"apiVersion": "protection.crossplane.io/v1beta1", "kind": "Usage",
            "metadata": {"name": claim, "namespace": "team-a", "uid": "u1", "resourceVersion": "9"},
            "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "Available",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}


def with_usages(observed):
    observed[CP_USAGE] = observed_usage()
    observed[INGRESS_USAGE] = observed_usage("vip-ingress-c1")
    return observed


def test_each_claim_gets_a_usage_by_the_cluster_once_the_cluster_is_composed():
    observed, store = bound()
    out = run(xr(), observed, [*STORE, *store])
    assert out.desired[CP_USAGE] == {
        "apiVersion": "protection.crossplane.io/v1beta1", "kind": "Usage",
        "metadata": {"name": "vip-cp-c1", "namespace": "team-a"},
        "spec": {"of": {"apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddressClaim", "resourceRef": {"name": "vip-cp-c1"}},
                 "by": {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "resourceRef": {"name": "c1"}},
                 "replayDeletion": True}}
    assert out.desired[INGRESS_USAGE]["spec"]["of"]["resourceRef"] == {"name": "vip-ingress-c1"}


def test_no_usage_before_the_cluster_exists():
    out = run(xr(), {}, STORE)
    assert CP_USAGE not in out.desired and INGRESS_USAGE not in out.desired


def test_a_usage_is_ready_once_crossplane_reports_it_ready():
    observed, store = live()
    observed = with_usages(observed)
    observed[CP_USAGE] = observed_usage(ready=False)
    out = run(xr(), observed, [*STORE, *store])
    assert (out.ready[CP_USAGE], out.ready[INGRESS_USAGE]) == (False, True)


def test_usages_can_be_turned_off():
    observed, store = bound()
    out = run(xr(), observed, [*STORE, *store], inp={**HEAD, "usage": "None"})
    assert CP_USAGE not in out.desired


def _in_default():
    from tests.harness import cluster_class

    observed, store = bound()
    moved = {k: {**v, "metadata": {**v["metadata"], "namespace": "default"}} for k, v in observed.items()}
    addrs = [{**o, "metadata": {**o["metadata"], "namespace": "default"}} for o in store]
    return moved, [cluster_class(namespace="default"), *STORE[1:], *addrs]


def test_auto_composes_no_usage_for_a_cluster_scoped_xr_on_an_older_crossplane():
    observed, store = _in_default()
    out = run(xr(namespace=None), observed, store, modern=False)
    assert "cluster" in out.desired and CP_USAGE not in out.desired


def test_auto_composes_usages_when_crossplane_advertises_capabilities():
    observed, store = _in_default()
    out = run(xr(namespace=None), observed, store, modern=True)
    assert CP_USAGE in out.desired


def test_an_observed_usage_is_kept_even_when_usages_are_turned_off():
    observed, store = live()
    observed = with_usages(observed)
    out = run(xr(), observed, [*STORE, *store], inp={**HEAD, "usage": "None"})
    assert {CP_USAGE, INGRESS_USAGE} <= set(out.desired)


def test_releasing_a_claim_first_waits_for_the_cluster_without_its_address_its_usage_kept():
    observed, store = with_usages(live()[0]), live()[1]
    out = run(xr(annotations=OFF), observed, [*STORE, *store])
    assert INGRESS_CLAIM in out.desired and out.desired[INGRESS_USAGE]["spec"]["by"]["resourceRef"]["name"] == "c1"
    assert "annotations" not in out.cluster["metadata"]  # composed without it
    assert out.normals[0][0] == "Released" and "once the ingress VIP of Cluster team-a/c1 no longer carries 10.0.1.10" in out.normals[0][1]
    assert out.ttl == 15


def test_releasing_a_protected_claim_then_detaches_its_usage():
    observed, store = applied_without(with_usages(live()[0]), "10.0.1.10"), live()[1]
    out = run(xr(annotations=OFF), observed, [*STORE, *store])
    assert INGRESS_CLAIM in out.desired
    usage = out.desired[INGRESS_USAGE]["spec"]
    assert "by" not in usage and usage["reason"] == "function-capi-vip is releasing this VIP"
    assert "annotations" not in out.cluster["metadata"]
    assert out.normals == [("Released", 'releasing the ingress VIP of IPAddressClaim team-a/vip-ingress-c1 (detaching '
                                        'its Usage): XR annotated vip.capi.gorizond.io/ingress-enabled="false"')]
    assert out.ttl == 15


def test_then_drops_the_detached_usage_and_keeps_the_claim():
    observed, store = live()
    observed = applied_without(with_usages(observed), "10.0.1.10")
    observed[INGRESS_USAGE] = observed_usage("vip-ingress-c1", attached=False)
    out = run(xr(annotations=OFF), observed, [*STORE, *store])
    assert INGRESS_USAGE not in out.desired
    assert INGRESS_CLAIM in out.desired


def test_then_drops_the_claim_once_no_usage_protects_it():
    observed, store = live()
    observed = applied_without(observed, "10.0.1.10")
    observed[CP_USAGE] = observed_usage()
    out = run(xr(annotations=OFF), observed, [*STORE, *store])
    assert INGRESS_CLAIM not in out.desired
    assert CP_USAGE in out.desired and CP_CLAIM in out.desired


def test_a_usage_whose_claim_was_deleted_by_hand_protects_the_new_claim():
    observed, store = live()
    observed = with_usages(observed)
    del observed[CP_CLAIM]
    out = run(xr(), observed, [*STORE, *store])
    assert out.desired[CP_USAGE]["spec"]["of"]["resourceRef"]["name"] == out.desired[CP_CLAIM]["metadata"]["name"]
