"""Adoption: a claim or a Cluster of the name this function would compose, that exists already.

Moving from capi-vip-allocator, or from any tool that made these objects first, means
an XR's first reconcile finds its Cluster and claims in place, made by someone else and
not yet observed by Crossplane. Composing them afresh would fail or do harm:

- an IPAddressClaim's spec is immutable, so composing another poolRef than the one it
  has (the pool the rule would choose today) fails every apply, forever;
- the Cluster already serves on its endpoint, which must never change.

So while an XR has no Cluster observed, the function asks Crossplane for a claim of each
name it would make and for a Cluster of the XR's name. What exists is adopted as it is:
a claim keeps its poolRef and gives its address; a Cluster is the live Cluster, whose
endpoint and VIP variables stay. An object that another controller owns cannot be
composed (Crossplane and the API server refuse a second controller reference): that is
Fatal, with the command that releases it.

Only Crossplane v2.2 and later fetch a namespaced object by name. Older Crossplane would
have to list every claim and Cluster of the management cluster for every new XR (a
request larger than a function accepts, at scale), so there is no adoption there.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from function import claims
from function import cluster as clusters
from function.requirements import Fetched, Selector
from function.xr import ClusterRequest, Fatal

if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Input, Role

CLUSTER_REQUIREMENT = "existing/cluster"


def claim_requirement(role_key: str) -> str:
    return f"existing/{role_key}"


def cluster_selector(inp: Input, req: ClusterRequest) -> Selector:
    return Selector(api_version=inp.cluster.api_version, kind="Cluster", name=req.name, namespace=req.namespace)


def claim_selector(inp: Input, role: Role, req: ClusterRequest) -> Selector:
    return Selector(
        api_version=inp.ipam.claim_api_version,
        kind="IPAddressClaim",
        name=claims.name_for(role, req.name),
        namespace=req.namespace,
    )


@dataclasses.dataclass(frozen=True)
class Found:
    """What a lookup by name found."""

    resolved: bool  # Crossplane answered
    obj: dict | None = None


def lookup(fetched: Fetched, requirement: str, selector: Selector) -> Found:
    if not fetched.resolved(requirement):
        return Found(resolved=False)
    return Found(resolved=True, obj=fetched.find(requirement, selector))


def read_claim(found: Found, req: ClusterRequest, what: str) -> claims.Claim | None:
    """The existing claim, ready to be kept as it is; Fatal if it cannot be composed."""
    if found.obj is None:
        return None
    claim = claims.read_observed(found.obj)
    if claim is None:
        msg = (
            f"an IPAddressClaim for the {what} VIP of XR {req.xr_name} exists in namespace {req.namespace}, but has "
            "no readable metadata.name, namespace or spec.poolRef; nothing is applied until it has (or it is deleted)"
        )
        raise Fatal(msg)
    _check_controller(found.obj, claim.label, "ipaddressclaim", claim.namespace, claim.name, req)
    return claim


def read_cluster(found: Found, inp: Input, req: ClusterRequest) -> clusters.ObservedCluster | None:
    """The existing Cluster, to be treated as the live Cluster it is; Fatal if it cannot be composed."""
    if found.obj is None:
        return None
    cluster = clusters.read_observed(found.obj, inp)
    if cluster is None:
        return None  # found by name, so it has one: an unreadable answer is no Cluster to keep
    _check_controller(found.obj, cluster.label, "cluster", cluster.namespace, cluster.name, req)
    return cluster


def _check_controller(obj: dict, label: str, resource: str, namespace: str, name: str, req: ClusterRequest) -> None:
    meta = obj.get("metadata") or {}
    refs = meta.get("ownerReferences") if isinstance(meta, dict) else None
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, dict) or ref.get("controller") is not True:
            continue
        if req.xr_uid is not None and ref.get("uid") == req.xr_uid:
            return  # composed by this XR already
        owner = f"{ref.get('kind')} {ref.get('name')}"
        if req.xr_kind is not None and ref.get("kind") == req.xr_kind:
            raise Fatal(_other_xr(obj, label, owner, ref, req))
        msg = (
            f"{label} exists and is controlled by {owner} (its metadata.ownerReferences), so XR {req.xr_name} "
            "cannot compose it: Crossplane and the API server allow one controller. Nothing is applied. If "
            "capi-vip-allocator made it, stop the operator, then release it: "
            f"kubectl -n {namespace} patch {resource} {name} --type=json "
            "-p='[{\"op\": \"remove\", \"path\": \"/metadata/ownerReferences\"}]'"
        )
        raise Fatal(msg)


def _other_xr(obj: dict, label: str, owner: str, ref: dict, req: ClusterRequest) -> str:
    """An XR of this kind controls it: an earlier XR of this name, or another XR composing the same names."""
    going = isinstance(obj.get("metadata"), dict) and obj["metadata"].get("deletionTimestamp")
    state = "is being deleted" if going else "is not deleted yet (the garbage collector removes it)"
    if ref.get("name") == req.xr_name:
        # Deleted and made again under its name: the earlier XR's objects are still on their way out.
        return (
            f"{label} belongs to an earlier {owner} (uid {ref.get('uid')}), deleted before XR {req.xr_name} was made "
            f"again under its name, and {state}. Nothing is applied until it is gone; then XR {req.xr_name} "
            "composes it anew. If it stays, check its metadata.finalizers."
        )
    return (
        f"{label} is composed by {owner}, so XR {req.xr_name} cannot compose it: two XRs would share a Cluster "
        f"and its VIPs. Nothing is applied. Give XR {req.xr_name} another name, or delete one of the two."
    )
