"""Rules spanning a dual-stack pair: where a pair is wanted, how it settles, the secondary the XR writes itself, a
manual primary beside the pair's claims, and the family a claim made again draws from."""

import pytest

from tests.cases import (
    ABSENT,
    ANY_WARNING,
    CP6,
    CP_POOL,
    DNS,
    DUAL_OFF,
    ING6,
    ING_POOL,
    INGRESS_OFF,
    INGRESS_VIP,
    PAIR_STATUS,
    PAIR_WORLD,
    POOL_STATUS,
    PRESENT,
    V6_PRIMARY,
    Case,
    Check,
    DeleteByHand,
    ReconcileOnce,
    Scenario,
    Settle,
    SwitchInput,
    Want,
    annotation,
    deleting,
    expect,
    live_pair,
    manual_endpoint,
    play,
    run_case,
    with_items,
    with_status,
)
from tests.fixtures import STORE, live
from tests.harness import cluster_class, ip_address, observed_claim, observed_cluster, xr

LIVE, LIVE_STORE = live()
PAIR, PAIR_STORE = live_pair()
PAIR_USAGES, PAIR_USAGES_STORE = live_pair(usages=True)
# The ingress annotation written IPv6 first where the class defines no pair.
TWO_ADDRESSES = with_items(LIVE, cluster=observed_cluster(variables={"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10"},
                                                          ingress="fd01::10,10.0.1.10"))


ONE_RECONCILE = [
    pytest.param(Case(
        reason="Where the class defines no secondary variable, a two-address ingress annotation is no pair: the "
               "claim's VIP is put back, as before pairs existed, and nothing is warned.",
        finding="dual-stack review 1, #2",
        xr=xr(), observed=TWO_ADDRESSES, store=(*STORE, *LIVE_STORE),
        want=Want(variables={"ingressVip": "10.0.1.10"}, annotation="10.0.1.10", warning_reasons=())),
        id="no-pair-reads-a-two-address-annotation-as-before"),
    pytest.param(Case(
        reason="A stale ingressSecondary in the XR's status (Crossplane before crossplane/crossplane#5334 keeps a "
               "status field no longer returned) does not make a cluster without a pair read its annotation as one.",
        finding="dual-stack review 3, #3",
        xr=with_status(xr(), {**POOL_STATUS, "ingressSecondary": "fd09::9", "ingressSecondarySource": "Pool"}),
        observed=TWO_ADDRESSES, store=(*STORE, *LIVE_STORE),
        want=Want(fatal=None, variables={"ingressVip": "10.0.1.10"}, annotation="10.0.1.10", warning_reasons=(),
                  status={"ingressSecondary": ABSENT})),
        id="a-stale-secondary-in-the-status-makes-no-pair"),
    pytest.param(Case(
        reason="An empty clusterVipSecondary on the XR (the class default) is unset, not a manual VIP: no Fatal.",
        finding="dual-stack review 1, #6",
        xr=xr(variables=[{"name": "clusterVipSecondary", "value": ""}]), observed=PAIR, store=(*PAIR_WORLD, *PAIR_STORE),
        want=Want(fatal=None)),
        id="an-empty-secondary-variable-is-unset"),
    *(pytest.param(Case(
        reason="The XR's own off switch releases the ingress secondary even while the ClusterClass is not found, as "
               "the same annotation releases the primary claim.",
        finding="dual-stack review 2, #2",
        xr=xr(annotations=switch), observed=PAIR_USAGES, store=(CP_POOL, ING_POOL, CP6, ING6, *PAIR_USAGES_STORE),
        want=Want(fatal=None, reasons={"IngressSecondaryVIPReady": "Disabled"},
                  noted=(("Released", "ingress-secondary"),))),
        id=f"the-{name}-switch-releases-the-secondary-while-the-class-is-unread")
      for name, switch in (("ingress-off", INGRESS_OFF), ("dual-stack-off", DUAL_OFF))),
    pytest.param(Case(
        reason="A class that lost clusterVipSecondary, its claim deleted before the Cluster got it: the warning names "
               "no secondary VIP 'None'.",
        finding="dual-stack review 2, #7",
        xr=xr(),
        observed=deleting(with_items(PAIR, cluster=observed_cluster(
            variables={"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10", "ingressVipSecondary": "fd01::10"},
            ingress="10.0.1.10,fd01::10")), "vip-claim-control-plane-secondary"),
        store=(cluster_class(variables=("clusterVip", "ingressVip", "ingressVipSecondary")), CP_POOL, ING_POOL, CP6, ING6,
               *PAIR_STORE),
        want=Want(fatal=None, not_warned=((None, "None"),))),
        id="a-missing-variable-warning-names-no-vip-none"),
    pytest.param(Case(
        reason="A control-plane secondary recorded as the XR's own (Manual) while its claim's address is the live one "
               "(recorded while the address could not be read under a value the XR wrote) is the pool's: kept, no "
               "Conflict, recorded Pool again.",
        finding="adversarial review of the deliberate changes, #1 (held forever, Conflict every reconcile)",
        xr=with_status(xr(), {**PAIR_STATUS, "controlPlaneSecondarySource": "Manual"}), observed=PAIR,
        store=(*PAIR_WORLD, *PAIR_STORE),
        want=Want(desired=("vip-claim-control-plane-secondary",), variables={"clusterVipSecondary": "fd00::10"},
                  not_warned=(("Conflict", ""),), status={"controlPlaneSecondarySource": "Pool"})),
        id="a-cp-secondary-recorded-manual-that-its-claim-explains-is-the-pools"),
]


