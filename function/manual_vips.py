"""Manual VIPs checked against the pools (Input manualVips.checkPools): a manual value inside a pool's range must
be the XR's own claim's address, or it is refused before a Cluster carries it."""

from __future__ import annotations

import dataclasses

from function import addresses, allocation, messages, ranges, service_lb
from function.conditions import Condition, Reason
from function.context import (
    CONTROL_PLANE,
    Context,
    INGRESS,
    MANUAL,
    RoleState,
    SECONDARY,
    SECONDARY_CLAIM_RESOURCE,
    Slot,
    address_of,
    explains,
    host_field,
    is_known,
    secondary_role,
)


# --- manual VIPs checked against the pools (Input manualVips.checkPools) ------------------


WAITING = (Reason.WAITING_FOR_ADDRESS, "")  # the pools are not fetched yet


def manual_problem(ctx: Context, role_key: str, vip: str) -> tuple[Reason, str] | None:
    """Why a manual VIP must not be put in place, if a pool or the XR's other claims say so.

    The pools of the XR's class for every role it uses are read (the selectors a claim of that role
    uses; nothing else is listed): a pool that can hand the VIP out may give it to another
    cluster, whichever role it serves. A VIP that another claim of the XR holds (the other role's,
    or a service load-balancer address) is a Conflict.
    Returns WAITING while Crossplane has not fetched the pools."""
    req, inp = ctx.req, ctx.inp
    if role_key in SECONDARY_CLAIM_RESOURCE:
        base = CONTROL_PLANE if role_key == SECONDARY[CONTROL_PLANE] else INGRESS
        what = f"secondary {base} VIP"
        field = f"{inp.xr.cluster_spec_path}.topology.variables {secondary_role(ctx, base).variable}"
    else:
        what, field = (("control-plane endpoint", host_field(ctx)) if role_key == CONTROL_PLANE
                       else ("ingress VIP", f"the XR annotation {inp.annotations.ingress_vip}"))
    for other_key in (k for k in (CONTROL_PLANE, INGRESS, *SECONDARY.values()) if k != role_key):
        other = ctx.claims.get(other_key)
        if other is None or (other.deleting and other_key in SECONDARY_CLAIM_RESOURCE):
            continue
        other_address = address_of(ctx, other_key, other)
        if is_known(other_address) and explains(other_address, vip):
            return Reason.CONFLICT, messages.manual_shared(what, vip, req.xr_name, field, other.label, f"the {other_key} VIP")
    lb_in_use = ctx.cls.found and ctx.cls.defines(inp.roles.service_lb.variable)
    for index, claim in sorted(service_lb.observed_lb(ctx)[0].items()):
        if not claim.deleting and vip in service_lb.lb_known(ctx, index, claim):
            return Reason.CONFLICT, messages.manual_shared(what, vip, req.xr_name, field, claim.label,
                                                           "a service load-balancer address")
    roles = (inp.roles.control_plane, inp.roles.ingress, *((inp.roles.service_lb,) if lb_in_use else ()))
    choices = [allocation.pool_choice(ctx, role) for role in roles]
    if not all(c.resolved for c in choices):
        return WAITING
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


def check_manual(ctx: Context, slot: Slot, state: RoleState) -> RoleState:
    """Put a manual VIP in place only where no pool can hand it out (Input manualVips.checkPools).

    A VIP the Cluster does not carry yet is held back: a Cluster not composed yet waits, with a
    False condition naming the pool and the excludedAddresses line; an observed Cluster without an
    endpoint is composed without one (a live endpoint never changes, so it would stay for good).
    A VIP the live Cluster already serves stays, and the XR warns on every reconcile until the
    pool excludes it. (A new manual ingress VIP for an observed Cluster is refused in primaries.ingress,
    before anything is decided on it.) A DNS name is no pool's and is not checked.
    """
    if state.source != MANUAL or state.vip is None or addresses.parse_ip(state.vip) is None:
        return state
    vip, cluster = state.vip, ctx.cluster
    serving = cluster is not None and (cluster.host if slot.key == CONTROL_PLANE else cluster.ingress) == vip
    problem = manual_problem(ctx, slot.key, vip)
    if problem is None:
        return state
    reason, message = problem
    if serving:
        if problem is not WAITING:
            ctx.warn(reason, message)
        return state
    if problem is WAITING:
        message = messages.manual_waiting_for_pools(slot.role.label_value, vip)
    else:
        message += "; it is put in place once that is fixed"
        ctx.warn(reason, message)
    held = dataclasses.replace(state, blocks=True, condition=Condition(slot.condition, False, reason, message))
    if cluster is not None and slot.key == CONTROL_PLANE:
        return dataclasses.replace(held, vip=None, source=None)  # the observed Cluster stays, without an endpoint
    return held
