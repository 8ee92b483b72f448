"""The pydantic model that validates an Input; loaded only when a step carries one (see input.py).

Its defaults are input.DEFAULT's values (tests/test_input.py keeps them equal), so a step
without an Input and one with an empty Input get the same values.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from function import addresses, dns
from function.input import API_VERSION, KIND, MAX_SERVICE_LB, parse_duration

# Kubernetes qualified name, as used for label and annotation keys.
_QUALIFIED_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_API_VERSION = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?v[0-9]+((alpha|beta)[0-9]+)?$")
_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


def _check_key(text: str) -> str:
    if len(text) > 316 or not _QUALIFIED_KEY.match(text):
        msg = f"{text!r} is not a valid Kubernetes label or annotation key"
        raise ValueError(msg)
    return text


def _check_label_value(text: str) -> str:
    if not text or len(text) > 63 or not _LABEL_VALUE.match(text):
        msg = f"{text!r} is not a valid Kubernetes label value"
        raise ValueError(msg)
    return text


def _check_api_version(text: str) -> str:
    if not _API_VERSION.match(text):
        msg = f"{text!r} is not an apiVersion such as ipam.cluster.x-k8s.io/v1beta1"
        raise ValueError(msg)
    return text


def _check_claim_name(text: str) -> str:
    if "{cluster}" not in text:
        msg = f"{text!r} must contain {{cluster}}, or every cluster would share one claim"
        raise ValueError(msg)
    probe = text.replace("{cluster}", "x")
    if not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", probe):
        msg = f"{text!r} does not give a valid object name (lower-case letters, digits, '-', '.')"
        raise ValueError(msg)
    return text


def _check_field_path(text: str) -> str:
    if not _FIELD_PATH.match(text) or len(text) > 256:
        msg = f"{text!r} is not a dotted field path such as spec.cluster"
        raise ValueError(msg)
    return text


def _check_status_path(text: str) -> str:
    _check_field_path(text)
    if not text.startswith("status.") or text.count(".") < 1:
        msg = f"{text!r} must be below status, such as status.vip: the function writes only there"
        raise ValueError(msg)
    return text


Duration = Annotated[str, AfterValidator(_check_duration)]
Key = Annotated[str, AfterValidator(_check_key)]
LabelValue = Annotated[str, AfterValidator(_check_label_value)]
ApiVersion = Annotated[str, AfterValidator(_check_api_version)]
ClaimName = Annotated[str, AfterValidator(_check_claim_name)]
FieldPath = Annotated[str, AfterValidator(_check_field_path)]
StatusPath = Annotated[str, AfterValidator(_check_status_path)]
Kind = Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class Role(_Model):
    """How one kind of VIP (control plane or ingress) is found, claimed and published."""

    label_value: LabelValue = Field(description="Value of the role label that pools for this role carry.")
    variable: str = Field(
        min_length=1,
        max_length=256,
        description="ClusterClass variable that receives the VIP.",
    )
    claim_name: ClaimName = Field(
        description="Name of the IPAddressClaim; {cluster} is replaced by the Cluster's name."
    )
    secondary_variable: str | None = Field(
        default=None, min_length=1, max_length=256,
        description=("ClusterClass variable that receives the VIP of the other address family (dual stack); a class "
                     "that defines it gets a pair. Unset: the variable's name followed by Secondary."),
    )
    secondary_claim_name: ClaimName | None = Field(
        default=None,
        description="Name of the IPAddressClaim of the other family's VIP. Unset: the claim's name followed by -secondary.",
    )


class PoolKind(_Model):
    """A kind of IPAM pool that the function may claim from."""

    api_version: ApiVersion = Field(description="apiVersion of the pool kind.")
    kind: Kind = Field(description="Kind of the pool, such as InClusterIPPool.")
    namespaced: bool = Field(
        description="Namespaced pools are looked up in the Cluster's namespace and preferred over cluster-scoped ones."
    )


def _default_pool_kinds() -> list[PoolKind]:
    return [
        PoolKind(api_version="ipam.cluster.x-k8s.io/v1alpha2", kind="InClusterIPPool", namespaced=True),
        PoolKind(api_version="ipam.cluster.x-k8s.io/v1alpha2", kind="GlobalInClusterIPPool", namespaced=False),
    ]


class Labels(_Model):
    """Label keys on pools (and claims)."""

    cluster_class: Key = Field(
        default="vip.capi.gorizond.io/cluster-class",
        description=(
            "Pool label naming the ClusterClass it serves; the value 'true' means: read the class "
            "names from the annotation with the same key (comma-separated)."
        ),
    )
    role: Key = Field(default="vip.capi.gorizond.io/role", description="Pool and claim label naming the role.")


class Annotations(_Model):
    """Annotation keys read from the XR and written on the Cluster."""

    ingress_enabled: Key = Field(
        default="vip.capi.gorizond.io/ingress-enabled",
        description="XR annotation; the value \"false\" turns the ingress VIP off.",
    )
    ingress_vip: Key = Field(
        default="vip.capi.gorizond.io/ingress-vip",
        description="XR annotation with a manual ingress VIP; also written on the Cluster with the ingress VIP.",
    )
    service_lb_count: Key = Field(
        default="vip.capi.gorizond.io/service-lb-count",
        description="XR annotation: how many service load-balancer addresses the cluster gets (0 to 32).",
    )
    dual_stack: Key = Field(
        default="vip.capi.gorizond.io/dual-stack",
        description="XR annotation; the value \"false\" turns the VIPs of the second address family off (and releases them).",
    )
    release_address: Key = Field(
        default="vip.capi.gorizond.io/release-address",
        description="XR annotation: an address the control plane's claim keeps although the Cluster no longer carries it "
        "(its ClusterClass dropped clusterVip behind the XR's own DNS endpoint, so kube-vip may still hold it), which "
        "the platform engineer says nothing holds any more: the claim is then released. The warning that keeps the "
        "claim gives it.",
    )
    kept_variables: Key = Field(
        default="vip.capi.gorizond.io/kept-variables",
        description="Cluster annotation the function writes when it adopts a live Cluster (one with an endpoint): the VIP "
        "variables that Cluster did not carry (capi-vip-allocator never writes ingressVip, nor clusterVip under a manual "
        "endpoint), comma-separated. They are left as the Cluster has them, never set, so no template of its class is "
        "rendered anew and no machine rolls out.",
    )


def _check_indexed_claim_name(text: str) -> str:
    if "{index}" not in text:
        msg = f"{text!r} must contain {{index}}, or the claims of one cluster would share a name"
        raise ValueError(msg)
    _check_claim_name(text.replace("{index}", "0"))
    return text


class ServiceLb(_Model):
    """Service load-balancer addresses: a set per cluster, for type: LoadBalancer Services in it."""

    label_value: LabelValue = Field(default="service-lb", description="Value of the role label that service-lb pools carry.")
    variable: str = Field(
        default="serviceLbVips", min_length=1, max_length=256,
        description="ClusterClass variable (an array of strings) that receives the addresses; the set is wanted only where the class defines it.",
    )
    claim_name: Annotated[str, AfterValidator(_check_indexed_claim_name)] = Field(
        default="vip-lb-{cluster}-{index}",
        description="Name of the IPAddressClaims; {cluster} is the Cluster's name, {index} counts from 0.",
    )
    default_count: int = Field(
        default=3, ge=0, le=MAX_SERVICE_LB,
        description="How many addresses a cluster gets when its XR has no count annotation.",
    )


class Roles(_Model):
    """The kinds of address: for each, the pools' role label, the ClusterClass variable and the claim's name."""

    control_plane: Role = Role(label_value="control-plane", variable="clusterVip", claim_name="vip-cp-{cluster}")
    ingress: Role = Role(label_value="ingress", variable="ingressVip", claim_name="vip-ingress-{cluster}")
    service_lb: ServiceLb = ServiceLb()


class Cluster(_Model):
    """The composed CAPI Cluster."""

    api_version: Literal["cluster.x-k8s.io/v1beta1", "cluster.x-k8s.io/v1beta2"] = Field(
        default="cluster.x-k8s.io/v1beta1", description="apiVersion of the composed Cluster (v1beta2 uses topology.classRef)."
    )
    default_port: int = Field(default=6443, ge=1, le=65535, description="Control-plane port when the XR sets none.")
    cluster_class_api_version: Literal["cluster.x-k8s.io/v1beta1", "cluster.x-k8s.io/v1beta2"] = Field(
        default="cluster.x-k8s.io/v1beta1", description="apiVersion used to read ClusterClasses."
    )


class Ipam(_Model):
    """The IPAM API the function speaks: claims it makes, addresses it reads, pools it claims from."""

    claim_api_version: ApiVersion = Field(default="ipam.cluster.x-k8s.io/v1beta1",
                                          description="apiVersion of the IPAddressClaims the function composes.")
    address_api_version: ApiVersion = Field(default="ipam.cluster.x-k8s.io/v1beta1",
                                            description="apiVersion used to read the IPAddresses IPAM binds to them.")
    pool_kinds: list[PoolKind] = Field(
        default_factory=_default_pool_kinds, min_length=1, max_length=8,
        description="The kinds of pool looked up by their labels, in order of preference (namespaced ones first).")


class Xr(_Model):
    """Where the function reads and writes on the XR."""

    cluster_spec_path: FieldPath = Field(default="spec.cluster", description="The CAPI Cluster spec as the user writes it.")
    status_path: StatusPath = Field(default="status.vip", description="Where the VIPs are reported (below status).")


class Ttl(_Model):
    """How soon Crossplane calls the function again (the response's TTL)."""

    waiting: Duration = Field(default="15s", description="Response TTL while waiting on IPAM, a pool or a ClusterClass.")
    converged: Duration = Field(default="20m", description="Response TTL once every wanted VIP is in place.")


class ManualVips(_Model):
    """Manual VIPs (the XR's endpoint host, its ingress VIP annotation) checked against the pools."""

    check_pools: bool = Field(
        default=False,
        description=(
            "Check a manual VIP against the pools of its ClusterClass and role: one a pool can hand out "
            "(in spec.addresses, not in spec.excludedAddresses) may go to another cluster. A Cluster not yet "
            "composed is held back (condition reason ManualVIPInPool, naming the pool and the excludedAddresses "
            "line to add); a live one is warned about on every reconcile until the pool excludes it."
        ),
    )


class DualStack(_Model):
    """VIP pairs, one address of each family, where a ClusterClass defines a role's secondary variable."""

    primary_family: Literal["IPv4", "IPv6"] = Field(
        default="IPv4",
        description=("The family of the endpoint host and of the roles' variables; the secondary variables get the "
                     "other. A pool's family is read from its spec.addresses."),
    )


def _check_zone(text: str) -> str:
    if text.endswith(".") or not addresses.is_dns_name(text) or "." not in text:
        msg = f"{text!r} is not a DNS zone such as clusters.example.org (no trailing dot)"
        raise ValueError(msg)
    return text


def _record_template(text: str, *, required: bool) -> str:
    if not text and not required:
        return text
    if "{cluster}" not in text:
        msg = f"{text!r} must contain {{cluster}}, or every cluster would publish the same name"
        raise ValueError(msg)
    probe = text.replace("{cluster}", "x").replace("{namespace}", "x")
    if "{" in probe or "}" in probe or not dns.valid_name(f"{probe}.example.org"):
        msg = (f"{text!r} does not give a DNS name: labels of letters, digits and '-', a wildcard '*' only as the "
               "first label; {cluster} and {namespace} are the only placeholders")
        raise ValueError(msg)
    return text


class Dns(_Model):
    """DNS names for the VIPs: an external-dns DNSEndpoint (externaldns.k8s.io/v1alpha1) per XR."""

    zone: Annotated[str, AfterValidator(_check_zone)] = Field(
        description="The zone the names are made in, such as clusters.example.org (external-dns must serve it)."
    )
    control_plane_name: Annotated[str, AfterValidator(lambda t: _record_template(t, required=True))] = Field(
        default="{cluster}-api",
        description=("Name of the A/AAAA record of the control-plane VIP, before the zone; {cluster} and {namespace} "
                     "are the Cluster's. Use {namespace} where two namespaces may hold Clusters of one name."),
    )
    ingress_name: Annotated[str, AfterValidator(lambda t: _record_template(t, required=False))] = Field(
        default="*.{cluster}",
        description="Name of the A/AAAA record of the ingress VIP, before the zone; empty: no ingress record.",
    )
    variable: str = Field(
        default="clusterDnsName",
        min_length=1,
        max_length=256,
        description="ClusterClass variable that receives the control-plane name, where the class defines it (for certificate SANs).",
    )
    record_ttl: int | None = Field(
        default=None, ge=1, le=2147483647, alias="recordTTL",
        description="TTL of the records in seconds; unset: external-dns's provider default.",
    )

    def check_names(self) -> None:
        """The names in the real zone: each a DNS name (for a short cluster name), and not one for both roles."""
        cp = dns.fill(self.control_plane_name, "x", "y", self.zone)
        if not dns.valid_name(cp):
            msg = f"dns.controlPlaneName {self.control_plane_name!r} in dns.zone {self.zone!r} gives {cp!r}, which is not a DNS name (at most 253 characters)"
            raise ValueError(msg)
        if self.ingress_name:
            ing = dns.fill(self.ingress_name, "x", "y", self.zone)
            if not dns.valid_name(ing):
                msg = f"dns.ingressName {self.ingress_name!r} in dns.zone {self.zone!r} gives {ing!r}, which is not a DNS name (at most 253 characters)"
                raise ValueError(msg)
            if ing == cp:
                msg = "dns.controlPlaneName and dns.ingressName give the same name: the API server's name would resolve to the ingress VIP too"
                raise ValueError(msg)


class Input(_Model):
    """Input of function-capi-vip (apiVersion vip.fn.crossplane.io/v1beta1, kind Input)."""

    api_version: Literal["vip.fn.crossplane.io/v1beta1"] = API_VERSION
    kind: Literal["Input"] = KIND
    # Crossplane passes the Input object through whole; metadata is allowed and ignored.
    metadata: dict | None = None
    cluster: Cluster = Cluster()
    labels: Labels = Labels()
    annotations: Annotations = Annotations()
    roles: Roles = Roles()
    ipam: Ipam = Ipam()
    xr: Xr = Xr()
    ttl: Ttl = Ttl()
    manual_vips: ManualVips = ManualVips()
    dns: Dns | None = Field(default=None, description="DNS names for the VIPs (off when unset).")
    dual_stack: DualStack = DualStack()
    usage: Literal["Auto", "Protection", "None"] = Field(
        default="Auto",
        description=(
            "Compose a protection.crossplane.io Usage per claim, so a claim outlives the Cluster that uses it. "
            "Auto: when the XR is namespaced or Crossplane advertises its capabilities (both mean Crossplane v2). "
            "The legacy apiextensions.crossplane.io Usage cannot protect namespaced claims and is not offered."
        ),
    )

    @pydantic.model_validator(mode="after")
    def _distinct(self) -> Input:
        keys = {name: getattr(self.annotations, field) for field, name in (
            ("ingress_enabled", "ingressEnabled"), ("ingress_vip", "ingressVip"), ("service_lb_count", "serviceLbCount"),
            ("dual_stack", "dualStack"), ("release_address", "releaseAddress"), ("kept_variables", "keptVariables"))}
        for name, key in keys.items():
            same = [other for other, k in keys.items() if k == key and other != name]
            if same:
                msg = f"annotations.{name} and annotations.{same[0]} are both {key!r}: give each annotation a key of its own"
                raise ValueError(msg)
        cp, ing = self.roles.control_plane, self.roles.ingress
        if cp.label_value == ing.label_value:
            msg = "roles.controlPlane.labelValue and roles.ingress.labelValue must differ"
            raise ValueError(msg)
        if cp.claim_name == ing.claim_name:
            msg = "roles.controlPlane.claimName and roles.ingress.claimName must differ"
            raise ValueError(msg)
        if cp.variable == ing.variable:
            msg = "roles.controlPlane.variable and roles.ingress.variable must differ"
            raise ValueError(msg)
        named = [(f"roles.{k}.secondaryVariable", r.secondary_variable) for k, r in (("controlPlane", cp), ("ingress", ing))]
        resolved = {f: v or f"{r.variable}Secondary" for (f, v), r in zip(named, (cp, ing))}
        for field, variable in named:
            taken = {cp.variable, ing.variable, self.roles.service_lb.variable, *(v for f, v in resolved.items() if f != field),
                     *((self.dns.variable,) if self.dns is not None else ())}
            if variable is not None and variable in taken:
                msg = f"{field} {variable!r} is another variable of the Input's: give it a name of its own"
                raise ValueError(msg)
        names = [r.secondary_claim_name or f"{r.claim_name}-secondary" for r in (cp, ing)]
        if names[0] == names[1] or set(names) & {cp.claim_name, ing.claim_name}:
            msg = "roles.*.secondaryClaimName must differ from each other and from the roles' claim names"
            raise ValueError(msg)
        # The service-lb role's label and variable are checked where a ClusterClass uses the role (service_lb.py):
        # an Input that labels other pools service-lb was valid before the role existed.
        if self.dns is not None:
            self.dns.check_names()
            if self.dns.variable in (cp.variable, ing.variable):
                msg = f"dns.variable {self.dns.variable!r} must differ from the roles' variables"
                raise ValueError(msg)
        others = [f"{k.api_version} {k.kind}" for k in self.ipam.pool_kinds
                  if k.api_version != "ipam.cluster.x-k8s.io/v1alpha2" or k.kind not in ("InClusterIPPool", "GlobalInClusterIPPool")]
        if self.manual_vips.check_pools and others:
            msg = (f"manualVips.checkPools reads the in-cluster provider's pools (ipam.cluster.x-k8s.io/v1alpha2 "
                   f"InClusterIPPool, GlobalInClusterIPPool) only, but ipam.poolKinds has {', '.join(others)}: "
                   "remove those kinds or turn the check off")
            raise ValueError(msg)
        return self

