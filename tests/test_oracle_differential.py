"""The decision that serves answers every request exactly as the frozen one does (tests/oracle.py).

Small worlds over every kind of address an XR can hold (control plane, ingress, their dual-stack
secondaries, service-lb), drawn by hypothesis from a handful of addresses, so that one address often
appears in two places at once: a manual host that is the secondary claim's address, a live ingress VIP
that a service-lb claim holds, a DNS record naming a released claim's address. Every call of a
reconcile is compared whole (desired state, requirements, conditions, results, TTL), fresh and then
seeded with its own last requirements as Crossplane v2.4 does; the requirement set is compared on
every call, since it decides what Crossplane fetches and whether a reconcile takes one call.

More examples: DIFFERENTIAL_EXAMPLES=20000 .venv/bin/pytest tests/test_oracle_differential.py
"""

from __future__ import annotations

import os

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.differential import SETUPS, segment
from tests import oracle
from tests.cases import usage as observed_usage
from tests.harness import cluster_class, ip_address, observed_claim, observed_cluster, pool, run, xr

EPOCH = 1767225600.0  # 2026-01-01T00:00:00Z, when every observed object of these worlds was made
ADDRESSES = ("10.0.0.10", "10.0.1.10", "10.0.2.10", "fd00:10::10", "fd00:11::10", "192.0.2.7")
HOSTS = (*ADDRESSES, "api.c1.example.com")
VARIABLES = ("clusterVip", "ingressVip", "clusterVipSecondary", "ingressVipSecondary", "serviceLbVips", "clusterDnsName")
A = "vip.capi.gorizond.io/"
POOLS = {  # name -> (role, addresses, gateway)
    "cp-pool": ("control-plane", ("10.0.0.10-10.0.0.20",), "10.0.0.1"),
    "ing-pool": ("ingress", ("10.0.1.10-10.0.1.20",), "10.0.1.1"),
    "cp6-pool": ("control-plane", ("fd00:10::10-fd00:10::ff",), "fd00:10::1"),
    "ing6-pool": ("ingress", ("fd00:11::10-fd00:11::ff",), "fd00:11::1"),
    "lb-pool": ("service-lb", ("10.0.2.10-10.0.2.30",), "10.0.2.1"),
}
# composed resource name -> (claim name, role label, the pools its claim may name, the address it mostly holds)
SLOTS = {
    "vip-claim-control-plane": ("vip-cp-c1", "control-plane", ("cp-pool", "cp6-pool"), "10.0.0.10"),
    "vip-claim-ingress": ("vip-ingress-c1", "ingress", ("ing-pool", "ing6-pool"), "10.0.1.10"),
    "vip-claim-control-plane-secondary": ("vip-cp-c1-secondary", "control-plane", ("cp6-pool", "cp-pool"), "fd00:10::10"),
    "vip-claim-ingress-secondary": ("vip-ingress-c1-secondary", "ingress", ("ing6-pool", "ing-pool"), "fd00:11::10"),
    **{f"vip-claim-service-lb-{i}": (f"vip-lb-c1-{i}", "service-lb", ("lb-pool",), "10.0.2.10") for i in range(3)},
}
EXAMPLES = int(os.environ.get("DIFFERENTIAL_EXAMPLES", "300"))


def _usage_name(resource: str) -> str:
    return resource.replace("vip-claim-", "vip-usage-")


maybe = st.booleans


@st.composite
def inputs(draw) -> dict:
    inp: dict = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input"}
    if draw(maybe()):
        inp["usage"] = draw(st.sampled_from(["None", "Protection"]))
    if draw(maybe()):
        inp["manualVips"] = {"checkPools": True}
    if draw(maybe()):
        inp["dns"] = {"zone": "clusters.example.org"}
    if draw(maybe()):
        inp["roles"] = {"serviceLb": {"defaultCount": draw(st.integers(0, 3))}}
    if draw(st.integers(0, 3)) == 0:
        inp["dualStack"] = {"primaryFamily": "IPv6"}
    return inp


