"""A management cluster on simulated time: Crossplane, the in-cluster IPAM provider and CAPI.

Nothing here runs a real controller; each rule models one upstream behaviour and
says which. Time is a clock and an event queue, so thousands of clusters run in
seconds and a run is reproducible from its seed.

- ``Api``: the API server. Objects by (group, kind, namespace, name); finalizers
  and deletionTimestamp; admission hooks (CAPI's Cluster webhook, Crossplane's
  Usage webhook); watches.
- ``Crossplane``: the composite reconciler. Calls the function (in-process or over
  gRPC), satisfies requirements (at most 6 calls, until they stop changing),
  applies nothing on a Fatal result, deletes every observed composed resource a
  successful response leaves out, then applies the desired ones; requeues after
  the response TTL and at once when a composed resource changes (realtime
  compositions); from v2.4 (``seeding``) also when an object its last requirements name or select
  changes; deletes composed resources when the XR is deleted. With ``breaker``, v2.4's per-XR watch
  circuit breaker: each watch event of an XR (a create or delete 1 token, an update 2: Crossplane maps
  the old and the new object and counts each) comes out of a bucket of ``burst`` tokens refilled at
  ``refill`` a second; empty, the breaker opens for ``cooldown`` seconds and drops the XR's events but
  one every 30 s, and each reconcile says so on the XR (condition Responsive False, WatchCircuitOpen).
  Not modelled: the XR's own writes (its status, its resourceRefs), which cost the real one tokens too.
- ``Ipam``: the in-cluster provider. Lowest free address; network, IPv4 broadcast,
  gateway and excludedAddresses skipped; IPAddress named as its claim; a claim
  with spec.clusterName or the cluster-name label skipped while that Cluster does
  not exist; unknown pool or wrong poolRef.apiGroup leaves it pending; exhaustion
  leaves it pending; the address is freed when the claim is deleted; pool status.
- ``Capi``: the Cluster webhook rejects undefined topology variables ("variable is
  not defined", against the ClusterClass's status.variables), adds the class's variable
  defaults the Cluster lacks, and refuses a new topology.version until the Cluster is
  Ready (CAPI: "control plane is currently provisioning"), as CAPI v1.14 does; the topology
  controller sets TopologyReconciled, False while the class is missing or no
  longer defines a variable the Cluster sets; a Cluster becomes Ready some time
  after creation and takes time to delete, answering on its VIPs until it is gone. No webhook stops an endpoint change; the simulator counts any
  as a failure.
- ``Usage``: protection.crossplane.io Usages: the `of` object is labelled in use
  and its deletion is refused while the `by` object exists; with replayDeletion
  the refused deletion is replayed once the `by` object is gone. A Usage that
  belongs to the same XR as its `by` object is only deleted after that object.

``Sim.violations`` collects every broken property; ``Sim.check`` raises with the seed.
"""

from __future__ import annotations

import copy
import dataclasses
import heapq
import ipaddress
import itertools
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import addresses, fn
from function.structs import struct_to_py
from tests import crds

GROUP_IPAM = "ipam.cluster.x-k8s.io"
COMPOSITE = "crossplane.io/composite"
RESOURCE_NAME = "crossplane.io/composition-resource-name"
DELETION_ATTEMPT = "usage.crossplane.io/deletion-attempt-with-policy"  # Crossplane's Usage webhook records a refused deletion
IN_USE = "crossplane.io/in-use"
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"
INGRESS_VIP = "vip.capi.gorizond.io/ingress-vip"
Key = tuple  # (group, kind, namespace or None, name)
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def rfc3339(seconds: float) -> str:
    """A timestamp as the API server writes it: RFC 3339, UTC, whole seconds."""
    return (EPOCH + timedelta(seconds=int(seconds))).strftime("%Y-%m-%dT%H:%M:%SZ")


NAMESPACED = {("cluster.x-k8s.io", "ClusterClass"), ("cluster.x-k8s.io", "Cluster"), (GROUP_IPAM, "IPAddress"),
              (GROUP_IPAM, "IPAddressClaim"), (GROUP_IPAM, "InClusterIPPool"), ("protection.crossplane.io", "Usage")}


def key_of(obj: dict) -> Key:
    meta = obj["metadata"]
    return (obj["apiVersion"].rpartition("/")[0], obj["kind"], meta.get("namespace"), meta["name"])


class Rejected(Exception):
    """An admission webhook refused the request."""


# --- time ------------------------------------------------------------------------------


class Clock:
    """Simulated seconds since EPOCH."""

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list = []
        self._seq = itertools.count()

    def at(self, when: float, action: Callable, *args) -> None:
        heapq.heappush(self._queue, (when, next(self._seq), action, args))

    def after(self, delay: float, action: Callable, *args) -> None:
        self.at(self.now + delay, action, *args)

    def epoch(self) -> float:
        """The simulated time as seconds since the Unix epoch: what the function's clock would say."""
        return EPOCH.timestamp() + self.now

    def step(self) -> bool:
        if not self._queue:
            return False
        when, _, action, args = heapq.heappop(self._queue)
        self.now = max(self.now, when)
        action(*args)
        return True

    def next_time(self) -> float | None:
        return self._queue[0][0] if self._queue else None


# --- the API server -------------------------------------------------------------------


