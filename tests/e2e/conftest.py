"""Fixtures of the e2e tests: one real management cluster per session, a world per test.

``world`` is parametrized: ``stack`` is the real management cluster (tests/e2e/stack.py), shared
by the session, each test in namespaces of its own, cleaned up after it; ``sim`` is a fresh
simulator (tests/sim.py). A test marked ``@pytest.mark.composition_input({...})`` runs with that
Input: on the stack in a Composition of its own, which its XRs name; in the simulator as the
Input of every call.
"""

from __future__ import annotations

import contextlib
import itertools
import time

import pytest

from tests.e2e.watchlog import WatchLog, breaker_opened, events_per_xr
from tests.e2e.world import (
    EXAMPLE_COMPOSITION,
    KIND_API,
    XR_KIND,
    SimWorld,
    StackWorld,
    WaitTimeout,
    composition,
    example_input,
    install_examples,
)

_numbers = itertools.count(1)
# The walkthrough's namespaces, which several tests use; every other namespace is a test's own
# (e2e-NN), so its deletion is not waited for.
REUSED = {"team-a", "team-b"}


def pytest_configure(config):
    config.addinivalue_line("markers", "composition_input(input): the Input of the Composition the test's XRs use")
    config.addinivalue_line("markers", "breaker_opens: the test opens an XR's watch circuit breaker on purpose "
                                       "(the cleanup does not fail it for that)")


_started: dict[str, float] = {}  # the stack's start-up, by phase (seconds), for the summary
REPORT: list[str] = []  # lines the e2e tests want in the summary (the steady-state figures)


def pytest_terminal_summary(terminalreporter):
    if _started:
        phases = ", ".join(f"{k} {v:.0f} s" for k, v in _started.items() if k != "total")
        terminalreporter.write_line(f"e2e stack up in {_started['total']:.0f} s ({phases})")
    for line in REPORT:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def stack(tmp_path_factory, built_package):
    """The real management cluster, up for the whole session, the function installed from the registry."""
    from tests.e2e.stack import Stack, StackError
    from tests.package import crossplane_args
    from tools.gobuild import Missing

    try:
        s = Stack(tmp_path_factory.mktemp("stack"), built_package, crossplane_args=crossplane_args())
    except Missing as e:
        pytest.fail(str(e), pytrace=False)
    try:
        s.up()
    except (StackError, Missing, TimeoutError) as e:
        s.down()
        pytest.fail(f"the e2e stack did not start: {e}", pytrace=False)
    except BaseException:
        s.down()  # whatever went wrong, no process of the stack outlives the session
        raise
    _started.update(s.timings)
    try:
        install_examples(s)
        s.watch_log = WatchLog(s.client, [(api, kind) for kind, api in KIND_API.items()], keep=frozenset({XR_KIND}),
                               file=s.logs / "watch-events.jsonl")
        yield s
    finally:
        if getattr(s, "watch_log", None):
            s.watch_log.stop()
        s.down()




def _input(request) -> tuple[str | None, dict]:
    marker = request.node.get_closest_marker("composition_input")
    if marker is None:
        return None, example_input()
    return "custom", marker.args[0]


@pytest.fixture
def world(request):
    custom, inp = _input(request)
    with opened_world(request, request.param, inp if custom else None) as w:
        yield w


@contextlib.contextmanager
def opened_world(request, kind: str, inp: dict | None = None):
    """A world in a fresh namespace; ``inp``: the Input of a Composition of its own (else the example's)."""
    n = next(_numbers)
    ns = f"e2e-{n:02d}"
    if kind == "sim":
        w = SimWorld(ns, inp or example_input())
        w.net, w.net2 = f"10.{100 + n}.0", f"10.{150 + n}.0"
        yield w
        return
    s = request.getfixturevalue("stack")
    from tests.package import crossplane_args

    # Every test starts on Crossplane as the README installs it; a test that changes its flags puts them back.
    if missing := [a for a in crossplane_args() if a not in s.procs["crossplane"].argv]:
        pytest.fail(f"Crossplane runs without the README's {' '.join(missing)} (a test before this one changed its "
                    f"flags and did not put them back: use Stack.crossplane_running_with)", pytrace=False)
    started = time.time()  # wall clock: the watch log's and the function log's
    counted = breaker_events(s)
    name = f"{ns}-composition" if inp else EXAMPLE_COMPOSITION
    w = StackWorld(s, ns, name)
    w.net, w.net2 = f"10.{100 + n}.0", f"10.{150 + n}.0"
    w.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    if inp:
        w.kube.apply(composition(name, inp))
    try:
        yield w
    finally:
        cleanup(w, custom=name if inp else None, started=started, test=request.node.name, counted=counted,
                breaker_may_open=request.node.get_closest_marker("breaker_opens") is not None)


