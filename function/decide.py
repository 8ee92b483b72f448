"""The decision: observed XR and resources + fetched resources + Input -> what to compose.

Pure Python over plain data; fn.py only translates protobuf in and out.

The rules that keep a workload cluster alive, in one place:

- Crossplane deletes every composed resource that a successful response leaves
  out. Once a Cluster, a claim or a Usage is observed it is always in the
  decision, or the decision is Fatal (which applies nothing). The only
  deliberate exceptions are releases (ingress turned off or made manual, a
  manual endpoint set before the Cluster exists); ``released`` names those, and
  a protected claim is released in steps (see usages.py).
- A VIP on an observed Cluster never changes because of what IPAM says: the
  endpoint never, an allocated ingress VIP only when the user turns ingress off
  or sets a manual one.
- A claim explains the VIP a live Cluster shows only when its address is that
  VIP. A claim whose address the Cluster does not use is released when the
  user's own setting explains the VIP (a manual endpoint or ingress VIP), and
  reported (AddressMismatch) when nothing does; while its address is not known,
  nothing about it changes. So no address is held for nothing unnoticed.
- What exists before the XR composed it (a claim or a Cluster of the names it
  would compose) is adopted as it is (see adopt.py).
- A Cluster is composed only once its control-plane VIP is known and its
  ClusterClass has been read, so CAPI's topology controller never sees a
  Cluster without its endpoint.
- Where a VIP came from (a pool or the user) is kept in the XR's status, so a
  manual VIP that is later removed from the XR is never mistaken for a claim
  deleted by hand.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import TYPE_CHECKING

from function import (
    addresses,
    adopt,
    claims,
    clusterclass,
    pools,
    ranges,
    structs,
    usages,
)
from function import cluster as clusters
from function import dns as dnss
from function import xr as xrs
from function.conditions import (
    CONTROL_PLANE_READY,
    CONTROL_PLANE_SECONDARY_READY,
    INGRESS_READY,
    INGRESS_SECONDARY_READY,
    SERVICE_LB_READY,
    Condition,
    Reason,
    Result,
    Severity,
    normal,
    warning,
)
from function import ledger, lifecycle, messages
from function.lifecycle import COMPOSED, ClaimAction
from function.input import parse_duration
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
class _Context:
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
    dns_holding: bool = False  # a released claim waits for external-dns (_hold_released_behind_records)
    by_name: bool = False  # Crossplane fetches namespaced objects by name (v2.2+)
    lb_names: set[str] = dataclasses.field(default_factory=set)  # observed service-lb claims and Usages of ours
    lb_others: set[str] = dataclasses.field(default_factory=set)  # of those names, but not ours
    lb_recorded: dict[int, str] = dataclasses.field(default_factory=dict)  # index -> address, from the XR's status
    dual: dict[str, str] = dataclasses.field(default_factory=dict)  # role -> its secondary variable, where the class defines it
    family: dict[str, str] = dataclasses.field(default_factory=dict)  # slot key -> the address family its new claim needs
    sec_others: set[str] = dataclasses.field(default_factory=set)  # secondary claim and Usage names that are not ours
    now: float | None = None  # seconds since the epoch, as the function's clock says; None: unknown
    names: list[ledger.Name] | None = None  # who names which address (ledger.py): read at the first release

    def require(self, name: str, selector: Selector) -> None:
        self.decision.requirements[name] = selector

    def warn(self, reason: Reason, message: str) -> None:
        self.decision.results.append(warning(reason, message))

    def tell(self, reason: Reason, message: str, role: str = "") -> None:
        self.decision.results.append(normal(reason, message, role))


def decide(
    inp: Input, xr: dict, observed: dict[str, dict], fetched: Fetched, *, crossplane_v2: bool = False,
    by_name: bool = False, earlier: frozenset[str] = frozenset(), now: float | None = None,
) -> Decision:
    """Decide one reconcile. Raises Fatal when nothing may be applied.

    ``crossplane_v2``: Crossplane advertised its capabilities (v2.2+); with a namespaced
    XR it tells the Usage kind is served. ``by_name``: Crossplane fetches a namespaced
    object by name (v2.2+), which adoption needs (adopt.py). ``earlier``: the composed resources
    earlier steps of the pipeline desire (a DNSEndpoint of theirs is never ours to release).
    ``now``: the time, in seconds since the epoch, to tell a claim IPAM is still binding (_binding).
    """
    req = xrs.parse(xr, inp)
    for name in _ours(inp):
        if name in observed and not isinstance(observed[name], dict):
            msg = f"observed composed resource {name} is unreadable; nothing is applied until it is"
            raise Fatal(msg)
    observed_cluster = clusters.read_observed(observed.get(CLUSTER), inp)
    if CLUSTER in observed and observed_cluster is None:
        msg = "the observed Cluster has no readable metadata.name and namespace; nothing is applied until it has"
        raise Fatal(msg)
    status = xrs.get_path(xr, inp.xr.status_path)
    status = status if isinstance(status, dict) else {}
    usage_wanted = inp.usage == "Protection" or (inp.usage == "Auto" and (req.xr_namespaced or crossplane_v2))
    ctx = _Context(
        inp=inp,
        req=req,
        fetched=fetched,
        observed=observed,
        cluster=observed_cluster,
        cls=clusterclass.read(inp, fetched, req.class_name, req.class_namespace),
        sources={**{role: status.get(keys[1]) for role, keys in STATUS_KEYS.items() if status.get(keys[1]) in (POOL, MANUAL)},
                 **{SECONDARY[role]: status.get(key + "Source") for role, key in SECONDARY_STATUS_KEYS.items()
                    if status.get(key + "Source") in (POOL, MANUAL)}},
        recorded={**{role: status[keys[0]] for role, keys in STATUS_KEYS.items() if isinstance(status.get(keys[0]), str)},
                  **{SECONDARY[role]: status[key] for role, key in SECONDARY_STATUS_KEYS.items() if isinstance(status.get(key), str)}},
        lb_recorded=_lb_recorded(status.get(LB_STATUS_KEY)),
        claims={key: _observed_claim(observed, key) for key in (CONTROL_PLANE, INGRESS)},
        use_usages=usage_wanted,  # Usages observed earlier are kept regardless (see _compose_claim)
        decision=Decision(),
        earlier=earlier,
        by_name=by_name,
        now=now,
    )
    ctx.lb_names, ctx.lb_others = lb_names_of(observed, earlier, inp)
    _read_secondaries(ctx)
    ingress2 = clusters.secondary_variable(inp, inp.roles.ingress)
    if ctx.cluster is not None and (INGRESS in ctx.dual or ctx.claims[SECONDARY[INGRESS]] is not None
                                    or ingress2 in ctx.cluster.variables
                                    or (ctx.cluster.ingress_pair is not None
                                        and status.get(SECONDARY_STATUS_KEYS[INGRESS]) == ctx.cluster.ingress_pair[1])):
        ctx.cluster = ctx.cluster.as_pair()  # only a role with a pair reads its annotation as one
    if by_name:
        _adopt(ctx)
    return _decide(ctx)


def _adopt(ctx: _Context) -> None:
    """Look up what exists under the names the XR composes, and it does not observe (adopt.py).

    A Cluster of the XR's name, while none is observed; a claim of each role, while none is
    observed: one the operator made, or one being deleted (released a moment ago, or by hand),
    which a new claim of the same name must wait for. What is found is then decided on as
    an observed one would be, whether the XR wants the role or not: a claim the XR turned off
    is adopted and released, so no address is held for nothing. The lookups depend on nothing
    fetched, so the requirements stay the same from the first call of a reconcile to the last.
    """
    inp, req = ctx.inp, ctx.req
    if ctx.cluster is None:
        selector = adopt.cluster_selector(inp, req)
        ctx.require(adopt.CLUSTER_REQUIREMENT, selector)
        found = adopt.lookup(ctx.fetched, adopt.CLUSTER_REQUIREMENT, selector)
        existing = adopt.read_cluster(found, inp, req)
        if not found.resolved:
            ctx.looking_up.add(CLUSTER)
        elif existing is not None and existing.deleting:
            ctx.cluster_going = existing.label  # composed anew once it is gone, never on top of it
        elif existing is not None:
            ctx.cluster = _kept_as_found(ctx, existing)
            ctx.adopted.add(CLUSTER)
    looked = [(CONTROL_PLANE, inp.roles.control_plane), (INGRESS, inp.roles.ingress)]
    # A secondary claim only where the class wants the pair (a lookup is no reason to make one).
    looked += [(SECONDARY[key], _secondary_role(ctx, key)) for key in ctx.dual]
    for key, role in looked:
        if ctx.claims[key] is not None:
            continue
        selector = adopt.claim_selector(inp, role, req)
        ctx.require(adopt.claim_requirement(key), selector)
        found = adopt.lookup(ctx.fetched, adopt.claim_requirement(key), selector)
        claim = adopt.read_claim(found, req, role.label_value, _claim_rn(key))
        if not found.resolved:
            ctx.looking_up.add(key)
        elif claim is not None:
            ctx.claims[key] = claim
            if not claim.deleting:
                ctx.adopted.add(key)
                bound = f"bound to IPAddress {claim.namespace}/{claim.address_name}" if claim.address_name else "not bound yet"
                ctx.tell(Reason.ADOPTED, f"{claim.label} exists and is adopted as it is: {claim.pool_ref.label}, {bound}", key)


def _kept_as_found(ctx: _Context, found: clusters.ObservedCluster) -> clusters.ObservedCluster:
    """An adopted live Cluster (one with an endpoint) keeps the VIP variables it does not carry as it
    has them: setting one makes CAPI render anew every template whose patch reads it, and a changed
    control-plane or machine template rolls out machines (capi-vip-allocator never writes ingressVip,
    nor clusterVip under a manual endpoint). Which they are goes in the Cluster's kept-variables
    annotation with the adoption, and stays there. A Cluster without an endpoint runs nothing yet: it
    gets every variable, as a new one does."""
    if found.host is None:
        return found
    # Only the two variables the operator knew: the others (a dual-stack pair's, service-lb addresses, the DNS name)
    # come with their claims, which a kept variable would leave holding addresses no Cluster lists.
    roles = {ctx.inp.roles.control_plane.variable, ctx.inp.roles.ingress.variable}
    return dataclasses.replace(found, kept=found.kept | roles)  # less what it carries: _kept


def _kept(ctx: _Context) -> frozenset[str]:
    """The VIP variables the live Cluster keeps as found (_kept_as_found): never set. A variable the Cluster carries
    with a value is never one of them, whatever its annotation says (nothing live is unset)."""
    if ctx.cluster is None:
        return frozenset()
    return ctx.cluster.kept - ctx.cluster.variables_set


def _decide(ctx: _Context) -> Decision:
    inp, req, decision = ctx.inp, ctx.req, ctx.decision
    ctx.require(clusterclass.REQUIREMENT, clusterclass.selector(inp, req.class_name, req.class_namespace))
    if ctx.cls.problem:
        ctx.warn(Reason.INVALID_CLUSTER_CLASS, ctx.cls.problem)

    cp = _control_plane(ctx)
    ing = _ingress(ctx)
    if inp.manual_vips.check_pools:
        cp = _check_manual(ctx, Slot(CONTROL_PLANE, inp.roles.control_plane, CONTROL_PLANE_READY), cp)
        ing = _check_manual(ctx, Slot(INGRESS, inp.roles.ingress, INGRESS_READY), ing)
    second = {key: _secondary(ctx, key, state) for key, state in ((CONTROL_PLANE, cp), (INGRESS, ing))}
    for key in [k for k, state in second.items() if state is None]:
        del second[key]
        if _usage_rn(SECONDARY[key]) in ctx.observed and _usage_rn(SECONDARY[key]) not in ctx.sec_others:
            ctx.decision.released.add(_usage_rn(SECONDARY[key]))  # its claim is gone, and no pair is wanted
    lb = _service_lb(ctx)
    cp, cluster = _compose_cluster(ctx, cp, ing, lb, second)
    # Every slot's claim and Usage, the same way (lifecycle.py).
    slots = [(CONTROL_PLANE, inp.roles.control_plane, cp), (INGRESS, inp.roles.ingress, ing),
             *((SECONDARY[key], _secondary_role(ctx, key), state) for key, state in second.items()),
             *((_lb_key(i), inp.roles.service_lb, state) for i, state in sorted(lb.slots.items()))]
    for key, role, state in slots:
        _compose_claim(ctx, key, role, state, cluster)
    _compose_dns(ctx, cluster, cp, ing, second)

    decision.conditions = [cp.condition, ing.condition, *(s.condition for s in second.values()),
                           *([lb.condition] if lb.condition else [])]
    for role_key, state in ((CONTROL_PLANE, cp), (INGRESS, ing)):
        vip_key, source_key = STATUS_KEYS[role_key]
        if state.vip:
            decision.status[vip_key] = state.vip
            if state.source:
                decision.status[source_key] = state.source
    for role_key, state in second.items():
        decision.secondary_active = True
        if state.vip:
            decision.status[SECONDARY_STATUS_KEYS[role_key]] = state.vip
            if state.source:
                decision.status[SECONDARY_STATUS_KEYS[role_key] + "Source"] = state.source
    decision.converged = bool(
        cp.condition.status
        and ing.condition.status
        and cluster is not None
        and cp.settled
        and ing.settled
        and all(s.condition.status and s.settled for s in second.values())
        and (lb.condition is None or lb.condition.status)
        and all(state.settled for state in lb.slots.values())
        and not ctx.adopted  # the next reconcile sees them observed: soon, not after the converged TTL
        and not ctx.dns_holding
        and not any(r.severity == Severity.WARNING for r in decision.results)
    )
    decision.ttl = parse_duration(inp.ttl.converged if decision.converged and not _events_dropped(ctx) else inp.ttl.waiting)
    if cluster is None and all(c.ready for c in decision.composed.values()):
        decision.xr_ready = False
    _guard(ctx.observed, decision, (*_ours(inp), *sorted(ctx.lb_names), *_secondary_names(ctx)))
    return decision


# --- reading what IPAM says ------------------------------------------------------------


def _lb_recorded(value: object) -> dict[int, str]:
    out: dict[int, str] = {}
    for part in value.split(",") if isinstance(value, str) else []:
        index, _, address = part.partition("=")
        if index.isascii() and index.isdigit() and addresses.parse_ip(address):
            out[int(index)] = address
    return out


def _claim_rn(key: str) -> str:
    """The composed-resource name of a role's claim; service-lb-<i> for the service-lb addresses."""
    return CLAIM_RESOURCE.get(key) or SECONDARY_CLAIM_RESOURCE.get(key) or LB_CLAIM_PREFIX + key.rpartition("-")[2]


def _usage_rn(key: str) -> str:
    return USAGE_RESOURCE.get(key) or SECONDARY_USAGE_RESOURCE.get(key) or LB_USAGE_PREFIX + key.rpartition("-")[2]


