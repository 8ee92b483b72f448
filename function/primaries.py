"""The two primary slots: the control-plane endpoint and the ingress VIP.

Each is a pool VIP (a claim) or a manual one (the XR's own value), on a Cluster that is live or not yet
composed. A VIP a live Cluster carries never changes because of what IPAM says (allocation.py holds and
reports instead); only the XR's own annotations release an ingress claim.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from function import addresses, allocation, claims, clusterclass, manual_vips, messages
from function.conditions import CONTROL_PLANE_READY, INGRESS_READY, Condition, Reason
from function.lifecycle import ClaimAction
from function.context import (
    CONTROL_PLANE,
    Context,
    INGRESS,
    MANUAL,
    POOL,
    RoleState,
    Slot,
    address_of,
    explains,
    host_field,
    is_known,
    kept_variables,
    written_secondary_is,
)

if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Role


# --- the control plane --------------------------------------------------------------------


def control_plane(ctx: Context) -> RoleState:
    slot = Slot(CONTROL_PLANE, ctx.inp.roles.control_plane, CONTROL_PLANE_READY)
    claim = ctx.claims[CONTROL_PLANE]
    live = ctx.cluster.host if ctx.cluster else None
    manual = ctx.req.manual_host
    if claim is not None and claim.deleting:
        if not (manual and live is None) and not (live and ctx.sources.get(CONTROL_PLANE) == MANUAL):
            return allocation.claim_deleting(ctx, slot, claim, live)
        allocation.let_go(ctx, CONTROL_PLANE)  # being deleted, and the XR's own endpoint needs none
        claim = None
    address = address_of(ctx, CONTROL_PLANE, claim)
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
        if claim.bound and not is_known(address):
            return allocation.hold(ctx, slot, claim, address, None)  # the manual host may be its own address
        if claim.bound and explains(address, manual):
            return allocation.allocate(ctx, slot, claim, address, required=True)  # its own address: it stays claimed
        if written_secondary_is(ctx, CONTROL_PLANE, claim, address):
            return dataclasses.replace(state, claim=claim, action=ClaimAction.HOLD if not is_known(address) else ClaimAction.KEEP)  # the pair's other value is its address
        if (ctx.inp.manual_vips.check_pools and addresses.parse_ip(manual) is not None
                and manual_vips.manual_problem(ctx, CONTROL_PLANE, manual) is not None):
            # checkPools has not put the manual endpoint in place (refused, or the pools not read yet): the pool
            # claim stays until it does, as ingress's does (manual_vips.check_manual says why).
            return dataclasses.replace(state, claim=claim, action=ClaimAction.KEEP)
        return allocation.release(ctx, CONTROL_PLANE, claim, state, f"XR sets {host_field(ctx)} {manual}")
    return allocation.allocate(ctx, slot, claim, address, required=True)


def _control_plane_addresses(ctx: Context, live: str) -> list[str]:
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
    ctx: Context, slot: Slot, live: str, claim: claims.Claim | None, address: claims.Address | None
) -> RoleState:
    """The endpoint of a live Cluster: it stays; which claim, if any, it keeps depends on what explains it."""
    manual, where, label = ctx.req.manual_host, host_field(ctx), ctx.cluster.label
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
    if claim is None and (source == MANUAL or inferred):
        return RoleState(vip=live, source=MANUAL, condition=manual_condition)
    # The XR's own endpoint: set to the live one, or a manual endpoint it no longer sets.
    own = manual == live or (not manual and source == MANUAL)
    # A host that repeats the pool VIP the Cluster serves (copied into the XR, say) is no reason
    # to give up a claim made again for it: it is waited for, as any pool VIP's.
    repeats_pool = allocation.repeats_pool(ctx, CONTROL_PLANE, manual, live)
    if claim is not None and not claim.bound and own and not repeats_pool:  # it holds nothing: let it go
        state = RoleState(vip=live, source=MANUAL, origin="manual", condition=manual_condition)
        return allocation.release(ctx, CONTROL_PLANE, claim, state, f"{label} serves on {live}, the XR's own endpoint")
    uses = _control_plane_addresses(ctx, live)

    def serving(address: claims.Address) -> None:
        for other in uses:
            if other != address.value and addresses.parse_ip(other) and other != manual:
                _second_address(ctx, slot, claim, address, other, host=other == uses[0])

    def mismatched(address: claims.Address) -> RoleState:
        # The claim holds an address the Cluster does not use.
        if not own:
            return allocation.mismatch(ctx, slot, live, claim, address, where, source=source or POOL)
        state = RoleState(vip=live, source=MANUAL, origin="manual", condition=manual_condition)
        variable = slot.role.variable
        if addresses.parse_ip(live) is None and not (ctx.cls.found and ctx.cls.defines(variable)):
            # Behind the XR's own DNS endpoint, the claim may be what the Cluster carried as its clusterVip before the
            # class lost the variable (or while it cannot be read): a ClusterClass that loses a variable releases nothing.
            # Nothing on the Cluster tells that apart from a claim it never carried (capi-vip-allocator's under a host
            # of the user's, on a class without clusterVip: its kept-variables annotation says the same after an XR
            # made again adopts it), so that one stays too, warned, until deleted by hand.
            # Kept as any claim is, Usage and all, until the XR says none holds the address any more (its release-address
            # annotation names it: the way out the warning gives; while the Cluster is being deleted, its machines may).
            key = ctx.inp.annotations.release_address
            if ctx.cls.found and not ctx.cluster.deleting and ctx.req.release_address == addresses.parse_ip(address.value):
                why = f"XR {ctx.req.xr_name} is annotated {key}={address.value}, and {ctx.cls.label} defines no {variable}"
                return allocation.release(ctx, CONTROL_PLANE, claim, state, why)
            ctx.warn(Reason.CLUSTER_CLASS_MISSING_VARIABLE, messages.kept_for_lost_variable(
                claim.label, address.value, label, live, ctx.cls.label, variable, ctx.cls.found, ctx.req.xr_label, key))
            return dataclasses.replace(state, claim=claim, action=ClaimAction.KEEP)
        if repeats_pool:
            allocation.unreserved(ctx, slot, claim, address, live, where)
        why = f"{label} serves on {live}, the XR's own endpoint, not on the claim's {address.value}"
        return allocation.release(ctx, CONTROL_PLANE, claim, state, why)

    return allocation.live_claim(ctx, slot, claim, address, live, required=True, mismatched=mismatched,
                                 serving=serving, serves_on=uses)


def _second_address(
    ctx: Context, slot: Slot, claim: claims.Claim, address: claims.Address, other: str, *, host: bool
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


# --- ingress ----------------------------------------------------------------------------


def ingress(ctx: Context) -> RoleState:
    refused = _refused_manual_ingress(ctx)
    if refused is None:
        return _ingress_with(ctx, ctx.req.manual_ingress)
    # A new manual ingress VIP for an observed Cluster that must not be put in place: decided as if
    # the XR did not set it (a live manual VIP stays as it is), so nothing it serves is released.
    reason, message = refused
    live = ctx.cluster.ingress
    state = _ingress_with(ctx, live if live and ctx.sources.get(INGRESS) == MANUAL else None)
    if reason is Reason.WAITING_FOR_ADDRESS:
        message = messages.manual_waiting_for_pools("ingress", ctx.req.manual_ingress)
    else:
        message += f"; until then {ctx.cluster.label} keeps {live or 'the ingress VIP it has'}"
        ctx.warn(reason, message)
    return dataclasses.replace(state, condition=Condition(INGRESS_READY, False, reason, message))


def _refused_manual_ingress(ctx: Context) -> tuple[Reason, str] | None:
    """Why a manual ingress VIP the observed Cluster does not carry yet must not be put in place
    (Input manualVips.checkPools), or None. The address of the XR's own ingress claim is no manual VIP."""
    manual, cluster = ctx.req.manual_ingress, ctx.cluster
    if (not ctx.inp.manual_vips.check_pools or cluster is None or ctx.req.ingress_disabled or not manual
            or manual == cluster.ingress or addresses.parse_ip(manual) is None):
        return None
    claim = ctx.claims[INGRESS]
    if claim is not None and not claim.deleting and claim.bound:
        address = address_of(ctx, INGRESS, claim)
        if is_known(address) and explains(address, manual):
            return None
    return manual_vips.manual_problem(ctx, INGRESS, manual)


