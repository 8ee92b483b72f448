"""Test support: object builders, a model of Crossplane's function loop, and a tiny management cluster.

``Crossplane.reconcile`` models one composite reconcile as Crossplane v1.15+/v2 does it:

- call the function with the observed XR and composed resources;
- while the response asks for resources, fetch them from the store (by name, or by
  labels where an empty map matches every object; v2.2+ honours the namespace,
  older Crossplane reads ``requirements.extra_resources`` and its v1 selector has no
  namespace) and call again, until the requirements stop changing, at most 6 calls;
- a Fatal result applies nothing; otherwise desired composed resources are applied
  and every observed composed resource missing from the response is deleted.

``Ipam`` binds claims like the in-cluster provider (lowest free address; the
IPAddress named as its claim). Every composed object is validated against the
real CRDs before it is applied.
"""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
from collections.abc import Callable

from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from google.protobuf import json_format, struct_pb2

from function import fn
from tests import crds
from tests.sim import pool_addresses, rfc3339, run_function

IPAM_GROUP = "ipam.cluster.x-k8s.io"
CLASS_LABEL = "vip.capi.gorizond.io/cluster-class"
ROLE_LABEL = "vip.capi.gorizond.io/role"
CP_CLAIM = "vip-claim-control-plane"
INGRESS_CLAIM = "vip-claim-ingress"

# --- builders -----------------------------------------------------------------


def xr(name="c1", namespace="team-a", cls="cc", *, annotations=None, cluster=None, version="v1.31.0", **topology):
    spec_cluster = cluster if cluster is not None else {"topology": {"class": cls, "version": version, **topology}}
    meta = {"name": name, "uid": "0a1b", "generation": 3}
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "platform.example.org/v1alpha1",
        "kind": "WorkloadCluster",
        "metadata": meta,
        "spec": {"cluster": spec_cluster},
    }


def pool(name, cls="cc", role="control-plane", *, kind="GlobalInClusterIPPool", namespace=None, free=None,
         total=None, addresses=("10.0.0.10-10.0.0.20",), prefix=24, gateway="10.0.0.1", listed=None, labels=None):
    meta: dict = {"name": name, "labels": labels if labels is not None else {CLASS_LABEL: cls, ROLE_LABEL: role}}
    if listed is not None:
        meta["labels"][CLASS_LABEL] = "true"
        meta["annotations"] = {CLASS_LABEL: listed}
    if namespace:
        meta["namespace"] = namespace
    obj = {
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2",
        "kind": kind,
        "metadata": meta,
        "spec": {"addresses": list(addresses), "prefix": prefix, "gateway": gateway},
    }
    if free is not None:
        obj["status"] = {"ipAddresses": {"free": free, "total": total if total is not None else free, "used": 0, "outOfRange": 0}}
    return obj


def cluster_class(name="cc", namespace="team-a", variables=("clusterVip", "ingressVip"), *, in_status=False,
                  api_version="cluster.x-k8s.io/v1beta1"):
    defs = [{"name": v, "required": False, "schema": {"openAPIV3Schema": {"type": "string", "default": ""}}} for v in variables]
    obj = {"apiVersion": api_version, "kind": "ClusterClass", "metadata": {"name": name, "namespace": namespace}, "spec": {}}
    if in_status:
        obj["status"] = {"variables": [{"name": v, "definitions": [{"from": "inline", "required": False, "schema": d["schema"]}]} for v, d in zip(variables, defs)]}
    else:
        obj["spec"]["variables"] = defs
    return obj


def ip_address(name, address, namespace="team-a", pool_name="cp-pool", kind="GlobalInClusterIPPool"):
    return {
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta1",
        "kind": "IPAddress",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"address": address, "prefix": 24, "gateway": "10.0.0.1", "claimRef": {"name": name},
                 "poolRef": {"apiGroup": IPAM_GROUP, "kind": kind, "name": pool_name}},
    }


def observed_claim(name, namespace="team-a", pool_name="cp-pool", *, kind="GlobalInClusterIPPool", bound=True,
                   role="control-plane", api_group=IPAM_GROUP):
    obj = {
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta1",
        "kind": "IPAddressClaim",
        "metadata": _server_meta(name, namespace, {ROLE_LABEL: role}),
        "spec": {"poolRef": {"apiGroup": api_group, "kind": kind, "name": pool_name}},
    }
    if bound:
        obj["status"] = {"addressRef": {"name": name}}
    return obj


