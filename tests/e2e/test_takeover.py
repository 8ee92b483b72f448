"""Taking over from the real capi-vip-allocator v0.7.1, on the real stack, by the README's steps.

The operator is built from its source (tools/peers.py) and run as its manifests run it, as its own
ServiceAccount with its own RBAC (tests/e2e/stack.py start_operator), on 20 Clusters of every state
it leaves: ordinary ones; a manual endpoint host it still made a control-plane claim for; a manual
ingress annotation (no ingress claim); ingress off on the Cluster; a class with no ingress pool (it
fails the whole reconcile: no claim, no endpoint); a class without clusterVip or ingressVip
(endpoint and annotation only); two GlobalInClusterIPPools of one role, of which it takes the first
by name. The class's patches read ingressVip, which the operator never writes, so the take-over
must leave what Cluster API rendered as it was. Then the README's migration, exactly
(`migrate`), and afterwards the operator started again by mistake.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e import scenarios
from tests.e2e.scenarios import variables
from tests.e2e.world import CLUSTER_API, INGRESS_ENABLED, INGRESS_VIP, KCP_API, XR_KIND, cluster_class, conditions_of, pool

pytestmark = [pytest.mark.peers, pytest.mark.parametrize("world", ["stack"], indirect=True)]

ROLE_LABEL = "vip.capi.gorizond.io/role"
KEPT = "vip.capi.gorizond.io/kept-variables"
RESOURCE_NAME = "crossplane.io/composition-resource-name"
SANS = "/spec/template/spec/kubeadmConfigSpec/clusterConfiguration/apiServer/certSANs/-"


def vip_class(name: str, ns: str, variables: tuple[str, ...]) -> list[dict]:
    """A kubeadm class whose control plane's certificate SANs carry each VIP variable it defines (default ""),
    where the variable has a value: a patch that reads ingressVip, which the operator never writes."""
    cc = cluster_class(name, ns, variables)
    for v in cc["spec"]["variables"]:
        if v["name"] in ("clusterVip", "ingressVip"):
            v["schema"]["openAPIV3Schema"]["default"] = ""
    cc["spec"]["patches"] = [
        {"name": f"{var}-in-sans", "enabledIf": f"{{{{ if .{var} }}}}true{{{{ end }}}}",
         "definitions": [{"selector": {"apiVersion": KCP_API, "kind": "KubeadmControlPlaneTemplate",
                                       "matchResources": {"controlPlane": True}},
                          "jsonPatches": [{"op": "add", "path": SANS, "valueFrom": {"variable": var}}]}]}
        for var in variables if var in ("clusterVip", "ingressVip")]
    kcp = {"apiVersion": KCP_API, "kind": "KubeadmControlPlaneTemplate", "metadata": {"name": f"{name}-control-plane", "namespace": ns},
           "spec": {"template": {"spec": {"kubeadmConfigSpec": {
               "files": [], "clusterConfiguration": {"apiServer": {"certSANs": ["localhost"]}}}}}}}
    return [kcp, cc]


def user_cluster(ns: str, name: str, cls: str, *, annotations: dict | None = None, host: str | None = None) -> dict:
    """A Cluster as its user wrote it before any VIP: the operator fills in the rest."""
    spec: dict = {"topology": {"class": cls, "version": "v1.31.0", "variables": [{"name": "cni", "value": "calico"}]}}
    if host:
        spec["controlPlaneEndpoint"] = {"host": host, "port": 6443}
    meta: dict = {"name": name, "namespace": ns, **({"annotations": annotations} if annotations else {})}
    return {"apiVersion": CLUSTER_API, "kind": "Cluster", "metadata": meta, "spec": spec}


def vips(cluster: dict) -> tuple:
    """What must not move: the endpoint, the VIP variables as the Cluster has them, the ingress annotation."""
    v = variables(cluster)
    return ((cluster["spec"].get("controlPlaneEndpoint") or {}).get("host"), v.get("clusterVip"), v.get("ingressVip"),
            (cluster["metadata"].get("annotations") or {}).get(INGRESS_VIP))


def rendered(w, name: str) -> dict:
    """What Cluster API's topology controller rendered for the Cluster: the control plane's spec, its machine
    template, the infrastructure cluster's spec. A changed one would roll out machines."""
    out = {}
    for ref in ("controlPlaneRef", "infrastructureRef"):
        api, kind, obj = w.wait(f"Cluster {w.ns}/{name}'s {ref}", lambda ref=ref: w._rendered(name, ref))
        out[kind] = w.kube.get(api, kind, obj, w.ns)["spec"]
    template = out["KubeadmControlPlane"]["machineTemplate"]
    machine = template.get("infrastructureRef") or template["spec"]["infrastructureRef"]  # v1beta1, v1beta2
    api = machine.get("apiVersion") or f"{machine['apiGroup']}/v1beta1"
    out["machine template"] = (machine["name"], w.kube.get(api, machine["kind"], machine["name"], w.ns)["spec"])
    return out


