"""Release safety: an address a Cluster serves stays reserved by a claim (protected by its Usage), a claim is released
only on purpose, and no address is held by two clusters or held for nothing."""

import pytest

from tests.cases import (
    CP6,
    ING6,
    INGRESS_OFF,
    INGRESS_VIP,
    INPUT,
    PAIR_WORLD,
    SET,
    Case,
    Scenario,
    Settle,
    Want,
    expect,
    live_pair,
    observed_usage,
    play,
    run_case,
    usage,
    with_items,
    with_status,
    without,
)
from tests.fixtures import STORE, live
from tests.harness import CP_CLAIM, INGRESS_CLAIM, observed_claim, observed_cluster, pool, xr

LIVE, LIVE_STORE = live()
PAIR, PAIR_STORE = live_pair()
PAIR_USAGES, PAIR_USAGES_STORE = live_pair(usages=True)
OLD_CP6 = pool("cp6-old", free=9, total=11, addresses=("fd02::10-fd02::20",), prefix=64, gateway="fd02::1")
OLD_POOL_PAIR, OLD_POOL_PAIR_STORE = live_pair(cp6="fd02::10", usages=True, cp6_pool="cp6-old")
NO_INGRESS, NO_INGRESS_STORE = live(ingress=None)
SECONDARIES_FROM_POOLS = {"controlPlaneSecondary": "fd00::10", "controlPlaneSecondarySource": "Pool",
                          "ingressSecondary": "fd01::10", "ingressSecondarySource": "Pool"}


def _repeats_the_live_pool_vip(role, variable, value, claim, source):
    return pytest.param(Case(
        reason="The XR copies the live pool VIP into its secondary variable, then the claim is deleted by hand: the "
               "VIP stays recorded as the pool's, and the claim is made again (or a ClaimMissing warning says so).",
        finding="dual-stack review 2, #3",
        xr=with_status(xr(variables=[{"name": variable, "value": value}]), SECONDARIES_FROM_POOLS),
        observed=without(PAIR, claim), store=(*PAIR_WORLD, *PAIR_STORE),
        want=Want(fatal=None, status={source: "Pool"},
                  either=(Want(desired=(claim,)), Want(warned=("ClaimMissing",))))),
        id=f"a-written-{role}-secondary-repeating-the-live-pool-vip-keeps-it-reserved")


ONE_RECONCILE = [
    *(pytest.param(Case(
        reason="A live Cluster whose ingressVip was changed by hand still names the ingress claim's address in its "
               "annotation: turning ingress off (or a manual ingress VIP) keeps the claim until the Cluster as the API "
               "server has it no longer carries the address there either.",
        finding="adversarial review of the ingress reading (c6d720c), #1",
        xr=xr(annotations=annotations),
        observed=with_items(LIVE, cluster=observed_cluster(variables={"clusterVip": "10.0.0.10", "ingressVip": "192.168.9.9"},
                                                           ingress="10.0.1.10")),
        store=(*STORE, *LIVE_STORE),
        want=Want(desired=(INGRESS_CLAIM,), noted=(("Released", "once"),))),
        id=f"a-release-waits-for-the-annotation-when-ingressvip-was-changed-by-hand-{name}")
      for name, annotations in (("ingress-off", INGRESS_OFF), ("manual-ingress", {INGRESS_VIP: "192.168.7.7"}))),
    pytest.param(Case(
        reason="Observed secondary claims keep the pool they were made from (spec.poolRef is immutable), and their "
               "Usages stay in desired state (Crossplane would delete them).",
        finding="dual-stack review 1, #1",
        xr=xr(), observed=OLD_POOL_PAIR, store=(*PAIR_WORLD, OLD_CP6, *OLD_POOL_PAIR_STORE),
        want=Want(fatal=None, desired=("vip-usage-control-plane-secondary", "vip-usage-ingress-secondary"),
                  at={("desired", "vip-claim-control-plane-secondary", "spec", "poolRef", "name"): "cp6-old"},
                  not_warned=("ClaimMissing",))),
        id="observed-secondary-claims-keep-their-pool-and-usages"),
    pytest.param(Case(
        reason="A lone secondary Usage where the class does not want the pair is released, not Fatal.",
        finding="dual-stack review 1, #3",
        xr=xr(), observed=with_items(LIVE, **{"vip-usage-control-plane-secondary": usage("vip-cp-c1-secondary", attached=False)}),
        store=(*STORE, CP6, ING6, *LIVE_STORE),
        want=Want(fatal=None)),
        id="a-lone-secondary-usage-is-released-not-fatal"),
    _repeats_the_live_pool_vip("cp", "clusterVipSecondary", "fd00::10", "vip-claim-control-plane-secondary",
                               "controlPlaneSecondarySource"),
    _repeats_the_live_pool_vip("ingress", "ingressVipSecondary", "fd01::10", "vip-claim-ingress-secondary",
                               "ingressSecondarySource"),
    pytest.param(Case(
        reason="A manual ingress VIP does not release a secondary claim whose address is not read yet (it may be the "
               "manual VIP itself): the claim is not released and its Usage stays attached.",
        finding="dual-stack review 5, #2",
        xr=with_status(xr(annotations={INGRESS_VIP: "fd01::10"}),
                       {"ingressSecondary": "fd01::10", "ingressSecondarySource": "Pool"}),
        observed=PAIR_USAGES, store=(*PAIR_WORLD, *PAIR_USAGES_STORE), drop=frozenset({"address/ingress-secondary"}),
        want=Want(fatal=None, not_noted=(("Released", "ingress-secondary"),),
                  at={("desired", "vip-usage-ingress-secondary", "spec", "by"): SET})),
        id="a-manual-ingress-vip-releases-no-secondary-claim-whose-address-is-unread"),
    pytest.param(Case(
        reason="A live pool endpoint whose claim is gone is claimed again, with a ClaimMissing warning.",
        finding="review findings: where a VIP came from",
        xr=with_status(xr(annotations=INGRESS_OFF), {"controlPlaneSource": "Pool"}),
        observed={"cluster": observed_cluster(host="10.0.0.10")}, store=STORE,
        want=Want(desired=(CP_CLAIM,), warned=("ClaimMissing",))),
        id="a-live-pool-endpoint-whose-claim-is-gone-is-claimed-again"),
]


