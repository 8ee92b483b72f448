"""Prometheus metrics, served on --metrics-address.

Every figure is this process's view: with several replicas, sum (counters) or take
the latest (gauges) across them. Pool figures are the pools' status as last fetched.
"""

from __future__ import annotations

import threading
import time
from typing import Any

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
# An XR or a pool not seen for this long is forgotten (deleted, or served by another replica).
# A waiting XR is re-run every few seconds, a converged one every ttl.converged, a pool is seen
# whenever a claim is made for it.
FORGET_AFTER = 3600.0
_lock = threading.Lock()
_waiting: dict[str, dict[str, float]] = {"control-plane": {}, "ingress": {}}  # role -> XR -> last seen waiting
_pools: dict[tuple, float] = {}  # (kind, namespace, name) -> last seen
_last_sweep = 0.0
# metric.labels(...) validates its arguments and takes a lock on every call: the child of each
# label set is looked up once, and forgotten when its series is removed (_sweep).
_children: dict[tuple, Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    key = (metric, labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def observe_duration(seconds: float) -> None:
    RUN_DURATION.observe(max(seconds, 0))


def observe_results(results: list[Result]) -> None:
    for r in results:
        _child(RESULTS, r.severity.value, r.reason.value).inc()
        if r.reason == Reason.ASSIGNED:
            _child(VIPS_ASSIGNED, r.role).inc()


def observe_fatal() -> None:
    _child(RESULTS, "Fatal", "").inc()


def observe_waiting(xr: str, role: str, reason: str, now: float | None = None) -> None:
    """Track, per XR, whether a role waits; the gauge counts the XRs that do."""
    now = time.monotonic() if now is None else now
    with _lock:
        table = _waiting[role]
        if reason in _WAITING_REASONS:
            table[xr] = now
        else:
            table.pop(xr, None)
        _sweep(now)
        _child(WAITING, role).set(len(table))


def observe_pool(kind: str, namespace: str | None, name: str, free: int | None, total: int | None,
                 now: float | None = None) -> None:
    labels = (str(kind), str(namespace or ""), str(name))  # as the series is labelled
    with _lock:
        _pools[labels] = time.monotonic() if now is None else now
    if free is not None:
        _child(POOL_FREE, *labels).set(free)
    if total is not None:
        _child(POOL_TOTAL, *labels).set(total)


def _sweep(now: float) -> None:
    """Forget XRs and pools not seen for FORGET_AFTER (at most once a minute; under _lock)."""
    global _last_sweep  # noqa: PLW0603 - process-wide bookkeeping of a process-wide registry
    if now - _last_sweep < 60:
        return
    _last_sweep = now
    for role, table in _waiting.items():
        for xr in [x for x, seen in table.items() if now - seen > FORGET_AFTER]:
            del table[xr]
        _child(WAITING, role).set(len(table))
    for labels in [p for p, seen in _pools.items() if now - seen > FORGET_AFTER]:
        del _pools[labels]
        for gauge in (POOL_FREE, POOL_TOTAL):
            _children.pop((gauge, labels), None)
            try:
                gauge.remove(*labels)
            except KeyError:
                pass


def serve(address: str) -> None:
    """Start the /metrics endpoint in a background thread; an empty address turns it off."""
    if not address:
        return
    host, _, port = address.rpartition(":")
    try:
        start_http_server(int(port), addr=host or "0.0.0.0", registry=REGISTRY)  # noqa: S104 - a pod listens on all interfaces
    except (OSError, ValueError) as e:
        msg = (f"the /metrics endpoint cannot listen on {address!r} ({getattr(e, 'strerror', None) or e}): pass "
               "--metrics-address (or METRICS_ADDRESS) with a free host:port, or an empty value to turn it off")
        raise SystemExit(msg) from None
