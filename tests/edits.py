"""What platform engineers and their clusters do to XRs, as random steps in the simulator.

``EditRun`` drives a ``Sim`` with a random mix of ordinary work and edits, each step
followed by a random wait:

- XRs created (some with ingress off, a manual ingress VIP or a manual endpoint) and deleted;
- on live XRs: ingress turned off and on, manual ingress VIPs and endpoints set, changed,
  set to the live VIP and removed, the endpoint port changed;
- hand edits of a live Cluster: its endpoint host, its ingress annotation and variable,
  its port;
- hand deletion of a claim, a Usage or a Cluster;
- faults: IPAM down and up, a required resource missing for one reconcile, a namespaced
  pool added and removed, a ClusterClass deleted and restored.

Usages on (the default Input) or off (``USAGE_OFF``) is a choice of the run: with them
off, a claim is only ever deleted by hand while it holds nothing, since deleting one a
live cluster uses frees its VIP at once (the ClaimMissing warning's case).

Hand-edited and manual VIPs are addresses no pool hands out (192.168.x.y, each used once).
A manual VIP inside a pool's range (pinning the pool VIP a cluster has, say) is reserved
only while the claim that holds it lives; once that claim is gone IPAM may hand it out
again: tests/test_user_edits.py covers the pinning cases one by one. With the Input
``CHECK_POOLS`` (manualVips.checkPools) a third of the manual VIPs are addresses the XR's
own pool for the role can hand out (the top of its /20, which the run never allocates),
and ``check_manual_vips`` holds: no Cluster carries one unless the XR warns about it.

With the Input ``DNS`` (dns on, every class defining clusterDnsName) the platform team now and
then turns dns off and on again in the Composition (``op_dns``); after settling ``check_dns``
holds: each live XR's records are exactly the IP VIPs its Cluster carries, read by external-dns,
and its Cluster carries the control-plane name; and at every step no record names a VIP of
another XR's Cluster.

``settle`` ends a run: the class restored, IPAM up, hours pass. Then ``check_claims_serve``
holds the property the run is for: every claim a live XR holds is bound to an address its
Cluster uses (endpoint or ingress annotation), or the XR's last reconcile says why not with
an AddressMismatch warning; no release is left half done.
"""

from __future__ import annotations

import copy

from tests.harness import cluster_class, pool, xr
from tests.sim import DELETION_ATTEMPT, GROUP_IPAM, INGRESS_VIP, Sim

XR_GROUP = "platform.example.org"
OFF = "vip.capi.gorizond.io/ingress-enabled"
NS = "team-a"
CLASSES = ("alpha", "beta")
USAGE_OFF = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "usage": "None"}
CHECK_POOLS = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "manualVips": {"checkPools": True}}
DNS = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "dns": {"zone": "clusters.example.org"}}
NO_DNS = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input"}
# Service load-balancer addresses: the default Input, with classes that define serviceLbVips (fleet's
# service_lb) and a service-lb pool per class; the count annotation is edited at random (op_service_lb).
SERVICE_LB = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "roles": {"serviceLb": {"defaultCount": 2}}}
LB_COUNT = "vip.capi.gorizond.io/service-lb-count"
# Dual-stack pairs: classes that define the secondary variables and an IPv6 pool per class and role; the XR's
# dual-stack annotation is turned off and on at random (op_dual_stack).
DUAL_STACK = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "dualStack": {"primaryFamily": "IPv4"}}
DUAL_STACK_KEY = "vip.capi.gorizond.io/dual-stack"
OPS = (
    "create", "create", "create", "delete", "ingress", "manual-ingress", "manual-host", "port", "edit-cluster",
    "delete-claim", "delete-usage", "delete-cluster", "ipam", "drop", "pool", "class", "own-ingress",
)
DNS_OPS = ("dns", "delete-dns-endpoint")
LB_OPS = ("service-lb", "service-lb", "write-own")  # with the Input DNS: the platform team turns dns off and on again in the Composition
DUAL_OPS = ("dual-stack", "write-own")


VARIABLES = ("clusterVip", "ingressVip", "clusterDnsName")
LB_VARIABLES = (*VARIABLES, "serviceLbVips")
DUAL_VARIABLES = (*VARIABLES, "clusterVipSecondary", "ingressVipSecondary")


