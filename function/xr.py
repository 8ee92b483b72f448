"""The XR contract: what a user asks for, read from the composite resource.

Everything wrong here is Fatal, on purpose: a Fatal result applies nothing, so
a typo in an XR can never make Crossplane delete a Cluster or a claim that was
composed from an earlier, valid version of the same XR.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from function import addresses, structs
from function.input import MAX_SERVICE_LB

if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Input


class Fatal(Exception):
    """The request cannot be served; the message tells the user what to fix."""


@dataclasses.dataclass(frozen=True)
class ClusterRequest:
    """One XR's wishes, validated."""

    xr_name: str
    xr_uid: str | None  # metadata.uid: who controls what this XR composes
    xr_kind: str | None  # with xr_api_version: to tell an earlier XR of this name from another controller (adopt.py)
    xr_api_version: str | None
    xr_namespaced: bool  # a Crossplane v2 namespaced XR
    xr_label: str  # the XR as a message names it: "XR ns/name", or "XR name" for a cluster-scoped one
    name: str  # of the composed Cluster
    namespace: str  # of the Cluster and its claims
    spec: dict  # the Cluster spec as the user wrote it
    class_name: str
    class_namespace: str
    manual_host: str | None  # spec.controlPlaneEndpoint.host, if set
    port: int | None  # spec.controlPlaneEndpoint.port, if set
    ingress_disabled: bool
    manual_ingress: str | None
    service_lb_count: int | None = None  # the XR's count annotation, if set
    dual_stack_disabled: bool = False  # the XR's dual-stack annotation is "false"
    watch_circuit_opened: float | None = None  # since when Crossplane drops this XR's watch events (Responsive False)
    release_address: str | None = None  # the XR's release-address annotation: an address said to be held by nothing


