"""One interface to two management clusters, so that a scenario script runs on both.

- ``StackWorld``: the real one (tests/e2e/stack.py), over the kubernetes client, with Cluster API's
  own controllers and webhooks. The test plays only the infrastructure provider's part (the
  infrastructure cluster ready, the control plane initialized on its version, the workload
  cluster's kubeconfig), from which CAPI computes the Cluster's conditions, and holds a Cluster's
  teardown with a finalizer on its infrastructure cluster.
- ``SimWorld``: tests/sim.py, with Crossplane v2.4's seeded runner, on simulated time. Its CAPI
  model is told not to provision or tear down on its own (the scenario plays the provider's part
  there too: the Cluster's conditions, a finalizer on the Cluster), so both worlds see the same
  Cluster lifecycle.

A scenario names objects within its own namespace and its own pools and ClusterClasses (the
real stack is shared by every test of a session), and waits for what it expects with
``world.wait``: a poll on the real stack, simulated time in the simulator. A wait that fails
says what it waited for and dumps the namespace's objects (and, on the real stack, the
components' logs).
"""

from __future__ import annotations

import base64
import copy
import heapq
import json
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
XR_API = "platform.example.org/v1alpha1"
XR_KIND = "WorkloadCluster"
CLUSTER_API = "cluster.x-k8s.io/v1beta1"
IPAM_API = "ipam.cluster.x-k8s.io/v1beta1"
POOL_API = "ipam.cluster.x-k8s.io/v1alpha2"
USAGE_API = "protection.crossplane.io/v1beta1"
DNS_API = "externaldns.k8s.io/v1alpha1"
CLASS_LABEL = "vip.capi.gorizond.io/cluster-class"
ROLE_LABEL = "vip.capi.gorizond.io/role"
INGRESS_ENABLED = "vip.capi.gorizond.io/ingress-enabled"
INGRESS_VIP = "vip.capi.gorizond.io/ingress-vip"
TEARDOWN = "e2e.test/capi-teardown"  # the infrastructure provider's teardown: on the VSphereCluster (stack), the Cluster (sim)
EXAMPLE_COMPOSITION = "workloadcluster-capi-vip"
KIND_API = {"WorkloadCluster": XR_API, "Cluster": CLUSTER_API, "ClusterClass": CLUSTER_API, "IPAddressClaim": IPAM_API,
            "IPAddress": IPAM_API, "Usage": USAGE_API, "GlobalInClusterIPPool": POOL_API, "InClusterIPPool": POOL_API,
            "DNSEndpoint": DNS_API, "VSphereCluster": "infrastructure.cluster.x-k8s.io/v1beta1",
            "KubeadmControlPlane": "controlplane.cluster.x-k8s.io/v1beta1"}
CLUSTER_SCOPED = {"GlobalInClusterIPPool"}


def examples(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((ROOT / "examples" / name).read_text()) if d]


def example_input() -> dict:
    (comp,) = examples("composition.yaml")
    (step,) = comp["spec"]["pipeline"]
    return step["input"]


def install_examples(stack) -> None:
    """The examples' XRD and Composition on a real stack, as the README installs them; waits until
    the XR kind is served."""
    from tests.e2e.kube import Kube
    from tests.e2e.stack import wait_for

    kube = Kube(stack.client)
    for obj in examples("definition.yaml") + examples("composition.yaml"):
        kube.apply(obj)

    def served() -> bool:
        xrd = kube.get("apiextensions.crossplane.io/v2", "CompositeResourceDefinition", "workloadclusters.platform.example.org")
        conds = {c["type"]: c["status"] for c in (xrd.get("status") or {}).get("conditions") or []}
        if conds.get("Established") != "True" or conds.get("Offered", "True") != "True":
            return False
        kube.resource(XR_API, XR_KIND)  # served, or NotFound
        return True

    wait_for("the XRD established and its kind served", served, timeout=180, proc=stack.procs["crossplane"])


def composition(name: str, inp: dict) -> dict:
    """The example Composition under another name, with another Input."""
    (comp,) = examples("composition.yaml")
    comp = copy.deepcopy(comp)
    comp["metadata"]["name"] = name
    comp["spec"]["pipeline"][0]["input"] = inp
    return comp


# --- builders ------------------------------------------------------------------------------


VSPHERE_API = "infrastructure.cluster.x-k8s.io/v1beta1"
KCP_API = "controlplane.cluster.x-k8s.io/v1beta1"