def lb_index(name: str) -> int | None:
    """The index of a service-lb claim's or Usage's composed-resource name, or None if it is no such name."""
    for prefix in (LB_CLAIM_PREFIX, LB_USAGE_PREFIX):
        if name.startswith(prefix):
            digits = name[len(prefix):]
            if digits.isdigit() and digits.isascii() and str(int(digits)) == digits:
                return int(digits)
    return None


def _observed_claim(observed: dict[str, dict], role_key: str) -> claims.Claim | None:
    raw = observed.get(CLAIM_RESOURCE[role_key])
    claim = claims.read_observed(raw)
    if raw is not None and claim is None:
        msg = (
            f"the observed {role_key} IPAddressClaim ({CLAIM_RESOURCE[role_key]}) has no readable "
            "metadata.name, namespace or spec.poolRef; nothing is applied until it has"
        )
        raise Fatal(msg)
    return claim


def _address_requirement(role_key: str) -> str:
    return f"address/{role_key}"


def _address(ctx: _Context, role_key: str, claim: claims.Claim | None) -> claims.Address | None:
    if claim is None or not claim.bound:
        return None
    return _read_address(ctx, role_key, claim)


def _read_address(ctx: _Context, role_key: str, claim: claims.Claim) -> claims.Address:
    """The IPAddress a claim's status names (also one being deleted, while it is there)."""
    requirement = _address_requirement(role_key)
    ctx.require(requirement, claims.address_selector(ctx.inp, claim))
    return claims.read_address(ctx.inp, ctx.fetched, requirement, claim)


def _known(address: claims.Address | None) -> bool:
    """Whether a bound claim's address is known: fetched, found and an IP."""
    return address is not None and address.value is not None


def _repeats_pool(ctx: _Context, role_key: str, manual: str | None, live: str | None) -> bool:
    """Whether the XR's manual value repeats the pool VIP the live Cluster serves (copied onto the
    XR, say): equal to it, and the XR's status records the pool as its source (and no other VIP)."""
    if not manual or not live or ctx.sources.get(role_key) != POOL:
        return False
    same = addresses.parse_ip(live) or live
    recorded = ctx.recorded.get(role_key)  # an older status may lack it: then the source alone tells
    return (addresses.parse_ip(manual) or manual) == same and (recorded is None or (addresses.parse_ip(recorded) or recorded) == same)


def _unreserved(ctx: _Context, slot: Slot, claim: claims.Claim, address: claims.Address, live: str, setting: str) -> None:
    """A pool VIP the XR repeats, whose claim was made again and bound elsewhere: the claim goes
    (it holds nothing the Cluster uses), and the warning says the VIP is reserved by nothing now."""
    ctx.warn(
        Reason.CLAIM_MISSING,
        f"{ctx.cluster.label} serves the {slot.role.label_value} VIP {live}, which {setting} repeats; the claim that "
        f"reserved it is gone, and {claim.label}, made again, is bound to {address.value}, which the Cluster does not "
        f"use, so it is released. {live} is now reserved by no claim, and IPAM may give it to another cluster: "
        "reserve it in the pool it came from (spec.excludedAddresses).",
    )


def _explains(address: claims.Address, live: str) -> bool:
    """Whether a claim's (known) address is the VIP a live Cluster shows (compared as canonical IPs)."""
    return address.value == (addresses.parse_ip(live) or live)


def _mismatch(ctx: _Context, slot: Slot, live: str, claim: claims.Claim, address: claims.Address, setting: str) -> None:
    """A live Cluster uses a VIP that its claim does not hold and that no setting explains: say what to do."""
    what = f"{slot.role.label_value} VIP"
    ctx.warn(
        Reason.ADDRESS_MISMATCH,
        f"{ctx.cluster.label} uses {what} {live}, but {claim.label} is bound to {address.value} (the Cluster was "
        f"changed by hand, or the claim made again after a hand deletion). The VIP of a live cluster never changes, "
        f"so {live} stays: reserve it in {claim.pool_ref.label} (spec.excludedAddresses) so IPAM gives it to no other "
        f"cluster. To keep {live} for good, set {setting}={live} on XR {ctx.req.xr_name}: {claim.label} is then "
        f"released and {address.value} returns to the pool; until then the claim holds {address.value}.",
    )


def _hold(
    ctx: _Context, slot: Slot, claim: claims.Claim, address: claims.Address | None, vip: str | None,
    source: str | None = None,
) -> RoleState:
    """A bound claim whose address is not known: nothing about it changes until it is.

    Whether it explains a VIP decides between keeping and releasing it, so neither is done
    on a guess: releasing the claim of a VIP in use would let IPAM give that VIP away.
    """
    if address is not None and address.problem:
        ctx.warn(Reason.INVALID_ADDRESS, address.problem)
        reason, message = Reason.INVALID_ADDRESS, address.problem
    else:
        reason = Reason.WAITING_FOR_ADDRESS
        message = messages.address_unread(claim.label, f"IPAddress {claim.namespace}/{claim.address_name}",
                                          address is not None and address.resolved)
    return RoleState(
        vip=vip,
        claim=claim,
        action=ClaimAction.HOLD,
        blocks=vip is None,
        source=source if vip is not None else None,  # where the VIP it keeps comes from
        condition=Condition(slot.condition, False, reason, message),
    )


# --- the control plane --------------------------------------------------------------------


def _control_plane(ctx: _Context) -> RoleState:
    slot = Slot(CONTROL_PLANE, ctx.inp.roles.control_plane, CONTROL_PLANE_READY)
    claim = ctx.claims[CONTROL_PLANE]
    live = ctx.cluster.host if ctx.cluster else None
    manual = ctx.req.manual_host
    if claim is not None and claim.deleting:
        if not (manual and live is None) and not (live and ctx.sources.get(CONTROL_PLANE) == MANUAL):
            return _claim_deleting(ctx, slot, claim, live, required=True)
        ctx.decision.released.add(CLAIM_RESOURCE[CONTROL_PLANE])  # released for the XR's own endpoint
        claim = None
    address = _address(ctx, CONTROL_PLANE, claim)
    if live:
        return _live_control_plane(ctx, slot, live, claim, address)
    if manual:
        state = RoleState(
            vip=manual,
            source=MANUAL,
            origin="manual",
            condition=Condition(
                CONTROL_PLANE_READY, True, Reason.MANUAL, f"control-plane endpoint {manual} set on the XR; no VIP is claimed"
            ),
        )
        if claim is None:
            return state
        if claim.bound and not _known(address):
            return _hold(ctx, slot, claim, address, None)  # the manual host may be its own address
        if claim.bound and _explains(address, manual):
            return _allocate(ctx, slot, claim, address, required=True)  # its own address: it stays claimed
        if _written_secondary_is(ctx, CONTROL_PLANE, claim, address):
            return dataclasses.replace(state, claim=claim, action=ClaimAction.HOLD if not _known(address) else ClaimAction.KEEP)  # the pair's other value is its address
        return _release(ctx, CONTROL_PLANE, claim, state, f"XR sets {_host_field(ctx)} {manual}")
    return _allocate(ctx, slot, claim, address, required=True)


def _host_field(ctx: _Context) -> str:
    return f"{ctx.inp.xr.cluster_spec_path}.controlPlaneEndpoint.host"


def _control_plane_addresses(ctx: _Context, live: str) -> list[str]:
    """What a live Cluster serves its control plane on: the endpoint host, and its clusterVip where
    that differs (a DNS endpoint in front of the VIP kube-vip holds, say), canonical."""
    out = [addresses.parse_ip(live) or live]
    variable = ctx.cluster.variables.get(ctx.inp.roles.control_plane.variable)
    if isinstance(variable, str) and variable:
        variable = addresses.parse_ip(variable) or variable
        if variable not in out:
            out.append(variable)
    return out


def _live_control_plane(
    ctx: _Context, slot: Slot, live: str, claim: claims.Claim | None, address: claims.Address | None
) -> RoleState:
    """The endpoint of a live Cluster: it stays; which claim, if any, it keeps depends on what explains it."""
    manual, where, label = ctx.req.manual_host, _host_field(ctx), ctx.cluster.label
    source = ctx.sources.get(CONTROL_PLANE)
    if manual and manual != live:
        ctx.warn(
            Reason.CONFLICT,
            f"XR {ctx.req.xr_name} sets {where}={manual}, but {label} already serves on {live}. "
            f"The endpoint of a live cluster never changes; set the host back to {live} or remove it.",
        )
    manual_condition = Condition(CONTROL_PLANE_READY, True, Reason.MANUAL, f"control-plane endpoint {live} on {label}")
    # The recorded source decides. Without one, and without a claim: a DNS name is no pool's, and
    # neither is a manual host (with a claim, a manual host equal to its address is that address).
    inferred = source is None and claim is None and (addresses.parse_ip(live) is None or manual == live)
    if not manual and (source == MANUAL or inferred):
        said, fix = ("no longer sets", "again") if source == MANUAL else ("does not set", "on the XR")
        ctx.warn(
            Reason.CONFLICT,
            f"XR {ctx.req.xr_name} {said} {where}, but {label} serves on the manual "
            f"endpoint {live}, which never changes for a live cluster. Set {where}={live} {fix}.",
        )
    if claim is None:
        return RoleState(vip=live, source=MANUAL, condition=manual_condition) if source == MANUAL or inferred else _remake(ctx, slot, live)
    # The XR's own endpoint: set to the live one, or a manual endpoint it no longer sets.
    own = manual == live or (not manual and source == MANUAL)
    # A host that repeats the pool VIP the Cluster serves (copied into the XR, say) is no reason
    # to give up a claim made again for it: it is waited for, as any pool VIP's.
    repeats_pool = _repeats_pool(ctx, CONTROL_PLANE, manual, live)
    if not claim.bound:
        if own and not repeats_pool:  # it holds nothing: let it go
            state = RoleState(vip=live, source=MANUAL, origin="manual", condition=manual_condition)
            return _release(ctx, CONTROL_PLANE, claim, state, f"{label} serves on {live}, the XR's own endpoint")
        return _unbound_under(ctx, slot, claim, live, required=True)
    if not _known(address):
        return _hold(ctx, slot, claim, address, live, source=source or POOL)
    uses = _control_plane_addresses(ctx, live)
    if address.value in uses:
        for other in uses:
            if other != address.value and addresses.parse_ip(other) and other != manual:
                _second_address(ctx, slot, claim, address, other, host=other == uses[0])
        return _serves(slot, live, claim, address.value, ctx.cluster)
    # The claim holds an address the Cluster does not use.
    if own:
        if repeats_pool:
            _unreserved(ctx, slot, claim, address, live, where)
        state = RoleState(vip=live, source=MANUAL, origin="manual", condition=manual_condition)
        why = f"{label} serves on {live}, the XR's own endpoint, not on the claim's {address.value}"
        return _release(ctx, CONTROL_PLANE, claim, state, why)
    _mismatch(ctx, slot, live, claim, address, where)
    return _serves(slot, live, claim, None, ctx.cluster, source=source or POOL)


def _second_address(
    ctx: _Context, slot: Slot, claim: claims.Claim, address: claims.Address, other: str, *, host: bool
) -> None:
    """A live Cluster that serves its control plane on an address besides its claim's (a hand edit)."""
    what = "its endpoint host" if host else f"its {slot.role.variable} variable"
    ctx.warn(
        Reason.ADDRESS_MISMATCH,
        f"{ctx.cluster.label} serves its control plane on two addresses: {address.value}, which {claim.label} "
        f"holds, and {other}, {what} (changed by hand?), which no claim reserves. Both stay: the VIPs of a live "
        f"cluster never change. Reserve {other} in {claim.pool_ref.label} (spec.excludedAddresses) so IPAM gives "
        "it to no other cluster.",
    )


def _unbound_under(ctx: _Context, slot: Slot, claim: claims.Claim, live: str, *, required: bool) -> RoleState:
    """A claim not bound yet under a live Cluster (made again, say): the VIP stays, and what keeps
    the claim from binding is told as for a new claim (a pool gone or full, a wrong apiGroup)."""
    state = _allocate(ctx, slot, claim, None, required=required, live=live)
    return dataclasses.replace(state, vip=live, source=ctx.sources.get(slot.key) or POOL, blocks=False)


def _serves(slot: Slot, live: str, claim: claims.Claim, held: str | None, cluster: clusters.ObservedCluster,
            source: str = POOL) -> RoleState:
    """A live VIP kept together with its claim. ``held``: the claim's address, where the Cluster uses it;
    told then as when the claim was first bound (_bound_message), so the XR's conditions do not change when
    the Cluster appears. Otherwise (a hand edit, warned about) the live VIP on the Cluster."""
    message = _bound_message(slot.role, held, claim) if held else messages.on_cluster(slot.role.label_value, live, cluster.label)
    return RoleState(vip=live, claim=claim, source=source, condition=Condition(slot.condition, True, Reason.ALLOCATED, message))


# The messages of a claim's ordinary life, one per state (see messages.py).
def _waiting_message(claim: claims.Claim) -> str:
    return messages.waiting(claim.label, claim.pool_ref.label)


def _bound_message(role: Role, vip: str, claim: claims.Claim) -> str:
    return messages.bound(role.label_value, vip, claim.label)


def _claim_deleting(ctx: _Context, slot: Slot, claim: claims.Claim, live: str | None, *, required: bool) -> RoleState:
    """A claim being deleted holds nothing: let it go; a new one is made once it is gone.

    It is never a source of a VIP: IPAM frees its address as soon as the deletion completes.
    """
    role_key, role, cond_type = slot.key, slot.role, slot.condition
    ctx.decision.released.add(_claim_rn(role_key))
    what = f"{role.label_value} VIP"
    if live and ctx.sources.get(role_key) == MANUAL:
        # The live VIP is the user's own; this claim was made for the pool VIP that replaces it.
        return RoleState(
            vip=live,
            source=MANUAL,
            claim=claim,
            action=ClaimAction.WAIT_GONE,
            condition=Condition(cond_type, False, Reason.WAITING_FOR_ADDRESS,
                                messages.deleting_under_manual(claim.label, ctx.cluster.label, live)),
        )
    if live:
        ctx.warn(Reason.CLAIM_MISSING,
                 messages.deleting_under_live(claim.label, what, live, ctx.cluster.label, claim.pool_ref.label))
        return RoleState(
            vip=live,
            source=ctx.sources.get(role_key) or POOL,
            claim=claim,
            action=ClaimAction.WAIT_GONE,
            condition=Condition(cond_type, True, Reason.ALLOCATED, messages.on_cluster(role.label_value, live, ctx.cluster.label)),
        )
    message = messages.deleting(claim.label)
    return RoleState(
        vip=None,
        blocks=required,
        claim=claim,
        action=ClaimAction.WAIT_GONE,
        condition=Condition(cond_type, False, Reason.WAITING_FOR_ADDRESS, message),
    )