class Api:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.objects: dict[Key, dict] = {}
        self.by_kind: dict[str, dict[Key, dict]] = defaultdict(dict)
        self.by_place: dict[tuple[str, str | None], dict[Key, dict]] = defaultdict(dict)  # (kind, namespace) -> ...
        self.admit_apply: list[Callable[[dict, dict | None], None]] = []
        self.admit_delete: list[Callable[[dict, str], None]] = []
        self.watchers: list[Callable[[str, Key, dict], None]] = []
        self._uid = itertools.count(1)
        self.version = 0

    def get(self, key: Key) -> dict | None:
        return self.objects.get(key)

    def find(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        place = self.by_place[(kind, namespace)]
        return place.get(next((k for k in place if k[3] == name), None))

    def of_kind(self, kind: str) -> list[dict]:
        return list(self.by_kind[kind].values())

    def list(self, api_version: str, kind: str, labels: dict | None = None, namespace: str | None = None) -> list[dict]:
        out = []
        for obj in (self.by_kind[kind] if namespace is None else self.by_place[(kind, namespace)]).values():
            if obj["apiVersion"] != api_version:
                continue
            meta = obj["metadata"]
            have = meta.get("labels") or {}
            if labels and any(have.get(k) != v for k, v in labels.items()):
                continue
            out.append(obj)
        return out

    def create(self, obj: dict) -> dict:
        return self.apply(obj)

    def apply(self, desired: dict, *, keep_spec: tuple[str, ...] = ()) -> dict:
        """Server-side apply of the fields in desired; status and others' fields survive."""
        key = key_of(desired)
        old = self.objects.get(key)
        new = copy.deepcopy(desired)
        meta = new.setdefault("metadata", {})
        if old is not None:
            old_meta = old["metadata"]
            for f in ("uid", "creationTimestamp", "deletionTimestamp", "finalizers"):
                if f in old_meta:
                    meta[f] = copy.deepcopy(old_meta[f])
            # Owner references merge by uid, as server-side apply merges them.
            refs = {r["uid"]: r for r in [*old_meta.get("ownerReferences", []), *meta.get("ownerReferences", [])]}
            if refs:
                meta["ownerReferences"] = list(refs.values())
            if (old_meta.get("labels") or {}).get(IN_USE):
                meta.setdefault("labels", {})[IN_USE] = "true"
            if DELETION_ATTEMPT in (old_meta.get("annotations") or {}):  # the Usage webhook's, another manager's field
                meta.setdefault("annotations", {})[DELETION_ATTEMPT] = old_meta["annotations"][DELETION_ATTEMPT]
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            for f in keep_spec:
                if f in old.get("spec", {}) and f not in new.get("spec", {}):
                    new.setdefault("spec", {})[f] = copy.deepcopy(old["spec"][f])
        else:
            meta["uid"] = f"uid-{next(self._uid)}"
            meta["creationTimestamp"] = rfc3339(self.clock.now)
            meta["generation"] = 1
        if sum(1 for r in meta.get("ownerReferences", []) if r.get("controller")) > 1:
            raise Rejected("metadata.ownerReferences: Invalid value: Only one reference can have Controller set to true")
        # Admission (mutating, then validating) runs before the API server compares with what it stores: an
        # apply that a webhook's defaults turn back into the stored object writes nothing.
        for hook in self.admit_apply:
            hook(new, old)
        if old is not None:
            # metadata.generation counts the changes of spec, as the API server does for a custom resource.
            generation = old["metadata"].get("generation", 1)
            meta["generation"] = generation + 1 if new.get("spec") != old.get("spec") else generation
            if new == old:
                return old  # nothing changed: no new resourceVersion, no watch event
        self._store(key, new)
        self._notify("applied" if old else "created", key, new)
        return new

    def update_status(self, key: Key, status: dict) -> None:
        obj = self.objects.get(key)
        if obj is not None:
            obj["status"] = status
            self.version += 1
            self._notify("status", key, obj)

    def delete(self, key: Key, actor: str) -> bool:
        """Request deletion. False if an admission webhook refused it."""
        obj = self.objects.get(key)
        if obj is None:
            return True
        try:
            for hook in self.admit_delete:
                hook(obj, actor)
        except Rejected:
            return False
        if obj["metadata"].get("finalizers"):
            if obj["metadata"].get("deletionTimestamp") is None:
                obj["metadata"]["deletionTimestamp"] = self.clock.now
                self.version += 1
                self._notify("deleting", key, obj)
            return True
        self._remove(key)
        return True

    def remove_finalizer(self, key: Key, finalizer: str) -> None:
        obj = self.objects.get(key)
        if obj is None:
            return
        fins = [f for f in obj["metadata"].get("finalizers", []) if f != finalizer]
        obj["metadata"]["finalizers"] = fins
        if not fins and obj["metadata"].get("deletionTimestamp") is not None:
            self._remove(key)

    def add_finalizer(self, key: Key, finalizer: str) -> None:
        obj = self.objects.get(key)
        if obj is not None and finalizer not in obj["metadata"].setdefault("finalizers", []):
            obj["metadata"]["finalizers"].append(finalizer)

    def _store(self, key: Key, obj: dict) -> None:
        self.objects[key] = obj
        self.by_kind[key[1]][key] = obj
        self.by_place[(key[1], key[2])][key] = obj
        self.version += 1

    def _remove(self, key: Key) -> None:
        obj = self.objects.pop(key)
        del self.by_kind[key[1]][key]
        del self.by_place[(key[1], key[2])][key]
        self.version += 1
        self._notify("deleted", key, obj)

    def _notify(self, event: str, key: Key, obj: dict) -> None:
        for w in self.watchers:
            w(event, key, obj)


# --- the in-cluster IPAM provider --------------------------------------------------


class Ipam:
    FINALIZER = "ipam.cluster.x-k8s.io/ReleaseAddress"
    PROTECT_POOL = "ipam.cluster.x-k8s.io/ProtectPool"
    POOLS = ("InClusterIPPool", "GlobalInClusterIPPool")

    def __init__(self, api: Api, clock: Clock, delay: float = 1.0) -> None:
        self.api, self.clock, self.delay = api, clock, delay
        self.up = True
        self.pending: set[Key] = set()
        self._addresses: dict[tuple, list] = {}
        # (pool kind, namespace, name) -> address -> how many IPAddresses hold it: more than one once the provider gave
        # an address twice, and deleting one of them leaves the address in use, as the provider's cache of IPAddresses does
        self._used: dict[tuple, Counter] = defaultdict(Counter)
        self.behind_until = 0.0  # the provider's cache lags the API server until then (see lag)
        self._lagged: list[tuple[str, Key, dict]] = []
        self.costs: dict[str, float] | None = None  # see one_worker
        self._queue: dict[Key, None] = {}  # the work queue of one_worker, in order, each key once
        self._busy = False
        api.watchers.append(self._watch)

    def one_worker(self, bind: float, release: float, read: float) -> None:
        """The provider as it runs: one worker (controller-runtime's default of one reconcile at a time) over a
        queue that holds each claim once; a reconcile takes ``bind`` seconds when it makes an IPAddress, ``release``
        when it frees one, ``read`` otherwise (its API calls); and a restart queues every claim (the informer's first
        list; the real provider takes it in its cache's order, here in key order so a run repeats), so new claims
        wait behind every claim that exists. Without it, each
        claim's reconcile runs ``delay`` after its event, all at once."""
        self.costs = {"bind": bind, "release": release, "read": read}

    def _enqueue(self, key: Key) -> None:
        if self.costs is None:
            self.clock.after(self.delay, self._reconcile, key)
            return
        self._queue.setdefault(key, None)
        if not self._busy:
            self._busy = True
            self.clock.after(0.0, self._work)

    def _work(self) -> None:
        if not self._queue or not self.up:
            self._busy = False  # down: the process is gone, and its queue with it
            self._queue.clear()
            return
        key = next(iter(self._queue))
        del self._queue[key]
        self.clock.after(self.costs[self._reconcile(key)], self._work)

    def lag(self, until: float) -> None:
        """The provider's cache behind the API server until ``until``, as after an API server outage: an IPAddress
        created or deleted meanwhile is seen only then, so a claim bound meanwhile can be given an address another
        claim holds. The real provider does it: it waits 5 s for each IPAddress it creates to show in its cache, then
        goes on to the next claim (tests/e2e/test_recovery.py, kube-apiserver stopped for 30 s: two claims bound to
        one address in 3 runs of 5; the cache caught up about 40 s after the API server was back)."""
        self.behind_until = max(self.behind_until, until)
        self.clock.at(self.behind_until, self._catch_up)

    def _catch_up(self) -> None:
        if self.clock.now < self.behind_until:
            return
        lagged, self._lagged = self._lagged, []
        for event, key, obj in lagged:
            self._see_address(event, key, obj)
        for claim_key in list(self.pending):
            self._enqueue(claim_key)

    def _see_address(self, event: str, key: Key, obj: dict) -> None:
        ref = obj["spec"]["poolRef"]
        pool = (ref["kind"], key[2] if ref["kind"] == "InClusterIPPool" else None, ref["name"])
        address = ipaddress.ip_address(obj["spec"]["address"])
        held = self._used[pool]
        held[address] += 1 if event == "created" else -1
        if held[address] <= 0:
            del held[address]

    def set_up(self, up: bool) -> None:
        self.up = up
        if up:
            restarted = sorted(self.api.by_kind["IPAddressClaim"]) if self.costs is not None else sorted(self.pending)
            for key in restarted:
                self._enqueue(key)

    def _watch(self, event: str, key: Key, obj: dict) -> None:
        if key[1] == "IPAddress" and event in ("created", "deleted"):
            if self.clock.now < self.behind_until:
                self._lagged.append((event, key, obj))
            else:
                self._see_address(event, key, obj)
        elif key[1] == "IPAddressClaim" and event in ("created", "deleting", "applied"):
            self._enqueue(key)
        elif key[1] in self.POOLS and event == "created":
            self.api.add_finalizer(key, self.PROTECT_POOL)
        if key[1] in self.POOLS and event == "deleting":
            self._release_pool(key)
        elif key[1] in self.POOLS and event in ("created", "applied", "deleted"):
            # A pool appearing or changing re-queues the claims that wait for it.
            for claim_key in list(self.pending):
                self._enqueue(claim_key)
            if event != "deleted":
                self._update_pool_status(key)
        elif key[1] == "Cluster" and event == "created":
            for claim_key in list(self.pending):
                self._enqueue(claim_key)

    def _reconcile(self, key: Key) -> str:
        """One reconcile of a claim; returns what it did: bind, release or read (see one_worker)."""
        claim = self.api.get(key)
        if claim is None:
            self.pending.discard(key)
            return "read"
        if not self.up:
            self.pending.add(key)
            return "read"
        meta, spec = claim["metadata"], claim["spec"]
        if meta.get("deletionTimestamp") is not None:
            self.pending.discard(key)
            address = self.api.get((GROUP_IPAM, "IPAddress", key[2], key[3]))
            if address is not None:
                self.api.remove_finalizer(key_of(address), "ipam.cluster.x-k8s.io/ProtectAddress")
                self.api.delete(key_of(address), actor="ipam")
                pool_key = self._pool_key(address["spec"]["poolRef"], key[2])
                self._update_pool_status(pool_key)
                pool = self.api.get(pool_key)
                if pool is not None and pool["metadata"].get("deletionTimestamp") is not None:
                    self._release_pool(pool_key)
                for waiting in list(self.pending):  # the pool is no longer full: waiting claims retry
                    self._enqueue(waiting)
            self.api.remove_finalizer(key, self.FINALIZER)
            return "release" if address is not None else "read"
        cluster = spec.get("clusterName") or (meta.get("labels") or {}).get(CLUSTER_NAME_LABEL)
        if cluster and self.api.get(("cluster.x-k8s.io", "Cluster", key[2], cluster)) is None:
            self.pending.add(key)  # skipped until the Cluster exists
            return "read"
        ref = spec.get("poolRef") or {}
        if ref.get("apiGroup") != GROUP_IPAM or ref.get("kind") not in self.POOLS:
            return  # not ours: the provider's predicate drops the claim
        if (claim.get("status") or {}).get("addressRef"):
            self.pending.discard(key)
            return "read"
        self.api.add_finalizer(key, self.FINALIZER)
        pool_key = self._pool_key(ref, key[2])
        pool = self.api.get(pool_key)
        if pool is None or pool["metadata"].get("deletionTimestamp") is not None:
            self.pending.add(key)
            return "read"
        free = self.first_free(pool)
        if free is None:
            self.pending.add(key)
            return "read"
        self.pending.discard(key)
        spec_pool = pool["spec"]
        self.api.create({
            "apiVersion": "ipam.cluster.x-k8s.io/v1beta1",
            "kind": "IPAddress",
            "metadata": {"name": key[3], "namespace": key[2], "finalizers": ["ipam.cluster.x-k8s.io/ProtectAddress"]},
            "spec": {"address": str(free), "prefix": spec_pool["prefix"], "gateway": spec_pool.get("gateway", ""),
                     "claimRef": {"name": key[3]}, "poolRef": {"apiGroup": GROUP_IPAM, "kind": ref["kind"], "name": ref["name"]}},
        })
        self.api.update_status(key, {"addressRef": {"name": key[3]}})
        self._update_pool_status(pool_key)
        return "bind"

    def _release_pool(self, key: Key) -> None:
        """A deleting pool goes once no address of it remains (the provider's ProtectPool finalizer)."""
        if not self._used[(key[1], key[2], key[3])]:
            self.api.remove_finalizer(key, self.PROTECT_POOL)

    @staticmethod
    def _pool_key(ref: dict, namespace: str) -> Key:
        return (GROUP_IPAM, ref["kind"], namespace if ref["kind"] == "InClusterIPPool" else None, ref["name"])

    def addresses(self, pool: dict) -> list:
        spec = pool["spec"]
        cache_key = (pool["kind"], pool["metadata"].get("namespace"), pool["metadata"]["name"], repr(spec))
        if cache_key not in self._addresses:
            self._addresses[cache_key] = pool_addresses(pool)
        return self._addresses[cache_key]

    def _address_set(self, pool: dict) -> frozenset:
        cache_key = ("set", pool["kind"], pool["metadata"].get("namespace"), pool["metadata"]["name"], repr(pool["spec"]))
        if cache_key not in self._addresses:
            self._addresses[cache_key] = frozenset(self.addresses(pool))
        return self._addresses[cache_key]

    def used(self, pool: dict) -> Counter:
        return self._used[(pool["kind"], pool["metadata"].get("namespace"), pool["metadata"]["name"])]

    def first_free(self, pool: dict):
        """The lowest address of the pool that no IPAddress holds."""
        used = self.used(pool)
        return next((a for a in self.addresses(pool) if a not in used), None)

    def _update_pool_status(self, key: Key) -> None:
        pool = self.api.get(key)
        if pool is None:
            return
        total = len(self.addresses(pool))
        used = sum(1 for a in self.used(pool) if a in self._address_set(pool))
        pool["status"] = {"ipAddresses": {"total": total, "used": used, "free": total - used, "outOfRange": 0}}


SERVICE_LB_VARIABLE = "serviceLbVips"
SECONDARY_VARIABLES = ("clusterVipSecondary", "ingressVipSecondary")


def cluster_vips(cluster: dict) -> set:
    """The addresses a Cluster answers on: its endpoint host, its ingress VIP (or dual-stack pair), its
    secondary VIPs, its service-lb addresses."""
    ingress = (cluster["metadata"].get("annotations") or {}).get(INGRESS_VIP)
    vips = {(cluster["spec"].get("controlPlaneEndpoint") or {}).get("host"), *(ingress.split(",") if ingress else ())} - {None}
    for v in (cluster["spec"].get("topology") or {}).get("variables") or []:
        if v.get("name") == SERVICE_LB_VARIABLE and isinstance(v.get("value"), list):
            vips.update(a for a in v["value"] if isinstance(a, str))
        if v.get("name") in SECONDARY_VARIABLES and isinstance(v.get("value"), str) and v["value"]:
            vips.add(v["value"])
    return vips


def _canonical(value: object) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if isinstance(value, str) else None
    except ValueError:
        return value


def pool_addresses(pool: dict) -> list:
    """The addresses a pool hands out: its ranges, less network, IPv4 broadcast, gateway and exclusions."""
    spec = pool["spec"]
    out: list = []
    for r in spec["addresses"]:
        if "/" in r:
            out.extend(ipaddress.ip_network(r, strict=False))
            continue
        lo, _, hi = r.partition("-")
        first, last = ipaddress.ip_address(lo), ipaddress.ip_address(hi or lo)
        out.extend(ipaddress.ip_address(i) for i in range(int(first), int(last) + 1))
    if not out:
        return out
    net = ipaddress.ip_network(f"{out[0]}/{spec['prefix']}", strict=False)
    skip = {net.network_address} | ({net.broadcast_address} if net.version == 4 else set())
    if spec.get("gateway"):
        skip.add(ipaddress.ip_address(spec["gateway"]))
    skip |= {ipaddress.ip_address(a) for a in spec.get("excludedAddresses", [])}
    return [a for a in out if a not in skip]


# --- Cluster API -------------------------------------------------------------------------


class Capi:
    FINALIZER = "cluster.cluster.x-k8s.io"

    def __init__(self, api: Api, clock: Clock, sim: Sim, provision: float = 60.0, teardown: float = 120.0) -> None:
        self.api, self.clock, self.sim = api, clock, sim
        self.provision, self.teardown = provision, teardown
        self.endpoints: dict[str, str] = {}  # uid -> first endpoint host seen
        api.admit_apply.append(self._webhook)
        api.watchers.append(self._watch)

    def _webhook(self, new: dict, old: dict | None) -> None:
        if new["kind"] == "IPAddressClaim" and old is not None and new.get("spec") != old.get("spec"):
            raise Rejected("spec: Forbidden: IPAddressClaim spec is immutable")  # CAPI's IPAddressClaim webhook
        if new["kind"] == "ClusterClass":
            # The ClusterClass controller copies spec.variables into status.variables.
            new["status"] = {"variables": [{"name": v["name"], "definitions": [{"from": "inline", "required": False,
                                                                              "schema": v.get("schema", {})}]}
                                           for v in new.get("spec", {}).get("variables", [])]}
            return
        if new["kind"] != "Cluster":
            return
        topology = new["spec"].get("topology") or {}
        cls_name = topology.get("class") or (topology.get("classRef") or {}).get("name")
        cls_ns = topology.get("classNamespace") or (topology.get("classRef") or {}).get("namespace") or new["metadata"]["namespace"]
        cls = self.api.get(("cluster.x-k8s.io", "ClusterClass", cls_ns, cls_name))
        if cls is not None:
            variables = (cls.get("status") or {}).get("variables", [])
            defined = {v["name"] for v in variables}
            for v in topology.get("variables", []):
                if v["name"] not in defined:
                    raise Rejected(f"spec.topology.variables[{v['name']}]: Invalid value: variable is not defined")
            # The defaulting webhook: every class variable with a default that the Cluster lacks is added.
            given = {v["name"] for v in topology.get("variables", [])}
            for v in variables:
                schema = v["definitions"][0].get("schema", {}).get("openAPIV3Schema", {})
                if v["name"] not in given and "default" in schema:
                    topology.setdefault("variables", []).append({"name": v["name"], "value": copy.deepcopy(schema["default"])})
        if old is not None and topology.get("version") != ((old["spec"].get("topology") or {}).get("version")) \
                and "Ready" not in {c["type"] for c in (old.get("status") or {}).get("conditions", []) if c["status"] == "True"}:
            raise Rejected(f"spec.topology.version: Invalid value: \"{topology.get('version')}\": version cannot be changed: "
                           "control plane is currently provisioning")
        if old is None:
            new["metadata"].setdefault("finalizers", []).append(self.FINALIZER)

    def _watch(self, event: str, key: Key, obj: dict) -> None:
        if key[1] == "ClusterClass" and event in ("created", "applied", "deleted"):
            for ckey, c in list(self.api.by_kind["Cluster"].items()):
                if self._class_key(c) == key:
                    self.clock.after(1.0, self._topology, ckey)
            return
        if key[1] != "Cluster":
            return
        if event in ("created", "applied"):
            self.clock.after(1.0, self._topology, key)
        uid = obj["metadata"]["uid"]
        host = (obj["spec"].get("controlPlaneEndpoint") or {}).get("host")
        if event in ("created", "applied") and host:
            first = self.endpoints.setdefault(uid, host)
            if first != host:
                self.sim.violation(f"endpoint of Cluster {key[2]}/{key[3]} changed from {first} to {host}")
        if event == "created":
            self.clock.after(self.provision, self._ready, key, uid)
        elif event == "deleting":
            self.clock.after(self.teardown, self.api.remove_finalizer, key, self.FINALIZER)

    def _ready(self, key: Key, uid: str) -> None:
        obj = self.api.get(key)
        if obj is not None and obj["metadata"]["uid"] == uid and obj["metadata"].get("deletionTimestamp") is None:
            self._condition(key, obj, "Ready", "True", "")

    @staticmethod
    def _class_key(cluster: dict) -> Key:
        topology = cluster["spec"].get("topology") or {}
        ref = topology.get("classRef") or {}
        return ("cluster.x-k8s.io", "ClusterClass", topology.get("classNamespace") or ref.get("namespace")
                or cluster["metadata"]["namespace"], topology.get("class") or ref.get("name"))

    def _topology(self, key: Key) -> None:
        """The topology controller: TopologyReconciled False while it cannot apply the Cluster's topology.

        CAPI 1.4+ lets a ClusterClass drop a variable that Clusters still set; the
        topology reconcile then fails on it ("variable is not defined").
        """
        obj = self.api.get(key)
        if obj is None or obj["metadata"].get("deletionTimestamp") is not None:
            return
        cls = self.api.get(self._class_key(obj))
        defined = {v["name"] for v in ((cls or {}).get("status") or {}).get("variables", [])}
        undefined = [v["name"] for v in (obj["spec"].get("topology") or {}).get("variables", []) if v["name"] not in defined]
        if cls is None or undefined:
            self._condition(key, obj, "TopologyReconciled", "False", "TopologyReconcileFailed")
        else:
            self._condition(key, obj, "TopologyReconciled", "True", "")

    def _condition(self, key: Key, obj: dict, typ: str, status: str, reason: str) -> None:
        """Set one condition; an unchanged status is no write (and no watch event), as on an API server."""
        conditions = [c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] != typ]
        current = next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == typ), None)
        if current is not None and (current["status"], current.get("reason", "")) == (status, reason):
            return
        new = {"type": typ, "status": status, "lastTransitionTime": "2026-01-01T00:00:00Z"}
        if reason:
            new["reason"] = reason
        self.api.update_status(key, {**(obj.get("status") or {}), "conditions": [*conditions, new]})


