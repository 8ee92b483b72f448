"""Service load-balancer addresses (roles.serviceLb): a list of claims, one per index, or the XR's own list,
written to the Cluster as one variable."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from function import addresses, adopt, allocation, claims, clusterclass, double_allocation, messages, pools, usages
from function.conditions import SERVICE_LB_READY, Condition, Reason
from function.lifecycle import ClaimAction
from function.requirements import Selector
from function.xr import Fatal
from function.context import (
    Context,
    LB_CLAIM_PREFIX,
    LB_STATUS_KEY,
    LB_USAGE_PREFIX,
    POOL,
    RoleState,
    SERVICE_LB,
    claim_rn,
    class_unread,
    lb_index,
    of_kind,
    read_address,
    written_variable,
)

if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Input


# --- service load-balancer addresses (roles.serviceLb) -------------------------------------


@dataclasses.dataclass
class ServiceLb:
    """The service-lb addresses' outcome: what to compose per index, and the variable's value."""

    slots: dict[int, RoleState] = dataclasses.field(default_factory=dict)  # index -> its claim's state
    addresses: list[str] | None = None  # the variable's value, in index order; None: as the live Cluster has it
    condition: Condition | None = None  # None while the XR uses none


def lb_key(index: int) -> str:
    return f"{SERVICE_LB}-{index}"


def _lb_claim_name(ctx: Context, index: int) -> str:
    return ctx.inp.roles.service_lb.claim_name.replace("{cluster}", ctx.req.name).replace("{index}", str(index))


def observed_lb(ctx: Context) -> tuple[dict[int, claims.Claim], set[int]]:
    """The service-lb claims and Usages the XR composed, by index. A resource of such a name that is of
    another kind, or that an earlier pipeline step desires, is not the function's: it is left alone
    while the role is not in use, and Fatal when it is (see service_lb)."""
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
        (ours if of_kind(name, obj, earlier, api_version, kind) else others).add(name)
    return ours, others


def service_lb(ctx: Context) -> ServiceLb:
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
    observed, usages_seen = observed_lb(ctx)
    in_use = cls.found and cls.defines(role.variable)
    if not observed and not usages_seen and not in_use:
        return ServiceLb()  # not in use: nothing fetched, nothing said
    _check_lb_role(ctx)
    out = ServiceLb()
    if not in_use:
        _lb_unwanted(ctx, out, observed, usages_seen)
        return out
    written = written_variable(ctx, role.variable)
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
        giving_up.update(lb_known(ctx, index, claim) or ([recorded[index]] if index in recorded else []))

    for index, claim in sorted(observed.items()):
        if index < count:
            continue
        key = lb_key(index)
        if claim.deleting:
            allocation.let_go(ctx, key)  # on its way out already
            gone(index, claim)
            continue
        known = lb_known(ctx, index, claim)
        if claim.bound and not known:
            # Its address is not read yet, so it could not leave the Cluster's list: released once it is.
            out.slots[index] = RoleState(vip=None, claim=claim, action=ClaimAction.HOLD, condition=_NO_CONDITION)
            held_unread.append(index)
            continue
        why = (f"{where} asks for {count} service load-balancer addresses; a LoadBalancer Service in the workload "
               "cluster that still has this address keeps answering on it until you move it")
        kept = {i: c for i, c in observed.items() if i < count}
        if known and _titled(ctx, kept, known[0], exclude=index) is not None:
            # A claim the XR keeps holds the same address (the provider gave it twice): it stays listed as that
            # claim's, whose IPAddress keeps it used, so this one goes without waiting for the list to drop it.
            out.slots[index] = allocation.release(ctx, key, claim, RoleState(vip=None, condition=_NO_CONDITION), why,
                                                  twin=True)
            continue
        giving_up.update(known)
        out.slots[index] = allocation.release(ctx, key, claim, RoleState(vip=None, condition=_NO_CONDITION), why)
    choice: pools.Choice | None = None
    taken: dict[pools.Pool, int] = {}  # new claims per pool in this reconcile (a Pool is hashable)
    listed: list[str] = []
    known_at: dict[int, str] = {}
    unread = 0
    problem: tuple[Reason, str] | None = None
    for index in range(count):
        key = lb_key(index)
        claim = observed.get(index)
        if claim is not None and claim.deleting:
            # Deleted by hand (a Usage would have refused it): it goes, and is made again once gone;
            # its Usage stays meanwhile.
            allocation.let_go(ctx, key)
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
                choice = choice or allocation.pool_choice(ctx, role)
                if not choice.resolved:
                    continue
                target = next((p for p in choice.candidates if p.free is None or p.free - taken.get(p, 0) > 0), None)
                if target is None:
                    problem = problem or allocation.no_pool_message(ctx, role, choice)
                    continue
                taken[target] = taken.get(target, 0) + 1
                name = _lb_claim_name(ctx, index)
                if not addresses.is_object_name(name):
                    msg = (f"{req.xr_label}: the service-lb claim name {name!r} (from Input roles.serviceLb.claimName "
                           f"{role.claim_name!r}) is not a valid object name; use a shorter XR name or claim pattern")
                    raise Fatal(msg)
                ref = claims.PoolRef(api_group=pools.api_group(target.kind.api_version), kind=target.kind.kind, name=target.name)
                new = claims.Claim(name=name, namespace=req.namespace, pool_ref=ref)
                out.slots[index] = RoleState(vip=None, claim=new, condition=_NO_CONDITION)
                continue
        if not claim.bound:
            reason = None
            if not allocation.binding(ctx, claim):
                reason, message = allocation.pending(ctx, key, claim)
                choice = choice or allocation.pool_choice(ctx, role)
            if reason is not None and allocation.can_move(ctx, key, claim, choice):
                why = f"{message}; it holds no address, so it is made again from {choice.pool.label}"
                out.slots[index] = allocation.release(ctx, key, claim, RoleState(vip=None, condition=_NO_CONDITION), why)
                continue
            if reason is not None:
                ctx.warn(reason, message)
                problem = problem or (reason, message)
            out.slots[index] = RoleState(vip=None, claim=claim, condition=_NO_CONDITION)
            continue
        address = read_address(ctx, key, claim)
        if address.value is None:
            if address.problem:
                ctx.warn(Reason.INVALID_ADDRESS, address.problem)
                problem = problem or (Reason.INVALID_ADDRESS, address.problem)
            out.slots[index] = RoleState(vip=None, claim=claim, action=ClaimAction.HOLD, condition=_NO_CONDITION)
            held_unread.append(index)
            unread += 1
            continue
        value = address.value
        was = addresses.entry_for(live, recorded.get(index))  # the live list's entry for the claim's recorded address
        if was is not None and addresses.parse_ip(was) != addresses.parse_ip(value):
            # IPAM says another address than the one the live Cluster lists for this claim: the live one stays.
            # (Another claim of the XR bound to it since is then listed once, below, and its release waits for
            # the list to drop it: ledger.carried.)
            ctx.warn(Reason.ADDRESS_MISMATCH, messages.lb_mismatch(ctx.cluster.label, was, claim.label, value, claim.pool_ref.label))
            value = was
        held = allocation.held_elsewhere(ctx, key, claim, value, placed=_placed(ctx, observed, index, value, was, live))
        if held == double_allocation.UNLISTED:
            out.slots[index] = RoleState(vip=None, claim=claim, action=ClaimAction.HOLD, condition=_NO_CONDITION)
            continue  # not on the Cluster's list yet: it waits as an unbound claim does
        if held != double_allocation.CLEAR:
            why = f"{held} holds {value} too"
            out.slots[index] = allocation.release(ctx, key, claim, RoleState(vip=None, condition=_NO_CONDITION), why,
                                                  twin=True)
            if out.slots[index].action is not ClaimAction.KEEP:  # kept: the XR names the address itself (warned)
                ctx.warn(Reason.CONFLICT, messages.given_twice(claim.label, value, held, claim.pool_ref.label))
            continue
        known_at[index] = value
        listed.append(value)
        out.slots[index] = RoleState(vip=value, claim=claim, source=POOL, condition=_NO_CONDITION)
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
    out.addresses = addresses.once(out.addresses)  # an address two claims explain is listed once
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


def _placed(ctx: Context, observed: dict[int, claims.Claim], index: int, value: str, was: str | None,
            live: list | None) -> bool:
    """Whether the claim's address is on the live Cluster's list as this claim's: its recorded entry, or an entry of
    the address no other claim of the XR has a better title to. (Two claims of the XR bound to one address, the
    provider's cache lagging: the one the XR's status records with it keeps it, else the lower index; the other,
    whose IPAddress is a twin, goes.)"""
    if was is not None:
        return True
    same = addresses.parse_ip(value) or value
    if not live or not any((addresses.parse_ip(a) or a) == same for a in live if isinstance(a, str)):
        return False
    return _titled(ctx, observed, same, exclude=index) not in range(index) and not _recorded_at(ctx, same, index)


def _recorded_at(ctx: Context, address: str, index: int) -> bool:
    """Whether the XR's status records the address for another index than this one."""
    return any(i != index and (addresses.parse_ip(a) or a) == address for i, a in ctx.lb_recorded.items())


