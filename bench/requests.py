"""Realistic RunFunction requests, as Crossplane sends them for a CAPI cluster.

Objects carry what the API server returns (managedFields, status, server metadata),
because Crossplane passes observed and required resources whole.
"""

from __future__ import annotations


import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crossplane.function.proto.v1 import run_function_pb2 as fnv1  # noqa: E402

from tests.harness import cluster_class, ip_address, observed_claim, observed_cluster, pool, request, xr  # noqa: E402

CAPS = [fnv1.CAPABILITY_CAPABILITIES, fnv1.CAPABILITY_REQUIRED_RESOURCES, fnv1.CAPABILITY_CONDITIONS]


def _managed_fields(manager: str, n: int) -> list[dict]:
    return [{"apiVersion": "v1", "fieldsType": "FieldsV1", "manager": manager, "operation": "Apply",
             "time": "2026-01-01T00:00:00Z",
             "fieldsV1": {"f:spec": {f"f:field{i}": {".": {}, **{f"f:sub{j}": {} for j in range(6)}} for i in range(n)}}}]


def _variables(n: int) -> list[dict]:
    return [{"name": f"var{i}", "value": {"enabled": True, "size": i, "tags": [f"t{i}", "x"]}} for i in range(n)]


def workload_xr(variables: int = 20) -> dict:
    obj = xr(variables=_variables(variables),
             controlPlane={"replicas": 3, "metadata": {"labels": {"tier": "cp"}}},
             workers={"machineDeployments": [{"class": "default-worker", "name": f"md{i}", "replicas": 3} for i in range(3)]})
    obj["spec"]["cluster"]["clusterNetwork"] = {"pods": {"cidrBlocks": ["192.168.0.0/16"]}, "services": {"cidrBlocks": ["10.96.0.0/12"]}}
    obj["metadata"].update({
        "labels": {"team": "a", "env": "prod", "crossplane.io/composite": "c1"},
        "annotations": {"note": "x" * 200},
        "managedFields": _managed_fields("kubectl", 3),
        "resourceVersion": "123456", "creationTimestamp": "2026-01-01T00:00:00Z",
    })
    obj["spec"]["crossplane"] = {"compositionRef": {"name": "workloadcluster-capi-vip"},
                                 "resourceRefs": [{"apiVersion": "v1", "kind": "X", "name": f"r{i}"} for i in range(5)]}
    obj["status"] = {"conditions": [{"type": t, "status": "True", "reason": "Available", "lastTransitionTime": "2026-01-01T00:00:00Z"}
                                    for t in ("Ready", "Synced", "ControlPlaneVIPReady", "IngressVIPReady")]}
    return obj


def big_class(variables: int = 20) -> dict:
    cls = cluster_class(variables=("clusterVip", "ingressVip", *[f"var{i}" for i in range(variables)]))
    for v in cls["spec"]["variables"]:
        v["schema"]["openAPIV3Schema"] = {"type": "object", "properties": {"enabled": {"type": "boolean"}, "size": {"type": "integer"},
                                                                           "tags": {"type": "array", "items": {"type": "string"}}}}
    cls["spec"]["patches"] = [{"name": f"p{i}", "definitions": [{"selector": {"apiVersion": "x/v1", "kind": "K", "matchResources": {"controlPlane": True}},
                                                               "jsonPatches": [{"op": "add", "path": f"/spec/template/spec/f{i}", "valueFrom": {"variable": f"var{i}"}}]}]}
                              for i in range(5)]
    cls["status"] = {"variables": [{"name": v["name"], "definitions": [{"from": "inline", "required": False, "schema": v["schema"]}]}
                                   for v in cls["spec"]["variables"]]}
    cls["metadata"]["managedFields"] = _managed_fields("kubectl", 2)
    return cls


def _observed(cp_pool: str = "cp-pool", ingress_pool: str = "ing-pool"):
    claims = {"vip-claim-control-plane": observed_claim("vip-cp-c1", pool_name=cp_pool),
              "vip-claim-ingress": observed_claim("vip-ingress-c1", pool_name=ingress_pool, role="ingress")}
    for c in claims.values():
        c["metadata"]["managedFields"] = _managed_fields("crossplane", 2)
    return claims


