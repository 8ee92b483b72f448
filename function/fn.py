"""RunFunction: protobuf in, decision, protobuf out. No decisions are made here."""

from __future__ import annotations

import functools
import time
from logging import CRITICAL, ERROR, INFO, WARNING

import grpc
import structlog
from google.protobuf import struct_pb2
from crossplane.function import logging, response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from function import context
from function import decide as core
from function import input as inputs
from function import adopt, double_allocation, metrics, pools
from function.conditions import Severity
from function.requirements import Fetched, Selector
from function.structs import ALL, NAMES, OPAQUE, OTHERS, pluck, struct_to_py, write
from function.xr import Fatal

_META = {"name": ALL, "namespace": ALL}
_CONDITIONS = {"conditions": [{"type": ALL, "status": ALL}]}

# What the decision reads of each object; nothing else is converted.
OBSERVED_SHAPES = {
    context.CLUSTER: {
        "apiVersion": ALL,
        "metadata": {**_META, "annotations": ALL, "deletionTimestamp": ALL},
        "spec": {
            "controlPlaneEndpoint": ALL,
            "topology": {"class": ALL, "classNamespace": ALL, "classRef": ALL, "variables": [{"name": ALL, "value": OPAQUE}]},
        },
        "status": _CONDITIONS,
    },
    **{
        name: {
            "metadata": {**_META, "deletionTimestamp": ALL, "creationTimestamp": ALL},
            "spec": {"poolRef": ALL},
            "status": {"addressRef": ALL},
        }
        for name in context.CLAIM_RESOURCE.values()
    },
    **{name: {"spec": {"by": ALL}, "status": _CONDITIONS} for name in context.USAGE_RESOURCE.values()},
    context.DNS: {"apiVersion": ALL, "kind": ALL, "metadata": {**_META, "generation": ALL}, "spec": {"endpoints": ALL},
               "status": {"observedGeneration": ALL}},
}
# The service-lb claims and Usages, by index; with their kind, to tell another step's resource of such a name.
_LB_CLAIM_SHAPE = {"apiVersion": ALL, "kind": ALL, **OBSERVED_SHAPES[context.CLAIM_RESOURCE[context.CONTROL_PLANE]]}
_LB_USAGE_SHAPE = {"apiVersion": ALL, "kind": ALL, **OBSERVED_SHAPES[context.USAGE_RESOURCE[context.CONTROL_PLANE]]}
# The secondary (dual-stack) claims and Usages: with their kind, as they are the function's only when of its kinds.
_SECONDARY_SHAPES = {**dict.fromkeys(context.SECONDARY_CLAIM_RESOURCE.values(), _LB_CLAIM_SHAPE),
                     **dict.fromkeys(context.SECONDARY_USAGE_RESOURCE.values(), _LB_USAGE_SHAPE)}
_POOL_SHAPE = {
    "apiVersion": ALL,
    "kind": ALL,
    "metadata": {**_META, "labels": ALL, "annotations": ALL, "deletionTimestamp": ALL},
    # what the provider allocates from, for manualVips.checkPools (function/ranges.py)
    "spec": {k: ALL for k in ("addresses", "excludedAddresses", "gateway", "prefix", "allocateReservedIPAddresses")},
    "status": {"ipAddresses": ALL},
}
_CLASS_SHAPE = {
    "kind": ALL,
    "metadata": _META,
    "spec": {"variables": [NAMES]},
    "status": {"variables": [NAMES]},
}
_ADDRESS_SHAPE = {"kind": ALL, "metadata": _META, "spec": {"address": ALL}}
_LISTED_ADDRESS_SHAPE = {"kind": ALL, "metadata": _META, "spec": {"address": ALL, "poolRef": ALL}}  # double_allocation.py
# Found by name before the XR composed them (adopt.py): as observed, and who controls them.
_EXISTING_SHAPES = {
    name: {**shape, "kind": ALL, "metadata": {**shape["metadata"], "ownerReferences": ALL, "deletionTimestamp": ALL}}
    for name, shape in (
        (adopt.CLUSTER_REQUIREMENT, OBSERVED_SHAPES[context.CLUSTER]),
        *((adopt.claim_requirement(role), OBSERVED_SHAPES[context.CLAIM_RESOURCE[role]]) for role in context.CLAIM_RESOURCE),
    )
}

_SEVERITY = {Severity.NORMAL: fnv1.SEVERITY_NORMAL, Severity.WARNING: fnv1.SEVERITY_WARNING}


