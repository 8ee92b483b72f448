"""The decision: observed XR and resources + fetched resources + Input -> what to compose.

Pure Python over plain data; fn.py only translates protobuf in and out.

The rules that keep a workload cluster alive, in one place:

- Crossplane deletes every composed resource that a successful response leaves
  out. Once a Cluster or a claim is observed it is always in the decision, or
  the decision is Fatal (which applies nothing). The only deliberate exception
  is a claim released on purpose (ingress turned off, a manual VIP replacing an
  allocated one before the Cluster exists); ``released`` names those.
- The endpoint of an observed Cluster never changes; the allocated ingress VIP
  of an observed Cluster never changes either.
- A Cluster is composed only once its control-plane VIP is known and its
  ClusterClass has been read, so CAPI's topology controller never sees a
  Cluster without its endpoint.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from function import addresses, claims, clusterclass, pools
from function import cluster as clusters
from function import xr as xrs
from function.conditions import (
    CONTROL_PLANE_READY,
    INGRESS_READY,
    Condition,
    Reason,
    Result,
    normal,
    warning,
)
from function.input import Input, Role, parse_duration
from function.requirements import Fetched, Selector
from function.xr import ClusterRequest, Fatal

CLUSTER = "cluster"
CONTROL_PLANE = "control-plane"
INGRESS = "ingress"
CLAIM_RESOURCE = {CONTROL_PLANE: "vip-claim-control-plane", INGRESS: "vip-claim-ingress"}
OURS = (CLUSTER, *CLAIM_RESOURCE.values())


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


@dataclasses.dataclass
class RoleState:
    """One role's outcome."""

    vip: str | None
    condition: Condition
    claim: claims.Claim | None = None  # to keep or create
    blocks: bool = False  # hold back a Cluster that is not yet composed
    source: str = ""  # where the VIP comes from, for events


@dataclasses.dataclass
class _Context:
    inp: Input
    req: ClusterRequest
    fetched: Fetched
    observed: dict[str, dict]
    cluster: clusters.ObservedCluster | None
    cls: clusterclass.ClassState
    decision: Decision

    def require(self, name: str, selector: Selector) -> None:
        self.decision.requirements[name] = selector

    def warn(self, reason: Reason, message: str) -> None:
        self.decision.results.append(warning(reason, message))

    def tell(self, reason: Reason, message: str) -> None:
        self.decision.results.append(normal(reason, message))


def decide(inp: Input, xr: dict, observed: dict[str, dict], fetched: Fetched) -> Decision:
    """Decide one reconcile. Raises Fatal when nothing may be applied."""
    req = xrs.parse(xr, inp)
    for name in OURS:
        if name in observed and not isinstance(observed[name], dict):
            msg = f"observed composed resource {name} is unreadable; nothing is applied until it is"
            raise Fatal(msg)
    observed_cluster = clusters.read_observed(observed.get(CLUSTER), inp)
    if CLUSTER in observed and observed_cluster is None:
        msg = "the observed Cluster has no readable metadata.name and namespace; nothing is applied until it has"
        raise Fatal(msg)

    decision = Decision()
    ctx = _Context(
        inp=inp,
        req=req,
        fetched=fetched,
        observed=observed,
        cluster=observed_cluster,
        cls=clusterclass.read(inp, fetched, req.class_name, req.class_namespace),
        decision=decision,
    )
    ctx.require(clusterclass.REQUIREMENT, clusterclass.selector(inp, req.class_name, req.class_namespace))

    cp = _control_plane(ctx)
    ing = _ingress(ctx)
    _compose_claims(ctx, cp, ing)
    cp = _compose_cluster(ctx, cp, ing)

    decision.conditions = [cp.condition, ing.condition]
    decision.status = {k: v for k, v in (("controlPlane", cp.vip), ("ingress", ing.vip)) if v}
    settled = cp.condition.status and ing.condition.status and CLUSTER in decision.composed
    decision.ttl = parse_duration(inp.ttl.converged if settled else inp.ttl.waiting)
    _guard(observed, decision)
    return decision


def _observed_claim(ctx: _Context, role_key: str) -> claims.Claim | None:
    raw = ctx.observed.get(CLAIM_RESOURCE[role_key])
    claim = claims.read_observed(raw)
    if raw is not None and claim is None:
        msg = (
            f"the observed {role_key} IPAddressClaim ({CLAIM_RESOURCE[role_key]}) has no readable "
            "metadata.name, namespace or spec.poolRef; nothing is applied until it has"
        )
        raise Fatal(msg)
    return claim