def _remake(ctx: _Context, slot: Slot, live: str) -> RoleState:
    """A VIP from a pool that a live Cluster uses, whose claim is gone (deleted by hand): made again.

    So the pool keeps counting an address for this cluster; the warning says what to check.
    """
    what = f"{slot.role.label_value} VIP"
    state = _allocate(ctx, slot, None, None, required=True)
    if state.claim is not None:
        ctx.warn(Reason.CLAIM_MISSING,
                 messages.claim_missing(ctx.cluster.label, what, live, state.claim.label, state.claim.pool_ref.label))
    return RoleState(
        vip=live,
        claim=state.claim,
        source=POOL,
        condition=Condition(slot.condition, True, Reason.ALLOCATED, messages.on_cluster(slot.role.label_value, live, ctx.cluster.label)),
    )


# --- ingress ----------------------------------------------------------------------------


def _ingress(ctx: _Context) -> RoleState:
    refused = _refused_manual_ingress(ctx)
    if refused is None:
        return _ingress_with(ctx, ctx.req.manual_ingress)
    # A new manual ingress VIP for an observed Cluster that must not be put in place: decided as if
    # the XR did not set it (a live manual VIP stays as it is), so nothing it serves is released.
    reason, message = refused
    live = ctx.cluster.ingress_annotation
    state = _ingress_with(ctx, live if live and ctx.sources.get(INGRESS) == MANUAL else None)
    if reason is Reason.WAITING_FOR_ADDRESS:
        message = messages.manual_waiting_for_pools("ingress", ctx.req.manual_ingress)
    else:
        message += f"; until then {ctx.cluster.label} keeps {live or 'the ingress VIP it has'}"
        ctx.warn(reason, message)
    return dataclasses.replace(state, condition=Condition(INGRESS_READY, False, reason, message))


def _refused_manual_ingress(ctx: _Context) -> tuple[Reason, str] | None:
    """Why a manual ingress VIP the observed Cluster does not carry yet must not be put in place
    (Input manualVips.checkPools), or None. The address of the XR's own ingress claim is no manual VIP."""
    manual, cluster = ctx.req.manual_ingress, ctx.cluster
    if (not ctx.inp.manual_vips.check_pools or cluster is None or ctx.req.ingress_disabled or not manual
            or manual == cluster.ingress_annotation or addresses.parse_ip(manual) is None):
        return None
    claim = ctx.claims[INGRESS]
    if claim is not None and not claim.deleting and claim.bound:
        address = _address(ctx, INGRESS, claim)
        if _known(address) and _explains(address, manual):
            return None
    return _manual_problem(ctx, INGRESS, manual)


def _ingress_with(ctx: _Context, manual: str | None) -> RoleState:
    slot = Slot(INGRESS, ctx.inp.roles.ingress, INGRESS_READY)
    role = slot.role
    claim = ctx.claims[INGRESS]
    live = ctx.cluster.ingress_annotation if ctx.cluster else None
    annotation = ctx.inp.annotations
    repeats_pool = _repeats_pool(ctx, INGRESS, manual, live)
    if repeats_pool and not ctx.req.ingress_disabled:
        # The annotation repeats the pool VIP the Cluster serves. While no bound claim says otherwise
        # it is that pool VIP: a claim of it being deleted, made again or not bound yet is warned
        # about and waited for, as without the annotation, not silently given up.
        if claim is None or claim.deleting or not claim.bound:
            manual = None
    if claim is not None and claim.deleting and not ctx.req.ingress_disabled and not manual:
        return _claim_deleting(ctx, slot, claim, live, required=False)
    if claim is not None and claim.deleting:
        ctx.decision.released.add(CLAIM_RESOURCE[INGRESS])  # on its way out, as asked
        claim = None
    address = _address(ctx, INGRESS, claim)
    if ctx.req.ingress_disabled:
        state = RoleState(
            vip=None,
            condition=Condition(
                INGRESS_READY, True, Reason.DISABLED, f"ingress VIP turned off by XR annotation {annotation.ingress_enabled}"
            ),
        )
        if manual:
            ctx.warn(
                Reason.CONFLICT,
                f"XR {ctx.req.xr_name} has both {annotation.ingress_enabled}=\"false\" and "
                f"{annotation.ingress_vip}={manual}; the ingress VIP stays off. Remove one.",
            )
        why = f"XR annotated {annotation.ingress_enabled}=\"false\""
        return _release(ctx, INGRESS, claim, state, why) if claim else state
    if manual:
        if claim is not None and claim.bound and not _known(address):
            # It may hold the manual VIP itself: the VIP is set, the claim waits to be read.
            source = POOL if repeats_pool else MANUAL  # a repeated pool VIP stays the pool's
            return dataclasses.replace(_hold(ctx, slot, claim, address, manual, source=source), origin="manual")
        if claim is not None and claim.bound and _explains(address, manual):
            # A manual value equal to the claim's own address is that address: it stays claimed, and
            # is the ingress VIP, as any manual VIP is (whatever the Cluster shows). With no Cluster
            # yet, it is simply the claim's address, allocated below.
            live = manual if ctx.cluster is not None else None
        else:
            # The user's own address: it may change at will, and it replaces an allocated one.
            state = RoleState(
                vip=manual,
                source=MANUAL,
                origin="manual",
                condition=Condition(INGRESS_READY, True, Reason.MANUAL, f"ingress VIP {manual} set by XR annotation"),
            )
            why = f"XR sets {annotation.ingress_vip}={manual}"
            if repeats_pool and claim is not None and _known(address):
                _unreserved(ctx, slot, claim, address, live, f"the XR annotation {annotation.ingress_vip}")
            if claim is not None and _written_secondary_is(ctx, INGRESS, claim, address):
                return dataclasses.replace(state, claim=claim, action=ClaimAction.HOLD if not _known(address) else ClaimAction.KEEP)  # the pair's other value is its address
            return _release(ctx, INGRESS, claim, state, why) if claim else state
    cls = ctx.cls
    # A Cluster adopted with the ingress VIP only in its annotation (as capi-vip-allocator leaves it,
    # whatever the class defines) keeps it served there, the variable as found.
    kept = role.variable in _kept(ctx) and claim is not None  # the operator's claim: a manual one is the XR's to set
    if not cls.found or not (cls.defines(role.variable) or kept):
        return _ingress_without_variable(ctx, role, claim, address, live)
    if live and ctx.sources.get(INGRESS) == MANUAL:
        # A manual ingress VIP was removed from the XR: allocate one, and keep the manual
        # one until the claim is bound (the user's own address, so no pool loses it).
        state = _allocate(ctx, slot, claim, address, required=False)
        if state.vip is None:
            state.vip, state.source, state.blocks = live, MANUAL, False
        return state
    if live:
        if claim is None:
            return _remake(ctx, slot, live)
        if not claim.bound:
            return _unbound_under(ctx, slot, claim, live, required=False)
        if not _known(address):
            return _hold(ctx, slot, claim, address, live, source=ctx.sources.get(INGRESS) or POOL)
        if not _explains(address, live):
            _mismatch(ctx, slot, live, claim, address, f"the XR annotation {annotation.ingress_vip}")
        return _serves(slot, live, claim, address.value if _explains(address, live) else None, ctx.cluster)
    return _allocate(ctx, slot, claim, address, required=False)


def _ingress_without_variable(
    ctx: _Context, role: Role, claim: claims.Claim | None, address: claims.Address | None, live: str | None
) -> RoleState:
    """Ingress while the ClusterClass is unknown or does not define the ingress variable.

    Nothing allocated is given up here: a class that cannot be read, or that lost the
    variable, keeps an existing claim and VIP. Only the XR's annotations release them.
    """
    cls = ctx.cls
    vip = live or (address.value if address else None)
    source = ctx.sources.get(INGRESS) or (POOL if claim is not None else None)
    if claim is None:
        # Pools are fetched anyway, so requirements do not change once the class is read.
        _pool_choice(ctx, role)
    if not cls.found:
        reason, message = messages.class_unread(
            cls.label, cls.problem, cls.resolved,
            not_found=f"; whether an ingress VIP is wanted depends on its {role.variable} variable")
        return RoleState(vip=vip, claim=claim, source=source, blocks=True, condition=Condition(INGRESS_READY, False, reason, message))
    if claim is None and vip is None:
        return RoleState(
            vip=None,
            condition=Condition(
                INGRESS_READY, True, Reason.DISABLED, messages.no_variable(cls.label, role.variable) + "; no ingress VIP is allocated"
            ),
        )
    kept = f"{claim.label} is kept" if claim is not None else "the Cluster keeps its annotation"
    if claim is None and live and ctx.sources.get(INGRESS) == POOL:
        # Its claim went (by hand, say) and is not made again while the class lacks the variable.
        kept += f", but no claim reserves {live} any more, so IPAM may give it to another cluster: reserve it in its pool (spec.excludedAddresses)"
    message = clusterclass.missing_variable_message(cls, role.variable, f"the ingress VIP {vip or ''}".rstrip()) + (
        f". {kept}; to release it annotate the XR {ctx.inp.annotations.ingress_enabled}=\"false\""
    )
    ctx.warn(Reason.CLUSTER_CLASS_MISSING_VARIABLE, message)
    return RoleState(
        vip=vip, claim=claim, source=source, condition=Condition(INGRESS_READY, False, Reason.CLUSTER_CLASS_MISSING_VARIABLE, message)
    )


# --- manual VIPs checked against the pools (Input manualVips.checkPools) ------------------


_WAITING = (Reason.WAITING_FOR_ADDRESS, "")  # the pools are not fetched yet


def _manual_problem(ctx: _Context, role_key: str, vip: str) -> tuple[Reason, str] | None:
    """Why a manual VIP must not be put in place, if a pool or the XR's other claims say so.

    The pools of the XR's class for every role it uses are read (the selectors a claim of that role
    uses; nothing else is listed): a pool that can hand the VIP out may give it to another
    cluster, whichever role it serves. A VIP that another claim of the XR holds (the other role's,
    or a service load-balancer address) is a Conflict.
    Returns _WAITING while Crossplane has not fetched the pools."""
    req, inp = ctx.req, ctx.inp
    if role_key in SECONDARY_CLAIM_RESOURCE:
        base = CONTROL_PLANE if role_key == SECONDARY[CONTROL_PLANE] else INGRESS
        what = f"secondary {base} VIP"
        field = f"{inp.xr.cluster_spec_path}.topology.variables {_secondary_role(ctx, base).variable}"
    else:
        what, field = (("control-plane endpoint", _host_field(ctx)) if role_key == CONTROL_PLANE
                       else ("ingress VIP", f"the XR annotation {inp.annotations.ingress_vip}"))
    for other_key in (k for k in (CONTROL_PLANE, INGRESS, *SECONDARY.values()) if k != role_key):
        other = ctx.claims.get(other_key)
        if other is None or (other.deleting and other_key in SECONDARY_CLAIM_RESOURCE):
            continue
        other_address = _address(ctx, other_key, other)
        if _known(other_address) and _explains(other_address, vip):
            return Reason.CONFLICT, messages.manual_shared(what, vip, req.xr_name, field, other.label, f"the {other_key} VIP")
    lb_in_use = ctx.cls.found and ctx.cls.defines(inp.roles.service_lb.variable)
    for index, claim in sorted(_observed_lb(ctx)[0].items()):
        if not claim.deleting and vip in _lb_known(ctx, index, claim):
            return Reason.CONFLICT, messages.manual_shared(what, vip, req.xr_name, field, claim.label,
                                                           "a service load-balancer address")
    roles = (inp.roles.control_plane, inp.roles.ingress, *((inp.roles.service_lb,) if lb_in_use else ()))
    choices = [_pool_choice(ctx, role) for role in roles]
    if not all(c.resolved for c in choices):
        return _WAITING
    inside, unreadable = [], []
    for pool in (p for c in choices for p in c.candidates):
        try:
            allocatable = ranges.read(pool.spec)
        except ranges.Unreadable as e:
            unreadable.append(f"{pool.label}: {e}")
            continue
        if allocatable.can_hand_out(vip):
            inside.append(f"{pool.label} (spec.addresses: {', '.join(allocatable.listed)})")
    if inside:
        return Reason.MANUAL_VIP_IN_POOL, messages.manual_in_pool(what, vip, req.xr_name, field, inside)
    if unreadable:
        return Reason.INVALID_POOL, messages.manual_unreadable(what, vip, req.xr_name, unreadable)
    return None


def _check_manual(ctx: _Context, slot: Slot, state: RoleState) -> RoleState:
    """Put a manual VIP in place only where no pool can hand it out (Input manualVips.checkPools).

    A VIP the Cluster does not carry yet is held back: a Cluster not composed yet waits, with a
    False condition naming the pool and the excludedAddresses line; an observed Cluster without an
    endpoint is composed without one (a live endpoint never changes, so it would stay for good).
    A VIP the live Cluster already serves stays, and the XR warns on every reconcile until the
    pool excludes it. (A new manual ingress VIP for an observed Cluster is refused in _ingress,
    before anything is decided on it.) A DNS name is no pool's and is not checked.
    """
    if state.source != MANUAL or state.vip is None or addresses.parse_ip(state.vip) is None:
        return state
    vip, cluster = state.vip, ctx.cluster
    serving = cluster is not None and (cluster.host if slot.key == CONTROL_PLANE else cluster.ingress_annotation) == vip
    problem = _manual_problem(ctx, slot.key, vip)
    if problem is None:
        return state
    reason, message = problem
    if serving:
        if problem is not _WAITING:
            ctx.warn(reason, message)
        return state
    if problem is _WAITING:
        message = messages.manual_waiting_for_pools(slot.role.label_value, vip)
    else:
        message += "; it is put in place once that is fixed"
        ctx.warn(reason, message)
    held = dataclasses.replace(state, blocks=True, condition=Condition(slot.condition, False, reason, message))
    if cluster is not None and slot.key == CONTROL_PLANE:
        return dataclasses.replace(held, vip=None, source=None)  # the observed Cluster stays, without an endpoint
    return held


# --- allocation from pools ---------------------------------------------------------------


def _pool_choice(ctx: _Context, role: Role, family: str | None = None) -> pools.Choice:
    req = ctx.req
    reqs = pools.requirements(ctx.inp, role.label_value, req.class_name, req.namespace)
    for name, selector in reqs.items():
        ctx.require(name, selector)
    return pools.choose(ctx.inp, ctx.fetched, role.label_value, req.class_name, reqs, req.namespace, family)


def _no_pool_message(ctx: _Context, role: Role, choice: pools.Choice, family: str | None = None) -> tuple[Reason, str]:
    req, labels = ctx.req, ctx.inp.labels
    kinds = " or ".join(
        f"{k.kind}{' in namespace ' + req.namespace if k.namespaced else ''}" for k in ctx.inp.ipam.pool_kinds
    )
    return messages.no_pool(
        req.class_name, role.label_value, candidates=[(p.label, p.free, p.total) for p in choice.candidates],
        family=family, class_label=labels.cluster_class, role_label_key=labels.role, kinds=kinds,
    )


