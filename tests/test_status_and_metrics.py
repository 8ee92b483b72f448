"""What the function records besides composed resources: the XR's status beside what earlier pipeline steps wrote
there, and metrics that forget XRs and pools no longer seen."""

import copy
import dataclasses

import pytest

from function import fn, metrics
from tests.cases import INPUT, Seen, Want, expect
from tests.fixtures import CC, live
from tests.harness import Outcome, request, xr

LIVE, LIVE_STORE = live()


@dataclasses.dataclass(frozen=True)
class EarlierStatus:
    """One call of the function where an earlier pipeline step already wrote ``earlier`` on the desired XR."""

    reason: str
    finding: str
    xr: dict
    earlier: dict
    want: Want
    observed: dict = dataclasses.field(default_factory=dict)
    fetched: dict = dataclasses.field(default_factory=dict)  # requirement name -> objects, answered with the call
    inp: dict | None = None


EARLIER = [
    pytest.param(EarlierStatus(
        reason="Status written by earlier pipeline steps is kept beside the function's own.",
        finding="review findings: the XR's status",
        xr=xr(), observed=LIVE,
        fetched={"cluster-class": [CC], "address/control-plane": [LIVE_STORE[0]], "address/ingress": [LIVE_STORE[1]]},
        earlier={"status": {"network": "eth0", "vip": {"dns": "api.example.com"}}},
        want=Want(at={("composite", "status", "network"): "eth0", ("composite", "status", "vip", "dns"): "api.example.com",
                      ("composite", "status", "vip", "controlPlane"): "10.0.0.10"})),
        id="status-written-by-earlier-steps-is-kept"),
    pytest.param(EarlierStatus(
        reason="A status path an earlier step took with a non-object is Fatal, naming where.",
        finding="review findings: the XR's status",
        xr=xr(), inp={**INPUT, "xr": {"statusPath": "status.network.vip"}},
        earlier={"status": {"network": "eth0"}},
        want=Want(fatal="an earlier pipeline step wrote a non-object at network")),
        id="a-status-path-taken-by-a-non-object-is-fatal"),
]


@pytest.mark.parametrize("case", EARLIER)
def test_the_status_beside_what_earlier_steps_wrote(case):
    req = request(copy.deepcopy(case.xr), copy.deepcopy(case.observed), inp=copy.deepcopy(case.inp),
                  fetched=copy.deepcopy(case.fetched))
    req.desired.composite.resource.update(copy.deepcopy(case.earlier))
    expect(Seen(Outcome(fn.run(req))), case.want)


@dataclasses.dataclass(frozen=True)
class Forgetting:
    """An XR waiting and a pool observed at ``now``; then another XR observed FORGET_AFTER (and a minute) later."""

    reason: str
    finding: str
    waiting: tuple  # (xr, role, reason)
    pool: tuple  # (kind, namespace, name, free, total)
    later: tuple  # (xr, role, reason)
    now: float = 1_000_000.0


FORGETTING = [
    pytest.param(Forgetting(
        reason="Metrics forget XRs and pools not seen for an hour.",
        finding="review findings, second review",
        waiting=("team-z/gone", "ingress", "WaitingForAddress"), pool=("GlobalInClusterIPPool", None, "old-pool", 3, 5),
        later=("team-z/other", "ingress", "Allocated")),
        id="xrs-and-pools-not-seen-for-an-hour"),
]


@pytest.mark.parametrize("case", FORGETTING)
def test_metrics_forget_what_is_not_seen(case):
    xr_key, role, _ = case.waiting
    kind, namespace, name, _, _ = case.pool
    metrics.observe_waiting(*case.waiting, now=case.now)
    metrics.observe_pool(*case.pool, now=case.now)
    assert metrics.WAITING.labels(role)._value.get() >= 1
    metrics.observe_waiting(*case.later, now=case.now + metrics.FORGET_AFTER + 61)
    assert xr_key not in metrics._waiting[role]
    assert (kind, namespace or "", name) not in metrics._pools
