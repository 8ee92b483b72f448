"""A management cluster most tests start from: a ClusterClass, a control-plane and an ingress pool."""

import copy

from tests.harness import (
    CP_CLAIM,
    INGRESS_CLAIM,
    World,
    cluster_class,
    ip_address,
    observed_claim,
    observed_cluster,
    pool,
    xr,
)

CC = cluster_class()
CP_POOL = pool("cp-pool", free=9, total=11)
ING_POOL = pool("ing-pool", role="ingress", free=9, total=11, addresses=("10.0.1.10-10.0.1.20",), gateway="10.0.1.1")
STORE = [CC, CP_POOL, ING_POOL]


def bound(cp="10.0.0.10", ingress="10.0.1.10"):
    """Observed claims (bound) and their IPAddresses."""
    observed = {CP_CLAIM: observed_claim("vip-cp-c1")}
    store = [ip_address("vip-cp-c1", cp)]
    if ingress:
        observed[INGRESS_CLAIM] = observed_claim("vip-ingress-c1", pool_name="ing-pool", role="ingress")
        store.append(ip_address("vip-ingress-c1", ingress, pool_name="ing-pool"))
    return observed, store


def live(cp="10.0.0.10", ingress="10.0.1.10", **kw):
    """A converged XR: bound claims and a Cluster carrying both VIPs."""
    observed, store = bound(cp, ingress)
    variables = {"clusterVip": cp, **({"ingressVip": ingress} if ingress else {})}
    observed["cluster"] = observed_cluster(host=cp, variables=variables, ingress=ingress, **kw)
    return observed, store


def world(*extra) -> World:
    w = World()
    w.add(*STORE, *extra)
    return w


__all__ = ["CC", "CP_POOL", "ING_POOL", "STORE", "bound", "live", "world", "xr"]


def applied_without(observed, *addrs):
    """A copy of observed resources whose Cluster the API server has as applied without ``addrs``: the variables and
    ingress annotation entries naming them gone (a release waits for that: ledger.carried)."""
    observed = copy.deepcopy(observed)
    if "cluster" not in observed:
        return observed
    meta, topology = observed["cluster"]["metadata"], observed["cluster"]["spec"]["topology"]
    kept = []
    for v in topology.get("variables", []):
        value = v.get("value")
        if isinstance(value, list):
            kept.append({**v, "value": [a for a in value if a not in addrs]})
        elif value not in addrs:
            kept.append(v)
    topology["variables"] = kept
    annotations = meta.get("annotations") or {}
    if "vip.capi.gorizond.io/ingress-vip" in annotations:
        left = [a for a in annotations["vip.capi.gorizond.io/ingress-vip"].split(",") if a not in addrs]
        if left:
            annotations["vip.capi.gorizond.io/ingress-vip"] = ",".join(left)
        else:
            del annotations["vip.capi.gorizond.io/ingress-vip"]
    if not annotations:
        meta.pop("annotations", None)
    return observed