def breaker_events(s) -> float:
    """The watch events Crossplane's circuit breakers of the XR kind have counted so far, all XRs together."""
    from tests.e2e.metrics import parse, total

    return total(parse(s.metrics("crossplane")), "circuit_breaker_events_total",
                 controller="composite/workloadclusters.platform.example.org")


def cleanup(w: StackWorld, custom: str | None = None, started: float | None = None, test: str = "",
            counted: float | None = None, breaker_may_open: bool = False) -> None:
    """Check that no XR of the test opened Crossplane's watch circuit breaker, then delete what the
    test made and wait until its addresses are back, so the next test (and the steady-state
    measurement) find a quiet stack."""
    from tests.e2e.world import TEARDOWN, XR_KIND

    errors = [] if breaker_may_open else breaker_opened(w)
    if started is not None:
        counts = events_per_xr(w, started)
        if counts:
            top, (n, sources) = max(counts.items(), key=lambda kv: kv[1][0])
            all_xrs = breaker_events(w.stack) - counted if counted is not None else float("nan")
            told = (f"{all_xrs:.0f}" if all_xrs >= 0 else  # a restart of Crossplane during the test began its counters again
                    f"{breaker_events(w.stack):.0f} since its restart")
            REPORT.append(f"breaker tokens per XR, {test}: {len(counts)} XRs, at most {n} ({top}: "
                          + ", ".join(f"{k} {v}" for k, v in sources.items())
                          + f"); Crossplane's breakers counted {told} for all XRs of the test")
    for ns in sorted(w.namespaces):
        v = w.with_ns(ns)
        for infra in v.list("VSphereCluster"):  # the infrastructure provider's teardown the tests play
            if TEARDOWN in (infra["metadata"].get("finalizers") or []):
                fins = [f for f in infra["metadata"]["finalizers"] if f != TEARDOWN]
                v.kube.patch(KIND_API["VSphereCluster"], "VSphereCluster", infra["metadata"]["name"],
                             {"metadata": {"finalizers": fins}}, ns)
        for xr in v.list(XR_KIND):
            v.delete_xr(xr["metadata"]["name"])
        for cluster in v.list("Cluster"):  # a Cluster the test made itself, as a user would (no XR composes it)
            if not any(r.get("controller") for r in cluster["metadata"].get("ownerReferences") or []):
                v.delete("Cluster", cluster["metadata"]["name"])
    deadline = time.monotonic() + 300
    for ns in sorted(w.namespaces):
        v = w.with_ns(ns)
        try:
            v.wait(f"everything in {ns} to go", lambda: not v.list(XR_KIND) and not v.list("IPAddressClaim")
                   and not v.list("IPAddress") and not v.list("Cluster")
                   and not v.list("DNSEndpoint"), timeout=max(10, deadline - time.monotonic()))
        except WaitTimeout as e:
            errors.append(str(e))
    for kind, name in w.cluster_scoped:
        w.delete(kind, name, None)
    if custom:
        w.kube.delete("apiextensions.crossplane.io/v1", "Composition", custom)
    for ns in sorted(w.namespaces):
        w.kube.delete("v1", "Namespace", ns)
    for ns in sorted(w.namespaces & REUSED):  # a later test uses the same namespace: wait until it is gone
        try:
            w.wait(f"namespace {ns} to go", lambda: w.kube.get("v1", "Namespace", ns) is None, timeout=180)
        except WaitTimeout as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)