def cluster_class(name: str, namespace: str, variables=("clusterVip", "ingressVip")) -> dict:
    """A class defining the VIP variables given, and `cni`, which every XR here sets (CAPI's
    webhook refuses a variable the class does not define): kubeadm on vSphere, as the examples'
    (its templates: class_templates). No default for a VIP variable: CAPI's defaulting webhook
    adds a variable's default to every Cluster that lacks it."""
    variables = (*variables, "cni")
    arrays = {"serviceLbVips": {"type": "array", "items": {"type": "string"}}}
    return {"apiVersion": CLUSTER_API, "kind": "ClusterClass", "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "infrastructure": {"ref": {"apiVersion": VSPHERE_API, "kind": "VSphereClusterTemplate", "name": name}},
                "controlPlane": {
                    "ref": {"apiVersion": KCP_API, "kind": "KubeadmControlPlaneTemplate", "name": f"{name}-control-plane"},
                    "machineInfrastructure": {"ref": {"apiVersion": VSPHERE_API, "kind": "VSphereMachineTemplate",
                                                      "name": f"{name}-control-plane"}}},
                "variables": [{"name": v, "required": False, "schema": {"openAPIV3Schema": arrays.get(v, {"type": "string"})}}
                              for v in variables]}}


def class_templates(cc: dict) -> list[dict]:
    """The templates a ClusterClass of cluster_class() names, as small as their CRDs allow."""
    ns, spec = cc["metadata"]["namespace"], cc["spec"]
    infra, cp = spec["infrastructure"]["ref"], spec["controlPlane"]["ref"]
    machine = spec["controlPlane"]["machineInfrastructure"]["ref"]
    return [
        {"apiVersion": infra["apiVersion"], "kind": infra["kind"], "metadata": {"name": infra["name"], "namespace": ns},
         "spec": {"template": {"spec": {"server": "vcenter.example.org", "thumbprint": ""}}}},
        {"apiVersion": machine["apiVersion"], "kind": machine["kind"], "metadata": {"name": machine["name"], "namespace": ns},
         "spec": {"template": {"spec": {"template": "ubuntu-2404-kube-v1.31.0", "server": "vcenter.example.org",
                                        "network": {"devices": [{"networkName": "vm-network", "dhcp4": True}]}}}}},
        {"apiVersion": cp["apiVersion"], "kind": cp["kind"], "metadata": {"name": cp["name"], "namespace": ns},
         "spec": {"template": {"spec": {"kubeadmConfigSpec": {"files": []}}}}},
    ]


def pool(name: str, cls: str, role: str, addresses: list[str], *, prefix: int = 24, gateway: str | None = None,
         namespace: str | None = None, labelled: bool = True) -> dict:
    meta: dict = {"name": name}
    if labelled:
        meta["labels"] = {CLASS_LABEL: cls, ROLE_LABEL: role}
    if namespace:
        meta["namespace"] = namespace
    spec: dict = {"addresses": addresses, "prefix": prefix}
    if gateway:
        spec["gateway"] = gateway
    return {"apiVersion": POOL_API, "kind": "InClusterIPPool" if namespace else "GlobalInClusterIPPool", "metadata": meta,
            "spec": spec}


def workload_cluster(name: str, namespace: str, cls: str, *, annotations: dict | None = None, host: str | None = None,
                     composition_name: str = EXAMPLE_COMPOSITION) -> dict:
    cluster: dict = {"topology": {"class": cls, "version": "v1.31.0",
                                  "variables": [{"name": "cni", "value": "calico"}]}}
    if host:
        cluster["controlPlaneEndpoint"] = {"host": host}
    meta: dict = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": XR_API, "kind": XR_KIND, "metadata": meta,
            "spec": {"crossplane": {"compositionRef": {"name": composition_name}}, "cluster": cluster}}


