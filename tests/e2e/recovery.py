"""A fault on the management cluster while a fleet of XRs is in every state: after it clears, nothing lost,
nothing shared, and the time to recover measured.

``recovers(world, fault, size)`` stands up ``size`` XRs in one namespace over one ClusterClass, in the
states a fleet is in at any moment: converged (four in ten), converged with a manual ingress VIP (one in
ten), being created (three in ten) and being deleted (two in ten, with their Usages). Then the fault
strikes; the creations and deletions are issued just before it, or while it lasts (``Fault.churn``). Once
the component is back (``world.start`` returned), every property the simulator checks must hold on the
objects themselves:

- no two live Clusters share a VIP, at the end and (in the simulator) at any moment; the pools hold exactly
  the live XRs' addresses, so a new XR gets one only once a deleted XR's is free;
- no live endpoint or ingress VIP changed, and nothing composed was dropped: the Cluster and every claim
  of an XR, once converged, stays the same object (its uid) with the same address;
- no claim holds an address other than the one its Cluster uses in its role, and no address is held
  without its claim;
- every address of a deleted XR is back in its pool (the pools count exactly the live XRs' addresses);
- every XR converges: it reports its VIPs, its Cluster carries them, its claims hold them, and its last
  reconcile succeeded (Crossplane's Synced; in the simulator, no failure since);
- every live XR is Ready again: the suite plays the infrastructure and control-plane providers
  (``World.provide``) for each XR once its Cluster carries its VIPs, at once, as if machines took no time;
  Cluster API computes the Cluster's Ready from that, and Crossplane the XR's;
- no component exits but those the fault may take with it (``Fault.takes_down``).

The time from the fault clearing to each XR converging (those not converged when it cleared), to each XR
Ready (those not Ready at some read after it cleared: the time it was last seen turning Ready), and to each
deleted XR being gone with its Cluster and claims, is measured and returned (how many, p50, max), in the
world's unit (seconds, or simulated seconds). Each time is that of the read that first saw it, so it is late by
up to one read's length: the longest read is returned too (``poll``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics

from tests.e2e.scenarios import no_vip_shared
from tests.e2e.world import INGRESS_VIP, TRANSIENT, XR_KIND, World, cluster_class, pool


@dataclasses.dataclass(frozen=True)
class Fault:
    name: str
    component: str  # what world.stop and world.start act on
    hold: float  # seconds it stays down (0: a restart)
    churn: str = "before"  # the creations and deletions: "before" the fault strikes, or "during" it
    change: dict | None = None  # fields of the Input changed, rolled out with the restart (a new Composition revision)
    takes_down: tuple[str, ...] = ()  # components that may exit with it (restarted as the kubelet would); any other fails


FAULTS = (
    Fault("kube-apiserver stopped for 30 s", "kube-apiserver", 30),
    # external-dns's CoreDNS records live in the stack's etcd: it exits when etcd goes
    Fault("etcd stopped for 30 s", "etcd", 30, takes_down=("external-dns",)),
    Fault("the IPAM provider stopped for 3 minutes while new XRs wait", "ipam", 180, churn="during"),
    Fault("the function unreachable for 2 minutes while XRs are created and deleted", "function", 120, churn="during"),
    Fault("Crossplane restarted while XRs are deleted with their Usages", "crossplane", 0),
    Fault("the function restarted with a new Input (a new Composition revision)", "function", 0,
          change={"ttl": {"converged": "45s"}, "manualVips": {"checkPools": True}}),
)


@dataclasses.dataclass
class Fleet:
    cls: str
    manual: dict[str, str]  # live XR -> its manual ingress VIP (outside the pools)
    creating: list[str]
    deleting: list[str]
    standing: list[str]  # the live XRs converged before the fault
    cp_total: int
    ingress_total: int
    # object ("Cluster x000", "IPAddressClaim vip-cp-x000") -> (uid, address) as first seen converged: never to change
    seen: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    provided: set[str] = dataclasses.field(default_factory=set)  # the live XRs the providers' part was played for

    @property
    def live(self) -> list[str]:
        return [*self.standing, *self.creating]


def _shares(size: int) -> tuple[int, int, int, int]:
    """(converged, manual, creating, deleting) of a fleet of size XRs: 4, 1, 3 and 2 in ten, each at least one."""
    if size < 5:
        raise ValueError(f"a fleet of at least 5 XRs, not {size}")
    manual, creating, deleting = max(1, size // 10), max(1, size * 3 // 10), max(1, size // 5)
    return size - manual - creating - deleting, manual, creating, deleting


@dataclasses.dataclass
class View:
    """One read of the namespace: one list per kind."""

    xrs: dict[str, dict]
    clusters: dict[str, dict]
    claims: dict[str, dict]
    addresses: dict[str, str]  # IPAddress name (its claim's) -> address

    @classmethod
    def of(cls, world: World) -> "View":
        return cls({x["metadata"]["name"]: x for x in world.list(XR_KIND)},
                   {c["metadata"]["name"]: c for c in world.list("Cluster")}, world.claims(), world.addresses())

    def vips(self, name: str) -> tuple[str | None, str | None]:
        c = self.clusters.get(name) or {}
        return ((c.get("spec") or {}).get("controlPlaneEndpoint", {}).get("host"),
                ((c.get("metadata") or {}).get("annotations") or {}).get(INGRESS_VIP))


def standing_fleet(world: World, size: int) -> Fleet:
    """The pools (world.net for control planes, world.net2 for ingress, manual VIPs at .240 and up of net2, outside
    them), sized exactly for the live XRs after the fault: a new XR can only have an address a deleted one frees;
    the class; and the fleet's XRs that stand before the fault, converged, the ones to delete among them."""
    if size > 100:
        raise ValueError("a fleet of at most 100 XRs: the pools and manual VIPs share /24s")
    cls = f"{world.ns}-fleet"
    converged, manual, creating, deleting = _shares(size)
    cp_total, ingress_total = converged + manual + creating, converged + creating
    world.apply(cluster_class(cls, world.ns),
                pool(f"{cls}-cp", cls, "control-plane", [f"{world.net}.10-{world.net}.{9 + cp_total}"], gateway=f"{world.net}.1"),
                pool(f"{cls}-ingress", cls, "ingress", [f"{world.net2}.10-{world.net2}.{9 + ingress_total}"],
                     gateway=f"{world.net2}.1"))
    names = [f"x{i:03d}" for i in range(size)]
    standing = names[:converged + manual + deleting]
    manual_vips = {n: f"{world.net2}.{240 + i}" for i, n in enumerate(standing[converged:converged + manual])}
    for name in standing:
        annotations = {INGRESS_VIP: manual_vips[name]} if name in manual_vips else None
        world.create_xr(world.new_xr(name, cls, annotations=annotations))
    fleet = Fleet(cls, manual_vips, names[converged + manual + deleting:], standing[converged + manual:],
                  standing[:converged + manual], cp_total, ingress_total)
    world.wait(f"{len(standing)} XRs converged", lambda: not _unconverged(View.of(world), standing, manual_vips), timeout=900)
    view = View.of(world)
    _remember(view, fleet, fleet.standing, [])
    world.wait(f"{len(fleet.standing)} live XRs Ready", lambda: not _unready(world, fleet, View.of(world), fleet.standing, fleet.standing),
               timeout=900)
    return fleet


