"""A live Cluster keeps its VIPs: a claim that goes, a class that changes, or a value the function refuses never takes
a VIP off a Cluster that serves it (nor changes how it is written)."""

import pytest

from tests.cases import (
    CHECK,
    CP6,
    CP_POOL,
    ING6,
    ING_POOL,
    INGRESS_OFF,
    INGRESS_VIP,
    NO_INGRESS_SECONDARY,
    PAIR_STATUS,
    PAIR_VARIABLES,
    PAIR_WORLD,
    Case,
    Chain,
    Scenario,
    Settle,
    Want,
    claim_deleting,
    claim_gone,
    deleting,
    expect,
    live_pair,
    manual_endpoint,
    play,
    run_case,
    run_chain,
    with_items,
    with_status,
    without,
)
from tests.fixtures import STORE, live
from tests.harness import CP_CLAIM, INGRESS_CLAIM, cluster_class, observed_cluster, xr

LIVE, LIVE_STORE = live()
LIVE_V6_INGRESS, LIVE_V6_INGRESS_STORE = live(ingress="fd01::10")
PAIR, PAIR_STORE = live_pair()
UPPER_CASE, UPPER_CASE_STORE = live_pair(cp6="FD00:0::10")  # the live secondary not in canonical form
CLASS_WITHOUT_INGRESS_SECONDARY = (NO_INGRESS_SECONDARY, CP_POOL, ING_POOL, CP6, ING6)
# A live dual-stack Cluster whose endpoint 10.0.0.99 is not its claim's 10.0.0.10 (changed by hand, or written earlier).
ENDPOINT_99, ENDPOINT_99_STORE = live_pair(usages=True)
ENDPOINT_99 = with_items(ENDPOINT_99, cluster=observed_cluster(host="10.0.0.99", variables={**PAIR_VARIABLES, "clusterVip": "10.0.0.99"},
                                                               ingress="10.0.1.10,fd01::10"))
ENDPOINT_99_STATUS = {**PAIR_STATUS, "controlPlane": "10.0.0.99"}
CP_SECONDARY_RELEASED = ("Released", "control-plane-secondary")

