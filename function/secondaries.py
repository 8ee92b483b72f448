"""The dual-stack secondaries (roles.*.secondaryVariable): a VIP of the other address family for each primary
that the ClusterClass pairs, claimed or written by the XR, decided after its primary so the pair's family is
known."""

from __future__ import annotations

import dataclasses

from function import (
    addresses,
    allocation,
    claims,
    cluster as clusters,
    clusterclass,
    manual_vips,
    messages,
    pools,
    structs,
    usages,
)
from function.conditions import CONTROL_PLANE_SECONDARY_READY, INGRESS_SECONDARY_READY, Condition, Reason
from function.lifecycle import ClaimAction
from function.xr import Fatal
from function.context import (
    CLAIM_RESOURCE,
    CONTROL_PLANE,
    Context,
    INGRESS,
    MANUAL,
    POOL,
    RoleState,
    SECONDARY,
    SECONDARY_CLAIM_RESOURCE,
    SECONDARY_USAGE_RESOURCE,
    Slot,
    USAGE_RESOURCE,
    address_of,
    as_str,
    class_unread,
    explains,
    is_known,
    of_kind,
    secondary_role,
    written_variable,
)


def read_secondaries(ctx: Context) -> None:
    """Which roles the ClusterClass gives a pair (it defines their secondary variable), and the observed
    secondary claims of the function's. A resource of a secondary name that is another kind or an earlier
    step's is left alone where the role has no pair, and Fatal where it has (see secondary)."""
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
            if name in ctx.observed and not of_kind(name, ctx.observed[name], ctx.earlier, api_version, kind):
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


def _live_family(ctx: Context, key: str) -> str | None:
    """The family of the role's primary VIP from a pool, as the live Cluster or the XR's status has it, if any
    (a manual VIP, the user's own, says nothing of the family the pair's primary claim needs)."""
    if ctx.sources.get(key) == MANUAL:
        # The secondary claim the XR keeps (its manual primary was that address) says which family the pair has.
        claim = ctx.claims.get(SECONDARY[key])
        if claim is not None and claim.bound and not claim.deleting:
            address = address_of(ctx, SECONDARY[key], claim)
            if is_known(address):
                return pools.other_family(pools.family(address.value))
        return None
    cluster, found = ctx.cluster, []
    if cluster is not None and key == CONTROL_PLANE:
        found = [cluster.host, as_str(cluster.variables.get(ctx.inp.roles.control_plane.variable))]
    elif cluster is not None:
        found = [cluster.ingress_pair[0] if cluster.ingress_pair else cluster.ingress]
    found.append(ctx.recorded.get(key))
    return next((f for f in map(pools.family, found) if f), None)


def _live_secondary(ctx: Context, key: str, variable: str) -> str | None:
    """The secondary VIP the live Cluster carries: its variable (canonical where an IP), or for ingress the
    annotation's second address."""
    if ctx.cluster is None:
        return None
    value = ctx.cluster.variables.get(variable)
    if isinstance(value, str) and value:
        return addresses.parse_ip(value) or value
    return ctx.cluster.ingress_secondary if key == INGRESS else None


def secondary(ctx: Context, key: str, primary: RoleState) -> RoleState | None:
    """The role's secondary (see _secondary_state), with a refused manual one reported as refused."""
    refused: list = []
    state = _secondary_state(ctx, key, primary, refused)
    refused = [r for r in refused if r is not None]  # None: a Conflict, warned about, the live value kept
    if state is None or not refused:
        return state
    reason, message = refused[0]
    return dataclasses.replace(state, blocks=state.blocks or ctx.cluster is None,
                               condition=Condition(state.condition.type, False, reason, message))