def _unconverged(view: View, names, manual: dict[str, str]) -> set[str]:
    """The XRs of names not converged: the XR reports its VIPs, its Cluster carries them, and each claim it holds
    (the ingress one only without a manual VIP) is bound to the VIP of its own role."""
    out = set()
    for name in names:
        vip = ((view.xrs.get(name) or {}).get("status") or {}).get("vip") or {}
        want = (vip.get("controlPlane"), manual.get(name) or vip.get("ingress"))
        if None in want or name not in view.clusters or view.vips(name) != want or (name in manual and vip.get("ingress") != want[1]):
            out.add(name)
            continue
        held = {f"vip-cp-{name}": want[0]} | ({} if name in manual else {f"vip-ingress-{name}": want[1]})
        bound = {c: view.addresses.get((((view.claims.get(c) or {}).get("status") or {}).get("addressRef") or {}).get("name"))
                 for c in held}
        if bound != held:
            out.add(name)
    return out


def _unready(world: World, fleet: Fleet, view: View, names, converged) -> set[str]:
    """The XRs of names not Ready; first, the providers' part played for each XR of converged not yet given it
    (once: the infrastructure cluster ready, the control plane initialized; World.provide)."""
    for name in converged:
        if name not in fleet.provided and world.provide(name):
            fleet.provided.add(name)
    return {n for n in names if not world.ready(view.xrs.get(n), view.clusters.get(n))}


def _remember(view: View, fleet: Fleet, names, changed: list[str]) -> None:
    """Each converged XR's Cluster and claims as first seen (uid, address); one seen again otherwise is a change."""
    for name in names:
        c = view.clusters[name]
        objects = {f"Cluster {name}": (c["metadata"]["uid"], "/".join(str(v) for v in view.vips(name)))}
        for claim in (f"vip-cp-{name}", f"vip-ingress-{name}"):
            if claim in view.claims:
                objects[f"IPAddressClaim {claim}"] = (view.claims[claim]["metadata"]["uid"], view.addresses.get(claim, ""))
        for key, now in objects.items():
            was = fleet.seen.setdefault(key, now)
            if was != now:
                changed.append(f"{key} in {fleet.cls.removesuffix('-fleet')}: {was} when first converged, {now} later "
                               "(uid, address): made again or moved")


def _churn(world: World, fleet: Fleet) -> None:
    """The deletions first: the pools are full, and a new XR gets an address only once a deleted one's is free."""
    for name in fleet.deleting:
        world.delete_xr(name)
    for name in fleet.creating:
        world.create_xr(world.new_xr(name, fleet.cls))


def recovers(world: World, fault: Fault, size: int, timeout: float = 900) -> dict:
    """The fault struck at a fleet of size XRs (module docstring); returns the figures of its recovery."""
    fleet = standing_fleet(world, size)
    try:
        figures = _strike(world, fault, fleet, size, timeout)
    except BaseException:
        with contextlib.suppress(Exception):  # the failure is what the test reports
            world.faults_over()
        raise
    world.faults_over()
    return figures