# How long after Crossplane's watch circuit breaker opened on an XR its events may still be dropped:
# twice Crossplane's default cooldown (--circuit-breaker-cooldown, 5m). After the cooldown, the next
# event gets through (it closes the breaker).
EVENTS_DROPPED_FOR = 600.0


def _events_dropped(ctx: _Context) -> bool:
    """Whether Crossplane may be dropping the XR's watch events, a user's edit among them: then a change
    reaches the XR only through a requeue, so the TTL is the waiting one. Only for a while: the
    condition stays False until an event after the cooldown closes the breaker, and a quiet XR has none."""
    opened = ctx.req.watch_circuit_opened
    if opened is None:
        return False
    return ctx.now is None or ctx.now - opened < EVENTS_DROPPED_FOR


# How long a claim is given to bind before its pools are read. The in-cluster IPAM provider binds claims
# one at a time (one worker): 32 a second with nothing else running, about 2 a second while a burst of
# clusters loads the API server (100 clusters on 2 cores: the last endpoint at 110 s). Reading the pools
# sooner re-runs every waiting XR on each address handed out (the pool's status changes), which slows
# IPAM down and keeps more XRs waiting: a feedback loop measured at 33 reconciles per XR (bench/peers.py). The cost of waiting this long: a claim
# whose pool was deleted or ran out after it was made (clusters created together from its last
# addresses) is moved, and a new Cluster held back by an ingress claim composed without it, this much later.
BINDING = 120.0


def _binding(ctx: _Context, claim: claims.Claim) -> bool:
    """A claim made less than BINDING ago: IPAM may still be binding it, so its pools are not read.

    A pool's status changes with every address it hands out, and Crossplane re-runs every XR that
    requires the pool on each change. Were the pools required while a claim binds, each XR of a
    class created together would be re-run by every other one's allocation (n XRs, n² reconciles),
    and Crossplane's watch circuit breaker would open on them. A claim still unbound at the first
    reconcile after BINDING (a requeue at the waiting TTL at the latest) is read with its pools: gone,
    being deleted or full is warned about, and the claim moved where it may be.

    The age is measured on a 2-second grid, so that every call of one reconcile sees the same claims
    as binding (the requirements change at most once in it), and allowing for the creationTimestamp's
    whole seconds; a claim that seems made in the future (the function's clock behind the API
    server's) is binding too, for as long."""
    if ctx.now is None or claim.created is None:
        return False
    age = ctx.now - ctx.now % 2 - claim.created
    return -BINDING <= age < BINDING


def _pending(ctx: _Context, role_key: str, claim: claims.Claim) -> tuple[Reason | None, str]:
    """Why a claim is still unbound, if its pool tells: gone, or exhausted."""
    kind = next((k for k in ctx.inp.ipam.pool_kinds if k.kind == claim.pool_ref.kind), None)
    if kind is None:
        return None, ""
    requirement = f"pools/{role_key}/claimed"
    selector = Selector(
        api_version=kind.api_version,
        kind=kind.kind,
        name=claim.pool_ref.name,
        namespace=claim.namespace if kind.namespaced else None,
    )
    ctx.require(requirement, selector)
    if not ctx.fetched.resolved(requirement):
        return None, ""
    pool = ctx.fetched.find(requirement, selector)
    if pool is not None and (pool.get("metadata") or {}).get("deletionTimestamp"):
        return Reason.POOL_NOT_FOUND, messages.pool_deleting(claim.label, claim.pool_ref.label)
    if pool is None:
        return Reason.POOL_NOT_FOUND, messages.pool_gone(claim.label, claim.pool_ref.label)
    free = pools.count(pool.get("status"), "free")
    if free is not None and free <= 0:
        return Reason.POOL_EXHAUSTED, messages.pool_full(claim.label, claim.pool_ref.label)
    return None, ""


def _can_move(ctx: _Context, role_key: str, claim: claims.Claim, choice: pools.Choice) -> bool:
    """An unbound claim whose pool is gone or full may move to another matching pool with room.

    It holds no address and nothing uses it yet, so letting it go loses nothing; a claim
    protected by a Usage (a live Cluster's re-made claim) stays where it is.
    """
    target = choice.pool
    if target is None or _usage_rn(role_key) in ctx.observed or _claim_rn(role_key) not in ctx.observed:
        return False  # a claim found existing (adopt.py) is not ours to move before it is composed
    return (target.kind.kind, target.name) != (claim.pool_ref.kind, claim.pool_ref.name)


def _allocate(
    ctx: _Context, slot: Slot, claim: claims.Claim | None, address: claims.Address | None, *, required: bool,
    live: str | None = None,
) -> RoleState:
    """Claim a VIP from a pool and wait for IPAM to bind it.

    ``required``: the Cluster cannot exist without this VIP (control plane). A missing
    or exhausted pool for an optional VIP (ingress) never holds the Cluster back.
    ``live``: the VIP a live Cluster already uses, which stays meanwhile (see _unbound_under).
    """
    role_key, role, cond_type = slot.key, slot.role, slot.condition
    family = ctx.family.get(role_key)
    if claim is None:
        choice = _pool_choice(ctx, role, family)
        if role_key in ctx.looking_up:
            name = claims.name_for(role, ctx.req.name)
            message = f"waiting for Crossplane to tell whether IPAddressClaim {ctx.req.namespace}/{name} exists already"
            return RoleState(vip=None, blocks=True, condition=Condition(cond_type, False, Reason.WAITING_FOR_ADDRESS, message))
        if not choice.resolved:
            return RoleState(
                vip=None,
                blocks=True,
                condition=Condition(
                    cond_type, False, Reason.WAITING_FOR_ADDRESS, f"waiting for Crossplane to fetch {role.label_value} pools"
                ),
            )
        if choice.pool is None:
            reason, message = _no_pool_message(ctx, role, choice, family)
            if not required:
                message += "; the Cluster is composed without it, and it is added once a pool has room"
            ctx.warn(reason, message)
            return RoleState(vip=None, blocks=required, condition=Condition(cond_type, False, reason, message))
        claim = claims.new(role, ctx.req.name, ctx.req.namespace, choice.pool)
        if role_key in SECONDARY_CLAIM_RESOURCE and not addresses.is_object_name(claim.name):
            msg = (f"XR {ctx.req.xr_name}: the claim name {claim.name!r} (from Input roles.*.secondaryClaimName "
                   f"{role.claim_name!r}) is not a valid object name; use a shorter XR name or claim pattern")
            raise Fatal(msg)
        return RoleState(
            vip=None, claim=claim, blocks=True, condition=Condition(cond_type, False, Reason.WAITING_FOR_ADDRESS, _waiting_message(claim))
        )
    if not claim.bound:
        reason = choice = None
        if not _binding(ctx, claim):
            # Pools are required while the claim is unbound, so it can move if its pool cannot serve it.
            choice = _pool_choice(ctx, role, family)
            reason, message = _pending(ctx, role_key, claim)
        if reason is not None and _can_move(ctx, role_key, claim, choice):
            target = choice.pool
            message = messages.moved(claim.label, claim.pool_ref.label, target.label, message)
            moving = RoleState(vip=None, blocks=True, condition=Condition(cond_type, False, Reason.WAITING_FOR_ADDRESS, message))
            return _release(ctx, role_key, claim, moving, f"moving to {target.label}, which has room")
        if reason is not None:
            if live:
                message += f"; {live} stays on the Cluster meanwhile, reserved by no claim"
            elif not required:
                message += "; the Cluster is composed without the ingress VIP meanwhile"
            ctx.warn(reason, message)
            return RoleState(vip=None, claim=claim, blocks=required, condition=Condition(cond_type, False, reason, message))
        message = _waiting_message(claim)
        if claim.pool_ref.api_group != pools.API_GROUP:
            message += messages.foreign_api_group(claim.pool_ref.api_group, pools.API_GROUP)
            ctx.warn(Reason.WAITING_FOR_ADDRESS, message)
        return RoleState(
            vip=None, claim=claim, blocks=True, condition=Condition(cond_type, False, Reason.WAITING_FOR_ADDRESS, message)
        )
    if address is not None and address.problem:
        ctx.warn(Reason.INVALID_ADDRESS, address.problem)
        return RoleState(
            vip=None, claim=claim, blocks=True, condition=Condition(cond_type, False, Reason.INVALID_ADDRESS, address.problem)
        )
    if address is None or address.value is None:
        message = messages.address_unread(claim.label, f"IPAddress {claim.namespace}/{claim.address_name}",
                                          address is not None and address.resolved)
        return RoleState(
            vip=None, claim=claim, blocks=True, condition=Condition(cond_type, False, Reason.WAITING_FOR_ADDRESS, message)
        )
    return RoleState(
        vip=address.value,
        claim=claim,
        source=POOL,
        origin=f"from {claim.pool_ref.label}",
        condition=Condition(cond_type, True, Reason.ALLOCATED, _bound_message(role, address.value, claim)),
    )


def _names(ctx: _Context) -> list[ledger.Name]:
    """Every address a value of the XR's own, or a position of the live Cluster, names (ledger.py)."""
    inp, req, xr, spec = ctx.inp, ctx.req, f"XR {ctx.req.xr_name}", ctx.inp.xr.cluster_spec_path
    variables = f"{spec}.topology.variables"
    cp, ing, lb = inp.roles.control_plane, inp.roles.ingress, inp.roles.service_lb
    cp2, ing2 = clusters.secondary_variable(inp, cp), clusters.secondary_variable(inp, ing)
    names = ledger.own([
        (req.manual_host, f"{_host_field(ctx)} of {xr}"),
        (req.manual_ingress, f"the annotation {inp.annotations.ingress_vip} of {xr}"),
        # Read as the function applies them: the first entry of a variable written twice.
        *((_written_variable(ctx, var), f"{var} in {variables} of {xr}") for var in (cp2, ing2, lb.variable)),
    ])
    c = ctx.cluster
    if c is None:
        return names
    pair = c.ingress_pair or (c.ingress_annotation, None)
    return names + ledger.live([
        (CONTROL_PLANE, c.host, f"the control-plane endpoint of {c.label}"),
        (CONTROL_PLANE, c.variables.get(cp.variable), f"{cp.variable} of {c.label}"),
        (INGRESS, pair[0], f"the ingress VIP of {c.label}"),
        (INGRESS, c.variables.get(ing.variable), f"{ing.variable} of {c.label}"),
        (SECONDARY[INGRESS], pair[1], f"the secondary ingress VIP of {c.label}"),
        (SECONDARY[CONTROL_PLANE], c.variables.get(cp2), f"{cp2} of {c.label}"),
        (SECONDARY[INGRESS], c.variables.get(ing2), f"{ing2} of {c.label}"),
        (SERVICE_LB, c.variables.get(lb.variable), f"a service load-balancer address of {c.label}"),
    ])


def _release(ctx: _Context, role_key: str, claim: claims.Claim, state: RoleState, why: str) -> RoleState:
    """Let a claim go: at once, or in steps while a Usage protects it (see usages.py).

    Returns state, which keeps the claim (releasing) until no Usage of it is observed. A claim whose address
    something else of the XR names (ledger.py) is not released: it stays, and a Conflict says why; one whose
    address is not read yet stays exactly as it is while anything could name it.
    """
    if claim.bound and not claim.deleting:
        if ctx.names is None:
            ctx.names = _names(ctx)  # (from the XR and the live Cluster alone: the same for every slot)
        address = _address(ctx, role_key, claim)
        if not _known(address):
            # Not fetched yet: it stays as it is until it is. (One read and not found, or no IP, is named by nothing.)
            if ctx.names and not address.resolved:
                return dataclasses.replace(state, claim=claim, action=ClaimAction.HOLD)
        elif (name := ledger.named_elsewhere(ctx.names, role_key, address.value)) is not None:
            ctx.warn(Reason.CONFLICT, messages.kept_named(claim.label, address.value, name.where, why))
            return dataclasses.replace(state, claim=claim, action=ClaimAction.KEEP)
    usage = usages.read_observed(ctx.observed.get(_usage_rn(role_key)))
    if _claim_rn(role_key) not in ctx.observed:
        # Found existing (adopt.py): Crossplane can only delete what it composed, so it is
        # composed first, and let go on the next reconcile.
        ctx.tell(Reason.RELEASED, messages.releasing(role_key, claim.label, "adopting it first", why), role_key)
        return dataclasses.replace(state, claim=claim, action=ClaimAction.RELEASING)
    if usage is None:
        ctx.decision.released.add(_claim_rn(role_key))
        ctx.tell(Reason.RELEASED, messages.released(role_key, claim.label, why), role_key)
        return state
    step = "detaching its Usage" if usage.attached else "removing its Usage"
    ctx.tell(Reason.RELEASED, messages.releasing(role_key, claim.label, step, why), role_key)
    return dataclasses.replace(state, claim=claim, action=ClaimAction.RELEASING)


# --- dual stack: a VIP of each address family (roles.*.secondaryVariable) -------------------


@dataclasses.dataclass(frozen=True)
class _SecondaryRole:
    """A role's VIP of the other family: the role's pools and label, a variable and a claim name of its own."""

    label_value: str
    variable: str
    claim_name: str


def _secondary_role(ctx: _Context, key: str) -> _SecondaryRole:
    role = ctx.inp.roles.control_plane if key == CONTROL_PLANE else ctx.inp.roles.ingress
    return _SecondaryRole(
        label_value=role.label_value,
        variable=clusters.secondary_variable(ctx.inp, role),
        claim_name=role.secondary_claim_name or f"{role.claim_name}-secondary",
    )


def _secondary_names(ctx: _Context) -> tuple[str, ...]:
    """The observed secondary claims and Usages that are the function's."""
    names = (*SECONDARY_CLAIM_RESOURCE.values(), *SECONDARY_USAGE_RESOURCE.values())
    return tuple(n for n in names if n in ctx.observed and n not in ctx.sec_others)


def _of_kind(name: str, obj: object, earlier: frozenset[str], api_version: str, kind: str) -> bool:
    """Whether an observed resource of one of the function's optional names is the function's: of its kind (any
    version of the group: the Input's apiVersion may change), and not one an earlier pipeline step desires."""
    group = api_version.rpartition("/")[0]
    seen = obj.get("apiVersion") if isinstance(obj, dict) else None
    return (name not in earlier and isinstance(obj, dict)
            and (seen is None or (isinstance(seen, str) and seen.rpartition("/")[0] == group))
            and obj.get("kind") in (None, kind))


