"""Pools on a real management cluster and in the simulator: missing, labelled later, exhausted."""

import pytest

from tests.e2e import scenarios

BOTH = pytest.mark.parametrize("world", ["stack", "sim"], indirect=True)


@BOTH
def test_without_a_pool_the_xr_says_what_to_label_and_a_pool_labelled_later_is_used(world):
    scenarios.no_pool_then_labelled(world, world.net)


@BOTH
def test_an_exhausted_pool_spills_over_to_another_matching_pool(world):
    scenarios.exhausted_pool_spills_over(world, world.net)


@BOTH
def test_an_exhausted_pool_with_no_other_leaves_the_xr_pool_exhausted(world):
    scenarios.exhausted_pool_without_spare(world, world.net)