@pytest.mark.parametrize("case", ONE_RECONCILE)
def test_a_pair_in_one_reconcile(case):
    expect(run_case(case), case.want)


def _no_dns_name(name):
    return Check(f"no DNS record {name}",
                 lambda seen: name not in {e["dnsName"] for e in seen.out.desired["vip-dns"]["spec"]["endpoints"]})


_OLD_SECONDARY = observed_claim("vip-cp-c1-secondary", pool_name="cp6")
_OLD_SECONDARY["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z",
                                  finalizers=["ipam.cluster.x-k8s.io/ReleaseAddress"])

SETTLING = [
    pytest.param(Scenario(
        reason="A dual-stack XR settles with its pair on Crossplane v2: the secondary claim found by name is read as "
               "a claim, and the Cluster carries both pairs.",
        finding="dual-stack review 1, #1",
        objects=PAIR_WORLD,
        steps=(Settle(xr(), 6, status="as-written",
                      then=Want(variables={"clusterVipSecondary": "fd00::10"}, annotation="10.0.1.10,fd01::10")),)),
        id="a-pair-settles-on-crossplane-v2"),
    pytest.param(Scenario(
        reason="On legacy Crossplane (no adoption) the secondary claims are observed once made, so the Cluster is "
               "composed with its pair.",
        finding="dual-stack review 1, #1",
        objects=PAIR_WORLD, modern=False,
        steps=(Settle(xr(), 6, status="as-written",
                      then=Want(composed=True, variables={"ingressVipSecondary": "fd01::10"})),)),
        id="a-pair-is-composed-on-legacy-crossplane"),
    pytest.param(Scenario(
        reason="A new Cluster waits for its control-plane secondary while an old claim of that name is being deleted: "
               "it is never composed without clusterVipSecondary (while the old claim stays, it is not composed at "
               "all, the secondary waiting on that claim).",
        finding="dual-stack review 2, #4",
        objects=(*PAIR_WORLD, _OLD_SECONDARY, ip_address("vip-cp-c1-secondary", "fd00::10", pool_name="cp6")),
        steps=(Settle(xr(), 4, status="as-written", then=Want(
            composed_variables={"clusterVipSecondary": PRESENT}, composed=False,
            reasons={"ControlPlaneSecondaryVIPReady": "WaitingForAddress"},
            condition_message_has={"ControlPlaneSecondaryVIPReady": ("vip-cp-c1-secondary is being deleted",)})),)),
        id="a-new-cluster-waits-for-its-secondary-while-an-old-claim-goes"),
    pytest.param(Scenario(
        reason="Where the class defines ingressVipSecondary but not ingressVip, no secondary ingress VIP is claimed "
               "for nothing (or it is warned about).",
        finding="dual-stack review 1, #5",
        objects=(cluster_class(variables=("clusterVip", "ingressVipSecondary")), CP_POOL, ING_POOL, CP6, ING6),
        steps=(Settle(xr(), 5, status="as-written", then=Want(either=(
            Want(gone=(("IPAddressClaim", "vip-ingress-c1-secondary"),)), Want(warned=(ANY_WARNING,))))),)),
        id="no-ingress-secondary-claimed-without-an-ingress-vip"),
    *(pytest.param(Scenario(
        reason="The XR's own variable of a secondary name passes through, every reconcile, where the role has no pair "
               "(the class defines the secondary variable but not the primary).",
        finding="dual-stack review 3, #2",
        objects=(cluster_class(variables=class_vars), CP_POOL, ING_POOL, CP6, ING6),
        steps=(Settle(xr(variables=[{"name": variable, "value": "fd09::9"}]), 6, status="as-written",
                      then=Want(composed_at_least=3, composed_variables={variable: "fd09::9"})),)),
        id=f"the-xrs-own-{role}-secondary-passes-through-without-a-pair")
      for role, class_vars, variable in (("ingress", ("clusterVip", "ingressVipSecondary"), "ingressVipSecondary"),
                                         ("cp", ("clusterVipSecondary", "ingressVip"), "clusterVipSecondary"))),
    pytest.param(Scenario(
        reason="An endpoint that is a DNS name gets no control-plane record from its secondary (docs/dns.md: a manual "
               "host that is a DNS name already is one), and the status names no control-plane DNS name.",
        finding="dual-stack review 5, #4",
        objects=PAIR_WORLD, inp=DNS,
        steps=(Settle(manual_endpoint("api.example.com", annotations=None,
                                      variables=[{"name": "clusterVipSecondary", "value": "fd09::9"}]), 5,
                      then=Want(fatal=None, composed=True, variables={"clusterVipSecondary": "fd09::9"},
                                status={"controlPlaneDnsName": ABSENT},
                                also=(_no_dns_name("c1-api.clusters.example.org"),))),)),
        id="a-dns-name-endpoint-gets-no-record-from-its-secondary"),
]


