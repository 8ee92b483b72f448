"""Moving from capi-vip-allocator, on a real management cluster and in the simulator.

The Clusters and claims are as the operator v0.7.1 leaves them (its source, read, not run: the
module proxy refuses its module here); the steps are the README's migration section."""

import pytest

from tests.e2e import scenarios

BOTH = pytest.mark.parametrize("world", ["stack", "sim"], indirect=True)


@BOTH
def test_clusters_the_operator_left_are_adopted_without_a_vip_moving(world):
    scenarios.migration_from_the_operator(world, world.net, world.net2)