def _address(ctx: _Context, role_key: str, claim: claims.Claim | None) -> claims.Address | None:
    if claim is None or not claim.bound:
        return None
    requirement = f"address/{role_key}"
    ctx.require(requirement, claims.address_selector(ctx.inp, claim))
    return claims.read_address(ctx.inp, ctx.fetched, requirement, claim)


def _mismatch(ctx: _Context, what: str, live: str, claim: claims.Claim, address: claims.Address | None) -> None:
    """Warn when the claim's address differs from the VIP a live Cluster uses; keep the live one."""
    if address is None or address.value is None or address.value == live:
        return
    ctx.warn(
        Reason.ADDRESS_MISMATCH,
        f"{ctx.cluster.label} uses {what} {live}, but {claim.label} is bound to {address.value}. "
        f"The VIP of a live cluster never changes, so {live} stays. Make sure {live} stays reserved in "
        f"{claim.pool_ref.label} (for example in spec.excludedAddresses) so no other cluster receives it; "
        f"{address.value} is held by the claim until the XR is deleted.",
    )


def _control_plane(ctx: _Context) -> RoleState:
    role = ctx.inp.roles.control_plane
    claim = _observed_claim(ctx, CONTROL_PLANE)
    address = _address(ctx, CONTROL_PLANE, claim)
    live = ctx.cluster.host if ctx.cluster else None
    if live:
        if ctx.req.manual_host and ctx.req.manual_host != live:
            ctx.warn(
                Reason.CONFLICT,
                f"XR {ctx.req.xr_name} sets {ctx.inp.xr.cluster_spec_path}.controlPlaneEndpoint.host="
                f"{ctx.req.manual_host}, but {ctx.cluster.label} already serves on {live}. The endpoint of a "
                f"live cluster never changes; set the host back to {live} or remove it.",
            )
        # A live IP endpoint without a claim and without a manual host lost its claim:
        # claim again. A DNS name was always manual.
        reclaim = not ctx.req.manual_host and addresses.parse_ip(live) is not None
        return _live(ctx, CONTROL_PLANE, role, CONTROL_PLANE_READY, live, claim, address, reclaim=reclaim)
    if ctx.req.manual_host:
        if claim is not None:
            _release(ctx, CONTROL_PLANE, claim, f"XR sets controlPlaneEndpoint.host {ctx.req.manual_host}")
        return RoleState(
            vip=ctx.req.manual_host,
            source="manual",
            condition=Condition(
                CONTROL_PLANE_READY,
                True,
                Reason.MANUAL,
                f"control-plane endpoint {ctx.req.manual_host} set on the XR; no VIP is claimed",
            ),
        )
    return _allocate(ctx, CONTROL_PLANE, role, CONTROL_PLANE_READY, claim, address, required=True)


def _live(
    ctx: _Context,
    role_key: str,
    role: Role,
    cond_type: str,
    live: str,
    claim: claims.Claim | None,
    address: claims.Address | None,
    *,
    reclaim: bool,
) -> RoleState:
    """A VIP that a live Cluster already uses: it stays, and so does its claim.

    A claim that is gone (deleted by hand) is made again, so the pool keeps counting
    an address for this cluster; the warning says what to check.
    """
    what = f"{role.label_value} VIP"
    if claim is not None:
        _mismatch(ctx, what, live, claim, address)
    elif reclaim:
        state = _allocate(ctx, role_key, role, cond_type, None, None, required=True)
        if state.claim is not None:
            ctx.warn(
                Reason.CLAIM_MISSING,
                f"{ctx.cluster.label} uses {what} {live}, but no IPAddressClaim reserves it (deleted by hand?). "
                f"{state.claim.label} is made again from {state.claim.pool_ref.label}; if IPAM binds it to another "
                f"address, {live} is free in the pool and may be given to another cluster: reserve it there "
                "(spec.excludedAddresses).",
            )
        claim = state.claim
    reason = Reason.ALLOCATED if claim is not None else Reason.MANUAL
    return RoleState(
        vip=live, claim=claim, condition=Condition(cond_type, True, reason, f"{what} {live} on {ctx.cluster.label}")
    )