# --- Usages ----------------------------------------------------------------------------


class Usages:
    """protection.crossplane.io Usage, as Crossplane's Usage reconciler and webhook behave.

    - live: a finalizer on the Usage; the `of` object labelled crossplane.io/in-use;
    - the webhook refuses to delete an object while any Usage of it exists (deleting
      ones included), recording the attempt;
    - a deleting Usage that carries the crossplane.io/composite label waits while its
      `by` object exists; then it unlabels `of`, replays a refused deletion of `of`
      (replayDeletion) two seconds later, and drops its finalizer.
    """

    FINALIZER = "usage.apiextensions.crossplane.io"

    def __init__(self, api: Api, clock: Clock) -> None:
        self.api, self.clock = api, clock
        api.admit_delete.append(self._webhook)
        api.watchers.append(self._watch)

    def _ref(self, usage: dict, side: str) -> Key | None:
        ref = usage["spec"].get(side)
        if not ref:
            return None
        group = ref["apiVersion"].rpartition("/")[0]
        return (group, ref["kind"], usage["metadata"].get("namespace"), ref["resourceRef"]["name"])

    def _in_namespace(self, namespace: str | None) -> list[dict]:
        """The Usages of a namespace: a Usage's `of` and `by` are in its own (see _ref), and a fleet's thousands of
        Usages are not read on every object's event."""
        return list(self.api.by_place[("Usage", namespace)].values())

    def _usages_of(self, key: Key) -> list[dict]:
        return [u for u in self._in_namespace(key[2]) if self._ref(u, "of") == key]

    def _webhook(self, obj: dict, actor: str) -> None:
        key = key_of(obj)
        found = self._usages_of(key)
        if found:
            # The webhook records the refused deletion on the object (a patch: a watch event), and the Usage
            # controller replays it once the last Usage of it is gone (internal/webhook/protection/usage).
            annotations = obj["metadata"].setdefault("annotations", {})
            if annotations.get(DELETION_ATTEMPT) != "Background":
                annotations[DELETION_ATTEMPT] = "Background"
                self.api.version += 1
                self.api._notify("applied", key, obj)
            u = found[0]
            raise Rejected(f"This resource is in-use by {len(found)} usage(s), including the Usage {u['metadata']['name']}")

    def _watch(self, event: str, key: Key, obj: dict) -> None:
        if key[1] == "Usage":
            if event == "created":
                self.api.add_finalizer(key, self.FINALIZER)
            if event in ("created", "applied"):
                self._label(key)
            if event == "deleting" or (event == "applied" and obj["metadata"].get("deletionTimestamp") is not None):
                self._finish(key)  # the reconciler looks again at a deleting Usage whenever it changes
            return
        if event == "created":
            for usage in self._usages_of(key):  # the reconciler retries until `of` exists
                self._label(key_of(usage))
        elif event == "deleted":
            for usage in [u for u in self._in_namespace(key[2]) if self._ref(u, "by") == key]:
                if usage["metadata"].get("deletionTimestamp") is not None:
                    self._finish(key_of(usage))

    def _label(self, key: Key) -> None:
        usage = self.api.get(key)
        of = self._ref(usage, "of") if usage else None
        if of is not None and self.api.get(of) is not None:
            self.api.objects[of]["metadata"].setdefault("labels", {})[IN_USE] = "true"

    def _finish(self, key: Key) -> None:
        usage = self.api.get(key)
        if usage is None:
            return
        by = self._ref(usage, "by")
        if by is not None and self.api.get(by) is not None and (usage["metadata"].get("labels") or {}).get(COMPOSITE):
            return  # waits for the using resource to be deleted
        of = self._ref(usage, "of")
        if of is not None and self.api.get(of) is not None and len(self._usages_of(of)) < 2:
            self.api.objects[of]["metadata"].get("labels", {}).pop(IN_USE, None)
            if usage["spec"].get("replayDeletion") and DELETION_ATTEMPT in (self.api.get(of)["metadata"].get("annotations") or {}):
                self.clock.after(2.0, self.api.delete, of, "usage-replay")
        self.api.remove_finalizer(key, self.FINALIZER)


