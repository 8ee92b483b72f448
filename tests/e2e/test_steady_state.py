"""The steady state of converged XRs, as Crossplane really reconciles them, and as the simulator models it.

Four converged XRs, their Clusters Ready (the infrastructure provider's part played by the test), are left
alone for 90 s with ttl.converged 10s. The figures: XR reconciles (Crossplane's
controller_runtime_reconcile_total), function calls (the function's own
function_capi_vip_run_function_duration_seconds_count), API requests by verb and resource (the
API server's apiserver_request_total) and, on the real stack, by client (its audit log). They
are kept in pytest's cache (`.pytest_cache/v/e2e/steady-state/<world>`), printed with `-s`, and
recorded in the README as the baseline of later performance work. Timings are never asserted."""

import json

import pytest

from tests.e2e import scenarios
from tests.e2e.conftest import REPORT, opened_world

COMPOSED = {"APPLY clusters": 1, "APPLY ipaddressclaims": 2, "APPLY usages": 2}  # per XR: Cluster, 2 claims, 2 Usages
XR_WRITES = {"APPLY workloadclusters": 1, "APPLY workloadclusters/status": 1}


@pytest.fixture(scope="module", params=["stack", "sim"])
def steady(request):
    with opened_world(request, request.param, scenarios.STEADY_INPUT) as w:
        figures = scenarios.steady_state(w, w.net)
        cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
        if cache is not None:
            cache.set(f"e2e/steady-state/{w.name}", figures)
        print(f"\nsteady state [{w.name}]: {json.dumps(figures, indent=1)}")
        n = figures["reconciles"] or 1
        per = ", ".join(f"{k} {v / n:.2f}" for k, v in figures["requests"].items() if k.startswith("APPLY"))
        REPORT.append(f"steady state [{w.name}]: {figures['xrs']} XRs, {figures['window_s']} s, "
                      f"{figures['reconciles']:.0f} reconciles, {figures['calls']:.0f} calls; per reconcile: {per}")
        yield w.name, figures


def off_by_more_than_a_reconcile(figures: dict, expected: dict[str, int]) -> dict[str, float]:
    """The requests whose count is not `n` per reconcile, give or take one reconcile: the counters are
    read one after the other, so a reconcile running at the window's edge may count its requests and
    not itself, or the other way round."""
    return {k: figures["requests"].get(k, 0) for k, n in expected.items()
            if abs(figures["requests"].get(k, 0) - n * figures["reconciles"]) > n}


def test_a_converged_xr_is_reconciled_at_its_ttl(steady):
    _, f = steady
    assert f["reconciles"] >= f["xrs"], f  # each XR at least once in the window, though nothing changed


def test_a_converged_reconcile_calls_the_function_once(steady):
    _, f = steady
    assert round(f["calls"] / f["reconciles"]) == 1, f  # Crossplane v2.4 seeds the call with last reconcile's requirements


def test_a_converged_reconcile_applies_each_composed_resource_once(steady):
    _, f = steady
    assert not off_by_more_than_a_reconcile(f, COMPOSED), f


def test_a_converged_reconcile_applies_the_xr_and_its_status_once(steady):
    _, f = steady
    assert not off_by_more_than_a_reconcile(f, XR_WRITES), f


def test_a_converged_reconcile_emits_no_event(steady):
    _, f = steady
    assert not [k for k in f["by_user"] if k.startswith("crossplane ") and k.endswith(" events")], f["by_user"]