def _ingress(ctx: _Context) -> RoleState:
    role = ctx.inp.roles.ingress
    claim = _observed_claim(ctx, INGRESS)
    address = _address(ctx, INGRESS, claim)
    live = ctx.cluster.ingress_annotation if ctx.cluster else None
    annotation = ctx.inp.annotations
    if ctx.req.ingress_disabled:
        if ctx.req.manual_ingress:
            ctx.warn(
                Reason.CONFLICT,
                f"XR {ctx.req.xr_name} has both {annotation.ingress_enabled}=\"false\" and "
                f"{annotation.ingress_vip}={ctx.req.manual_ingress}; the ingress VIP stays off. Remove one.",
            )
        if claim is not None:
            _release(ctx, INGRESS, claim, f"XR annotated {annotation.ingress_enabled}=\"false\"")
        return RoleState(
            vip=None,
            condition=Condition(
                INGRESS_READY, True, Reason.DISABLED, f"ingress VIP turned off by XR annotation {annotation.ingress_enabled}"
            ),
        )
    if ctx.req.manual_ingress:
        if claim is not None:
            _release(ctx, INGRESS, claim, f"XR sets {annotation.ingress_vip}={ctx.req.manual_ingress}")
        return RoleState(
            vip=ctx.req.manual_ingress,
            source="manual",
            condition=Condition(
                INGRESS_READY, True, Reason.MANUAL, f"ingress VIP {ctx.req.manual_ingress} set by XR annotation"
            ),
        )
    cls = ctx.cls
    if not cls.found or not cls.defines(role.variable):
        return _ingress_without_variable(ctx, role, claim, address, live if claim is not None else None)
    if live:
        return _live(ctx, INGRESS, role, INGRESS_READY, live, claim, address, reclaim=True)
    return _allocate(ctx, INGRESS, role, INGRESS_READY, claim, address, required=False)


def _ingress_without_variable(
    ctx: _Context, role: Role, claim: claims.Claim | None, address: claims.Address | None, live: str | None
) -> RoleState:
    """Ingress while the ClusterClass is unknown or does not define the ingress variable.

    Nothing allocated is given up here: a class that cannot be read, or that lost the
    variable, keeps an existing claim and VIP. Only the XR annotation releases them.
    """
    cls = ctx.cls
    vip = live or (address.value if address else None)
    if claim is None:
        # Pools are fetched anyway, so requirements do not change once the class is read.
        _pool_choice(ctx, INGRESS, role)
    if not cls.found:
        reason = Reason.CLUSTER_CLASS_NOT_FOUND if cls.resolved else Reason.WAITING_FOR_CLUSTER_CLASS
        message = (
            f"{cls.label} not found; whether an ingress VIP is wanted depends on its {role.variable} variable"
            if cls.resolved
            else f"waiting for Crossplane to fetch {cls.label}"
        )
        return RoleState(vip=vip, claim=claim, blocks=True, condition=Condition(INGRESS_READY, False, reason, message))
    if claim is None:
        return RoleState(
            vip=None,
            condition=Condition(
                INGRESS_READY,
                True,
                Reason.DISABLED,
                f"{cls.label} defines no variable {role.variable}; no ingress VIP is allocated",
            ),
        )
    message = clusterclass.missing_variable_message(cls, role.variable, f"the ingress VIP {vip or ''}".rstrip()) + (
        f". {claim.label} is kept; to release it annotate the XR {ctx.inp.annotations.ingress_enabled}=\"false\""
    )
    ctx.warn(Reason.CLUSTER_CLASS_MISSING_VARIABLE, message)
    return RoleState(
        vip=vip,
        claim=claim,
        condition=Condition(INGRESS_READY, False, Reason.CLUSTER_CLASS_MISSING_VARIABLE, message),
    )


def _pool_choice(ctx: _Context, role_key: str, role: Role) -> pools.Choice:
    req = ctx.req
    for name, selector in pools.requirements(ctx.inp, role.label_value, req.class_name, req.namespace).items():
        ctx.require(name, selector)
    return pools.choose(ctx.inp, ctx.fetched, role.label_value, req.class_name, req.namespace)


