"""Deletion order: a VIP claim outlives the Cluster that uses it.

When a workload cluster is deleted, its control plane (and kube-vip on its
nodes) may answer on the VIP until CAPI has torn it down. If the claim went
first, IPAM would hand the address to the next new cluster meanwhile. A
Crossplane Usage (``protection.crossplane.io/v1beta1``, namespaced) ``of`` the
claim ``by`` the Cluster makes the API server refuse the claim's deletion while
the Cluster exists; ``replayDeletion`` deletes the claim as soon as it is gone.

Why no legacy ``apiextensions.crossplane.io`` Usage: it is cluster-scoped and its
``resourceRef`` has only a name, so it looks the claim up without a namespace
and cannot protect a namespaced IPAddressClaim at all.

Releasing a claim on purpose (ingress turned off) goes in steps, because a
composed Usage that is deleted while its ``by`` object lives waits for that
object, and the claim's deletion is refused while any Usage of it exists:

1. the Usage is detached: ``by`` removed, a ``reason`` instead (it still protects);
2. the detached Usage is dropped: with no ``by`` its deletion does not wait;
3. the claim is dropped once no Usage of it is observed.

Each step follows from what Crossplane observed, so the function stays stateless.
"""

from __future__ import annotations

import dataclasses

from function import claims

API_VERSION = "protection.crossplane.io/v1beta1"
RELEASE_REASON = "function-capi-vip is releasing this VIP"


@dataclasses.dataclass(frozen=True)
class ObservedUsage:
    attached: bool  # has spec.by
    ready: bool


def read_observed(obj: dict | None) -> ObservedUsage | None:
    if not isinstance(obj, dict):
        return None
    spec = obj.get("spec")
    status = obj.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    ready = isinstance(conditions, list) and any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )
    return ObservedUsage(attached=isinstance(spec, dict) and isinstance(spec.get("by"), dict), ready=ready)


def render(claim: claims.Claim, claim_api_version: str, cluster: dict | None) -> dict:
    """The Usage of a claim: by the Cluster, or detached (a reason instead) when cluster is None."""
    spec: dict = {
        "of": {"apiVersion": claim_api_version, "kind": "IPAddressClaim", "resourceRef": {"name": claim.name}},
        "replayDeletion": True,
    }
    if cluster is not None:
        spec["by"] = {
            "apiVersion": cluster["apiVersion"],
            "kind": "Cluster",
            "resourceRef": {"name": cluster["metadata"]["name"]},
        }
    else:
        spec["reason"] = RELEASE_REASON
    return {
        "apiVersion": API_VERSION,
        "kind": "Usage",
        "metadata": {"name": claim.name, "namespace": claim.namespace},
        "spec": spec,
    }
