"""A claim's life, the same for every slot: chosen from a pool, made, waited for while IPAM binds it, moved
while unbound, held while its address is not read, released (only where nothing else names its address:
ledger.py), and claimed again once a claim deleted by hand is gone.

The slots' steps (primaries.py, secondaries.py, service_lb.py) call these; they say what a slot wants, this
module says what its claim does about it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from function import addresses, claims, cluster as clusters, double_allocation, ledger, messages, namers, pools, usages
from function.conditions import Condition, Reason
from function.lifecycle import ClaimAction
from function.requirements import Selector
from function.xr import Fatal
from function.context import (
    CLUSTER,
    Context,
    MANUAL,
    POOL,
    RoleState,
    SECONDARY,
    SECONDARY_CLAIM_RESOURCE,
    Slot,
    address_of,
    claim_rn,
    explains,
    is_known,
    usage_rn,
)

if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Role


def repeats_pool(ctx: Context, role_key: str, manual: str | None, live: str | None) -> bool:
    """Whether the XR's manual value repeats the pool VIP the live Cluster serves (copied onto the
    XR, say): equal to it, and the XR's status records the pool as its source (and no other VIP)."""
    if not manual or not live or ctx.sources.get(role_key) != POOL:
        return False
    same = addresses.parse_ip(live) or live
    recorded = ctx.recorded.get(role_key)  # an older status may lack it: then the source alone tells
    return (addresses.parse_ip(manual) or manual) == same and (recorded is None or (addresses.parse_ip(recorded) or recorded) == same)


def unreserved(ctx: Context, slot: Slot, claim: claims.Claim, address: claims.Address, live: str, setting: str) -> None:
    """A pool VIP the XR repeats, whose claim was made again and bound elsewhere: the claim goes
    (it holds nothing the Cluster uses), and the warning says the VIP is reserved by nothing now."""
    ctx.warn(
        Reason.CLAIM_MISSING,
        f"{ctx.cluster.label} serves the {slot.role.label_value} VIP {live}, which {setting} repeats; the claim that "
        f"reserved it is gone, and {claim.label}, made again, is bound to {address.value}, which the Cluster does not "
        f"use, so it is released. {live} is now reserved by no claim, and IPAM may give it to another cluster: "
        "reserve it in the pool it came from (spec.excludedAddresses).",
    )


def mismatch(ctx: Context, slot: Slot, live: str, claim: claims.Claim, address: claims.Address, setting: str,
             source: str = POOL) -> RoleState:
    """A live Cluster uses a VIP that its claim does not hold and that no setting explains: the VIP stays, the claim
    holds its address, and the warning says what to do."""
    message = messages.live_mismatch(ctx.cluster.label, slot.role.label_value, live, claim.label, address.value,
                                     claim.pool_ref.label, setting, ctx.req.xr_name)
    return kept_mismatched(ctx, slot, live, claim, message, source)


def kept_mismatched(ctx: Context, slot: Slot, live: str, claim: claims.Claim, message: str, source: str = POOL) -> RoleState:
    """A live VIP its bound claim does not explain (``message`` says how that came about): the VIP stays, with the claim."""
    ctx.warn(Reason.ADDRESS_MISMATCH, message)
    return serves(slot, live, claim, None, ctx.cluster, source=source)