def _strike(world: World, fault: Fault, fleet: Fleet, size: int, timeout: float) -> dict:
    if fault.churn == "before":
        _churn(world, fleet)
        world.pause(0.5)  # the fault strikes while they are under way
    world.stop(fault.component)
    if fault.churn == "during":
        _churn(world, fleet)
    if fault.hold:
        world.pause(fault.hold)
    if fault.change is not None:
        world.set_input(fault.change)
    world.start(fault.component)
    cleared = world.now()
    converged: dict[str, float] = {}
    ready: dict[str, float] = {}
    gone: dict[str, float] = {}
    changed: list[str] = []
    converging: set[str] = set()
    readying: set[str] = set()
    read: list[View] = []
    polls: list[float] = []

    def settled() -> bool:
        now = world.now() - cleared
        try:
            view = View.of(world)
            unconverged = _unconverged(view, fleet.live, fleet.manual)
            unready = _unready(world, fleet, view, fleet.live, [n for n in fleet.live if n not in unconverged])
        except TRANSIENT:
            return False  # the API server just back serves custom resources only once it has their CRDs again: read again
        finally:
            polls.append(world.now() - cleared - now)
        if not read:  # the first read after the fault cleared: the XRs still to converge
            read.append(view)
            converging.update(unconverged)
        _remember(view, fleet, [n for n in fleet.live if n not in unconverged], changed)
        for name in converging - unconverged - set(converged):
            converged[name] = now
        for name in unready:  # not Ready now: its time is that of the read that sees it Ready again
            readying.add(name)
            ready.pop(name, None)
        for name in readying - unready - set(ready):
            ready[name] = now
        for name in set(fleet.deleting) - set(gone):
            if name not in view.xrs and name not in view.clusters and not any(c.endswith(f"-{name}") for c in view.claims):
                gone[name] = now
        unsynced = [n for n in fleet.live if not world.synced(n, view.xrs.get(n))]
        return not changed and not unconverged and not unready and not unsynced and len(gone) == len(fleet.deleting)

    world.wait(f"every XR converged, Ready and reconciled, or gone, after {fault.name}", settled, timeout)
    assert not changed, "; ".join(changed)
    if fault.change is not None:  # reconciled on the new revision, not only converged on the old one
        world.wait("every live XR on the Composition's newest revision", lambda: not world.off_latest_revision(fleet.live), 120)
    check(world, fleet)
    unexpected = [r for name, r in world.restarts() if name not in fault.takes_down]
    assert not unexpected, f"{fault.name} took down what it should not have: {'; '.join(unexpected)}"
    return {"fault": fault.name, "xrs": size, "unit": world.unit, "converged": _spread(converged), "ready": _spread(ready),
            "gone": _spread(gone), "poll": max(polls), "restarts": [r for _, r in world.restarts()]}


def _spread(times: dict[str, float]) -> tuple[int, float, float]:
    """(how many, p50, max) of the times."""
    values = sorted(times.values())
    return (len(values), statistics.median(values), values[-1]) if values else (0, 0.0, 0.0)


def check(world: World, fleet: Fleet) -> None:
    """Every property after a fault (module docstring), on the objects themselves."""
    live = fleet.live
    view = View.of(world)
    lost = sorted(n for n in live if n not in view.clusters)
    assert not lost, f"the Cluster of XR {', '.join(lost)} in {world.ns} is gone: a composed resource dropped"
    no_vip_shared(world, {n: view.clusters[n] for n in live})
    seen = world.violations()
    assert not seen, f"a property broken at some moment: {'; '.join(seen[:3])}"
    expected = {f"vip-cp-{n}" for n in live} | {f"vip-ingress-{n}" for n in live if n not in fleet.manual}
    assert set(view.claims) == expected, (f"claims not the live XRs': {sorted(set(view.claims) - expected)} too many, "
                                          f"{sorted(expected - set(view.claims))} missing")
    assert set(view.addresses) == expected, \
        f"an IPAddress without its claim, or a claim without one: {sorted(set(view.addresses) ^ expected)}"
    for name in live:
        host, ingress = view.vips(name)
        for claim, used in ((f"vip-cp-{name}", host), (f"vip-ingress-{name}", ingress)):
            if claim in view.addresses:
                assert view.addresses[claim] == used, \
                    f"IPAddressClaim {world.ns}/{claim} holds {view.addresses[claim]}; Cluster {name} uses {used} in its place"
    for name in fleet.deleting:
        assert name not in view.xrs and name not in view.clusters, f"XR {name} or its Cluster is still there"
    pools = ((f"{fleet.cls}-cp", fleet.cp_total - len(live)),
             (f"{fleet.cls}-ingress", fleet.ingress_total - len([n for n in live if n not in fleet.manual])))
    for name, free in pools:
        world.wait(f"GlobalInClusterIPPool {name} to count {free} free addresses",
                   lambda name=name, free=free: world.pool_free("GlobalInClusterIPPool", name) == free, timeout=120)
