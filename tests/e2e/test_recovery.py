"""Faults on a real management cluster and in the simulator, at a fleet's size: nothing lost, nothing shared,
every XR converged and Ready, and the time to recover measured (tests/e2e/recovery.py).

The simulator runs each fault at 100 XRs; the real stack at FAULT_FLEET XRs (10 unless set: CI's budget);
`bench/faults.py` runs the real stack at 100. Each run's figures are in the summary of the session.
"""

import os

import pytest

from tests.e2e import recovery
from tests.e2e.conftest import REPORT
from tests.e2e.world import example_input

SIZES = {"stack": int(os.environ.get("FAULT_FLEET", "10")), "sim": 100}


@pytest.mark.composition_input(example_input())  # a Composition of the test's own: one fault rolls out a new Input
@pytest.mark.parametrize("world", ["stack", "sim"], indirect=True)
@pytest.mark.parametrize("fault", recovery.FAULTS, ids=[f.component + ("-new-input" if f.change else "") for f in recovery.FAULTS])
def test_after_the_fault_clears_nothing_is_lost_or_shared_and_every_xr_converges(world, fault):
    if fault.change is not None:
        fault = recovery.Fault(fault.name, fault.component, fault.hold, fault.churn, {**example_input(), **fault.change})
    figures = recovery.recovers(world, fault, SIZES[world.name])
    (n, p50, top), (r, ready50, ready_top), (m, gone50, gone_top) = figures["converged"], figures["ready"], figures["gone"]
    REPORT.append(f"recovery, {world.name}: {figures['fault']}: {figures['xrs']} XRs; after it cleared, {n} converged in "
                  f"{p50:.0f} {figures['unit']} (p50), {top:.0f} (max); {r} Ready in {ready50:.0f} (p50), {ready_top:.0f} (max); "
                  f"{m} deleted gone in {gone50:.0f} (p50), {gone_top:.0f} (max); each read up to {figures['poll']:.0f} late"
                  + "".join(f"; {r}" for r in figures["restarts"]))