def fleet(sim: Sim, classes=CLASSES, namespaces=(NS,), *, service_lb: bool = False, dual_stack: bool = False) -> None:
    """A ClusterClass per class and namespace; per class a global control-plane and ingress pool (a /20 each),
    with service_lb a service-lb pool (a /20) and classes that define serviceLbVips, with dual_stack an IPv6
    pool per role (4096 addresses each) and classes that define the secondary variables."""
    variables = LB_VARIABLES if service_lb else DUAL_VARIABLES if dual_stack else VARIABLES
    for i, cls in enumerate(classes):
        for ns in namespaces:
            sim.add(cluster_class(cls, ns, variables=variables))
        if dual_stack:
            sim.add(pool(f"{cls}-cp6", cls, addresses=(f"fd00:{i}::/116",), prefix=64, gateway=f"fd00:{i}::1"),
                    pool(f"{cls}-ingress6", cls, "ingress", addresses=(f"fd00:{i}:1::/116",), prefix=64, gateway=f"fd00:{i}:1::1"))
        sim.add(pool(f"{cls}-cp", cls, addresses=(f"10.{i}.0.0/20",), prefix=20, gateway=f"10.{i}.0.1"),
                pool(f"{cls}-ingress", cls, "ingress", addresses=(f"10.{i}.16.0/20",), prefix=20, gateway=f"10.{i}.16.1"))
        if service_lb:
            sim.add(pool(f"{cls}-lb", cls, "service-lb", addresses=(f"10.{i}.32.0/20",), prefix=20, gateway=f"10.{i}.32.1"))