def _read_secondaries(ctx: _Context) -> None:
    """Which roles the ClusterClass gives a pair (it defines their secondary variable), and the observed
    secondary claims of the function's. A resource of a secondary name that is another kind or an earlier
    step's is left alone where the role has no pair, and Fatal where it has (see _secondary)."""
    inp = ctx.inp
    cp, ing = inp.roles.control_plane, inp.roles.ingress
    for key, role, other in ((CONTROL_PLANE, cp, ing), (INGRESS, ing, cp)):
        variable = clusters.secondary_variable(inp, role)
        # A derived name that is another variable of the Input's is not this role's pair.
        taken = {cp.variable, ing.variable, inp.roles.service_lb.variable, clusters.secondary_variable(inp, other),
                 *((inp.dns.variable,) if inp.dns is not None else ())}
        if ctx.cls.found and ctx.cls.defines(variable) and ctx.cls.defines(role.variable) and variable not in taken:
            ctx.dual[key] = variable
        skey = SECONDARY[key]
        for name, api_version, kind in ((SECONDARY_CLAIM_RESOURCE[skey], inp.ipam.claim_api_version, "IPAddressClaim"),
                                        (SECONDARY_USAGE_RESOURCE[skey], usages.API_VERSION, "Usage")):
            if name in ctx.observed and not _of_kind(name, ctx.observed[name], ctx.earlier, api_version, kind):
                ctx.sec_others.add(name)
        name = SECONDARY_CLAIM_RESOURCE[skey]
        claim = None
        if name in ctx.observed and name not in ctx.sec_others:
            claim = claims.read_observed(ctx.observed[name])
            if claim is None:
                msg = (f"the observed secondary {key} IPAddressClaim ({name}) has no readable metadata.name, "
                       "namespace or spec.poolRef; nothing is applied until it has")
                raise Fatal(msg)
        ctx.claims[skey] = claim
        if key in ctx.dual:
            # A claim made again under a live Cluster (or a recorded VIP) keeps that VIP's family; only a
            # new pair takes dualStack.primaryFamily.
            ctx.family[key] = _live_family(ctx, key) or inp.dual_stack.primary_family
    clash = sorted(n for n in ctx.sec_others if any(n.startswith((CLAIM_RESOURCE[k], USAGE_RESOURCE[k]))
                                                    for k in ctx.dual))
    if clash:
        msg = (f"{', '.join(clash)}: composed resources of these names are the function's secondary (dual-stack) claims "
               f"and Usages, but these are of another kind or an earlier pipeline step's, and {ctx.cls.label} asks for "
               "a VIP pair; rename them")
        raise Fatal(msg)


def _written_secondary_is(ctx: _Context, key: str, claim: claims.Claim, address: claims.Address | None) -> bool:
    """Whether the secondary VIP the XR writes itself (where the role has a pair) is, or may be, the address of the
    role's primary claim: a manual primary then does not release that claim (the XR swapped its pair, say)."""
    if key not in ctx.dual or claim.deleting or not claim.bound:
        return False
    written = _written_variable(ctx, ctx.dual[key])
    vip = addresses.parse_ip(written) if isinstance(written, str) else None
    return vip is not None and (not _known(address) or _explains(address, vip))


def _live_family(ctx: _Context, key: str) -> str | None:
    """The family of the role's primary VIP from a pool, as the live Cluster or the XR's status has it, if any
    (a manual VIP, the user's own, says nothing of the family the pair's primary claim needs)."""
    if ctx.sources.get(key) == MANUAL:
        # The secondary claim the XR keeps (its manual primary was that address) says which family the pair has.
        claim = ctx.claims.get(SECONDARY[key])
        if claim is not None and claim.bound and not claim.deleting:
            address = _address(ctx, SECONDARY[key], claim)
            if _known(address):
                return pools.other_family(pools.family(address.value))
        return None
    cluster, found = ctx.cluster, []
    if cluster is not None and key == CONTROL_PLANE:
        found = [cluster.host, _str(cluster.variables.get(ctx.inp.roles.control_plane.variable))]
    elif cluster is not None:
        found = [cluster.ingress_pair[0] if cluster.ingress_pair else cluster.ingress_annotation]
    found.append(ctx.recorded.get(key))
    return next((f for f in map(pools.family, found) if f), None)


def _live_secondary(ctx: _Context, key: str, variable: str) -> str | None:
    """The secondary VIP the live Cluster carries: its variable (canonical where an IP), or for ingress the
    annotation's second address."""
    if ctx.cluster is None:
        return None
    value = ctx.cluster.variables.get(variable)
    if isinstance(value, str) and value:
        return addresses.parse_ip(value) or value
    return ctx.cluster.ingress_secondary if key == INGRESS else None


def _written_variable(ctx: _Context, variable: str) -> object:
    """The value the XR writes for a variable itself (the first entry of one written twice), or None."""
    return next((structs.plain(v.get("value")) for v in ctx.req.spec["topology"].get("variables") or []
                 if isinstance(v, dict) and v.get("name") == variable and "value" in v), None)


def _secondary(ctx: _Context, key: str, primary: RoleState) -> RoleState | None:
    """The role's secondary (see _secondary_state), with a refused manual one reported as refused."""
    refused: list = []
    state = _secondary_state(ctx, key, primary, refused)
    refused = [r for r in refused if r is not None]  # None: a Conflict, warned about, the live value kept
    if state is None or not refused:
        return state
    reason, message = refused[0]
    return dataclasses.replace(state, blocks=state.blocks or ctx.cluster is None,
                               condition=Condition(state.condition.type, False, reason, message))


def _secondary_state(ctx: _Context, key: str, primary: RoleState, refusals: list) -> RoleState | None:
    """The role's VIP of the other address family, where the ClusterClass defines the secondary variable.

    Claimed from a pool of the role whose spec.addresses are of the other family than the primary VIP's
    (before that is known, than dual_stack.primaryFamily). A new Cluster waits for it as for the primary,
    but a missing or exhausted pool of that family never holds it back. A live Cluster's secondary VIP
    never changes; one it lacks is added once bound. It goes (its claim released) only when the XR
    turns it off: the dual-stack annotation "false", ingress turned off, the primary VIP made the XR's
    own, or the variable written on the XR. A ClusterClass that cannot be read, or lost the variable,
    releases nothing. None: the role has no pair and nothing of one exists.
    """
    inp, req, cls = ctx.inp, ctx.req, ctx.cls
    skey = SECONDARY[key]
    role = _secondary_role(ctx, key)
    cond = CONTROL_PLANE_SECONDARY_READY if key == CONTROL_PLANE else INGRESS_SECONDARY_READY
    slot = Slot(skey, role, cond)
    claim = ctx.claims[skey]
    live = _live_secondary(ctx, key, role.variable)
    what = f"secondary {key} VIP"
    written = _written_variable(ctx, role.variable)
    if written == "":
        written = None  # the class's default, as an empty annotation is none
    pair_off = req.dual_stack_disabled or (key == INGRESS and req.ingress_disabled)
    if written is not None and not pair_off and _repeats_pool(ctx, skey, written if isinstance(written, str) else None, live):
        # The pool VIP the Cluster serves, copied onto the XR: still the pool's. (With the pair turned off it is
        # the XR's own value: kept, not given up while the XR names it, and not taken off the Cluster.)
        written = None
    if claim is None and key not in ctx.dual and (live is None or addresses.parse_ip(live) is None or written is not None):
        return None  # no pair (or not known yet): a variable the XR writes passes through, as any other
    if written is not None and key in ctx.dual and inp.manual_vips.check_pools and not (key == INGRESS and req.ingress_disabled):
        written = _check_written_secondary(ctx, key, written, live, claim, refusals)
        if refusals and claim is None and live is None:
            return RoleState(vip=None, condition=Condition(cond, False, Reason.WAITING_FOR_ADDRESS, ""))  # held back (see _secondary)
    # The XR's own switches count whatever the ClusterClass says (as for the primaries).
    off = None
    if key == INGRESS and req.ingress_disabled:
        off = f"XR annotated {inp.annotations.ingress_enabled}=\"false\""
    elif req.dual_stack_disabled:
        off = f"XR annotated {inp.annotations.dual_stack}=\"false\""
    elif primary.source == MANUAL and not (key == CONTROL_PLANE and live is not None):
        # (A live Cluster's control-plane secondary stays, as its endpoint does.)
        off = (f"the {key} VIP {primary.vip} is the XR's own: a secondary VIP is claimed only beside a pool VIP (write "
               f"{role.variable} in {inp.xr.cluster_spec_path}.topology.variables for one of your own)")
    elif written is not None and cls.found:
        off = f"XR {req.xr_name} sets {role.variable} itself in {inp.xr.cluster_spec_path}.topology.variables"
    if not cls.found and off is None:
        if claim is not None and claim.deleting:
            ctx.decision.released.add(_claim_rn(skey))
            going, claim = claim, None
        else:
            going = None
        reason, message = _class_unread(cls)
        message += f"; whether a {what} is wanted depends on its {role.variable} variable, so it stays as it is"
        return RoleState(vip=live, claim=claim or going, action=ClaimAction.HOLD if claim else ClaimAction.WAIT_GONE if going else None,
                         source=(ctx.sources.get(skey) or POOL) if live else None,
                         condition=Condition(cond, False, reason, message))
    if key not in ctx.dual and off is None:
        return _secondary_without_variable(ctx, slot, claim, live)
    if key not in ctx.dual and claim is None:
        return RoleState(vip=None, condition=Condition(cond, True, Reason.DISABLED, f"no {what}: {off}"))
    if (key == CONTROL_PLANE and written is not None and live is not None and off is not None and not req.dual_stack_disabled
            and addresses.parse_ip(written) != addresses.parse_ip(live)):
        # The secondary endpoint of a live cluster never changes, as its endpoint host does not.
        ctx.warn(Reason.CONFLICT, f"XR {req.xr_name} sets {role.variable}={written}, but {ctx.cluster.label} already "
                 f"serves on {live}, which never changes for a live cluster; set it back to {live} or remove it")
        off = None
        refusals.append(None)  # the live value stays as it is
    if off is not None:
        own = primary.vip if primary.source == MANUAL else None  # a manual primary may be this claim's address
        return _secondary_off(ctx, slot, claim, off, written if key in ctx.dual else None, own)
    if claim is not None and claim.deleting:
        return _claim_deleting(ctx, slot, claim, live, required=True)  # a new Cluster waits for both
    if claim is None and live is None and primary.vip is None and primary.action in (ClaimAction.NONE, ClaimAction.WAIT_GONE):
        # Nothing to pair with yet (no pool for the primary, say): an address claimed now would be held for nothing.
        return RoleState(vip=None, condition=Condition(cond, False, primary.condition.reason,
                                                       f"the {what} is claimed once the {key} VIP has a claim"))
    family = pools.family(primary.vip)
    if family is None and key == CONTROL_PLANE and ctx.cluster is not None:
        family = pools.family(_str(ctx.cluster.variables.get(inp.roles.control_plane.variable)))
    family = family or inp.dual_stack.primary_family
    ctx.family[skey] = pools.other_family(family)
    address = _address(ctx, skey, claim)
    if live is not None and ctx.sources.get(skey) == MANUAL and refusals:
        # The XR's own live secondary, and a new value that is refused: the live one stays, nothing is claimed.
        return RoleState(vip=live, claim=claim, action=ClaimAction.HOLD if claim is not None else None, source=MANUAL,
                         condition=Condition(cond, True, Reason.MANUAL, messages.on_cluster(f"secondary {key}", live, ctx.cluster.label)))
    if live is not None and ctx.sources.get(skey) == MANUAL:
        # The XR's own secondary VIP was removed from it: a pool VIP replaces it once bound (the user's own
        # address, so no pool loses it meanwhile).
        state = _allocate(ctx, slot, claim, address, required=False)
        if state.vip is None:
            state.vip, state.source, state.blocks = live, MANUAL, False
        return state
    if live is not None:
        if addresses.parse_ip(live) is None:
            # A name, not an address: the user's own, which no pool reserves. It stays.
            return RoleState(vip=live, claim=claim, action=ClaimAction.HOLD if claim is not None and claim.bound and not _known(address) else None,
                             source=MANUAL, condition=Condition(cond, True, Reason.MANUAL, messages.on_cluster(f"secondary {key}", live, ctx.cluster.label)))
        if claim is None:
            return _remake(ctx, slot, live)
        if not claim.bound:
            return _unbound_under(ctx, slot, claim, live, required=False)
        if not _known(address):
            return _hold(ctx, slot, claim, address, live, source=ctx.sources.get(skey) or POOL)
        if not _explains(address, live):
            ctx.warn(
                Reason.ADDRESS_MISMATCH,
                f"{ctx.cluster.label} carries {role.variable}={live}, but {claim.label} is bound to {address.value} (the "
                f"Cluster was changed by hand, or the claim made again after a hand deletion). The VIPs of a live cluster "
                f"never change, so {live} stays: reserve it in {claim.pool_ref.label} (spec.excludedAddresses) so IPAM "
                f"gives it to no other cluster; the claim holds {address.value} until the XR turns the pair off "
                f"({inp.annotations.dual_stack}=\"false\").",
            )
        return _serves(slot, live, claim, address.value if _explains(address, live) else None, ctx.cluster)
    state = _allocate(ctx, slot, claim, address, required=False)
    if state.vip is not None and pools.family(state.vip) == family and state.claim is not None:
        # Its pool was of the primary's family after all (edited, or the primary's claim bound in the other
        # family than was asked): it holds nothing the Cluster uses, so it is made again from the right one.
        message = (f"{state.claim.label} is bound to {state.vip}, of the same family ({family}) as the {key} VIP "
                   f"{primary.vip}; it is released and claimed again from a pool of {pools.other_family(family)} addresses. "
                   f"Check the spec.addresses of {state.claim.pool_ref.label}")
        ctx.warn(Reason.FAMILY_MISMATCH, message)
        waiting = RoleState(vip=None, blocks=True, condition=Condition(cond, False, Reason.FAMILY_MISMATCH, message))
        return _release(ctx, skey, state.claim, waiting, f"of the {key} VIP's family ({family})")
    return state