@pytest.mark.parametrize("scenario", SETTLING)
def test_a_pair_settles(scenario):
    play(scenario)


BESIDE_THE_PAIR = [
    pytest.param(Scenario(
        reason="The XR wrote ingressVipSecondary, then removed it: the status recorded it as the XR's own (Manual), so "
               "the pool VIP replaces it once bound, with no AddressMismatch.",
        finding="dual-stack review 1, #5",
        objects=PAIR_WORLD,
        steps=(Settle(xr(), 5, status="as-written"),
               Settle(xr(variables=[{"name": "ingressVipSecondary", "value": "fd09::9"}]), 4, status="as-written"),
               Settle(xr(), 6, status="last",
                      then=Want(not_warned=("AddressMismatch",), variables={"ingressVipSecondary": "fd01::10"})))),
        id="a-removed-own-secondary-gives-way-to-the-pool-vip"),
    pytest.param(Scenario(
        reason="The control plane's secondary endpoint the XR set itself, then no longer sets, stays on the live "
               "Cluster with a Conflict saying to set it again, and nothing is claimed for it: as the endpoint does.",
        finding="decision design note, disagreement 4 (a pool VIP replaced it)",
        objects=PAIR_WORLD,
        steps=(Settle(xr(variables=[{"name": "clusterVipSecondary", "value": "fd09::9"}]), 5, status="as-written",
                      then=Want(variables={"clusterVipSecondary": "fd09::9"})),
               Settle(xr(), 6, status="last",
                      then=Want(variables={"clusterVipSecondary": "fd09::9"}, not_desired=("vip-claim-control-plane-secondary",),
                                warned=(("Conflict", "Set clusterVipSecondary=fd09::9 again"),))))),
        id="a-removed-own-control-plane-secondary-stays-on-the-live-cluster"),
    pytest.param(Scenario(
        reason="The XR's own secondary is recorded Manual from the first release step on, so removing it between the "
               "steps (Usage detached, claim released) puts the pool VIP in place, with no AddressMismatch.",
        finding="dual-stack review 2, #5",
        objects=PAIR_WORLD,
        steps=(Settle(xr(), 5, status="as-written"),
               ReconcileOnce(xr(variables=[{"name": "ingressVipSecondary", "value": "fd09::9"}]),
                             then=Want(status={"ingressSecondarySource": "Manual"})),
               Settle(xr(), 6, status="last",
                      then=Want(not_warned=("AddressMismatch",), variables={"ingressVipSecondary": "fd01::10"})))),
        id="an-own-secondary-removed-between-release-steps-gives-way-to-the-pool-vip"),
    pytest.param(Scenario(
        reason="A manual ingress VIP that is the address the secondary claim holds converges: nothing warned, the "
               "claim still holding it, the converged ttl.",
        finding="dual-stack review 6, #2",
        objects=PAIR_WORLD,
        steps=(Settle(xr(), 5),
               Settle(xr(annotations={INGRESS_VIP: "fd01::10"}), 8,
                      then=Want(fatal=None, warning_reasons=(), held={"vip-ingress-c1-secondary": "fd01::10"},
                                ttl=1200.0)))),
        id="a-manual-ingress-vip-on-the-secondary-claims-address-converges"),
    pytest.param(Scenario(
        reason="A manual ingress pair whose primary is the secondary claim's address and whose secondary the XR "
               "writes is stable, the written secondary recorded Manual.",
        finding="dual-stack review 7, #1",
        objects=PAIR_WORLD,
        steps=(Settle(xr(), 5),
               Settle(xr(annotations={INGRESS_VIP: "fd01::10"},
                         variables=[{"name": "ingressVipSecondary", "value": "10.0.1.99"}]), 6,
                      then=Want(tail_annotations=(3, "fd01::10,10.0.1.99"),
                                status={"ingressSecondarySource": "Manual"})))),
        id="a-manual-ingress-pair-on-the-secondary-claims-address-is-stable"),
    pytest.param(Scenario(
        reason="A manual endpoint that is the control-plane secondary claim's address, with a secondary the XR writes "
               "itself, composes the Cluster with both and gives no AddressMismatch; the secondary is Manual.",
        finding="dual-stack review 7, #2",
        objects=(*PAIR_WORLD, *PAIR_STORE), composed={rn: obj for rn, obj in PAIR.items() if rn != "cluster"},
        status=PAIR_STATUS,
        steps=(Settle(manual_endpoint("fd00::10", annotations=None,
                                      variables=[{"name": "clusterVipSecondary", "value": "10.0.0.99"}]), 4,
                      then=Want(fatal=None, composed=True, variables={"clusterVipSecondary": "10.0.0.99"},
                                never_warned=("AddressMismatch",), status={"controlPlaneSecondarySource": "Manual"},
                                reasons={"ControlPlaneSecondaryVIPReady": "Manual"})),)),
        id="a-manual-endpoint-on-the-secondary-claims-address-with-an-own-secondary"),
]


