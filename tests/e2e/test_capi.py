"""Cluster API itself, as the composed Cluster meets it on the real stack (tests/e2e/capi.py): its
defaulting and validating webhooks, its conversion between v1beta1 and v1beta2, and its topology
controller rendering the example ClusterClasses. Only the infrastructure provider is played (the
infrastructure cluster ready, the control plane initialized: no machine is ever started).

What is asserted is what CAPI made of the Cluster, never the function's own output."""

from __future__ import annotations

import ipaddress
import time

import pytest
import yaml

from tests.e2e import scenarios
from tests.e2e.conftest import REPORT
from tests.e2e.kube import ApiError
from tests.e2e.watchlog import WatchLog
from tests.e2e.world import CLUSTER_API, INGRESS_ENABLED, cluster_class, conditions_of, examples, pool

STACK = pytest.mark.parametrize("world", ["stack"], indirect=True)
V1BETA2 = "cluster.x-k8s.io/v1beta2"
KUBE_VIP_MANIFEST = "/etc/kubernetes/manifests/kube-vip.yaml"


def rendered(w, name: str, ref: str) -> dict:
    """The object CAPI's topology controller made for the Cluster's spec.<ref>, as the API server serves it."""
    api, kind, obj = w.wait(f"Cluster {w.ns}/{name}'s {ref}", lambda: w._rendered(name, ref))
    return w.kube.get(api, kind, obj, w.ns)


def kube_vip_address(kcp: dict) -> str:
    """The `address` kube-vip's static pod gets, from the control plane's kubeadm files."""
    (f,) = [f for f in kcp["spec"]["kubeadmConfigSpec"].get("files") or [] if f["path"] == KUBE_VIP_MANIFEST]
    pod = yaml.safe_load(f["content"])
    (container,) = pod["spec"]["containers"]
    return {e["name"]: e.get("value") for e in container["env"]}["address"]


def topology_reconciled(w, name: str) -> dict:
    """The Cluster once CAPI's topology controller says it reconciled it (v1beta2 conditions)."""
    def done():
        c = w.kube.get(V1BETA2, "Cluster", name, w.ns)
        cond = {x["type"]: x for x in ((c or {}).get("status") or {}).get("conditions") or []}
        return c if cond.get("TopologyReconciled", {}).get("status") == "True" else None
    return w.wait(f"Cluster {w.ns}/{name} TopologyReconciled", done, timeout=120)


def ready_xr(w, name: str) -> None:
    """A class and pools in the test's namespace, an XR of it converged, its Cluster Ready as CAPI computes it
    (the providers' part played), and the XR Ready."""
    scenarios.platform(w, f"{w.ns}-cc", w.net)
    w.create_xr(w.new_xr(name, f"{w.ns}-cc"))
    scenarios.converged(w, name, ingress=True)
    w.cluster_ready(name)
    w.wait(f"XR {name} Ready", lambda: conditions_of(w.xr(name)).get("Ready", {}).get("status") == "True")


@STACK
def test_capi_renders_the_vip_where_kube_vip_and_the_certificates_need_it(world):
    """The README walkthrough with examples/clusterclass-kubeadm-kube-vip.yaml: CAPI's topology
    controller patches the VIP into the infrastructure cluster's endpoint, the API server's
    certificate SANs and kube-vip's static pod."""
    w = world.with_ns("team-a")
    scenarios.walkthrough(w)
    topology_reconciled(w, "my-cluster")
    infra = rendered(w, "my-cluster", "infrastructureRef")
    assert infra["kind"] == "VSphereCluster"
    assert infra["spec"]["controlPlaneEndpoint"] == {"host": "10.0.0.10", "port": 6443}
    kcp = rendered(w, "my-cluster", "controlPlaneRef")
    assert kcp["kind"] == "KubeadmControlPlane"
    assert "10.0.0.10" in kcp["spec"]["kubeadmConfigSpec"]["clusterConfiguration"]["apiServer"]["certSANs"]
    assert kube_vip_address(kcp) == "10.0.0.10"
    assert kcp["spec"]["replicas"] == 3
    # the class's own template kept its files: the patch appended kube-vip's
    assert [f["path"] for f in kcp["spec"]["kubeadmConfigSpec"]["files"]] == [
        "/etc/sysctl.d/90-kube-vip.conf", KUBE_VIP_MANIFEST]


