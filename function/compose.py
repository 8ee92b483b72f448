"""What is composed from the slots' outcomes: the Cluster (only once its endpoint is known and its class read),
every slot's claim and Usage (one loop, lifecycle.py), and the DNSEndpoint (Input dns), which holds a released
claim until external-dns no longer publishes its address."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from function import (
    addresses,
    claims,
    cluster as clusters,
    clusterclass,
    dns as dnss,
    lifecycle,
    messages,
    pools,
    service_lb,
    usages,
)
from function.conditions import CONTROL_PLANE_READY, Condition, Reason
from function.lifecycle import COMPOSED, ClaimAction
from function.xr import Fatal
from function.context import (
    CLAIM_RESOURCE,
    CLUSTER,
    CONTROL_PLANE,
    Composed,
    Context,
    DNS,
    DNS_STATUS_KEYS,
    INGRESS,
    RoleState,
    SECONDARY,
    SERVICE_LB,
    address_of,
    claim_rn,
    is_known,
    kept_variables,
    secondary_role,
    usage_rn,
)

if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Role


# --- composing -------------------------------------------------------------------------


def compose_claim(ctx: Context, role_key: str, role: Role, state: RoleState, cluster: dict | None) -> None:
    """The claim, and its Usage by the Cluster where Usages are on, as its action says (lifecycle.py)."""
    claim_name, usage_name = claim_rn(role_key), usage_rn(role_key)
    written = lifecycle.compose(
        state.action, state.claim, claims.render(ctx.inp, role, state.claim) if state.action in COMPOSED else None,
        claim_name=claim_name, usage_name=usage_name, observed_usage=ctx.observed.get(usage_name),
        claim_api_version=ctx.inp.ipam.claim_api_version, cluster=cluster, use_usages=ctx.use_usages)
    for name, (resource, ready) in written.composed.items():
        ctx.decision.composed[name] = Composed(resource=resource, ready=ready)
    ctx.decision.released.update(written.released)


def compose_cluster(
    ctx: Context, cp: RoleState, ing: RoleState, lb: service_lb.ServiceLb, second: dict[str, RoleState]
) -> tuple[RoleState, dict | None]:
    """Compose the Cluster, or hold it back; returns the control-plane state as finally reported."""
    inp, req, obs, cls = ctx.inp, ctx.req, ctx.cluster, ctx.cls
    cp_var, ing_var = inp.roles.control_plane.variable, inp.roles.ingress.variable
    if obs is None:
        if cp.vip is None and cp.unlisted is None:
            return cp, None  # (an unlisted one is checked once nothing else holds the Cluster back: decide._without_unwanted_lists)
        if CLUSTER in ctx.looking_up or ctx.cluster_going:
            message = (
                f"{ctx.cluster_going} exists and is being deleted; the Cluster is composed anew once it is gone"
                if ctx.cluster_going
                else f"waiting for Crossplane to tell whether Cluster {req.namespace}/{req.name} exists already; "
                "the Cluster is held back until it does"
            )
            return dataclasses.replace(cp, condition=Condition(CONTROL_PLANE_READY, False, Reason.WAITING_FOR_CLUSTER, message)), None
        if not cls.found:
            reason, message = messages.class_unread(  # an unreadable class is warned about in decide._gates
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
        # A live value stays as written where it is the same address ("FD01::10" is fd01::10): a rewritten variable
        # would have CAPI render anew every template that reads it.
        kept = obs.variables.get(ing_var) if obs is not None else None
        same = isinstance(kept, str) and (addresses.parse_ip(kept) or kept) == (addresses.parse_ip(ing.vip) or ing.vip)
        variables[ing_var] = kept if same else ing.vip
    for key, state in second.items():
        var = secondary_role(ctx, key).variable
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
    as_found = kept_variables(ctx)
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
        managed=frozenset(secondary_role(ctx, key).variable for key in second
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
    if ing.vip is not None and (obs is None or obs.ingress != ing.vip):
        origin = f" ({ing.origin})" if ing.origin else ""
        ctx.tell(Reason.ASSIGNED, f"ingress VIP {ing.vip}{origin} assigned to {label}", INGRESS)
    for key, state in second.items():
        var = secondary_role(ctx, key).variable
        if variables.get(var) and (obs is None or obs.variables.get(var) != variables[var]):
            ctx.tell(Reason.ASSIGNED, f"secondary {key} VIP {variables[var]} assigned to {label}", SECONDARY[key])
    if ing.vip is None and obs is not None and obs.ingress is not None and ing.action is not ClaimAction.RELEASING:
        if CLAIM_RESOURCE[INGRESS] not in ctx.decision.released:
            ctx.tell(Reason.RELEASED, f"ingress VIP {obs.ingress} removed from {label}", INGRESS)
    return cp, resource


def _dns_records(
    ctx: Context, name: str, namespace: str, host: str | None, ingress_vip: str | None,
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


def _dns_variable(ctx: Context, obs: clusters.ObservedCluster | None, variables: dict[str, str], wanted) -> None:
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


def compose_dns(ctx: Context, cluster: dict | None, cp: RoleState, ing: RoleState, second: dict[str, RoleState]) -> None:
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
        if _released_now(ctx) or _usage_steps_now(ctx):
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


def _usage_steps_now(ctx: Context) -> list[tuple[str, claims.Claim, str | None]]:
    """The Usages this response detaches or removes while their claim, bound, stays composed (a release's steps
    before the claim's): (role, claim, its address or None while it is not known)."""
    out = []
    for key in (CONTROL_PLANE, INGRESS, *SECONDARY.values()):
        claim, observed = ctx.claims.get(key), usages.read_observed(ctx.observed.get(usage_rn(key)))
        if claim is None or not claim.bound or claim_rn(key) not in ctx.decision.composed or observed is None:
            continue
        desired = ctx.decision.composed.get(usage_rn(key))
        detached = observed.attached and desired is not None and "by" not in desired.resource.get("spec", {})
        if detached or usage_rn(key) in ctx.decision.released:
            address = address_of(ctx, key, claim)
            out.append((key, claim, address.value if is_known(address) else None))
    return out


def _by(usage: dict) -> dict | None:
    """The object a Usage is by, as usages.render takes it (None: detached)."""
    by = (usage.get("spec") or {}).get("by")
    ref = by.get("resourceRef") if isinstance(by, dict) else None
    if (not isinstance(by, dict) or by.get("kind") != "Cluster" or not isinstance(by.get("apiVersion"), str)
            or not isinstance(ref, dict) or not isinstance(ref.get("name"), str)):
        return None  # not a Usage by a Cluster named as the function writes it (edited by hand): held detached
    return {"apiVersion": by["apiVersion"], "metadata": {"name": ref["name"]}}


def _released_now(ctx: Context) -> list[tuple[str, claims.Claim, str | None]]:
    """The bound claims this response releases: (role, claim, its address or None while it is not known)."""
    out = []
    for key in (CONTROL_PLANE, INGRESS, *SECONDARY.values()):
        claim = ctx.claims.get(key)
        if claim_rn(key) in ctx.decision.released and claim is not None and claim.bound:
            address = address_of(ctx, key, claim)
            out.append((key, claim, address.value if is_known(address) else None))
    return out


def _keep_dns(ctx: Context, observed: dnss.ObservedEndpoint, states: tuple[RoleState, ...]) -> None:
    """No Cluster to read the VIPs from (held back, or deleted by hand): the records of the VIPs the XR
    still holds stay as they are; a record of a VIP this response gives up goes with it."""
    if observed.endpoints is None:
        msg = (f"the observed DNSEndpoint {observed.namespace}/{observed.name} has a spec.endpoints that is not "
               "a list, and no Cluster is composed to make its records from; nothing is applied until it is")
        raise Fatal(msg)
    giving_up = {vip for _, _, vip in _released_now(ctx) if vip}
    kept_unread = any(
        (claim := ctx.claims.get(key)) is not None and claim.bound and claim_rn(key) not in ctx.decision.released
        and not is_known(address_of(ctx, key, claim))
        for key in (CONTROL_PLANE, INGRESS, *SECONDARY.values())
    )
    # A claim held bound and unplaced (RoleState.unlisted) holds its address, which is read: not an unknown one.
    held = {s.vip or s.unlisted for s in states if (s.vip or s.unlisted) and s.action is not ClaimAction.RELEASING}

    def stays(e: object) -> bool:
        targets = e.get("targets") if isinstance(e, dict) else None
        if not isinstance(targets, list) or not targets or set(targets) & giving_up:
            return False
        # An address not read yet may be any of them: nothing else about the records changes.
        return any(s.action is ClaimAction.HOLD and s.unlisted is None for s in states) or kept_unread or set(targets) <= held

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


def _hold_released_behind_records(ctx: Context, observed: dnss.ObservedEndpoint | None, endpoints: list,
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
    def still_named(vip: str | None) -> bool:
        if published is None:
            return True
        return (vip in published if vip else bool(published - wanted)) or not ready

    for key, claim, vip in _usage_steps_now(ctx):
        # A release's steps behind the Usage (detach it, then remove it) wait for the records as the claim does: a
        # deletion of the claim the Usage refused (by hand, say) is replayed by Crossplane the moment the Usage is
        # gone (replayDeletion), and a Usage being deleted by hand goes the moment it is detached.
        if still_named(vip):
            observed_usage = ctx.observed[usage_rn(key)]
            ctx.decision.released.discard(usage_rn(key))
            ctx.decision.composed[usage_rn(key)] = Composed(
                resource=usages.render(claim, ctx.inp.ipam.claim_api_version, _by(observed_usage)),
                ready=usages.read_observed(observed_usage).ready)
            ctx.dns_holding = True
    for key, claim, vip in _released_now(ctx):
        if not still_named(vip):
            continue
        ctx.decision.released.discard(claim_rn(key))
        role = {CONTROL_PLANE: ctx.inp.roles.control_plane, INGRESS: ctx.inp.roles.ingress}.get(key)
        role = role or secondary_role(ctx, CONTROL_PLANE if key == SECONDARY[CONTROL_PLANE] else INGRESS)
        ctx.decision.composed[claim_rn(key)] = Composed(resource=claims.render(ctx.inp, role, claim), ready=True)
        # The claim stays for now: the release announced a moment ago happens on a later reconcile.
        ctx.decision.results = [r for r in ctx.decision.results
                                if not (r.reason is Reason.RELEASED and r.role == key and claim.label in r.message)]
        ctx.dns_holding = True
        ctx.tell(Reason.RELEASED, f"releasing the {key} VIP {vip or ''} of {claim.label} once external-dns has read "
                 f"{label} without its record, so the name no longer resolves to an address IPAM may give to another "
                 "cluster".replace("VIP  of", "VIP of"), key)
