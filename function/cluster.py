"""The composed CAPI Cluster: the user's spec, plus the endpoint and VIP variables.

The Cluster is emitted in the configured API version. The ClusterClass reference
is converted to that version's shape (``class`` + ``classNamespace`` in v1beta1,
``classRef {name, namespace}`` in v1beta2); every other field passes through as
the user wrote it. Fields CAPI fills in (``infrastructureRef``,
``controlPlaneRef``, status) are never copied from the observed Cluster.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from function import addresses, structs

if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Input

V1BETA2 = "cluster.x-k8s.io/v1beta2"


@dataclasses.dataclass(frozen=True)
class ObservedCluster:
    """What the function reads back from the Cluster Crossplane observed."""

    name: str
    namespace: str
    host: str | None  # spec.controlPlaneEndpoint.host; never changes once set
    port: int | None
    variables: dict[str, object]  # our VIP variables as the Cluster carries them
    # The live ingress VIP: the ingress variable's, where the Cluster carries one (the workload cluster is rendered from
    # it), else the annotation's (first), as capi-vip-allocator leaves it.
    ingress: str | None
    ready: bool
    deleting: bool = False  # metadata.deletionTimestamp is set
    ingress_secondary: str | None = None  # the annotation's second VIP, once read as a pair (see as_pair)
    ingress_pair: tuple[str, str] | None = None  # the annotation's two VIPs, where it holds two ("<primary>,<secondary>")
    kept: frozenset[str] = frozenset()  # VIP variables left as found when the Cluster was adopted (Input annotations.keptVariables)
    ingress_from_variable: bool = False  # the live ingress VIP is the ingress variable's
    ingress_annotated: str | None = None  # the annotation's ingress VIP (a single address), whatever the variable says

    def as_pair(self) -> ObservedCluster:
        """The Cluster with its ingress annotation read as a dual-stack pair (where the ingress role has one)."""
        if self.ingress_pair is None:
            return self
        primary = self.ingress if self.ingress_from_variable else self.ingress_pair[0]
        return dataclasses.replace(self, ingress=primary, ingress_secondary=self.ingress_pair[1])

    @property
    def label(self) -> str:
        return f"Cluster {self.namespace}/{self.name}"

    @property
    def variables_set(self) -> frozenset[str]:
        """The VIP variables the Cluster carries with a value (not "", not an empty list)."""
        return frozenset(name for name, value in self.variables.items() if value)


def variable_names(inp: Input) -> set[str]:
    """The topology variables the function reads back: the roles' VIPs and service-lb addresses, and the DNS
    name where dns is on."""
    names = {inp.roles.control_plane.variable, inp.roles.ingress.variable, inp.roles.service_lb.variable,
             *(secondary_variable(inp, r) for r in (inp.roles.control_plane, inp.roles.ingress))}
    if inp.dns is not None:
        names.add(inp.dns.variable)
    return names


def _condition_true(status: object, typ: str) -> bool:
    conditions = status.get("conditions") if isinstance(status, dict) else None
    if not isinstance(conditions, list):
        return False
    return any(isinstance(c, dict) and c.get("type") == typ and c.get("status") == "True" for c in conditions)


def read_observed(obj: dict | None, inp: Input) -> ObservedCluster | None:
    """The observed Cluster, or None if it is absent or has no readable name."""
    meta = structs.named_meta(obj)
    if meta is None:
        return None
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    endpoint = spec.get("controlPlaneEndpoint") if isinstance(spec.get("controlPlaneEndpoint"), dict) else {}
    host = endpoint.get("host") if isinstance(endpoint.get("host"), str) and endpoint.get("host") else None
    port = endpoint.get("port")
    port = int(port) if isinstance(port, (int, float)) and not isinstance(port, bool) and 0 < port < 65536 else None
    wanted = variable_names(inp)
    topology = spec.get("topology") if isinstance(spec.get("topology"), dict) else {}
    variables = {}
    for v in topology.get("variables") or []:
        if isinstance(v, dict) and v.get("name") in wanted and "value" in v:
            variables[v["name"]] = structs.plain(v["value"])
    annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    raw_ingress = annotations.get(inp.annotations.ingress_vip)
    ingress_variable = variables.get(inp.roles.ingress.variable)
    ingress_variable = addresses.parse_ip(ingress_variable) if isinstance(ingress_variable, str) else None
    # v1beta2 summarises health in Available; v1beta1 in Ready.
    ready_type = "Available" if obj.get("apiVersion") == V1BETA2 else "Ready"
    status = obj.get("status")
    return ObservedCluster(
        name=meta["name"],
        namespace=meta["namespace"],
        host=host,
        port=port,
        variables=variables,
        ingress=ingress_variable or addresses.parse_ip(raw_ingress),
        ingress_from_variable=ingress_variable is not None,
        ingress_annotated=addresses.parse_ip(raw_ingress),
        ready=_condition_true(status, ready_type),
        deleting=bool(meta.get("deletionTimestamp")),
        ingress_pair=_ingress_pair(raw_ingress),
        kept=read_kept(annotations.get(inp.annotations.kept_variables),
                       {inp.roles.control_plane.variable, inp.roles.ingress.variable}),
    )


def read_kept(value: object, names: set[str]) -> frozenset[str]:
    """The VIP variables a kept-variables annotation names, of those that may be kept (clusterVip and ingressVip:
    the others come with claims that a kept variable would leave holding addresses no Cluster lists); the rest, and
    anything unreadable, ignored."""
    if not isinstance(value, str):
        return frozenset()
    return frozenset(v.strip() for v in value.split(",") if v.strip() in names)


def _ingress_pair(value: object) -> tuple[str, str] | None:
    """Two addresses, comma-separated (a dual-stack pair, as kube-vip reads it), or None."""
    if isinstance(value, str) and value.count(",") == 1:
        first, second = (addresses.parse_ip(part) for part in value.split(","))
        if first and second:
            return first, second
    return None


def secondary_variable(inp: Input, role: object) -> str:
    """The topology variable of a role's other-family VIP: the Input's, or the role's variable followed by Secondary."""
    return role.secondary_variable or f"{role.variable}Secondary"


