"""Refusals: what the function refuses (a malformed XR value, an Input that cannot work) is refused naming the field,
and what it used to accept still loads."""

import dataclasses

import pytest

from function import input as inputs
from tests.cases import COUNT, INPUT, LB_WORLD, PAIR_WORLD, Case, Want, expect, lb_claims, run_case, with_lb
from tests.fixtures import STORE, live
from tests.harness import xr

LIVE, LIVE_STORE = live()
LB2, LB2_STORE = with_lb(*live(), lb_claims(2))

MALFORMED = [
    *(pytest.param(Case(
        reason="Malformed topology variables on the XR are Fatal, the message naming the field and what it is.",
        finding="review findings: malformed values",
        xr=xr(variables=value), store=STORE,
        want=Want(fatal=message)),
        id=f"topology-variables-{name}")
      for name, value, message in (
          ("as-a-string", "abc", "spec.cluster.topology.variables must be a list of {name, value} objects, but it is a str"),
          ("as-a-map", {"a": 1}, "must be a list of {name, value} objects, but it is a dict"),
          ("holding-a-number", [1], "spec.cluster.topology.variables[0] must be an object with a non-empty string name"),
          ("holding-an-object-name", [{"name": {"x": 1}}], "variables[0] must be an object with a non-empty string name"))),
    pytest.param(Case(
        reason="A variable item without a name is shown as JSON in the Fatal message, not protobuf text.",
        finding="review findings, second review",
        xr=xr(variables=[{"value": {"a": 1}}]), store=STORE,
        want=Want(fatal="but it is {'value': {'a': 1}}")),
        id="a-bad-variable-item-is-shown-as-json"),
    pytest.param(Case(
        reason="XR metadata of the wrong type gets the proper message.",
        finding="review findings: malformed values",
        xr={"metadata": "oops", "spec": {}},
        want=Want(fatal_is="the XR has no metadata")),
        id="xr-metadata-of-the-wrong-type"),
    pytest.param(Case(
        reason="A service-lb count with a non-ASCII digit is refused naming the annotation, not an unexpected error.",
        finding="service-lb review, #10",
        xr=xr(annotations={COUNT: "\u00b2"}), observed=LB2, store=(*LB_WORLD, *LB2_STORE),
        want=Want(fatal=COUNT)),
        id="a-superscript-service-lb-count"),
    pytest.param(Case(
        reason="A serviceLbVips the XR writes that is not a list of addresses is Fatal.",
        finding="service-lb review 2",
        xr=xr(variables=[{"name": "serviceLbVips", "value": "10.0.2.50"}]), observed=LB2, store=(*LB_WORLD, *LB2_STORE),
        want=Want(fatal="not a list of IP addresses")),
        id="a-written-service-lb-list-that-is-not-a-list"),
]


@pytest.mark.parametrize("case", MALFORMED)
def test_what_is_malformed_is_refused_naming_the_field(case):
    expect(run_case(case), case.want)


INPUTS = [
    pytest.param(Case(
        reason="An Input whose secondary variables clash (controlPlane.secondaryVariable is the ingress role's derived "
               "name) is refused, naming secondaryVariable.",
        finding="dual-stack review 1, #6",
        xr=xr(), observed=LIVE, store=(*PAIR_WORLD, *LIVE_STORE),
        inp={**INPUT, "roles": {"controlPlane": {"labelValue": "control-plane", "variable": "clusterVip",
                                                 "claimName": "vip-cp-{cluster}", "secondaryVariable": "ingressVipSecondary"}}},
        want=Want(fatal="secondaryVariable")),
        id="clashing-secondary-variables-are-refused"),
    pytest.param(Case(
        reason="An Input whose ingress pools are labelled service-lb (valid before the role existed) still loads.",
        finding="service-lb review, #3",
        xr=xr(), observed=LIVE, store=(*STORE, *LIVE_STORE),
        inp={**INPUT, "roles": {"ingress": {"labelValue": "service-lb", "variable": "ingressVip",
                                            "claimName": "vip-ingress-{cluster}"}}},
        want=Want(fatal=None)),
        id="ingress-pools-labelled-service-lb-still-load"),
    pytest.param(Case(
        reason="An Input whose DNS variable is serviceLbVips (valid before the role existed) still loads.",
        finding="service-lb review, #3",
        xr=xr(), observed=LIVE, store=(*STORE, *LIVE_STORE),
        inp={**INPUT, "dns": {"zone": "clusters.example.org", "variable": "serviceLbVips"}},
        want=Want(fatal=None)),
        id="a-dns-variable-named-service-lb-vips-still-loads"),
]


@pytest.mark.parametrize("case", INPUTS)
def test_an_input_is_refused_or_loads(case):
    expect(run_case(case), case.want)


@dataclasses.dataclass(frozen=True)
class InputLoad:
    """function.input.load of ``inp``: an InputError whose message matches ``error``."""

    reason: str
    finding: str
    inp: dict
    error: str


ON_LOAD = [
    pytest.param(InputLoad(
        reason="A status path outside status is an Input error.",
        finding="review findings: the XR's status",
        inp={**INPUT, "xr": {"statusPath": "spec.cluster"}}, error="must be below status"),
        id="a-status-path-outside-status"),
    pytest.param(InputLoad(
        reason="An absurd ttl is an Input error.",
        finding="review findings: malformed values",
        inp={**INPUT, "ttl": {"converged": "9999999999999999h"}}, error="longer than 24h"),
        id="an-absurd-ttl"),
]


@pytest.mark.parametrize("case", ON_LOAD)
def test_an_input_is_refused_on_load(case):
    with pytest.raises(inputs.InputError, match=case.error):
        inputs.load(case.inp)