def _titled(ctx: Context, observed: dict[int, claims.Claim], address: str, exclude: int) -> int | None:
    """The lowest index, other than ``exclude``, of a bound claim of the XR holding the address; None: none."""
    return next((i for i, c in sorted(observed.items()) if i != exclude and c.bound and address in lb_known(ctx, i, c)), None)


def lb_known(ctx: Context, index: int, claim: claims.Claim) -> list[str]:
    """The address of a bound service-lb claim, once read ([] while it is not)."""
    if claim.address_name is None:
        return []
    value = read_address(ctx, lb_key(index), claim).value
    return [value] if value else []


def _lb_existing(ctx: Context, index: int) -> claims.Claim | None:
    """A claim of the index's name that exists, not observed (an earlier XR of this name's, being deleted,
    say): never composed over. Looked up by name on Crossplane v2.2+, as adopt.py does for the other roles."""
    if not ctx.by_name:
        return None
    selector = Selector(api_version=ctx.inp.ipam.claim_api_version, kind="IPAddressClaim",
                        name=_lb_claim_name(ctx, index), namespace=ctx.req.namespace)
    requirement = adopt.claim_requirement(lb_key(index))
    ctx.require(requirement, selector)
    found = adopt.lookup(ctx.fetched, requirement, selector)
    if not found.resolved:
        return _LOOKING
    return adopt.read_claim(found, ctx.req, "service load-balancer", claim_rn(lb_key(index)))