@STACK
def test_the_dual_stack_class_puts_both_addresses_where_kube_vip_and_the_certificates_need_them(world):
    w = world
    net4, net6 = w.net, f"fd00:{w.net.split('.')[1]}:{w.net.split('.')[2]}::"
    objs = [d for d in examples("dual-stack/clusterclass.yaml")]
    for d in objs:
        d["metadata"]["namespace"] = w.ns
    cls = objs[0]["metadata"]["name"]
    w.apply(*objs,
            pool(f"{cls}-cp4", cls, "control-plane", [f"{net4}.10-{net4}.19"], gateway=f"{net4}.1"),
            pool(f"{cls}-cp6", cls, "control-plane", [f"{net6}10-{net6}19"], prefix=64, gateway=f"{net6}1"),
            pool(f"{cls}-in4", cls, "ingress", [f"{net4}.100-{net4}.109"], gateway=f"{net4}.1"),
            pool(f"{cls}-in6", cls, "ingress", [f"{net6}100-{net6}109"], prefix=64, gateway=f"{net6}1"))
    xr = w.new_xr("pair", cls)
    xr["spec"]["cluster"]["topology"].pop("variables")  # the example class defines only the VIPs
    w.create_xr(xr)
    scenarios.converged(w, "pair", ingress=False)  # the ingress annotation carries the pair: "<v4>,<v6>"
    variables = scenarios.variables(w.cluster("pair"))
    v4, v6 = variables["clusterVip"], variables["clusterVipSecondary"]
    assert v4.startswith(f"{net4}.") and ipaddress.ip_address(v6) in ipaddress.ip_network(f"{net6}/64"), variables
    topology_reconciled(w, "pair")
    kcp = rendered(w, "pair", "controlPlaneRef")
    sans = kcp["spec"]["kubeadmConfigSpec"]["clusterConfiguration"]["apiServer"]["certSANs"]
    assert v4 in sans and v6 in sans, sans
    assert kube_vip_address(kcp) == f"{v4},{v6}"
    assert [f["path"] for f in kcp["spec"]["kubeadmConfigSpec"]["files"]] == ["/etc/sysctl.d/90-kube-vip.conf", KUBE_VIP_MANIFEST]
    assert rendered(w, "pair", "infrastructureRef")["spec"]["controlPlaneEndpoint"]["host"] == v4


@STACK
def test_no_version_of_the_cluster_the_api_server_ever_stored_lacks_its_endpoint(world):
    """A watch from before the XR exists records every version of its Cluster: the first already has
    the endpoint and clusterVip, and so does every later one (CAPI's writes included)."""
    w = world
    log = WatchLog(w.stack.client, [(V1BETA2, "Cluster")], keep=frozenset({"Cluster"}))
    try:
        ready_xr(w, "watched")
        time.sleep(5)
    finally:
        log.stop()
    versions = [e for e in log.events if e.namespace == w.ns and e.name == "watched" and e.obj is not None]
    assert versions and versions[0].type == "ADDED", [e.type for e in versions]
    first = versions[0].obj
    assert (first["spec"].get("controlPlaneEndpoint") or {}).get("host") == f"{w.net}.10", first["spec"]
    assert {v["name"]: v.get("value") for v in first["spec"]["topology"].get("variables") or []}.get("clusterVip") \
        == f"{w.net}.10", first["spec"]["topology"]
    lacking = [(e.type, e.obj["metadata"]["resourceVersion"], e.managers) for e in versions
               if not (e.obj.get("spec") or {}).get("controlPlaneEndpoint", {}).get("host")]
    assert not lacking, lacking
    writers = sorted({m for e in versions for m in e.managers})
    REPORT.append(f"Cluster {w.ns}/watched: {len(versions)} versions stored, each with its endpoint; written by {writers}")


def field_managers(cluster: dict, *path: str) -> list[str]:
    """The managers (operation) whose managedFields entries own anything under spec.<path>."""
    out = []
    for entry in cluster["metadata"].get("managedFields") or []:
        node = entry.get("fieldsV1") or {}
        for p in path:
            node = node.get(f"f:{p}")
            if node is None:
                break
        else:
            out.append(f"{entry['manager'].split('/')[0]} ({entry['operation']})")
    return out