ONE_RECONCILE = [
    pytest.param(Case(
        reason="A live Cluster's ingress annotation changed by hand: the live ingress VIP is the ingressVip variable the "
               "workload cluster is rendered from, which stays; the annotation is written back to it, the claim stays.",
        finding="adversarial review of the whole decision, #2 (the variable followed the annotation)",
        xr=xr(), observed=with_items(LIVE, cluster=observed_cluster(variables={"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10"},
                                                                     ingress="192.168.9.9")),
        store=(*STORE, *LIVE_STORE),
        want=Want(variables={"ingressVip": "10.0.1.10"}, annotations={INGRESS_VIP: "10.0.1.10"}, desired=(INGRESS_CLAIM,),
                  not_noted=("Released",), warning_reasons=[])),
        id="a-hand-edited-ingress-annotation-leaves-the-live-variable-as-it-is"),
    pytest.param(Case(
        reason="A live Cluster's ingressVip variable changed by hand: it stays (a VIP the workload cluster is rendered "
               "from never changes), the annotation follows it, the claim stays, and AddressMismatch says what to do.",
        finding="adversarial review of the whole decision, #2 (the other place)",
        xr=xr(), observed=with_items(LIVE, cluster=observed_cluster(variables={"clusterVip": "10.0.0.10", "ingressVip": "192.168.9.9"},
                                                                     ingress="10.0.1.10")),
        store=(*STORE, *LIVE_STORE),
        want=Want(variables={"ingressVip": "192.168.9.9"}, annotations={INGRESS_VIP: "192.168.9.9"}, desired=(INGRESS_CLAIM,),
                  warned=(("AddressMismatch", "uses ingress VIP 192.168.9.9, but IPAddressClaim team-a/vip-ingress-c1 is bound to 10.0.1.10"),))),
        id="a-hand-edited-ingress-variable-stays-as-it-is"),
    pytest.param(Case(
        reason="A live ingress VIP whose claim is gone stays while the ClusterClass cannot be read, and nothing is "
               "released.",
        finding="review findings: where a VIP came from",
        xr=xr(), observed=without(LIVE, INGRESS_CLAIM), store=(CP_POOL, ING_POOL, *LIVE_STORE),
        want=Want(annotations={INGRESS_VIP: "10.0.1.10"}, not_noted=("Released",))),
        id="a-live-ingress-vip-without-its-claim-stays-while-the-class-is-unread"),
    pytest.param(Case(
        reason="A live ingress VIP whose claim is gone stays when the class lost the variable, and the warning says "
               "the Cluster keeps its annotation.",
        finding="review findings: where a VIP came from",
        xr=xr(), observed=without(LIVE, INGRESS_CLAIM),
        store=(cluster_class(variables=("clusterVip",)), CP_POOL, ING_POOL, *LIVE_STORE),
        want=Want(annotations={INGRESS_VIP: "10.0.1.10"},
                  warned=(("ClusterClassMissingVariable", "the Cluster keeps its annotation"),))),
        id="a-live-ingress-vip-without-its-claim-stays-when-the-class-lost-the-variable"),
    pytest.param(Case(
        reason="A manual endpoint removed from the XR stays on the live Cluster (Manual, a Conflict saying to set it "
               "again) and claims nothing.",
        finding="review findings: where a VIP came from",
        xr=with_status(xr(annotations=INGRESS_OFF), {"controlPlane": "192.168.5.5", "controlPlaneSource": "Manual"}),
        observed={"cluster": observed_cluster(host="192.168.5.5")}, store=STORE,
        want=Want(not_desired=(CP_CLAIM,), host="192.168.5.5",
                  condition_status={"ControlPlaneVIPReady": True}, reasons={"ControlPlaneVIPReady": "Manual"},
                  warned=(("Conflict", "Set spec.cluster.controlPlaneEndpoint.host=192.168.5.5 again"),))),
        id="a-removed-manual-endpoint-stays-and-claims-nothing"),
    pytest.param(Case(
        reason="A claim being deleted under a live Cluster: the Cluster keeps the VIP, the claim is not composed, and "
               "a ClaimMissing warning says it is being deleted.",
        finding="review findings, second review",
        xr=xr(), observed=deleting(LIVE, INGRESS_CLAIM), store=(*STORE, *LIVE_STORE),
        want=Want(not_desired=(INGRESS_CLAIM,), annotations={INGRESS_VIP: "10.0.1.10"},
                  warned=(("ClaimMissing", "is being deleted"),))),
        id="a-claim-being-deleted-under-a-live-cluster-keeps-the-vip-and-warns"),
    *(pytest.param(Case(
        reason="The class lost ingressVipSecondary and the secondary claim goes (being deleted, or deleted by hand): "
               "the live ingress pair stays.",
        finding="dual-stack review 1, #4",
        xr=xr(), observed=observed, store=(*CLASS_WITHOUT_INGRESS_SECONDARY, *PAIR_STORE),
        want=Want(annotation="10.0.1.10,fd01::10")),
        id=f"the-live-ingress-pair-stays-when-the-class-lost-the-variable-and-the-claim-is-{name}")
      for name, observed in (("deleting", deleting(PAIR, "vip-claim-ingress-secondary")),
                             ("gone", without(PAIR, "vip-claim-ingress-secondary")))),
    pytest.param(Case(
        reason="A live clusterVipSecondary is kept as written (not rewritten in canonical form), as clusterVip is.",
        finding="dual-stack review 1, #4",
        xr=xr(), observed=UPPER_CASE, store=(*PAIR_WORLD, *UPPER_CASE_STORE),
        want=Want(variables={"clusterVipSecondary": "FD00:0::10"})),
        id="a-live-cluster-vip-secondary-is-kept-as-written"),
    pytest.param(Case(
        reason="A live endpoint that is not its claim's address is an AddressMismatch (the premise of the next row).",
        finding="dual-stack review 3, #4",
        xr=with_status(xr(), ENDPOINT_99_STATUS), observed=ENDPOINT_99, store=(*PAIR_WORLD, *ENDPOINT_99_STORE),
        want=Want(warning_reasons=("AddressMismatch",))),
        id="a-live-endpoint-that-is-not-its-claims-address-is-an-address-mismatch"),
    pytest.param(Case(
        reason="Making the live endpoint the XR's own (docs/production.md's AddressMismatch fix) keeps the live control-plane "
               "secondary, and its claim is not released.",
        finding="dual-stack review 3, #4",
        xr=with_status(manual_endpoint("10.0.0.99", annotations=None), ENDPOINT_99_STATUS), observed=ENDPOINT_99,
        store=(*PAIR_WORLD, *ENDPOINT_99_STORE),
        want=Want(fatal=None, variables={"clusterVipSecondary": "fd00::10"}, not_noted=(CP_SECONDARY_RELEASED,))),
        id="making-the-live-endpoint-the-xrs-own-keeps-the-live-cp-secondary"),
    pytest.param(Case(
        reason="A manual endpoint does not let a written clusterVipSecondary change the live control-plane secondary: "
               "a Conflict, and the claim reserving the live one is not released.",
        finding="dual-stack review 4, #3",
        xr=with_status(manual_endpoint("10.0.0.99", annotations=None,
                                       variables=[{"name": "clusterVipSecondary", "value": "fd09::9"}]),
                       ENDPOINT_99_STATUS),
        observed=ENDPOINT_99, store=(*PAIR_WORLD, *ENDPOINT_99_STORE),
        want=Want(fatal=None, variables={"clusterVipSecondary": "fd00::10"}, not_noted=(CP_SECONDARY_RELEASED,),
                  warned=(("Conflict", "clusterVipSecondary"),))),
        id="a-manual-endpoint-does-not-let-a-written-secondary-change-the-live-cp-secondary"),
    pytest.param(Case(
        reason="A live ingressVip written in other text than the claim's address (FD01::10 for fd01::10) stays as "
               "written: a rewritten variable has CAPI render anew every template that reads it.",
        finding="adversarial review of 589e9b4, #5 (c6d720c wrote the claim's canonical text)",
        xr=xr(), observed=with_items(LIVE_V6_INGRESS, cluster=observed_cluster(
            variables={"clusterVip": "10.0.0.10", "ingressVip": "FD01::10"}, ingress="FD01::10")),
        store=(*STORE, ING6, *LIVE_V6_INGRESS_STORE),
        want=Want(variables={"ingressVip": "FD01::10"}, desired=(INGRESS_CLAIM,), not_noted=("Released",), warning_reasons=[])),
        id="a-live-ingress-vip-stays-as-written"),
]


