"""What a call that places a new address costs: it carries the IPAddresses of the claim's pool
(function/double_allocation.py), whole, as Crossplane sends them (managedFields included).

    .venv/bin/python bench/placing.py --addresses 1000 10000 30000

Prints, for each count, the request's size and the time of one call answered in process (fn.run), the best
of --runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crossplane.function import logging  # noqa: E402

from function import fn  # noqa: E402
from tests.fixtures import STORE, bound  # noqa: E402
from tests.harness import ip_address, request, xr  # noqa: E402

MANAGED = [{"manager": "cluster-api-ipam-provider-in-cluster", "operation": "Update",
            "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "time": "2026-12-07T05:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:finalizers": {".": {}, 'v:"ipam.cluster.x-k8s.io/ProtectAddress"': {}},
                                        "f:ownerReferences": {}},
                         "f:spec": {".": {}, "f:address": {}, "f:claimRef": {}, "f:gateway": {}, "f:poolRef": {},
                                    "f:prefix": {}}}}]


def address(i: int) -> dict:
    """Another cluster's IPAddress of the same pool, as the API server returns it."""
    a = ip_address(f"vip-cp-x{i}", f"10.1.{i // 250 % 256}.{i % 250 + 1}", namespace=f"team-{i % 50}")
    uid = f"0f8fe0a0-7d0f-4ef1-9a43-{i:012d}"
    a["metadata"].update({
        "uid": uid, "resourceVersion": str(100_000 + i), "generation": 1, "creationTimestamp": "2026-12-07T05:00:00Z",
        "finalizers": ["ipam.cluster.x-k8s.io/ProtectAddress"], "managedFields": MANAGED,
        "ownerReferences": [
            {"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim", "name": f"vip-cp-x{i}",
             "uid": uid, "controller": True, "blockOwnerDeletion": True},
            {"apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "GlobalInClusterIPPool", "name": "cp-pool",
             "uid": "1f8fe0a0-7d0f-4ef1-9a43-000000000000", "controller": False, "blockOwnerDeletion": True}]})
    return a


def measure(n: int, runs: int) -> tuple[int, float]:
    observed, store = bound()
    fetched = {"cluster-class": [STORE[0]], "existing/cluster": [], "address/control-plane": [store[0]],
               "address/ingress": [store[1]], "ipaddresses": [*(address(i) for i in range(n)), *store]}
    req = request(xr(), observed, modern=True, fetched=fetched)
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        rsp = fn.run(req)
        best = min(best, time.perf_counter() - t)
    if "cluster" not in rsp.desired.resources:
        raise SystemExit(f"{n} addresses: the Cluster was not composed; the measurement is not of a placing call")
    return req.ByteSize(), best


def main() -> None:
    logging.configure(logging.Level.DISABLED)  # each call logs the VIPs it assigns
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addresses", type=int, nargs="+", default=[1000, 10000, 30000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for n in args.addresses:
        size, best = measure(n, args.runs)
        print(f"{n} IPAddresses: request {size / 1e6:.1f} MB, call {best * 1000:.0f} ms (best of {args.runs})")


if __name__ == "__main__":
    main()