def migrate(w, names: list[str], *, stop_operator: bool = True) -> None:
    """The README's migration (Moving from capi-vip-allocator), step by step, as a user runs it."""
    # 1. Stop the operator.
    if stop_operator:
        w.stack.stop_operator()
    # 2. Release its owner references from the claims it made (those controlled by a Cluster), and name them and
    #    the Clusters as the XRs compose them.
    for claim in w.list("IPAddressClaim"):
        refs = claim["metadata"].get("ownerReferences") or []
        if claim["metadata"]["name"].endswith(tuple(f"-{n}" for n in names)) and refs and refs[0].get("kind") == "Cluster":
            role = claim["metadata"]["labels"][ROLE_LABEL]
            w.kube.patch(claim["apiVersion"], "IPAddressClaim", claim["metadata"]["name"], {"metadata": {
                "ownerReferences": None, "annotations": {RESOURCE_NAME: f"vip-claim-{role}"}}}, w.ns)
    for name in names:
        w.kube.patch(CLUSTER_API, "Cluster", name, {"metadata": {"annotations": {RESOURCE_NAME: "cluster"}}}, w.ns)
    # 3. One XR per Cluster.
    for name in names:
        w.create_xr(xr_for(w, w.cluster(name)))


def xr_for(w, cluster: dict) -> dict:
    """Step 3: the XR of a Cluster: its name and namespace, its spec without the endpoint, the VIP variables and what
    Cluster API filled in; a host of the user's own kept; the Cluster's ingress-enabled annotation, and an ingress VIP
    of the user's own, on the XR."""
    name = cluster["metadata"]["name"]
    spec = {k: v for k, v in cluster["spec"].items() if k not in ("controlPlaneEndpoint", "infrastructureRef", "controlPlaneRef")}
    topology = spec["topology"] = {k: v for k, v in spec["topology"].items() if k in ("class", "classNamespace", "version", "variables")}
    topology["variables"] = [v for v in topology.get("variables") or [] if v["name"] not in ("clusterVip", "ingressVip")]
    host = (cluster["spec"].get("controlPlaneEndpoint") or {}).get("host")
    if host and host != w.bound_address(f"vip-cp-{name}"):
        spec["controlPlaneEndpoint"] = cluster["spec"]["controlPlaneEndpoint"]  # a host of the user's own
    annotations = cluster["metadata"].get("annotations") or {}
    on_xr = {k: annotations[k] for k in (INGRESS_ENABLED,) if k in annotations}
    if annotations.get(INGRESS_VIP) and w.get("IPAddressClaim", f"vip-ingress-{name}") is None:
        on_xr[INGRESS_VIP] = annotations[INGRESS_VIP]  # an ingress VIP of the user's own
    xr = w.new_xr(name, topology["class"], annotations=on_xr or None)
    xr["spec"]["cluster"] = spec
    return xr


