"""IPAddressClaims: how the function asks IPAM for a VIP, and reads the answer.

A claim carries only what the function owns: its role label and its poolRef.
It never carries ``spec.clusterName`` or the ``cluster.x-k8s.io/cluster-name``
label: IPAM providers skip such a claim until its Cluster exists, and the
Cluster is only composed once the VIP is known, so that would deadlock.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from function import addresses, pools
from function.requirements import Fetched, Selector
from function.structs import describe, timestamp

if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Input, Role


@dataclasses.dataclass(frozen=True)
class PoolRef:
    api_group: str
    kind: str
    name: str

    def to_dict(self) -> dict:
        ref = {"apiGroup": self.api_group} if self.api_group else {}  # as observed: absent stays absent
        return {**ref, "kind": self.kind, "name": self.name}

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"



@dataclasses.dataclass(frozen=True)
class Claim:
    """A claim the function composes (new) or keeps (observed)."""

    name: str
    namespace: str
    pool_ref: PoolRef
    address_name: str | None = None  # status.addressRef.name once IPAM has bound it
    deleting: bool = False  # metadata.deletionTimestamp is set: IPAM frees its address soon
    created: float | None = None  # metadata.creationTimestamp, seconds since the epoch; None for a new claim

    @property
    def bound(self) -> bool:
        """Bound, and staying: a claim being deleted holds its address only until IPAM lets go."""
        return self.address_name is not None and not self.deleting

    @property
    def label(self) -> str:
        return f"IPAddressClaim {self.namespace}/{self.name}"


def name_for(role: Role, cluster: str) -> str:
    return role.claim_name.replace("{cluster}", cluster)


def new(role: Role, cluster: str, namespace: str, pool: pools.Pool) -> Claim:
    ref = PoolRef(api_group=pools.api_group(pool.kind.api_version), kind=pool.kind.kind, name=pool.name)
    return Claim(name=name_for(role, cluster), namespace=namespace, pool_ref=ref)


def read_observed(obj: dict | None) -> Claim | None:
    """The claim Crossplane observed, or None if it has none (or one unreadable).

    An observed claim without a readable poolRef cannot be re-emitted faithfully; the
    caller treats None-with-an-observed-object as a Fatal condition, never as absence.
    """
    if not isinstance(obj, dict):
        return None
    meta, spec, status = obj.get("metadata"), obj.get("spec"), obj.get("status")
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        return None
    name, namespace, ref = meta.get("name"), meta.get("namespace"), spec.get("poolRef")
    if not isinstance(name, str) or not isinstance(namespace, str) or not isinstance(ref, dict):
        return None
    group, kind, pool = ref.get("apiGroup"), ref.get("kind"), ref.get("name")
    if not all(isinstance(v, str) and v for v in (kind, pool)):
        return None
    address_ref = status.get("addressRef") if isinstance(status, dict) else None
    address_name = address_ref.get("name") if isinstance(address_ref, dict) else None
    return Claim(
        name=name,
        namespace=namespace,
        pool_ref=PoolRef(api_group=group if isinstance(group, str) else "", kind=kind, name=pool),
        address_name=address_name if isinstance(address_name, str) and address_name else None,
        deleting=bool(meta.get("deletionTimestamp")),
        created=timestamp(meta.get("creationTimestamp")),
    )


def render(inp: Input, role: Role, claim: Claim) -> dict:
    """The desired IPAddressClaim: only the fields this function owns."""
    return {
        "apiVersion": inp.ipam.claim_api_version,
        "kind": "IPAddressClaim",
        "metadata": {
            "name": claim.name,
            "namespace": claim.namespace,
            "labels": {inp.labels.role: role.label_value},
        },
        "spec": {"poolRef": claim.pool_ref.to_dict()},
    }


def address_selector(inp: Input, claim: Claim) -> Selector:
    """The bound IPAddress: named as in the claim's status.addressRef, in the claim's namespace."""
    return Selector(
        api_version=inp.ipam.address_api_version, kind="IPAddress", name=claim.address_name, namespace=claim.namespace
    )


@dataclasses.dataclass(frozen=True)
class Address:
    resolved: bool  # Crossplane answered the requirement
    value: str | None  # the canonical IP, when found and valid
    problem: str | None = None  # why an IPAddress that was found is unusable


def read_address(inp: Input, fetched: Fetched, requirement: str, claim: Claim) -> Address:
    if not fetched.resolved(requirement):
        return Address(resolved=False, value=None)
    sel = address_selector(inp, claim)
    obj = fetched.find(requirement, sel)
    if obj is None:
        return Address(resolved=True, value=None)
    spec = obj.get("spec")
    raw = spec.get("address") if isinstance(spec, dict) else None
    value = addresses.parse_ip(raw)
    if value is None:
        where = f"IPAddress {claim.namespace}/{claim.address_name} bound to {claim.label}"
        found = f"spec.address={raw!r}" if isinstance(spec, dict) else f"a spec that is {describe(spec)}"
        problem = (
            f"{where} has {found}, which is not an IP address; check the IPAM provider of {claim.pool_ref.label}"
        )
        return Address(resolved=True, value=None, problem=problem)
    return Address(resolved=True, value=value)
