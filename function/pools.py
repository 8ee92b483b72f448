"""Which IPAM pool a new claim draws from.

A pool serves a ClusterClass and a role when it carries both labels:

    vip.capi.gorizond.io/cluster-class: <class>       (or "true" plus an annotation
    vip.capi.gorizond.io/role: control-plane|ingress   with the same key listing classes)

Among the pools that serve a cluster, the rule is, in order:

1. a pool whose status shows no free address is passed over while another has room;
2. namespaced pools (in the Cluster's namespace) before cluster-scoped ones;
3. more free addresses (status.ipAddresses.free) before fewer;
4. the pool name, so the choice is stable.

The rule applies only when a claim is first made: a claim's pool never changes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from function import addresses, ranges
from function.requirements import Fetched, Selector

if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Input, PoolKind

# The in-cluster IPAM provider serves only claims whose poolRef.apiGroup is exactly this.
API_GROUP = "ipam.cluster.x-k8s.io"


@dataclasses.dataclass(frozen=True)
class Pool:
    kind: PoolKind
    name: str
    namespace: str | None
    free: int | None  # None: the provider has not reported yet
    total: int | None
    spec: object = dataclasses.field(default=None, compare=False, repr=False)  # as fetched (ranges.read)

    @property
    def family(self) -> str | None:
        """IPv4 or IPv6, read from spec.addresses; None where they are unreadable or of both families."""
        return family_of_spec(self.spec)

    @property
    def exhausted(self) -> bool:
        return self.free is not None and self.free <= 0

    @property
    def label(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind.kind} {where}{self.name}"


@dataclasses.dataclass(frozen=True)
class Choice:
    """The outcome of pool selection for one role."""

    pool: Pool | None  # the pool to claim from; None if no pool has room or none matched
    candidates: tuple[Pool, ...]  # every matching pool, best first
    resolved: bool  # False while Crossplane has not yet fetched the pools


IPV4, IPV6 = "IPv4", "IPv6"


def family(ip: str | None) -> str | None:
    """The family of an address (canonical or not), or None for a name."""
    canonical = addresses.parse_ip(ip)
    if canonical is None:
        return None
    return IPV6 if ":" in canonical else IPV4


def other_family(name: str) -> str:
    return IPV4 if name == IPV6 else IPV6


def family_of_spec(spec: object) -> str | None:
    """A pool's family, from its spec.addresses (addresses, ranges a-b, prefixes), as the in-cluster provider
    writes them; None where any entry cannot be read or the entries are of both families."""
    listed = spec.get("addresses") if isinstance(spec, dict) else None
    if not isinstance(listed, list) or not listed:
        return None
    try:
        seen = {ranges.span(entry)[0].version for entry in listed}  # the provider's forms, read in one place
    except ranges.Unreadable:
        return None
    return (IPV4 if seen == {4} else IPV6) if len(seen) == 1 else None


def requirements(inp: Input, role_value: str, class_name: str, namespace: str) -> dict[str, Selector]:
    """The selectors that fetch every pool that may serve this class and role.

    Two per pool kind: the exact form (label value = class name) and the operator's
    list form (label value "true", class names in the annotation). A class name that
    cannot be a label value is served by the list form alone.
    """
    out: dict[str, Selector] = {}
    forms = {"list": "true"}
    if addresses.is_label_value(class_name):
        forms["exact"] = class_name
    for kind in inp.ipam.pool_kinds:
        for form, value in sorted(forms.items()):
            out[f"pools/{role_value}/{kind.kind}/{form}"] = Selector(
                api_version=kind.api_version,
                kind=kind.kind,
                labels={inp.labels.cluster_class: value, inp.labels.role: role_value},
                namespace=namespace if kind.namespaced else None,
            )
    return out


def serves(pool: dict, inp: Input, role_value: str, class_name: str) -> bool:
    """Whether a fetched pool object carries the labels for this class and role."""
    meta = pool.get("metadata")
    if not isinstance(meta, dict):
        return False
    labels = meta.get("labels")
    if not isinstance(labels, dict) or labels.get(inp.labels.role) != role_value:
        return False
    value = labels.get(inp.labels.cluster_class)
    if value == class_name:
        return True
    if value != "true":
        return False
    annotations = meta.get("annotations")
    listed = annotations.get(inp.labels.cluster_class) if isinstance(annotations, dict) else None
    if not isinstance(listed, str):
        return False
    return class_name in {c.strip() for c in listed.split(",")}


def count(status: object, field: str) -> int | None:
    """A figure of a pool's status.ipAddresses (free, total), or None if not reported."""
    if not isinstance(status, dict):
        return None
    ips = status.get("ipAddresses")
    value = ips.get(field) if isinstance(ips, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value)


def choose(
    inp: Input, fetched: Fetched, role_value: str, class_name: str, reqs: dict[str, Selector], namespace: str,
    family: str | None = None,
) -> Choice:
    """Apply the selection rule to the pools Crossplane fetched for reqs (see requirements).

    ``family``: only pools of that address family (dual stack); a pool whose family cannot be read
    from its spec.addresses is none of them."""
    resolved = all(fetched.resolved(name) for name in reqs)
    seen: dict[tuple[str, str | None, str], Pool] = {}
    for req_name, selector in reqs.items():
        kind = next(k for k in inp.ipam.pool_kinds if k.kind == selector.kind and k.api_version == selector.api_version)
        for obj in fetched.items(req_name):
            if obj.get("kind") not in (None, kind.kind) or not serves(obj, inp, role_value, class_name):
                continue
            meta = obj["metadata"]
            name = meta.get("name")
            ns = meta.get("namespace") if kind.namespaced else None
            if not isinstance(name, str) or not name:
                continue
            # Crossplane before v2.2 ignores the selector's namespace: filter here.
            if kind.namespaced and ns != namespace:
                continue
            if meta.get("deletionTimestamp"):
                continue  # being deleted: the provider allocates nothing from it
            if family is not None and family_of_spec(obj.get("spec")) != family:
                continue
            status = obj.get("status")
            seen[(kind.kind, ns, name)] = Pool(
                kind=kind, name=name, namespace=ns, free=count(status, "free"), total=count(status, "total"),
                spec=obj.get("spec"),
            )
    ranked = tuple(
        sorted(seen.values(), key=lambda p: (p.exhausted, not p.kind.namespaced, -(p.free or 0), p.name, p.kind.kind))
    )
    best = ranked[0] if ranked and not ranked[0].exhausted else None
    return Choice(pool=best, candidates=ranked, resolved=resolved)


def api_group(api_version: str) -> str:
    """The API group of an apiVersion: ipam.cluster.x-k8s.io/v1alpha2 -> ipam.cluster.x-k8s.io."""
    return api_version.rpartition("/")[0]