def _no_pool_message(ctx: _Context, role: Role, choice: pools.Choice) -> tuple[Reason, str]:
    req, labels = ctx.req, ctx.inp.labels
    if choice.candidates:
        listed = ", ".join(f"{p.label} (free {p.free}, total {p.total})" for p in choice.candidates)
        return Reason.POOL_EXHAUSTED, (
            f"every pool for ClusterClass {req.class_name} and role {role.label_value} is exhausted: {listed}. "
            "Add addresses to one of them, or label another pool for this class and role."
        )
    kinds = " or ".join(
        f"{k.kind}{' in namespace ' + req.namespace if k.namespaced else ''}" for k in ctx.inp.ipam.pool_kinds
    )
    return Reason.POOL_NOT_FOUND, (
        f"no pool for ClusterClass {req.class_name} and role {role.label_value}: label a pool ({kinds}) with "
        f"{labels.cluster_class}={req.class_name} and {labels.role}={role.label_value} "
        f"(or {labels.cluster_class}=\"true\" and an annotation {labels.cluster_class} listing {req.class_name})"
    )


def _allocate(
    ctx: _Context,
    role_key: str,
    role: Role,
    cond_type: str,
    claim: claims.Claim | None,
    address: claims.Address | None,
    *,
    required: bool,
) -> RoleState:
    """Claim a VIP from a pool and wait for IPAM to bind it.

    ``required``: the Cluster cannot exist without this VIP (control plane). A missing
    or exhausted pool for an optional VIP (ingress) never holds the Cluster back.
    """
    if claim is None:
        choice = _pool_choice(ctx, role_key, role)
        if not choice.resolved:
            return RoleState(
                vip=None,
                blocks=True,
                condition=Condition(
                    cond_type, False, Reason.WAITING_FOR_ADDRESS, f"waiting for Crossplane to fetch {role.label_value} pools"
                ),
            )
        if choice.pool is None:
            reason, message = _no_pool_message(ctx, role, choice)
            if not required:
                message += f"; the Cluster is composed without it, and it is added once a pool has room"
            ctx.warn(reason, message)
            return RoleState(vip=None, blocks=required, condition=Condition(cond_type, False, reason, message))
        claim = claims.new(role, ctx.req.name, ctx.req.namespace, choice.pool)
        return RoleState(
            vip=None,
            claim=claim,
            blocks=True,
            condition=Condition(
                cond_type,
                False,
                Reason.WAITING_FOR_ADDRESS,
                f"claiming the {role.label_value} VIP from {choice.pool.label} with {claim.label}",
            ),
        )
    if not claim.bound:
        message = f"{claim.label} waits for {claim.pool_ref.label} to allocate an address"
        if claim.pool_ref.api_group != pools.API_GROUP:
            message += (
                f"; its spec.poolRef.apiGroup is {claim.pool_ref.api_group!r}, but the in-cluster IPAM provider "
                f"only serves {pools.API_GROUP!r}: delete the claim so it is recreated"
            )
            ctx.warn(Reason.WAITING_FOR_ADDRESS, message)
        return RoleState(
            vip=None, claim=claim, blocks=True, condition=Condition(cond_type, False, Reason.WAITING_FOR_ADDRESS, message)
        )
    if address is not None and address.problem:
        ctx.warn(Reason.INVALID_ADDRESS, address.problem)
        return RoleState(
            vip=None,
            claim=claim,
            blocks=True,
            condition=Condition(cond_type, False, Reason.INVALID_ADDRESS, address.problem),
        )
    if address is None or address.value is None:
        where = f"IPAddress {claim.namespace}/{claim.address_name}"
        message = (
            f"{claim.label} is bound to {where}, which Crossplane has not fetched"
            if address is None or not address.resolved
            else f"{claim.label} is bound to {where}, which does not exist (yet)"
        )
        return RoleState(
            vip=None, claim=claim, blocks=True, condition=Condition(cond_type, False, Reason.WAITING_FOR_ADDRESS, message)
        )
    return RoleState(
        vip=address.value,
        claim=claim,
        source=f"from {claim.pool_ref.label}",
        condition=Condition(cond_type, True, Reason.ALLOCATED, f"{role.label_value} VIP {address.value} from {claim.label}"),
    )


def _release(ctx: _Context, role_key: str, claim: claims.Claim, why: str) -> None:
    ctx.decision.released.add(CLAIM_RESOURCE[role_key])
    ctx.tell(Reason.RELEASED, f"{role_key} VIP of {claim.label} released: {why}")