def _required_shape(requirement: str) -> dict:
    if requirement.startswith("pools/"):
        return _POOL_SHAPE
    if requirement.startswith("address/"):
        return _ADDRESS_SHAPE
    if requirement.startswith(double_allocation.REQUIREMENT):
        return _LISTED_ADDRESS_SHAPE
    if requirement.startswith("existing/"):
        if requirement.startswith(f"existing/{context.SERVICE_LB}-") or requirement.endswith("-secondary"):
            return _EXISTING_SHAPES[adopt.claim_requirement(context.CONTROL_PLANE)]  # a service-lb or secondary claim
        return _EXISTING_SHAPES.get(requirement, _CLASS_SHAPE)
    return _CLASS_SHAPE


# The user's Cluster spec: what the decision reads is converted; the rest passes through
# as protobuf tokens, copied back in C (a Cluster spec can be large).
CLUSTER_SPEC_SHAPE = {
    OTHERS: OPAQUE,
    "controlPlaneEndpoint": ALL,
    "topology": {
        OTHERS: OPAQUE,
        "class": ALL,
        "classNamespace": ALL,
        "classRef": ALL,
        "version": ALL,
        "variables": [{OTHERS: OPAQUE, "name": ALL}],
    },
}


def _path_shape(path: str, leaf: object = ALL) -> dict:
    shape: object = leaf
    for part in reversed(path.split(".")):
        shape = {part: shape}
    return shape  # type: ignore[return-value]


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else (ALL if out.get(k) is ALL else v)
    return out


def xr_shape(inp: inputs.Input) -> dict:
    """What the decision reads of the XR: metadata, the Cluster spec, the claim's namespace, our status."""
    return _xr_shape(inp.xr.cluster_spec_path, inp.xr.status_path)


@functools.lru_cache(maxsize=16)
def _xr_shape(cluster_spec_path: str, status_path: str) -> dict:
    shape: dict = {"apiVersion": ALL, "kind": ALL, "metadata": {**_META, "uid": ALL, "annotations": ALL}, "spec": {"claimRef": {"namespace": ALL}}}
    shape = _merge(shape, _path_shape(cluster_spec_path, CLUSTER_SPEC_SHAPE))
    shape = _merge(shape, {"status": {"conditions": [{"type": ALL, "status": ALL, "reason": ALL, "lastTransitionTime": ALL}]}})
    return _merge(shape, _path_shape(status_path))


@functools.lru_cache(maxsize=64)
def _input(raw: bytes) -> inputs.Input:
    """The Input of a Composition step: the same bytes on every call, so validated once."""
    struct = struct_pb2.Struct()
    struct.ParseFromString(raw)
    return inputs.load(struct_to_py(struct))


def read_fetched(req: fnv1.RunFunctionRequest) -> Fetched:
    """Required resources from both fields: required_resources (v2) and extra_resources (v1)."""
    out: dict[str, list[dict]] = {}
    for field in (req.extra_resources, req.required_resources):  # the v2 field wins
        for name, resources in field.items():
            shape = _required_shape(name)
            out[name] = [pluck(item.resource, shape) for item in resources.items]
    return Fetched(out)


STATUS_FIELDS = tuple(k for keys in context.STATUS_KEYS.values() for k in keys)
DNS_STATUS_FIELDS = (*STATUS_FIELDS, *context.DNS_STATUS_KEYS.values())  # with Input dns


def _set_status(s, path: str, value: dict, fields: tuple[str, ...] = STATUS_FIELDS) -> str | None:
    """Write our status fields at path, leaving what earlier pipeline steps wrote; an error if the path is taken."""
    for part in path.split("."):
        if part in s.fields and s.fields[part].WhichOneof("kind") != "struct_value":
            return f"{path} cannot hold the VIP status: an earlier pipeline step wrote a non-object at {part}"
        s.fields[part].struct_value.SetInParent()  # an object even when empty, never null
        s = s.fields[part].struct_value
    for key in fields:
        if key in value:
            s.fields[key].string_value = value[key]
        elif key in s.fields:
            del s.fields[key]
    return None


def _fill_selector(out: fnv1.ResourceSelector, sel: Selector) -> None:
    """Fill an empty selector in place (building one and copying it costs twice as much)."""
    out.api_version = sel.api_version
    out.kind = sel.kind
    if sel.name is not None:
        out.match_name = sel.name
    else:
        out.match_labels.SetInParent()  # an empty map still selects: every object of the kind
        if sel.labels:
            labels = out.match_labels.labels
            for key, value in sel.labels.items():  # the map's update() is a Python loop of its own
                labels[key] = value
    if sel.namespace is not None:
        out.namespace = sel.namespace