# --- Crossplane ------------------------------------------------------------------------


@dataclasses.dataclass
class Breaker:
    """Crossplane v2.4's watch circuit breaker of one XR (internal/circuit/token_bucket.go)."""

    burst: float
    refill: float
    cooldown: float
    tokens: float = -1.0  # full at the first event
    last: float = 0.0
    opened: float | None = None  # when it opened; None while closed
    allowed: float = 0.0  # the last event let through while open (or the opening)
    dropped: int = 0

    HALF_OPEN = 30.0  # one event every 30 s gets through while open

    def event(self, now: float, cost: int) -> bool:
        """Whether the event reaches the XR: the map function decides on the state before recording it."""
        keep = self.opened is None or now - self.allowed >= self.HALF_OPEN
        if self.opened is not None and keep:
            self.allowed = now
        if self.tokens < 0:
            self.tokens, self.last = self.burst, now
        self.tokens = min(self.burst, self.tokens + self.refill * (now - self.last))
        self.last = now
        for _ in range(cost):
            if self.opened is not None:
                if now - self.opened < self.cooldown:
                    continue
                self.opened = None
            if self.tokens >= 1.0:
                self.tokens -= 1.0
            else:
                self.opened = self.allowed = now
        self.dropped += not keep
        return keep


@dataclasses.dataclass
class XRState:
    key: Key
    refs: dict[str, Key] = dataclasses.field(default_factory=dict)
    reconciles: int = 0
    bound_at_reconcile: int | None = None  # reconcile count when every claim was first bound
    late: bool = False  # reported once
    had_cluster: bool = False  # the last reconcile composed the Cluster
    next_at: float | None = None
    failures: int = 0  # reconciles failed in a row (Crossplane.backoff)
    conditions: dict[str, str] = dataclasses.field(default_factory=dict)  # type -> reason, as last reported
    warnings: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (reason, message), as last reported
    requirements: dict[str, fnv1.ResourceSelector] = dataclasses.field(default_factory=dict)  # of the last reconcile
    breaker: Breaker | None = None


Transport = Callable[[fnv1.RunFunctionRequest], fnv1.RunFunctionResponse]


class Tracker:
    """Crossplane v2.4's dependency tracker (composite/dependency/tracker.go): the XRs whose last
    requirements name an object, or select it by labels (in its namespace, or in any without one)."""

    def __init__(self) -> None:
        self.by_name: dict[Key, set[Key]] = defaultdict(set)
        self.by_label: dict[tuple[str, str], dict[Key, list[tuple[str | None, dict]]]] = defaultdict(dict)
        self.of_xr: dict[Key, list[tuple]] = {}

    def track(self, xr: Key, selectors) -> None:
        self.forget(xr)
        entries = []
        for sel in selectors:
            group, kind = sel.api_version.rpartition("/")[0], sel.kind
            ns = sel.namespace if sel.HasField("namespace") else None
            if sel.WhichOneof("match") == "match_name":
                for namespace in ([ns] if ns is not None else [None]):
                    key = (group, kind, namespace, sel.match_name)
                    self.by_name[key].add(xr)
                    entries.append(("name", key))
            else:
                self.by_label[(group, kind)].setdefault(xr, []).append((ns, dict(sel.match_labels.labels)))
                entries.append(("label", (group, kind)))
        self.of_xr[xr] = entries

    def forget(self, xr: Key) -> None:
        for how, key in self.of_xr.pop(xr, []):
            if how == "name":
                self.by_name[key].discard(xr)
            else:
                self.by_label[key].pop(xr, None)

    def dependants(self, key: Key, obj: dict) -> set[Key]:
        out = set(self.by_name.get(key, ())) | set(self.by_name.get((key[0], key[1], None, key[3]), ()))
        labels = obj["metadata"].get("labels") or {}
        for xr, selectors in self.by_label.get((key[0], key[1]), {}).items():
            if xr not in out and any((ns is None or ns == (key[2] or "")) and all(labels.get(k) == v for k, v in want.items())
                                     for ns, want in selectors):
                out.add(xr)
        return out


def _copy(sel: fnv1.ResourceSelector) -> fnv1.ResourceSelector:
    out = fnv1.ResourceSelector()
    out.CopyFrom(sel)
    return out


def answers_differ(a: fnv1.RunFunctionResponse, b: fnv1.RunFunctionResponse) -> str | None:
    """What two answers to the same state disagree on, if anything (the request tag aside)."""
    for what in ("desired", "results", "conditions", "requirements"):
        if getattr(a, what) != getattr(b, what):
            return what
    if a.meta.ttl != b.meta.ttl:
        return "ttl"
    return None


def requirements_unchanged(previous: fnv1.Requirements | None, rsp: fnv1.RunFunctionResponse) -> tuple[bool, fnv1.Requirements | None]:
    """Crossplane's end of the requirements loop: proto.Equal of this call's requirements and the last.

    The loop starts from nil, so a response without requirements ends it after one call;
    an empty but present requirements message is not nil, and costs a second call.
    Returns whether the loop ends, and the requirements to compare the next call with.
    """
    current = None
    if rsp.HasField("requirements"):
        current = fnv1.Requirements()
        current.CopyFrom(rsp.requirements)
    return current == previous, current


MAX_CALLS = 6  # Crossplane's MaxRequirementsIterations is 5: iterations 0 to 5
Fetch = Callable[[fnv1.ResourceSelector], list[dict]]


# The kinds whose lists grow with the fleet (a placing call carries its pool's IPAddresses): each object is turned
# into its protobuf once per content, not once per call. Objects change in place here, so the cache keeps a copy and
# compares it with the object (a value turned from true to 1 in place would compare equal: no kind cached does that).
CACHED_KINDS = frozenset({"IPAddress"})
_serialized: dict[Key, tuple[dict, bytes]] = {}


def _fill(field, resolved: dict[str, list[dict]]) -> None:
    for name in list(field):
        del field[name]
    for name, items in resolved.items():
        target = field[name]
        target.SetInParent()  # an empty answer is an answer: the requirement resolved to nothing
        for obj in items:
            resource = target.items.add().resource
            if obj["kind"] not in CACHED_KINDS:
                resource.update(obj)
                continue
            key = key_of(obj)
            hit = _serialized.get(key)
            if hit is not None and hit[0] == obj:
                resource.MergeFromString(hit[1])
            else:
                resource.update(obj)
                _serialized[key] = (copy.deepcopy(obj), resource.SerializeToString())


