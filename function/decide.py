"""The decision: observed XR and resources + fetched resources + Input -> what to compose.

Pure Python over plain data; fn.py only translates protobuf in and out. The pipeline, in this order on every call:

1. read the request (the XR, its status, what is observed) into a Context (context.py), and look up what
   exists under the names the XR composes without observing it (adoption, adopt.py);
2. the gates: the ClusterClass is required, and its problems reported;
3. each slot decided by its own step: the control plane and ingress (primaries.py), manual VIPs checked
   against the pools (manual_vips.py), the dual-stack secondaries (secondaries.py), the service
   load-balancer addresses (service_lb.py); a claim's life is the same for every slot (allocation.py),
   and a release asks the ledger first (ledger.py);
4. composed: the Cluster, every slot's claim and Usage, the DNSEndpoint (compose.py);
5. the outcome: conditions, status, whether the XR converged and when to look again; and the guard that
   refuses to drop anything observed.

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
from typing import TYPE_CHECKING

from function import (
    addresses,
    adopt,
    allocation,
    cluster as clusters,
    clusterclass,
    compose,
    double_allocation,
    manual_vips,
    primaries,
    secondaries,
    service_lb,
    xr as xrs,
)
from function.conditions import CONTROL_PLANE_READY, INGRESS_READY, Reason, Severity
from function.input import parse_duration
from function.requirements import Fetched
from function.xr import Fatal
from function.context import (
    CLUSTER,
    CONTROL_PLANE,
    Context,
    DNS,
    Decision,
    RoleState,
    INGRESS,
    LB_STATUS_KEY,
    MANUAL,
    OURS,
    POOL,
    SECONDARY,
    SECONDARY_STATUS_KEYS,
    STATUS_KEYS,
    Slot,
    claim_rn,
    observed_claim,
    secondary_names,
    secondary_role,
    usage_rn,
)

if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Input


def decide(
    inp: Input, xr: dict, observed: dict[str, dict], fetched: Fetched, *, crossplane_v2: bool = False,
    by_name: bool = False, earlier: frozenset[str] = frozenset(), now: float | None = None,
) -> Decision:
    """Decide one reconcile. Raises Fatal when nothing may be applied.

    ``crossplane_v2``: Crossplane advertised its capabilities (v2.2+); with a namespaced
    XR it tells the Usage kind is served. ``by_name``: Crossplane fetches a namespaced
    object by name (v2.2+), which adoption needs (adopt.py). ``earlier``: the composed resources
    earlier steps of the pipeline desire (a DNSEndpoint of theirs is never ours to release).
    ``now``: the time, in seconds since the epoch, to tell a claim IPAM is still binding (allocation.binding).
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

    def decided(lists: str = double_allocation.FETCHED) -> Decision:
        ctx = _context(inp, req, xr, observed, fetched, observed_cluster, status, usage_wanted, by_name, earlier, now)
        ctx.lists = lists
        if by_name:
            _adopt(ctx)
        return _decide(ctx)

    decision = decided()
    asked = [n for n in decision.requirements if double_allocation.is_list(n)]
    if not asked or CLUSTER in observed:
        return decision
    return _without_unwanted_lists(decision, asked, fetched, decided)


def _without_unwanted_lists(decision: Decision, asked: list[str], fetched: Fetched, decided) -> Decision:
    """The decision, where no Cluster is observed, with the pools' IPAddress lists it asked for (double_allocation.py)
    only where what they say can change what this call applies; else the decision made without them, asking for none.

    The call is decided again with every list taken as clear, and (where any was fetched) as not listed yet: the lists
    are wanted where taken as clear the Cluster is composed (a new Cluster gets its addresses), or anything composed
    (by name or content) or released differs between the two (say, a release the address's family calls for, or a
    DNS record of an address no claim holds). Neither trial reads what the lists say, so whether they are wanted, and
    the decision served where they are not, are the same on every call of a reconcile, whether Crossplane sent the
    lists (v2.4 sends the last reconcile's requirements with the first call) or not. A list asked for makes
    Crossplane watch every IPAddress of the pool's namespace (for a GlobalInClusterIPPool, of every namespace) for
    the XR, and each of their events costs the XR's watch circuit breaker: an XR whose control-plane address was
    bound long before its ingress address paid for all of them meanwhile. A trial that is Fatal leaves the lists
    asked for."""
    try:
        clear = decided(double_allocation.TAKEN_CLEAR)
        unlisted = decision if not any(fetched.resolved(n) for n in asked) else decided(double_allocation.TAKEN_UNLISTED)
    except Fatal:
        return decision
    if CLUSTER in clear.composed or clear.composed != unlisted.composed or clear.released != unlisted.released:
        return decision
    for name in [n for n in unlisted.requirements if double_allocation.is_list(n)]:
        del unlisted.requirements[name]
    return unlisted


def _context(inp: Input, req, xr: dict, observed: dict[str, dict], fetched: Fetched, observed_cluster, status: dict,
             usage_wanted: bool, by_name: bool, earlier: frozenset[str], now: float | None) -> Context:
    ctx = Context(
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
        claims={key: observed_claim(observed, key) for key in (CONTROL_PLANE, INGRESS)},
        use_usages=usage_wanted,  # Usages observed earlier are kept regardless (see compose.compose_claim)
        decision=Decision(),
        earlier=earlier,
        by_name=by_name,
        now=now,
    )
    ctx.lb_names, ctx.lb_others = service_lb.lb_names_of(observed, earlier, inp)
    secondaries.read_secondaries(ctx)
    ingress2 = clusters.secondary_variable(inp, inp.roles.ingress)
    if ctx.cluster is not None and (INGRESS in ctx.dual or ctx.claims[SECONDARY[INGRESS]] is not None
                                    or ingress2 in ctx.cluster.variables
                                    or (ctx.cluster.ingress_pair is not None
                                        and status.get(SECONDARY_STATUS_KEYS[INGRESS]) == ctx.cluster.ingress_pair[1])):
        ctx.cluster = ctx.cluster.as_pair()  # only a role with a pair reads its annotation as one
    return ctx