@pytest.mark.parametrize("case", ONE_RECONCILE)
def test_what_one_reconcile_keeps_reserved(case):
    expect(run_case(case), case.want)


USAGES = [
    pytest.param(Case(
        reason="No Usage protects a claim that holds no address yet.",
        finding="review findings, second review",
        xr=xr(),
        observed=with_items(NO_INGRESS, **{INGRESS_CLAIM: observed_claim("vip-ingress-c1", pool_name="ing-pool",
                                                                         role="ingress", bound=False)}),
        store=(*STORE, *NO_INGRESS_STORE),
        want=Want(desired=("vip-usage-control-plane",), not_desired=("vip-usage-ingress",))),
        id="no-usage-for-a-claim-without-an-address"),
    pytest.param(Case(
        reason="Input usage: None keeps an existing Usage but makes no new one.",
        finding="review findings, second review",
        xr=xr(), observed=with_items(LIVE, **{"vip-usage-control-plane": observed_usage()}), store=(*STORE, *LIVE_STORE),
        inp={**INPUT, "usage": "None"},
        want=Want(desired=("vip-usage-control-plane",), not_desired=("vip-usage-ingress",))),
        id="usage-none-keeps-an-existing-usage-and-makes-no-new-one"),
]


@pytest.mark.parametrize("case", USAGES)
def test_which_claims_a_usage_protects(case):
    expect(run_case(case), case.want)


SECONDARY = "vip-ingress-c1-secondary"
RESERVATIONS = [
    pytest.param(Scenario(
        reason="A manual ingress VIP that is the address the secondary claim holds stays claimed (or is warned "
               "about), so the next XR's ingress secondary never gets it.",
        finding="dual-stack review 5, #2",
        objects=PAIR_WORLD,
        steps=(Settle(xr(), 5),
               Settle(xr(annotations={INGRESS_VIP: "fd01::10"}), 6,
                      then=Want(annotation="fd01::10", either=(Want(held={SECONDARY: "fd01::10"}),
                                                               Want(ever_warned=((None, "fd01::10"),))))),
               Settle(xr("c2"), 5, status="as-written", then=Want(not_held={"vip-ingress-c2-secondary": "fd01::10"})))),
        id="a-manual-ingress-vip-on-the-secondary-claims-address-stays-claimed"),
    pytest.param(Scenario(
        reason="A secondary claim whose release began (Usage detached) and which is then kept, the manual ingress VIP "
               "changed on to its address, gets its Usage attached again.",
        finding="dual-stack review 6, #3",
        objects=PAIR_WORLD,
        steps=(Settle(xr(), 5),
               # The first reconcile composes the Cluster without fd01::10; the second, seeing it applied, detaches.
               Settle(xr(annotations={INGRESS_VIP: "10.0.1.50"}), 2, then=Want(usage_attached={SECONDARY: False})),
               Settle(xr(annotations={INGRESS_VIP: "fd01::10"}), 6,
                      then=Want(annotation="fd01::10", held={SECONDARY: "fd01::10"}, usage_attached={SECONDARY: True})))),
        id="a-kept-secondary-claim-gets-its-usage-attached-again"),
    pytest.param(Scenario(
        reason="Swapping a live ingress pair on the XR (manual fd01::10, written secondary 10.0.1.10) keeps both "
               "addresses reserved (or warns), so the next XR's ingress claim never gets 10.0.1.10.",
        finding="dual-stack review 8, #1",
        objects=PAIR_WORLD,
        steps=(Settle(xr(), 5),
               Settle(xr(annotations={INGRESS_VIP: "fd01::10"},
                         variables=[{"name": "ingressVipSecondary", "value": "10.0.1.10"}]), 6,
                      then=Want(annotation="fd01::10,10.0.1.10", either=(Want(held={"vip-ingress-c1": "10.0.1.10"}),
                                                                         Want(ever_warned=((None, "10.0.1.10"),))))),
               Settle(xr("c2"), 5, status="as-written", then=Want(not_held={"vip-ingress-c2": "10.0.1.10"})))),
        id="a-swapped-ingress-pair-keeps-both-addresses-reserved"),
]


