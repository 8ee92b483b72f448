"""One property per step of a claim's life, run over every kind of address the function claims.

Every kind (the control plane, ingress, their dual-stack secondaries, a service load-balancer address) starts from
one converged XR that has all five; each test changes one thing about one kind's claim and checks what the
lifecycle promises for it. Where kinds differ on purpose, the difference is a column of KINDS, so a sixth kind
of address arrives tested once it has its row.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import pytest

from tests.cases import CP6, ING6, COUNT, DUAL_OFF, INGRESS_OFF, usage, variables, with_status
from tests.fixtures import CP_POOL, ING_POOL, applied_without
from tests.harness import Outcome, cluster_class, ip_address, observed_claim, observed_cluster, run, xr
from tests.test_service_lb import LB_POOL

CLASS = cluster_class(variables=("clusterVip", "ingressVip", "clusterVipSecondary", "ingressVipSecondary", "serviceLbVips"))
MANAGEMENT = (CLASS, CP_POOL, ING_POOL, CP6, ING6, LB_POOL)


def _variable(name: str) -> Callable[[Outcome], object]:
    return lambda out: variables(out).get(name)


def _annotation_entry(i: int) -> Callable[[Outcome], object]:
    def read(out):
        entries = ((out.cluster["metadata"].get("annotations") or {}).get("vip.capi.gorizond.io/ingress-vip") or "").split(",")
        return entries[i] if len(entries) > i and entries[i] else None
    return read


@dataclasses.dataclass(frozen=True)
class Kind:
    key: str  # the slot: its resources are vip-claim-<key> and vip-usage-<key>
    claim: str  # the IPAddressClaim's name
    pool: dict  # the pool its claim is made from
    address: str  # what its claim holds in the converged world
    elsewhere: str  # another address of that pool (an IPAddress made anew)
    places: tuple[Callable[[Outcome], object], ...]  # where the composed Cluster carries it (each reads one value)
    variable: str  # the ClusterClass variable that asks for it
    condition: str
    status: dict  # what the XR's status records for it
    holds_new_cluster: bool  # a Cluster not yet composed waits for it
    off: tuple[dict, ...]  # the XR annotations that release it, each on its own (none: a live one is never released)
    live_without_claim: bool  # a live value stays while its claim is gone or being deleted

    @property
    def resource(self) -> str:
        return f"vip-claim-{self.key}"

    @property
    def usage(self) -> str:
        return f"vip-usage-{self.key}"

    def carried(self, out: Outcome) -> bool:
        """Whether the composed Cluster carries the converged address in every one of the kind's places."""
        def has(value):
            return self.address in value if isinstance(value, list) else value == self.address
        return out.cluster is not None and all(has(place(out)) for place in self.places)


KINDS = (
    Kind("control-plane", "vip-cp-c1", CP_POOL, "10.0.0.10", "10.0.0.11",
         (lambda out: out.cluster["spec"]["controlPlaneEndpoint"]["host"], _variable("clusterVip")),
         "clusterVip", "ControlPlaneVIPReady", {"controlPlane": "10.0.0.10", "controlPlaneSource": "Pool"},
         holds_new_cluster=True, off=(), live_without_claim=True),
    Kind("ingress", "vip-ingress-c1", ING_POOL, "10.0.1.10", "10.0.1.11", (_annotation_entry(0), _variable("ingressVip")),
         "ingressVip", "IngressVIPReady", {"ingress": "10.0.1.10", "ingressSource": "Pool"},
         holds_new_cluster=True, off=(INGRESS_OFF,), live_without_claim=True),
    Kind("control-plane-secondary", "vip-cp-c1-secondary", CP6, "fd00::10", "fd00::11", (_variable("clusterVipSecondary"),),
         "clusterVipSecondary", "ControlPlaneSecondaryVIPReady", {"controlPlaneSecondary": "fd00::10", "controlPlaneSecondarySource": "Pool"},
         holds_new_cluster=True, off=(DUAL_OFF,), live_without_claim=True),
    Kind("ingress-secondary", "vip-ingress-c1-secondary", ING6, "fd01::10", "fd01::11",
         (_annotation_entry(1), _variable("ingressVipSecondary")),
         "ingressVipSecondary", "IngressSecondaryVIPReady", {"ingressSecondary": "fd01::10", "ingressSecondarySource": "Pool"},
         holds_new_cluster=True, off=(DUAL_OFF, INGRESS_OFF), live_without_claim=True),
    # A service load-balancer address leaves the list once its claim holds nothing (README, service-lb): a
    # LoadBalancer Service keeps answering on it until moved, but no address stays listed that no claim reserves.
    Kind("service-lb-0", "vip-lb-c1-0", LB_POOL, "10.0.2.10", "10.0.2.11", (_variable("serviceLbVips"),),
         "serviceLbVips", "ServiceLBVIPsReady", {"serviceLb": "0=10.0.2.10"},
         holds_new_cluster=False, off=({COUNT: "0"},), live_without_claim=False),
)
BY_KEY = {k.key: k for k in KINDS}
EVERY_KIND = [pytest.param(k, id=k.key) for k in KINDS]
RELEASABLE = [pytest.param(k, switch, id=f"{k.key}-by-{','.join(f'{a}={v}' for a, v in switch.items())}")
              for k in KINDS for switch in k.off]