def run_function(transport: Transport, req: fnv1.RunFunctionRequest, fetch: Fetch, *, modern: bool = True,
                 seeded: dict[str, fnv1.ResourceSelector] | None = None,
                 drop: frozenset[str] | set[str] = frozenset()) -> tuple[fnv1.RunFunctionResponse, int]:
    """Crossplane's FetchingFunctionRunner: call the function until its requirements stop changing.

    - Every generation: at most 6 calls; a Fatal result ends the loop; a call's requirements
      are compared (proto.Equal) with the previous call's, nil before the first.
    - v2.2+ (``modern``) answers ``requirements.resources`` in ``required_resources``; older
      Crossplane answers ``requirements.extra_resources`` in ``extra_resources``.
    - v2.4+ (``seeded``: the requirements the step returned on the XR's last reconcile):
      they are fetched before the first call and sent with it, and kept on every later call
      as bootstrap requirements are; if what the first call's requirements resolve to equals
      what was sent, its response is final (internal/xfn/required_resources.go at v2.4.0).
    ``drop``: requirement names left unanswered, a fault. ``req`` is filled in place.
    Returns the final response and the number of calls.
    """
    field = req.required_resources if modern else req.extra_resources
    bootstrap = {name: fetch(sel) for name, sel in (seeded or {}).items() if name not in drop}
    _fill(field, bootstrap)
    previous = None
    for call in range(1, MAX_CALLS + 1):
        rsp = transport(req)
        if any(r.severity == fnv1.SEVERITY_FATAL for r in rsp.results):
            return rsp, call
        same, current = requirements_unchanged(previous, rsp)
        if same:
            return rsp, call
        selectors = current.resources if modern else current.extra_resources
        resolved = dict(bootstrap)
        resolved.update({name: fetch(sel) for name, sel in selectors.items() if name not in drop})
        if call == 1 and seeded is not None and resolved == bootstrap:
            return rsp, call  # everything it asked for was sent with it: one call
        previous = current
        _fill(field, resolved)
    raise RuntimeError("requirements didn't stabilize after the maximum number of iterations")


