"""Many XRs at once on a real management cluster and in the simulator."""

import pytest

from tests.e2e import scenarios

BOTH = pytest.mark.parametrize("world", ["stack", "sim"], indirect=True)


@BOTH
def test_fifty_xrs_get_fifty_distinct_vips_and_replacements_reuse_freed_addresses(world):
    scenarios.fifty_xrs_then_twenty_replaced(world, world.net, world.net2)