@pytest.mark.parametrize("scenario", BESIDE_THE_PAIR)
def test_a_vip_the_xr_writes_beside_its_pair(scenario):
    play(scenario)


def _first_is_ipv4():
    return Check("the ingress pair starts with its IPv4 address", lambda seen: ":" not in annotation(seen.out).split(",")[0])


def _second_is(addr):
    return Check(f"the ingress pair's second address is {addr}", lambda seen: annotation(seen.out).endswith(f",{addr}"))


FAMILY = [
    *(pytest.param(Scenario(
        reason="A primary claim deleted by hand under a live Cluster is made again from the live VIP's family, not "
               "from dualStack.primaryFamily changed since: the same address back, no AddressMismatch.",
        finding="dual-stack review 5, #1",
        objects=PAIR_WORLD,
        steps=(Settle(xr(), 5, then=Want(held={claim: (vip, pool_name)})),
               SwitchInput(V6_PRIMARY),
               DeleteByHand("IPAddressClaim", claim),
               DeleteByHand("IPAddress", claim),
               Settle(xr(), 5, then=Want(held={claim: (vip, pool_name)}, not_warned=("AddressMismatch",))))),
        id=f"the-{role}-claim-made-again-comes-from-the-live-vips-family")
      for role, claim, pool_name, vip in (("control-plane", "vip-cp-c1", "cp-pool", "10.0.0.10"),
                                          ("ingress", "vip-ingress-c1", "ing-pool", "10.0.1.10"))),
    *(pytest.param(Scenario(
        reason="A removed manual IPv6 ingress VIP is replaced from dualStack.primaryFamily (IPv4 first), not the "
               "manual VIP's family, and no pool is blamed with an AddressFamilyMismatch.",
        finding="dual-stack review 6, #1",
        objects=PAIR_WORLD,
        steps=(Settle(xr(), 5),
               Settle(xr(annotations={INGRESS_VIP: vip}), 6),
               Settle(xr(), 8, then=Want(never_warned=("AddressFamilyMismatch",), also=(_first_is_ipv4(),))))),
        id=f"a-removed-manual-ingress-vip-{name}-is-replaced-from-the-primary-family")
      for name, vip in (("of-its-own", "fd01::15"), ("on-the-secondary-claims-address", "fd01::10"))),
    pytest.param(Scenario(
        reason="A removed manual ingress VIP, where the secondary claim kept under it is IPv4, is replaced from the "
               "other family: no claim released, no AddressFamilyMismatch, the kept claim still the pair's second.",
        finding="dual-stack review 7, #3",
        objects=PAIR_WORLD, inp=V6_PRIMARY,
        steps=(Settle(xr(), 5),
               ReconcileOnce(xr(), status="carried", then=Want(annotation="fd01::10,10.0.1.10")),
               SwitchInput(None),
               Settle(xr(annotations={INGRESS_VIP: "10.0.1.10"}), 6,
                      then=Want(held={"vip-ingress-c1-secondary": "10.0.1.10"})),
               Settle(xr(), 8, then=Want(never_warned=("AddressFamilyMismatch",),
                                         never_noted=(("Released", "vip-ingress-c1-secondary"),),
                                         held={"vip-ingress-c1-secondary": "10.0.1.10"},
                                         also=(_second_is("10.0.1.10"),))))),
        id="a-removed-manual-ingress-vip-takes-the-family-beside-the-kept-secondary-claim"),
]


@pytest.mark.parametrize("scenario", FAMILY)
def test_the_family_a_claim_made_again_draws_from(scenario):
    play(scenario)

