"""What every step of the decision shares: the names of the slots and of what they compose, the status keys,
one slot's outcome (RoleState), the decision's answer (Decision), the reconcile's context (Context), and the
small readers of what the XR, its status and IPAM say.

The decision (decide.py) reads the request into a Context once; each slot's step (primaries.py, secondaries.py,
service_lb.py) decides its slot over it; compose.py writes what is composed. Nothing here decides anything.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import TYPE_CHECKING

from function import (
    addresses,
    adopt,
    claims,
    cluster as clusters,
    clusterclass,
    dns as dnss,
    double_allocation,
    ledger,
    messages,
    structs,
)
from function.conditions import Condition, Reason, Result, normal, warning
from function.lifecycle import ClaimAction
from function.requirements import Fetched, Selector
from function.xr import ClusterRequest, Fatal


if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Input, Role


CLUSTER = adopt.CLUSTER_RESOURCE
CONTROL_PLANE = "control-plane"
INGRESS = "ingress"
CLAIM_RESOURCE = {CONTROL_PLANE: "vip-claim-control-plane", INGRESS: "vip-claim-ingress"}
USAGE_RESOURCE = {CONTROL_PLANE: "vip-usage-control-plane", INGRESS: "vip-usage-ingress"}
OURS = (CLUSTER, *CLAIM_RESOURCE.values(), *USAGE_RESOURCE.values())
# Service load-balancer addresses (roles.serviceLb): a claim and a Usage per index, "service-lb-<i>".
SERVICE_LB = "service-lb"
LB_CLAIM_PREFIX = "vip-claim-service-lb-"
LB_USAGE_PREFIX = "vip-usage-service-lb-"
LB_STATUS_KEY = "serviceLb"  # "0=10.0.2.10,1=10.0.2.11": which claim holds which listed address
DNS = dnss.RESOURCE  # one of ours only while the Input sets dns
# Dual stack: a role's VIP of the other address family, where the ClusterClass defines its secondary variable.
SECONDARY = {CONTROL_PLANE: "control-plane-secondary", INGRESS: "ingress-secondary"}
SECONDARY_CLAIM_RESOURCE = {SECONDARY[k]: v + "-secondary" for k, v in CLAIM_RESOURCE.items()}
SECONDARY_USAGE_RESOURCE = {SECONDARY[k]: v + "-secondary" for k, v in USAGE_RESOURCE.items()}
SECONDARY_STATUS_KEYS = {CONTROL_PLANE: "controlPlaneSecondary", INGRESS: "ingressSecondary"}  # the VIP; +"Source": where from
SECONDARY_STATUS_FIELDS = tuple(k + s for k in SECONDARY_STATUS_KEYS.values() for s in ("", "Source"))

# Where a VIP came from, as recorded in the XR's status.
POOL = "Pool"
MANUAL = "Manual"
STATUS_KEYS = {CONTROL_PLANE: ("controlPlane", "controlPlaneSource"), INGRESS: ("ingress", "ingressSource")}
DNS_STATUS_KEYS = {CONTROL_PLANE: "controlPlaneDnsName", INGRESS: "ingressDnsName"}


@dataclasses.dataclass(frozen=True)
class Slot:
    """One kind of VIP: its key, its Input settings and the XR condition that reports it."""

    key: str  # CONTROL_PLANE or INGRESS
    role: Role
    condition: str


@dataclasses.dataclass(frozen=True)
class Composed:
    resource: dict
    ready: bool


@dataclasses.dataclass
class Decision:
    composed: dict[str, Composed] = dataclasses.field(default_factory=dict)
    released: set[str] = dataclasses.field(default_factory=set)
    status: dict = dataclasses.field(default_factory=dict)  # goes to the XR at Input xr.statusPath
    requirements: dict[str, Selector] = dataclasses.field(default_factory=dict)
    conditions: list[Condition] = dataclasses.field(default_factory=list)
    results: list[Result] = dataclasses.field(default_factory=list)
    ttl: timedelta = timedelta(seconds=15)
    converged: bool = False  # every wanted VIP in place, the Cluster composed, no warning
    # False while no Cluster is composed and nothing composed is unready: Crossplane would count
    # such an XR (no pool yet, or bound claims and a ClusterClass missing) as ready. None:
    # Crossplane derives it from the composed resources, and names the unready ones.
    xr_ready: bool | None = None
    lb_active: bool = False  # the XR uses service-lb addresses: their status field is the function's
    secondary_active: bool = False  # the XR has (or had) a dual-stack pair: the secondary status fields are the function's


@dataclasses.dataclass
class RoleState:
    """One role's outcome."""

    vip: str | None
    condition: Condition
    claim: claims.Claim | None = None  # the claim the action is about
    action: ClaimAction | None = None  # what is done with it (lifecycle.py); None: KEEP a claim, NONE without one
    blocks: bool = False  # hold back a Cluster that is not yet composed
    source: str | None = None  # POOL or MANUAL, once the VIP is known
    origin: str = ""  # where the VIP comes from, for events
    unlisted: str | None = None  # the address it is bound to, placed once its pool's IPAddresses are listed (double_allocation.UNLISTED)

    def __post_init__(self) -> None:
        if self.action is None:
            self.action = ClaimAction.KEEP if self.claim is not None else ClaimAction.NONE
        if (self.action is ClaimAction.NONE) != (self.claim is None):
            msg = f"a claim action {self.action.value} with claim {self.claim}: this is a bug in function-capi-vip"
            raise AssertionError(msg)

    @property
    def settled(self) -> bool:
        """Nothing about its claim is still under way: not held unread, released in steps or waited for."""
        return self.action not in (ClaimAction.HOLD, ClaimAction.RELEASING)