def _class_parts(topology: dict) -> tuple[object, object]:
    """The class name and namespace as written, in either version's shape."""
    ref = topology.get("classRef")
    if isinstance(ref, dict):
        return ref.get("name"), ref.get("namespace")
    return topology.get("class"), topology.get("classNamespace")


def _convert_class_ref(topology: dict, api_version: str) -> None:
    """Rewrite the class reference in place into the emitted version's shape."""
    name, ns = _class_parts(topology)
    topology.pop("classRef", None)
    topology.pop("class", None)
    topology.pop("classNamespace", None)
    if api_version == V1BETA2:
        topology["classRef"] = {"name": name, **({"namespace": ns} if ns else {})}
    else:
        topology["class"] = name
        if ns:
            topology["classNamespace"] = ns


def render(
    inp: Input,
    *,
    name: str,
    namespace: str,
    spec: dict,
    host: str | None,
    port: int,
    variables: dict[str, str],
    ingress_vip: str | None,
    ingress_secondary: str | None = None,
    managed: frozenset[str] = frozenset(),
    as_found: frozenset[str] = frozenset(),
) -> dict:
    """The desired Cluster.

    ``variables`` are the VIP variables to set; any variable of the same names the
    user wrote is replaced, every other variable is kept as written. ``as_found``: VIP variables the
    adopted Cluster keeps as found, recorded in its kept-variables annotation (never set here).
    """
    # Shallow copies: nothing below is changed in place, so the user's spec is never modified.
    out_spec = dict(spec)
    out_spec.pop("controlPlaneEndpoint", None)
    if host is not None:
        out_spec["controlPlaneEndpoint"] = {"host": host, "port": port}
    topology = out_spec["topology"] = dict(out_spec["topology"])
    _convert_class_ref(topology, inp.cluster.api_version)
    # The VIP variables are always the function's; the DNS variable only where it sets one.
    # ``managed``: variables the function decides (a dual-stack pair's), set or not, never passed through.
    ours = {inp.roles.control_plane.variable, inp.roles.ingress.variable, *variables, *managed}
    kept = [v for v in topology.get("variables") or [] if not (isinstance(v, dict) and v.get("name") in ours)]
    kept.extend({"name": n, "value": v} for n, v in variables.items())
    if kept:
        topology["variables"] = kept
    else:
        # v1beta2 rejects an empty list (minItems: 1).
        topology.pop("variables", None)
    meta: dict = {"name": name, "namespace": namespace}
    if ingress_vip is not None:
        pair = f"{ingress_vip},{ingress_secondary}" if ingress_secondary else ingress_vip
        meta["annotations"] = {inp.annotations.ingress_vip: pair}
    if as_found:
        meta.setdefault("annotations", {})[inp.annotations.kept_variables] = ",".join(sorted(as_found))
    return {"apiVersion": inp.cluster.api_version, "kind": "Cluster", "metadata": meta, "spec": out_spec}
