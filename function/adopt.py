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
CLUSTER_RESOURCE = "cluster"  # the Cluster's composed-resource name
COMPOSITION_RESOURCE_NAME = "crossplane.io/composition-resource-name"  # Crossplane's name of a composed resource


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


def release_command(resource: str, namespace: str, name: str, composed: str) -> str:
    """The command that releases an object from its controller and names it as the XR composes it: Crossplane reads
    an adopted object's composition-resource-name annotation from its cache, which may not have seen its own apply
    yet (a Warning `cannot get existing composed resources` otherwise, once)."""
    patch = '{"metadata":{"ownerReferences":null,"annotations":{"' + COMPOSITION_RESOURCE_NAME + '":"' + composed + '"}}}'
    return f"kubectl -n {namespace} patch {resource} {name} --type=merge -p '{patch}'"


def read_claim(found: Found, req: ClusterRequest, what: str, composed: str) -> claims.Claim | None:
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
    _check_controller(found.obj, claim.label, "ipaddressclaim", claim.namespace, claim.name, req, composed)
    return claim


def read_cluster(found: Found, inp: Input, req: ClusterRequest) -> clusters.ObservedCluster | None:
    """The existing Cluster, to be treated as the live Cluster it is; Fatal if it cannot be composed."""
    if found.obj is None:
        return None
    cluster = clusters.read_observed(found.obj, inp)
    if cluster is None:
        return None  # found by name, so it has one: an unreadable answer is no Cluster to keep
    _check_controller(found.obj, cluster.label, "cluster", cluster.namespace, cluster.name, req, CLUSTER_RESOURCE)
    return cluster


def _check_controller(obj: dict, label: str, resource: str, namespace: str, name: str, req: ClusterRequest,
                      composed: str) -> None:
    meta = obj.get("metadata") or {}
    going = isinstance(meta, dict) and bool(meta.get("deletionTimestamp"))
    refs = meta.get("ownerReferences") if isinstance(meta, dict) else None
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, dict) or ref.get("controller") is not True:
            continue
        if going and (resource == "ipaddressclaim" or _same_kind(ref, req)):
            # On its way out: never composed over, waited for (decide.py). A Cluster another
            # controller is deleting may be made again by it, so that stays Fatal: no claims are
            # made for a Cluster this XR may never compose.
            return
        if req.xr_uid is not None and ref.get("uid") == req.xr_uid:
            return  # composed by this XR already
        owner = f"{ref.get('kind')} {ref.get('name')}"
        if _same_kind(ref, req) and req.xr_uid is not None:
            raise Fatal(_other_xr(label, owner, ref, req))
        msg = (
            f"{label} exists and is controlled by {owner} (its metadata.ownerReferences), so XR {req.xr_name} "
            "cannot compose it: Crossplane and the API server allow one controller. Nothing is applied. If "
            "capi-vip-allocator made it, stop the operator (scale its Deployment to zero), then release it: "
            + release_command(resource, namespace, name, composed)
        )
        raise Fatal(msg)


def _group(api_version: object) -> str | None:
    return api_version.rpartition("/")[0] if isinstance(api_version, str) else None


def _same_kind(ref: dict, req: ClusterRequest) -> bool:
    """Whether the controller is an XR of this XR's kind and API group."""
    return req.xr_kind is not None and ref.get("kind") == req.xr_kind and _group(ref.get("apiVersion")) == _group(req.xr_api_version)


def _other_xr(label: str, owner: str, ref: dict, req: ClusterRequest) -> str:
    """An XR of this kind controls it, not being deleted: an earlier XR of this name, or another XR."""
    if ref.get("name") == req.xr_name:
        # Deleted and made again under its name: the garbage collector has not reached it yet.
        return (
            f"{label} belongs to an earlier {owner} (uid {ref.get('uid')}; this XR's is {req.xr_uid}), deleted "
            f"before XR {req.xr_name} was made again under its name, and the garbage collector has not deleted it "
            f"yet. Nothing is applied until it is being deleted or gone; then XR {req.xr_name} composes it anew. "
            f"If it stays, check that {owner} is gone (kubectl get) and the garbage collector runs."
        )
    return (
        f"{label} is composed by {owner}, so XR {req.xr_name} cannot compose it: two XRs would share a Cluster "
        f"and its VIPs. Nothing is applied. Give XR {req.xr_name} another name, or delete one of the two."
    )