def _secondary_state(ctx: Context, key: str, primary: RoleState, refusals: list) -> RoleState | None:
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
    role = secondary_role(ctx, key)
    cond = CONTROL_PLANE_SECONDARY_READY if key == CONTROL_PLANE else INGRESS_SECONDARY_READY
    slot = Slot(skey, role, cond)
    claim = ctx.claims[skey]
    live = _live_secondary(ctx, key, role.variable)
    what = f"secondary {key} VIP"
    written = written_variable(ctx, role.variable)
    if written == "":
        written = None  # the class's default, as an empty annotation is none
    pair_off = req.dual_stack_disabled or (key == INGRESS and req.ingress_disabled)
    if written is not None and not pair_off and allocation.repeats_pool(ctx, skey, written if isinstance(written, str) else None, live):
        # The pool VIP the Cluster serves, copied onto the XR: still the pool's. (With the pair turned off it is
        # the XR's own value: kept, not given up while the XR names it, and not taken off the Cluster.)
        written = None
    if claim is None and key not in ctx.dual and (live is None or addresses.parse_ip(live) is None or written is not None):
        return None  # no pair (or not known yet): a variable the XR writes passes through, as any other
    if written is not None and key in ctx.dual and inp.manual_vips.check_pools and not (key == INGRESS and req.ingress_disabled):
        written = _check_written_secondary(ctx, key, written, live, claim, refusals)
        if refusals and claim is None and live is None:
            return RoleState(vip=None, condition=Condition(cond, False, Reason.WAITING_FOR_ADDRESS, ""))  # held back (see secondary)
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
            allocation.let_go(ctx, skey)
            going, claim = claim, None
        else:
            going = None
        reason, message = class_unread(cls)
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
        return allocation.claim_deleting(ctx, slot, claim, live)  # a new Cluster waits for both
    if claim is None and live is None and primary.vip is None and primary.action in (ClaimAction.NONE, ClaimAction.WAIT_GONE):
        # Nothing to pair with yet (no pool for the primary, say): an address claimed now would be held for nothing.
        return RoleState(vip=None, condition=Condition(cond, False, primary.condition.reason,
                                                       f"the {what} is claimed once the {key} VIP has a claim"))
    family = pools.family(primary.vip or primary.unlisted)  # a bound primary's family, placed or not
    if family is None and key == CONTROL_PLANE and ctx.cluster is not None:
        family = pools.family(as_str(ctx.cluster.variables.get(inp.roles.control_plane.variable)))
    family = family or inp.dual_stack.primary_family
    ctx.family[skey] = pools.other_family(family)
    address = address_of(ctx, skey, claim)
    if live is not None and ctx.sources.get(skey) == MANUAL and refusals:
        # The XR's own live secondary, and a new value that is refused: the live one stays, nothing is claimed.
        return RoleState(vip=live, claim=claim, action=ClaimAction.HOLD if claim is not None else None, source=MANUAL,
                         condition=Condition(cond, True, Reason.MANUAL, messages.on_cluster(f"secondary {key}", live, ctx.cluster.label)))
    if (key == CONTROL_PLANE and live is not None and ctx.sources.get(skey) == MANUAL
            and (claim is None or not claim.bound or (is_known(address) and not explains(address, live)))):
        # The control plane's secondary endpoint the XR set itself, no longer set: it stays, as the endpoint does.
        # (A claim whose address it is explains it: kept as a pool VIP below; one not read yet is held below.)
        ctx.warn(Reason.CONFLICT, messages.own_secondary_endpoint_unset(
            req.xr_name, role.variable, ctx.cluster.label, live, f"{inp.xr.cluster_spec_path}.topology.variables"))
        state = RoleState(vip=live, source=MANUAL, condition=Condition(
            cond, True, Reason.MANUAL, messages.on_cluster(f"secondary {key}", live, ctx.cluster.label)))
        if claim is None:
            return state
        return allocation.release(ctx, skey, claim, state, f"{ctx.cluster.label} serves on {live}, the XR's own secondary endpoint")
    if live is not None and ctx.sources.get(skey) == MANUAL:
        # The XR's own ingress secondary VIP was removed from it: a pool VIP replaces it once bound (the user's own
        # address, so no pool loses it meanwhile), as for the ingress VIP.
        state = allocation.allocate(ctx, slot, claim, address, required=False)
        if state.vip is None:
            state.vip, state.source, state.blocks = live, MANUAL, False
        return state
    if live is not None:
        if addresses.parse_ip(live) is None:
            # A name, not an address: the user's own, which no pool reserves. It stays.
            return RoleState(vip=live, claim=claim, action=ClaimAction.HOLD if claim is not None and claim.bound and not is_known(address) else None,
                             source=MANUAL, condition=Condition(cond, True, Reason.MANUAL, messages.on_cluster(f"secondary {key}", live, ctx.cluster.label)))
        return allocation.live_claim(ctx, slot, claim, address, live, required=False, mismatched=lambda a: allocation.kept_mismatched(
            ctx, slot, live, claim, messages.live_secondary_mismatch(ctx.cluster.label, role.variable, live, claim.label, a.value,
                                                                     claim.pool_ref.label, inp.annotations.dual_stack)))
    state = allocation.allocate(ctx, slot, claim, address, required=False)
    if (bound := state.vip or state.unlisted) is not None and pools.family(bound) == family and state.claim is not None:
        # Its pool was of the primary's family after all (edited, or the primary's claim bound in the other
        # family than was asked): it holds nothing the Cluster uses, so it is made again from the right one.
        # (Whether its pool's IPAddresses are listed yet says nothing about its family.)
        message = (f"{state.claim.label} is bound to {bound}, of the same family ({family}) as the {key} VIP "
                   f"{primary.vip or primary.unlisted}; it is released and claimed again from a pool of {pools.other_family(family)} addresses. "
                   f"Check the spec.addresses of {state.claim.pool_ref.label}")
        ctx.warn(Reason.FAMILY_MISMATCH, message)
        waiting = RoleState(vip=None, blocks=True, condition=Condition(cond, False, Reason.FAMILY_MISMATCH, message))
        return allocation.release(ctx, skey, state.claim, waiting, f"of the {key} VIP's family ({family})")
    return state


