"""A claim is released only when nothing of its XR names its address (function/ledger.py).

Releasing a claim lets IPAM give its address to another cluster. So a claim stays, with a Conflict
warning that names it and what names its address, while a value the XR sets itself names that
address (applied now or not: ingress turned off, a pair turned off, an endpoint refused for a live
Cluster, since the value is applied again once the XR's settings allow it), or while the live Cluster
carries it in a place other than the one the claim serves. Nothing else changes: the release goes
ahead once that value or place no longer names the address.
"""

import pytest

from tests.fixtures import STORE, applied_without, live
from tests.harness import World, cluster_class, run, xr
from tests.test_dual_stack import CP2, ING2, WORLD, live_pair
from tests.test_service_lb import COUNT, LB_POOL, lb_claims, with_lb
from tests.test_user_edits import _capi

A = "vip.capi.gorizond.io/"
OFF = {A + "ingress-enabled": "false"}
NO_PAIR = {A + "dual-stack": "false"}
INGRESS_VIP = A + "ingress-vip"
LB_WORLD = [cluster_class(variables=("clusterVip", "ingressVip", "serviceLbVips")), *STORE[1:], LB_POOL]


def _topology(*variables, host=None):
    spec = {"topology": {"class": "cc", "version": "v1.31.0", "variables": [{"name": n, "value": v} for n, v in variables]}}
    if host:
        spec["controlPlaneEndpoint"] = {"host": host}
    return spec


def _pair():
    observed, store = live_pair()
    return observed, [*WORLD, *store]


def _single():
    observed, store = live()
    return observed, [*STORE, *store]


def _with_lb(n, listed):
    observed, store = with_lb(*live(), lb_claims(n))
    if listed:
        observed["cluster"]["spec"]["topology"]["variables"].append({"name": "serviceLbVips", "value": listed})
    return observed, [*LB_WORLD, *store]


ROWS = [
    pytest.param("ingress off while the XR's ingress VIP is its own secondary claim's address (going IPv6-only)",
                 _pair, {**OFF, INGRESS_VIP: "fd00:11::10"}, None, ING2, "vip-claim-ingress",
                 "simulator seed 131: fd00:0:1::3 on two Clusters", id="ingress-off-annotation-names-the-secondary"),
    pytest.param("ingress off while the XR's ingress VIP repeats its own pool claim's address",
                 _single, {**OFF, INGRESS_VIP: "10.0.1.10"}, None, "vip-claim-ingress", None,
                 "the same, for the primary", id="ingress-off-annotation-names-the-primary"),
    pytest.param("the pair off while the XR's endpoint host, refused for a live Cluster, is the secondary's address",
                 _pair, NO_PAIR, _topology(host="fd00:10::10"), CP2, None,
                 "the same, for the control-plane secondary", id="pair-off-refused-host-names-the-secondary"),
    pytest.param("ingress off while the XR writes ingressVipSecondary = its primary ingress claim's address",
                 _pair, OFF, _topology(("ingressVipSecondary", "10.0.1.10")), "vip-claim-ingress", None,
                 "adversarial review of the ledger's first fix, F1", id="ingress-off-written-secondary-names-the-primary"),
    pytest.param("the pair off while the XR's ingress VIP is the control-plane secondary claim's address",
                 _pair, {**NO_PAIR, INGRESS_VIP: "fd00:10::10"}, None, CP2, None,
                 "same review, F3-B", id="pair-off-ingress-annotation-names-the-cp-secondary"),
    pytest.param("the service-lb count lowered while the XR's ingress VIP is the address of the claim it would release",
                 lambda: _with_lb(2, ["10.0.2.10", "10.0.2.11"]), {COUNT: "1", INGRESS_VIP: "10.0.2.11"}, None,
                 "vip-claim-service-lb-1", None, "same review, F3-C", id="count-lowered-annotation-names-a-service-lb-address"),
    pytest.param("ingress off while the XR writes ingressVipSecondary = its own secondary claim's address: kept, "
                 "and said so, since the Cluster carries no ingress pair meanwhile",
                 _pair, OFF, _topology(("ingressVipSecondary", "fd00:11::10")), ING2, "vip-claim-ingress",
                 "simulator seed 617, after the review's F2 fix", id="ingress-off-written-secondary-is-its-own"),
    pytest.param("ingress off while the XR's own serviceLbVips list names the ingress claim's address",
                 lambda: _with_lb(1, None), OFF, _topology(("serviceLbVips", ["10.0.2.10", "10.0.1.10"])),
                 "vip-claim-ingress", None, "same review, F3-D", id="ingress-off-written-list-names-the-ingress"),
]


@pytest.mark.parametrize(("reason", "world", "annotations", "cluster", "kept", "released", "finding"), ROWS)
def test_a_claim_stays_while_something_else_of_its_xr_names_its_address(reason, world, annotations, cluster, kept,
                                                                         released, finding):
    observed, fetched = world()
    out = run(xr(annotations=annotations, cluster=cluster), observed, fetched)
    assert out.fatal is None, reason
    assert kept in out.desired, reason
    claim = out.desired[kept]["metadata"]["name"]
    assert any(r == "Conflict" and claim in m for r, m in out.warnings), (reason, out.warnings)
    if released:  # released, or on its way: waiting for the API server's Cluster to stop carrying its address
        claim = (out.desired.get(released) or {}).get("metadata", {}).get("name")
        assert released not in out.desired or any(
            r == "Released" and claim in m and "no longer carries" in m for r, m in out.normals), reason