def still(w, name: str) -> dict:
    """What must not move once a Cluster is converged: its resourceVersion and generation, and those of
    what CAPI rendered from it."""
    c = w.kube.get(V1BETA2, "Cluster", name, w.ns)
    out = {"Cluster": (c["metadata"]["resourceVersion"], c["metadata"]["generation"])}
    for ref in ("infrastructureRef", "controlPlaneRef"):
        obj = rendered(w, name, ref)
        out[obj["kind"]] = (obj["metadata"]["resourceVersion"], obj["metadata"]["generation"])
    return out


@STACK
@pytest.mark.composition_input(scenarios.STEADY_INPUT)  # ttl.converged 10s: about 30 reconciles per XR in the window
def test_a_converged_cluster_stays_still_next_to_capi_for_five_minutes(world):
    """Crossplane applies the Cluster on every reconcile (ttl.converged), CAPI's defaulting webhook adds
    the class's defaults and its topology controller writes the same Cluster: once converged, for five
    minutes, nothing moves, with a class without defaults and with one whose defaults CAPI adds (an
    ingressVip of "" too, where the XR turned ingress off and the function sends none)."""
    w = world
    scenarios.platform(w, f"{w.ns}-cc", w.net)
    defaults = cluster_class(f"{w.ns}-dflt", w.ns)
    defaults["spec"]["variables"] += [
        {"name": "kubeVipVersion", "required": False, "schema": {"openAPIV3Schema": {"type": "string", "default": "v0.8.2"}}},
        {"name": "ntpServers", "required": False, "schema": {"openAPIV3Schema": {
            "type": "array", "items": {"type": "string"}, "default": ["pool.ntp.org"]}}}]
    for v in defaults["spec"]["variables"]:
        if v["name"] in ("clusterVip", "ingressVip"):
            v["schema"]["openAPIV3Schema"]["default"] = ""
    w.apply(defaults, pool(f"{w.ns}-dflt-cp", f"{w.ns}-dflt", "control-plane", [f"{w.net}.30-{w.net}.39"]),
            pool(f"{w.ns}-dflt-in", f"{w.ns}-dflt", "ingress", [f"{w.net}.130-{w.net}.139"]))
    names = {"plain": f"{w.ns}-cc", "defaulted": f"{w.ns}-dflt", "defaulted-no-ingress": f"{w.ns}-dflt"}
    for name, cls in names.items():
        w.create_xr(w.new_xr(name, cls, annotations={INGRESS_ENABLED: "false"} if name.endswith("no-ingress") else None))
    for name in names:
        scenarios.converged(w, name, ingress=not name.endswith("no-ingress"))
        w.cluster_ready(name)
        w.wait(f"XR {name} Ready", lambda: conditions_of(w.xr(name)).get("Ready", {}).get("status") == "True")
        w.wait(f"XR {name} settled", lambda: w.settled(name))
    assert {v: x for v, x in scenarios.variables(w.cluster("defaulted")).items() if v in ("kubeVipVersion", "ntpServers")} \
        == {"kubeVipVersion": "v0.8.2", "ntpServers": ["pool.ntp.org"]}  # CAPI's defaulting webhook added them
    # the function sends no ingressVip with ingress off; CAPI adds the class's default, the empty string
    assert scenarios.variables(w.cluster("defaulted-no-ingress"))["ingressVip"] == ""
    time.sleep(30)  # past the first reconcile at ttl.converged after the last change
    before = {name: still(w, name) for name in names}
    counted = w.counters()
    started = time.time()
    time.sleep(300)
    after = {name: still(w, name) for name in names}
    applies = w.counters()["requests"].get(("APPLY", "clusters"), 0) - counted["requests"].get(("APPLY", "clusters"), 0)
    assert applies >= 3 * len(names), applies  # Crossplane applied each Cluster again and again meanwhile
    assert after == before
    window = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    warnings = [(e["involvedObject"]["kind"], e["involvedObject"]["name"], e.get("reason"), e.get("message"))
                for e in w.kube.list("v1", "Event", w.ns)
                if e.get("type") == "Warning" and (e.get("lastTimestamp") or e.get("eventTime") or "") >= window]
    assert not warnings, warnings
    for name in names:
        synced = conditions_of(w.xr(name)).get("Synced", {})
        assert synced.get("status") == "True", synced  # no apply error
        c = w.kube.get(V1BETA2, "Cluster", name, w.ns)
        REPORT.append(f"Cluster {w.ns}/{name} ({names[name]}) still for {time.time() - started:.0f} s beside CAPI "
                      f"({applies} applies of the {len(names)} Clusters): "
                      f"spec.topology.variables managed by {field_managers(c, 'spec', 'topology', 'variables')}, "
                      f"spec.controlPlaneEndpoint by {field_managers(c, 'spec', 'controlPlaneEndpoint')}")


