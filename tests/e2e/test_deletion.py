"""Deletion order on a real management cluster and in the simulator.

On the stack the deletion is Cluster API's own: its finalizer on the Cluster, and its topology
controller deleting what it rendered; the infrastructure provider's part, which takes minutes in a
real management cluster, is held by a finalizer on the infrastructure cluster (VSphereCluster) that
the test removes later. The simulator holds its Cluster's deletion the same way."""

import pytest

from tests.e2e import scenarios

BOTH = pytest.mark.parametrize("world", ["stack", "sim"], indirect=True)


@BOTH
def test_claims_and_addresses_stay_until_the_cluster_is_gone(world):
    scenarios.claims_outlive_a_deleting_cluster(world, world.net)


@BOTH
@pytest.mark.composition_input({"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "usage": "None"})
def test_with_usage_none_claims_and_addresses_go_with_the_xr(world):
    scenarios.without_usage_claims_go_at_once(world, world.net)