@pytest.mark.parametrize("case", ONE_RECONCILE)
def test_a_live_vip_stays(case):
    expect(run_case(case), case.want)


PAIR_KEPT = Want(annotation="10.0.1.10,fd01::10")
CHAINS = [
    pytest.param(Chain(
        reason="The class lost ingressVipSecondary: the live ingress pair stays on the reconcile after (the Cluster "
               "composed without the variable), while the secondary claim is being deleted and once it is gone.",
        finding="dual-stack review 2, #1",
        xr=xr(), observed=PAIR, store=(*CLASS_WITHOUT_INGRESS_SECONDARY, *PAIR_STORE),
        steps=((None, PAIR_KEPT),
               (claim_deleting("vip-claim-ingress-secondary"), PAIR_KEPT),
               (claim_gone("vip-claim-ingress-secondary"), PAIR_KEPT))),
        id="while-the-claim-is-deleted-then-gone"),
    pytest.param(Chain(
        reason="The class lost ingressVipSecondary: the live ingress pair stays on the reconcile after, once the "
               "secondary claim is deleted by hand.",
        finding="dual-stack review 2, #1",
        xr=xr(), observed=PAIR, store=(*CLASS_WITHOUT_INGRESS_SECONDARY, *PAIR_STORE),
        steps=((None, PAIR_KEPT), (claim_gone("vip-claim-ingress-secondary"), PAIR_KEPT))),
        id="once-the-claim-is-gone"),
]


@pytest.mark.parametrize("chain", CHAINS)
def test_the_live_ingress_pair_stays_after_the_class_lost_the_variable(chain):
    run_chain(chain)


def _own_secondary_then_refused(name, variable, value, inp):
    then = Want(every_variables={variable: "fd09::9"},
                **({"annotation": "10.0.1.10,fd09::9"} if variable == "ingressVipSecondary" else {}))
    return pytest.param(Scenario(
        reason="A refused written secondary (in a pool with checkPools, or the control plane's Conflict) never "
               "replaces the live Cluster's own earlier secondary with a pool VIP.",
        finding="dual-stack review 4, #2",
        objects=PAIR_WORLD, inp=inp,
        steps=(Settle(xr(variables=[{"name": variable, "value": "fd09::9"}]), 5,
                      then=Want(variables={variable: "fd09::9"})),
               Settle(xr(variables=[{"name": variable, "value": value}]), 5, then=then))),
        id=name)


SECONDARIES = [
    _own_secondary_then_refused("an-in-pool-ingress-secondary", "ingressVipSecondary", "fd01::15", CHECK),
    _own_secondary_then_refused("an-in-pool-cp-secondary", "clusterVipSecondary", "fd00::15", CHECK),
    _own_secondary_then_refused("a-conflicting-cp-secondary", "clusterVipSecondary", "fd09::8", None),
]


@pytest.mark.parametrize("scenario", SECONDARIES)
def test_a_refused_written_secondary_never_replaces_the_live_clusters_own(scenario):
    play(scenario)