@pytest.mark.parametrize("scenario", RESERVATIONS)
def test_no_address_is_held_for_nothing_or_twice(scenario):
    play(scenario)


# A release whose Cluster apply CAPI refuses: the claim waits until the live Cluster no longer carries its address.
ALPHA_LB_CLASS = ("clusterVip", "ingressVip", "serviceLbVips")
REFUSED_APPLY = [
    pytest.param({"vip.capi.gorizond.io/ingress-enabled": "false"}, "vip-ingress-r1", "10.0.1.10",
                 id="ingress-turned-off"),
    pytest.param({"vip.capi.gorizond.io/service-lb-count": "1"}, "vip-lb-r1-1", "10.0.2.11",
                 id="service-lb-count-lowered"),
]


@pytest.mark.parametrize(("edit", "claim_name", "address"), REFUSED_APPLY)
def test_a_release_waits_while_the_live_cluster_still_carries_the_address(edit, claim_name, address):
    """finding: adversarial review of the split decision, #2. Crossplane deletes what a response leaves out before
    it applies the Cluster; CAPI refuses a version change while the control plane provisions. Released on the
    strength of the desired Cluster alone, the claim's address went back to the pool while the live Cluster still
    carried it, and the next XR's Cluster got it too."""
    from tests.harness import cluster_class, xr as make_xr
    from tests.sim import Sim, cluster_vips

    sim = Sim(seed=0)
    sim.add(cluster_class("alpha", "team-a", variables=ALPHA_LB_CLASS),
            pool("alpha-cp", "alpha", addresses=("10.0.0.10-10.0.0.20",), gateway="10.0.0.1"),
            pool("alpha-ingress", "alpha", "ingress", addresses=("10.0.1.10-10.0.1.10",), gateway="10.0.1.1"),
            pool("alpha-lb", "alpha", "service-lb", addresses=("10.0.2.10-10.0.2.11",), gateway="10.0.2.1"))
    count = {"vip.capi.gorizond.io/service-lb-count": "2"}
    sim.crossplane.create_xr(make_xr("r1", cls="alpha", annotations=count))
    sim.run_for(15)
    key = ("platform.example.org", "WorkloadCluster", "team-a", "r1")
    assert address in cluster_vips(sim.find("Cluster", "r1", "team-a"))
    obj = sim.api.get(key)
    obj["spec"]["cluster"]["topology"]["version"] = "v1.32.0"  # refused until the control plane is Ready
    obj["metadata"]["annotations"] = {**count, **edit}
    sim.crossplane.event(key, "applied", obj)
    sim.run_for(10)
    assert any("control plane is currently provisioning" in e for e in sim.crossplane.errors)
    assert address in cluster_vips(sim.find("Cluster", "r1", "team-a"))
    assert sim.find("IPAddressClaim", claim_name, "team-a") is not None  # still reserved
    sim.crossplane.create_xr(make_xr("r2", cls="alpha", annotations={"vip.capi.gorizond.io/service-lb-count": "1"}))
    sim.run_for(200)  # the control plane becomes Ready, CAPI takes the apply, the release finishes
    assert address not in cluster_vips(sim.find("Cluster", "r1", "team-a"))
    assert sim.find("IPAddressClaim", claim_name, "team-a") is None
    assert sim.violations == []
