"""metrics: a pool series forgotten by the sweep comes back when the pool is seen again."""

from prometheus_client import REGISTRY

from function import metrics


def _free(name: str) -> float | None:
    return REGISTRY.get_sample_value(
        "function_capi_vip_pool_free_addresses", {"kind": "GlobalInClusterIPPool", "namespace": "", "name": name}
    )


def test_a_forgotten_pool_is_exported_again_once_seen(monkeypatch):
    monkeypatch.setattr(metrics, "_last_sweep", 0.0)  # restored after: the sweep clock is process-wide
    metrics.observe_pool("GlobalInClusterIPPool", None, "back-pool", 3, 5, now=2_000_000.0)
    assert _free("back-pool") == 3
    metrics.observe_waiting("team-z/x", "ingress", "Allocated", now=2_000_000.0 + metrics.FORGET_AFTER + 61)
    assert _free("back-pool") is None
    metrics.observe_pool("GlobalInClusterIPPool", None, "back-pool", 4, 5, now=2_000_000.0 + metrics.FORGET_AFTER + 62)
    assert _free("back-pool") == 4