def get_path(obj: dict, path: str) -> object:
    """The value at a dotted path, or None where any step is missing or not an object."""
    cur: object = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _string(value: object, where: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        shown = "missing" if value is None else "empty" if value == "" else f"{type(value).__name__} {_short(value)}"
        msg = f"{where} must be a non-empty string, but it is {shown}"
        raise Fatal(msg)
    return value


def _short(value: object) -> str:
    text = repr(structs.plain(value))
    return text if len(text) <= 60 else text[:57] + "..."


def parse(xr: dict, inp: Input) -> ClusterRequest:
    """Read and validate what the XR asks for; raise Fatal naming the field to fix."""
    if not isinstance(xr, dict):
        raise Fatal("the composite resource (XR) is empty; Crossplane sent no observed XR")
    meta = xr.get("metadata")
    if not isinstance(meta, dict):
        raise Fatal("the XR has no metadata")
    xr_name = _string(meta.get("name"), "XR metadata.name")

    namespace = meta.get("namespace")
    xr_namespaced = bool(namespace)
    if not namespace:
        # A legacy cluster-scoped XR: Crossplane does not namespace what it composes,
        # so use the claim's namespace, else default.
        namespace = get_path(xr, "spec.claimRef.namespace") or "default"
    namespace = _string(namespace, "XR metadata.namespace (or spec.claimRef.namespace)")
    # The XR as a message names it: with its namespace where it has one (a legacy XR is cluster-scoped).
    who = f"XR {meta['namespace']}/{xr_name}" if xr_namespaced else f"XR {xr_name}"

    path = inp.xr.cluster_spec_path
    spec = get_path(xr, path)
    if not isinstance(spec, dict):
        shown = "missing" if spec is None else f"a {type(spec).__name__}"
        msg = (
            f"{who}: {path} must hold the Cluster spec (an object with topology.class or "
            f"topology.classRef.name), but it is {shown}"
        )
        raise Fatal(msg)
    topology = spec.get("topology")
    if not isinstance(topology, dict):
        msg = (
            f"{who}: {path}.topology is required: this function composes ClusterClass-based "
            "Clusters; set topology.class (v1beta1) or topology.classRef.name (v1beta2) and topology.version"
        )
        raise Fatal(msg)
    class_name, class_ns = _class_ref(topology, f"{who}: {path}.topology")
    _variables(topology.get("variables"), f"{who}: {path}.topology.variables")
    _string(topology.get("version"), f"{who}: {path}.topology.version")
    if class_ns is not None and not addresses.is_label_value(class_ns):
        msg = f"{who}: the ClusterClass namespace {class_ns!r} is not a valid namespace name"
        raise Fatal(msg)

    manual_host, port = _endpoint(spec.get("controlPlaneEndpoint"), f"{who}: {path}.controlPlaneEndpoint")

    annotations = meta.get("annotations")
    if annotations is None:
        annotations = {}
    elif not isinstance(annotations, dict):
        # Unreadable annotations would be guessed empty: that could release an ingress VIP the
        # user turned off, or replace a manual one with a pool VIP. Nothing is applied instead.
        msg = (
            f"{who}: metadata.annotations must be a map of strings, but it is {structs.describe(annotations)}; "
            "the ingress annotations cannot be read, so nothing is applied until it is a map"
        )
        raise Fatal(msg)
    ingress_disabled = _ingress_disabled(annotations.get(inp.annotations.ingress_enabled), inp, who)
    manual_ingress_raw = annotations.get(inp.annotations.ingress_vip)
    manual_ingress = None
    if manual_ingress_raw is not None and manual_ingress_raw != "":
        manual_ingress = addresses.parse_ip(manual_ingress_raw)
        if manual_ingress is None:
            msg = (
                f"{who}: annotation {inp.annotations.ingress_vip}={_short(manual_ingress_raw)} "
                "is not an IP address; set it to an IPv4 or IPv6 address, or remove it to allocate "
                "the ingress VIP from a pool"
            )
            raise Fatal(msg)

    release_raw = annotations.get(inp.annotations.release_address)
    release_address = None
    if release_raw is not None and release_raw != "":
        release_address = addresses.parse_ip(release_raw)
        if release_address is None:
            msg = (f"{who}: annotation {inp.annotations.release_address}={_short(release_raw)} is not an IP address; "
                   "set it to the address the warning names, or remove it")
            raise Fatal(msg)

    service_lb_count = _service_lb_count(annotations.get(inp.annotations.service_lb_count), inp, who)
    dual_stack_disabled = _switched_off(annotations.get(inp.annotations.dual_stack), inp.annotations.dual_stack, who,
                                        "the VIPs of the second address family")

    for role in (inp.roles.control_plane, inp.roles.ingress):
        claim = role.claim_name.replace("{cluster}", xr_name)
        if not addresses.is_object_name(claim):
            msg = (
                f"{who}: the claim name {claim!r} (from Input roles.*.claimName "
                f"{role.claim_name!r}) is not a valid object name; use a shorter XR name or claim pattern"
            )
            raise Fatal(msg)

    uid = meta.get("uid")
    return ClusterRequest(
        xr_name=xr_name,
        xr_label=who,
        xr_uid=uid if isinstance(uid, str) else None,
        xr_kind=kind if isinstance(kind := xr.get("kind"), str) else None,
        xr_api_version=api if isinstance(api := xr.get("apiVersion"), str) else None,
        xr_namespaced=xr_namespaced,
        name=xr_name,
        namespace=namespace,
        spec=spec,
        class_name=class_name,
        class_namespace=class_ns or namespace,
        manual_host=manual_host,
        port=port,
        ingress_disabled=ingress_disabled,
        manual_ingress=manual_ingress,
        service_lb_count=service_lb_count,
        dual_stack_disabled=dual_stack_disabled,
        watch_circuit_opened=watch_circuit_opened(xr),
        release_address=release_address,
    )


# Crossplane v2.4's condition on an XR whose watch circuit breaker is open: while it is, the XR's
# watch events (a user's edit among them) are dropped, but for one every 30 s.
RESPONSIVE = "Responsive"
WATCH_CIRCUIT_OPEN = "WatchCircuitOpen"


def watch_circuit_opened(xr: dict) -> float | None:
    """Since when Crossplane says it drops this XR's watch events (the lastTransitionTime of its
    Responsive condition, False, WatchCircuitOpen; the epoch when unreadable); None while it does not."""
    conditions = get_path(xr, "status.conditions")
    for c in conditions if isinstance(conditions, list) else ():
        if isinstance(c, dict) and c.get("type") == RESPONSIVE and c.get("status") == "False" \
                and c.get("reason") == WATCH_CIRCUIT_OPEN:
            return structs.timestamp(c.get("lastTransitionTime")) or 0.0
    return None


def _service_lb_count(value: object, inp: Input, who: str) -> int | None:
    """The service-lb count annotation: a whole number from 0 to 32, or unset.

    Anything else is Fatal: read as fewer, it would release addresses Services may use; read
    as more, it would claim addresses nobody asked for.
    """
    if value is None or value == "":
        return None
    text = value.strip() if isinstance(value, str) else None
    if text is None or not (text.isascii() and text.isdigit()) or int(text) > MAX_SERVICE_LB:
        msg = (
            f"{who}: annotation {inp.annotations.service_lb_count}={_short(value)} must be a whole number "
            f"from 0 to {MAX_SERVICE_LB}; set it, or remove it for the Composition's default "
            f"({inp.roles.service_lb.default_count})"
        )
        raise Fatal(msg)
    return int(text)


def _switched_off(value: object, key: str, who: str, what: str) -> bool:
    """An on/off annotation: "false" turns it off, "true" or nothing leaves it on; anything else is
    Fatal (see _ingress_disabled)."""
    if value is None or value == "":
        return False
    text = value.strip().lower() if isinstance(value, str) else None
    if text in ("true", "false"):
        return text == "false"
    msg = f"{who}: annotation {key}={_short(value)} must be \"true\" or \"false\"; set it to \"false\" to turn {what} off, or remove it"
    raise Fatal(msg)


def _ingress_disabled(value: object, inp: Input, who: str) -> bool:
    """The ingress-enabled annotation: "false" turns ingress off, "true" or nothing leaves it on.

    Anything else is Fatal: read as on, it would claim an address the user meant to turn
    off; read as off, it would release an ingress VIP a live cluster uses.
    """
    return _switched_off(value, inp.annotations.ingress_enabled, who, "the ingress VIP")


def _class_ref(topology: dict, where: str) -> tuple[str, str | None]:
    """The ClusterClass named by either API version's shape."""
    ref = topology.get("classRef")
    if ref is not None:
        if not isinstance(ref, dict):
            msg = f"{where}.classRef must be an object with name (and optionally namespace)"
            raise Fatal(msg)
        name = _string(ref.get("name"), f"{where}.classRef.name")
        ns = _string(ref.get("namespace"), f"{where}.classRef.namespace", required=False)
        if topology.get("class") not in (None, name):
            msg = f"{where} names two ClusterClasses (class and classRef.name); keep one"
            raise Fatal(msg)
        return name, ns
    if topology.get("class") is None:
        xr_label, _, path = where.rpartition(": ")
        msg = f"{xr_label}: {path}.class (v1beta1) or {path}.classRef.name (v1beta2) is required: name the ClusterClass"
        raise Fatal(msg)
    name = _string(topology.get("class"), f"{where}.class")
    ns = _string(topology.get("classNamespace"), f"{where}.classNamespace", required=False)
    return name, ns


def _variables(value: object, where: str) -> None:
    """Topology variables are passed through, so they must have the shape CAPI requires."""
    if value is None:
        return
    if not isinstance(value, list):
        msg = f"{where} must be a list of {{name, value}} objects, but it is a {type(value).__name__}"
        raise Fatal(msg)
    for i, v in enumerate(value):
        if not isinstance(v, dict) or not isinstance(v.get("name"), str) or not v["name"]:
            msg = f"{where}[{i}] must be an object with a non-empty string name (and a value), but it is {_short(v)}"
            raise Fatal(msg)


def _endpoint(value: object, where: str) -> tuple[str | None, int | None]:
    """A manual host and the port; a port without a host is not a manual endpoint."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        msg = f"{where} must be an object with host and port"
        raise Fatal(msg)
    port = value.get("port")
    if port is not None and port != 0:
        if isinstance(port, float) and port.is_integer():
            port = int(port)  # JSON numbers arrive as floats through protobuf Structs
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            msg = f"{where}.port must be a whole number from 1 to 65535, but it is {_short(port)}"
            raise Fatal(msg)
    else:
        port = None
    host = value.get("host")
    if host is None or host == "":
        return None, port
    parsed = addresses.parse_host(host)
    if parsed is None:
        msg = (
            f"{where}.host={_short(host)} is neither an IP address nor an RFC 1123 DNS name; "
            "fix it, or remove it to allocate the VIP from a pool"
        )
        raise Fatal(msg)
    return parsed, port