def _transient() -> tuple[type[BaseException], ...]:
    """What a read may raise while the API server is just back: its errors, a dropped connection."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    return ApiException, urllib3.exceptions.HTTPError, OSError


TRANSIENT = _transient()


def conditions_of(obj: dict | None) -> dict[str, dict]:
    return {c["type"]: c for c in ((obj or {}).get("status") or {}).get("conditions") or []}


class WaitTimeout(AssertionError):
    pass


# --- the interface -------------------------------------------------------------------------


class World:
    """What a scenario may do and see. Names are in ``self.ns`` unless a namespace is given."""

    name = "world"
    ns: str
    composition_name = EXAMPLE_COMPOSITION
    namespaces: set  # every namespace the scenario used (shared by with_ns copies)
    cluster_scoped: list  # (kind, name) of every cluster-scoped object it applied

    # objects
    def apply(self, *objs: dict) -> None: raise NotImplementedError
    def get(self, kind: str, name: str, namespace: str | None = "") -> dict | None: raise NotImplementedError
    def list(self, kind: str, namespace: str | None = "") -> list[dict]: raise NotImplementedError
    def delete(self, kind: str, name: str, namespace: str | None = "") -> None: raise NotImplementedError

    # XRs
    def create_xr(self, xr: dict) -> None: raise NotImplementedError
    def edit_xr(self, name: str, *, annotations: dict | None = None, host: object = ...) -> None: raise NotImplementedError
    def delete_xr(self, name: str) -> None: raise NotImplementedError
    def events(self, name: str) -> list[tuple[str, str, str]]: raise NotImplementedError  # (type, reason, message)
    def dns_records(self) -> set[tuple[str, str, str]]: raise NotImplementedError  # what external-dns publishes
    def set_input(self, inp: dict) -> None: raise NotImplementedError  # the Composition's Input edited: a new revision
    # Of the XRs names, those not on the Composition's newest revision (the simulator has no revisions: every
    # reconcile after set_input runs the new Input).
    def off_latest_revision(self, names) -> list[str]: return []

    # the infrastructure provider's part (CAPI itself is real on the stack, modelled in the simulator)
    def cluster_ready(self, name: str) -> None: raise NotImplementedError
    # The providers' part of cluster_ready, written without waiting: False while the Cluster or what the topology
    # controller makes for it is not there yet.
    def provide(self, name: str) -> bool: raise NotImplementedError
    # The XR Ready, read from the XR and its Cluster as given (a list's items): the stack reads the XR's Ready
    # condition, the simulator (which computes no XR conditions) its Cluster's.
    def ready(self, xr: dict | None, cluster: dict | None) -> bool: raise NotImplementedError
    def add_teardown_finalizer(self, name: str) -> None: raise NotImplementedError
    def remove_teardown_finalizer(self, name: str) -> None: raise NotImplementedError

    # faults
    def kill_function(self) -> None: raise NotImplementedError
    def start_function(self) -> None: raise NotImplementedError
    def restart_crossplane(self) -> None: raise NotImplementedError
    # A fault: the component stopped (the function's port closed, the API server or etcd gone, a controller
    # not running), and started again as it was; start returns once it is ready again.
    def stop(self, component: str) -> None: raise NotImplementedError
    def restarts(self) -> list[tuple[str, str]]: return []  # (component, what happened): taken down with a fault, started again
    def synced(self, name: str, xr: dict | None) -> bool: raise NotImplementedError  # its last reconcile succeeded
    def violations(self) -> list[str]: return []  # properties broken at any moment (the simulator watches every write)
    def faults_over(self) -> None: pass  # from now on a component that exits is a failure again
    def start(self, component: str) -> None: raise NotImplementedError

    # what it cost
    def counters(self) -> dict:
        """XR reconciles, function calls and API requests ((verb, resource) -> n) so far."""
        raise NotImplementedError

    def settled(self, name: str) -> bool:
        """The XR's last reconcile changed nothing: Ready, as far as the world can tell."""
        raise NotImplementedError

    # time
    def now(self) -> float: raise NotImplementedError
    def pass_time(self, seconds: float) -> None: raise NotImplementedError
    unit = "s"  # of now()

    def wait(self, what: str, check, timeout: float = 180):
        """check() until it returns something true (an AssertionError counts as not yet), or fail
        after timeout with what the world holds."""
        end = self.now() + timeout
        last = None
        while True:
            try:
                got = check()
                if got:
                    return got
            except AssertionError as e:
                last = e
            if self.now() >= end:
                raise WaitTimeout(f"[{self.name}] waited {timeout:.0f} {self.unit} for {what}" + (f": {last}" if last else "")
                                  + f"\n\n{self.dump()}\n{self.diagnostics()}")
            self.pass_time(0.5)

    def diagnostics(self) -> str:
        """What else helps when a wait times out."""
        return ""
    def pause(self, seconds: float) -> None:
        """Let the world run for a while (a fault's duration, say)."""
        until = self.now() + seconds
        self.wait(f"{seconds:.0f} s to pass", lambda: self.now() >= until, seconds + 60)

    def new_xr(self, name: str, cls: str, **kw) -> dict:
        """An XR of the scenario's Composition in this namespace."""
        return workload_cluster(name, self.ns, cls, composition_name=self.composition_name, **kw)

    def with_ns(self, ns: str) -> "World":
        """The same world, in another namespace."""
        other = copy.copy(self)
        other.ns = ns
        self.namespaces.add(ns)
        return other
    def wait_gone(self, kind: str, name: str, timeout: float = 180) -> None:
        self.wait(f"{kind} {self.ns}/{name} to be gone", lambda: self.get(kind, name) is None, timeout)

    # reading helpers, the same on both
    def ns_of(self, kind: str, namespace: str | None) -> str | None:
        if kind in CLUSTER_SCOPED:
            return None
        return self.ns if namespace == "" else namespace

    def xr(self, name: str) -> dict | None:
        return self.get(XR_KIND, name)

    def vip(self, name: str) -> dict:
        return ((self.xr(name) or {}).get("status") or {}).get("vip") or {}

    def condition(self, name: str, typ: str) -> dict:
        return conditions_of(self.xr(name)).get(typ, {})

    def cluster(self, name: str) -> dict | None:
        return self.get("Cluster", name)

    def claims(self) -> dict[str, dict]:
        return {c["metadata"]["name"]: c for c in self.list("IPAddressClaim")}

    def addresses(self) -> dict[str, str]:
        """IPAddress name -> address, in the namespace."""
        return {a["metadata"]["name"]: a["spec"]["address"] for a in self.list("IPAddress")}

    def bound_address(self, claim: str) -> str | None:
        c = self.get("IPAddressClaim", claim)
        ref = ((c or {}).get("status") or {}).get("addressRef") or {}
        a = self.get("IPAddress", ref["name"]) if ref.get("name") else None
        return a["spec"]["address"] if a else None

    def pool_free(self, kind: str, name: str, namespace: str | None = None) -> int | None:
        p = self.get(kind, name, namespace)
        return (((p or {}).get("status") or {}).get("ipAddresses") or {}).get("free")

    def dump(self) -> str:
        out = []
        for kind in (XR_KIND, "Cluster", "IPAddressClaim", "IPAddress", "Usage", "DNSEndpoint"):
            for obj in self.list(kind):
                out.append(yaml.safe_dump(_trim(obj), sort_keys=False))
        for kind in ("GlobalInClusterIPPool", "InClusterIPPool"):
            for obj in self.list(kind, None):
                out.append(yaml.safe_dump({"kind": kind, "name": obj["metadata"]["name"],
                                           "namespace": obj["metadata"].get("namespace"),
                                           "status": obj.get("status")}, sort_keys=False))
        return "---\n".join(out)


