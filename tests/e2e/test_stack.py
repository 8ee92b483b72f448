"""The real management cluster itself: pinned versions, the function dialled over mutual TLS, Cluster
API's webhook on claims, and every component with only the permissions its own manifests grant."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e import scenarios
from tests.e2e.conftest import REPORT
from tests.e2e.kube import ApiError
from tests.e2e.metrics import parse, total
from tools import gobuild

ROOT = Path(__file__).resolve().parents[2]

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
def test_capis_webhook_refuses_a_change_of_a_claims_spec(world):
    """An IPAddressClaim's spec is immutable: Cluster API's own validating webhook says so."""
    claim = {"apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddressClaim",
             "metadata": {"name": "by-hand", "namespace": world.ns},
             "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "GlobalInClusterIPPool", "name": "one"}}}
    world.apply(claim)
    claim["spec"]["poolRef"]["name"] = "another"
    with pytest.raises(ApiError) as refused:
        world.apply(claim)
    assert 'admission webhook "validation.ipaddressclaim.ipam.cluster.x-k8s.io" denied the request' in str(refused.value)
    world.delete("IPAddressClaim", "by-hand")
    world.wait_gone("IPAddressClaim", "by-hand")  # the provider lets a claim of a missing pool go


def test_no_component_but_the_test_and_kubernetes_is_in_system_masters(stack):
    """Crossplane, its RBAC manager, the IPAM provider, external-dns and Cluster API's managers act as their
    ServiceAccounts, with only what their own charts and kustomizations grant (tests/e2e/rbac.py)."""
    from tests.e2e.kube import Kube

    kube = Kube(stack.client)
    for user, (identity, _) in stack.rbac.items():
        config = yaml.safe_load(stack.kubeconfig(user).read_text())
        (entry,) = config["users"]
        assert set(entry["user"]) == {"token"}, user  # no client certificate
        review = kube.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": entry["user"]["token"]}})
        assert review["status"]["user"]["username"] == identity.user
        assert "system:masters" not in review["status"]["user"]["groups"], user
    identity = stack.rbac["ipam-provider"][0]
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {
        "user": identity.user, "groups": identity.groups,
        "resourceAttributes": {"group": "cluster.x-k8s.io", "resource": "clusters", "verb": "delete", "namespace": "x"}}}
    out = kube.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    assert out["status"]["allowed"] is False, out["status"]  # the IPAM provider may not delete a Cluster


@STACK
def test_without_the_functions_clusterrole_crossplane_says_what_it_may_not_do(world):
    """examples/rbac.yaml is what lets Crossplane compose Clusters and claims and read pools: without it the
    XR is not Synced and says which kind Crossplane is forbidden; with it back, the XR converges."""
    w = world
    (role,) = [d for d in yaml.safe_load_all((ROOT / "examples" / "rbac.yaml").read_text()) if d]
    scenarios.platform(w, f"{w.ns}-cc", w.net)
    w.kube.delete("rbac.authorization.k8s.io/v1", "ClusterRole", role["metadata"]["name"])
    try:
        w.wait("Crossplane's role without the function's rules", lambda: not any(
            "ipaddressclaims" in (r.get("resources") or [])
            for r in w.kube.get("rbac.authorization.k8s.io/v1", "ClusterRole", "crossplane").get("rules") or []))
        w.create_xr(w.new_xr("unpermitted", f"{w.ns}-cc"))
        synced = w.wait("the XR not Synced", lambda: (c := w.condition("unpermitted", "Synced")).get("status") == "False" and c,
                        timeout=120)
        REPORT.append(f"without examples/rbac.yaml, XR {w.ns}/unpermitted: Synced False, {synced.get('reason')}: "
                      f"{synced.get('message')}")
        assert "forbidden" in synced["message"], synced
    finally:
        w.kube.apply(role)
    scenarios.converged(w, "unpermitted", ingress=True, timeout=300)
