"""Changes of a user on a real management cluster and in the simulator."""

import itertools
import time

import pytest

from tests.e2e import changes, scenarios
from tests.e2e.conftest import REPORT
from tests.e2e.scenarios import OFF
from tests.e2e.world import cluster_class

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


STACK = pytest.mark.parametrize("world", ["stack"], indirect=True)


@STACK
def test_every_change_of_a_user_reaches_the_composed_objects_right_after_creation_and_in_bursts(world):
    """Three XRs at once, each with the plan of tests/e2e/changes.py (9 changes, the first right after
    creation, the last three together): every change shows on the composed objects. The cleanup checks
    that no XR opened Crossplane's watch circuit breaker; the times and costs go to the summary."""
    done = changes.run(world, world.net, xrs=3)
    assert len([c for c in done if c.what != "creation"]) == 27
    REPORT.extend(f"changes [stack]: {line}" for line in changes.summary(done)[-1:])


@STACK
@pytest.mark.breaker_opens
def test_an_edit_crossplane_drops_as_a_watch_event_still_reaches_a_converged_xr(world):
    """With Crossplane's own breaker settings (burst 100), an XR edited in quick succession opens its
    watch circuit breaker; an edit of the converged XR made then is dropped as a watch event, and
    reaches its Cluster at the function's waiting TTL (15 s) instead of its converged one (20 minutes)."""
    stack = world.stack
    with stack.crossplane_running_with(()):
        cls = f"{world.ns}-byo"
        world.apply(cluster_class(cls, world.ns, ("clusterVip",)))
        world.create_xr(world.new_xr("hot", cls, host="192.0.2.10", annotations=OFF))  # no claim: one reconcile each
        objs = changes.Objects(stack.watch_log, world.ns)
        world.wait("the Cluster", lambda: changes.shows(objs, "hot", changes.Want(cni="calico")), timeout=60)
        for i in itertools.count():
            changes.edit(world, "hot", cluster={"topology": {"variables": [{"name": "cni", "value": f"cni-{i}"}]}})
            if world.condition("hot", "Responsive").get("status") == "False":
                break
            assert i < 200, "the breaker did not open"
            time.sleep(0.2)
        opened = time.monotonic()  # for 30 s every event of the XR is dropped
        changes.edit(world, "hot", cluster={"topology": {"variables": [{"name": "cni", "value": "final"}]}})
        assert time.monotonic() - opened < 10
        world.wait("the last edit to reach the Cluster", lambda: changes.shows(objs, "hot", changes.Want(cni="final")),
                   timeout=90)
        REPORT.append(f"breaker open [stack]: an edit of a converged XR whose events Crossplane dropped reached its "
                      f"Cluster after {time.monotonic() - opened:.1f} s (ttl.waiting 15s)")
