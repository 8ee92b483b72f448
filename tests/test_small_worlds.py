"""Every call over small worlds of every kind of address an XR can hold keeps Crossplane's contract.

Small worlds over the control plane, ingress, their dual-stack secondaries and service-lb, drawn by
hypothesis from a handful of addresses, so that one address often appears in two places at once: a
manual host that is the secondary claim's address, a live ingress VIP that a service-lb claim holds, a
DNS record naming a released claim's address. On each: a call seeded with its own last requirements (as
Crossplane v2.4 sends them) answers exactly as the fresh fetching loop did, whole (desired state,
requirements, conditions, results, TTL); a successful answer keeps the observed Cluster; and an observed
claim or Usage it leaves out (which Crossplane then deletes) is one already being deleted, or one the answer
says it releases.

(These worlds first compared the rebuilt decision with the frozen one, issue 26, call by call; that
comparison ended when the rebuilt one had answered every setup as the frozen one did: bench/gate.jsonl.)

More examples: SMALL_WORLD_EXAMPLES=20000 .venv/bin/pytest tests/test_small_worlds.py
"""

from __future__ import annotations

import difflib
import json
import os

from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function import fn
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
EXAMPLES = int(os.environ.get("SMALL_WORLD_EXAMPLES", "300"))


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


def difference(a: fnv1.RunFunctionResponse, b: fnv1.RunFunctionResponse) -> str | None:
    """Where two answers differ, or None: compared whole, told as the lines of the second that differ from the first."""
    if a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True):
        return None
    x, y = (json.dumps(json_format.MessageToDict(r), indent=1, sort_keys=True).splitlines() for r in (a, b))
    lines = list(difflib.unified_diff(x, y, "fresh", "seeded", n=2, lineterm=""))[2:]
    return "\n".join(lines[:60]) + ("\n..." if len(lines) > 60 else "")


def _answer(world):
    composite, observed, store, inp, now = world
    return run(composite, observed, store, inp=inp, transport=lambda req: fn.run(req, now=now))


SMALL = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SMALL
@given(worlds())
def test_a_call_seeded_with_its_last_requirements_answers_as_the_fresh_one(world):
    composite, observed, store, inp, now = world
    fresh = _answer(world)
    if fresh.fatal is None:
        seeded = run(composite, observed, store, inp=inp, transport=lambda req: fn.run(req, now=now),
                     seeded=dict(fresh.rsp.requirements.resources))
        assert seeded.calls == 1
        found = difference(fresh.rsp, seeded.rsp)
        assert found is None, found


@SMALL
@given(worlds())
def test_a_successful_answer_keeps_the_observed_cluster(world):
    out = _answer(world)
    if out.fatal is None and "cluster" in world[1]:
        assert "cluster" in out.desired


@SMALL
@given(worlds())
def test_a_claim_a_successful_answer_leaves_out_is_being_deleted_or_told_released_and_so_is_its_usage(world):
    observed = world[1]
    out = _answer(world)
    if out.fatal is not None:
        return
    released = [r.message for r in out.rsp.results if r.severity == fnv1.SEVERITY_NORMAL and r.reason == "Released"]
    for resource, obj in observed.items():
        if resource in out.desired or obj["kind"] not in ("IPAddressClaim", "Usage"):
            continue
        name = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        claim = observed.get(resource.replace("vip-usage-", "vip-claim-"), obj)  # a Usage goes with its claim
        assert claim["metadata"].get("deletionTimestamp") or any(name in m for m in released), (
            f"{obj['kind']} {name} ({resource}) left out of desired state, so deleted, without a release told: {out.rsp.results}")


def test_the_comparison_of_two_answers_names_the_field_that_differs():
    # The seeded comparison can fail: an answer changed in one field is a difference, named by that field.
    from tests.fixtures import live
    from tests.harness import request

    observed, _ = live()
    req = request(xr(), observed, inp=None)
    a, b = fn.run(req, now=EPOCH), fn.run(req, now=EPOCH)
    assert difference(a, b) is None
    b.meta.ttl.seconds += 1
    told = difference(a, b)
    assert '-  "ttl": "15s"' in told and '+  "ttl": "16s"' in told, told