def controller(obj: dict) -> tuple | None:
    refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")]
    return (refs[0]["kind"], refs[0]["name"]) if refs else None


def warnings(w, name: str) -> list:
    return [e for e in w.events(name) if e[0] == "Warning"]


@pytest.fixture
def operator(world):
    """The operator's process is stopped after the test, whatever happened."""
    yield world.stack
    world.stack.stop_operator()


def test_the_real_operator_is_taken_over_without_a_vip_moving_or_a_machine_rolling_out(world, operator):
    w = world
    ns, net = w.ns, w.net
    a, b, d = f"{ns}-a", f"{ns}-b", f"{ns}-d"
    w.apply(*vip_class(a, ns, ("clusterVip", "ingressVip")), *vip_class(b, ns, ("clusterVip",)), *vip_class(d, ns, ()),
            # two control-plane pools of class a: the operator takes the first by name, the function's rule the one with more room
            pool(f"{a}-cp-1", a, "control-plane", [f"{net}.10-{net}.29"], gateway=f"{net}.1"),
            pool(f"{a}-cp-2", a, "control-plane", [f"{net}.30-{net}.69"], gateway=f"{net}.1"),
            pool(f"{a}-ingress", a, "ingress", [f"{net}.100-{net}.129"], gateway=f"{net}.1"),
            pool(f"{b}-cp", b, "control-plane", [f"{net}.140-{net}.149"], gateway=f"{net}.1"),  # and no ingress pool
            pool(f"{d}-cp", d, "control-plane", [f"{net}.150-{net}.159"], gateway=f"{net}.1"),
            pool(f"{d}-ingress", d, "ingress", [f"{net}.160-{net}.169"], gateway=f"{net}.1"))
    ordinary = [f"a{i}" for i in range(8)]
    mistaken = ["m0", "m1"]  # migrated later, with the operator left running
    manual_host = {"h0": f"{net}.250", "h1": f"{net}.251"}
    manual_ingress = {"c0": f"{net}.240", "c1": f"{net}.241"}
    ingress_off, no_ingress_pool, endpoint_only = ["f0", "f1"], ["b0", "b1"], ["d0", "d1"]
    w.stack.start_operator()
    w.apply(*(user_cluster(ns, n, a) for n in ordinary + mistaken),
            *(user_cluster(ns, n, a, host=h) for n, h in manual_host.items()),
            *(user_cluster(ns, n, a, annotations={INGRESS_VIP: v}) for n, v in manual_ingress.items()),
            *(user_cluster(ns, n, a, annotations={INGRESS_ENABLED: "false"}) for n in ingress_off),
            *(user_cluster(ns, n, b) for n in no_ingress_pool), *(user_cluster(ns, n, d) for n in endpoint_only))
    everyone = [*ordinary, *mistaken, *manual_host, *manual_ingress, *ingress_off, *no_ingress_pool, *endpoint_only]
    assert len(everyone) == 20

    def patched(n: str) -> bool:
        c = w.cluster(n)
        host, cluster_vip, _, annotation = vips(c)
        if n in manual_host:
            return bool(w.bound_address(f"vip-cp-{n}") and annotation and annotation == w.bound_address(f"vip-ingress-{n}"))
        cp = w.bound_address(f"vip-cp-{n}")
        if not cp or host != cp:
            return False
        if n in endpoint_only:
            return annotation == w.bound_address(f"vip-ingress-{n}") and not variables(c).get("clusterVip")
        return cluster_vip == cp and (n in [*manual_ingress, *ingress_off] or annotation == w.bound_address(f"vip-ingress-{n}"))

    provisioned = [n for n in everyone if n not in no_ingress_pool]
    w.wait("capi-vip-allocator to give the Clusters their endpoints", lambda: all(
        vips(w.cluster(n))[0] and w.bound_address(f"vip-cp-{n}") for n in provisioned), timeout=240)
    for n in provisioned:
        w.cluster_ready(n)  # the providers' part, played: CAPI's controllers compute the rest
    # Under a host of the user's own it stops after making the control-plane claim, without a requeue: the ingress
    # annotation waits for the Cluster's next event (here, CAPI's status writes above).
    w.wait("capi-vip-allocator to patch its Clusters", lambda: all(patched(n) for n in provisioned), timeout=240)
    # What the operator left, as its code says: checked, so the take-over below starts from the real thing.
    claims = w.claims()
    for n in no_ingress_pool:
        assert f"vip-cp-{n}" not in claims and f"vip-ingress-{n}" not in claims and not vips(w.cluster(n))[0]
    for n in manual_ingress:
        assert f"vip-ingress-{n}" not in claims
    for n in ordinary:
        assert claims[f"vip-cp-{n}"]["spec"]["poolRef"]["name"] == f"{a}-cp-1"  # the first pool by name
        assert variables(w.cluster(n))["ingressVip"] == ""  # never written: the class's default
        assert (w.cluster(n)["metadata"].get("labels") or {}).get(INGRESS_VIP) == vips(w.cluster(n))[3]
    for c in claims.values():
        assert controller(c)[0] == "Cluster" and c["metadata"]["labels"][ROLE_LABEL] in ("control-plane", "ingress")
        (ref,) = c["metadata"]["ownerReferences"]
        assert ref["blockOwnerDeletion"] is True
    managers = {m["manager"] for m in w.cluster(ordinary[0])["metadata"]["managedFields"]}
    assert "capi-vip-allocator" in managers, managers
    before = {n: vips(w.cluster(n)) for n in everyone}
    shown = {n: rendered(w, n) for n in everyone if n not in no_ingress_pool}
    uids = {name: c["metadata"]["uid"] for name, c in claims.items()}
    addresses = w.addresses()

    # The README's migration, for all but the two left for the mistake below.
    migrating = [n for n in everyone if n not in mistaken]
    migrate(w, migrating)
    for n in no_ingress_pool:  # the operator gave them nothing: the XR allocates, then CAPI provisions
        w.wait(f"Cluster {ns}/{n} given its endpoint", lambda n=n: vips(w.cluster(n))[0])
        w.cluster_ready(n)
    for n in migrating:
        w.wait(f"XR {n} Ready", lambda n=n: w.settled(n), timeout=240)

    for n in migrating:
        cluster = w.cluster(n)
        assert controller(cluster) == (XR_KIND, n)
        assert conditions_of(w.xr(n))["Synced"]["status"] == "True", (n, conditions_of(w.xr(n))["Synced"])
        assert not warnings(w, n), (n, w.events(n))
        if n in no_ingress_pool:
            host = vips(cluster)[0]
            assert host.startswith(f"{net}.14") and variables(cluster)["clusterVip"] == host
            assert KEPT not in (cluster["metadata"].get("annotations") or {})
            continue
        assert vips(cluster) == before[n], n  # no VIP moved, no variable added
        assert rendered(w, n) == shown[n], f"Cluster API rendered {n} anew: its machines would roll out"
    kept = {n: (w.cluster(n)["metadata"].get("annotations") or {}).get(KEPT) for n in migrating}
    assert {n: kept[n] for n in ordinary + list(manual_ingress) + ingress_off} == dict.fromkeys(ordinary + list(manual_ingress) + ingress_off, "ingressVip")
    assert {n: kept[n] for n in [*manual_host, *endpoint_only]} == dict.fromkeys([*manual_host, *endpoint_only], "clusterVip,ingressVip")
    for n in manual_host:  # the host is the user's: the claim the operator made anyway is released, its address freed
        assert w.vip(n)["controlPlaneSource"] == "Manual"
        w.wait_gone("IPAddressClaim", f"vip-cp-{n}")
    for n in endpoint_only:
        assert {c: conditions_of(w.xr(n))[c]["status"] for c in ("ControlPlaneVIPReady", "IngressVIPReady")} == \
            {"ControlPlaneVIPReady": "True", "IngressVIPReady": "True"}
    released = {f"vip-cp-{n}" for n in manual_host}
    new = {f"vip-cp-{n}" for n in no_ingress_pool}
    after = {name: c["metadata"]["uid"] for name, c in w.claims().items()}
    assert {k: v for k, v in after.items() if k not in new} == {k: v for k, v in uids.items() if k not in released}
    assert set(after) - set(uids) == new
    now = w.addresses()
    assert {k: v for k, v in now.items() if k not in new} == {k: v for k, v in addresses.items() if k not in released}
    # New XRs follow the function's rule: the pool with more room, not the operator's first by name.
    w.create_xr(w.new_xr("fresh", a))
    assert scenarios.converged(w, "fresh", ingress=True)["spec"]["controlPlaneEndpoint"]["host"].startswith(f"{net}.30")

    # The operator started again by mistake, and two Clusters migrated while it runs: it makes a claim for the manual
    # host again, and may put its owner reference back on a claim. Each XR concerned says what to do; nothing is lost.
    w.stack.start_operator()
    migrate(w, mistaken, stop_operator=False)

    def fatal(n: str) -> str | None:
        c = conditions_of(w.xr(n)).get("Synced", {})
        return c.get("message") if c.get("status") == "False" else None

    w.wait("the claims capi-vip-allocator makes again for the manual hosts", lambda: all(
        w.get("IPAddressClaim", f"vip-cp-{n}") for n in manual_host))
    w.wait("the XRs of the manual hosts to say what to do", lambda: all(fatal(n) for n in manual_host))
    # What the messages say, done: the operator stopped, then each command, once per claim. Whether the operator put
    # its owner reference back on a mistaken XR's claim is a race (it cannot once the XR composes the claim), and a
    # message names one claim at a time: so the messages are followed until every XR concerned is Ready.
    w.stack.stop_operator()
    followed: dict[str, str] = {}

    def follow_the_messages() -> bool:
        for n in [*manual_host, *mistaken]:
            message = fatal(n)
            if not message:
                continue
            assert "capi-vip-allocator" in message and "stop the operator" in message, message
            ((namespace, claim, patch),) = re.findall(r"kubectl -n (\S+) patch ipaddressclaim (\S+) --type=merge -p '(.*)'", message)
            assert namespace == ns
            if claim not in followed:  # a message not yet read anew after its command was run
                w.kube.patch("ipam.cluster.x-k8s.io/v1beta1", "IPAddressClaim", claim, json.loads(patch), ns)
                followed[claim] = n
        return all(w.settled(n) for n in [*manual_host, *mistaken])

    w.wait("the XRs concerned Ready, each message followed", follow_the_messages, timeout=300)
    assert {f"vip-cp-{n}" for n in manual_host} <= set(followed), followed
    for n in migrating:
        w.wait(f"XR {n} Ready", lambda n=n: w.settled(n), timeout=240)
    for n in manual_host:
        w.wait_gone("IPAddressClaim", f"vip-cp-{n}")
    for n in [*everyone]:
        if n not in no_ingress_pool:
            assert vips(w.cluster(n)) == before[n], n
            assert rendered(w, n) == shown[n], n
    for n in mistaken:
        assert controller(w.cluster(n)) == (XR_KIND, n)
        assert {c: w.get("IPAddressClaim", c)["metadata"]["uid"] for c in (f"vip-cp-{n}", f"vip-ingress-{n}")} == \
            {c: uids[c] for c in (f"vip-cp-{n}", f"vip-ingress-{n}")}
    assert {k: v for k, v in w.addresses().items() if k not in new and not k.startswith("vip-cp-fresh") and
            not k.startswith("vip-ingress-fresh")} == {k: v for k, v in addresses.items() if k not in released}