@dataclasses.dataclass
class Context:
    inp: Input
    req: ClusterRequest
    fetched: Fetched
    observed: dict[str, dict]
    cluster: clusters.ObservedCluster | None  # the live Cluster: observed, or adopted (adopt.py)
    cls: clusterclass.ClassState
    sources: dict[str, str]  # role -> POOL/MANUAL from the XR's status
    recorded: dict[str, str]  # role -> the VIP the XR's status records
    claims: dict[str, claims.Claim | None]  # role -> its claim: observed, or adopted
    use_usages: bool
    decision: Decision
    adopted: set[str] = dataclasses.field(default_factory=set)  # CLUSTER and role keys found existing, not observed
    looking_up: set[str] = dataclasses.field(default_factory=set)  # the same, while Crossplane has not answered
    cluster_going: str | None = None  # a Cluster of the XR's name exists, not observed, and is being deleted
    dns_records: list[dnss.Record] = dataclasses.field(default_factory=list)  # for the VIPs the Cluster carries
    earlier: frozenset[str] = frozenset()  # composed resources earlier pipeline steps desire
    dns_holding: bool = False  # a released claim waits for external-dns (compose._hold_released_behind_records)
    by_name: bool = False  # Crossplane fetches namespaced objects by name (v2.2+)
    lb_names: set[str] = dataclasses.field(default_factory=set)  # observed service-lb claims and Usages of ours
    lb_others: set[str] = dataclasses.field(default_factory=set)  # of those names, but not ours
    lb_recorded: dict[int, str] = dataclasses.field(default_factory=dict)  # index -> address, from the XR's status
    dual: dict[str, str] = dataclasses.field(default_factory=dict)  # role -> its secondary variable, where the class defines it
    family: dict[str, str] = dataclasses.field(default_factory=dict)  # slot key -> the address family its new claim needs
    sec_others: set[str] = dataclasses.field(default_factory=set)  # secondary claim and Usage names that are not ours
    now: float | None = None  # seconds since the epoch, as the function's clock says; None: unknown
    names: list[ledger.Name] | None = None  # who names which address (ledger.py): read at the first release
    lists: str = double_allocation.FETCHED  # the pools' IPAddress lists as fetched, or, in a trial decision, taken as clear or not listed (decide._without_unwanted_lists)

    def require(self, name: str, selector: Selector) -> None:
        self.decision.requirements[name] = selector

    def warn(self, reason: Reason, message: str) -> None:
        self.decision.results.append(warning(reason, message))

    def tell(self, reason: Reason, message: str, role: str = "") -> None:
        self.decision.results.append(normal(reason, message, role))


def kept_variables(ctx: Context) -> frozenset[str]:
    """The VIP variables the live Cluster keeps as found (decide._kept_as_found): never set. A variable the Cluster carries
    with a value is never one of them, whatever its annotation says (nothing live is unset)."""
    if ctx.cluster is None:
        return frozenset()
    return ctx.cluster.kept - ctx.cluster.variables_set


def claim_rn(key: str) -> str:
    """The composed-resource name of a role's claim; service-lb-<i> for the service-lb addresses."""
    return CLAIM_RESOURCE.get(key) or SECONDARY_CLAIM_RESOURCE.get(key) or LB_CLAIM_PREFIX + key.rpartition("-")[2]


def usage_rn(key: str) -> str:
    return USAGE_RESOURCE.get(key) or SECONDARY_USAGE_RESOURCE.get(key) or LB_USAGE_PREFIX + key.rpartition("-")[2]


