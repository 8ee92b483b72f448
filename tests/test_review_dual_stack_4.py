"""Fourth review of the dual-stack VIP pairs (commit b2666b5, the decision as of c4041b7): each case fails on it.

It goes after the fixes of the first three reviews (tests/test_review_dual_stack.py, _2.py, _3.py): the XR's own
secondary checked against the pools before anything is decided on it (_check_written_secondary), and a manual
primary no longer releasing a live Cluster's control-plane secondary.
"""

import copy

import pytest

from tests.harness import World, observed_cluster, run, xr
from tests.test_review_dual_stack import WORLD, annotation, dual_live, variables
from tests.test_review_dual_stack_3 import CHECK, PAIR_STATUS

INGRESS_OFF = {"vip.capi.gorizond.io/ingress-enabled": "false"}


def settle(w, x, status, rounds=5):
    """Reconcile and let IPAM answer, carrying the XR's status between reconciles as Crossplane does."""
    outs = []
    for _ in range(rounds):
        y = copy.deepcopy(x)
        y["status"] = {"vip": dict(status)}
        out = w.reconcile(y)
        w.converge_ipam()
        outs.append(out)
        if not out.fatal:
            status = out.status
    return outs, status


# 1. _check_written_secondary runs _manual_problem on the secondary's own key, which skips only the OTHER claims:
#    the address the secondary's own claim holds is "in a pool", so the XR writing it (copied from the status, or
#    from the live Cluster before that Cluster was deleted by hand) is refused. A Cluster not composed yet is held
#    back for good: the fix it names (exclude the address) the provider refuses, the address being allocated.
#    Without checkPools (and on ee14caf, which checked after _secondary_off had made it the claim's) it is composed.
#    The primary's check exempts the own claim's address (_refused_manual_ingress).
@pytest.mark.parametrize(("variable", "value"), [("clusterVipSecondary", "fd00::10"), ("ingressVipSecondary", "fd01::10")])
def test_with_check_pools_the_own_claims_address_written_on_the_xr_does_not_hold_a_new_cluster_back(variable, value):
    observed, store = dual_live()
    del observed["cluster"]  # four bound claims, no Cluster (not composed yet, or deleted by hand)
    x = xr(variables=[{"name": variable, "value": value}])
    x["status"] = {"vip": dict(PAIR_STATUS)}
    out = run(x, observed, [*WORLD, *store], inp=CHECK)
    assert out.fatal is None
    # today: no Cluster, <Role>SecondaryVIPReady False ManualVIPInPool, and a Warning to exclude fd0x::10
    assert not [m for r, m in out.warnings if r == "ManualVIPInPool"]
    assert out.cluster is not None
    assert variables(out)[variable] == value


# 2. A refused (or, for the control plane, Conflict) written secondary is decided "as if the XR did not write it":
#    where the live Cluster carries the XR's own earlier secondary (status Source Manual), that is the branch "the
#    XR's own secondary VIP was removed", which claims a pool VIP and puts it in place once bound. The live
#    Cluster's fd09::9 is replaced by a pool address because of a value the function refused (the Conflict Warning
#    even says it "never changes for a live cluster").
@pytest.mark.parametrize(("variable", "value", "inp"), [
    ("ingressVipSecondary", "fd01::15", CHECK),
    ("clusterVipSecondary", "fd00::15", CHECK),
    ("clusterVipSecondary", "fd09::8", None),  # no checkPools: the control plane's Conflict
], ids=["ingress-refused", "cp-refused", "cp-conflict"])
def test_a_refused_written_secondary_never_replaces_the_live_clusters_own_secondary(variable, value, inp):
    w = World(inp=inp)
    w.add(*WORLD)
    outs, status = settle(w, xr(variables=[{"name": variable, "value": "fd09::9"}]), {})
    assert variables(outs[-1])[variable] == "fd09::9"
    outs, _ = settle(w, xr(variables=[{"name": variable, "value": value}]), status)
    assert [o.fatal for o in outs if o.fatal] == []
    # today: [fd09::9, pool, pool, ...] -- a secondary claim is composed on the first reconcile and its address
    # (fd01::10 / fd00::10) replaces fd09::9 on the live Cluster once bound
    assert [variables(o)[variable] for o in outs] == ["fd09::9"] * len(outs)
    if variable == "ingressVipSecondary":
        assert annotation(outs[-1]) == "10.0.1.10,fd09::9"


# 3. The Conflict guard for a live control-plane secondary still excludes a manual primary (primary.source != MANUAL),
#    a leftover of when a manual primary turned the secondary off. Since c4041b7 a manual primary keeps the live
#    secondary, but a written clusterVipSecondary that differs from it now replaces it (and releases the claim
#    reserving the live one), while the same XR without the manual endpoint gets the Conflict and keeps it.
def test_a_manual_endpoint_does_not_let_a_written_secondary_change_the_live_control_plane_secondary():
    observed, store = dual_live(usages=True)
    live_vars = {"clusterVip": "10.0.0.99", "ingressVip": "10.0.1.10", "clusterVipSecondary": "fd00::10",
                 "ingressVipSecondary": "fd01::10"}
    observed["cluster"] = observed_cluster(host="10.0.0.99", variables=live_vars, ingress="10.0.1.10,fd01::10")
    x = xr(cluster={"topology": {"class": "cc", "version": "v1.31.0",
                                 "variables": [{"name": "clusterVipSecondary", "value": "fd09::9"}]},
                    "controlPlaneEndpoint": {"host": "10.0.0.99"}})
    x["status"] = {"vip": {**PAIR_STATUS, "controlPlane": "10.0.0.99"}}
    out = run(x, observed, [*WORLD, *store])
    assert out.fatal is None
    # today: clusterVipSecondary fd09::9 on the live Cluster, "releasing ... vip-cp-c1-secondary (detaching its
    # Usage)", no Conflict
    assert variables(out)["clusterVipSecondary"] == "fd00::10"
    assert not [m for r, m in out.normals if r == "Released" and "control-plane-secondary" in m]
    assert [m for r, m in out.warnings if r == "Conflict" and "clusterVipSecondary" in m]


# 4. With ingress turned off the ingress secondary is never put anywhere (no annotation, the variable dropped), and
#    a manual ingress primary is not checked (_refused_manual_ingress returns None). Yet a written in-pool
#    ingressVipSecondary is checked before the off switch and holds a new Cluster back for good: the Cluster of
#    a role the XR turned off waits on a value it would not use even once "fixed".
def test_with_ingress_off_a_written_ingress_secondary_in_a_pool_does_not_hold_a_new_cluster_back():
    w = World(inp=CHECK)
    w.add(*WORLD)
    outs = w.settle(xr(annotations=INGRESS_OFF, variables=[{"name": "ingressVipSecondary", "value": "fd01::15"}]), rounds=5)
    assert [o.fatal for o in outs if o.fatal] == []
    # today: never composed; IngressSecondaryVIPReady False ManualVIPInPool on every reconcile
    assert outs[-1].cluster is not None
    assert variables(outs[-1])["clusterVipSecondary"] == "fd00::10"