def to_response(req: fnv1.RunFunctionRequest, inp: inputs.Input, decision: context.Decision) -> fnv1.RunFunctionResponse:
    rsp = response.to(req, decision.ttl)
    for name in decision.released:
        if name in rsp.desired.resources:
            del rsp.desired.resources[name]
    for name, composed in decision.composed.items():
        r = rsp.desired.resources[name]
        r.resource.Clear()
        write(r.resource, composed.resource)
        r.ready = fnv1.READY_TRUE if composed.ready else fnv1.READY_FALSE
    # Not ready, said outright while anything composed is: Crossplane then writes its Ready condition as
    # Creating, without the list of unready resources it would derive, which changes (and costs the XR two
    # writes, two watch events each) with every claim and Usage that becomes ready. The outcome is the
    # same: the XR is ready once everything composed is (with ours ready, Crossplane derives it from every
    # step's resources). A step before that decided it stays decided.
    unready = any(not composed.ready for composed in decision.composed.values())  # ours; an earlier step's are its own
    if decision.xr_ready is False or (unready and rsp.desired.composite.ready == fnv1.READY_UNSPECIFIED):
        rsp.desired.composite.ready = fnv1.READY_FALSE
    fields = DNS_STATUS_FIELDS if inp.dns is not None else STATUS_FIELDS
    if decision.lb_active:
        fields = (*fields, context.LB_STATUS_KEY)
    if decision.secondary_active:
        fields = (*fields, *context.SECONDARY_STATUS_FIELDS)
    problem = _set_status(rsp.desired.composite.resource, inp.xr.status_path, decision.status, fields)
    if problem:
        return fatal(req, problem)

    modern = fnv1.CAPABILITY_REQUIRED_RESOURCES in req.meta.capabilities
    for name, sel in sorted(decision.requirements.items()):
        if modern:
            _fill_selector(rsp.requirements.resources[name], sel)
        else:
            _fill_selector(rsp.requirements.extra_resources[name], sel.for_legacy())

    for c in decision.conditions:
        rsp.conditions.append(
            fnv1.Condition(
                type=c.type,
                status=fnv1.STATUS_CONDITION_TRUE if c.status else fnv1.STATUS_CONDITION_FALSE,
                reason=c.reason.value,
                message=c.message,
                target=fnv1.TARGET_COMPOSITE_AND_CLAIM,
            )
        )
    for r in decision.results:
        rsp.results.append(
            fnv1.Result(
                severity=_SEVERITY[r.severity],
                reason=r.reason.value,
                message=r.message,
                target=fnv1.TARGET_COMPOSITE_AND_CLAIM,
            )
        )
    return rsp


def fatal(req: fnv1.RunFunctionRequest, message: str) -> fnv1.RunFunctionResponse:
    """A Fatal response: Crossplane applies nothing, so nothing can be deleted."""
    rsp = response.to(req, inputs.parse_duration(inputs.DEFAULT.ttl.waiting))
    rsp.results.append(
        fnv1.Result(severity=fnv1.SEVERITY_FATAL, message=message, target=fnv1.TARGET_COMPOSITE_AND_CLAIM)
    )
    return rsp


def run(req: fnv1.RunFunctionRequest, now: float | None = None) -> fnv1.RunFunctionResponse:
    """One RunFunction call, start to end; never raises. ``now``: the time (seconds since the epoch)
    the decision goes by; the function's clock when None (a simulator gives its own)."""
    start = time.perf_counter()
    try:
        return _run(req, time.time() if now is None else now)
    finally:
        metrics.observe_duration(time.perf_counter() - start)


def _logger(tag: str, xr_name: str | None):
    """The call's logger, bound once (each bind costs a few µs)."""
    return logging.get_logger().bind(tag=tag) if xr_name is None else logging.get_logger().bind(tag=tag, xr=xr_name)


