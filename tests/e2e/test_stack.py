"""The real management cluster itself: pinned versions, the function dialled over mutual TLS, and
the stand-in for the one CAPI webhook rule that matters here."""

import json
import subprocess

import pytest

from tests.e2e.metrics import parse, total
from tools import gobuild

STACK = pytest.mark.parametrize("world", ["stack"], indirect=True)


def test_the_api_server_is_the_pinned_kubernetes(stack):
    assert json.loads(stack.get_raw("/version"))["gitVersion"] == gobuild.component("kubernetes").version


def test_crossplane_is_the_pinned_core(stack):
    out = subprocess.run([str(stack.bin["crossplane"]), "--version"], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == gobuild.component("crossplane").version


def test_external_dns_is_the_pinned_release(stack):
    out = subprocess.run([str(stack.bin["external-dns"]), "--version"], capture_output=True, text=True, timeout=60)
    assert (out.stdout + out.stderr).strip() == gobuild.component("external-dns").version  # kingpin prints it on stderr


@STACK
def test_crossplane_dials_the_function_over_mutual_tls(world):
    from tests.e2e import scenarios

    scenarios.manual_endpoint(world, world.net)
    calls = [(labels, v) for labels, v in parse(world.stack.metrics("crossplane")).get("function_run_function_response_total", [])]  # requests carry no grpc_code
    target = f"127.0.0.1:{world.stack.ports['function']}"
    assert sum(v for labels, v in calls if labels.get("grpc_target") == target and labels.get("grpc_code") == "OK") > 0, calls
    assert total(parse(world.stack.metrics("function")), "function_capi_vip_run_function_duration_seconds_count") > 0


@STACK
def test_a_changed_claim_spec_is_caught_though_no_capi_webhook_refuses_it(world):
    """The API server here accepts what CAPI's webhook would refuse: the tests watch for it instead."""
    claim = {"apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddressClaim",
             "metadata": {"name": "by-hand", "namespace": world.ns},
             "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "GlobalInClusterIPPool", "name": "one"}}}
    world.apply(claim)
    claim["spec"]["poolRef"]["name"] = "another"
    world.apply(claim)  # accepted: no webhook
    specs = world.stack.claim_specs
    world.wait("the watch to record the change", lambda: specs.changed_in({world.ns}))
    (change,) = specs.changed_in({world.ns})
    assert change.startswith(f"{world.ns}/by-hand: ") and "'one'" in change and "'another'" in change
    specs.changes.remove(change)  # seen; the cleanup fails on any other
    world.delete("IPAddressClaim", "by-hand")
    world.wait_gone("IPAddressClaim", "by-hand")  # the provider lets a claim of a missing pool go