def _check_written_secondary(
    ctx: _Context, key: str, written: object, live: str | None, claim: claims.Claim | None, refusals: list
) -> object:
    """The XR's own secondary VIP, checked against the pools as a manual primary is (manualVips.checkPools),
    before anything is decided on it: one a pool can hand out, that the Cluster does not carry yet, is
    decided as if the XR did not write it (so nothing the Cluster serves is released), and reported in
    ``refusals``; one the live Cluster already carries is warned about on every reconcile."""
    vip = addresses.parse_ip(written) if isinstance(written, str) else None
    if vip is None:
        return written  # not an address: _secondary_off says so
    if claim is not None and not claim.deleting and claim.bound:
        address = _address(ctx, SECONDARY[key], claim)
        if not _known(address) or _explains(address, vip):
            return written  # its own claim's address (or maybe: not read yet), which no pool hands to another
    problem = _manual_problem(ctx, SECONDARY[key], vip)
    if problem is None:
        return written
    reason, message = problem
    if problem is _WAITING:
        refusals.append((reason, messages.manual_waiting_for_pools(f"secondary {key}", vip)))
        return None if live != vip else written
    ctx.warn(reason, message)
    if live == vip:
        return written
    refusals.append((reason, message + "; it is put in place once that is fixed"))
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _secondary_off(
    ctx: _Context, slot: Slot, claim: claims.Claim | None, why: str, written: object, own: str | None = None
) -> RoleState:
    """The XR turned the secondary VIP off, or made it its own: the claim goes, unless the XR's own value
    (the secondary it writes, or the manual primary ``own``) is its address (then it stays claimed) or its
    address is not read yet."""
    manual = None
    if written is not None:
        manual = addresses.parse_ip(written) if isinstance(written, str) else None
        if manual is None:
            msg = (f"XR {ctx.req.xr_name} sets {slot.role.variable} in {ctx.inp.xr.cluster_spec_path}.topology.variables "
                   f"to {structs.describe(written)}, which is not an IP address; fix it, or remove it to have the "
                   "secondary VIP claimed from a pool")
            raise Fatal(msg)
    source = MANUAL if manual else None
    state = RoleState(vip=manual, source=source,
                      condition=Condition(slot.condition, True, Reason.MANUAL if manual else Reason.DISABLED,
                                          f"secondary VIP {manual} set by the XR" if manual else f"no secondary VIP: {why}"))
    if claim is None:
        return state
    if claim.deleting:
        ctx.decision.released.add(_claim_rn(slot.key))
        return state
    address = _address(ctx, slot.key, claim)
    if own and claim.bound and _known(address) and _explains(address, own):
        # The XR's manual primary is its address: it stays claimed (the secondary the XR writes, if any, stays its own).
        return dataclasses.replace(state, claim=claim, action=ClaimAction.KEEP, source=source or POOL)
    if own and claim.bound and not _known(address):
        # The manual primary may be this claim's address: it stays exactly as it is until the address is read.
        return dataclasses.replace(_hold(ctx, slot, claim, address, manual, source=source),
                                   blocks=False, condition=state.condition)
    if manual and claim.bound and not _known(address):
        return dataclasses.replace(_hold(ctx, slot, claim, address, manual, source=MANUAL), condition=state.condition)
    if manual and claim.bound and _explains(address, manual):
        # Its own address: it stays claimed; while ingress is off the Cluster does not carry it, so that is said (ledger.py).
        if slot.key == SECONDARY[INGRESS] and ctx.req.ingress_disabled:
            where = f"{slot.role.variable} in {ctx.inp.xr.cluster_spec_path}.topology.variables of XR {ctx.req.xr_name}"
            ctx.warn(Reason.CONFLICT, messages.kept_named(claim.label, address.value, where, why))
        return dataclasses.replace(state, claim=claim, action=ClaimAction.KEEP, source=POOL)
    return _release(ctx, slot.key, claim, state, why)


def _secondary_without_variable(ctx: _Context, slot: Slot, claim: claims.Claim | None, live: str | None) -> RoleState:
    """The ClusterClass no longer defines the secondary variable: CAPI would reject it, so the Cluster loses
    the variable, but the claim stays (the workload cluster's kube-vip may still hold its address)."""
    if claim is None or claim.deleting:
        if claim is not None:
            ctx.decision.released.add(_claim_rn(slot.key))
        if live is None:
            return RoleState(vip=None, claim=claim, action=ClaimAction.WAIT_GONE if claim else None, condition=Condition(
                slot.condition, True, Reason.DISABLED, messages.no_variable(ctx.cls.label, slot.role.variable)))
        message = clusterclass.missing_variable_message(ctx.cls, slot.role.variable, f"the secondary VIP {live}") + (
            f". No claim reserves {live} any more, so IPAM may give it to another cluster: reserve it in its pool "
            f"(spec.excludedAddresses); to take it off the Cluster annotate the XR {ctx.inp.annotations.dual_stack}=\"false\"")
        ctx.warn(Reason.CLUSTER_CLASS_MISSING_VARIABLE, message)
        return RoleState(vip=live, claim=claim, action=ClaimAction.WAIT_GONE if claim else None, source=ctx.sources.get(slot.key) or POOL,
                         condition=Condition(slot.condition, False, Reason.CLUSTER_CLASS_MISSING_VARIABLE, message))
    address = _address(ctx, slot.key, claim)
    vip = live or (address.value if _known(address) else None)
    message = clusterclass.missing_variable_message(ctx.cls, slot.role.variable, f"the secondary VIP {vip or ''}".rstrip()) + (
        f". {claim.label} is kept; to release it annotate the XR {ctx.inp.annotations.dual_stack}=\"false\"")
    ctx.warn(Reason.CLUSTER_CLASS_MISSING_VARIABLE, message)
    return RoleState(vip=live, claim=claim, action=ClaimAction.HOLD if claim.bound and not _known(address) else None, source=ctx.sources.get(slot.key) or POOL,
                     condition=Condition(slot.condition, False, Reason.CLUSTER_CLASS_MISSING_VARIABLE, message))


# --- service load-balancer addresses (roles.serviceLb) -------------------------------------


@dataclasses.dataclass
class ServiceLb:
    """The service-lb addresses' outcome: what to compose per index, and the variable's value."""

    slots: dict[int, RoleState] = dataclasses.field(default_factory=dict)  # index -> its claim's state
    addresses: list[str] | None = None  # the variable's value, in index order; None: as the live Cluster has it
    condition: Condition | None = None  # None while the XR uses none


def _lb_key(index: int) -> str:
    return f"{SERVICE_LB}-{index}"


def _lb_claim_name(ctx: _Context, index: int) -> str:
    return ctx.inp.roles.service_lb.claim_name.replace("{cluster}", ctx.req.name).replace("{index}", str(index))


def _observed_lb(ctx: _Context) -> tuple[dict[int, claims.Claim], set[int]]:
    """The service-lb claims and Usages the XR composed, by index. A resource of such a name that is of
    another kind, or that an earlier pipeline step desires, is not the function's: it is left alone
    while the role is not in use, and Fatal when it is (see _service_lb)."""
    found: dict[int, claims.Claim] = {}
    usages_seen: set[int] = set()
    for name in ctx.lb_names:
        index = lb_index(name)
        if name.startswith(LB_USAGE_PREFIX):
            usages_seen.add(index)
            continue
        claim = claims.read_observed(ctx.observed[name])
        if claim is None:
            msg = (f"the observed service-lb IPAddressClaim ({name}) has no readable metadata.name, namespace or "
                   "spec.poolRef; nothing is applied until it has")
            raise Fatal(msg)
        found[index] = claim
    return found, usages_seen


def lb_names_of(observed: dict[str, dict], earlier: frozenset[str], inp: Input) -> tuple[set[str], set[str]]:
    """(ours, others): the observed resources named as service-lb claims or Usages, by whether they are ours."""
    ours, others = set(), set()
    kinds = {LB_CLAIM_PREFIX: (inp.ipam.claim_api_version, "IPAddressClaim"), LB_USAGE_PREFIX: (usages.API_VERSION, "Usage")}
    for name, obj in observed.items():
        if lb_index(name) is None:
            continue
        api_version, kind = kinds[LB_USAGE_PREFIX if name.startswith(LB_USAGE_PREFIX) else LB_CLAIM_PREFIX]
        (ours if _of_kind(name, obj, earlier, api_version, kind) else others).add(name)
    return ours, others


def _service_lb(ctx: _Context) -> ServiceLb:
    """A set of addresses for type: LoadBalancer Services in the workload cluster, wanted where the
    ClusterClass defines the variable; how many, the XR's count annotation says (else the Input).

    Nothing here holds the Cluster back (its API server does not need them). Raising the count
    adds claims and keeps the addresses there are; lowering it releases the highest indexes. Once
    observed, a claim and its Usage stay in the decision or are released on purpose, as for the
    other roles; a ClusterClass that cannot be read, or lacks the variable, releases nothing. No
    address leaves the live Cluster's list while its claim lives, and none stays there once its
    claim is released: a claim whose address is not read yet is not released until it is.
    """
    inp, req, cls = ctx.inp, ctx.req, ctx.cls
    role = inp.roles.service_lb
    observed, usages_seen = _observed_lb(ctx)
    in_use = cls.found and cls.defines(role.variable)
    if not observed and not usages_seen and not in_use:
        return ServiceLb()  # not in use: nothing fetched, nothing said
    _check_lb_role(ctx)
    out = ServiceLb()
    if not in_use:
        _lb_unwanted(ctx, out, observed, usages_seen)
        return out
    written = _written_variable(ctx, role.variable)
    if written is not None:
        _lb_written(ctx, out, observed, usages_seen, written)
        return out
    count = req.service_lb_count if req.service_lb_count is not None else role.default_count
    where = (f"XR annotation {inp.annotations.service_lb_count}={count}" if req.service_lb_count is not None
             else f"the Composition's default roles.serviceLb.defaultCount={count}")
    live = ctx.cluster.variables.get(role.variable) if ctx.cluster is not None else None
    live = live if isinstance(live, list) else None
    giving_up: set[str] = set()  # addresses of claims released or deleted now: they leave the list
    held_unread: list[int] = []  # indexes whose claim is kept while its address is not read
    recorded = ctx.lb_recorded

    def gone(index: int, claim: claims.Claim) -> None:
        giving_up.update(_lb_known(ctx, index, claim) or ([recorded[index]] if index in recorded else []))

    for index, claim in sorted(observed.items()):
        if index < count:
            continue
        key = _lb_key(index)
        if claim.deleting:
            ctx.decision.released.add(_claim_rn(key))  # on its way out already
            gone(index, claim)
            continue
        known = _lb_known(ctx, index, claim)
        if claim.bound and not known:
            # Its address is not read yet, so it could not leave the Cluster's list: released once it is.
            out.slots[index] = RoleState(vip=None, claim=claim, action=ClaimAction.HOLD, condition=_NO_CONDITION)
            held_unread.append(index)
            continue
        giving_up.update(known)
        why = (f"{where} asks for {count} service load-balancer addresses; a LoadBalancer Service in the workload "
               "cluster that still has this address keeps answering on it until you move it")
        out.slots[index] = _release(ctx, key, claim, RoleState(vip=None, condition=_NO_CONDITION), why)
    choice: pools.Choice | None = None
    taken: dict[pools.Pool, int] = {}  # new claims per pool in this reconcile (a Pool is hashable)
    listed: list[str] = []
    known_at: dict[int, str] = {}
    unread = 0
    problem: tuple[Reason, str] | None = None
    for index in range(count):
        key = _lb_key(index)
        claim = observed.get(index)
        if claim is not None and claim.deleting:
            # Deleted by hand (a Usage would have refused it): it goes, and is made again once gone;
            # its Usage stays meanwhile.
            ctx.decision.released.add(_claim_rn(key))
            gone(index, claim)
            out.slots[index] = RoleState(vip=None, condition=_NO_CONDITION, claim=claim, action=ClaimAction.WAIT_GONE)
            continue
        if claim is None:
            existing = _lb_existing(ctx, index)
            if existing is _LOOKING:
                continue
            if existing is not None:
                if existing.deleting:
                    out.slots[index] = RoleState(vip=None, condition=_NO_CONDITION, claim=existing, action=ClaimAction.WAIT_GONE)
                    continue
                claim = existing  # one of its name exists already: kept as it is
            else:
                choice = choice or _pool_choice(ctx, role)
                if not choice.resolved:
                    continue
                target = next((p for p in choice.candidates if p.free is None or p.free - taken.get(p, 0) > 0), None)
                if target is None:
                    problem = problem or _no_pool_message(ctx, role, choice)
                    continue
                taken[target] = taken.get(target, 0) + 1
                name = _lb_claim_name(ctx, index)
                if not addresses.is_object_name(name):
                    msg = (f"XR {req.xr_name}: the service-lb claim name {name!r} (from Input roles.serviceLb.claimName "
                           f"{role.claim_name!r}) is not a valid object name; use a shorter XR name or claim pattern")
                    raise Fatal(msg)
                ref = claims.PoolRef(api_group=pools.api_group(target.kind.api_version), kind=target.kind.kind, name=target.name)
                new = claims.Claim(name=name, namespace=req.namespace, pool_ref=ref)
                out.slots[index] = RoleState(vip=None, claim=new, condition=_NO_CONDITION)
                continue
        if not claim.bound:
            reason = None
            if not _binding(ctx, claim):
                reason, message = _pending(ctx, key, claim)
                choice = choice or _pool_choice(ctx, role)
            if reason is not None and _lb_can_move(ctx, index, claim, choice):
                why = f"{message}; it holds no address, so it is made again from {choice.pool.label}"
                out.slots[index] = _release(ctx, key, claim, RoleState(vip=None, condition=_NO_CONDITION), why)
                continue
            if reason is not None:
                ctx.warn(reason, message)
                problem = problem or (reason, message)
            out.slots[index] = RoleState(vip=None, claim=claim, condition=_NO_CONDITION)
            continue
        address = _read_address(ctx, key, claim)
        if address.value is None:
            if address.problem:
                ctx.warn(Reason.INVALID_ADDRESS, address.problem)
                problem = problem or (Reason.INVALID_ADDRESS, address.problem)
            out.slots[index] = RoleState(vip=None, claim=claim, action=ClaimAction.HOLD, condition=_NO_CONDITION)
            held_unread.append(index)
            unread += 1
            continue
        known_at[index] = address.value
        listed.append(address.value)
        out.slots[index] = RoleState(vip=address.value, claim=claim, source=POOL, condition=_NO_CONDITION)
    _drop_lone_usages(ctx, out, usages_seen)
    if not held_unread:
        out.addresses = listed
    elif all(i in recorded for i in held_unread):
        # The XR's status says which address each claim not read yet holds: those stay, in index order.
        out.addresses = [known_at.get(i) or recorded[i] for i in sorted({*known_at, *held_unread})]
    elif live is not None:
        # An address not read yet may be any the Cluster lists: the list stays, but for addresses given up.
        out.addresses = [a for a in live if a not in giving_up]
    else:
        out.addresses = listed
    kept = {**{i: recorded[i] for i in held_unread if i in recorded}, **known_at}
    ctx.decision.status[LB_STATUS_KEY] = ",".join(f"{i}={a}" for i, a in sorted(kept.items()))
    ctx.decision.lb_active = True
    bound = len(listed)
    if problem is not None:
        reason, message = problem
        if reason is not Reason.INVALID_ADDRESS:
            message += "; the Cluster is composed without them, and they are added once a pool has room"
            if reason in (Reason.POOL_NOT_FOUND, Reason.POOL_EXHAUSTED) and not message.startswith("IPAddressClaim"):
                ctx.warn(reason, message)
        out.condition = Condition(SERVICE_LB_READY, False, reason, message)
    elif bound == count:
        out.condition = Condition(SERVICE_LB_READY, True, Reason.ALLOCATED, messages.lb_allocated(count, where, listed))
    else:
        out.condition = Condition(SERVICE_LB_READY, False, Reason.WAITING_FOR_ADDRESS, messages.lb_binding(bound, count, where))
    return out