def hold(
    ctx: Context, slot: Slot, claim: claims.Claim, address: claims.Address | None, vip: str | None,
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


def unbound_under(ctx: Context, slot: Slot, claim: claims.Claim, live: str, *, required: bool) -> RoleState:
    """A claim not bound yet under a live Cluster (made again, say): the VIP stays, and what keeps
    the claim from binding is told as for a new claim (a pool gone or full, a wrong apiGroup)."""
    state = allocate(ctx, slot, claim, None, required=required, live=live)
    return dataclasses.replace(state, vip=live, source=ctx.sources.get(slot.key) or POOL, blocks=False)


def live_claim(
    ctx: Context, slot: Slot, claim: claims.Claim | None, address: claims.Address | None, live: str, *, required: bool,
    mismatched: Callable[[claims.Address], RoleState], serving: Callable[[claims.Address], None] | None = None,
    serves_on: Sequence[str] = (),
) -> RoleState:
    """The claim of a VIP a live Cluster carries, the same for every slot: the VIP stays, whatever IPAM says.

    Gone (deleted by hand): made again, ClaimMissing. Not bound (made again, say): waited for as a new claim is,
    and moved where it may be. Its address not read: held exactly as it is. Bound to the VIP (or to another address
    the Cluster serves the slot on, ``serves_on``): kept, and ``serving`` told. Bound elsewhere: ``mismatched``
    decides what the claim does (the slot's hook: kept_mismatched, or a release where the VIP is the XR's own).
    """
    if claim is None:
        return remake(ctx, slot, live)
    if not claim.bound:
        return unbound_under(ctx, slot, claim, live, required=required)
    if not is_known(address):
        return hold(ctx, slot, claim, address, live, source=ctx.sources.get(slot.key) or POOL)
    if explains(address, live) or address.value in serves_on:
        if serving is not None:
            serving(address)
        return serves(slot, live, claim, address.value, ctx.cluster)
    return mismatched(address)


def serves(slot: Slot, live: str, claim: claims.Claim, held: str | None, cluster: clusters.ObservedCluster,
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


def let_go(ctx: Context, key: str) -> None:
    """A claim already being deleted (released earlier, or by hand) holds nothing: it leaves the desired state.

    With release() below, the only ways a claim leaves: this one frees nothing that was not already being freed;
    release() asks the ledger first. (A Usage leaves with its claim: lifecycle.compose, or let_go_usage.)
    """
    ctx.decision.released.add(claim_rn(key))


def let_go_usage(ctx: Context, key: str) -> None:
    """A Usage whose claim is gone (released, or deleted by hand) and that no slot keeps."""
    ctx.decision.released.add(usage_rn(key))


def claim_deleting(ctx: Context, slot: Slot, claim: claims.Claim, live: str | None) -> RoleState:
    """A claim being deleted holds nothing: let it go; a new one is made once it is gone.

    In every slot it holds a Cluster not yet composed back, as a claim still binding does: the new claim binds in
    moments, and the Cluster is composed with its VIP.

    It is never a source of a VIP: IPAM frees its address as soon as the deletion completes.
    """
    role_key, role, cond_type = slot.key, slot.role, slot.condition
    let_go(ctx, role_key)
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
        blocks=True,
        claim=claim,
        action=ClaimAction.WAIT_GONE,
        condition=Condition(cond_type, False, Reason.WAITING_FOR_ADDRESS, message),
    )


def remake(ctx: Context, slot: Slot, live: str) -> RoleState:
    """A VIP from a pool that a live Cluster uses, whose claim is gone (deleted by hand): made again.

    So the pool keeps counting an address for this cluster; the warning says what to check.
    """
    what = f"{slot.role.label_value} VIP"
    state = allocate(ctx, slot, None, None, required=True)
    if state.claim is not None:
        ctx.warn(Reason.CLAIM_MISSING,
                 messages.claim_missing(ctx.cluster.label, what, live, state.claim.label, state.claim.pool_ref.label))
    return RoleState(
        vip=live,
        claim=state.claim,
        source=POOL,
        condition=Condition(slot.condition, True, Reason.ALLOCATED, messages.on_cluster(slot.role.label_value, live, ctx.cluster.label)),
    )


# --- allocation from pools ---------------------------------------------------------------


def pool_choice(ctx: Context, role: Role, family: str | None = None) -> pools.Choice:
    req = ctx.req
    reqs = pools.requirements(ctx.inp, role.label_value, req.class_name, req.namespace)
    for name, selector in reqs.items():
        ctx.require(name, selector)
    return pools.choose(ctx.inp, ctx.fetched, role.label_value, req.class_name, reqs, req.namespace, family)


def no_pool_message(ctx: Context, role: Role, choice: pools.Choice, family: str | None = None) -> tuple[Reason, str]:
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


def events_dropped(ctx: Context) -> bool:
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


def binding(ctx: Context, claim: claims.Claim) -> bool:
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


def pending(ctx: Context, role_key: str, claim: claims.Claim) -> tuple[Reason | None, str]:
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


def can_move(ctx: Context, role_key: str, claim: claims.Claim, choice: pools.Choice) -> bool:
    """An unbound claim whose pool is gone or full may move to another matching pool with room, in every slot.

    It holds no address and nothing uses it yet, so letting it go loses nothing; a claim
    protected by a Usage (a live Cluster's re-made claim) stays where it is, and so does one found existing
    (adopt.py) until Crossplane has composed it: it is composed as it is first, and moved on the next reconcile.
    """
    target = choice.pool
    if target is None or usage_rn(role_key) in ctx.observed or claim_rn(role_key) not in ctx.observed:
        return False  # a claim found existing (adopt.py) is not ours to move before it is composed
    return (target.kind.kind, target.name) != (claim.pool_ref.kind, claim.pool_ref.name)


def allocate(
    ctx: Context, slot: Slot, claim: claims.Claim | None, address: claims.Address | None, *, required: bool,
    live: str | None = None,
) -> RoleState:
    """Claim a VIP from a pool and wait for IPAM to bind it.

    ``required``: the Cluster cannot exist without this VIP (control plane). A missing
    or exhausted pool for an optional VIP (ingress) never holds the Cluster back.
    ``live``: the VIP a live Cluster already uses, which stays meanwhile (see unbound_under).
    """
    role_key, role, cond_type = slot.key, slot.role, slot.condition
    family = ctx.family.get(role_key)
    if claim is None:
        choice = pool_choice(ctx, role, family)
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
            reason, message = no_pool_message(ctx, role, choice, family)
            if not required:
                message += "; the Cluster is composed without it, and it is added once a pool has room"
            ctx.warn(reason, message)
            return RoleState(vip=None, blocks=required, condition=Condition(cond_type, False, reason, message))
        claim = claims.new(role, ctx.req.name, ctx.req.namespace, choice.pool)
        if role_key in SECONDARY_CLAIM_RESOURCE and not addresses.is_object_name(claim.name):
            msg = (f"{ctx.req.xr_label}: the claim name {claim.name!r} (from Input roles.*.secondaryClaimName "
                   f"{role.claim_name!r}) is not a valid object name; use a shorter XR name or claim pattern")
            raise Fatal(msg)
        return RoleState(
            vip=None, claim=claim, blocks=True, condition=Condition(cond_type, False, Reason.WAITING_FOR_ADDRESS, _waiting_message(claim))
        )
    if not claim.bound:
        reason = choice = None
        if not binding(ctx, claim):
            # Pools are required while the claim is unbound, so it can move if its pool cannot serve it.
            choice = pool_choice(ctx, role, family)
            reason, message = pending(ctx, role_key, claim)
        if reason is not None and can_move(ctx, role_key, claim, choice):
            target = choice.pool
            message = messages.moved(claim.label, claim.pool_ref.label, target.label, message)
            moving = RoleState(vip=None, blocks=True, condition=Condition(cond_type, False, Reason.WAITING_FOR_ADDRESS, message))
            return release(ctx, role_key, claim, moving, f"moving to {target.label}, which has room")
        if reason is not None:
            if live:
                message += f"; {live} stays on the Cluster meanwhile, reserved by no claim"
            elif not required:
                what = next((f"secondary {k}" for k, sk in SECONDARY.items() if sk == role_key), role_key)
                message += f"; the Cluster is composed without the {what} VIP meanwhile"
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
    held = held_elsewhere(ctx, role_key, claim, address.value)
    if held == double_allocation.UNLISTED:
        message = messages.unlisted(claim.label, address.value, claim.pool_ref.label)
        return RoleState(vip=None, claim=claim, action=ClaimAction.HOLD, blocks=True, unlisted=address.value,
                         condition=Condition(cond_type, False, Reason.WAITING_FOR_ADDRESS, message))
    if held != double_allocation.CLEAR:
        state = release(ctx, role_key, claim, RoleState(vip=None, blocks=True, condition=_NO_SLOT_CONDITION),
                        f"{held} holds {address.value} too", twin=True)
        released = state.action is not ClaimAction.KEEP  # kept: the XR names the address itself (release warned)
        message = messages.given_twice(claim.label, address.value, held, claim.pool_ref.label, released)
        if released:
            ctx.warn(Reason.CONFLICT, message)
        return dataclasses.replace(state, condition=Condition(cond_type, False, Reason.CONFLICT, message))
    return RoleState(
        vip=address.value,
        claim=claim,
        source=POOL,
        origin=f"from {claim.pool_ref.label}",
        condition=Condition(cond_type, True, Reason.ALLOCATED, _bound_message(role, address.value, claim)),
    )


_NO_SLOT_CONDITION = Condition("", False, Reason.CONFLICT, "")  # replaced by the caller


def held_elsewhere(ctx: Context, role_key: str, claim: claims.Claim, value: str, *, placed: bool | None = None) -> str:
    """Whether another IPAddress of the claim's pool holds the address it is bound to, before the address first goes
    onto the Cluster (double_allocation.py): CLEAR, UNLISTED, or that IPAddress.

    Not asked where the address is placed already: where the live Cluster carries it (``placed``, where the slot
    knows its own position: service-lb's entry for the claim), or where the XR sets it itself (a manual value is
    the user's, placed as any is). Until Crossplane has said whether a Cluster of the XR's name exists (one found
    would be adopted with the address it carries), nothing is asked and nothing released: the Cluster is held back
    meanwhile (compose.compose_cluster), and the next call asks."""
    if CLUSTER in ctx.looking_up or placed:
        return double_allocation.CLEAR  # (a converged service-lb slot's every call: nothing more is read)
    value = addresses.parse_ip(value) or value  # a live list's entry may be written in another form
    if placed is None:
        placed = ledger.carried_in(namers.of(ctx), role_key, value)  # the slot's own place: another's is no placement of it
    placed = placed or value in namers.set_for(ctx, role_key)
    if ctx.lists != double_allocation.FETCHED and not placed:  # a trial's (decide._without_unwanted_lists)
        return double_allocation.CLEAR if ctx.lists == double_allocation.TAKEN_CLEAR else double_allocation.UNLISTED
    return double_allocation.held_elsewhere(ctx.inp, ctx.fetched, ctx.require, claim, value, placed)


def release(ctx: Context, role_key: str, claim: claims.Claim, state: RoleState, why: str, *, twin: bool = False) -> RoleState:
    """Let a claim go: at once, or in steps while a Usage protects it (see usages.py).

    Returns state, which keeps the claim (releasing) until no Usage of it is observed. A claim whose address
    something else of the XR names (ledger.py) is not released: it stays, and a Conflict says why; one whose
    address is not read yet stays exactly as it is while anything could name it; and one whose address the live
    Cluster still carries, in its own place too, stays exactly as it is until the Cluster no longer does.
    ``twin``: another IPAddress of its pool holds its address too (double_allocation.py), which the pool keeps
    used after this claim goes: the release does not wait for a Cluster carrying it (another service-lb claim's).
    """
    if claim.bound and not claim.deleting:
        names = namers.of(ctx)
        address = address_of(ctx, role_key, claim)
        if not is_known(address):
            # Not fetched yet: it stays as it is until it is. (One read and not found, or no IP, is named by nothing.)
            if names and not address.resolved:
                return dataclasses.replace(state, claim=claim, action=ClaimAction.HOLD)
        elif (name := ledger.named_elsewhere(names, role_key, address.value)) is not None:
            ctx.warn(Reason.CONFLICT, messages.kept_named(claim.label, address.value, name.where, why))
            return dataclasses.replace(state, claim=claim, action=ClaimAction.KEEP)
        elif not twin and (carried := ledger.carried(names, address.value)) is not None:
            step = messages.releasing_once_off(carried.where, address.value)
            ctx.tell(Reason.RELEASED, messages.releasing(role_key, claim.label, step, why), role_key)
            return dataclasses.replace(state, claim=claim, action=ClaimAction.HOLD)
    usage = usages.read_observed(ctx.observed.get(usage_rn(role_key)))
    if claim_rn(role_key) not in ctx.observed:
        # Found existing (adopt.py): Crossplane can only delete what it composed, so it is
        # composed first, and let go on the next reconcile.
        ctx.tell(Reason.RELEASED, messages.releasing(role_key, claim.label, "adopting it first", why), role_key)
        return dataclasses.replace(state, claim=claim, action=ClaimAction.RELEASING)
    if usage is None:
        ctx.decision.released.add(claim_rn(role_key))
        ctx.tell(Reason.RELEASED, messages.released(role_key, claim.label, why), role_key)
        return state
    step = "detaching its Usage" if usage.attached else "removing its Usage"
    ctx.tell(Reason.RELEASED, messages.releasing(role_key, claim.label, step, why), role_key)
    return dataclasses.replace(state, claim=claim, action=ClaimAction.RELEASING)