def _adopt(ctx: Context) -> None:
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
    looked += [(SECONDARY[key], secondary_role(ctx, key)) for key in ctx.dual]
    for key, role in looked:
        if ctx.claims[key] is not None:
            continue
        selector = adopt.claim_selector(inp, role, req)
        ctx.require(adopt.claim_requirement(key), selector)
        found = adopt.lookup(ctx.fetched, adopt.claim_requirement(key), selector)
        claim = adopt.read_claim(found, req, role.label_value, claim_rn(key))
        if not found.resolved:
            ctx.looking_up.add(key)
        elif claim is not None:
            ctx.claims[key] = claim
            if not claim.deleting:
                ctx.adopted.add(key)
                bound = f"bound to IPAddress {claim.namespace}/{claim.address_name}" if claim.address_name else "not bound yet"
                ctx.tell(Reason.ADOPTED, f"{claim.label} exists and is adopted as it is: {claim.pool_ref.label}, {bound}", key)


def _kept_as_found(ctx: Context, found: clusters.ObservedCluster) -> clusters.ObservedCluster:
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
    return dataclasses.replace(found, kept=found.kept | roles)  # less what it carries: context.kept_variables


def _decide(ctx: Context) -> Decision:
    _gates(ctx)
    cp, ing = _primaries(ctx)
    second = _secondaries(ctx, cp, ing)
    lb = service_lb.service_lb(ctx)
    cp, cluster = compose.compose_cluster(ctx, cp, ing, lb, second)
    # Every slot's claim and Usage, the same way (lifecycle.py).
    inp = ctx.inp
    slots = [(CONTROL_PLANE, inp.roles.control_plane, cp), (INGRESS, inp.roles.ingress, ing),
             *((SECONDARY[key], secondary_role(ctx, key), state) for key, state in second.items()),
             *((service_lb.lb_key(i), inp.roles.service_lb, state) for i, state in sorted(lb.slots.items()))]
    for key, role, state in slots:
        compose.compose_claim(ctx, key, role, state, cluster)
    compose.compose_dns(ctx, cluster, cp, ing, second)
    _outcome(ctx, cp, ing, second, lb, cluster)
    _guard(ctx.observed, ctx.decision, (*_ours(inp), *sorted(ctx.lb_names), *secondary_names(ctx)))
    return ctx.decision


def _gates(ctx: Context) -> None:
    """The ClusterClass is required on every call (its variables decide the pairs and what a Cluster may carry)."""
    inp, req = ctx.inp, ctx.req
    ctx.require(clusterclass.REQUIREMENT, clusterclass.selector(inp, req.class_name, req.class_namespace))
    if ctx.cls.problem:
        ctx.warn(Reason.INVALID_CLUSTER_CLASS, ctx.cls.problem)


def _primaries(ctx: Context) -> tuple[RoleState, RoleState]:
    """The control plane, then ingress; then, with manualVips.checkPools, their manual values against the pools."""
    inp = ctx.inp
    cp = primaries.control_plane(ctx)
    ing = primaries.ingress(ctx)
    if inp.manual_vips.check_pools:
        cp = manual_vips.check_manual(ctx, Slot(CONTROL_PLANE, inp.roles.control_plane, CONTROL_PLANE_READY), cp)
        ing = manual_vips.check_manual(ctx, Slot(INGRESS, inp.roles.ingress, INGRESS_READY), ing)
    return cp, ing


def _secondaries(ctx: Context, cp: RoleState, ing: RoleState) -> dict[str, RoleState]:
    """Each primary's dual-stack secondary, where one is wanted or still held; a lone Usage of one not wanted goes."""
    second = {key: secondaries.secondary(ctx, key, state) for key, state in ((CONTROL_PLANE, cp), (INGRESS, ing))}
    for key in [k for k, state in second.items() if state is None]:
        del second[key]
        if usage_rn(SECONDARY[key]) in ctx.observed and usage_rn(SECONDARY[key]) not in ctx.sec_others:
            allocation.let_go_usage(ctx, SECONDARY[key])  # its claim is gone, and no pair is wanted
    return second


def _outcome(ctx: Context, cp: RoleState, ing: RoleState, second: dict[str, RoleState], lb: service_lb.ServiceLb,
             cluster: dict | None) -> None:
    """Conditions and status from the slots' outcomes; converged or not, and so when to look again."""
    inp, decision = ctx.inp, ctx.decision
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
    decision.ttl = parse_duration(inp.ttl.converged if decision.converged and not allocation.events_dropped(ctx) else inp.ttl.waiting)
    if cluster is None and all(c.ready for c in decision.composed.values()):
        decision.xr_ready = False


def _lb_recorded(value: object) -> dict[int, str]:
    out: dict[int, str] = {}
    for part in value.split(",") if isinstance(value, str) else []:
        index, _, address = part.partition("=")
        if index.isascii() and index.isdigit() and addresses.parse_ip(address):
            out[int(index)] = address
    return out


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