def _check_written_secondary(
    ctx: Context, key: str, written: object, live: str | None, claim: claims.Claim | None, refusals: list
) -> object:
    """The XR's own secondary VIP, checked against the pools as a manual primary is (manualVips.checkPools),
    before anything is decided on it: one a pool can hand out, that the Cluster does not carry yet, is
    decided as if the XR did not write it (so nothing the Cluster serves is released), and reported in
    ``refusals``; one the live Cluster already carries is warned about on every reconcile."""
    vip = addresses.parse_ip(written) if isinstance(written, str) else None
    if vip is None:
        return written  # not an address: _secondary_off says so
    if claim is not None and not claim.deleting and claim.bound:
        address = address_of(ctx, SECONDARY[key], claim)
        if not is_known(address) or explains(address, vip):
            return written  # its own claim's address (or maybe: not read yet), which no pool hands to another
    problem = manual_vips.manual_problem(ctx, SECONDARY[key], vip)
    if problem is None:
        return written
    reason, message = problem
    if problem is manual_vips.WAITING:
        refusals.append((reason, messages.manual_waiting_for_pools(f"secondary {key}", vip)))
        return None if live != vip else written
    ctx.warn(reason, message)
    if live == vip:
        return written
    refusals.append((reason, message + "; it is put in place once that is fixed"))
    return None


def _secondary_off(
    ctx: Context, slot: Slot, claim: claims.Claim | None, why: str, written: object, own: str | None = None
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
        allocation.let_go(ctx, slot.key)
        return state
    address = address_of(ctx, slot.key, claim)
    if own and claim.bound and is_known(address) and explains(address, own):
        # The XR's manual primary is its address: it stays claimed (the secondary the XR writes, if any, stays its own).
        return dataclasses.replace(state, claim=claim, action=ClaimAction.KEEP, source=source or POOL)
    if own and claim.bound and not is_known(address):
        # The manual primary may be this claim's address: it stays exactly as it is until the address is read.
        return dataclasses.replace(allocation.hold(ctx, slot, claim, address, manual, source=source),
                                   blocks=False, condition=state.condition)
    if manual and claim.bound and not is_known(address):
        return dataclasses.replace(allocation.hold(ctx, slot, claim, address, manual, source=MANUAL), condition=state.condition)
    if manual and claim.bound and explains(address, manual):
        # Its own address: it stays claimed; while ingress is off the Cluster does not carry it, so that is said (ledger.py).
        if slot.key == SECONDARY[INGRESS] and ctx.req.ingress_disabled:
            where = f"{slot.role.variable} in {ctx.inp.xr.cluster_spec_path}.topology.variables of XR {ctx.req.xr_name}"
            ctx.warn(Reason.CONFLICT, messages.kept_named(claim.label, address.value, where, why))
        return dataclasses.replace(state, claim=claim, action=ClaimAction.KEEP, source=POOL)
    return allocation.release(ctx, slot.key, claim, state, why)


def _secondary_without_variable(ctx: Context, slot: Slot, claim: claims.Claim | None, live: str | None) -> RoleState:
    """The ClusterClass no longer defines the secondary variable: CAPI would reject it, so the Cluster loses
    the variable, but the claim stays (the workload cluster's kube-vip may still hold its address)."""
    if claim is None or claim.deleting:
        if claim is not None:
            allocation.let_go(ctx, slot.key)
        if live is None:
            return RoleState(vip=None, claim=claim, action=ClaimAction.WAIT_GONE if claim else None, condition=Condition(
                slot.condition, True, Reason.DISABLED, messages.no_variable(ctx.cls.label, slot.role.variable)))
        message = clusterclass.missing_variable_message(ctx.cls, slot.role.variable, f"the secondary VIP {live}") + (
            f". No claim reserves {live} any more, so IPAM may give it to another cluster: reserve it in its pool "
            f"(spec.excludedAddresses); to take it off the Cluster annotate the XR {ctx.inp.annotations.dual_stack}=\"false\"")
        ctx.warn(Reason.CLUSTER_CLASS_MISSING_VARIABLE, message)
        return RoleState(vip=live, claim=claim, action=ClaimAction.WAIT_GONE if claim else None, source=ctx.sources.get(slot.key) or POOL,
                         condition=Condition(slot.condition, False, Reason.CLUSTER_CLASS_MISSING_VARIABLE, message))
    address = address_of(ctx, slot.key, claim)
    vip = live or (address.value if is_known(address) else None)
    message = clusterclass.missing_variable_message(ctx.cls, slot.role.variable, f"the secondary VIP {vip or ''}".rstrip()) + (
        f". {claim.label} is kept; to release it annotate the XR {ctx.inp.annotations.dual_stack}=\"false\"")
    ctx.warn(Reason.CLUSTER_CLASS_MISSING_VARIABLE, message)
    return RoleState(vip=live, claim=claim, action=ClaimAction.HOLD if claim.bound and not is_known(address) else None, source=ctx.sources.get(slot.key) or POOL,
                     condition=Condition(slot.condition, False, Reason.CLUSTER_CLASS_MISSING_VARIABLE, message))