class EditRun:
    def __init__(self, sim: Sim, wait: tuple[float, float] = (0.5, 90.0)) -> None:
        self.sim, self.rng = sim, sim.rng
        self.usages = sim.crossplane.inp != USAGE_OFF
        self.check_pools = sim.crossplane.inp == CHECK_POOLS
        self.dns = sim.crossplane.inp == DNS
        self.service_lb = sim.crossplane.inp == SERVICE_LB
        self.dual_stack = sim.crossplane.inp == DUAL_STACK
        self.ops_of_run = (OPS + (DNS_OPS if self.dns else ()) + (LB_OPS if self.service_lb else ())
                           + (DUAL_OPS if self.dual_stack else ()))
        self.variables = LB_VARIABLES if self.service_lb else DUAL_VARIABLES if self.dual_stack else VARIABLES
        self.inside = 0  # the last in-pool manual VIP handed out (CHECK_POOLS)
        self.wait = wait  # seconds between two steps, drawn uniformly
        self.names: list[str] = []
        self.counter = 0
        self.outside = 0  # the last 192.168.x.y handed out
        self.small = pool("alpha-small", "alpha", kind="InClusterIPPool", namespace=NS,
                          addresses=("10.9.0.10-10.9.0.12",), gateway="10.9.0.1")
        self.ops: dict[str, int] = {}

    # helpers
    def address(self, obj: dict | None = None, role: str = "control-plane") -> str:
        """An address no pool hands out, never the same twice; with CHECK_POOLS, now and then one the
        pool of obj's class for role can hand out (the top of its /20: 10.<class>.15.x or 10.<class>.31.x)."""
        if self.check_pools and obj is not None and self.rng.random() < 0.35:
            self.inside += 1
            cls = CLASSES.index(obj["spec"]["cluster"]["topology"]["class"])
            return f"10.{cls}.{15 if role == 'control-plane' else 31}.{self.inside % 250 + 2}"
        self.outside += 1
        return f"192.168.{self.outside // 250}.{self.outside % 250 + 2}"

    def key(self, name: str) -> tuple:
        return (XR_GROUP, "WorkloadCluster", NS, name)

    def live_xr(self) -> dict | None:
        return self.sim.api.get(self.key(self.rng.choice(self.names))) if self.names else None

    def touch(self, obj: dict) -> None:
        """An XR edited: a watch event, which Crossplane acts on at once (unless its circuit breaker drops it)."""
        self.sim.crossplane.event(self.key(obj["metadata"]["name"]), "applied", obj)

    def cluster_of(self, obj: dict) -> dict | None:
        return self.sim.api.get(("cluster.x-k8s.io", "Cluster", NS, obj["metadata"]["name"]))

    # the steps
    def step(self) -> str:
        op = self.rng.choice(self.ops_of_run)
        getattr(self, "op_" + op.replace("-", "_"))()
        self.ops[op] = self.ops.get(op, 0) + 1
        self.sim.run_for(self.rng.uniform(*self.wait))
        self.sim.audit()
        return op

    def op_create(self) -> None:
        self.counter += 1
        name = f"x{self.counter}"
        self.names.append(name)
        annotations = {}
        roll = self.rng.random()
        if roll < 0.2:
            annotations[OFF] = "false"
        if self.service_lb and self.rng.random() < 0.5:
            annotations[LB_COUNT] = str(self.rng.randint(0, 4))
        obj = xr(name, NS, self.rng.choice(CLASSES), annotations=annotations or None)
        if 0.2 <= roll < 0.3:
            annotations[INGRESS_VIP] = self.address(obj, "ingress")
            obj["metadata"]["annotations"] = annotations
        if self.rng.random() < 0.1:
            obj["spec"]["cluster"]["controlPlaneEndpoint"] = {"host": self.address(obj)}
        self.sim.crossplane.create_xr(obj)

    def op_delete(self) -> None:
        """An XR deleted, while Usages are on and protect its claims.

        Without a Usage the claims go with the XR at once, and IPAM may give their addresses
        to a new cluster while CAPI still tears the old one down (the deliberate cost of
        usage: None, which tests/test_simulation.py shows on its own).
        """
        protected = [n for n in self.names if self.protected(n)] if self.usages else self.names
        if protected:
            name = self.rng.choice(protected)
            self.names.remove(name)
            self.sim.crossplane.delete_xr(self.key(name))

    def protected(self, name: str) -> bool:
        """Whether every bound claim of the XR has a Usage by its Cluster."""
        state = self.sim.crossplane.xrs.get(self.key(name))
        if state is None:
            return True
        for okey in state.refs.values():
            claim = self.sim.api.get(okey) if okey[1] == "IPAddressClaim" else None
            if claim is not None and (claim.get("status") or {}).get("addressRef") and not self._usage_of(claim):
                return False
        return True

    def op_ingress(self) -> None:
        obj = self.live_xr()
        if obj is not None:
            annotations = obj["metadata"].setdefault("annotations", {})
            if annotations.pop(OFF, None) is None:
                annotations[OFF] = "false"
            self.touch(obj)

    def op_manual_ingress(self) -> None:
        obj = self.live_xr()
        if obj is None:
            return
        annotations = obj["metadata"].setdefault("annotations", {})
        if INGRESS_VIP in annotations and self.rng.random() < 0.5:
            del annotations[INGRESS_VIP]  # removed: a pool VIP replaces it
        elif self.dual_stack and self.rng.random() < 0.5:
            # Dual stack: an IPv6 manual VIP of the user's own, or the address the XR's ingress secondary claim holds
            # (going IPv6-only): that claim then stays.
            # (Only while that claim lives: one being deleted holds an address about to be free.)
            claim = self.sim.api.get((GROUP_IPAM, "IPAddressClaim", NS, f"vip-ingress-{obj['metadata']['name']}-secondary"))
            live = claim is not None and not claim["metadata"].get("deletionTimestamp")
            own = self.sim.api.get((GROUP_IPAM, "IPAddress", NS, f"vip-ingress-{obj['metadata']['name']}-secondary")) if live else None
            self.outside += 1
            annotations[INGRESS_VIP] = own["spec"]["address"] if own and self.rng.random() < 0.5 else f"fd09::{self.outside:x}"
        else:
            annotations[INGRESS_VIP] = self.address(obj, "ingress")
        self.touch(obj)

    def op_manual_host(self) -> None:
        obj = self.live_xr()
        if obj is None:
            return
        spec = obj["spec"]["cluster"]
        endpoint = spec.setdefault("controlPlaneEndpoint", {})
        cluster = self.cluster_of(obj)
        live = ((cluster or {}).get("spec", {}).get("controlPlaneEndpoint") or {}).get("host")
        roll = self.rng.random()
        if endpoint.get("host") and roll < 0.5:
            del endpoint["host"]
        elif live and live.startswith("192.168.") and roll < 0.7:
            endpoint["host"] = live  # a hand-edited endpoint made the XR's own: its claim goes
        else:
            endpoint["host"] = self.address(obj)
        if not endpoint:
            del spec["controlPlaneEndpoint"]
        self.touch(obj)

    def op_port(self) -> None:
        obj = self.live_xr()
        if obj is None:
            return
        endpoint = obj["spec"]["cluster"].setdefault("controlPlaneEndpoint", {})
        if endpoint.pop("port", None) is None:
            endpoint["port"] = self.rng.choice([6443, 7443])
        if not endpoint:
            del obj["spec"]["cluster"]["controlPlaneEndpoint"]
        self.touch(obj)

    def op_edit_cluster(self) -> None:
        """A hand edit of a live Cluster's VIPs or port, as kubectl edit would make it."""
        clusters = [c for c in self.sim.api.of_kind("Cluster") if not c["metadata"].get("deletionTimestamp")]
        if not clusters:
            return
        c = copy.deepcopy(self.rng.choice(clusters))
        what = self.rng.choice(["host", "ingress", "port", "one-place"])
        endpoint = c["spec"].get("controlPlaneEndpoint")
        if what == "one-place":
            # One of the two places a VIP is carried in, the other left as it was (kubectl annotate, or a patch of
            # one variable): both stay, warned about.
            place = self.rng.choice(["clusterVip", "ingressVip", INGRESS_VIP])
            variable = next((v for v in c["spec"]["topology"].get("variables", []) if v["name"] == place), None)
            annotations = c["metadata"].get("annotations") or {}
            if variable is not None:
                variable["value"] = self.address()
            elif place == INGRESS_VIP and annotations.get(INGRESS_VIP) and "," not in annotations[INGRESS_VIP]:
                annotations[INGRESS_VIP] = self.address()
            else:
                return
            self.sim.api.apply(c)
            return
        if what == "host" and endpoint and endpoint.get("host"):
            endpoint["host"] = self.address()
            for v in c["spec"]["topology"].get("variables", []):
                if v["name"] == "clusterVip":
                    v["value"] = endpoint["host"]
            self.sim.capi.endpoints[c["metadata"]["uid"]] = endpoint["host"]  # the user's change, not the function's
        elif what == "ingress" and (c["metadata"].get("annotations") or {}).get(INGRESS_VIP):
            vip = self.address()
            c["metadata"]["annotations"][INGRESS_VIP] = vip
            for v in c["spec"]["topology"].get("variables", []):
                if v["name"] == "ingressVip":
                    v["value"] = vip
        elif what == "port" and endpoint:
            endpoint["port"] = 7443 if endpoint.get("port") == 6443 else 6443
        else:
            return
        self.sim.api.apply(c)

    def _delete_one(self, kind: str, group: str) -> None:
        objs = [o for o in self.sim.api.of_kind(kind) if not o["metadata"].get("deletionTimestamp")]
        if objs:
            victim = self.rng.choice(objs)
            self.sim.api.delete((group, kind, victim["metadata"]["namespace"], victim["metadata"]["name"]), actor="user")

    def op_delete_claim(self) -> None:
        """A claim deleted by hand: one that holds nothing, or one a Usage protects (the deletion is refused).

        A bound claim without a Usage frees its address at once, and IPAM may give the VIP of a
        live cluster away: the ClaimMissing warning tells the user, tests/test_safety.py checks it.
        """
        claims = [c for c in self.sim.api.of_kind("IPAddressClaim") if not c["metadata"].get("deletionTimestamp")
                  and (not (c.get("status") or {}).get("addressRef") or (self.usages and self._usage_of(c)))
                  and not self._named_by_its_xr(c)]
        if claims:
            victim = self.rng.choice(claims)
            self.sim.api.delete((GROUP_IPAM, "IPAddressClaim", victim["metadata"]["namespace"], victim["metadata"]["name"]),
                                actor="user")

    def _named_by_its_xr(self, claim: dict) -> bool:
        """Whether the claim's XR names its address in a value of its own (the user, who wrote it there, does not
        delete it by hand: a refused deletion would be replayed later, and the value then names a free address)."""
        owner = (claim["metadata"].get("labels") or {}).get("crossplane.io/composite")
        xr = self.sim.api.get(self.key(owner)) if owner else None
        ref = (claim.get("status") or {}).get("addressRef")
        address = self.sim.api.get((GROUP_IPAM, "IPAddress", claim["metadata"]["namespace"], ref["name"])) if ref else None
        if xr is None or address is None:
            return False
        spec = xr["spec"]["cluster"]
        own = [(spec.get("controlPlaneEndpoint") or {}).get("host"), (xr["metadata"].get("annotations") or {}).get(INGRESS_VIP)]
        for v in (spec.get("topology") or {}).get("variables") or []:
            own += v.get("value") if isinstance(v.get("value"), list) else [v.get("value")]
        return address["spec"]["address"] in own

    def _usage_of(self, claim: dict) -> bool:
        usage = self.sim.api.get(("protection.crossplane.io", "Usage", claim["metadata"]["namespace"], claim["metadata"]["name"]))
        return usage is not None and "by" in usage["spec"]

    def op_delete_usage(self) -> None:
        self._delete_one("Usage", "protection.crossplane.io")

    def op_delete_cluster(self) -> None:
        self._delete_one("Cluster", "cluster.x-k8s.io")

    def op_ipam(self) -> None:
        self.sim.ipam.set_up(not self.sim.ipam.up)

    def op_drop(self) -> None:
        choices = ["cluster-class", "address/control-plane", "address/ingress", "existing/cluster", "existing/control-plane"]
        if self.service_lb:
            choices += [f"address/service-lb-{i}" for i in range(3)]
        if self.dual_stack:
            choices += ["address/control-plane-secondary", "address/ingress-secondary", "existing/control-plane-secondary"]
        self.sim.crossplane.drop_next = {self.rng.choice(choices)}

    def op_pool(self) -> None:
        if self.sim.find("InClusterIPPool", "alpha-small", NS):
            self.sim.api.delete((GROUP_IPAM, "InClusterIPPool", NS, "alpha-small"), actor="user")
        else:
            self.sim.add(self.small)

    def op_class(self) -> None:
        key = ("cluster.x-k8s.io", "ClusterClass", NS, "beta")
        if self.sim.api.get(key):
            self.sim.api.delete(key, actor="user")
        else:
            self.sim.add(cluster_class("beta", NS, variables=self.variables))

    def op_service_lb(self) -> None:
        """The count annotation of a live XR set (0 to 5) or removed (the Input's default, 2)."""
        obj = self.live_xr()
        if obj is None:
            return
        annotations = obj["metadata"].setdefault("annotations", {})
        if self.rng.random() < 0.2:
            annotations.pop(LB_COUNT, None)
        else:
            annotations[LB_COUNT] = str(self.rng.randint(0, 5))
        self.touch(obj)

    def _own_addresses(self, name: str) -> list[str]:
        """The addresses the XR's own claims hold (of every slot, composed and not being deleted), for edits that
        name them elsewhere. Not one whose claim the user tried to delete by hand (refused while a Usage protected
        it, and replayed once the Usage goes): a value naming the address of a claim the user is deleting is the
        user's own, and nothing reserves it once the claim is gone (see docs/manual-vips.md)."""
        state = self.sim.crossplane.xrs.get(self.key(name))
        out = []
        for okey in (state.refs.values() if state is not None else ()):
            claim = self.sim.api.get(okey) if okey[1] == "IPAddressClaim" else None
            if claim is None or claim["metadata"].get("deletionTimestamp") or not (claim.get("status") or {}).get("addressRef"):
                continue
            if DELETION_ATTEMPT in (claim["metadata"].get("annotations") or {}):
                continue
            address = self.sim.api.get((GROUP_IPAM, "IPAddress", okey[2], claim["status"]["addressRef"]["name"]))
            if address is not None:
                out.append(address["spec"]["address"])
        return sorted(out)

    def op_own_ingress(self) -> None:
        """The ingress VIP annotation set to an address one of the XR's own claims holds (its secondary's when going
        IPv6-only, a copied pool VIP, or another slot's by mistake)."""
        obj = self.live_xr()
        own = self._own_addresses(obj["metadata"]["name"]) if obj is not None else []
        if own:
            obj["metadata"].setdefault("annotations", {})[INGRESS_VIP] = self.rng.choice(own)
            self.touch(obj)

    def op_write_own(self) -> None:
        """A secondary variable (dual stack) or the service-lb list written on the XR from its own claims' addresses,
        or the written variables removed again."""
        obj = self.live_xr()
        if obj is None:
            return
        topology = obj["spec"]["cluster"]["topology"]
        own = self._own_addresses(obj["metadata"]["name"])
        if topology.get("variables") and self.rng.random() < 0.4 or not own:
            topology.pop("variables", None)
        elif self.dual_stack:
            name = self.rng.choice(["clusterVipSecondary", "ingressVipSecondary"])
            topology["variables"] = [{"name": name, "value": self.rng.choice(own)}]
        else:
            topology["variables"] = [{"name": "serviceLbVips", "value": self.rng.sample(own, self.rng.randint(1, len(own)))}]
        self.touch(obj)

    def op_dual_stack(self) -> None:
        """The dual-stack annotation of a live XR set to "false", or removed (the pair is wanted again)."""
        obj = self.live_xr()
        if obj is None:
            return
        annotations = obj["metadata"].setdefault("annotations", {})
        if annotations.pop(DUAL_STACK_KEY, None) is None:
            annotations[DUAL_STACK_KEY] = "false"
        self.touch(obj)

    def op_delete_dns_endpoint(self) -> None:
        """A DNSEndpoint deleted by hand while dns is on (an operator hurrying a release along, say): external-dns
        drops its records only on its next sync."""
        if self.sim.crossplane.inp == DNS:
            self._delete_one("DNSEndpoint", "externaldns.k8s.io")

    def op_dns(self) -> None:
        """The Composition's Input edited: dns turned off, or on again; Crossplane re-runs every XR."""
        self.sim.crossplane.inp = NO_DNS if self.sim.crossplane.inp == DNS else DNS
        for key in self.sim.crossplane.xrs:
            self.sim.crossplane.enqueue(key, self.rng.uniform(0.0, 30.0))

    # the end
    def settle(self, seconds: float = 3600) -> None:
        if not self.sim.api.get(("cluster.x-k8s.io", "ClusterClass", NS, "beta")):
            self.sim.add(cluster_class("beta", NS, variables=self.variables))
        self.sim.settle(seconds)
        self.sim.check_addresses_returned()
        if self.dns:
            self.sim.check_dns()
        if self.check_pools:
            self.check_manual_vips()

    def check_manual_vips(self) -> None:
        """With manualVips.checkPools: no Cluster carries a manual VIP its class's pool for the role can
        hand out, unless the XR's last reconcile warns ManualVIPInPool (a live Cluster's VIP stays)."""
        from function import ranges

        for key, state in self.sim.crossplane.xrs.items():
            obj = self.sim.api.get(key)
            cluster = self.sim.api.get(state.refs["cluster"]) if "cluster" in state.refs else None
            if obj is None or cluster is None:
                continue
            cls = obj["spec"]["cluster"]["topology"]["class"]
            carried = {"control-plane": (cluster["spec"].get("controlPlaneEndpoint") or {}).get("host"),
                       "ingress": (cluster["metadata"].get("annotations") or {}).get(INGRESS_VIP)}
            for role, vip in carried.items():
                pool_obj = self.sim.find("GlobalInClusterIPPool", f"{cls}-{'cp' if role == 'control-plane' else 'ingress'}")
                if not vip or pool_obj is None or not vip.startswith("10.") or vip.split(".")[2] not in ("15", "31"):
                    continue  # not one of the run's in-pool manual VIPs
                if ranges.read(pool_obj["spec"]).can_hand_out(vip) and not any(
                        r == "ManualVIPInPool" and vip in m for r, m in state.warnings):
                    self.sim.violation(f"XR {key[3]}: Cluster carries the manual {role} VIP {vip}, which "
                                       f"{cls}'s pool can hand out, and nothing says so")


def run(sim: Sim, steps: int, wait: tuple[float, float] = (0.5, 90.0)) -> EditRun:
    fleet(sim, service_lb=sim.crossplane.inp == SERVICE_LB, dual_stack=sim.crossplane.inp == DUAL_STACK)
    edits = EditRun(sim, wait)
    for _ in range(steps):
        edits.step()
    edits.settle()
    return edits
