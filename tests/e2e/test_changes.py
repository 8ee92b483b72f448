"""Changes of a user on a real management cluster and in the simulator."""

import pytest

from tests.e2e import scenarios

BOTH = pytest.mark.parametrize("world", ["stack", "sim"], indirect=True)


@BOTH
def test_a_manual_endpoint_is_the_clusters_endpoint_and_no_vip_is_claimed(world):
    scenarios.manual_endpoint(world, world.net)


@BOTH
def test_ingress_turned_off_releases_its_claim_and_frees_its_address(world):
    scenarios.ingress_off_after_allocation(world, world.net)


@BOTH
def test_a_manual_ingress_vip_on_a_converged_cluster_releases_the_old_claim_and_frees_its_address(world):
    scenarios.manual_ingress_on_converged(world, world.net)


@BOTH
@pytest.mark.composition_input({"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "manualVips": {"checkPools": True}})
def test_with_manual_vips_checked_an_endpoint_the_pool_can_hand_out_waits_until_the_pool_excludes_it(world):
    scenarios.manual_endpoint_in_pool_waits_for_the_pool_to_exclude_it(world, world.net)


@BOTH
@pytest.mark.composition_input(scenarios.DNS_INPUT)
def test_with_dns_external_dns_publishes_records_that_follow_the_vips(world):
    scenarios.dns_records_follow_the_vips(world, world.net)


@BOTH
def test_service_lb_addresses_follow_the_xrs_count(world):
    scenarios.service_lb_addresses_follow_the_count(world, world.net)


@BOTH
def test_a_dual_stack_class_gets_an_ipv4_and_an_ipv6_vip_per_role_and_the_xr_can_turn_the_pair_off(world):
    scenarios.dual_stack_pairs_follow_the_class(world, world.net)