def test_the_release_goes_ahead_once_nothing_names_the_address():
    observed, fetched = _single()
    out = run(xr(annotations={**OFF, INGRESS_VIP: "10.0.1.10"}), observed, fetched)
    assert "vip-claim-ingress" in out.desired
    out = run(xr(annotations=OFF), applied_without(observed, "10.0.1.10"), fetched)
    assert "vip-claim-ingress" not in out.desired


def _reconcile(w, x):
    out = w.reconcile(x)
    assert out.fatal is None, out.fatal
    x.setdefault("status", {})["vip"] = out.status
    w.converge_ipam()
    _capi(w, x["metadata"]["name"])
    return out


@pytest.mark.parametrize("usage", ["Auto", "None"])
def test_a_pair_turned_off_while_the_xr_writes_its_live_secondary_keeps_it_on_the_cluster_and_claimed(usage):
    """The XR copies its pool secondary onto itself and turns the pair off: the value is its own now, so the
    Cluster keeps it and the claim keeps its address, reconcile after reconcile (it flapped, and with Usages
    off the address went to the next cluster: adversarial review of the ledger's first fix, F2)."""
    w = World()
    w.add(*WORLD)
    w.inp = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "usage": usage}
    x = xr("c1")
    for _ in range(6):
        _reconcile(w, x)
    secondary = next(v["value"] for v in w.get("Cluster", "c1", "team-a")["spec"]["topology"]["variables"]
                     if v["name"] == "clusterVipSecondary")
    x["spec"]["cluster"]["topology"]["variables"] = [{"name": "clusterVipSecondary", "value": secondary}]
    x["metadata"]["annotations"] = NO_PAIR
    for _ in range(4):
        _reconcile(w, x)
        carried = {v["name"]: v["value"] for v in w.get("Cluster", "c1", "team-a")["spec"]["topology"]["variables"]}
        assert carried.get("clusterVipSecondary") == secondary
        assert w.get("IPAddressClaim", "vip-cp-c1-secondary", "team-a") is not None
    other = xr("c2")
    for _ in range(6):
        _reconcile(w, other)
    carried = {v["name"]: v["value"] for v in w.get("Cluster", "c2", "team-a")["spec"]["topology"]["variables"]}
    assert secondary not in carried.values()


@pytest.mark.parametrize(("reason", "variables", "kept", "released", "carried"), [
    pytest.param("a variable the XR writes twice is read as the function applies it, the first entry: the pair off "
                 "while the first clusterVipSecondary names the ingress secondary's address keeps that claim",
                 (("clusterVipSecondary", "fd00:11::10"), ("clusterVipSecondary", "fd00:10::10")),
                 ING2, None, ("clusterVipSecondary", "fd00:11::10"), id="written-secondary-twice"),
    pytest.param("the same for the service-lb list: ingress off while the first serviceLbVips names the ingress address",
                 (("serviceLbVips", ["10.0.2.10", "10.0.1.10"]), ("serviceLbVips", ["10.0.2.10"])),
                 "vip-claim-ingress", None, ("serviceLbVips", ["10.0.2.10", "10.0.1.10"]), id="written-list-twice"),
])
def test_a_variable_written_twice_names_what_the_cluster_gets(reason, variables, kept, released, carried):
    """Adversarial review of the ledger, F1: the ledger read the last entry, the Cluster got the first."""
    if kept == ING2:
        observed, fetched = _pair()
        annotations = NO_PAIR
    else:
        observed, fetched = _with_lb(1, None)
        annotations = OFF
    out = run(xr(annotations=annotations, cluster=_topology(*variables)), observed, fetched)
    assert out.fatal is None, reason
    values = {v["name"]: v["value"] for v in out.cluster["spec"]["topology"]["variables"]}
    assert values.get(carried[0]) == carried[1], reason
    assert kept in out.desired, reason


@pytest.mark.parametrize(("reason", "world", "annotations", "released", "address_name"), [
    pytest.param("ingress off while the claim's IPAddress is gone for good (read, not found): released, not held "
                 "forever in silence (adversarial review of the ledger, F2)",
                 _single, OFF, "vip-claim-ingress", "vip-ingress-c1", id="ingress-off"),
    pytest.param("the same for a secondary turned off", _pair, NO_PAIR, CP2, "vip-cp-c1-secondary", id="pair-off"),
])
def test_a_claim_whose_ipaddress_is_gone_is_released_as_before(reason, world, annotations, released, address_name):
    observed, fetched = world()
    fetched = [o for o in fetched if not (o["kind"] == "IPAddress" and o["metadata"]["name"] == address_name)]
    out = run(xr(annotations=annotations), observed, fetched)
    assert released not in out.desired, reason
