"""Prometheus metrics, served on --metrics-address.

Every figure is this process's view: with several replicas, sum (counters) or take
the latest (gauges) across them. Pool figures are the pools' status as last fetched.
"""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server

from function.conditions import Reason, Result

PREFIX = "function_capi_vip"

RUN_DURATION = Histogram(
    f"{PREFIX}_run_function_duration_seconds",
    "Time to answer one RunFunction call.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
RESULTS = Counter(f"{PREFIX}_results", "Results (events) returned, by severity and reason.", ["severity", "reason"])
VIPS_ASSIGNED = Counter(f"{PREFIX}_vips_assigned", "VIPs first assigned to a Cluster, by role.", ["role"])
WAITING = Gauge(f"{PREFIX}_xrs_waiting_for_address", "XRs whose VIP waits on IPAM or a pool, by role.", ["role"])
POOL_FREE = Gauge(f"{PREFIX}_pool_free_addresses", "Free addresses of a pool, as last fetched.", ["kind", "namespace", "name"])
POOL_TOTAL = Gauge(f"{PREFIX}_pool_addresses", "Addresses of a pool, as last fetched.", ["kind", "namespace", "name"])

_WAITING_REASONS = {Reason.WAITING_FOR_ADDRESS.value, Reason.POOL_NOT_FOUND.value, Reason.POOL_EXHAUSTED.value}
_lock = threading.Lock()
_waiting: dict[str, dict[str, bool]] = {"control-plane": {}, "ingress": {}}


def observe_results(results: list[Result]) -> None:
    for r in results:
        RESULTS.labels(r.severity.value, r.reason.value).inc()
        if r.reason == Reason.ASSIGNED:
            VIPS_ASSIGNED.labels(r.role).inc()


def observe_fatal() -> None:
    RESULTS.labels("Fatal", "").inc()


def observe_waiting(xr: str, role: str, reason: str) -> None:
    """Track, per XR, whether a role waits; the gauge counts the XRs that do."""
    with _lock:
        table = _waiting[role]
        if reason in _WAITING_REASONS:
            table[xr] = True
        else:
            table.pop(xr, None)
        WAITING.labels(role).set(len(table))


def observe_pool(kind: str, namespace: str | None, name: str, free: int | None, total: int | None) -> None:
    if free is not None:
        POOL_FREE.labels(kind, namespace or "", name).set(free)
    if total is not None:
        POOL_TOTAL.labels(kind, namespace or "", name).set(total)


def serve(address: str) -> None:
    """Start the /metrics endpoint in a background thread; an empty address turns it off."""
    if not address:
        return
    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host or "0.0.0.0", registry=REGISTRY)  # noqa: S104 - a pod listens on all interfaces