def _run(req: fnv1.RunFunctionRequest, now: float) -> fnv1.RunFunctionResponse:
    tag = req.meta.tag
    xr_name = None
    try:
        try:
            inp = _input(req.input.SerializeToString(deterministic=True)) if req.HasField("input") else inputs.DEFAULT
        except inputs.InputError as e:
            return _fatal_logged(req, _logger(tag, xr_name), f"the function's Input is invalid: {e}")
        xr = pluck(req.observed.composite.resource, xr_shape(inp))
        meta = xr.get("metadata") if isinstance(xr.get("metadata"), dict) else {}
        xr_name = f"{meta.get('namespace') or ''}/{meta.get('name')}".lstrip("/")
        observed = {
            name: pluck(req.observed.resources[name].resource, shape)
            for name, shape in OBSERVED_SHAPES.items()
            if name in req.observed.resources
        }
        if len(req.observed.resources) > len(observed):  # the service-lb claims and Usages by index, the secondaries
            for name in req.observed.resources:
                if name in observed:
                    continue
                if context.lb_index(name) is not None:
                    shape = _LB_USAGE_SHAPE if name.startswith(context.LB_USAGE_PREFIX) else _LB_CLAIM_SHAPE
                else:
                    shape = _SECONDARY_SHAPES.get(name)
                if shape is not None:
                    observed[name] = pluck(req.observed.resources[name].resource, shape)
        fetched = read_fetched(req)
        capabilities = req.meta.capabilities
        decision = core.decide(
            inp,
            xr,
            observed,
            fetched,
            crossplane_v2=fnv1.CAPABILITY_CAPABILITIES in capabilities,
            by_name=fnv1.CAPABILITY_REQUIRED_RESOURCES in capabilities,
            earlier=frozenset(req.desired.resources),
            now=now,
        )
    except Fatal as e:
        return _fatal_logged(req, _logger(tag, xr_name), str(e))
    except Exception as e:  # noqa: BLE001 - an exception must never reach gRPC; Fatal applies nothing.
        log = _logger(tag, xr_name)
        log.exception("unexpected error")
        return _fatal_logged(req, log, f"function-capi-vip failed unexpectedly ({type(e).__name__}: {e}); nothing was applied")
    _observe(xr_name, fetched, decision)
    debug = _debug_on()
    if not decision.results and not debug:
        return to_response(req, inp, decision)  # nothing to log: no logger to bind
    log = _logger(tag, xr_name)
    # One line per decision that changes or blocks something; a converged reconcile logs nothing at INFO.
    for r in decision.results:
        log.info(r.message, reason=r.reason.value, severity=r.severity.value, role=r.role or None)
    if debug:  # spare building the arguments of a line that is dropped
        log.debug(
            "decided",
            status=decision.status,
            conditions={c.type: c.reason.value for c in decision.conditions},
            composed=sorted(decision.composed),
            ttl=str(decision.ttl),
            # what Crossplane watches for this XR (each change of it re-runs the XR): kind|namespace|name|labels
            required=sorted(f"{s.kind}|{s.namespace or ''}|{s.name or ''}|"
                            + ",".join(f"{k}={v}" for k, v in sorted((s.labels or {}).items()))
                            for s in decision.requirements.values()),
        )
    return to_response(req, inp, decision)


# What the SDK's logging.configure(INFO) installs (and the levels above): loggers that drop debug lines.
_ABOVE_DEBUG = {structlog.make_filtering_bound_logger(level) for level in (INFO, WARNING, ERROR, CRITICAL)}


def _debug_on() -> bool:
    """Whether debug lines may be kept, known without binding a logger; True when unsure
    (the logger then filters them itself)."""
    return structlog.get_config()["wrapper_class"] not in _ABOVE_DEBUG


def _fatal_logged(req: fnv1.RunFunctionRequest, log, message: str) -> fnv1.RunFunctionResponse:
    log.warning("fatal: nothing is applied", reason=message)
    metrics.observe_fatal()
    return fatal(req, message)


def _observe(xr_name: str, fetched: Fetched, decision: context.Decision) -> None:
    metrics.observe_results(decision.results)
    for role, condition in zip((context.CONTROL_PLANE, context.INGRESS), decision.conditions):
        metrics.observe_waiting(xr_name, role, condition.reason.value)
    # A pool is often fetched by more than one requirement: its series is set once, from the last.
    seen: dict[tuple[str, str, str], object] = {}
    for name in fetched.names():
        if not name.startswith("pools/"):
            continue
        for pool in fetched.items(name):
            meta = pool.get("metadata")
            if isinstance(meta, dict) and isinstance(meta.get("name"), str) and isinstance(pool.get("kind"), str):
                seen[(pool["kind"], str(meta.get("namespace") or ""), meta["name"])] = pool.get("status")
    for (kind, namespace, name), status in seen.items():
        metrics.observe_pool(kind, namespace, name, pools.count(status, "free"), pools.count(status, "total"))


class FunctionRunner(grpcv1.FunctionRunnerServiceServicer):
    """The gRPC servicer."""

    async def RunFunction(  # noqa: N802 - the gRPC method name
        self, req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext
    ) -> fnv1.RunFunctionResponse:
        return run(req)
