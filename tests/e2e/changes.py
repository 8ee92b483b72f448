"""A user's changes to XRs on the real stack, and how long each takes to reach the composed objects.

Each XR gets a plan of changes, made one after another as soon as the last one shows, the first of
them right after the XR is created, and the last three together in a burst: the service-lb count, a
variable of the Cluster spec, a manual ingress VIP set and removed, ingress off and on, the Kubernetes
version. A change's effect is the first moment the composed objects, as the API server serves them
(read from a watch, so no poll adds load), are what the change asks for: the Cluster's endpoint,
variables and annotation, and exactly the claims wanted, a released one gone. For each change this
records the time to its effect, what the watch events of that while cost the XR's circuit breaker
(watchlog.Event.tokens), and the function's calls for the XR.

tests/e2e/test_changes.py runs a small plan on the shared stack; bench/changes.py a larger one on a
stack of its own, with Crossplane's flags as given.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time

from tests.e2e.scenarios import SERVICE_LB_COUNT
from tests.e2e.watchlog import WatchLog, attribute, function_calls
from tests.e2e.world import INGRESS_ENABLED, INGRESS_VIP, XR_API, XR_KIND, StackWorld, cluster_class, pool

VARIABLES = ("clusterVip", "ingressVip", "serviceLbVips")
VERSION = "v1.31.1"  # the version a plan moves to (the XRs start on v1.31.0)


@dataclasses.dataclass
class Change:
    xr: str
    what: str
    at: float  # wall clock, just before the request
    effect: float | None = None  # when the composed objects first showed it
    tokens: int = 0  # the cost of the watch events that reached the XR until the next change (or settled)
    calls: int = 0  # the function's calls for the XR in that while

    @property
    def seconds(self) -> float | None:
        return None if self.effect is None else self.effect - self.at


@dataclasses.dataclass(frozen=True)
class Want:
    """What the composed objects of one XR must show."""

    lb: int | None = None  # service-lb addresses on the Cluster, and as many claims
    ingress: str | None = None  # "pool": the ingress claim's address; "off": none; else that manual VIP
    cni: str | None = None
    version: str | None = None

    def merged(self, other: Want) -> Want:
        return Want(**{f.name: getattr(other, f.name) if getattr(other, f.name) is not None else getattr(self, f.name)
                       for f in dataclasses.fields(self)})


class Objects:
    """The objects of a namespace as the watch last saw them."""

    def __init__(self, log: WatchLog, namespace: str) -> None:
        self.log, self.ns = log, namespace

    def get(self, kind: str, name: str) -> dict | None:
        return self.log.latest(kind, self.ns, name)

    def claims(self, prefix: str) -> dict[str, dict]:
        return {n: o for n, o in self.log.of_kind("IPAddressClaim", self.ns).items() if n.startswith(prefix)}

    def address(self, claim: dict) -> str | None:
        ref = ((claim.get("status") or {}).get("addressRef") or {}).get("name")
        a = self.get("IPAddress", ref) if ref else None
        return (a or {}).get("spec", {}).get("address")


def shows(objs: Objects, xr: str, want: Want) -> bool:
    """Whether the composed objects of XR xr show everything wanted."""
    cluster = objs.get("Cluster", xr)
    if cluster is None or not (cluster["spec"].get("controlPlaneEndpoint") or {}).get("host"):
        return False
    topology = cluster["spec"]["topology"]
    variables = {v["name"]: v.get("value") for v in topology.get("variables") or []}
    if want.cni is not None and variables.get("cni") != want.cni:
        return False
    if want.version is not None and topology.get("version") != want.version:
        return False
    if want.lb is not None:
        claims = objs.claims(f"vip-lb-{xr}-")
        if len(variables.get("serviceLbVips") or []) != want.lb or len(claims) != want.lb:
            return False
        if sorted(objs.address(c) or "" for c in claims.values()) != sorted(variables.get("serviceLbVips") or []):
            return False
    if want.ingress is not None:
        annotation = (cluster["metadata"].get("annotations") or {}).get(INGRESS_VIP)
        claim = objs.get("IPAddressClaim", f"vip-ingress-{xr}")
        if want.ingress == "off":
            return annotation is None and claim is None and "ingressVip" not in variables
        if want.ingress == "pool":
            return claim is not None and annotation is not None and annotation == objs.address(claim) == variables.get("ingressVip")
        return annotation == want.ingress and claim is None
    return True


def edit(world: StackWorld, xr: str, *, annotations: dict | None = None, cluster: dict | None = None) -> None:
    """One merge patch of the XR, as kubectl patch --type=merge would send it."""
    patch: dict = {}
    if annotations:
        patch["metadata"] = {"annotations": annotations}
    if cluster:
        patch["spec"] = {"cluster": cluster}
    world.kube.patch(XR_API, XR_KIND, xr, patch, world.ns)


# Changes Cluster API accepts only once the control plane is provisioned: its webhook refuses a new
# topology.version while the control plane is provisioning ("version cannot be changed: control plane is
# currently provisioning"). Before them the test plays the providers' part (StackWorld.cluster_ready).
AFTER_PROVISIONING = {"the Kubernetes version"}


def plan(world: StackWorld, xr: str, manual: str) -> list[tuple[str, list[dict], Want]]:
    """The changes made to one XR, in order: (name, the patches sent together, what then shows)."""
    version = VERSION
    return [
        ("service-lb count 2, right after creation", [{"annotations": {SERVICE_LB_COUNT: "2"}}], Want(lb=2)),
        ("a Cluster variable", [{"cluster": {"topology": {"variables": [{"name": "cni", "value": "cilium"}]}}}], Want(cni="cilium")),
        ("manual ingress VIP", [{"annotations": {INGRESS_VIP: manual}}], Want(ingress=manual)),
        ("manual ingress VIP removed", [{"annotations": {INGRESS_VIP: None}}], Want(ingress="pool")),
        ("ingress off", [{"annotations": {INGRESS_ENABLED: "false"}}], Want(ingress="off")),
        ("ingress on", [{"annotations": {INGRESS_ENABLED: None}}], Want(ingress="pool")),
        ("service-lb count 0", [{"annotations": {SERVICE_LB_COUNT: "0"}}], Want(lb=0)),
        ("the Kubernetes version", [{"cluster": {"topology": {"version": version}}}], Want(version=version)),
        ("burst: count 3, a variable, ingress off",
         [{"annotations": {SERVICE_LB_COUNT: "3"}},
          {"cluster": {"topology": {"variables": [{"name": "cni", "value": "calico"}]}}},
          {"annotations": {INGRESS_ENABLED: "false"}}],
         Want(lb=3, cni="calico", ingress="off")),
    ]


def platform(world: StackWorld, cls: str, net: str, xrs: int) -> None:
    """A class defining the three VIP variables and a pool per role with room for every XR."""
    world.apply(cluster_class(cls, world.ns, VARIABLES),
                pool(f"{cls}-cp", cls, "control-plane", [f"{net}.10-{net}.{9 + xrs}"], gateway=f"{net}.1"),
                pool(f"{cls}-ingress", cls, "ingress", [f"{net}.60-{net}.{59 + xrs}"], gateway=f"{net}.1"),
                pool(f"{cls}-lb", cls, "service-lb", [f"{net}.100-{net}.{99 + 4 * xrs}"], gateway=f"{net}.1"))


def run(world: StackWorld, net: str, xrs: int, *, timeout: float = 180) -> list[Change]:
    """Create xrs XRs at once and make every XR's plan, each XR in a thread of its own; the changes,
    creation first (its effect: the Cluster with its endpoint)."""
    cls = f"{world.ns}-changes"
    platform(world, cls, net, xrs)
    log: WatchLog = world.stack.watch_log
    objs = Objects(log, world.ns)
    changes: list[Change] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        xr = f"c{i}"
        created = Change(xr, "creation", time.time())
        world.create_xr(world.new_xr(xr, cls, annotations={SERVICE_LB_COUNT: "1"}))
        mine = [created]
        time.sleep(0.5)  # the first change comes while the XR is still being composed
        want = Want(lb=1, ingress="pool", cni="calico", version="v1.31.0")
        for what, patches, effect in plan(world, xr, f"{net}.{240 + i}"):
            if what in AFTER_PROVISIONING:
                world.cluster_ready(xr)
            change = Change(xr, what, time.time())
            for p in patches:
                edit(world, xr, **p)
            mine.append(change)
            want = want.merged(effect)
            end = change.at + timeout
            while time.time() < end and change.effect is None:
                now = time.time()
                if created.effect is None and shows(objs, xr, Want()):
                    created.effect = now
                if shows(objs, xr, want):
                    change.effect = now
                time.sleep(0.02)
            if change.effect is None:
                with lock:
                    errors.append(f"XR {world.ns}/{xr}: '{what}' did not show in {timeout:.0f} s")
                break
        with lock:
            changes.extend(mine)

    threads = [threading.Thread(target=one, args=(i,), name=f"changes-c{i}") for i in range(xrs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(3)  # the last changes settle before what they cost is counted
    _costs(world, changes, log)
    if errors:
        raise AssertionError("\n".join(errors) + "\n" + "\n".join(summary(changes)))
    return changes


def _costs(world: StackWorld, changes: list[Change], log: WatchLog) -> None:
    calls = function_calls(world.stack.procs["function"].log)
    events = log.since(min(c.at for c in changes))
    by_xr: dict[str, list[Change]] = {}
    for c in changes:
        by_xr.setdefault(c.xr, []).append(c)
    for xr, mine in by_xr.items():
        mine.sort(key=lambda c: c.at)
        xr_calls = calls.get(f"{world.ns}/{xr}", [])
        attributed = attribute(events, XR_KIND, world.ns, xr, xr_calls)
        for c, nxt in zip(mine, [*mine[1:], None]):
            end = nxt.at if nxt else (c.effect or c.at) + 3
            c.tokens = sum(e.tokens for _, e in attributed if c.at <= e.at < end)
            c.calls = sum(1 for t, _ in xr_calls if c.at <= t < end)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))]


def summary(changes: list[Change]) -> list[str]:
    """Lines: per kind of change and over all, the time to effect (p50, p99, max), and per change the
    breaker tokens and function calls (p50, max)."""
    kinds: dict[str, list[Change]] = {}
    for c in changes:
        kinds.setdefault(c.what, []).append(c)
    lines = []
    for what, cs in [*kinds.items(), ("all changes (not creation)", [c for c in changes if c.what != "creation"])]:
        secs = [c.seconds for c in cs if c.seconds is not None]
        if not secs:
            continue
        tokens, calls = [c.tokens for c in cs], [c.calls for c in cs]
        lines.append(f"{what}: n={len(cs)}, to effect p50 {percentile(secs, 50):.2f} s, p99 {percentile(secs, 99):.2f} s, "
                     f"max {max(secs):.2f} s; breaker tokens p50 {statistics.median(tokens):.0f}, max {max(tokens)}; "
                     f"function calls p50 {statistics.median(calls):.0f}, max {max(calls)}")
    return lines