@STACK
def test_capis_webhook_refuses_an_undefined_variable_and_the_function_sends_none(world):
    """With a class that lacks ingressVip, CAPI refuses a Cluster that sets it; the function sends none,
    and the Cluster is admitted. A class whose clusterVip has a schema (format and pattern) admits the VIP."""
    w = world
    scenarios.platform(w, f"{w.ns}-cp-only", w.net, ingress=False)
    refused = {"apiVersion": CLUSTER_API, "kind": "Cluster", "metadata": {"name": "by-hand", "namespace": w.ns},
               "spec": {"topology": {"class": f"{w.ns}-cp-only", "version": "v1.31.0",
                                     "variables": [{"name": "ingressVip", "value": f"{w.net}.100"}]}}}
    with pytest.raises(ApiError) as error:
        w.kube.apply(refused)
    assert "variable is not defined" in str(error.value), error.value
    w.create_xr(w.new_xr("cp-only", f"{w.ns}-cp-only"))
    cluster = scenarios.converged(w, "cp-only", ingress=False)
    assert "ingressVip" not in scenarios.variables(cluster)
    topology_reconciled(w, "cp-only")

    strict = cluster_class(f"{w.ns}-strict", w.ns)
    for v in strict["spec"]["variables"]:
        if v["name"] in ("clusterVip", "ingressVip"):
            v["schema"]["openAPIV3Schema"].update(format="ipv4", pattern=r"^10\.[0-9.]+$", maxLength=15)
    w.apply(strict, pool(f"{w.ns}-strict-cp", f"{w.ns}-strict", "control-plane", [f"{w.net}.40-{w.net}.49"]),
            pool(f"{w.ns}-strict-in", f"{w.ns}-strict", "ingress", [f"{w.net}.140-{w.net}.149"]))
    w.create_xr(w.new_xr("strict", f"{w.ns}-strict"))
    cluster = scenarios.converged(w, "strict", ingress=True)
    assert scenarios.variables(cluster)["clusterVip"] == f"{w.net}.40"
    topology_reconciled(w, "strict")


@STACK
@pytest.mark.composition_input({"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input",
                                "cluster": {"apiVersion": V1BETA2}})
def test_a_v1beta2_cluster_is_composed_and_served_as_v1beta1_through_capis_conversion(world):
    """The Input's cluster.apiVersion v1beta2 with an XR written in v1beta2's shape (topology.classRef):
    CAPI admits it, renders it, and serves it as v1beta1 too (its conversion webhook)."""
    w = world
    scenarios.platform(w, f"{w.ns}-cc", w.net)
    xr = w.new_xr("newest", f"{w.ns}-cc")
    topology = xr["spec"]["cluster"]["topology"]
    topology["classRef"] = {"name": topology.pop("class")}
    w.create_xr(xr)
    w.wait("the v1beta2 Cluster", lambda: w.kube.get(V1BETA2, "Cluster", "newest", w.ns))
    c2 = topology_reconciled(w, "newest")
    assert c2["spec"]["controlPlaneEndpoint"]["host"] == f"{w.net}.10"
    assert {v["name"]: v["value"] for v in c2["spec"]["topology"]["variables"]}["clusterVip"] == f"{w.net}.10"
    c1 = w.kube.get(CLUSTER_API, "Cluster", "newest", w.ns)  # through CAPI's /convert
    assert c1["spec"]["topology"]["class"] == f"{w.ns}-cc"
    assert c1["spec"]["controlPlaneEndpoint"] == {"host": f"{w.net}.10", "port": 6443}
    w.cluster_ready("newest")
    w.wait("the XR Ready", lambda: conditions_of(w.xr("newest")).get("Ready", {}).get("status") == "True")