def _check_lb_role(ctx: Context) -> None:
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


def _lb_written(ctx: Context, out: ServiceLb, observed: dict[int, claims.Claim], usages_seen: set[int], written: object) -> None:
    """The XR writes the variable itself: its list is the Cluster's, as a manual VIP is. No claim is made;
    a claim made before is released, unless the list names its address (then that address stays claimed)
    or its address is not read yet."""
    var, label = ctx.inp.roles.service_lb.variable, ctx.inp.xr.cluster_spec_path + ".topology.variables"
    if not isinstance(written, list) or not all(isinstance(a, str) and addresses.parse_ip(a) for a in written):
        msg = (f"{ctx.req.xr_label} sets {var} in {label} to {written!r}, which is not a list of IP addresses; "
               f"fix it, or remove it to have the addresses claimed from the service-lb pools")
        raise Fatal(msg)
    named = {addresses.parse_ip(a) for a in written}
    kept: dict[int, str] = {}
    for index, claim in sorted(observed.items()):
        if claim.deleting:
            allocation.let_go(ctx, lb_key(index))
            continue
        known = lb_known(ctx, index, claim)
        if (claim.bound and not known) or set(known) & named:
            out.slots[index] = RoleState(vip=None, claim=claim, action=ClaimAction.HOLD if not known else None, condition=_NO_CONDITION)
            kept.update((index, a) for a in known or ([ctx.lb_recorded[index]] if index in ctx.lb_recorded else []))
            continue
        why = f"XR {ctx.req.xr_name} sets {var} itself in {label}"
        out.slots[index] = allocation.release(ctx, lb_key(index), claim, RoleState(vip=None, condition=_NO_CONDITION), why)
    _drop_lone_usages(ctx, out, usages_seen)
    out.addresses = written
    ctx.decision.status[LB_STATUS_KEY] = ",".join(f"{i}={a}" for i, a in sorted(kept.items()))
    ctx.decision.lb_active = True
    out.condition = Condition(SERVICE_LB_READY, True, Reason.MANUAL,
                              f"service load-balancer addresses set by XR {ctx.req.xr_name} ({label} {var})")


def _lb_unwanted(ctx: Context, out: ServiceLb, observed: dict[int, claims.Claim], usages_seen: set[int]) -> None:
    """The ClusterClass cannot be read (whether the set is wanted is not known), or no longer defines the
    variable: what exists stays exactly as it is; only the XR's count annotation "0" releases it."""
    inp, cls, role = ctx.inp, ctx.cls, ctx.inp.roles.service_lb
    release = cls.found and ctx.req.service_lb_count == 0
    for index in sorted(observed.keys() | usages_seen):
        claim = observed.get(index)
        if claim is None or claim.deleting:
            if claim is not None:
                allocation.let_go(ctx, lb_key(index))  # on its way out already
            if index in usages_seen and not release:
                out.slots[index] = RoleState(vip=None, condition=_NO_CONDITION, claim=claim or _lb_placeholder(ctx, index), action=ClaimAction.WAIT_GONE)
            continue
        if release:
            why = f"XR annotated {inp.annotations.service_lb_count}=\"0\""
            out.slots[index] = allocation.release(ctx, lb_key(index), claim, RoleState(vip=None, condition=_NO_CONDITION), why)
        else:
            out.slots[index] = RoleState(vip=None, claim=claim, action=ClaimAction.HOLD, condition=_NO_CONDITION)
    _drop_lone_usages(ctx, out, usages_seen)
    # The claims kept keep their record of which address each holds (see service_lb).
    held = {i for i, state in out.slots.items() if state.action in (ClaimAction.KEEP, ClaimAction.HOLD)}
    ctx.decision.status[LB_STATUS_KEY] = ",".join(f"{i}={a}" for i, a in sorted(ctx.lb_recorded.items()) if i in held)
    ctx.decision.lb_active = True
    if not cls.found:
        reason, message = class_unread(cls)
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


def _lb_placeholder(ctx: Context, index: int) -> claims.Claim:
    """The claim a Usage names, where the claim itself is not observed (its Usage is kept as it is)."""
    return claims.Claim(name=_lb_claim_name(ctx, index), namespace=ctx.req.namespace, pool_ref=claims.PoolRef("", "", ""))


def _drop_lone_usages(ctx: Context, out: ServiceLb, usages_seen: set[int]) -> None:
    """A Usage whose claim is gone (released, or deleted by hand) and that no slot keeps goes too."""
    for index in usages_seen - out.slots.keys():
        allocation.let_go_usage(ctx, lb_key(index))


_NO_CONDITION = Condition(SERVICE_LB_READY, True, Reason.ALLOCATED, "")  # a slot's own condition is not reported
