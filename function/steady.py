"""The steady state: a converged Cluster already shows what a fetch would tell.

Every reconcile that names required resources costs two calls: the first names
the ClusterClass and the bound IPAddresses, Crossplane fetches them and calls
again. At 10,000 clusters that doubles the function's load for nothing once a
cluster has converged, because the live Cluster already carries the answers:

- **The addresses.** A claim made before the Cluster is the claim whose address the
  Cluster was composed with (a Cluster is composed only once its claims are bound and
  their IPAddresses read), and that address cannot have changed since: CAPI's
  IPAddress spec is immutable, and the provider keeps the IPAddress while its claim
  exists. A claim made after the Cluster (made again after a hand deletion, or an
  ingress VIP added later) may hold another address than the one the Cluster shows,
  so its IPAddress is always fetched.
- **The ClusterClass.** It defined the VIP variables the Cluster carries when they
  were set. Should it stop defining one, CAPI cannot apply the topology and sets
  the Cluster's TopologyReconciled condition False; that status change re-runs
  the XR at once, and the fetch happens again.

So when the observed Cluster is reconciled by CAPI, uses the XR's ClusterClass and
carries every VIP variable (the ingress one unless the XR turns ingress off), the
decision is made from what it shows. If that decision is converged and has
nothing to tell, the response asks for nothing and the reconcile takes one call.
In any other case, including a ClusterClass that lacks a VIP variable (it may gain
it), the fetch happens as always. Nothing composed differs between the two paths.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING

from function import clusterclass
from function.claims import Claim
from function.clusterclass import ClassState
from function.cluster import ObservedCluster
from function.requirements import Fetched
from function.xr import ClusterRequest

if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Input


@dataclasses.dataclass(frozen=True)
class Recollection:
    """What the live Cluster says in place of the fetched ClusterClass and IPAddresses."""

    cls: ClassState
    addresses: dict[str, str]  # role key (decide.CONTROL_PLANE, decide.INGRESS) -> the VIP the Cluster uses


def recall(
    inp: Input,
    req: ClusterRequest,
    cluster: ObservedCluster | None,
    fetched: Fetched,
    control_plane: tuple[str, Claim | None],
    ingress: tuple[str, Claim | None],
) -> Recollection | None:
    """A Recollection, when this call fetched nothing and the live Cluster can stand in; else None.

    ``control_plane``, ``ingress``: each role's key and observed claim. An address is
    recalled only for a claim made no later than the Cluster.
    """
    if fetched.resolved(clusterclass.REQUIREMENT) or cluster is None or not cluster.topology_reconciled:
        return None
    if cluster.class_ref != (req.class_name, req.class_namespace):
        return None  # the XR names another class: its variables must be read
    cp_var, ing_var = inp.roles.control_plane.variable, inp.roles.ingress.variable
    if cluster.host is None or cluster.variables.get(cp_var) != cluster.host:
        return None
    ingress_vip = cluster.variables.get(ing_var)
    if ingress_vip is None and not req.ingress_disabled:
        return None  # the class may have gained the ingress variable since
    if ingress_vip is not None and ingress_vip != cluster.ingress_annotation:
        return None
    (cp_key, cp_claim), (ing_key, ing_claim) = control_plane, ingress
    found = ClassState(
        name=req.class_name,
        namespace=req.class_namespace,
        resolved=True,
        found=True,
        variables=frozenset(v for v in (cp_var, ing_var) if v in cluster.variables),
    )
    addresses = {}
    if _predates(cp_claim, cluster):
        addresses[cp_key] = cluster.host
    if cluster.ingress_annotation is not None and _predates(ing_claim, cluster):
        addresses[ing_key] = cluster.ingress_annotation
    return Recollection(cls=found, addresses=addresses)


def _predates(claim: Claim | None, cluster: ObservedCluster) -> bool:
    """Whether the claim was made no later than the Cluster (to the second, as Kubernetes records it)."""
    if claim is None:
        return False
    made, composed = _time(claim.created), _time(cluster.created)
    return made is not None and composed is not None and made <= composed


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None
