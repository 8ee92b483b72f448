"""Table-driven test support: rows that state a behaviour, and the runners that check them.

The rule modules (tests/test_pair_rules.py, test_live_vips_kept.py, test_release_safety.py, test_manual_vip_rules.py,
test_service_lb_rules.py, test_claim_rules.py, test_refusal_rules.py, test_status_and_metrics.py) are tables, one
parametrized test per behaviour family, as crossplane-contrib/function-patch-and-transform writes its tests: each
row has a ``reason`` (the behaviour), its inputs and a ``Want`` (what is wanted), and ``finding`` notes the review
finding it came from (tests/REVIEW_MAP.md maps the review-named tests these rows replace).

Row types:

- ``Case``: one reconcile (tests.harness.run) of an XR against observed resources and a store;
- ``Scenario``: a management cluster (tests.harness.World) taken through steps, several reconciles each;
- ``Chain``: reconciles of one XR, each observing the Cluster the one before composed, the status carried.

``expect`` checks a ``Want`` against what was seen: the last reconcile, every reconcile of a step, and the
management cluster after it. Only the fields a row sets are checked.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

from function import fn
from tests.fixtures import CP_POOL, ING_POOL, live
from tests.harness import (
    Outcome,
    World,
    _key,
    cluster_class,
    ip_address,
    observed_claim,
    observed_cluster,
    pool,
    run,
    to_dict,
    to_struct,
    xr,
)
from tests.test_service_lb import COUNT, LB_POOL, lb_claims, listed, with_lb
from tests.test_service_lb import WORLD as LB_WORLD
from tests.test_usage import CP_USAGE, INGRESS_USAGE, observed_usage

# --- the management cluster and the XRs the rows start from ---------------------------------------------------

INGRESS_VIP = "vip.capi.gorizond.io/ingress-vip"
INGRESS_OFF = {"vip.capi.gorizond.io/ingress-enabled": "false"}
DUAL_OFF = {"vip.capi.gorizond.io/dual-stack": "false"}
DELETED_AT = "2026-01-01T00:00:00Z"

# A ClusterClass asking for both pairs, and the IPv6 pools beside fixtures.py's IPv4 ones.
DUAL = cluster_class(variables=("clusterVip", "ingressVip", "clusterVipSecondary", "ingressVipSecondary"))
NO_INGRESS_SECONDARY = cluster_class(variables=("clusterVip", "ingressVip", "clusterVipSecondary"))
CP6 = pool("cp6", free=9, total=11, addresses=("fd00::10-fd00::20",), prefix=64, gateway="fd00::1")
ING6 = pool("ing6", role="ingress", free=9, total=11, addresses=("fd01::10-fd01::20",), prefix=64, gateway="fd01::1")
PAIR_WORLD = (DUAL, CP_POOL, ING_POOL, CP6, ING6)
# A pool relabelled to both families ("a pool of both families is a pool of neither", README).
MIXED_CP_POOL = pool("cp-pool", free=9, total=11, addresses=("10.0.0.10-10.0.0.20", "fd00::10-fd00::20"))

INPUT = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input"}
CHECK = {**INPUT, "manualVips": {"checkPools": True}}
V6_PRIMARY = {**INPUT, "dualStack": {"primaryFamily": "IPv6"}}
DNS = {**INPUT, "dns": {"zone": "clusters.example.org"}}

POOL_STATUS = {"controlPlane": "10.0.0.10", "controlPlaneSource": "Pool", "ingress": "10.0.1.10", "ingressSource": "Pool"}
PAIR_STATUS = {**POOL_STATUS, "controlPlaneSecondary": "fd00::10", "controlPlaneSecondarySource": "Pool",
               "ingressSecondary": "fd01::10", "ingressSecondarySource": "Pool"}
PAIR_VARIABLES = {"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10", "clusterVipSecondary": "fd00::10",
                  "ingressVipSecondary": "fd01::10"}

# Re-exported, so the rule modules take every shared fixture from here: the service-lb world (tests/test_service_lb.py)
# and the Usages (tests/test_usage.py).
__all__ = [
    "COUNT", "CP_USAGE", "INGRESS_USAGE", "LB_POOL", "LB_WORLD", "lb_claims", "observed_usage", "with_lb",
]


def usage(claim, *, attached=True):
    """An observed Usage of one of the XR's claims, by the Cluster where ``attached``."""
    spec = {"of": {"apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddressClaim", "resourceRef": {"name": claim}},
            "replayDeletion": True}
    if attached:
        spec["by"] = {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "resourceRef": {"name": "c1"}}
    return {"apiVersion": "protection.crossplane.io/v1beta1", "kind": "Usage",
            "metadata": {"name": claim, "namespace": "team-a"}, "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def live_pair(cp6="fd00::10", ing6="fd01::10", *, usages=False, cp6_pool="cp6"):
    """A converged dual-stack XR: four bound claims, a Cluster carrying both pairs (observed, store)."""
    observed, store = live()
    observed["vip-claim-control-plane-secondary"] = observed_claim("vip-cp-c1-secondary", pool_name=cp6_pool)
    observed["vip-claim-ingress-secondary"] = observed_claim("vip-ingress-c1-secondary", pool_name="ing6", role="ingress")
    store += [ip_address("vip-cp-c1-secondary", cp6, pool_name=cp6_pool),
              ip_address("vip-ingress-c1-secondary", ing6, pool_name="ing6")]
    variables = {"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10", "clusterVipSecondary": cp6, "ingressVipSecondary": ing6}
    observed["cluster"] = observed_cluster(variables=variables, ingress=f"10.0.1.10,{ing6}")
    if usages:
        for rn, claim in (("control-plane", "vip-cp-c1"), ("ingress", "vip-ingress-c1"),
                          ("control-plane-secondary", "vip-cp-c1-secondary"), ("ingress-secondary", "vip-ingress-c1-secondary")):
            observed[f"vip-usage-{rn}"] = usage(claim)
    return observed, store


def manual_endpoint(host, annotations=INGRESS_OFF, variables=None):
    """An XR that writes its control-plane endpoint (spec.cluster.controlPlaneEndpoint.host) itself."""
    topology = {"class": "cc", "version": "v1.31.0", **({"variables": variables} if variables else {})}
    return xr(cluster={"topology": topology, "controlPlaneEndpoint": {"host": host}}, annotations=annotations)


def with_status(x, vip):
    """The XR with status.vip as Crossplane keeps it between reconciles."""
    y = copy.deepcopy(x)
    y["status"] = {"vip": dict(vip)}
    return y


def without(d, *keys):
    """A copy of observed resources (or any mapping) without ``keys``."""
    return {k: copy.deepcopy(v) for k, v in d.items() if k not in keys}


def with_items(d, **items):
    """A copy of observed resources with ``items`` set (resource name -> object)."""
    return {**copy.deepcopy(d), **items}


def deleting(observed, *names, finalizers=None):
    """A copy of observed resources with ``names`` being deleted."""
    observed = copy.deepcopy(observed)
    for name in names:
        observed[name]["metadata"]["deletionTimestamp"] = DELETED_AT
        if finalizers:
            observed[name]["metadata"]["finalizers"] = list(finalizers)
    return observed


def store_without(store, *names):
    """The store without the IPAddresses named ``names`` (not fetched, or gone)."""
    return [o for o in store if o["metadata"]["name"] not in names]


def with_list(observed, addrs):
    """A copy of observed resources whose Cluster lists ``addrs`` in serviceLbVips."""
    observed = copy.deepcopy(observed)
    observed["cluster"]["spec"]["topology"]["variables"].append({"name": "serviceLbVips", "value": list(addrs)})
    return observed


def earlier_step_wrote(name, obj):
    """A transport: an earlier pipeline step composed ``obj`` as ``name``, then the function runs."""
    def transport(req):
        req.desired.resources[name].resource.CopyFrom(to_struct(obj))
        return fn.run(req)
    return transport


# --- reading what was seen ----------------------------------------------------------------------------------


def variables(out):
    return {v["name"]: v["value"] for v in out.cluster["spec"]["topology"].get("variables", [])}


def annotation(out):
    return (out.cluster["metadata"].get("annotations") or {}).get(INGRESS_VIP)


def held(w):
    """IPAddressClaim name -> (the address it holds or None, its pool)."""
    addrs = {a["metadata"]["name"]: a["spec"]["address"] for a in w.of_kind("IPAddress")}
    return {c["metadata"]["name"]: (addrs.get(c["metadata"]["name"]), c["spec"]["poolRef"]["name"])
            for c in w.of_kind("IPAddressClaim")}


def service_lb_list(w, cluster):
    c = w.get("Cluster", cluster, "team-a")
    return next((v["value"] for v in c["spec"]["topology"].get("variables", []) if v["name"] == "serviceLbVips"), [])


# --- what is wanted -----------------------------------------------------------------------------------------


class _Marker:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


UNSET = _Marker("UNSET")  # not checked
ABSENT = _Marker("ABSENT")  # the key is not there (its parent is)
PRESENT = _Marker("PRESENT")  # the key is there, any value
SET = _Marker("SET")  # the key is there, and its value is not empty
ANY_WARNING = (None, "")  # a warned/noted entry matching any result


@dataclasses.dataclass(frozen=True)
class Check:
    """A check no Want field states, named for the failure message: ``test(seen) -> bool``."""

    name: str
    test: Callable[[Seen], bool]

    def __repr__(self):
        return self.name


@dataclasses.dataclass(frozen=True)
class Want:
    """What is wanted. Results (warned, noted, ...) are given as a reason, or (reason or None, text in the message).

    Of the last reconcile:
      fatal: None (no Fatal) or text the Fatal message contains; fatal_is: the whole Fatal message;
      composed: whether it composes the Cluster; host: the Cluster's endpoint host (None: none);
      annotation: the Cluster's ingress-vip annotation; annotations: all of the Cluster's annotations;
      variables: topology variable -> value (ABSENT, PRESENT); desired / not_desired: composed resource names;
      at: a path into "desired", "cluster", "status" (status.vip) or "composite" (the desired XR) -> value (ABSENT, SET);
      status: status.vip field -> value (ABSENT); reasons / condition_status / condition_messages: condition type ->
      its reason / status / message; condition_message_has: type -> texts its message contains; no_conditions: types;
      warning_reasons / normal_reasons: the results' reasons, exactly, in order; warned / not_warned / noted /
      not_noted: results there or not; ttl; listed / listed_has / listed_lacks: the serviceLbVips list.
    Of every reconcile of a step:
      never_warned / never_noted / ever_warned: results in none / some of them; every_variables: variables every
      one's Cluster carries; composed_variables / composed_at_least: the same for those that compose the Cluster, and
      how many do; tail_annotations: (n, value), the annotation of the last n.
    Of the management cluster after the step:
      held: claim -> address it holds, or (address, pool); not_held: claim (there) -> an address it does not hold;
      usage_attached: Usage -> whether its spec.by is set; gone: (kind, name) not there; lists: Cluster ->
      serviceLbVips (sorted); list_len; lists_disjoint: Clusters listing no address in common; no_shared_vips: no
      address is the endpoint or ingress VIP of two Clusters.
    Otherwise: either: alternatives, one of which is met; also: Checks.
    """

    fatal: object = UNSET
    fatal_is: object = UNSET
    composed: object = UNSET
    host: object = UNSET
    annotation: object = UNSET
    annotations: object = UNSET
    variables: dict = dataclasses.field(default_factory=dict)
    desired: tuple = ()
    not_desired: tuple = ()
    at: dict = dataclasses.field(default_factory=dict)
    status: dict = dataclasses.field(default_factory=dict)
    reasons: dict = dataclasses.field(default_factory=dict)
    condition_status: dict = dataclasses.field(default_factory=dict)
    condition_messages: dict = dataclasses.field(default_factory=dict)
    condition_message_has: dict = dataclasses.field(default_factory=dict)
    no_conditions: tuple = ()
    warning_reasons: object = UNSET
    normal_reasons: object = UNSET
    warned: tuple = ()
    not_warned: tuple = ()
    noted: tuple = ()
    not_noted: tuple = ()
    ttl: object = UNSET
    listed: object = UNSET
    listed_has: tuple = ()
    listed_lacks: tuple = ()
    never_warned: tuple = ()
    never_noted: tuple = ()
    ever_warned: tuple = ()
    every_variables: dict = dataclasses.field(default_factory=dict)
    composed_variables: dict = dataclasses.field(default_factory=dict)
    composed_at_least: object = UNSET
    tail_annotations: object = UNSET
    held: dict = dataclasses.field(default_factory=dict)
    not_held: dict = dataclasses.field(default_factory=dict)
    usage_attached: dict = dataclasses.field(default_factory=dict)
    gone: tuple = ()
    lists: dict = dataclasses.field(default_factory=dict)
    list_len: dict = dataclasses.field(default_factory=dict)
    lists_disjoint: tuple = ()
    no_shared_vips: bool = False
    either: tuple = ()
    also: tuple = ()


@dataclasses.dataclass
class Seen:
    """What a row's run saw: the last reconcile, every reconcile of the step, the management cluster."""

    out: Outcome
    outs: list[Outcome] = dataclasses.field(default_factory=list)
    world: World | None = None

    def __post_init__(self):
        if not self.outs:
            self.outs = [self.out]


def _match(entry, reason, message):
    if isinstance(entry, str):
        return reason == entry
    want_reason, text = entry
    return (want_reason is None or reason == want_reason) and text in message


def _any(entry, results):
    return any(_match(entry, r, m) for r, m in results)


def _root(out, name):
    if name == "desired":
        return out.desired
    if name == "cluster":
        return out.cluster
    if name == "status":
        return out.status
    if name == "composite":
        return to_dict(out.rsp.desired.composite.resource)
    raise AssertionError(f"no such root: {name}")


def _at(out, path):
    """(found, value) at path; found False where the last key is missing, KeyError where a parent is."""
    here = _root(out, path[0])
    for i, key in enumerate(path[1:], start=2):
        if not isinstance(here, dict) or key not in here:
            if i == len(path) and isinstance(here, dict):
                return False, None
            raise AssertionError(f"at {path}: nothing at {path[:i]}")
        here = here[key]
    return True, here


def _same(marker_or_value, found, value):
    if marker_or_value is ABSENT:
        return not found
    if marker_or_value is PRESENT:
        return found
    if marker_or_value is SET:
        return found and bool(value)
    return found and value == marker_or_value


def expect(seen: Seen, want: Want) -> None:
    """Assert every field ``want`` sets against ``seen``; one assertion each."""
    out = seen.out
    if want.fatal is not UNSET:
        if want.fatal is None:
            assert out.fatal is None, f"fatal: want none, got {out.fatal!r}"
        else:
            assert out.fatal is not None and want.fatal in out.fatal, f"fatal: want {want.fatal!r} in {out.fatal!r}"
    if want.fatal_is is not UNSET:
        assert out.fatal == want.fatal_is, f"fatal: want {want.fatal_is!r}, got {out.fatal!r}"
    if want.composed is not UNSET:
        assert (out.cluster is not None) is want.composed, f"composed: want {want.composed}, got {out.cluster!r}"
    if want.host is not UNSET:
        got = out.cluster["spec"].get("controlPlaneEndpoint", {}).get("host")
        assert got == want.host, f"host: want {want.host!r}, got {got!r}"
    if want.annotation is not UNSET:
        got = annotation(out)
        assert got == want.annotation, f"ingress annotation: want {want.annotation!r}, got {got!r}"
    if want.annotations is not UNSET:
        got = out.cluster["metadata"].get("annotations")
        assert got == want.annotations, f"annotations: want {want.annotations!r}, got {got!r}"
    for name, value in want.variables.items():
        got = variables(out)
        assert _same(value, name in got, got.get(name)), f"variable {name}: want {value!r}, got {got.get(name, ABSENT)!r}"
    for name in want.desired:
        assert name in out.desired, f"{name} not in desired: {sorted(out.desired)}"
    for name in want.not_desired:
        assert name not in out.desired, f"{name} in desired"
    for path, value in want.at.items():
        found, got = _at(out, path)
        assert _same(value, found, got), f"at {path}: want {value!r}, got {got if found else ABSENT!r}"
    for name, value in want.status.items():
        got = out.status
        assert _same(value, name in got, got.get(name)), f"status.{name}: want {value!r}, got {got.get(name, ABSENT)!r}"
    for typ, reason in want.reasons.items():
        got = out.conditions.get(typ)
        assert got is not None and got[1] == reason, f"condition {typ}: want reason {reason!r}, got {got!r}"
    for typ, status in want.condition_status.items():
        got = out.conditions.get(typ)
        assert got is not None and got[0] is status, f"condition {typ}: want status {status}, got {got!r}"
    for typ, message in want.condition_messages.items():
        got = out.conditions.get(typ)
        assert got is not None and got[2] == message, f"condition {typ}: want message {message!r}, got {got!r}"
    for typ, texts in want.condition_message_has.items():
        got = out.conditions.get(typ)
        for text in texts:
            assert got is not None and text in got[2], f"condition {typ}: want {text!r} in the message, got {got!r}"
    for typ in want.no_conditions:
        assert typ not in out.conditions, f"condition {typ}: want none, got {out.conditions[typ]!r}"
    if want.warning_reasons is not UNSET:
        got = [r for r, _ in out.warnings]
        assert got == list(want.warning_reasons), f"warnings: want {list(want.warning_reasons)}, got {out.warnings!r}"
    if want.normal_reasons is not UNSET:
        got = [r for r, _ in out.normals]
        assert got == list(want.normal_reasons), f"normal results: want {list(want.normal_reasons)}, got {out.normals!r}"
    for entry in want.warned:
        assert _any(entry, out.warnings), f"warned: want {entry!r}, got {out.warnings!r}"
    for entry in want.not_warned:
        assert not _any(entry, out.warnings), f"not warned: want no {entry!r}, got {out.warnings!r}"
    for entry in want.noted:
        assert _any(entry, out.normals), f"noted: want {entry!r}, got {out.normals!r}"
    for entry in want.not_noted:
        assert not _any(entry, out.normals), f"not noted: want no {entry!r}, got {out.normals!r}"
    if want.ttl is not UNSET:
        assert out.ttl == want.ttl, f"ttl: want {want.ttl}, got {out.ttl}"
    if want.listed is not UNSET:
        assert listed(out) == want.listed, f"serviceLbVips: want {want.listed!r}, got {listed(out)!r}"
    for addr in want.listed_has:
        got = listed(out)
        assert got is not None and addr in got, f"serviceLbVips: want {addr} in {got!r}"
    for addr in want.listed_lacks:
        got = listed(out)
        assert got is not None and addr not in got, f"serviceLbVips: want no {addr} in {got!r}"
    # every reconcile of the step
    for entry in want.never_warned:
        got = [w for o in seen.outs for w in o.warnings if _match(entry, *w)]
        assert not got, f"never warned: want no {entry!r}, got {got!r}"
    for entry in want.never_noted:
        got = [n for o in seen.outs for n in o.normals if _match(entry, *n)]
        assert not got, f"never noted: want no {entry!r}, got {got!r}"
    for entry in want.ever_warned:
        assert any(_any(entry, o.warnings) for o in seen.outs), f"ever warned: want {entry!r} in some reconcile"
    for name, value in want.every_variables.items():
        got = [variables(o).get(name, ABSENT) for o in seen.outs]
        assert got == [value] * len(seen.outs), f"variable {name} on every reconcile: want {value!r}, got {got!r}"
    composed = [o for o in seen.outs if o.cluster is not None]
    for name, value in want.composed_variables.items():
        got = [variables(o).get(name, ABSENT) for o in composed]
        assert all(_same(value, g is not ABSENT, g) for g in got), \
            f"variable {name} wherever the Cluster is composed: want {value!r}, got {got!r}"
    if want.composed_at_least is not UNSET:
        assert len(composed) >= want.composed_at_least, \
            f"the Cluster composed on {len(composed)} reconciles, want at least {want.composed_at_least}"
    if want.tail_annotations is not UNSET:
        n, value = want.tail_annotations
        got = [annotation(o) for o in seen.outs[-n:]]
        assert got == [value] * n, f"ingress annotation of the last {n} reconciles: want {value!r}, got {got!r}"
    # the management cluster
    if want.held or want.not_held:
        reserved = held(seen.world)
        for claim, value in want.held.items():
            got = reserved.get(claim)
            got = got if isinstance(value, tuple) or got is None else got[0]
            assert got == value, f"{claim}: want it holding {value!r}, got {got!r}"
        for claim, addr in want.not_held.items():
            assert claim in reserved and reserved[claim][0] != addr, f"{claim}: want it there, not holding {addr}: {reserved!r}"
    for name, attached in want.usage_attached.items():
        u = seen.world.get("Usage", name, "team-a")
        assert u is not None and bool(u["spec"].get("by")) is attached, f"Usage {name}: want attached={attached}, got {u!r}"
    for kind, name in want.gone:
        assert seen.world.get(kind, name, "team-a") is None, f"{kind} {name}: want it gone"
    for cluster, addrs in want.lists.items():
        got = sorted(service_lb_list(seen.world, cluster))
        assert got == addrs, f"Cluster {cluster} serviceLbVips: want {addrs!r}, got {got!r}"
    for cluster, n in want.list_len.items():
        got = service_lb_list(seen.world, cluster)
        assert len(got) == n, f"Cluster {cluster} serviceLbVips: want {n} addresses, got {got!r}"
    if want.lists_disjoint:
        shared = set.intersection(*(set(service_lb_list(seen.world, c)) for c in want.lists_disjoint))
        assert not shared, f"Clusters {want.lists_disjoint} all list {shared}"
    if want.no_shared_vips:
        users: dict = {}
        for c in seen.world.of_kind("Cluster"):
            for vip in {c["spec"].get("controlPlaneEndpoint", {}).get("host"),
                        (c["metadata"].get("annotations") or {}).get(INGRESS_VIP)} - {None}:
                assert vip not in users, f"{vip} is used by Cluster {users[vip]} and Cluster {c['metadata']['name']}"
                users[vip] = c["metadata"]["name"]
    if want.either:
        failures = []
        for alternative in want.either:
            try:
                expect(seen, alternative)
                break
            except AssertionError as e:
                failures.append(str(e))
        else:
            raise AssertionError("none of the alternatives is met: " + "; ".join(failures))
    for check in want.also:
        assert check.test(seen), f"{check!r}"


# --- one reconcile --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """One reconcile of ``xr`` with ``observed`` composed resources and ``store`` to fetch from."""

    reason: str
    finding: str
    xr: dict
    want: Want
    observed: dict = dataclasses.field(default_factory=dict)
    store: tuple = ()
    inp: dict | None = None
    drop: frozenset = frozenset()  # requirements Crossplane leaves unanswered
    transport: Callable | None = None


def run_case(case: Case) -> Seen:
    out = run(copy.deepcopy(case.xr), copy.deepcopy(case.observed), copy.deepcopy(list(case.store)),
              inp=copy.deepcopy(case.inp), drop=set(case.drop) or None, transport=case.transport or fn.run)
    return Seen(out)


# --- a management cluster over several reconciles ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Settle:
    """``rounds`` reconciles of ``x``, the in-cluster provider binding claims after each.

    status: "carried": as Crossplane keeps it, each reconcile gets the status the one before returned (starting from
    the scenario's carried status, which the step updates); "as-written": ``x`` as it is; "last": ``x`` with the status
    the step before's last reconcile returned, the same on every round.
    """

    x: dict
    rounds: int = 5
    status: str = "carried"
    drop: frozenset = frozenset()
    then: Want | None = None


@dataclasses.dataclass(frozen=True)
class ReconcileOnce:
    """One reconcile of ``x``, the provider not binding after it, its status not carried on.

    status: "as-written", or "carried" (with the carried status)."""

    x: dict
    status: str = "as-written"
    then: Want | None = None


@dataclasses.dataclass(frozen=True)
class SwitchInput:
    """The platform team changes the function's Input."""

    inp: dict | None


@dataclasses.dataclass(frozen=True)
class DeleteByHand:
    """Someone deletes an object of team-a (the provider frees no address: delete its IPAddress too)."""

    kind: str
    name: str


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A management cluster holding ``objects``, taken through ``steps``; every reconcile must be free of Fatal."""

    reason: str
    finding: str
    steps: tuple
    objects: tuple = ()
    inp: dict | None = None
    modern: bool = True
    composed: dict = dataclasses.field(default_factory=dict)  # c1's composed resources at the start (also added)
    status: dict = dataclasses.field(default_factory=dict)  # the XR's status at the start (carried)


def play(scenario: Scenario) -> None:
    w = World(inp=copy.deepcopy(scenario.inp), modern=scenario.modern)
    w.add(*scenario.objects)
    for rn, obj in scenario.composed.items():
        w.add(obj)
        w.composed.setdefault("c1", {})[rn] = _key(obj)
    carried, last = dict(scenario.status), None
    for step in scenario.steps:
        if isinstance(step, SwitchInput):
            w.inp = copy.deepcopy(step.inp)
            continue
        if isinstance(step, DeleteByHand):
            obj = w.get(step.kind, step.name, "team-a")
            assert obj is not None, f"{step.kind} {step.name} is not there to delete"
            w.remove(obj)
            continue
        outs = []
        if isinstance(step, ReconcileOnce):
            x = with_status(step.x, carried) if step.status == "carried" else copy.deepcopy(step.x)
            outs.append(w.reconcile(x))
        else:
            for _ in range(step.rounds):
                if step.status == "carried":
                    x = with_status(step.x, carried)
                elif step.status == "last":
                    x = with_status(step.x, last.status)
                else:
                    x = copy.deepcopy(step.x)
                out = w.reconcile(x, drop=set(step.drop) or None)
                w.converge_ipam()
                outs.append(out)
                if step.status == "carried" and not out.fatal:
                    carried = out.status
        fatal = [o.fatal for o in outs if o.fatal]
        assert fatal == [], f"Fatal: {fatal}"
        last = outs[-1]
        if step.then is not None:
            expect(Seen(last, outs, w), step.then)


# --- reconciles observing what the one before composed ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Change:
    """A change to the observed resources between two reconciles, named for the failure message."""

    name: str
    apply: Callable[[dict], None]

    def __repr__(self):
        return self.name


def claim_deleting(rn):
    return Change(f"{rn} being deleted", lambda observed: observed[rn]["metadata"].update(deletionTimestamp=DELETED_AT))


def claim_gone(rn):
    return Change(f"{rn} gone", lambda observed: observed.pop(rn))


@dataclasses.dataclass(frozen=True)
class Chain:
    """Reconciles of ``xr``: before each, ``steps``' change (or None); after each, the Cluster observed is the one it
    composed (its variables and ingress annotation) and the XR's status is the one it returned."""

    reason: str
    finding: str
    xr: dict
    observed: dict
    store: tuple
    steps: tuple  # (Change | None, Want)


def run_chain(chain: Chain) -> None:
    x, observed = copy.deepcopy(chain.xr), copy.deepcopy(chain.observed)
    for change, want in chain.steps:
        if change is not None:
            change.apply(observed)
        out = run(x, copy.deepcopy(observed), copy.deepcopy(list(chain.store)))
        expect(Seen(out), want)
        observed["cluster"] = observed_cluster(variables=variables(out), ingress=annotation(out))
        x["status"] = {"vip": out.status}
