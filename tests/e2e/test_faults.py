"""Restarts mid-run on a real management cluster and in the simulator: nothing dropped, nothing doubled."""

import pytest

from tests.e2e import scenarios

BOTH = pytest.mark.parametrize("world", ["stack", "sim"], indirect=True)


@BOTH
def test_the_function_killed_and_restarted_mid_run_drops_nothing_and_doubles_nothing(world):
    def fault():
        world.kill_function()
        world.pause(5)
        world.start_function()

    scenarios.fleet_survives(world, world.net, fault)


@BOTH
def test_crossplane_restarted_mid_run_drops_nothing_and_doubles_nothing(world):
    scenarios.fleet_survives(world, world.net, world.restart_crossplane)