def the_xr(annotations=None):
    return with_status(xr(annotations={COUNT: "1", **(annotations or {})}),
                       {key: value for k in KINDS for key, value in k.status.items()})


def converged():
    """Every kind's claim bound and protected by a Usage, and a live Cluster carrying all five: (observed, store)."""
    observed, store = {}, list(MANAGEMENT)
    for k in KINDS:
        pool_name = k.pool["metadata"]["name"]
        observed[k.resource] = observed_claim(k.claim, pool_name=pool_name, role=k.pool["metadata"]["labels"]["vip.capi.gorizond.io/role"])
        observed[k.usage] = usage(k.claim)
        store.append(ip_address(k.claim, k.address, pool_name=pool_name))
    observed["cluster"] = observed_cluster(
        variables={"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10", "clusterVipSecondary": "fd00::10",
                   "ingressVipSecondary": "fd01::10", "serviceLbVips": ["10.0.2.10"]},
        ingress="10.0.1.10,fd01::10")
    return observed, store


def without_address(store, kind):
    return [o for o in store if not (o["kind"] == "IPAddress" and o["metadata"]["name"] == kind.claim)]


def test_the_converged_xr_keeps_every_claim_and_usage_and_says_nothing():
    observed, store = converged()
    out = run(the_xr(), observed, store)
    assert out.fatal is None and out.warnings == []
    assert set(out.desired) == set(observed)
    assert all(k.carried(out) for k in KINDS)
    assert all(out.conditions[k.condition][:2] == (True, "Allocated") for k in KINDS)


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_a_claim_deleted_by_hand_under_a_live_cluster_is_made_again_from_its_pool(kind):
    observed, store = converged()
    del observed[kind.resource]
    out = run(the_xr(), observed, without_address(store, kind))
    assert out.fatal is None
    assert out.desired[kind.resource]["spec"]["poolRef"]["name"] == kind.pool["metadata"]["name"]
    assert kind.carried(out) is kind.live_without_claim
    assert all(k.carried(out) for k in KINDS if k is not kind)


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_a_claim_whose_address_is_not_read_stays_as_it_is_and_the_live_value_stays(kind):
    observed, store = converged()
    out = run(the_xr(), observed, without_address(store, kind))
    assert out.fatal is None
    assert out.desired[kind.resource]["spec"] == observed[kind.resource]["spec"]
    assert kind.usage in out.desired
    assert all(k.carried(out) for k in KINDS)
    assert out.conditions[kind.condition][0] is not True or kind.key.startswith("service-lb")


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_a_live_value_stays_when_its_ipaddress_says_another_and_the_mismatch_is_warned(kind):
    observed, store = converged()
    store = [*without_address(store, kind), ip_address(kind.claim, kind.elsewhere, pool_name=kind.pool["metadata"]["name"])]
    out = run(the_xr(), observed, store)
    assert out.fatal is None
    assert kind.resource in out.desired and kind.usage in out.desired
    assert all(k.carried(out) for k in KINDS)
    assert any(reason == "AddressMismatch" and kind.elsewhere in message for reason, message in out.warnings)


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_a_claim_unbound_again_under_a_live_cluster_stays(kind):
    observed, store = converged()
    observed[kind.resource] = copy.deepcopy(observed[kind.resource])
    del observed[kind.resource]["status"]
    out = run(the_xr(), observed, without_address(store, kind))
    assert out.fatal is None
    assert out.desired[kind.resource]["spec"] == observed[kind.resource]["spec"]
    assert kind.carried(out) is kind.live_without_claim
    assert all(k.carried(out) for k in KINDS if k is not kind)


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_a_claim_being_deleted_under_a_live_cluster_is_let_go_and_nothing_else_moves(kind):
    observed, store = converged()
    observed[kind.resource] = copy.deepcopy(observed[kind.resource])
    observed[kind.resource]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    out = run(the_xr(), observed, store)
    assert out.fatal is None
    assert kind.resource not in out.desired
    assert kind.carried(out) is kind.live_without_claim
    assert all(k.carried(out) for k in KINDS if k is not kind)
    assert {n for n in observed if n != kind.resource} <= set(out.desired)


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_a_new_cluster_waits_for_the_claims_of_the_kinds_that_hold_it_back(kind):
    observed, store = converged()
    del observed["cluster"]
    observed[kind.resource] = copy.deepcopy(observed[kind.resource])
    del observed[kind.resource]["status"]
    out = run(xr(annotations={COUNT: "1"}), observed, without_address(store, kind))
    assert out.fatal is None
    assert kind.resource in out.desired
    assert (out.cluster is None) is kind.holds_new_cluster


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_a_new_xr_claims_each_kind_from_its_own_pool(kind):
    out = run(xr(annotations={COUNT: "1"}), {}, list(MANAGEMENT))
    assert out.fatal is None
    assert out.desired[kind.resource]["spec"]["poolRef"]["name"] == kind.pool["metadata"]["name"]
    assert out.cluster is None