_LOOKING = claims.Claim(name="", namespace="", pool_ref=claims.PoolRef("", "", ""))  # Crossplane has not answered yet


def _lb_known(ctx: _Context, index: int, claim: claims.Claim) -> list[str]:
    """The address of a bound service-lb claim, once read ([] while it is not)."""
    if claim.address_name is None:
        return []
    value = _read_address(ctx, _lb_key(index), claim).value
    return [value] if value else []


def _lb_existing(ctx: _Context, index: int) -> claims.Claim | None:
    """A claim of the index's name that exists, not observed (an earlier XR of this name's, being deleted,
    say): never composed over. Looked up by name on Crossplane v2.2+, as adopt.py does for the other roles."""
    if not ctx.by_name:
        return None
    selector = Selector(api_version=ctx.inp.ipam.claim_api_version, kind="IPAddressClaim",
                        name=_lb_claim_name(ctx, index), namespace=ctx.req.namespace)
    requirement = adopt.claim_requirement(_lb_key(index))
    ctx.require(requirement, selector)
    found = adopt.lookup(ctx.fetched, requirement, selector)
    if not found.resolved:
        return _LOOKING
    return adopt.read_claim(found, ctx.req, "service load-balancer", _claim_rn(_lb_key(index)))


def _lb_can_move(ctx: _Context, index: int, claim: claims.Claim, choice: pools.Choice) -> bool:
    """An unbound service-lb claim whose pool cannot serve it may be made again from another pool with room:
    it holds no address and no Usage protects it."""
    target = choice.pool
    if target is None or _usage_rn(_lb_key(index)) in ctx.observed:
        return False
    return (target.kind.kind, target.name) != (claim.pool_ref.kind, claim.pool_ref.name)


def _check_lb_role(ctx: _Context) -> None:
    """The service-lb role in use needs pools and a variable of its own."""
    inp = ctx.inp
    lb, cp, ing = inp.roles.service_lb, inp.roles.control_plane, inp.roles.ingress
    clash = None
    if lb.label_value in (cp.label_value, ing.label_value):
        clash = f"roles.serviceLb.labelValue {lb.label_value!r} is another role's"
    elif lb.variable in (cp.variable, ing.variable) or (inp.dns is not None and inp.dns.variable == lb.variable):
        clash = f"roles.serviceLb.variable {lb.variable!r} is another role's"
    if clash:
        msg = f"{clash}, and {ctx.cls.label} uses service load-balancer addresses: give the role its own in the Input"
        raise Fatal(msg)
    if ctx.lb_others:
        names = ", ".join(sorted(ctx.lb_others))
        msg = (f"{names}: composed resources of these names are the function's service-lb claims and Usages, but these "
               "are of another kind or an earlier pipeline step's; rename them")
        raise Fatal(msg)


def _lb_written(ctx: _Context, out: ServiceLb, observed: dict[int, claims.Claim], usages_seen: set[int], written: object) -> None:
    """The XR writes the variable itself: its list is the Cluster's, as a manual VIP is. No claim is made;
    a claim made before is released, unless the list names its address (then that address stays claimed)
    or its address is not read yet."""
    var, label = ctx.inp.roles.service_lb.variable, ctx.inp.xr.cluster_spec_path + ".topology.variables"
    if not isinstance(written, list) or not all(isinstance(a, str) and addresses.parse_ip(a) for a in written):
        msg = (f"XR {ctx.req.xr_name} sets {var} in {label} to {written!r}, which is not a list of IP addresses; "
               f"fix it, or remove it to have the addresses claimed from the service-lb pools")
        raise Fatal(msg)
    named = {addresses.parse_ip(a) for a in written}
    kept: dict[int, str] = {}
    for index, claim in sorted(observed.items()):
        if claim.deleting:
            ctx.decision.released.add(_claim_rn(_lb_key(index)))
            continue
        known = _lb_known(ctx, index, claim)
        if (claim.bound and not known) or set(known) & named:
            out.slots[index] = RoleState(vip=None, claim=claim, action=ClaimAction.HOLD if not known else None, condition=_NO_CONDITION)
            kept.update((index, a) for a in known or ([ctx.lb_recorded[index]] if index in ctx.lb_recorded else []))
            continue
        why = f"XR {ctx.req.xr_name} sets {var} itself in {label}"
        out.slots[index] = _release(ctx, _lb_key(index), claim, RoleState(vip=None, condition=_NO_CONDITION), why)
    _drop_lone_usages(ctx, out, usages_seen)
    out.addresses = written
    ctx.decision.status[LB_STATUS_KEY] = ",".join(f"{i}={a}" for i, a in sorted(kept.items()))
    ctx.decision.lb_active = True
    out.condition = Condition(SERVICE_LB_READY, True, Reason.MANUAL,
                              f"service load-balancer addresses set by XR {ctx.req.xr_name} ({label} {var})")


def _lb_unwanted(ctx: _Context, out: ServiceLb, observed: dict[int, claims.Claim], usages_seen: set[int]) -> None:
    """The ClusterClass cannot be read (whether the set is wanted is not known), or no longer defines the
    variable: what exists stays exactly as it is; only the XR's count annotation "0" releases it."""
    inp, cls, role = ctx.inp, ctx.cls, ctx.inp.roles.service_lb
    release = cls.found and ctx.req.service_lb_count == 0
    for index in sorted(observed.keys() | usages_seen):
        claim = observed.get(index)
        if claim is None or claim.deleting:
            if claim is not None:
                ctx.decision.released.add(_claim_rn(_lb_key(index)))  # on its way out already
            if index in usages_seen and not release:
                out.slots[index] = RoleState(vip=None, condition=_NO_CONDITION, claim=claim or _lb_placeholder(ctx, index), action=ClaimAction.WAIT_GONE)
            continue
        if release:
            why = f"XR annotated {inp.annotations.service_lb_count}=\"0\""
            out.slots[index] = _release(ctx, _lb_key(index), claim, RoleState(vip=None, condition=_NO_CONDITION), why)
        else:
            out.slots[index] = RoleState(vip=None, claim=claim, action=ClaimAction.HOLD, condition=_NO_CONDITION)
    _drop_lone_usages(ctx, out, usages_seen)
    # The claims kept keep their record of which address each holds (see _service_lb).
    held = {i for i, state in out.slots.items() if state.action in (ClaimAction.KEEP, ClaimAction.HOLD)}
    ctx.decision.status[LB_STATUS_KEY] = ",".join(f"{i}={a}" for i, a in sorted(ctx.lb_recorded.items()) if i in held)
    ctx.decision.lb_active = True
    if not cls.found:
        reason, message = _class_unread(cls)
        message += (f"; whether service load-balancer addresses are wanted depends on its {role.variable} variable, "
                    "so the service-lb claims stay as they are")
        out.condition = Condition(SERVICE_LB_READY, False, reason, message)
        return
    if release:
        out.condition = Condition(SERVICE_LB_READY, True, Reason.DISABLED, messages.lb_off(inp.annotations.service_lb_count))
        return
    names = ", ".join(c.label for _, c in sorted(observed.items())) or "their Usages"
    message = clusterclass.missing_variable_message(cls, role.variable, "the service load-balancer addresses",
                                                    clusterclass.ARRAY_SCHEMA) + (
        f". {names} are kept; to release them annotate the XR "
        f"{inp.annotations.service_lb_count}=\"0\""
    )
    ctx.warn(Reason.CLUSTER_CLASS_MISSING_VARIABLE, message)
    out.condition = Condition(SERVICE_LB_READY, False, Reason.CLUSTER_CLASS_MISSING_VARIABLE, message)


def _class_unread(cls: clusterclass.ClassState) -> tuple[Reason, str]:
    """Why a ClusterClass is not read: unreadable (warned in _decide), not found, or not fetched yet."""
    return messages.class_unread(cls.label, cls.problem, cls.resolved)


def _lb_placeholder(ctx: _Context, index: int) -> claims.Claim:
    """The claim a Usage names, where the claim itself is not observed (its Usage is kept as it is)."""
    return claims.Claim(name=_lb_claim_name(ctx, index), namespace=ctx.req.namespace, pool_ref=claims.PoolRef("", "", ""))


def _drop_lone_usages(ctx: _Context, out: ServiceLb, usages_seen: set[int]) -> None:
    """A Usage whose claim is gone (released, or deleted by hand) and that no slot keeps goes too."""
    for index in usages_seen - out.slots.keys():
        ctx.decision.released.add(_usage_rn(_lb_key(index)))


_NO_CONDITION = Condition(SERVICE_LB_READY, True, Reason.ALLOCATED, "")  # a slot's own condition is not reported


# --- composing -------------------------------------------------------------------------


def _compose_claim(ctx: _Context, role_key: str, role: Role, state: RoleState, cluster: dict | None) -> None:
    """The claim, and its Usage by the Cluster where Usages are on, as its action says (lifecycle.py)."""
    claim_name, usage_name = _claim_rn(role_key), _usage_rn(role_key)
    written = lifecycle.compose(
        state.action, state.claim, claims.render(ctx.inp, role, state.claim) if state.action in COMPOSED else None,
        claim_name=claim_name, usage_name=usage_name, observed_usage=ctx.observed.get(usage_name),
        claim_api_version=ctx.inp.ipam.claim_api_version, cluster=cluster, use_usages=ctx.use_usages)
    for name, (resource, ready) in written.composed.items():
        ctx.decision.composed[name] = Composed(resource=resource, ready=ready)
    ctx.decision.released.update(written.released)


def _compose_cluster(
    ctx: _Context, cp: RoleState, ing: RoleState, lb: ServiceLb, second: dict[str, RoleState]
) -> tuple[RoleState, dict | None]:
    """Compose the Cluster, or hold it back; returns the control-plane state as finally reported."""
    inp, req, obs, cls = ctx.inp, ctx.req, ctx.cluster, ctx.cls
    cp_var, ing_var = inp.roles.control_plane.variable, inp.roles.ingress.variable
    if obs is None:
        if cp.vip is None:
            return cp, None
        if CLUSTER in ctx.looking_up or ctx.cluster_going:
            message = (
                f"{ctx.cluster_going} exists and is being deleted; the Cluster is composed anew once it is gone"
                if ctx.cluster_going
                else f"waiting for Crossplane to tell whether Cluster {req.namespace}/{req.name} exists already; "
                "the Cluster is held back until it does"
            )
            return dataclasses.replace(cp, condition=Condition(CONTROL_PLANE_READY, False, Reason.WAITING_FOR_CLUSTER, message)), None
        if not cls.found:
            reason, message = messages.class_unread(  # an unreadable class is warned about in _decide
                cls.label, cls.problem, cls.resolved,
                not_found=f"; the Cluster is held back until it exists. Check {inp.xr.cluster_spec_path}.topology of XR {req.xr_name}",
                waiting="; the Cluster is held back until it is read")
            if reason is Reason.CLUSTER_CLASS_NOT_FOUND:
                ctx.warn(reason, message)
            return dataclasses.replace(cp, condition=Condition(CONTROL_PLANE_READY, False, reason, message)), None
        if ing.blocks or cp.blocks or any(s.blocks for s in second.values()):
            return cp, None

    # Which VIP variables to set: what the class defines; while the class cannot be
    # read, what the live Cluster already carries (dropping one would unset it).
    def wanted(var: str) -> bool:
        return cls.defines(var) if cls.found else (obs is not None and var in obs.variables)

    variables: dict[str, str] = {}
    if cp.vip is not None and wanted(cp_var):
        # A live Cluster's clusterVip stays as it is (kube-vip holds it; behind a DNS endpoint it
        # is not the host); it is only set where the Cluster has none.
        kept = obs.variables.get(cp_var) if obs is not None and obs.host is not None else None
        variables[cp_var] = kept if isinstance(kept, str) and kept else cp.vip
    if ing.vip is not None and wanted(ing_var):
        variables[ing_var] = ing.vip
    for key, state in second.items():
        var = _secondary_role(ctx, key).variable
        if state.vip is not None and wanted(var) and not (key == INGRESS and ing.vip is None):
            kept = obs.variables.get(var) if obs is not None else None
            same = isinstance(kept, str) and (addresses.parse_ip(kept) or kept) == state.vip
            variables[var] = kept if same else state.vip  # a live value stays as written
    lb_var = inp.roles.service_lb.variable
    if wanted(lb_var):
        kept = obs.variables.get(lb_var) if obs is not None else None
        if lb.addresses is not None:
            variables[lb_var] = lb.addresses
            if obs is not None and kept != lb.addresses:
                ctx.tell(Reason.ASSIGNED, f"service load-balancer addresses of Cluster {obs.namespace}/{obs.name}: "
                         f"{', '.join(lb.addresses) or 'none'}", SERVICE_LB)
        elif kept is not None:
            variables[lb_var] = kept  # an address not read yet: the list stays as it is
    as_found = _kept(ctx)
    if cls.found and not cls.defines(cp_var) and cp.vip is not None and cp_var not in as_found:
        message = clusterclass.missing_variable_message(cls, cp_var, f"the control-plane VIP {cp.vip}")
        ctx.warn(Reason.CLUSTER_CLASS_MISSING_VARIABLE, message)
        cp = dataclasses.replace(
            cp, condition=Condition(CONTROL_PLANE_READY, False, Reason.CLUSTER_CLASS_MISSING_VARIABLE, message)
        )

    live_endpoint = obs is not None and obs.host is not None
    host = cp.vip
    if obs is not None and not live_endpoint and not cls.found:
        # A Cluster that exists without an endpoint gets one together with its clusterVip, as a
        # new one would: only once its ClusterClass has been read.
        host = None
    port = obs.port if live_endpoint and obs.port else (req.port or inp.cluster.default_port)
    if live_endpoint and obs.port and req.port and req.port != obs.port:
        where = f"{inp.xr.cluster_spec_path}.controlPlaneEndpoint.port"
        ctx.warn(
            Reason.CONFLICT,
            f"XR {req.xr_name} sets {where}={req.port}, but {obs.label} serves on port {obs.port}. The endpoint of a "
            f"live cluster never changes here; set the port back to {obs.port} or remove it. To move the API server "
            f"on purpose, change the port the control plane binds to, then spec.controlPlaneEndpoint.port of "
            f"{obs.label} itself: the function keeps what the live Cluster has, and {where} can then follow it.",
        )
    name, namespace = (obs.name, obs.namespace) if obs else (req.name, req.namespace)
    ing2 = second[INGRESS].vip if INGRESS in second and ing.vip is not None else None
    cp2 = second[CONTROL_PLANE].vip if CONTROL_PLANE in second and host is not None else None
    if inp.dns is not None:
        ctx.dns_records = _dns_records(ctx, name, namespace, host, ing.vip, cp2, ing2)
        _dns_variable(ctx, obs, variables, wanted)
    for var in as_found:
        variables.pop(var, None)
    resource = clusters.render(
        inp,
        name=name,
        namespace=namespace,
        spec=req.spec,
        host=host,
        port=port,
        variables=variables,
        ingress_vip=ing.vip,
        ingress_secondary=ing2,
        managed=frozenset(_secondary_role(ctx, key).variable for key in second
                          if key in ctx.dual or ctx.claims[SECONDARY[key]] is not None),
        as_found=as_found,
    )
    ctx.decision.composed[CLUSTER] = Composed(resource=resource, ready=obs is not None and obs.ready)
    label = f"Cluster {namespace}/{name}"
    if CLUSTER in ctx.adopted:
        endpoint = f"its endpoint {obs.host}:{obs.port or port}" if live_endpoint else "it has no endpoint yet"
        kept_note = (f"; its variables {', '.join(sorted(as_found))} are kept as they are (annotation "
                     f"{inp.annotations.kept_variables})" if as_found else "")
        ctx.tell(Reason.ADOPTED, f"{label} exists and is adopted: {endpoint}; a live endpoint and its VIPs never change{kept_note}")
    if host is not None and not live_endpoint:
        origin = f" ({cp.origin})" if cp.origin else ""
        ctx.tell(Reason.ASSIGNED, f"control-plane VIP {cp.vip}{origin} assigned to {label}", CONTROL_PLANE)
    if ing.vip is not None and (obs is None or obs.ingress_annotation != ing.vip):
        origin = f" ({ing.origin})" if ing.origin else ""
        ctx.tell(Reason.ASSIGNED, f"ingress VIP {ing.vip}{origin} assigned to {label}", INGRESS)
    for key, state in second.items():
        var = _secondary_role(ctx, key).variable
        if variables.get(var) and (obs is None or obs.variables.get(var) != variables[var]):
            ctx.tell(Reason.ASSIGNED, f"secondary {key} VIP {variables[var]} assigned to {label}", SECONDARY[key])
    if ing.vip is None and obs is not None and obs.ingress_annotation is not None and ing.action is not ClaimAction.RELEASING:
        if CLAIM_RESOURCE[INGRESS] not in ctx.decision.released:
            ctx.tell(Reason.RELEASED, f"ingress VIP {obs.ingress_annotation} removed from {label}", INGRESS)
    return cp, resource


