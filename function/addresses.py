"""What counts as an address or a host: the checks every VIP passes before use."""

from __future__ import annotations

import ipaddress
import re

# RFC 1123 host name: dot-separated labels of letters, digits and '-', each at most 63.
_DNS_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?$")

# Kubernetes object names (DNS-1123 subdomain), as for IPAddressClaim and IPAddress.
_OBJECT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def parse_ip(value: object) -> str | None:
    """The canonical text of an IPv4 or IPv6 address, or None if value is not one.

    Prefix lengths and zone indices are refused: a VIP is one address.
    """
    if not isinstance(value, str) or not value or len(value) > 64 or value != value.strip():
        return None
    if "/" in value or "%" in value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def entry_for(values: object, address: object) -> str | None:
    """The entry of a list of addresses that is ``address`` (compared in canonical form: fd00::10 is
    fd00:0:0:0:0:0:0:10), as the list writes it; None where there is none."""
    ip = parse_ip(address)
    if ip is None or not isinstance(values, list):
        return None
    return next((v for v in values if isinstance(v, str) and parse_ip(v) == ip), None)


def once(values: list[str]) -> list[str]:
    """The list with each address once (the first entry of each, compared in canonical form)."""
    seen: set[str] = set()
    out = []
    for v in values:
        key = parse_ip(v) or v
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def is_dns_name(value: str) -> bool:
    """True for an RFC 1123 host name such as api.example.com."""
    if not value or len(value) > 253:
        return False
    labels = value[:-1].split(".") if value.endswith(".") else value.split(".")
    if all(label.isdigit() for label in labels):
        return False  # digits only: a malformed IPv4 address, not a name
    return all(_DNS_LABEL.match(label) for label in labels)


def parse_host(value: object) -> str | None:
    """An endpoint host: an IP address (canonicalised) or an RFC 1123 DNS name."""
    ip = parse_ip(value)
    if ip is not None:
        return ip
    if isinstance(value, str) and is_dns_name(value):
        return value
    return None


def is_object_name(value: str) -> bool:
    """True for a valid Kubernetes object name (DNS-1123 subdomain, at most 253)."""
    return 0 < len(value) <= 253 and bool(_OBJECT_NAME.match(value))


def is_label_value(value: str) -> bool:
    """True for a value that a label selector can match."""
    return len(value) <= 63 and bool(re.match(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$", value))
