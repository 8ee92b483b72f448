"""What names an address, read from the request: the ledger's names (ledger.py: the values the XR sets itself and
the positions of the live Cluster), read once per call, and the values the XR sets for one slot's own place
(double_allocation.py's placement).

Both are read from the XR and the live Cluster alone, before anything is decided, so every slot gets the same answer.
"""

from __future__ import annotations

from function import addresses, cluster as clusters, ledger
from function.context import (
    CONTROL_PLANE,
    Context,
    INGRESS,
    SECONDARY,
    SERVICE_LB,
    host_field,
    written_variable,
)


def of(ctx: Context) -> list[ledger.Name]:
    """Every address a value of the XR's own, or a position of the live Cluster, names; read at the first ask."""
    if ctx.names is None:
        ctx.names = _read(ctx)
    return ctx.names


def set_for(ctx: Context, role_key: str) -> set[str]:
    """The addresses the XR sets itself for the slot's own place (a value it sets for another is no placement of this
    one): its endpoint host, its ingress-vip annotation (both of a pair), the secondary's variable, the service-lb list."""
    inp, req = ctx.inp, ctx.req
    if role_key == CONTROL_PLANE:
        values: object = req.manual_host
    elif role_key == INGRESS:
        values = req.manual_ingress.split(",") if req.manual_ingress else None
    elif role_key == SECONDARY[CONTROL_PLANE]:
        values = written_variable(ctx, clusters.secondary_variable(inp, inp.roles.control_plane))
    elif role_key == SECONDARY[INGRESS]:
        values = written_variable(ctx, clusters.secondary_variable(inp, inp.roles.ingress))
    else:
        values = written_variable(ctx, inp.roles.service_lb.variable)
    values = values if isinstance(values, list) else [values]
    return {ip for v in values if isinstance(v, str) and (ip := addresses.parse_ip(v.strip())) is not None}


def _read(ctx: Context) -> list[ledger.Name]:
    """Every address a value of the XR's own, or a position of the live Cluster, names (ledger.py)."""
    inp, req, xr, spec = ctx.inp, ctx.req, f"XR {ctx.req.xr_name}", ctx.inp.xr.cluster_spec_path
    variables = f"{spec}.topology.variables"
    cp, ing, lb = inp.roles.control_plane, inp.roles.ingress, inp.roles.service_lb
    cp2, ing2 = clusters.secondary_variable(inp, cp), clusters.secondary_variable(inp, ing)
    names = ledger.own([
        (req.manual_host, f"{host_field(ctx)} of {xr}"),
        (req.manual_ingress, f"the annotation {inp.annotations.ingress_vip} of {xr}"),
        # Read as the function applies them: the first entry of a variable written twice.
        *((written_variable(ctx, var), f"{var} in {variables} of {xr}") for var in (cp2, ing2, lb.variable)),
    ])
    c = ctx.cluster
    if c is None:
        return names
    pair = c.ingress_pair or (c.ingress_annotated, None)  # the annotation as written (the live VIP may be ingressVip's)
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