def _trim(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    obj.get("metadata", {}).pop("managedFields", None)
    return obj


# --- the real stack ------------------------------------------------------------------------


class StackWorld(World):
    name = "stack"

    def __init__(self, stack, ns: str, composition_name: str = EXAMPLE_COMPOSITION) -> None:
        from tests.e2e.kube import Kube

        self.stack, self.ns, self.composition_name = stack, ns, composition_name
        self.kube = Kube(stack.client)
        self.namespaces, self.cluster_scoped = {ns}, []

    def apply(self, *objs: dict) -> None:
        """Apply objects; a ClusterClass with the templates it names (class_templates, unless given too),
        waited for until Cluster API has reconciled it (else its Clusters are admitted undefaulted)."""
        given = {(o["kind"], o["metadata"]["name"]) for o in objs}
        for obj in objs:
            obj = copy.deepcopy(obj)
            obj.pop("status", None)
            if obj["kind"] in CLUSTER_SCOPED:
                self.cluster_scoped.append((obj["kind"], obj["metadata"]["name"]))
            if obj["kind"] == "Namespace":
                self.namespaces.add(obj["metadata"]["name"])
            if obj["kind"] == "ClusterClass":
                for t in class_templates(obj):
                    if (t["kind"], t["metadata"]["name"]) not in given:
                        self.kube.apply(t)
            self.kube.apply(obj)
        for obj in objs:
            if obj["kind"] == "ClusterClass":
                self.class_reconciled(obj["metadata"]["name"], obj["metadata"].get("namespace") or self.ns)

    def class_reconciled(self, name: str, namespace: str) -> dict:
        """Wait until Cluster API has reconciled the ClusterClass: its templates found, its variables read."""
        def reconciled():
            cc = self.kube.get("cluster.x-k8s.io/v1beta2", "ClusterClass", name, namespace)
            status = (cc or {}).get("status") or {}
            ready = {c["type"]: c["status"] for c in status.get("conditions") or []}
            return cc and status.get("observedGeneration") == cc["metadata"]["generation"] \
                and ready.get("VariablesReady") == "True" and cc
        return self.wait(f"ClusterClass {namespace}/{name} reconciled by Cluster API", reconciled, timeout=60)

    def get(self, kind, name, namespace=""):
        return self.kube.get(KIND_API[kind], kind, name, self.ns_of(kind, namespace))

    def list(self, kind, namespace=""):
        return self.kube.list(KIND_API[kind], kind, self.ns_of(kind, namespace))

    def delete(self, kind, name, namespace=""):
        self.kube.delete(KIND_API[kind], kind, name, self.ns_of(kind, namespace))

    def create_xr(self, xr):
        self.apply(xr)

    def edit_xr(self, name, *, annotations=None, host=...):
        patch: dict = {}
        if annotations:
            patch["metadata"] = {"annotations": annotations}  # a None value removes the annotation
        if host is not ...:
            patch["spec"] = {"cluster": {"controlPlaneEndpoint": None if host is None else {"host": host}}}
        self.kube.patch(XR_API, XR_KIND, name, patch, self.ns)

    def delete_xr(self, name):
        self.kube.delete(XR_API, XR_KIND, name, self.ns)

    def events(self, name):
        items = self.kube.list("v1", "Event", self.ns)
        return [(e.get("type"), e.get("reason"), e.get("message", "")) for e in items
                if e["involvedObject"].get("kind") == XR_KIND and e["involvedObject"].get("name") == name]

    def _rendered(self, name: str, ref: str) -> tuple[str, str, str] | None:
        """(apiVersion, kind, name) of the object the topology controller made for the Cluster's ref."""
        cluster = self.cluster(name)
        r = ((cluster or {}).get("spec") or {}).get(ref) or {}
        return (r["apiVersion"], r["kind"], r["name"]) if r.get("name") else None

    def provide(self, name):
        infra, cp = self._rendered(name, "infrastructureRef"), self._rendered(name, "controlPlaneRef")
        if infra is None or cp is None:
            return False
        self.kube.apply({"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
                         "metadata": {"name": f"{name}-kubeconfig", "namespace": self.ns,
                                      "labels": {"cluster.x-k8s.io/cluster-name": name}},
                         "data": {"value": base64.b64encode(self.stack.embedded_kubeconfig("e2e").encode()).decode()}})
        self.kube.patch_status(infra[0], infra[1], infra[2], {"status": {"ready": True}}, self.ns)
        kcp = self.kube.get("controlplane.cluster.x-k8s.io/v1beta2", cp[1], cp[2], self.ns)
        # initialized, and on its version: no longer provisioning (CAPI's webhook refuses a version change until then)
        self.kube.patch_status("controlplane.cluster.x-k8s.io/v1beta2", cp[1], cp[2], {"status": {
            "initialization": {"controlPlaneInitialized": True}, "version": kcp["spec"]["version"]}}, self.ns)
        return True

    def ready(self, xr, cluster):
        return conditions_of(xr).get("Ready", {}).get("status") == "True"

    def cluster_ready(self, name):
        """The providers' part, as the kubeadm control-plane provider and an infrastructure provider write
        it once their machines are up: the infrastructure cluster ready, the control plane initialized and on
        its version, and the workload cluster's kubeconfig Secret, whose API server is played by the management
        cluster's own (Cluster API's remote connection probe then succeeds). Cluster API's core computes the
        Cluster's conditions from them: v1beta1 Ready; v1beta2 Available where the Cluster has no workers."""
        self.wait(f"the infrastructure cluster and control plane the topology controller made for {self.ns}/{name}",
                  lambda: self.provide(name))
        # v1beta1 Ready (the control plane and the infrastructure), and the remote connection probe through the
        # kubeconfig; v1beta2 Available also needs the workers, which no machine here gives (a Cluster with none has it)
        self.wait(f"Cluster {self.ns}/{name} Ready and connected, as Cluster API computes them", lambda: conditions_of(
            self.cluster(name)).get("Ready", {}).get("status") == "True" and conditions_of(self.kube.get(
                "cluster.x-k8s.io/v1beta2", "Cluster", name, self.ns)).get("RemoteConnectionProbe", {}).get("status") == "True",
            timeout=120)

    def _finalizers(self, name, change):
        """The infrastructure cluster's finalizers: a provider's teardown holds the Cluster's deletion there."""
        infra = self.wait("the infrastructure cluster the topology controller made", lambda: self._rendered(name, "infrastructureRef"))
        obj = self.kube.get(infra[0], infra[1], infra[2], self.ns)
        fins = change(list(obj["metadata"].get("finalizers") or []))
        # a merge patch replaces the list; resourceVersion makes it fail instead of racing
        self.kube.patch(infra[0], infra[1], infra[2], {"metadata": {
            "finalizers": fins, "resourceVersion": obj["metadata"]["resourceVersion"]}}, self.ns)

    def add_teardown_finalizer(self, name):
        self._finalizers(name, lambda f: f if TEARDOWN in f else [*f, TEARDOWN])

    def remove_teardown_finalizer(self, name):
        self._finalizers(name, lambda f: [x for x in f if x != TEARDOWN])

    def kill_function(self):
        self.stack.procs["function"].kill()

    def start_function(self):
        self.stack.procs["function"].start()
        self.stack.wait_function()

    def restart_crossplane(self):
        """SIGKILL, then `crossplane core start` again on the same ports (the webhook
        configuration and the function's endpoint name them)."""
        self.stack.restart_crossplane(kill=True)

    def stop(self, component):
        self.stack.kubelet = True  # what a fault takes down with it is restarted, as in a real cluster; told in restarts()
        self.stack.restarted = []
        self.stack.stop_component(component)

    def restarts(self):
        return list(self.stack.restarted)

    def faults_over(self):
        """Every component running again, its restart delay reset (a test that failed midway leaves none down for
        the next), and from now on a component that exits fails the next wait."""
        from tests.e2e.stack import KUBELET_BACKOFF

        self.stack.kubelet = False
        for name, proc in self.stack.procs.items():
            proc.backoff = KUBELET_BACKOFF[0]
            if not proc.running and (proc.stopped or name in self.stack.FAULTY or proc.exited_at is not None):
                if name in self.stack.FAULTY:
                    self.stack.start_component(name)
                else:
                    proc.start()

    def synced(self, name, xr):
        return conditions_of(xr).get("Synced", {}).get("status") == "True"

    def start(self, component):
        self.stack.start_component(component)

    def counters(self):
        from tests.e2e.metrics import parse, total

        crossplane, function, apiserver = (parse(self.stack.metrics(c)) for c in ("crossplane", "function", "kube-apiserver"))
        requests: dict = {}
        for labels, value in apiserver.get("apiserver_request_total", []):
            key = (labels.get("verb", ""), labels.get("resource", "") + (f"/{labels['subresource']}" if labels.get("subresource") else ""))
            requests[key] = requests.get(key, 0) + value
        return {"reconciles": total(crossplane, "controller_runtime_reconcile_total",
                                    controller="composite/workloadclusters.platform.example.org"),
                "calls": total(function, "function_capi_vip_run_function_duration_seconds_count"),
                "requests": requests, "by_user": self.audited()}

    def audited(self) -> dict:
        """Requests so far by (user, verb, resource), from the API server's audit log: who asked (a component's
        ServiceAccount named as the stack names the component: crossplane, ipam-provider, ...)."""
        names = {identity.user: user for user, (identity, _) in self.stack.rbac.items()}
        out: dict = {}
        for path in sorted(self.stack.logs.glob("audit*.log")):  # the API server rotates it at 100 MB
            for line in path.open():
                try:
                    e = json.loads(line)
                except ValueError:
                    continue  # the line being written
                if e.get("stage") != "ResponseComplete":
                    continue
                ref = e.get("objectRef") or {}
                resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
                user = e["user"]["username"]
                key = (names.get(user, user), e["verb"], resource)
                out[key] = out.get(key, 0) + 1
        return out

    def settled(self, name):
        return conditions_of(self.xr(name)).get("Ready", {}).get("status") == "True"

    def dns_records(self):
        return self.stack.dns_records()

    def set_input(self, inp):
        self.kube.apply(composition(self.composition_name, inp))

    def off_latest_revision(self, names):
        """Crossplane moves each XR to the Composition's newest revision (spec.crossplane.compositionRevisionRef)."""
        revisions = [r for r in self.kube.list("apiextensions.crossplane.io/v1", "CompositionRevision")
                     if (r["metadata"].get("labels") or {}).get("crossplane.io/composition-name") == self.composition_name]
        if not revisions:
            return list(names)
        newest = max(revisions, key=lambda r: r["spec"]["revision"])["metadata"]["name"]
        xrs = {x["metadata"]["name"]: x for x in self.list(XR_KIND)}
        return [n for n in names
                if (((xrs.get(n) or {}).get("spec") or {}).get("crossplane") or {}).get("compositionRevisionRef", {}).get("name") != newest]

    def now(self):
        return time.monotonic()

    def wait(self, what, check, timeout=180):
        self.stack.check()
        return super().wait(what, check, timeout)

    def pass_time(self, seconds):
        time.sleep(seconds)
        self.stack.check()  # a component that exited fails the wait at once

    def diagnostics(self):
        return self.logs()

    def logs(self) -> str:
        out = []
        for name in ("crossplane", "function", "ipam", "external-dns"):
            proc = self.stack.procs.get(name)
            if proc is None:
                continue
            lines = proc.log.read_text(errors="replace").splitlines()
            mine = [ln for ln in lines if self.ns in ln][-30:]
            out.append(f"--- {proc.log} (last lines naming {self.ns}):\n" + "\n".join(mine))
            out.append(f"--- {proc.log} (last 15 lines):\n" + "\n".join(lines[-15:]))
        return "\n".join(out)


# --- the simulator -------------------------------------------------------------------------


class Unreachable(ConnectionError):
    """A function call that waited for the connection and did not get it: tried again when the wait would end."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("function-capi-vip is unreachable")
        self.retry_after = retry_after


class SimWorld(World):
    name = "sim"

    def __init__(self, ns: str, inp: dict | None = None, seed: int = 0) -> None:
        from function import fn
        from tests.sim import Sim

        self.ns = ns
        self.namespaces, self.cluster_scoped = {ns}, []
        self.last: dict[str, object] = {}  # XR name -> the last response of its last call
        self.results: dict[str, list[tuple[str, str, str]]] = {}
        self.down = False
        self.frozen: set[str] = set()  # components stopped, during which nothing runs (see stop)
        self.down_at = self.reachable_at = 0.0  # when the function went down; when Crossplane reaches it again
        self.blocked: set = set()  # XRs whose function call waits for the connection (see transport)

        def transport(req):
            now = self.sim.clock.now
            if self.down or now < self.reachable_at:
                # Crossplane's function runner calls with waitForReady (internal/xfn/function_runner.go): the call
                # waits for the connection, until the reconcile's 2-minute timeout or the connection being back
                xr = req.observed.composite.resource
                self.blocked.add(self._key(XR_KIND, xr["metadata"]["name"]))
                raise Unreachable(120.0 if self.down else self.reachable_at - now)
            self.blocked.discard(self._key(XR_KIND, req.observed.composite.resource["metadata"]["name"]))
            rsp = fn.run(req, now=self.sim.clock.epoch())
            name = req.observed.composite.resource["metadata"]["name"]
            self.last[name] = rsp
            return rsp

        # provision and teardown never: the scenario plays the provider's part, as on the real stack
        self.sim = Sim(seed=seed, transport=transport, inp=inp, seeding=True, provision=1e9, teardown=0)
        # The IPAM provider as the real one ran in the fault suite (its log, the IPAM fault at 100 XRs, a loaded stack):
        # one worker; a claim bound in 0.55 s, one released in about 0.4 s, one read and left as it was in about 0.2 s;
        # and after a restart every claim queued again (sim.Ipam.one_worker)
        self.sim.ipam.one_worker(bind=0.55, release=0.4, read=0.2)
        after = self.sim.after_reconcile

        def after_reconcile(xr, state, desired):
            after(xr, state, desired)
            self._record(xr)

        self.sim.after_reconcile = after_reconcile
        # Crossplane's server-side applies of composed resources, by kind (its calls pass keep_spec)
        self.applies: dict[tuple[str, str], int] = {}
        apply = self.sim.api.apply

        def counted(obj, **kw):
            if "keep_spec" in kw:
                key = ("APPLY", obj["kind"].lower() + "s")  # the API server's verb for a server-side apply
                self.applies[key] = self.applies.get(key, 0) + 1
            return apply(obj, **kw)

        self.sim.api.apply = counted

    def _record(self, xr: dict) -> None:
        """What Crossplane does with the final answer of a reconcile: conditions on the XR, events."""
        from crossplane.function.proto.v1 import run_function_pb2 as fnv1

        name = xr["metadata"]["name"]
        rsp = self.last.get(name)
        if rsp is None:
            return
        status = xr.setdefault("status", {})
        kept = [c for c in status.get("conditions") or [] if c["type"] not in {c.type for c in rsp.conditions}]
        names = {fnv1.STATUS_CONDITION_TRUE: "True", fnv1.STATUS_CONDITION_FALSE: "False"}
        status["conditions"] = kept + [{"type": c.type, "status": names.get(c.status, "Unknown"), "reason": c.reason,
                                        "message": c.message} for c in rsp.conditions]
        severity = {fnv1.SEVERITY_NORMAL: "Normal", fnv1.SEVERITY_WARNING: "Warning", fnv1.SEVERITY_FATAL: "Warning"}
        self.results.setdefault(name, []).extend((severity.get(r.severity, "Normal"), r.reason, r.message) for r in rsp.results)

    def _key(self, kind, name, namespace=""):
        from tests.sim import key_of

        return key_of({"apiVersion": KIND_API[kind], "kind": kind,
                       "metadata": {"name": name, "namespace": self.ns_of(kind, namespace)}})

    def apply(self, *objs):
        for obj in objs:
            obj = copy.deepcopy(obj)
            obj.pop("status", None)
            if obj["kind"] in ("Namespace", "CompositeResourceDefinition", "Composition"):
                continue  # the simulator has every namespace, one XR kind, and the Input of its world
            self.sim.api.apply(obj)

    def get(self, kind, name, namespace=""):
        return self.sim.api.get(self._key(kind, name, namespace))

    def list(self, kind, namespace=""):
        ns = self.ns_of(kind, namespace)
        return [o for o in self.sim.api.of_kind(kind) if ns is None or o["metadata"].get("namespace") == ns]

    def delete(self, kind, name, namespace=""):
        self.sim.api.delete(self._key(kind, name, namespace), actor="user")

    def create_xr(self, xr):
        self.sim.crossplane.create_xr(xr)

    def edit_xr(self, name, *, annotations=None, host=...):
        xr = self.xr(name)
        meta = xr["metadata"]
        for k, v in (annotations or {}).items():
            if v is None:
                (meta.get("annotations") or {}).pop(k, None)
            else:
                meta.setdefault("annotations", {})[k] = v
        if host is not ...:
            if host is None:
                xr["spec"]["cluster"].pop("controlPlaneEndpoint", None)
            else:
                xr["spec"]["cluster"]["controlPlaneEndpoint"] = {"host": host}
        self.sim.crossplane.event(self._key(XR_KIND, name), "applied", xr)  # a watch event on the XR

    def delete_xr(self, name):
        self.sim.crossplane.delete_xr(self._key(XR_KIND, name))

    def events(self, name):
        return list(self.results.get(name, []))

    def dns_records(self):
        return {r for records in self.sim.external_dns.published.values() for r in records}

    def set_input(self, inp):
        # Crossplane moves every XR to the new Composition revision, which re-runs it.
        self.sim.crossplane.inp = inp
        for key in self.sim.crossplane.xrs:
            self.sim.crossplane.enqueue(key, 0.0)

    def provide(self, name):
        if self.sim.api.get(self._key("Cluster", name)) is None:
            return False
        self.cluster_ready(name)
        return True

    def ready(self, xr, cluster):
        return conditions_of(cluster).get("Ready", {}).get("status") == "True"

    def cluster_ready(self, name):
        key = self._key("Cluster", name)
        obj = self.sim.api.get(key)
        conditions = [c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] not in ("Ready", "TopologyReconciled")]
        conditions += [{"type": t, "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"} for t in ("Ready", "TopologyReconciled")]
        self.sim.api.update_status(key, {**(obj.get("status") or {}), "conditions": conditions})

    def add_teardown_finalizer(self, name):
        self.sim.api.add_finalizer(self._key("Cluster", name), TEARDOWN)

    def remove_teardown_finalizer(self, name):
        self.sim.api.remove_finalizer(self._key("Cluster", name), TEARDOWN)

    def kill_function(self):
        self.stop("function")

    def start_function(self):
        self.start("function")

    def restart_crossplane(self):
        """What a restart loses: the in-memory record of each XR's requirements (v2.4 seeds
        from it); on start every XR is reconciled."""
        for key, state in self.sim.crossplane.xrs.items():
            state.requirements = {}
            self.sim.crossplane.enqueue(key, 0.0)

    def synced(self, name, xr):
        key = self._key(XR_KIND, name)
        state = self.sim.crossplane.xrs.get(key)
        return state is not None and state.failures == 0 and key not in self.blocked

    def violations(self):
        return list(self.sim.violations)

    def stop(self, component):
        """The model of each fault: the function down, every call failing as a closed port does; IPAM not
        binding; the API server or etcd gone, so nothing reads or writes and every controller's work waits
        (``pass_time`` moves the clock, nothing runs); Crossplane stopped, nothing reconciled."""
        if component == "function":
            self.down, self.down_at = True, self.sim.clock.now
        elif component == "ipam":
            self.sim.ipam.set_up(False)
        elif component in ("kube-apiserver", "etcd", "crossplane"):
            self.frozen.add(component)
            self.frozen_at = self.sim.clock.now
        else:
            raise ValueError(f"no fault for {component}")

    IPAM_CACHE_BEHIND = 40.0  # seconds the IPAM provider's cache lags once the API server is back (sim.Ipam.lag)

    def start(self, component):
        """Back: what waited runs at once, in the order it was due (for Crossplane, a restart: see restart_crossplane).
        After the API server, the IPAM provider's cache lags it a while, and may give one address twice (sim.Ipam.lag)."""
        if component == "function":
            self.down = False
            self.reachable_at = self._reconnect(self.down_at, self.sim.clock.now)
            for key in self.blocked:  # a waiting call goes on the moment the connection is back
                state = self.sim.crossplane.xrs.get(key)
                if state is not None:
                    state.next_at = None
                    self.sim.crossplane.enqueue(key, self.reachable_at - self.sim.clock.now)
        elif component == "ipam":
            self.sim.ipam.set_up(True)
        else:
            self.frozen.discard(component)
            if component == "crossplane":
                self.restart_crossplane()
            else:
                self._failed_while_down()
            if component == "kube-apiserver":
                self.sim.ipam.lag(self.sim.clock.now + self.IPAM_CACHE_BEHIND)

    @staticmethod
    def _reconnect(down_at: float, now: float) -> float:
        """When Crossplane's gRPC connection to the function is up again: it redials on gRPC's connection backoff
        from the moment the function went away (1 s, times 1.6 after each failed dial, at most 120 s; jitter left
        out), and until that dial every call waits (waitForReady), the function back or not. The real stack showed
        it: the function unreachable for 2 minutes, the XRs converged a minute after it was back."""
        t, delay = down_at, 1.0
        while t < now:
            t += delay
            delay = min(delay * 1.6, 120.0)
        return t

    def _failed_while_down(self):
        """Every reconcile tried while the API server was away failed, and its next try backed off as after any
        failure: an XR due during the outage is tried again at the first of Crossplane's backoff steps after it
        (Crossplane.backoff), and every other controller's work (IPAM binding a claim, the garbage collector, Cluster
        API) at the first of controller-runtime's default steps (5 ms, doubled, at most 1,000 s). The real stack
        showed it: 30 s without the API server, and the new XRs converged 43 s after it was back, their claims'
        binding retried that late; the simulator had run all of it at once."""
        crossplane, clock, now = self.sim.crossplane, self.sim.clock, self.sim.clock.now
        for key, state in list(crossplane.xrs.items()):
            if state.next_at is not None and self.frozen_at <= state.next_at < now:
                t = state.next_at
                while t < now:
                    t += crossplane.backoff(state)
                state.next_at = None
                crossplane.enqueue(key, t - now)
        retimed = []
        for when, seq, action, args in clock._queue:
            if self.frozen_at <= when < now and getattr(action, "__func__", None) is not type(crossplane)._run:
                delay = 0.005
                while when < now:
                    when, delay = when + delay, min(delay * 2, 1000.0)
            retimed.append((when, seq, action, args))
        heapq.heapify(retimed)
        clock._queue[:] = retimed

    def counters(self):
        return {"reconciles": sum(s.reconciles for s in self.sim.crossplane.xrs.values()),
                "calls": self.sim.crossplane.calls,
                # each result of a final answer is an event Crossplane records
                "by_user": {("crossplane", "create", "events"): sum(len(r) for r in self.results.values())},
                "requests": {**self.applies, ("APPLY", "workloadclusters"): self.sim.crossplane.xr_applies // 2,
                             ("APPLY", "workloadclusters/status"): self.sim.crossplane.xr_applies // 2}}

    def settled(self, name):
        cluster = self.cluster(name)
        return bool(cluster) and conditions_of(cluster).get("Ready", {}).get("status") == "True"

    def now(self):
        return self.sim.clock.now

    unit = "simulated s"

    def pass_time(self, seconds):
        if self.frozen:
            self.sim.clock.now += seconds  # nothing runs; what was due runs once the component is back
            return
        self.sim.run_for(seconds)

    def diagnostics(self):
        return f"errors: {json.dumps(self.sim.crossplane.errors[-10:], indent=1)}"
