"""Today's decision, frozen: ``function/decide.py`` as of ORACLE_COMMIT, read from git, to answer beside the
decision that serves.

The decision is being rebuilt as one lifecycle for every address (issue 26). Until that is done, every
request must get the same answer from both, bug for bug: the differential tests
(tests/test_oracle_differential.py) and the simulator (``bench/differential.py --oracle``) compare them on
every call. A deliberate change of behaviour is told to the oracle as an edit of the frozen source
(DELIBERATE: what changes, the lines before, the lines after), each with a test of its own in the serving
tests, so that the oracle stands for the behaviour users have and any other difference is a defect. (Before
decide.py was split into steps, ORACLE_COMMIT moved with each change instead; the frozen decide.py is one file,
the serving decision is not, so the pin stays.)

The oracle is read from the repository's history, not copied into it: a clone without that commit
(a shallow one) cannot run these comparisons, and says so. It shares everything but decide.py with the
serving code (claims.py, messages.py, ...): those are the edges both decisions stand on, tested on their own.
"""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from google.protobuf import json_format

from function import fn

ORACLE_COMMIT = "04491ff"

# The deliberate changes since ORACLE_COMMIT, applied to the frozen source in order: (what changes, before, after).
DELIBERATE: tuple[tuple[str, str, str], ...] = (
    ("a release waits while the live Cluster still carries the claim's address, in the claim's own place too "
     "(tests/test_release_safety.py: a refused Cluster apply)",
     """            return dataclasses.replace(state, claim=claim, action=ClaimAction.KEEP)
    usage = usages.read_observed(ctx.observed.get(_usage_rn(role_key)))
""",
     """            return dataclasses.replace(state, claim=claim, action=ClaimAction.KEEP)
        elif not twin and (carried := ledger.carried(ctx.names, address.value)) is not None:
            step = messages.releasing_once_off(carried.where, address.value)
            ctx.tell(Reason.RELEASED, messages.releasing(role_key, claim.label, step, why), role_key)
            return dataclasses.replace(state, claim=claim, action=ClaimAction.HOLD)
    usage = usages.read_observed(ctx.observed.get(_usage_rn(role_key)))
"""),
    ("a live Cluster's service-lb address stays in its list when the claim's IPAddress says another, with "
     "AddressMismatch (tests/test_service_lb_rules.py)",
     """        known_at[index] = address.value
        listed.append(address.value)
        out.slots[index] = RoleState(vip=address.value, claim=claim, source=POOL, condition=_NO_CONDITION)
""",
     """        value = address.value
        was = addresses.entry_for(live, recorded.get(index))
        if was is not None and addresses.parse_ip(was) != addresses.parse_ip(value):
            ctx.warn(Reason.ADDRESS_MISMATCH, messages.lb_mismatch(ctx.cluster.label, was, claim.label, value, claim.pool_ref.label))
            value = was
        known_at[index] = value
        listed.append(value)
        out.slots[index] = RoleState(vip=value, claim=claim, source=POOL, condition=_NO_CONDITION)
"""),
    ("one move rule for every slot: a service-lb claim found existing, unbound on a pool that cannot serve it, is "
     "composed as it is first, as the control plane's and ingress's are (tests/test_service_lb_rules.py)",
     """    if target is None or _usage_rn(_lb_key(index)) in ctx.observed:
        return False
""",
     """    if target is None or _usage_rn(_lb_key(index)) in ctx.observed or _claim_rn(_lb_key(index)) not in ctx.observed:
        return False
"""),
    ("a claim being deleted holds a new Cluster back in every slot, ingress too, as a claim still binding does "
     "(tests/test_claim_rules.py)",
     """        return _claim_deleting(ctx, slot, claim, live, required=False)
""",
     """        return _claim_deleting(ctx, slot, claim, live, required=True)
"""),
    ("the control plane's secondary endpoint the XR set itself stays on a live Cluster when the XR no longer sets it, "
     "as the endpoint does (tests/test_pair_rules.py)",
     """    if live is not None and ctx.sources.get(skey) == MANUAL:
        # The XR's own secondary VIP was removed from it""",
     """    if (key == CONTROL_PLANE and live is not None and ctx.sources.get(skey) == MANUAL
            and (claim is None or not claim.bound or (_known(address) and not _explains(address, live)))):
        ctx.warn(Reason.CONFLICT, messages.own_secondary_endpoint_unset(
            req.xr_name, role.variable, ctx.cluster.label, live, f"{inp.xr.cluster_spec_path}.topology.variables"))
        state = RoleState(vip=live, source=MANUAL, condition=Condition(
            cond, True, Reason.MANUAL, messages.on_cluster(f"secondary {key}", live, ctx.cluster.label)))
        if claim is None:
            return state
        return _release(ctx, skey, claim, state, f"{ctx.cluster.label} serves on {live}, the XR's own secondary endpoint")
    if live is not None and ctx.sources.get(skey) == MANUAL:
        # The XR's own secondary VIP was removed from it"""),
    ("checkPools before a release for the control plane too: a manual endpoint it has not put in place keeps the pool "
     "claim of a Cluster not yet composed, as ingress's does (tests/test_manual_vip_rules.py)",
     """        return _release(ctx, CONTROL_PLANE, claim, state, f"XR sets {_host_field(ctx)} {manual}")
""",
     """        if (ctx.inp.manual_vips.check_pools and addresses.parse_ip(manual) is not None
                and _manual_problem(ctx, CONTROL_PLANE, manual) is not None):
            return dataclasses.replace(state, claim=claim, action=ClaimAction.KEEP)
        return _release(ctx, CONTROL_PLANE, claim, state, f"XR sets {_host_field(ctx)} {manual}")
"""),
    ("an address two service-lb claims explain is listed once (tests/test_service_lb_rules.py)",
     """    kept = {**{i: recorded[i] for i in held_unread if i in recorded}, **known_at}
""",
     """    out.addresses = addresses.once(out.addresses)
    kept = {**{i: recorded[i] for i in held_unread if i in recorded}, **known_at}
"""),
    ("a secondary claim that cannot bind says the Cluster is composed without the secondary VIP, not without the "
     "ingress VIP (tests/test_claim_rules.py)",
     """            elif not required:
                message += "; the Cluster is composed without the ingress VIP meanwhile"
""",
     """            elif not required:
                what = next((f"secondary {k}" for k, sk in SECONDARY.items() if sk == role_key), role_key)
                message += f"; the Cluster is composed without the {what} VIP meanwhile"
"""),
    ("a ClusterClass that loses clusterVip releases nothing: the control plane's claim behind the XR's own DNS endpoint "
     "stays, warned (tests/test_migration.py)",
     """    if own:
        if repeats_pool:
            _unreserved(ctx, slot, claim, address, live, where)
        state = RoleState(vip=live, source=MANUAL, origin="manual", condition=manual_condition)
""",
     """    if own:
        state = RoleState(vip=live, source=MANUAL, origin="manual", condition=manual_condition)
        variable = slot.role.variable
        if addresses.parse_ip(live) is None and not (ctx.cls.found and ctx.cls.defines(variable)):
            ctx.warn(Reason.CLUSTER_CLASS_MISSING_VARIABLE, messages.kept_for_lost_variable(
                claim.label, address.value, label, live, ctx.cls.label, variable, ctx.cls.found, claim.namespace, claim.name))
            return dataclasses.replace(state, claim=claim, action=ClaimAction.KEEP)
        if repeats_pool:
            _unreserved(ctx, slot, claim, address, live, where)
"""),
    ("the ledger names the ingress annotation's address as written, also where the live ingress VIP is ingressVip's "
     "(tests/test_named_addresses.py)",
     """    pair = c.ingress_pair or (c.ingress_annotation, None)
""",
     """    pair = c.ingress_pair or (c.ingress_annotated, None)
"""),
    ("a Fatal names a namespaced XR with its namespace (tests/test_xr.py)",
     """            msg = (f"XR {ctx.req.xr_name}: the claim name {claim.name!r} (from Input roles.*.secondaryClaimName "
""",
     """            msg = (f"{ctx.req.xr_label}: the claim name {claim.name!r} (from Input roles.*.secondaryClaimName "
"""),
    ("a Fatal names a namespaced XR with its namespace (tests/test_xr.py)",
     """                    msg = (f"XR {req.xr_name}: the service-lb claim name {name!r} (from Input roles.serviceLb.claimName "
""",
     """                    msg = (f"{req.xr_label}: the service-lb claim name {name!r} (from Input roles.serviceLb.claimName "
"""),
    ("a Fatal names a namespaced XR with its namespace (tests/test_xr.py)",
     """        msg = (f"XR {ctx.req.xr_name} sets {var} in {label} to {written!r}, which is not a list of IP addresses; "
""",
     """        msg = (f"{ctx.req.xr_label} sets {var} in {label} to {written!r}, which is not a list of IP addresses; "
"""),
    ("a live ingressVip stays as written where it is the ingress VIP's address in other text (tests/test_live_vips_kept.py)",
     """    if ing.vip is not None and wanted(ing_var):
        variables[ing_var] = ing.vip
""",
     """    if ing.vip is not None and wanted(ing_var):
        kept = obs.variables.get(ing_var) if obs is not None else None
        same = isinstance(kept, str) and (addresses.parse_ip(kept) or kept) == (addresses.parse_ip(ing.vip) or ing.vip)
        variables[ing_var] = kept if same else ing.vip
"""),
    ("the way out of a claim kept for a lost clusterVip: the XR's release-address annotation naming its address releases "
     "it, and the warning says so (tests/test_migration.py)",
     """            ctx.warn(Reason.CLUSTER_CLASS_MISSING_VARIABLE, messages.kept_for_lost_variable(
                claim.label, address.value, label, live, ctx.cls.label, variable, ctx.cls.found, claim.namespace, claim.name))
            return dataclasses.replace(state, claim=claim, action=ClaimAction.KEEP)
""",
     """            key = ctx.inp.annotations.release_address
            if ctx.cls.found and not ctx.cluster.deleting and ctx.req.release_address == addresses.parse_ip(address.value):
                why = f"XR {ctx.req.xr_name} is annotated {key}={address.value}, and {ctx.cls.label} defines no {variable}"
                return _release(ctx, CONTROL_PLANE, claim, state, why)
            ctx.warn(Reason.CLUSTER_CLASS_MISSING_VARIABLE, messages.kept_for_lost_variable(
                claim.label, address.value, label, live, ctx.cls.label, variable, ctx.cls.found, ctx.req.xr_label, key))
            return dataclasses.replace(state, claim=claim, action=ClaimAction.KEEP)
"""),
    ("an address the provider handed out twice goes onto no Cluster: before a bound address is first placed, its "
     "pool's IPAddresses are listed, and a claim whose address another holds is released and made again "
     "(function/double_allocation.py; tests/test_double_allocation.py)",
     """from function import ledger, lifecycle, messages
""",
     """from function import allocation, compose, double_allocation, ledger, lifecycle, messages, service_lb
"""),
    ("(the same: a twin's release does not wait for a Cluster carrying the address, which its twin keeps used)",
     """def _release(ctx: _Context, role_key: str, claim: claims.Claim, state: RoleState, why: str) -> RoleState:
""",
     """def _release(ctx: _Context, role_key: str, claim: claims.Claim, state: RoleState, why: str, *, twin: bool = False) -> RoleState:
"""),
    ("(the same: a service-lb claim above the count whose address a claim the XR keeps holds too goes at once, and the "
     "address stays listed as the kept one's)",
     """        giving_up.update(known)
        why = (f"{where} asks for {count} service load-balancer addresses; a LoadBalancer Service in the workload "
               "cluster that still has this address keeps answering on it until you move it")
        out.slots[index] = _release(ctx, key, claim, RoleState(vip=None, condition=_NO_CONDITION), why)
""",
     """        why = (f"{where} asks for {count} service load-balancer addresses; a LoadBalancer Service in the workload "
               "cluster that still has this address keeps answering on it until you move it")
        kept = {i: c for i, c in observed.items() if i < count}
        if known and service_lb._titled(ctx, kept, known[0], exclude=index) is not None:
            out.slots[index] = _release(ctx, key, claim, RoleState(vip=None, condition=_NO_CONDITION), why, twin=True)
            continue
        giving_up.update(known)
        out.slots[index] = _release(ctx, key, claim, RoleState(vip=None, condition=_NO_CONDITION), why)
"""),
    ("(the same, in the control plane's, ingress's and the secondaries' allocation)",
     """    return RoleState(
        vip=address.value,
        claim=claim,
        source=POOL,
""",
     """    held = allocation.held_elsewhere(ctx, role_key, claim, address.value)
    if held == double_allocation.UNLISTED:
        return RoleState(vip=None, claim=claim, action=ClaimAction.HOLD, blocks=True,
                         condition=Condition(cond_type, False, Reason.WAITING_FOR_ADDRESS, _waiting_message(claim)))
    if held != double_allocation.CLEAR:
        state = _release(ctx, role_key, claim, RoleState(vip=None, blocks=True, condition=allocation._NO_SLOT_CONDITION),
                         f"{held} holds {address.value} too", twin=True)
        released = state.action is not ClaimAction.KEEP
        message = messages.given_twice(claim.label, address.value, held, claim.pool_ref.label, released)
        if released:
            ctx.warn(Reason.CONFLICT, message)
        return dataclasses.replace(state, condition=Condition(cond_type, False, Reason.CONFLICT, message))
    return RoleState(
        vip=address.value,
        claim=claim,
        source=POOL,
"""),
    ("(the same, in service-lb's)",
     """        known_at[index] = value
        listed.append(value)
""",
     """        placed = service_lb._placed(ctx, observed, index, value, was, live)
        held = allocation.held_elsewhere(ctx, key, claim, value, placed=placed)
        if held == double_allocation.UNLISTED:
            out.slots[index] = RoleState(vip=None, claim=claim, action=ClaimAction.HOLD, condition=_NO_CONDITION)
            continue
        if held != double_allocation.CLEAR:
            why = f"{held} holds {value} too"
            out.slots[index] = _release(ctx, key, claim, RoleState(vip=None, condition=_NO_CONDITION), why, twin=True)
            if out.slots[index].action is not ClaimAction.KEEP:
                ctx.warn(Reason.CONFLICT, messages.given_twice(claim.label, value, held, claim.pool_ref.label))
            continue
        known_at[index] = value
        listed.append(value)
"""),
)
DELIBERATE += (
    ("a release's steps behind the Usage (detach, remove) wait for published records as the claim's deletion does: "
     "a Usage deleted by hand goes once detached, and Crossplane replays a refused deletion of the claim once the Usage "
     "is gone (tests/test_dns.py; the dns gate's seeds 32125 and 32380)",
     """    for key, claim, vip in _released_now(ctx):
        if published is None:
            named = True
""",
     """    for key, claim, vip in compose._usage_steps_now(ctx):
        if published is None or (vip in published if vip else bool(published - wanted)) or not ready:
            observed_usage = ctx.observed[_usage_rn(key)]
            ctx.decision.released.discard(_usage_rn(key))
            ctx.decision.composed[_usage_rn(key)] = Composed(
                resource=usages.render(claim, ctx.inp.ipam.claim_api_version, compose._by(observed_usage)),
                ready=usages.read_observed(observed_usage).ready)
            ctx.dns_holding = True
    for key, claim, vip in _released_now(ctx):
        if published is None:
            named = True
"""),
)
DELIBERATE += (
    ("(the same, with no DNSEndpoint observed: a Usage step waits for external-dns to read one composed now)",
     """    if observed is None and (cluster is None or not ctx.dns_records):
        if _released_now(ctx):
""",
     """    if observed is None and (cluster is None or not ctx.dns_records):
        if _released_now(ctx) or compose._usage_steps_now(ctx):
"""),
)
ROOT = Path(__file__).resolve().parents[1]
_MODULE = "function._oracle_decide"