@STACK
@pytest.mark.composition_input({"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input"})
def test_a_composition_moved_to_v1beta2_keeps_every_cluster_and_what_capi_rendered(world):
    """The Input's cluster.apiVersion changed from the default v1beta1 to v1beta2 under a converged XR (a new
    Composition revision, as a platform team moving before CAPI stops serving v1beta1): the same Cluster (its
    uid), no VIP moved, and nothing CAPI rendered from it changes (no rollout); the XR stays Synced and Ready."""
    from tests.e2e.world import composition

    w = world
    ready_xr(w, "moving")
    time.sleep(15)
    before = w.kube.get(V1BETA2, "Cluster", "moving", w.ns)
    rendered_before = still(w, "moving")
    w.kube.apply(composition(w.composition_name, {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input",
                                                  "cluster": {"apiVersion": V1BETA2}}))

    def moved():
        refs = (w.xr("moving").get("spec") or {}).get("crossplane", {}).get("resourceRefs") or []
        return any(r.get("kind") == "Cluster" and r.get("apiVersion") == V1BETA2 for r in refs)
    w.wait("the XR composing its Cluster as v1beta2", moved, timeout=120)
    time.sleep(30)  # reconciles at ttl.converged, each applying the v1beta2 Cluster
    after = w.kube.get(V1BETA2, "Cluster", "moving", w.ns)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["spec"]["controlPlaneEndpoint"] == before["spec"]["controlPlaneEndpoint"]
    assert after["spec"]["topology"] == before["spec"]["topology"]
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"]
    assert {k: v for k, v in still(w, "moving").items() if k != "Cluster"} == \
        {k: v for k, v in rendered_before.items() if k != "Cluster"}
    conditions = conditions_of(w.xr("moving"))
    assert conditions["Synced"]["status"] == "True" and conditions["Ready"]["status"] == "True", conditions
    REPORT.append(f"Cluster {w.ns}/moving after its Composition moved to v1beta2: generation "
                  f"{before['metadata']['generation']} -> {after['metadata']['generation']}, managers "
                  f"{field_managers(after, 'spec', 'controlPlaneEndpoint')}")


@STACK
def test_capi_renders_the_rke2_example_with_the_vip_in_tls_sans_registration_and_kube_vip(world):
    """examples/clusterclass-rke2-kube-vip.yaml through CAPI's topology controller, with the RKE2 and Proxmox
    providers' CRDs (their v1beta1 contract): the RKE2 control plane registers through the VIP, names it in
    its certificates and installs kube-vip with it; the Proxmox cluster serves on it."""
    w = world
    objs = examples("clusterclass-rke2-kube-vip.yaml")
    for d in objs:
        d["metadata"]["namespace"] = w.ns
    cls = objs[0]["metadata"]["name"]
    w.apply(*objs, pool(f"{cls}-cp", cls, "control-plane", [f"{w.net}.10-{w.net}.19"], gateway=f"{w.net}.1"),
            pool(f"{cls}-in", cls, "ingress", [f"{w.net}.100-{w.net}.109"], gateway=f"{w.net}.1"))
    xr = w.new_xr("rke2", cls)
    xr["spec"]["cluster"]["topology"].pop("variables")  # the example class defines only the VIPs
    xr["spec"]["cluster"]["topology"]["version"] = "v1.31.4+rke2r1"  # the RKE2 control plane's CRD wants an RKE2 release
    w.create_xr(xr)
    scenarios.converged(w, "rke2", ingress=True)
    vip = scenarios.variables(w.cluster("rke2"))["clusterVip"]
    topology_reconciled(w, "rke2")
    cp = rendered(w, "rke2", "controlPlaneRef")
    assert cp["kind"] == "RKE2ControlPlane"
    assert cp["spec"]["registrationAddress"] == vip
    assert vip in cp["spec"]["serverConfig"]["tlsSan"]
    (chart,) = [f for f in cp["spec"]["files"] if f["path"].endswith("kube-vip-apiserver.yaml")]
    values = yaml.safe_load(yaml.safe_load(chart["content"])["spec"]["valuesContent"])
    assert values["config"]["address"] == vip
    infra = rendered(w, "rke2", "infrastructureRef")
    assert infra["kind"] == "ProxmoxCluster" and infra["spec"]["controlPlaneEndpoint"] == {"host": vip, "port": 6443}