def first() -> fnv1.RunFunctionRequest:
    """A new XR: nothing observed, nothing fetched yet."""
    req = request(workload_xr())
    req.meta.capabilities[:] = CAPS
    return req


def waiting(pools: int = 2) -> fnv1.RunFunctionRequest:
    """Claims made, not yet bound, in pools with room; pools and the class fetched."""
    observed = _observed("control-plane-0", "ingress-0")
    for c in observed.values():
        c.pop("status", None)
    fetched = {"cluster-class": [big_class()], "existing/cluster": []}  # no Cluster of its name exists
    for role in ("control-plane", "ingress"):
        for kind in ("InClusterIPPool", "GlobalInClusterIPPool"):
            for form in ("exact", "list"):
                items = []
                if kind == "GlobalInClusterIPPool" and form == "exact":
                    items = [pool(f"{role}-{i}", role=role, free=9, total=11) for i in range(pools)]
                fetched[f"pools/{role}/{kind}/{form}"] = items
        fetched[f"pools/{role}/claimed"] = [pool(f"{role}-0", role=role, free=9, total=11)]
    req = request(workload_xr(), observed, fetched=fetched)
    req.meta.capabilities[:] = CAPS
    return req


def _converged_observed(cluster_variables: int) -> dict:
    observed = _observed()
    cluster = observed_cluster(variables={"clusterVip": "10.0.0.10", "ingressVip": "10.0.1.10"}, ingress="10.0.1.10",
                               ready=True, reconciled=True)
    cluster["spec"]["topology"]["variables"].extend(_variables(cluster_variables))
    cluster["metadata"]["managedFields"] = _managed_fields("crossplane", 3) + _managed_fields("capi", 3)
    cluster["status"]["conditions"] += [{"type": f"Cond{i}", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"} for i in range(10)]
    observed["cluster"] = cluster
    for claim, name in (("vip-cp-c1", "vip-usage-control-plane"), ("vip-ingress-c1", "vip-usage-ingress")):
        observed[name] = {
            "apiVersion": "protection.crossplane.io/v1beta1", "kind": "Usage",
            "metadata": {"name": claim, "namespace": "team-a", "uid": "u1", "resourceVersion": "9",
                         "managedFields": _managed_fields("crossplane", 1)},
            "spec": {"of": {"apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddressClaim", "resourceRef": {"name": claim}},
                     "by": {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "resourceRef": {"name": "c1"}},
                     "replayDeletion": True},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Available",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
    return observed


def converged(class_variables: int = 20, cluster_variables: int = 20, *, fetch: bool = False) -> fnv1.RunFunctionRequest:
    """The steady state of a large fleet: Cluster observed with both VIPs, claims bound, Usages ready.

    As Crossplane before v2.4 sends it first in every reconcile: nothing fetched (the answer
    names what to fetch). ``fetch``: the class and the IPAddresses attached, as in its second
    call, and as in the one call of a steady reconcile from v2.4 (seeded with the last
    reconcile's requirements).
    """
    observed = _converged_observed(cluster_variables)
    x = workload_xr(cluster_variables)
    x["status"]["vip"] = {"controlPlane": "10.0.0.10", "controlPlaneSource": "Pool", "ingress": "10.0.1.10", "ingressSource": "Pool"}
    fetched = None
    if fetch:
        fetched = {"cluster-class": [big_class(class_variables)],
                   "address/control-plane": [ip_address("vip-cp-c1", "10.0.0.10")],
                   "address/ingress": [ip_address("vip-ingress-c1", "10.0.1.10", pool_name="ing-pool")]}
    req = request(x, observed, fetched=fetched)
    req.meta.capabilities[:] = CAPS
    return req


def size(req: fnv1.RunFunctionRequest) -> int:
    return req.ByteSize()


if __name__ == "__main__":
    for name, r in (("first", first()), ("waiting", waiting()), ("converged, first call", converged()),
                    ("converged, fetched", converged(fetch=True))):
        print(name, size(r), "bytes")