class OracleMissing(RuntimeError):
    pass


def source() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "show", f"{ORACLE_COMMIT}:function/decide.py"],
                             capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise OracleMissing("git is not installed, so the frozen decision cannot be read") from e
    if out.returncode != 0:
        raise OracleMissing(f"commit {ORACLE_COMMIT} is not in this clone ({out.stderr.strip()}); "
                            "fetch the full history (git fetch --unshallow) to compare against the frozen decision")
    text = out.stdout
    for what, before, after in DELIBERATE:
        if text.count(before) != 1:
            raise AssertionError(f"the deliberate change ({what}) no longer applies to the frozen decision: "
                                 f"its lines are found {text.count(before)} times")
        text = text.replace(before, after)
    return text


def load() -> types.ModuleType:
    """The frozen decide.py as a module of its own (loaded once)."""
    if _MODULE in sys.modules:
        return sys.modules[_MODULE]
    module = types.ModuleType(_MODULE)
    module.__file__ = f"<function/decide.py at {ORACLE_COMMIT}>"
    sys.modules[_MODULE] = module  # dataclasses look their module up while the class is made
    try:
        exec(compile(source(), module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own file, from our own history
    except BaseException:
        del sys.modules[_MODULE]
        raise
    return module


def answer(req: fnv1.RunFunctionRequest, now: float) -> fnv1.RunFunctionResponse:
    """The frozen decision's answer: fn.run with the oracle in place of function/decide.py."""
    oracle, serving = load(), fn.core
    fn.core = oracle
    try:
        return fn.run(req, now=now)
    finally:
        fn.core = serving


def difference(serving: fnv1.RunFunctionResponse, frozen: fnv1.RunFunctionResponse) -> str | None:
    """Where two answers differ, or None: compared whole (desired state, requirements, conditions, results,
    TTL); told as the lines of the serving answer that differ from the frozen one's."""
    if serving.SerializeToString(deterministic=True) == frozen.SerializeToString(deterministic=True):
        return None
    a, b = (json.dumps(json_format.MessageToDict(r), indent=1, sort_keys=True).splitlines() for r in (serving, frozen))
    lines = [line for line in difflib.unified_diff(b, a, "frozen", "serving", n=2, lineterm="")][2:]
    return "\n".join(lines[:60]) + ("\n..." if len(lines) > 60 else "")


class Compared:
    """A transport that answers with the serving decision and records where the frozen one would answer
    otherwise: ``calls`` answered by both, ``differences`` found."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.calls = 0
        self.differences: list[str] = []

    def __call__(self, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        t = self.now()
        frozen = answer(req, t)
        rsp = fn.run(req, now=t)
        self.calls += 1
        found = difference(rsp, frozen)
        if found:
            name = req.observed.composite.resource["metadata"]["name"]
            self.differences.append(f"{name}: the serving answer differs from the frozen one's\n{found}")
        return rsp