def _dns_records(
    ctx: _Context, name: str, namespace: str, host: str | None, ingress_vip: str | None,
    cp_secondary: str | None = None, ingress_secondary: str | None = None,
) -> list[dnss.Record]:
    """A record per VIP the Cluster carries: its endpoint host when that is an IP, its ingress VIP; with a
    dual-stack pair, the other family's record of the same name (a secondary of the primary's family gets none)."""
    dns = ctx.inp.dns
    records = []
    host = addresses.parse_ip(host)
    # (role, template, field, VIP, the primary VIP beside a secondary; None for a primary row)
    for role_key, template, field, vip, beside in (
        (CONTROL_PLANE, dns.control_plane_name, "dns.controlPlaneName", host, None),
        (INGRESS, dns.ingress_name, "dns.ingressName", ingress_vip, None),
        (CONTROL_PLANE, dns.control_plane_name, "dns.controlPlaneName", addresses.parse_ip(cp_secondary), host or ""),
        (INGRESS, dns.ingress_name, "dns.ingressName", addresses.parse_ip(ingress_secondary), ingress_vip or ""),
    ):
        # A secondary gets a record only beside a primary record of the other family (a DNS-name host has none).
        if vip is None or not template or (beside is not None and pools.family(beside) in (None, pools.family(vip))):
            continue
        record_name = dnss.fill(template, name, namespace, dns.zone)
        if not dnss.valid_name(record_name):
            # Warning, not Fatal: the Cluster and its VIPs are right; only this name cannot be published.
            ctx.warn(
                Reason.INVALID_DNS_NAME,
                f"{field} {template!r} gives {record_name!r} for Cluster {namespace}/{name}, which is not a DNS name "
                f"(each label at most 63 characters, the whole at most 253), so the {role_key} VIP {vip} gets no "
                f"record; shorten {field} or dns.zone in the Composition's Input",
            )
            continue
        records.append(dnss.Record(role=role_key, name=record_name, vip=vip))
    return records


def _dns_variable(ctx: _Context, obs: clusters.ObservedCluster | None, variables: dict[str, str], wanted) -> None:
    """The control-plane name in the DNS variable, where the class defines it; a live Cluster keeps its own."""
    var = ctx.inp.dns.variable
    if not wanted(var):
        return
    name = next((r.name for r in ctx.dns_records if r.role == CONTROL_PLANE), None)
    kept = obs.variables.get(var) if obs is not None else None
    if isinstance(kept, str) and kept:
        # Its certificates may carry the name: changing it would roll the control plane out.
        variables[var] = kept
        if name is not None and kept != name:
            ctx.warn(
                Reason.DNS_NAME_MISMATCH,
                f"Cluster {obs.namespace}/{obs.name} carries {var}={kept}, but the control-plane record is {name} "
                f"(dns in the Composition's Input). The live variable is kept, so certificates that name {kept} stay "
                f"valid; clients of {name} may not be. To move on purpose, set {var} to {name} on the Cluster itself "
                "(the function keeps what the live Cluster has); or set dns back so that it gives " + kept,
            )
    elif name is not None:
        variables[var] = name
    else:
        # No name to give (no record, none on the Cluster): the value the XR wrote, if any, passes through.
        written = next((v.get("value") for v in ctx.req.spec["topology"].get("variables") or []
                        if isinstance(v, dict) and v.get("name") == var and "value" in v), None)
        if written is not None:
            variables[var] = written


def _compose_dns(ctx: _Context, cluster: dict | None, cp: RoleState, ing: RoleState, second: dict[str, RoleState]) -> None:
    """The DNSEndpoint: the records of the Cluster's VIPs; once observed, kept or deliberately released.

    A name never outlives its address's claim: a claim released in this response while a record
    may still name its address is kept until external-dns has read the DNSEndpoint without it
    (_hold_released_behind_records)."""
    inp, decision = ctx.inp, ctx.decision
    raw = ctx.observed.get(DNS)
    ours = isinstance(raw, dict) and raw.get("kind") == dnss.KIND and raw.get("apiVersion") == dnss.API_VERSION
    if inp.dns is None:
        # Not opted in: vip-dns is no name of the function's. One it composed before dns was turned off
        # goes, but emptied first: external-dns drops a deleted DNSEndpoint's records only on its next
        # sync, and an address released in between could resolve for two clusters. One an earlier step
        # desires is that step's.
        if ours and DNS not in ctx.earlier and (observed := dnss.read_observed(raw)) is not None:
            label = f"DNSEndpoint {observed.namespace}/{observed.name}"
            if observed.endpoints == [] and observed.ready:
                ctx.tell(Reason.RELEASED, f"{label} released: the Composition's Input sets no dns, and external-dns "
                         "has read it without records")
                return
            resource = dnss.keep(dataclasses.replace(observed, endpoints=[]))
            ctx.decision.composed[DNS] = Composed(resource=resource, ready=True)
            ctx.dns_holding = True
            ctx.tell(Reason.RELEASED, f"{label} emptied: the Composition's Input sets no dns; it is released once "
                     "external-dns has read it without records (status.observedGeneration). If external-dns no longer runs, "
                     "remove the records from the DNS provider yourself, then delete the DNSEndpoint")
            _hold_released_behind_records(ctx, observed, [])
        return
    if (raw is not None and not ours) or DNS in ctx.earlier:
        # Fatal: composing over it would replace another step's resource, or read its fields as records.
        msg = (f"the composed resource name {DNS} is taken by an earlier step of the pipeline or by another kind, but "
               f"with Input dns this function composes its {dnss.API_VERSION} {dnss.KIND} under it; rename the other "
               "resource, or remove dns from the Input")
        raise Fatal(msg)
    observed = dnss.read_observed(raw)
    if raw is not None and observed is None:
        msg = f"the observed DNSEndpoint ({DNS}) has no readable metadata.name and namespace; nothing is applied until it has"
        raise Fatal(msg)
    if cluster is None and observed is not None:
        _keep_dns(ctx, observed, (cp, ing, *second.values()))
        return
    if observed is None and (cluster is None or not ctx.dns_records):
        if _released_now(ctx):
            # None observed (deleted by hand, say): its records may still be published until external-dns's next
            # sync, so a claim released now waits for external-dns to read one made now, even without records.
            witness = dnss.render(inp.dns, ctx.req.name, ctx.req.namespace, [])
            decision.composed[DNS] = Composed(resource=witness, ready=False)
            _hold_released_behind_records(ctx, None, [], composed=witness)
        return
    meta = cluster["metadata"]
    resource = dnss.render(inp.dns, meta["name"], meta["namespace"], ctx.dns_records)
    endpoints = resource["spec"]["endpoints"]
    current = observed is not None and observed.endpoints == endpoints
    decision.composed[DNS] = Composed(resource=resource, ready=current and observed.ready)
    for r in ctx.dns_records:
        decision.status[DNS_STATUS_KEYS[r.role]] = r.name
    if not current:
        listed = ", ".join(f"{r.name} {r.record_type} {r.vip}" for r in ctx.dns_records) or "none"
        label = f"DNSEndpoint {meta['namespace']}/{resource['metadata']['name']}"
        ctx.tell(Reason.ASSIGNED, f"{label} records: {listed}")
    _hold_released_behind_records(ctx, observed, endpoints, composed=resource)


def _released_now(ctx: _Context) -> list[tuple[str, claims.Claim, str | None]]:
    """The bound claims this response releases: (role, claim, its address or None while it is not known)."""
    out = []
    for key in (CONTROL_PLANE, INGRESS, *SECONDARY.values()):
        claim = ctx.claims.get(key)
        if _claim_rn(key) in ctx.decision.released and claim is not None and claim.bound:
            address = _address(ctx, key, claim)
            out.append((key, claim, address.value if _known(address) else None))
    return out


def _keep_dns(ctx: _Context, observed: dnss.ObservedEndpoint, states: tuple[RoleState, ...]) -> None:
    """No Cluster to read the VIPs from (held back, or deleted by hand): the records of the VIPs the XR
    still holds stay as they are; a record of a VIP this response gives up goes with it."""
    if observed.endpoints is None:
        msg = (f"the observed DNSEndpoint {observed.namespace}/{observed.name} has a spec.endpoints that is not "
               "a list, and no Cluster is composed to make its records from; nothing is applied until it is")
        raise Fatal(msg)
    giving_up = {vip for _, _, vip in _released_now(ctx) if vip}
    kept_unread = any(
        (claim := ctx.claims.get(key)) is not None and claim.bound and _claim_rn(key) not in ctx.decision.released
        and not _known(_address(ctx, key, claim))
        for key in (CONTROL_PLANE, INGRESS, *SECONDARY.values())
    )
    held = {s.vip for s in states if s.vip and s.action is not ClaimAction.RELEASING}

    def stays(e: object) -> bool:
        targets = e.get("targets") if isinstance(e, dict) else None
        if not isinstance(targets, list) or not targets or set(targets) & giving_up:
            return False
        # An address not read yet may be any of them: nothing else about the records changes.
        return any(s.action is ClaimAction.HOLD for s in states) or kept_unread or set(targets) <= held

    fields = ("dnsName", "recordType", "targets", "recordTTL")
    endpoints = [{k: e[k] for k in fields if k in e} for e in observed.endpoints if stays(e)]
    resource = dnss.keep(dataclasses.replace(observed, endpoints=endpoints))
    ctx.decision.composed[DNS] = Composed(resource=resource, ready=observed.ready and endpoints == observed.endpoints)
    names = {e.get("dnsName") for e in endpoints}
    dns, req = ctx.inp.dns, ctx.req
    for role_key, template in ((CONTROL_PLANE, dns.control_plane_name), (INGRESS, dns.ingress_name)):
        name = dnss.fill(template, req.name, req.namespace, dns.zone) if template else None
        if name in names:
            ctx.decision.status[DNS_STATUS_KEYS[role_key]] = name
    _hold_released_behind_records(ctx, observed, endpoints)


def _hold_released_behind_records(ctx: _Context, observed: dnss.ObservedEndpoint | None, endpoints: list,
                                  *, composed: dict | None = None) -> None:
    """A claim released now while a record may still name its address waits: else IPAM could give the
    address to another cluster while the name still resolves to it. It waits until external-dns has
    read a DNSEndpoint that does not name the address (``status.observedGeneration``). An address not
    known yet waits while the observed records name anything the desired ones do not. With no
    DNSEndpoint observed but one ``composed`` now (the last one deleted by hand, say), the deleted
    one's records may still be published until external-dns's next sync, which reading the new one
    proves: every release waits for that."""
    if observed is None:
        if composed is None:
            return
        meta = composed["metadata"]
        label = f"DNSEndpoint {meta['namespace']}/{meta['name']}"
        published, wanted, ready = None, set(), False
    else:
        label = f"DNSEndpoint {observed.namespace}/{observed.name}"
        published = {t for e in observed.endpoints or [] if isinstance(e, dict) for t in e.get("targets") or []}
        wanted = {t for e in endpoints if isinstance(e, dict) for t in e.get("targets") or []}
        ready = observed.ready
    for key, claim, vip in _released_now(ctx):
        if published is None:
            named = True
        else:
            named = vip in published if vip else bool(published - wanted)
        if not (named or not ready):
            continue
        ctx.decision.released.discard(_claim_rn(key))
        role = {CONTROL_PLANE: ctx.inp.roles.control_plane, INGRESS: ctx.inp.roles.ingress}.get(key)
        role = role or _secondary_role(ctx, CONTROL_PLANE if key == SECONDARY[CONTROL_PLANE] else INGRESS)
        ctx.decision.composed[_claim_rn(key)] = Composed(resource=claims.render(ctx.inp, role, claim), ready=True)
        # The claim stays for now: the release announced a moment ago happens on a later reconcile.
        ctx.decision.results = [r for r in ctx.decision.results
                                if not (r.reason is Reason.RELEASED and r.role == key and claim.label in r.message)]
        ctx.dns_holding = True
        ctx.tell(Reason.RELEASED, f"releasing the {key} VIP {vip or ''} of {claim.label} once external-dns has read "
                 f"{label} without its record, so the name no longer resolves to an address IPAM may give to another "
                 "cluster".replace("VIP  of", "VIP of"), key)


def _ours(inp: Input) -> tuple[str, ...]:
    """The composed resources the function answers for: with dns unset, vip-dns is no name of its own."""
    return (*OURS, DNS) if inp.dns is not None else OURS


def _guard(observed: dict[str, dict], decision: Decision, ours: tuple[str, ...]) -> None:
    """Last line of defence: never answer with an observed resource silently dropped."""
    for name in ours:
        if name in observed and name not in decision.composed and name not in decision.released:
            msg = (
                f"refusing to drop observed composed resource {name}: this is a bug in function-capi-vip; "
                "nothing is applied (please report it with the XR)"
            )
            raise Fatal(msg)
