"""Who names an address: the one question asked before any claim is released.

A claim is released so that IPAM may give its address to another cluster. That is safe only when
nothing of this XR still names the address: a value the XR sets itself (its endpoint host, its
ingress-vip annotation, a secondary or service-lb variable it writes), whether or not it is applied
right now (ingress turned off, say: the value is applied again once it is on), or a position of the
live Cluster other than the one the claim serves (its endpoint, ingress annotation, VIP variables,
service-lb list). Everything here is read before anything is decided, so the answer is the same for
every slot, whatever order the slots are decided in. (Published DNS records are the other namer:
compose.py holds a release until external-dns has read them without the address.)
"""

from __future__ import annotations

import dataclasses

from function import addresses

SERVICE_LB = "service-lb"  # every service-lb slot ("service-lb-<i>") shares the Cluster's list


@dataclasses.dataclass(frozen=True)
class Name:
    address: str  # canonical
    slot: str | None  # the slot whose position on the live Cluster this is; None: a value the XR sets
    where: str  # what names it, for messages: "the annotation ... of XR ...", "Cluster ns/name's ingress VIP"


def _ip(value: object) -> str | None:
    return addresses.parse_ip(value) if isinstance(value, str) else None


def own(values: list[tuple[object, str]]) -> list[Name]:
    """The values the XR sets itself, each with where it sets it."""
    return [n for value, where in values for n in _named(None, value, where)]


def live(positions: list[tuple[str, object, str]]) -> list[Name]:
    """The positions of the live Cluster: (the slot that owns the position, its value, what it is)."""
    return [n for slot, value, where in positions for n in _named(slot, value, where)]


def _named(slot: str | None, value: object, where: str) -> list[Name]:
    """The addresses one value names: a list (a service-lb variable) names each of its elements."""
    return [Name(ip, slot, where) for v in (value if isinstance(value, list) else [value]) if (ip := _ip(v)) is not None]


def _same_slot(a: str, b: str) -> bool:
    return a == b or (a.startswith(SERVICE_LB) and b.startswith(SERVICE_LB))


def named_elsewhere(names: list[Name], slot: str, address: str) -> Name | None:
    """What, other than the slot's own place on the live Cluster, names the address; None: nothing."""
    return next((n for n in names if n.address == address and (n.slot is None or not _same_slot(n.slot, slot))), None)


def carried_in(names: list[Name], slot: str, address: str) -> bool:
    """Whether the live Cluster carries the address in the slot's own place (any service-lb entry for a service-lb slot)."""
    return any(n.address == address and n.slot is not None and _same_slot(n.slot, slot) for n in names)


def carried(names: list[Name], address: str) -> Name | None:
    """The position of the live Cluster, the slot's own included, that still carries the address; None: none.

    A release waits for it: Crossplane deletes what a response leaves out before it applies the Cluster, and an
    apply CAPI refuses (a version change while the control plane provisions, a variable the class lost) leaves the
    Cluster as it was; a claim deleted on the strength of the desired Cluster alone would free an address a live
    Cluster still carries, for IPAM to give to another."""
    return next((n for n in names if n.address == address and n.slot is not None), None)
