"""Which addresses a pool can hand out: its spec read as the in-cluster IPAM provider reads it.

The provider (v1.0, internal/poolutil PoolSpecToIPSet) allocates from ``spec.addresses`` (single
addresses, ``a-b`` ranges and CIDR prefixes) minus ``spec.excludedAddresses`` (the same forms), minus
``spec.gateway``, and, unless ``spec.allocateReservedIPAddresses`` is true, minus the network address
of the first address's prefix (``spec.prefix``) and, for IPv4, its broadcast address.

Used to check a manual VIP: one that the pool can hand out may be given to another cluster.
"""

from __future__ import annotations

import dataclasses
import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Unreadable(ValueError):
    """A pool spec this reading cannot follow: one the provider's webhook refuses, or another
    provider's or API version's pool."""


@dataclasses.dataclass(frozen=True)
class Allocatable:
    ranges: tuple[tuple[Address, Address], ...]
    excluded: tuple[tuple[Address, Address], ...]
    reserved: frozenset[Address]  # gateway, network, broadcast
    listed: tuple[str, ...]  # spec.addresses as written, for messages

    def can_hand_out(self, ip: str) -> bool:
        """Whether the provider may allocate ip from this pool."""
        addr = ipaddress.ip_address(ip)
        if addr in self.reserved or self.excludes(ip):
            return False
        return any(_within(addr, lo, hi) for lo, hi in self.ranges)

    def excludes(self, ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        return any(_within(addr, lo, hi) for lo, hi in self.excluded)


def _within(addr: Address, lo: Address, hi: Address) -> bool:
    return addr.version == lo.version and lo <= addr <= hi


def span(text: object) -> tuple[Address, Address]:
    """One entry of spec.addresses or spec.excludedAddresses (an address, a range a-b, a prefix): its first and last."""
    if not isinstance(text, str) or not text:
        raise Unreadable(f"{text!r} is not an address, a range a-b, or a prefix")
    try:
        if "-" in text:
            lo, hi = (ipaddress.ip_address(p.strip()) for p in text.split("-", 1))
            if lo.version != hi.version or lo > hi:
                raise Unreadable(f"{text!r} is not a range")
            return lo, hi
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            return net[0], net[-1]
        addr = ipaddress.ip_address(text)
        return addr, addr
    except ValueError as e:
        raise Unreadable(f"{text!r}: {e}") from None


def read(spec: object) -> Allocatable:
    """The pool's allocatable addresses; Unreadable names what cannot be read."""
    if not isinstance(spec, dict):
        raise Unreadable("the pool has no spec")
    listed = spec.get("addresses")
    if not isinstance(listed, list) or not listed:
        raise Unreadable("spec.addresses is not a list of addresses")
    ranges = tuple(span(a) for a in listed)
    excluded_spec = spec.get("excludedAddresses") or []
    if not isinstance(excluded_spec, list):
        raise Unreadable("spec.excludedAddresses is not a list")
    excluded = tuple(span(a) for a in excluded_spec)
    reserved: set[Address] = set()
    gateway = spec.get("gateway")
    if gateway:
        try:
            reserved.add(ipaddress.ip_address(gateway))
        except ValueError:
            raise Unreadable(f"spec.gateway {gateway!r} is not an address") from None
    if spec.get("allocateReservedIPAddresses") is not True:
        if len({lo.version for lo, _ in ranges}) > 1:
            # The network address comes from spec.prefix and the lowest address, which both families do not share
            # (the provider's webhook refuses such a pool).
            raise Unreadable("spec.addresses holds both IPv4 and IPv6 addresses")
        prefix = spec.get("prefix")
        if isinstance(prefix, bool) or not isinstance(prefix, int):
            raise Unreadable("spec.prefix is not a number")
        first = min(lo for lo, _ in ranges)  # the provider: the lowest address of the set
        try:
            net = ipaddress.ip_network(f"{first}/{prefix}", strict=False)
        except ValueError:
            raise Unreadable(f"spec.prefix {prefix} does not fit {first}") from None
        reserved.add(net[0])
        if net.version == 4:
            reserved.add(net[-1])
    return Allocatable(ranges=ranges, excluded=excluded, reserved=frozenset(reserved), listed=tuple(map(str, listed)))
