"""DNS names for the VIPs: one external-dns DNSEndpoint per XR, an A or AAAA record per VIP.

Optional (Input ``dns``). The records name the VIPs the composed Cluster carries: its
endpoint host when that is an IP address, and its ingress VIP. external-dns (source
``crd``) publishes them, and marks the generation it has read in
``status.observedGeneration``: the DNSEndpoint is ready once that is the generation the
function last applied, with the records it wants.

The endpoint host stays the VIP. A ClusterClass that defines the DNS variable
(``clusterDnsName``) gets the control-plane name in it, for the API server's certificate
SANs; a live Cluster keeps the name it carries, as it keeps its ``clusterVip``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import TYPE_CHECKING

from function import addresses, structs

if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Dns

RESOURCE = "vip-dns"
API_VERSION = "externaldns.k8s.io/v1alpha1"
KIND = "DNSEndpoint"
OBJECT_NAME = "vip-dns-{cluster}"


@dataclasses.dataclass(frozen=True)
class Record:
    """One A or AAAA record: a name and the VIP it resolves to."""

    role: str  # control-plane or ingress
    name: str
    vip: str

    @property
    def record_type(self) -> str:
        return "AAAA" if ipaddress.ip_address(self.vip).version == 6 else "A"


@dataclasses.dataclass(frozen=True)
class ObservedEndpoint:
    name: str
    namespace: str
    endpoints: list | None  # spec.endpoints as observed; None when it is not a list
    ready: bool  # external-dns has read this generation


def object_name(cluster: str) -> str:
    return OBJECT_NAME.replace("{cluster}", cluster)


def fill(template: str, cluster: str, namespace: str, zone: str) -> str:
    """A record's name: the Input's template with {cluster} and {namespace} filled in, in the zone."""
    return f"{template.replace('{cluster}', cluster).replace('{namespace}', namespace)}.{zone}"


def valid_name(name: str) -> bool:
    """A name external-dns can publish: an RFC 1123 name, whose first label may be the wildcard '*'."""
    head, _, rest = name.partition(".")
    if head == "*":
        return bool(rest) and addresses.is_dns_name(rest) and len(name) <= 253
    return addresses.is_dns_name(name)


def render(dns: Dns, cluster: str, namespace: str, records: list[Record]) -> dict:
    endpoints = []
    for r in records:
        ep: dict = {"dnsName": r.name, "recordType": r.record_type, "targets": [r.vip]}
        if dns.record_ttl is not None:
            ep["recordTTL"] = dns.record_ttl
        endpoints.append(ep)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": object_name(cluster), "namespace": namespace},
        "spec": {"endpoints": endpoints},
    }


def keep(observed: ObservedEndpoint) -> dict:
    """The DNSEndpoint exactly as observed (its records, nothing else): while there is no Cluster to read."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": observed.name, "namespace": observed.namespace},
        "spec": {"endpoints": observed.endpoints},
    }


def read_observed(obj: object) -> ObservedEndpoint | None:
    """The observed DNSEndpoint, or None when its name cannot be read."""
    meta = structs.named_meta(obj)
    if meta is None:
        return None
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    endpoints = spec.get("endpoints", [])
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    generation, seen = meta.get("generation"), status.get("observedGeneration")
    ready = isinstance(generation, (int, float)) and isinstance(seen, (int, float)) and seen >= generation
    return ObservedEndpoint(
        name=meta["name"],
        namespace=meta["namespace"],
        endpoints=structs.plain(endpoints) if isinstance(endpoints, list) else None,
        ready=ready,
    )