class Crossplane:
    MAX_CALLS = MAX_CALLS

    def __init__(self, api: Api, clock: Clock, sim: Sim, transport: Transport, *, modern: bool = True,
                 inp: dict | None = None, xr_group: str = "platform.example.org", seeding: bool = False,
                 differential: bool = False, breaker: tuple[float, float, float] | None = None) -> None:
        self.api, self.clock, self.sim = api, clock, sim
        self.transport, self.modern, self.inp = transport, modern, inp
        self.xr_group = xr_group
        self.xrs: dict[Key, XRState] = {}
        self.by_name: dict[str, Key] = {}
        self.calls = 0
        self.errors: list[str] = []
        self.drop_next: set[str] = set()  # requirement names left unanswered in the next call (a fault)
        self.seeding = seeding  # v2.4+: the last reconcile's requirements are sent with the first call, and watched
        self.breaker = breaker  # v2.4+: (burst, refill per second, cooldown seconds) of each XR's circuit breaker
        self.tracker = Tracker()  # v2.4+: what each XR's last reconcile required
        self.differential = differential  # compare every seeded answer with a fresh one (see call)
        self.seeded_answers = 0
        self.applies = 0  # composed resources applied (each one server-side apply request)
        # The XR's own applies: Crossplane v2.4 applies the XR (its resourceRefs) and its status on
        # every reconcile that gets an answer, two server-side applies, as the real stack shows
        # (tests/e2e/test_steady_state.py).
        self.xr_applies = 0
        self._valid: set[str] = set()  # objects that matched their CRD (see _crd_errors)
        self.one_call_answers = 0
        api.watchers.append(self._watch)

    # scheduling
    @staticmethod
    def backoff(state: XRState) -> float:
        """The delay before an XR whose reconcile failed is tried again: Crossplane v2.4's rate limiter of the XR
        controller (internal/controller/apiextensions/definition/reconciler.go: 1 s, doubled on each failure in a
        row, at most 30 s; a success resets it). A watch event still reconciles the XR at once."""
        delay = min(1.0 * 2 ** state.failures, 30.0)
        state.failures += 1
        return delay

    def enqueue(self, key: Key, delay: float) -> None:
        state = self.xrs.get(key)
        if state is None:
            return
        when = self.clock.now + delay
        if state.next_at is not None and state.next_at <= when and state.next_at >= self.clock.now:
            return
        state.next_at = when
        self.clock.at(when, self._run, key, when)

    def _run(self, key: Key, when: float) -> None:
        state = self.xrs.get(key)
        if state is None or state.next_at != when:
            return
        state.next_at = None
        self.reconcile(key)

    def _watch(self, event: str, key: Key, obj: dict) -> None:
        owner = (obj["metadata"].get("labels") or {}).get(COMPOSITE)
        reached = set()
        if owner and key[1] != "IPAddress":
            xr_key = self.by_name.get(owner)
            if xr_key is not None:
                reached.add(xr_key)  # realtime compositions: a composed resource changed
        if self.seeding:  # v2.4 watches what each XR's last reconcile required, by name or by labels
            reached.update(self.tracker.dependants(key, obj))
        for xr_key in reached:
            self.event(xr_key, event, obj, 0.5)

    def event(self, key: Key, event: str, obj: dict | None = None, delay: float = 0.0) -> None:
        """A watch event that maps to XR key (a user's edit of the XR among them): it re-runs the XR,
        unless the XR's circuit breaker drops it. An object being deleted passes free."""
        state = self.xrs.get(key)
        if state is None:
            return
        if self.breaker is not None and not ((obj or {}).get("metadata") or {}).get("deletionTimestamp"):
            if state.breaker is None:
                state.breaker = Breaker(*self.breaker)
            if not state.breaker.event(self.clock.now, 1 if event in ("created", "deleted") else 2):
                return
        self.enqueue(key, delay)

    # the reconcile
    def create_xr(self, xr: dict) -> None:
        xr = copy.deepcopy(xr)
        xr["metadata"].setdefault("finalizers", ["composite.apiextensions.crossplane.io"])
        self.api.create(xr)
        self.xrs[key_of(xr)] = XRState(key_of(xr))
        self.by_name[xr["metadata"]["name"]] = key_of(xr)
        self.enqueue(key_of(xr), 0.0)

    def delete_xr(self, key: Key) -> None:
        """Crossplane drops the XR's finalizer; Kubernetes GC deletes its composed resources (background)."""
        state = self.xrs.pop(key, None)
        self.by_name.pop(key[3], None)
        self.tracker.forget(key)
        self.api.remove_finalizer(key, "composite.apiextensions.crossplane.io")
        self.api.delete(key, actor="user")
        if state is not None:
            self.sim.xr_gone(key, state)
            for okey in state.refs.values():
                self._collect(okey)

    def _collect(self, okey: Key) -> None:
        """The garbage collector: delete a dependent, retrying with backoff while a webhook refuses."""
        if self.api.get(okey) is None:
            return
        if not self.api.delete(okey, actor="garbage-collector"):
            self.clock.after(5.0, self._collect, okey)

    def reconcile(self, key: Key) -> None:
        xr = self.api.get(key)
        state = self.xrs[key]
        if xr is None:
            del self.xrs[key]
            self.tracker.forget(key)
            return
        state.reconciles += 1
        if state.breaker is not None:  # what Crossplane marks on the XR at the start of each reconcile
            self._responsive(xr, state.breaker)
        observed = {rn: self.api.get(k) for rn, k in state.refs.items() if self.api.get(k) is not None}
        state.refs = {rn: state.refs[rn] for rn in observed}
        try:
            rsp = self.call(xr, observed, state)
        except Exception as e:  # noqa: BLE001 - the function being down is a fault to survive
            self.errors.append(f"{key[3]}: {e}")
            delay = self.backoff(state)  # counted as a failure either way
            self.enqueue(key, getattr(e, "retry_after", None) or delay)  # a call that waited: tried again when it would end
            return
        state.failures = 0
        fatal = [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]
        if fatal:
            self.errors.append(f"{key[3]}: fatal: {fatal[0]}")
            self.enqueue(key, 30.0)
            return
        desired = {name: struct_to_py(r.resource) for name, r in rsp.desired.resources.items()}
        for rn, okey in list(state.refs.items()):
            if rn not in desired:
                self.sim.composed_deleted(xr, okey, actor="crossplane")
                if self.api.delete(okey, actor="crossplane"):
                    del state.refs[rn]
        failed = False
        for rn, obj in sorted(desired.items()):
            meta = obj.setdefault("metadata", {})
            meta.setdefault("labels", {})[COMPOSITE] = key[3]
            meta.setdefault("annotations", {})[RESOURCE_NAME] = rn
            meta["ownerReferences"] = [{"apiVersion": xr["apiVersion"], "kind": xr["kind"], "name": key[3],
                                        "uid": xr["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
            if rn in state.refs:  # existing resources keep their observed name and namespace
                meta["name"], meta["namespace"] = state.refs[rn][3], state.refs[rn][2]
            for problem in self._crd_errors(obj):  # every object the function emits matches its CRD
                self.sim.violation(f"{key[3]}: {rn} violates its CRD: {problem}")
            self.applies += 1
            try:
                applied = self.api.apply(obj, keep_spec=("infrastructureRef", "controlPlaneRef"))
            except Rejected as e:
                self.errors.append(f"{key[3]}: cannot apply {rn}: {e}")
                failed = True
                continue
            state.refs[rn] = key_of(applied)
        status = struct_to_py(rsp.desired.composite.resource).get("status", {})
        xr.setdefault("status", {}).update(status)
        self.xr_applies += 2
        state.conditions = {c.type: c.reason for c in rsp.conditions}
        state.warnings = [(r.reason, r.message) for r in rsp.results if r.severity == fnv1.SEVERITY_WARNING]
        self.sim.after_reconcile(xr, state, desired)
        ttl = rsp.meta.ttl.ToTimedelta().total_seconds() if rsp.meta.HasField("ttl") else 60.0
        self.enqueue(key, 10.0 if failed else ttl)

    def _responsive(self, xr: dict, breaker: Breaker) -> None:
        conditions = [c for c in xr.setdefault("status", {}).get("conditions") or [] if c.get("type") != "Responsive"]
        was = next((c for c in xr["status"].get("conditions") or [] if c.get("type") == "Responsive"), None)
        if breaker.opened is not None:
            since = was["lastTransitionTime"] if was and was.get("status") == "False" else rfc3339(self.clock.now)
            conditions.append({"type": "Responsive", "status": "False", "reason": "WatchCircuitOpen",
                               "lastTransitionTime": since})
        else:
            conditions.append({"type": "Responsive", "status": "True", "reason": "WatchCircuitClosed",
                               "lastTransitionTime": rfc3339(self.clock.now)})
        xr["status"]["conditions"] = conditions

    def _crd_errors(self, obj: dict) -> list[str]:
        """crds.errors, once per distinct object: a steady fleet applies the same objects again and again."""
        text = json.dumps(obj, sort_keys=True)
        if text in self._valid:
            return []
        problems = crds.errors(obj)
        if not problems:
            self._valid.add(text)
        return problems

    def request(self, xr: dict, observed: dict[str, dict]) -> fnv1.RunFunctionRequest:
        req = fnv1.RunFunctionRequest(meta=fnv1.RequestMeta(tag=str(self.calls)))
        if self.modern:
            req.meta.capabilities.extend([fnv1.CAPABILITY_CAPABILITIES, fnv1.CAPABILITY_REQUIRED_RESOURCES])
        req.observed.composite.resource.update(xr)
        for name, obj in observed.items():
            req.observed.resources[name].resource.update(obj)
        if self.inp is not None:
            req.input.update(self.inp)
        return req

    def call(self, xr: dict, observed: dict[str, dict], state: XRState | None = None) -> fnv1.RunFunctionResponse:
        """The function's calls of one reconcile; with ``seeding`` (v2.4+) from the last reconcile's requirements.

        With ``differential``, every seeded answer is compared with the one the same state gets
        without seeding (the loop of Crossplane before v2.4): a difference is a violation.
        """
        dropped, self.drop_next = self.drop_next, set()  # a fault lasts one reconcile
        seeded = state.requirements if (self.seeding and state is not None) else None
        rsp, calls = run_function(self.transport, self.request(xr, observed), self._fetch, modern=self.modern,
                                  seeded=seeded, drop=dropped)
        self.calls += calls
        if seeded is not None and self.differential:
            self.seeded_answers += 1
            self.one_call_answers += calls == 1
            fresh, _ = run_function(self.transport, self.request(xr, observed), self._fetch, modern=self.modern,
                                    drop=dropped)
            difference = answers_differ(rsp, fresh)
            if difference:
                self.sim.violation(f"{xr['metadata']['name']}: seeded ({calls} call(s)) and fresh answers differ: {difference}")
        if state is not None and not any(r.severity == fnv1.SEVERITY_FATAL for r in rsp.results):
            # What v2.4+ records to seed (and watch) next reconcile.
            state.requirements = {name: _copy(sel) for name, sel in (rsp.requirements.resources if self.modern
                                                                      else rsp.requirements.extra_resources).items()}
            self.tracker.track(state.key, state.requirements.values())
        return rsp

    def _fetch(self, sel: fnv1.ResourceSelector) -> list[dict]:
        ns = sel.namespace if (self.modern and sel.HasField("namespace")) else None
        which = sel.WhichOneof("match")
        if which == "match_name":
            group = sel.api_version.rpartition("/")[0]
            if not self.modern and (group, sel.kind) in NAMESPACED:
                raise RuntimeError("cannot get extra resource by name: an empty namespace may not be set when a resource name is provided")
            obj = self.api.get((group, sel.kind, ns, sel.match_name))
            return [obj] if obj is not None and obj["apiVersion"] == sel.api_version else []
        return self.api.list(sel.api_version, sel.kind, dict(sel.match_labels.labels), ns)


# --- external-dns ----------------------------------------------------------------------------


class ExternalDns:
    """external-dns with source crd: reads every DNSEndpoint a moment after it changes, publishes its
    records, and writes the generation it read to status.observedGeneration (source/crd.go)."""

    def __init__(self, api: Api, clock: Clock, rng: random.Random) -> None:
        self.api, self.clock, self.rng = api, clock, rng
        self.published: dict[Key, list[tuple[str, str, str]]] = {}  # DNSEndpoint -> (name, type, target)
        self.owners: dict[Key, str] = {}  # DNSEndpoint -> the XR it was composed for
        api.watchers.append(self._watch)

    def _watch(self, event: str, key: Key, obj: dict) -> None:
        if key[1] == "DNSEndpoint" and event in ("created", "applied", "deleted"):
            # A deleted DNSEndpoint's records go on the next sync too, not at once.
            self.clock.after(self.rng.uniform(0.2, 5.0), self._sync, key)

    def _sync(self, key: Key) -> None:
        obj = self.api.get(key)
        if obj is None:
            self.published.pop(key, None)
            return
        self.owners[key] = (obj["metadata"].get("labels") or {}).get(COMPOSITE)
        self.published[key] = [(e["dnsName"], e["recordType"], t) for e in obj["spec"].get("endpoints") or []
                               for t in e.get("targets") or []]
        generation = obj["metadata"].get("generation")
        if (obj.get("status") or {}).get("observedGeneration") != generation:
            self.api.update_status(key, {"observedGeneration": generation})


# --- the whole ---------------------------------------------------------------------------


class Sim:
    """A management cluster: build it, drive it, check it."""

    def __init__(self, seed: int = 0, *, transport: Transport | None = None, modern: bool = True, inp: dict | None = None,
                 ipam_delay: float = 1.0, provision: float = 60.0, teardown: float = 120.0, seeding: bool = False,
                 breaker: tuple[float, float, float] | None = None,
                 differential: bool = False, teardown_may_share: bool = False) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        # With usage: None a claim goes with its XR at once, and IPAM may give its VIP to a new
        # cluster while the old one is torn down: the trade-off that Input documents. A run that
        # accepts it checks only that no two Clusters not being deleted share a VIP.
        self.teardown_may_share = teardown_may_share
        self.clock = Clock()
        if transport is None:  # the function in process, on the simulated clock
            transport = lambda req: fn.run(req, now=self.clock.epoch())  # noqa: E731
        self.api = Api(self.clock)
        self.violations: list[str] = []
        self.ipam = Ipam(self.api, self.clock, ipam_delay)
        self.capi = Capi(self.api, self.clock, self, provision, teardown)
        self.usages = Usages(self.api, self.clock)
        self.external_dns = ExternalDns(self.api, self.clock, self.rng)
        self.crossplane = Crossplane(self.api, self.clock, self, transport, modern=modern, inp=inp, seeding=seeding, breaker=breaker,
                                     differential=differential)
        self.gone_claims: list[tuple[Key, str]] = []  # (claim key, xr name) of XRs that are gone
        self.vips: dict[str, str] = {}  # VIP -> uid of the Cluster answering on it
        self.held: dict[str, set] = {}  # Cluster uid -> its VIPs
        self.api.watchers.append(self._watch_vips)

    # driving
    def add(self, *objs: dict) -> None:
        for o in objs:
            self.api.create(copy.deepcopy(o))

    def run_for(self, seconds: float) -> None:
        end = self.clock.now + seconds
        while (t := self.clock.next_time()) is not None and t <= end:
            self.clock.step()
        self.clock.now = end

    def find(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        return self.api.get((self._group(kind), kind, namespace, name))

    @staticmethod
    def _group(kind: str) -> str:
        return {"Cluster": "cluster.x-k8s.io", "ClusterClass": "cluster.x-k8s.io", "Usage": "protection.crossplane.io",
                "WorkloadCluster": "platform.example.org"}.get(kind, GROUP_IPAM)

    # properties
    def violation(self, message: str) -> None:
        self.violations.append(f"t={self.clock.now:.1f}s: {message}")

    def check(self) -> None:
        if self.violations:
            raise AssertionError(f"seed {self.seed}: {len(self.violations)} violations:\n  " + "\n  ".join(self.violations[:20]))

    def _watch_vips(self, event: str, key: Key, obj: dict) -> None:
        """No two Clusters that exist (a deleting one still answers) share a VIP."""
        if key[1] != "Cluster":
            return
        uid = obj["metadata"]["uid"]
        gone = event == "deleted" or (self.teardown_may_share and obj["metadata"].get("deletionTimestamp") is not None)
        vips = set() if gone else cluster_vips(obj)
        for vip in self.held.pop(uid, set()) - vips:
            if self.vips.get(vip) == uid:
                del self.vips[vip]
        for vip in vips:
            holder = self.vips.setdefault(vip, uid)
            if holder != uid:
                self.violation(f"VIP {vip} on Cluster {key[2]}/{key[3]} is already used by another live Cluster")
        if vips:
            self.held[uid] = vips

    def _given_twice(self, okey: Key, xr_name: str) -> bool:
        """Whether the claim's address is held by another IPAddress of its pool too (the provider gave it twice), and
        the XR's Cluster does not carry it: its release is deliberate (function/double_allocation.py)."""
        address = self.api.get((GROUP_IPAM, "IPAddress", okey[2], okey[3]))
        if address is None:
            return False
        cluster = self.api.get(("cluster.x-k8s.io", "Cluster", okey[2], xr_name))
        if cluster is not None and address["spec"]["address"] in cluster_vips(cluster):
            return False
        ref, namespaced = address["spec"]["poolRef"], address["spec"]["poolRef"]["kind"] == "InClusterIPPool"
        return any(other is not address and other["spec"]["address"] == address["spec"]["address"]
                   and (other["spec"]["poolRef"]["kind"], other["spec"]["poolRef"]["name"]) == (ref["kind"], ref["name"])
                   and (not namespaced or other["metadata"]["namespace"] == okey[2])
                   for other in self.api.of_kind("IPAddress"))

    def composed_deleted(self, xr: dict, okey: Key, actor: str) -> None:
        """No Cluster, claim or DNSEndpoint is deleted while its XR exists, but for deliberate releases."""
        if okey[1] == "DNSEndpoint" and (self.crossplane.inp or {}).get("dns"):
            self.violation(f"Crossplane was told to delete DNSEndpoint {okey[2]}/{okey[3]} while XR "
                           f"{xr['metadata']['name']} exists and the Input sets dns")
        if okey[1] == "Cluster":
            self.violation(f"Crossplane was told to delete Cluster {okey[2]}/{okey[3]} while XR {xr['metadata']['name']} exists")
        elif okey[1] == "IPAddressClaim":
            claim = self.api.get(okey)
            if claim is not None and not (claim.get("status") or {}).get("addressRef"):
                return  # an unbound claim holds nothing: it may move to another pool
            if claim is not None and claim["metadata"].get("deletionTimestamp") is not None:
                return  # already being deleted (by someone else): letting it go changes nothing
            annotations = xr["metadata"].get("annotations") or {}
            ingress_off = annotations.get("vip.capi.gorizond.io/ingress-enabled") == "false" or INGRESS_VIP in annotations
            manual_host = ((xr["spec"]["cluster"].get("controlPlaneEndpoint") or {}).get("host"))
            own_endpoint = ((xr.get("status") or {}).get("vip") or {}).get("controlPlaneSource") == "Manual"
            deliberate = (okey[3].startswith("vip-ingress-") and ingress_off) or (okey[3].startswith("vip-cp-") and manual_host)
            if okey[3] == f"vip-cp-{xr['metadata']['name']}" and own_endpoint and not deliberate:
                # The Cluster serves on the XR's own endpoint (its status says Manual) and not on this claim's address.
                address = self.api.get((GROUP_IPAM, "IPAddress", okey[2], okey[3]))
                cluster = self.api.get(("cluster.x-k8s.io", "Cluster", okey[2], xr["metadata"]["name"]))
                deliberate = address is not None and cluster is not None and address["spec"]["address"] not in cluster_vips(cluster)
            if okey[3].endswith("-secondary"):
                # Deliberate when the XR turns the pair off (its annotation, ingress off, a manual primary that is not
                # this claim's address; for the control plane only while the Cluster carries no secondary), when the
                # XR writes another value itself, or when the claim holds an unused address of the primary's family.
                ingress_role = okey[3].startswith("vip-ingress-")
                variable = "ingressVipSecondary" if ingress_role else "clusterVipSecondary"
                address = self.api.get((GROUP_IPAM, "IPAddress", okey[2], okey[3]))
                cluster = self.api.get(("cluster.x-k8s.io", "Cluster", okey[2], xr["metadata"]["name"]))
                held = address["spec"]["address"] if address is not None else None
                unused = held is not None and (cluster is None or held not in cluster_vips(cluster))
                primary = self.api.get((GROUP_IPAM, "IPAddress", okey[2], okey[3].removesuffix("-secondary")))
                same = unused and primary is not None and (":" in held) == (":" in primary["spec"]["address"])
                written = {v.get("name"): v.get("value") for v in (xr["spec"]["cluster"].get("topology") or {}).get("variables") or []}
                live = {v.get("name"): v.get("value") for v in ((cluster or {}).get("spec", {}).get("topology") or {}).get("variables") or []}
                manual_ingress = annotations.get(INGRESS_VIP)
                # The control plane's manual primary: the host the XR sets, else the live endpoint its status says is
                # the XR's own (a manual endpoint it no longer sets stays, and stays manual).
                endpoint = ((cluster or {}).get("spec", {}).get("controlPlaneEndpoint") or {}).get("host")
                manual_cp = manual_host if manual_host is not None else (endpoint if own_endpoint else None)
                deliberate = (annotations.get("vip.capi.gorizond.io/dual-stack") == "false" or same
                              or (written.get(variable) not in (None, "") and written.get(variable) != held)
                              or (ingress_role and (annotations.get("vip.capi.gorizond.io/ingress-enabled") == "false"
                                                    or (manual_ingress is not None and manual_ingress != held)))
                              or (not ingress_role and manual_cp is not None and manual_cp != held and not live.get(variable)))
            if okey[3].startswith(f"vip-lb-{xr['metadata']['name']}-"):
                # Deliberate when the XR asks for fewer, and only once its address has left the Cluster's list.
                address = self.api.get((GROUP_IPAM, "IPAddress", okey[2], okey[3]))
                cluster = self.api.get(("cluster.x-k8s.io", "Cluster", okey[2], xr["metadata"]["name"]))
                listed = address is not None and cluster is not None and address["spec"]["address"] in cluster_vips(cluster)
                writes = any(v.get("name") == SERVICE_LB_VARIABLE for v in (xr["spec"]["cluster"].get("topology") or {}).get("variables") or [])
                # (or writes the list itself: a claim whose address it does not name goes)
                deliberate = (int(okey[3].rpartition("-")[2]) >= self.service_lb_count(xr) or writes) and not listed
            if not deliberate:
                deliberate = self._given_twice(okey, xr["metadata"]["name"])
            if not deliberate:
                self.violation(f"Crossplane was told to delete claim {okey[2]}/{okey[3]} while XR {xr['metadata']['name']} exists")

    def service_lb_count(self, xr: dict) -> int:
        count = (xr["metadata"].get("annotations") or {}).get("vip.capi.gorizond.io/service-lb-count")
        default = (((self.crossplane.inp or {}).get("roles") or {}).get("serviceLb") or {}).get("defaultCount", 3)
        return int(count) if count not in (None, "") else default

    def after_reconcile(self, xr: dict, state: XRState, desired: dict) -> None:
        """A new XR with a free pool gets a Cluster within 2 reconciles of its claims being bound."""
        key = key_of(xr)
        topology = xr["spec"]["cluster"].get("topology") or {}
        cls = self.api.get(("cluster.x-k8s.io", "ClusterClass", topology.get("classNamespace") or key[2], topology.get("class")))
        claims = [self.api.get(k) for rn, k in state.refs.items()
                  if k[1] == "IPAddressClaim" and not rn.startswith("vip-claim-service-lb-")]  # those never wait
        has_cp = "vip-claim-control-plane" in state.refs
        all_bound = cls is not None and has_cp and all(c and (c.get("status") or {}).get("addressRef") for c in claims)
        gone = state.had_cluster and "cluster" not in desired  # deleted by hand: composing it again starts now
        state.had_cluster = "cluster" in desired
        # A Cluster of its name still being deleted (its XR deleted and made again): no Cluster is
        # composed on top of it, so the clock starts once it is gone.
        old = self.api.get(("cluster.x-k8s.io", "Cluster", key[2], key[3]))
        if old is not None and old["metadata"].get("deletionTimestamp"):
            all_bound = False
        # Held back on purpose (manualVips.checkPools): a manual VIP a pool can hand out, or the other
        # role's address; the clock starts once the user has fixed it.
        if "cluster" not in desired and ({"ManualVIPInPool", "Conflict"} & set(state.conditions.values())):
            all_bound = False
        # A secondary claim bound in its primary's family (the primary claimed while the class was missing, from
        # a pool of either family) is claimed again: the clock starts once that one is bound, after the old one is
        # gone (a claim of a wanted slot's name being deleted is waited for).
        if any(r == "AddressFamilyMismatch" for r, _ in state.warnings):
            all_bound = False
        waits = {f"vip-cp-{key[3]}": "ControlPlaneVIPReady", f"vip-ingress-{key[3]}": "IngressVIPReady",
                 f"vip-cp-{key[3]}-secondary": "ControlPlaneSecondaryVIPReady",
                 f"vip-ingress-{key[3]}-secondary": "IngressSecondaryVIPReady"}
        for name, condition in waits.items():
            claim = self.api.get((GROUP_IPAM, "IPAddressClaim", key[2], name))
            if claim is not None and claim["metadata"].get("deletionTimestamp") and state.conditions.get(condition) == "WaitingForAddress":
                all_bound = False
        if not all_bound:
            state.bound_at_reconcile = None  # a claim was remade (or the class went): the clock restarts
        elif state.bound_at_reconcile is None or gone:
            state.bound_at_reconcile = state.reconciles - 1
        if state.bound_at_reconcile is not None and "cluster" not in desired and not state.late:
            if state.reconciles - state.bound_at_reconcile > 2:
                state.late = True
                self.violation(f"XR {key[3]}: claims bound, but no Cluster after {state.reconciles - state.bound_at_reconcile} reconciles")

    def xr_gone(self, key: Key, state: XRState | None = None) -> None:
        self.gone_claims.extend(((GROUP_IPAM, "IPAddressClaim", key[2], f"vip-{r}-{key[3]}{s}"), key[3])
                                for r in ("cp", "ingress") for s in ("", "-secondary"))
        if state is not None:  # and its service-lb claims
            self.gone_claims.extend((k, key[3]) for rn, k in state.refs.items() if rn.startswith("vip-claim-service-lb-"))

    def audit(self) -> None:
        """The properties that can be checked over the whole state at any moment."""
        seen: dict[str, Key] = {}
        for key, c in self.api.by_kind["Cluster"].items():
            if self.teardown_may_share and c["metadata"].get("deletionTimestamp") is not None:
                continue
            for vip in cluster_vips(c):
                if vip in seen and seen[vip] != key:
                    self.violation(f"VIP {vip} is used by Cluster {key[3]} and Cluster {seen[vip][3]}")
                seen[vip] = key
        # No record names a VIP that a Cluster of another XR carries; no name resolves to two places.
        owner = {key: (c["metadata"].get("labels") or {}).get(COMPOSITE) for key, c in self.api.by_kind["Cluster"].items()}
        names: dict[str, tuple] = {}
        for key, e in self.api.by_kind["DNSEndpoint"].items():
            mine = (e["metadata"].get("labels") or {}).get(COMPOSITE)
            for ep in e["spec"].get("endpoints") or []:
                for target in ep.get("targets") or []:
                    if target in seen and owner.get(seen[target]) != mine:
                        self.violation(f"DNSEndpoint {key[3]} names {target}, which Cluster {seen[target][3]} of another XR carries")
                    previous = names.setdefault(ep["dnsName"], (key, target))
                    if previous[0] != key:
                        self.violation(f"{ep['dnsName']} is published by DNSEndpoints {key[3]} and {previous[0][3]}")
        # A published name never resolves to an address IPAM holds for another XR's claim.
        holder = {}
        for a in self.api.by_kind["IPAddress"].values():
            claim = self.api.get((GROUP_IPAM, "IPAddressClaim", a["metadata"]["namespace"], a["spec"]["claimRef"]["name"]))
            holder[_canonical(a["spec"]["address"])] = ((claim or {}).get("metadata", {}).get("labels") or {}).get(COMPOSITE)
        for key, records in self.external_dns.published.items():
            for name, _, target in records:
                other = holder.get(_canonical(target))
                if other is not None and other != self.external_dns.owners.get(key):
                    self.violation(f"{name} (DNSEndpoint {key[3]}) resolves to {target}, which IPAM holds for XR {other}")
        by_address: dict[tuple, Key] = {}
        for key, a in self.api.by_kind["IPAddress"].items():
            ref = a["spec"]["poolRef"]
            slot = (ref["kind"], ref["name"], a["spec"]["address"])
            if slot in by_address:
                self.violation(f"address {slot} is held by two IPAddresses")
            by_address[slot] = key

    def settle(self, seconds: float = 3600.0) -> None:
        """Let every controller finish: IPAM up, time passes."""
        self.ipam.set_up(True)
        self.run_for(seconds)
        self.audit()

    def check_claims_serve(self) -> None:
        """After settling: no address held for nothing, no release left half done.

        Every claim a live XR holds is bound to an address its Cluster uses (endpoint or
        ingress annotation), or the XR's last reconcile warns about it (AddressMismatch, or Conflict: a value
        of the XR's own that is not applied now names its address); no
        claim or Usage of a live XR is still on its way out; every claim labelled for an XR
        is one the XR knows.
        """
        known = set()
        for key, state in self.crossplane.xrs.items():
            known.update(state.refs.values())
            cluster = self.api.get(state.refs["cluster"]) if "cluster" in state.refs else None
            if cluster is None or cluster["metadata"].get("deletionTimestamp") is not None:
                continue
            uses = {_canonical(v) for v in cluster_vips(cluster)} - {None}
            for okey in state.refs.values():
                obj = self.api.get(okey)
                if obj is None:
                    continue
                if obj["metadata"].get("deletionTimestamp") is not None and okey[1] != "Usage":
                    # (A Usage deleted by hand waits for its Cluster by Crossplane's design, still protecting.)
                    self.violation(f"XR {key[3]}: {okey[1]} {okey[3]} is still being deleted after settling")
                if okey[1] == "Usage" and "by" not in obj["spec"]:
                    self.violation(f"XR {key[3]}: Usage {okey[3]} is still detached after settling: a release left half done")
                if okey[1] != "IPAddressClaim" or not (obj.get("status") or {}).get("addressRef"):
                    continue
                address = self.api.get((GROUP_IPAM, "IPAddress", okey[2], obj["status"]["addressRef"]["name"]))
                held = _canonical(address["spec"]["address"]) if address else None
                if held in uses or any(r in ("AddressMismatch", "Conflict") and okey[3] in m for r, m in state.warnings):
                    continue
                self.violation(f"XR {key[3]}: claim {okey[3]} holds {held}, which Cluster {key[3]} does not use "
                               f"({sorted(uses)}), and nothing says so")
            # The service-lb list: every listed address is one a claim of the XR holds, and the XR has as many as it asks for.
            lb_list = next((v.get("value") for v in cluster["spec"]["topology"].get("variables") or []
                            if v.get("name") == SERVICE_LB_VARIABLE), None)
            xr_obj = self.api.get(key)
            written = any(v.get("name") == SERVICE_LB_VARIABLE
                          for v in ((xr_obj or {}).get("spec", {}).get("cluster", {}).get("topology") or {}).get("variables") or [])
            if lb_list is not None:
                # (A list the XR writes itself is its own: any of its claims may hold a listed address.)
                held, kept = set(), set()  # kept: held for another value of the XR that names it (a Conflict says so)
                for rn, okey in state.refs.items():
                    claim = self.api.get(okey) if rn.startswith("vip-claim-service-lb-") or (written and okey[1] == "IPAddressClaim") else None
                    ref = ((claim or {}).get("status") or {}).get("addressRef")
                    address = self.api.get((GROUP_IPAM, "IPAddress", okey[2], ref["name"])) if ref else None
                    if address is not None:
                        held.add(address["spec"]["address"])
                        if any(r == "Conflict" and okey[3] in m for r, m in state.warnings):
                            kept.add(address["spec"]["address"])
                for a in set(lb_list) - held:
                    self.violation(f"XR {key[3]}: Cluster lists service-lb address {a}, which no claim of the XR holds")
                if written:
                    continue
                held -= kept - set(lb_list)
                if len(held) != self.service_lb_count(self.api.get(key)) or len(lb_list) != len(held):
                    self.violation(f"XR {key[3]}: {len(held)} service-lb claims bound and {len(lb_list)} listed after "
                                   f"settling, for a count of {self.service_lb_count(self.api.get(key))}")
        for ckey, claim in self.api.by_kind["IPAddressClaim"].items():
            owner = (claim["metadata"].get("labels") or {}).get(COMPOSITE)
            if owner and ckey not in known and self.crossplane.by_name.get(owner) is not None:
                self.violation(f"claim {ckey[3]} carries XR {owner}'s label, but the XR does not know it")

    def check_dns(self) -> None:
        """After settling, with dns on: each live XR's records name exactly the IP VIPs its Cluster carries,
        external-dns has read them, and a Cluster whose class defines clusterDnsName carries the
        control-plane name. With dns off: no XR has a DNSEndpoint."""
        dns = (self.crossplane.inp or {}).get("dns")
        for key, state in self.crossplane.xrs.items():
            endpoint = self.api.get(state.refs["vip-dns"]) if "vip-dns" in state.refs else None
            if dns is None:
                if endpoint is not None:
                    self.violation(f"XR {key[3]}: the Input sets no dns, but DNSEndpoint {endpoint['metadata']['name']} is left")
                continue
            cluster = self.api.get(state.refs["cluster"]) if "cluster" in state.refs else None
            if cluster is None or cluster["metadata"].get("deletionTimestamp") is not None:
                continue
            wanted = set()
            host = addresses.parse_ip((cluster["spec"].get("controlPlaneEndpoint") or {}).get("host"))
            if host is not None:
                wanted.add((f"{key[3]}-api.{dns['zone']}", "AAAA" if ":" in host else "A", host))
            pair = ((cluster["metadata"].get("annotations") or {}).get(INGRESS_VIP) or "").split(",")
            ingress = addresses.parse_ip(pair[0])
            if ingress is not None:
                wanted.add((f"*.{key[3]}.{dns['zone']}", "AAAA" if ":" in ingress else "A", ingress))
            published = set(self.external_dns.published.get(state.refs.get("vip-dns"), []))
            if published != wanted:
                self.violation(f"XR {key[3]}: external-dns publishes {sorted(published)}, but its Cluster carries {sorted(wanted)}")
            if endpoint is not None and (endpoint.get("status") or {}).get("observedGeneration") != endpoint["metadata"]["generation"]:
                self.violation(f"XR {key[3]}: external-dns has not read DNSEndpoint {endpoint['metadata']['name']} after settling")
            topology = cluster["spec"]["topology"]
            cls = self.api.get(("cluster.x-k8s.io", "ClusterClass", key[2], topology.get("class")))
            defined = {v["name"] for v in ((cls or {}).get("spec") or {}).get("variables") or []}
            carried = {v["name"]: v.get("value") for v in topology.get("variables") or []}
            if host is not None and "clusterDnsName" in defined and carried.get("clusterDnsName") != f"{key[3]}-api.{dns['zone']}":
                self.violation(f"XR {key[3]}: Cluster carries clusterDnsName={carried.get('clusterDnsName')!r}, "
                               f"not its record {key[3]}-api.{dns['zone']}")

    def check_addresses_returned(self) -> None:
        """After an XR is gone, its addresses are back in the pool (once IPAM has run)."""
        for claim_key, xr in self.gone_claims:
            if self.api.get((GROUP_IPAM, "IPAddress", claim_key[2], claim_key[3])) is not None:
                self.violation(f"XR {xr} is gone but IPAddress {claim_key[2]}/{claim_key[3]} still holds its address")