@st.composite
def worlds(draw) -> tuple:
    inp = draw(inputs())
    store: list[dict] = []
    if draw(st.integers(0, 5)):  # the ClusterClass, mostly there
        store.append(cluster_class(variables=tuple(v for v in VARIABLES if draw(maybe()))))
    for name, (role, ranges, gateway) in POOLS.items():
        if draw(st.integers(0, 3)):
            free = draw(st.sampled_from([0, 9]))
            store.append(pool(name, role=role, free=free, total=11, addresses=ranges, gateway=gateway,
                              prefix=120 if ":" in gateway else 24))
    address = st.sampled_from(ADDRESSES)
    annotations = {}
    if draw(st.integers(0, 3)) == 0:
        annotations[A + "ingress-enabled"] = "false"
    if draw(st.integers(0, 2)) == 0:
        annotations[A + "ingress-vip"] = draw(address)
    if draw(st.integers(0, 4)) == 0:
        annotations[A + "dual-stack"] = "false"
    if draw(st.integers(0, 3)) == 0:
        annotations[A + "service-lb-count"] = str(draw(st.integers(0, 3)))
    spec = {"topology": {"class": "cc", "version": "v1.31.0"}}
    if draw(st.integers(0, 2)) == 0:
        spec["controlPlaneEndpoint"] = {"host": draw(st.sampled_from(HOSTS))}
    written = [{"name": v, "value": draw(address)} for v in ("clusterVipSecondary", "ingressVipSecondary")
               if draw(st.integers(0, 6)) == 0]
    if written:
        spec["topology"]["variables"] = written
    composite = xr(annotations=annotations or None, cluster=spec)
    status = {}
    for key, source in (("controlPlane", "controlPlaneSource"), ("ingress", "ingressSource"),
                        ("controlPlaneSecondary", "controlPlaneSecondarySource"), ("ingressSecondary", "ingressSecondarySource")):
        if draw(maybe()):
            status[key] = draw(address)
            status[source] = draw(st.sampled_from(["Pool", "Manual"]))
    if draw(st.integers(0, 3)) == 0:
        status["serviceLb"] = ",".join(f"{i}={draw(address)}" for i in range(draw(st.integers(1, 3))))
    if status:
        composite["status"] = {"vip": status}

    observed: dict[str, dict] = {}
    if draw(st.integers(0, 2)):
        host = draw(st.sampled_from(HOSTS))
        variables = {"clusterVip": host}
        for name in ("ingressVip", "clusterVipSecondary", "ingressVipSecondary"):
            if draw(maybe()):
                variables[name] = draw(address)
        if draw(st.integers(0, 3)) == 0:
            variables["serviceLbVips"] = [draw(address) for _ in range(draw(st.integers(0, 3)))]
        ingress = None
        if draw(maybe()):
            ingress = draw(address) + ("," + draw(address) if draw(maybe()) else "")
        cluster = observed_cluster(host=host, variables=variables, ingress=ingress, ready=draw(maybe()))
        if draw(st.integers(0, 9)) == 0:
            cluster["metadata"]["deletionTimestamp"] = "2026-01-01T00:01:00Z"
        observed["cluster"] = cluster
    for resource, (name, role, pools, usual) in SLOTS.items():
        where = draw(st.integers(0, 9))  # 0-3 none, 4 only found (adoption), 5-9 observed
        if where <= 3:
            continue
        claim = observed_claim(name, pool_name=draw(st.sampled_from(pools)), role=role, bound=draw(st.integers(0, 3)) > 0)
        if draw(st.integers(0, 9)) == 0:
            claim["metadata"]["deletionTimestamp"] = "2026-01-01T00:01:00Z"
        if where == 4:
            store.append(claim)
        else:
            observed[resource] = claim
            usage = draw(st.integers(0, 2))
            if usage:
                observed[_usage_name(resource)] = observed_usage(name, attached=usage == 1)
        if claim.get("status") and draw(st.integers(0, 6)):
            held = usual if draw(st.integers(0, 2)) else draw(address)
            store.append(ip_address(name, held, pool_name=claim["spec"]["poolRef"]["name"]))
    if "dns" in inp and draw(maybe()):
        records = [{"dnsName": n, "recordType": "AAAA" if ":" in t else "A", "targets": [t]}
                   for n in ("c1-api.clusters.example.org", "*.c1.clusters.example.org") if draw(maybe())
                   for t in [draw(address)]]
        generation = draw(st.integers(1, 3))
        observed["vip-dns"] = {
            "apiVersion": "externaldns.k8s.io/v1alpha1", "kind": "DNSEndpoint",
            "metadata": {"name": "vip-dns-c1", "namespace": "team-a", "generation": generation},
            "spec": {"endpoints": records},
            "status": {"observedGeneration": draw(st.integers(generation - 1, generation))},
        }
    now = EPOCH + draw(st.sampled_from([30.0, 119.0, 121.0, 3600.0]))
    return composite, observed, store, inp, now


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(worlds())
def test_every_call_is_answered_as_the_frozen_decision_answers_it(world):
    composite, observed, store, inp, now = world
    compared = oracle.Compared(lambda: now)
    out = run(composite, observed, store, inp=inp, transport=compared)
    assert not compared.differences, compared.differences[0]
    if out.fatal is None:
        run(composite, observed, store, inp=inp, transport=compared, seeded=dict(out.rsp.requirements.resources))
        assert not compared.differences, "seeded: " + compared.differences[0]


def test_the_frozen_decision_is_read_from_history_and_tells_a_difference_apart():
    # The comparison can fail: an answer changed in one field is a difference, named by that field.
    from function import fn
    from tests.fixtures import STORE, live
    from tests.harness import request

    observed, store = live()
    req = request(xr(), observed, inp=None)
    frozen = oracle.answer(req, EPOCH)
    serving = fn.run(req, now=EPOCH)
    assert oracle.difference(serving, frozen) is None
    serving.meta.ttl.seconds += 1
    told = oracle.difference(serving, frozen)
    assert '-  "ttl": "15s"' in told and '+  "ttl": "16s"' in told, told
    assert oracle.load().__file__ == f"<function/decide.py at {oracle.ORACLE_COMMIT}>"
    assert STORE  # the fixtures the worlds are built like


@pytest.mark.parametrize("setup", SETUPS)
def test_in_the_simulator_every_call_under_random_edits_is_answered_as_the_frozen_decision_answers_it(setup):
    """A short run of bench/differential.py --oracle per Input setup: the management cluster simulated
    (tests/sim.py) under random user edits, every call answered by both decisions."""
    result = segment((7, 80, True, setup))
    assert result["calls"] > 200
    assert not result["differences"], result["differences"][0]
    assert not result["others"], result["others"][0]