def _ingress_with(ctx: Context, manual: str | None) -> RoleState:
    slot = Slot(INGRESS, ctx.inp.roles.ingress, INGRESS_READY)
    role = slot.role
    claim = ctx.claims[INGRESS]
    live = ctx.cluster.ingress if ctx.cluster else None
    annotation = ctx.inp.annotations
    repeats_pool = allocation.repeats_pool(ctx, INGRESS, manual, live)
    if repeats_pool and not ctx.req.ingress_disabled:
        # The annotation repeats the pool VIP the Cluster serves. While no bound claim says otherwise
        # it is that pool VIP: a claim of it being deleted, made again or not bound yet is warned
        # about and waited for, as without the annotation, not silently given up.
        if claim is None or claim.deleting or not claim.bound:
            manual = None
    if claim is not None and claim.deleting and not ctx.req.ingress_disabled and not manual:
        return allocation.claim_deleting(ctx, slot, claim, live)
    if claim is not None and claim.deleting:
        allocation.let_go(ctx, INGRESS)  # on its way out, as asked
        claim = None
    address = address_of(ctx, INGRESS, claim)
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
        return allocation.release(ctx, INGRESS, claim, state, why) if claim else state
    if manual:
        if claim is not None and claim.bound and not is_known(address):
            # It may hold the manual VIP itself: the VIP is set, the claim waits to be read.
            source = POOL if repeats_pool else MANUAL  # a repeated pool VIP stays the pool's
            return dataclasses.replace(allocation.hold(ctx, slot, claim, address, manual, source=source), origin="manual")
        if claim is not None and claim.bound and explains(address, manual):
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
            if repeats_pool and claim is not None and is_known(address):
                allocation.unreserved(ctx, slot, claim, address, live, f"the XR annotation {annotation.ingress_vip}")
            if claim is not None and written_secondary_is(ctx, INGRESS, claim, address):
                return dataclasses.replace(state, claim=claim, action=ClaimAction.HOLD if not is_known(address) else ClaimAction.KEEP)  # the pair's other value is its address
            return allocation.release(ctx, INGRESS, claim, state, why) if claim else state
    cls = ctx.cls
    # A Cluster adopted with the ingress VIP only in its annotation (as capi-vip-allocator leaves it,
    # whatever the class defines) keeps it served there, the variable as found.
    kept = role.variable in kept_variables(ctx) and claim is not None  # the operator's claim: a manual one is the XR's to set
    if not cls.found or not (cls.defines(role.variable) or kept):
        return _ingress_without_variable(ctx, role, claim, address, live)
    if live and ctx.sources.get(INGRESS) == MANUAL:
        # A manual ingress VIP was removed from the XR: allocate one, and keep the manual
        # one until the claim is bound (the user's own address, so no pool loses it).
        state = allocation.allocate(ctx, slot, claim, address, required=False)
        if state.vip is None:
            state.vip, state.source, state.blocks = live, MANUAL, False
        return state
    if live:
        setting = f"the XR annotation {annotation.ingress_vip}"
        return allocation.live_claim(ctx, slot, claim, address, live, required=False,
                                     mismatched=lambda a: allocation.mismatch(ctx, slot, live, claim, a, setting))
    return allocation.allocate(ctx, slot, claim, address, required=False)


def _ingress_without_variable(
    ctx: Context, role: Role, claim: claims.Claim | None, address: claims.Address | None, live: str | None
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
        allocation.pool_choice(ctx, role)
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