def lb_index(name: str) -> int | None:
    """The index of a service-lb claim's or Usage's composed-resource name, or None if it is no such name."""
    for prefix in (LB_CLAIM_PREFIX, LB_USAGE_PREFIX):
        if name.startswith(prefix):
            digits = name[len(prefix):]
            if digits.isdigit() and digits.isascii() and str(int(digits)) == digits:
                return int(digits)
    return None


def observed_claim(observed: dict[str, dict], role_key: str) -> claims.Claim | None:
    raw = observed.get(CLAIM_RESOURCE[role_key])
    claim = claims.read_observed(raw)
    if raw is not None and claim is None:
        msg = (
            f"the observed {role_key} IPAddressClaim ({CLAIM_RESOURCE[role_key]}) has no readable "
            "metadata.name, namespace or spec.poolRef; nothing is applied until it has"
        )
        raise Fatal(msg)
    return claim


def address_requirement(role_key: str) -> str:
    return f"address/{role_key}"


def address_of(ctx: Context, role_key: str, claim: claims.Claim | None) -> claims.Address | None:
    if claim is None or not claim.bound:
        return None
    return read_address(ctx, role_key, claim)


def read_address(ctx: Context, role_key: str, claim: claims.Claim) -> claims.Address:
    """The IPAddress a claim's status names (also one being deleted, while it is there)."""
    requirement = address_requirement(role_key)
    ctx.require(requirement, claims.address_selector(ctx.inp, claim))
    return claims.read_address(ctx.inp, ctx.fetched, requirement, claim)


def is_known(address: claims.Address | None) -> bool:
    """Whether a bound claim's address is known: fetched, found and an IP."""
    return address is not None and address.value is not None


def explains(address: claims.Address, live: str) -> bool:
    """Whether a claim's (known) address is the VIP a live Cluster shows (compared as canonical IPs)."""
    return address.value == (addresses.parse_ip(live) or live)


def host_field(ctx: Context) -> str:
    return f"{ctx.inp.xr.cluster_spec_path}.controlPlaneEndpoint.host"


# --- dual stack: a VIP of each address family (roles.*.secondaryVariable) -------------------


@dataclasses.dataclass(frozen=True)
class SecondaryRole:
    """A role's VIP of the other family: the role's pools and label, a variable and a claim name of its own."""

    label_value: str
    variable: str
    claim_name: str


def secondary_role(ctx: Context, key: str) -> SecondaryRole:
    role = ctx.inp.roles.control_plane if key == CONTROL_PLANE else ctx.inp.roles.ingress
    return SecondaryRole(
        label_value=role.label_value,
        variable=clusters.secondary_variable(ctx.inp, role),
        claim_name=role.secondary_claim_name or f"{role.claim_name}-secondary",
    )


def secondary_names(ctx: Context) -> tuple[str, ...]:
    """The observed secondary claims and Usages that are the function's."""
    names = (*SECONDARY_CLAIM_RESOURCE.values(), *SECONDARY_USAGE_RESOURCE.values())
    return tuple(n for n in names if n in ctx.observed and n not in ctx.sec_others)


def of_kind(name: str, obj: object, earlier: frozenset[str], api_version: str, kind: str) -> bool:
    """Whether an observed resource of one of the function's optional names is the function's: of its kind (any
    version of the group: the Input's apiVersion may change), and not one an earlier pipeline step desires."""
    group = api_version.rpartition("/")[0]
    seen = obj.get("apiVersion") if isinstance(obj, dict) else None
    return (name not in earlier and isinstance(obj, dict)
            and (seen is None or (isinstance(seen, str) and seen.rpartition("/")[0] == group))
            and obj.get("kind") in (None, kind))


def written_secondary_is(ctx: Context, key: str, claim: claims.Claim, address: claims.Address | None) -> bool:
    """Whether the secondary VIP the XR writes itself (where the role has a pair) is, or may be, the address of the
    role's primary claim: a manual primary then does not release that claim (the XR swapped its pair, say)."""
    if key not in ctx.dual or claim.deleting or not claim.bound:
        return False
    written = written_variable(ctx, ctx.dual[key])
    vip = addresses.parse_ip(written) if isinstance(written, str) else None
    return vip is not None and (not is_known(address) or explains(address, vip))


def written_variable(ctx: Context, variable: str) -> object:
    """The value the XR writes for a variable itself (the first entry of one written twice), or None."""
    return next((structs.plain(v.get("value")) for v in ctx.req.spec["topology"].get("variables") or []
                 if isinstance(v, dict) and v.get("name") == variable and "value" in v), None)


def as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def class_unread(cls: clusterclass.ClassState) -> tuple[Reason, str]:
    """Why a ClusterClass is not read: unreadable (warned in decide._gates), not found, or not fetched yet."""
    return messages.class_unread(cls.label, cls.problem, cls.resolved)