def _compose_claims(ctx: _Context, cp: RoleState, ing: RoleState) -> None:
    for role_key, role, state in ((CONTROL_PLANE, ctx.inp.roles.control_plane, cp), (INGRESS, ctx.inp.roles.ingress, ing)):
        if state.claim is not None:
            ctx.decision.composed[CLAIM_RESOURCE[role_key]] = Composed(
                resource=claims.render(ctx.inp, role, state.claim), ready=state.claim.bound
            )


def _compose_cluster(ctx: _Context, cp: RoleState, ing: RoleState) -> RoleState:
    """Compose the Cluster, or hold it back; returns the control-plane state as finally reported."""
    inp, req, obs, cls = ctx.inp, ctx.req, ctx.cluster, ctx.cls
    cp_var, ing_var = inp.roles.control_plane.variable, inp.roles.ingress.variable
    if obs is None:
        if cp.vip is None:
            return cp
        if not cls.found:
            reason = Reason.CLUSTER_CLASS_NOT_FOUND if cls.resolved else Reason.WAITING_FOR_CLUSTER_CLASS
            message = (
                f"{cls.label} not found; the Cluster is held back until it exists. Check "
                f"{inp.xr.cluster_spec_path}.topology of XR {req.xr_name}"
                if cls.resolved
                else f"waiting for Crossplane to fetch {cls.label}; the Cluster is held back until it is read"
            )
            if cls.resolved:
                ctx.warn(reason, message)
            return dataclasses.replace(cp, condition=Condition(CONTROL_PLANE_READY, False, reason, message))
        if ing.blocks:
            return cp

    # Which VIP variables to set: what the class defines; while the class cannot be
    # read, what the live Cluster already carries (dropping one would unset it).
    def wanted(var: str) -> bool:
        return cls.defines(var) if cls.found else (obs is not None and var in obs.variables)

    variables: dict[str, str] = {}
    if cp.vip is not None and wanted(cp_var):
        variables[cp_var] = cp.vip
    if ing.vip is not None and wanted(ing_var):
        variables[ing_var] = ing.vip
    if cls.found and not cls.defines(cp_var) and cp.vip is not None:
        message = clusterclass.missing_variable_message(cls, cp_var, f"the control-plane VIP {cp.vip}")
        ctx.warn(Reason.CLUSTER_CLASS_MISSING_VARIABLE, message)
        cp = dataclasses.replace(
            cp, condition=Condition(CONTROL_PLANE_READY, False, Reason.CLUSTER_CLASS_MISSING_VARIABLE, message)
        )

    live_endpoint = obs is not None and obs.host is not None
    port = obs.port if live_endpoint and obs.port else (req.port or inp.cluster.default_port)
    name, namespace = (obs.name, obs.namespace) if obs else (req.name, req.namespace)
    resource = clusters.render(
        inp,
        name=name,
        namespace=namespace,
        spec=req.spec,
        host=cp.vip,
        port=port,
        variables=variables,
        ingress_vip=ing.vip,
    )
    ctx.decision.composed[CLUSTER] = Composed(resource=resource, ready=obs is not None and obs.ready)
    label = f"Cluster {namespace}/{name}"
    if cp.vip is not None and not live_endpoint:
        source = f" ({cp.source})" if cp.source else ""
        ctx.tell(Reason.ASSIGNED, f"control-plane VIP {cp.vip}{source} assigned to {label}")
    if ing.vip is not None and (obs is None or obs.ingress_annotation != ing.vip):
        source = f" ({ing.source})" if ing.source else ""
        ctx.tell(Reason.ASSIGNED, f"ingress VIP {ing.vip}{source} assigned to {label}")
    released = CLAIM_RESOURCE[INGRESS] in ctx.decision.released
    if ing.vip is None and obs is not None and obs.ingress_annotation is not None and not released:
        ctx.tell(Reason.RELEASED, f"ingress VIP {obs.ingress_annotation} removed from {label}")
    return cp


def _guard(observed: dict[str, dict], decision: Decision) -> None:
    """Last line of defence: never answer with an observed resource silently dropped."""
    for name in OURS:
        if name in observed and name not in decision.composed and name not in decision.released:
            msg = (
                f"refusing to drop observed composed resource {name}: this is a bug in function-capi-vip; "
                "nothing is applied (please report it with the XR)"
            )
            raise Fatal(msg)