@pytest.mark.parametrize(("kind", "switch"), RELEASABLE)
def test_a_release_waits_for_the_cluster_to_drop_the_address_then_its_usage_goes_then_the_claim(kind, switch):
    observed, store = converged()
    xr_off = the_xr(switch)
    first = run(xr_off, observed, store)
    assert kind.resource in first.desired
    assert first.desired[kind.usage]["spec"] == observed[kind.usage]["spec"]  # held as it is: still attached
    assert first.cluster is not None and not any(place(first) in (kind.address, [kind.address]) for place in kind.places)

    applied = applied_without(observed, kind.address)
    detaching = run(xr_off, applied, store)
    assert kind.resource in detaching.desired
    assert "by" not in detaching.desired[kind.usage]["spec"]  # the Usage lets go of the Cluster first

    applied[kind.usage] = usage(kind.claim, attached=False)
    removing = run(xr_off, applied, store)
    assert kind.resource in removing.desired and kind.usage not in removing.desired

    del applied[kind.usage]
    released = run(xr_off, applied, store)
    assert kind.resource not in released.desired
    others = [k for k in KINDS if switch not in k.off]
    assert all(k.carried(released) for k in others)
    assert all(k.resource in released.desired and k.usage in released.desired for k in others)


def test_while_the_class_cannot_be_read_every_claim_usage_and_live_value_stays():
    observed, store = converged()
    out = run(the_xr(), observed, [o for o in store if o is not CLASS])
    assert out.fatal is None
    assert set(observed) <= set(out.desired)
    assert all(k.carried(out) for k in KINDS)


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_a_class_that_lost_the_kinds_variable_releases_nothing(kind):
    observed, store = converged()
    lost = cluster_class(variables=tuple(k.variable for k in KINDS if k is not kind))
    out = run(the_xr(), observed, [lost if o is CLASS else o for o in store])
    assert out.fatal is None
    assert set(observed) <= set(out.desired)
    assert all(k.carried(out) for k in KINDS if k is not kind)