def observed_cluster(name="c1", namespace="team-a", host="10.0.0.10", port=6443, *, variables=None, ingress=None,
                     ready=False, cls="cc", api_version="cluster.x-k8s.io/v1beta1", reconciled=None):
    """An observed Cluster. ``reconciled``: its TopologyReconciled condition (True/False), absent if None."""
    annotations = {"vip.capi.gorizond.io/ingress-vip": ingress} if ingress else {}
    if variables is None:
        variables = {"clusterVip": host} if host else {}
    topology = {"class": cls, "version": "v1.31.0", "variables": [{"name": k, "value": v} for k, v in variables.items()]}
    if api_version.endswith("v1beta2"):
        topology["classRef"] = {"name": topology.pop("class")}
    spec: dict = {
        "topology": topology,
        # What CAPI's topology controller fills in; the function must never copy it.
        "infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "DockerCluster", "name": f"{name}-x"},
        "controlPlaneRef": {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "KubeadmControlPlane", "name": f"{name}-y"},
    }
    if host:
        spec["controlPlaneEndpoint"] = {"host": host, "port": port}
    condition = {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    if api_version.endswith("v1beta2"):
        spec["infrastructureRef"] = {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "DockerCluster", "name": f"{name}-x"}
        spec["controlPlaneRef"] = {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": "KubeadmControlPlane", "name": f"{name}-y"}
        condition.update(type="Available", reason="Available" if ready else "NotAvailable", message="")
    conditions = [condition]
    if reconciled is not None:
        conditions.append({"type": "TopologyReconciled", "status": str(bool(reconciled)),
                           "reason": "ReconcileSucceeded" if reconciled else "TopologyReconcileFailed",
                           "lastTransitionTime": "2026-01-01T00:00:00Z"})
    return {
        "apiVersion": api_version,
        "kind": "Cluster",
        "metadata": _server_meta(name, namespace, {}, annotations),
        "spec": spec,
        "status": {"conditions": conditions},
    }


def _server_meta(name, namespace, labels, annotations=None):
    meta = {
        "name": name,
        "namespace": namespace,
        "uid": "7c0f",
        "resourceVersion": "4711",
        "generation": 2,
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "managedFields": [{"manager": "apiextensions.crossplane.io/composed", "operation": "Apply"}],
        "labels": {**labels, "crossplane.io/composite": "c1"},
        "ownerReferences": [{"apiVersion": "platform.example.org/v1alpha1", "kind": "WorkloadCluster", "name": "c1", "uid": "0a1b"}],
    }
    if annotations:
        meta["annotations"] = annotations
    return meta


# --- requests and responses ------------------------------------------------------


def to_struct(d: dict) -> struct_pb2.Struct:
    return json_format.ParseDict(d, struct_pb2.Struct())


def to_dict(s: struct_pb2.Struct) -> dict:
    return json_format.MessageToDict(s, preserving_proto_field_name=True)


def request(composite: dict, observed: dict[str, dict] | None = None, *, inp: dict | None = None,
            modern: bool = True, fetched: dict[str, list[dict]] | None = None, tag: str = "t") -> fnv1.RunFunctionRequest:
    req = fnv1.RunFunctionRequest(meta=fnv1.RequestMeta(tag=tag))
    if modern:
        req.meta.capabilities.extend([fnv1.CAPABILITY_CAPABILITIES, fnv1.CAPABILITY_REQUIRED_RESOURCES, fnv1.CAPABILITY_CONDITIONS])
    req.observed.composite.resource.CopyFrom(to_struct(composite))
    for name, obj in (observed or {}).items():
        req.observed.resources[name].resource.CopyFrom(to_struct(obj))
    if inp is not None:
        req.input.CopyFrom(to_struct(inp))
    for name, items in (fetched or {}).items():
        target = req.required_resources if modern else req.extra_resources
        target[name].SetInParent()
        for obj in items:
            target[name].items.add().resource.CopyFrom(to_struct(obj))
    return req


@dataclasses.dataclass
class Outcome:
    """A response, as plain data a test can read."""

    rsp: fnv1.RunFunctionResponse
    calls: int = 1

    @property
    def fatal(self) -> str | None:
        return next((r.message for r in self.rsp.results if r.severity == fnv1.SEVERITY_FATAL), None)

    @property
    def desired(self) -> dict[str, dict]:
        return {name: to_dict(r.resource) for name, r in self.rsp.desired.resources.items()}

    @property
    def ready(self) -> dict[str, bool]:
        return {name: r.ready == fnv1.READY_TRUE for name, r in self.rsp.desired.resources.items()}

    @property
    def cluster(self) -> dict | None:
        return self.desired.get("cluster")

    @property
    def warnings(self) -> list[tuple[str, str]]:
        return [(r.reason, r.message) for r in self.rsp.results if r.severity == fnv1.SEVERITY_WARNING]

    @property
    def normals(self) -> list[tuple[str, str]]:
        return [(r.reason, r.message) for r in self.rsp.results if r.severity == fnv1.SEVERITY_NORMAL]

    @property
    def conditions(self) -> dict[str, tuple[bool, str, str]]:
        return {c.type: (c.status == fnv1.STATUS_CONDITION_TRUE, c.reason, c.message) for c in self.rsp.conditions}

    def reason(self, typ: str) -> str:
        return self.conditions[typ][1]

    @property
    def status(self) -> dict:
        return to_dict(self.rsp.desired.composite.resource).get("status", {}).get("vip", {})

    @property
    def ttl(self) -> float:
        return self.rsp.meta.ttl.ToTimedelta().total_seconds()

    @property
    def requirements(self) -> dict[str, fnv1.ResourceSelector]:
        return {**dict(self.rsp.requirements.extra_resources), **dict(self.rsp.requirements.resources)}


# --- Crossplane's loop -----------------------------------------------------------

Transport = Callable[[fnv1.RunFunctionRequest], fnv1.RunFunctionResponse]


def _matches(obj: dict, sel: fnv1.ResourceSelector, *, honour_namespace: bool) -> bool:
    if obj.get("apiVersion") != sel.api_version or obj.get("kind") != sel.kind:
        return False
    meta = obj.get("metadata") or {}
    if honour_namespace and sel.HasField("namespace") and meta.get("namespace") != sel.namespace:
        return False
    which = sel.WhichOneof("match")
    if which == "match_name":
        return meta.get("name") == sel.match_name
    if which == "match_labels":
        labels = meta.get("labels") or {}
        return all(labels.get(k) == v for k, v in sel.match_labels.labels.items())
    raise AssertionError(f"selector without match: {sel}")


def fetch(store: list[dict], sel: fnv1.ResourceSelector, *, modern: bool) -> list[dict]:
    """What Crossplane returns for one selector."""
    if not modern and sel.WhichOneof("match") == "match_name":
        # v1: a by-name Get of a namespaced kind with no namespace fails the reconcile.
        namespaced = any((o.get("metadata") or {}).get("namespace") for o in store if o.get("kind") == sel.kind)
        if namespaced or sel.kind in ("ClusterClass", "IPAddress", "InClusterIPPool", "IPAddressClaim"):
            raise AssertionError(f"legacy Crossplane cannot fetch namespaced {sel.kind} by name: {sel}")
    return [copy.deepcopy(o) for o in store if _matches(o, sel, honour_namespace=modern)]


def run(composite: dict, observed: dict[str, dict] | None = None, store: list[dict] | None = None, *,
        inp: dict | None = None, modern: bool = True, transport: Transport = fn.run,
        drop: set[str] | None = None, seeded: dict[str, fnv1.ResourceSelector] | None = None) -> Outcome:
    """One reconcile's function calls, as Crossplane makes them (tests/sim.py run_function).

    ``drop``: requirements left unanswered; ``seeded``: the last reconcile's requirements, sent
    with the first call as Crossplane v2.4+ does.
    """
    store = store or []
    if modern:
        original = transport

        def transport(req):
            rsp = original(req)
            assert not rsp.requirements.extra_resources, "modern Crossplane was asked on the deprecated field"
            return rsp

    req = request(composite, observed, inp=inp, modern=modern)
    try:
        rsp, calls = run_function(transport, req, lambda sel: fetch(store, sel, modern=modern), modern=modern,
                                  seeded=seeded, drop=drop or frozenset())
    except RuntimeError as e:
        raise AssertionError("requirements did not stabilise within 6 calls") from e
    out = Outcome(rsp, calls=calls)
    if not out.fatal:
        for obj in out.desired.values():
            crds.assert_valid(obj)
    return out


# --- a management cluster --------------------------------------------------------


def _key(obj: dict) -> tuple:
    meta = obj["metadata"]
    return (obj["apiVersion"].rpartition("/")[0], obj["kind"], meta.get("namespace"), meta["name"])


@dataclasses.dataclass
class World:
    """Objects in a management cluster, a composite's composed resources, and an in-cluster IPAM."""

    store: dict[tuple, dict] = dataclasses.field(default_factory=dict)
    composed: dict[str, dict[str, tuple]] = dataclasses.field(default_factory=dict)  # xr -> resource name -> key
    ipam_up: bool = True
    inp: dict | None = None
    modern: bool = True
    transport: Transport = fn.run
    deleted: list[tuple] = dataclasses.field(default_factory=list)
    now: float = 0.0  # seconds; each reconcile is one second later (creationTimestamp of what it creates)
    seeding: bool = False  # Crossplane v2.4+: each reconcile starts from the last one's requirements
    requirements: dict[str, dict] = dataclasses.field(default_factory=dict)  # xr -> its last requirements
    # Server-side apply: the labels and annotations Crossplane's field manager last applied, per object. One it
    # applied before and leaves out now is removed; one another manager set (an operator, a hand edit) stays.
    applied_meta: dict[tuple, dict[str, set]] = dataclasses.field(default_factory=dict)

    def add(self, *objs: dict) -> None:
        for o in objs:
            self.store[_key(o)] = copy.deepcopy(o)

    def remove(self, obj: dict) -> None:
        self.store.pop(_key(obj), None)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        return next((o for k, o in self.store.items() if k[1] == kind and k[3] == name and k[2] == namespace), None)

    def of_kind(self, kind: str) -> list[dict]:
        return [o for k, o in self.store.items() if k[1] == kind]

    def reconcile(self, composite: dict, **kw) -> Outcome:
        self.now += 1.0
        name = composite["metadata"]["name"]
        refs = self.composed.setdefault(name, {})
        observed = {rn: copy.deepcopy(self.store[key]) for rn, key in refs.items() if key in self.store}
        seeded = self.requirements.get(name) if self.seeding else None
        out = run(composite, observed, list(self.store.values()), inp=self.inp, modern=self.modern,
                  transport=self.transport, seeded=seeded, **kw)
        if out.fatal:
            return out
        self.requirements[name] = dict(out.rsp.requirements.resources if self.modern else out.rsp.requirements.extra_resources)
        desired = out.desired
        for rn, key in list(refs.items()):
            if rn not in desired:
                self.deleted.append(key)
                self.store.pop(key, None)
                del refs[rn]
                if key[1] == "IPAddressClaim":  # the provider frees the address with its claim
                    self.store.pop((IPAM_GROUP, "IPAddress", key[2], key[3]), None)
        for rn, obj in desired.items():
            key = refs.get(rn) or _key(obj)
            current = self.store.get(key)
            merged = copy.deepcopy(obj)
            if current is not None:
                merged["metadata"] = {**current["metadata"], **obj["metadata"]}
                for field in ("labels", "annotations"):
                    before = self.applied_meta.get(key, {}).get(field, set())
                    kept = {k: v for k, v in (current["metadata"].get(field) or {}).items() if k not in before}
                    values = {**kept, **(obj["metadata"].get(field) or {})}
                    if values:
                        merged["metadata"][field] = values
                    else:
                        merged["metadata"].pop(field, None)
                if "status" in current:
                    merged["status"] = current["status"]
            else:
                merged["metadata"]["creationTimestamp"] = rfc3339(self.now)
            self.store[key] = merged
            self.applied_meta[key] = {f: set(obj["metadata"].get(f) or {}) for f in ("labels", "annotations")}
            refs[rn] = key
        return out

    def converge_ipam(self) -> None:
        """The in-cluster provider: bind every pending claim it serves, lowest free address first."""
        if not self.ipam_up:
            return
        for claim in self.of_kind("IPAddressClaim"):
            if (claim.get("status") or {}).get("addressRef"):
                continue
            ref = claim["spec"]["poolRef"]
            if ref.get("apiGroup") != IPAM_GROUP or claim["spec"].get("clusterName"):
                continue
            ns = claim["metadata"]["namespace"]
            p = self.get(ref["kind"], ref["name"], ns if ref["kind"] == "InClusterIPPool" else None)
            if p is None:
                continue
            free = self._free(p)
            if not free:
                continue
            self.add(ip_address(claim["metadata"]["name"], str(free[0]), ns, p["metadata"]["name"], p["kind"]))
            claim["status"] = {"addressRef": {"name": claim["metadata"]["name"]}}
        for p in self.of_kind("GlobalInClusterIPPool") + self.of_kind("InClusterIPPool"):
            total = len(pool_addresses(p))
            free = len(self._free(p))
            p["status"] = {"ipAddresses": {"total": total, "used": total - free, "free": free, "outOfRange": 0}}

    def _free(self, p: dict) -> list:
        ns = p["metadata"].get("namespace")
        used = {
            ipaddress.ip_address(a["spec"]["address"])
            for a in self.of_kind("IPAddress")
            if (a["spec"]["poolRef"]["name"], a["spec"]["poolRef"]["kind"]) == (p["metadata"]["name"], p["kind"])
            and (ns is None or a["metadata"]["namespace"] == ns)
        }
        return [a for a in pool_addresses(p) if a not in used]

    def settle(self, composite: dict, rounds: int = 4) -> list[Outcome]:
        """Reconcile and let IPAM answer, several rounds."""
        outs = []
        for _ in range(rounds):
            outs.append(self.reconcile(composite))
            self.converge_ipam()
        return outs

