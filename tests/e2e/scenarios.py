"""Scenario scripts: each drives a World (tests/e2e/world.py) and checks what it expects.

The same script runs against the real management cluster and against the simulator
(tests/e2e/test_*.py run both); a difference between the two is a defect of the model, or of
the function. Every script works in its own namespace (``world.ns``), with pools and classes of
its own, and its own addresses (``net``, a /24 per test such as "10.31.0").
"""

from __future__ import annotations

import ipaddress

from tests.e2e.world import (
    INGRESS_ENABLED,
    INGRESS_VIP,
    XR_KIND,
    World,
    cluster_class,
    examples,
    pool,
)

OFF = {INGRESS_ENABLED: "false"}


# --- steps and checks, in the user's words --------------------------------------------------


def converged(world: World, name: str, *, ingress: bool, timeout: float = 180) -> dict:
    """Wait until the XR reports its VIPs and its Cluster carries them; the Cluster."""

    def check():
        vip = world.vip(name)
        cluster = world.cluster(name)
        if not vip.get("controlPlane") or (ingress and not vip.get("ingress")) or cluster is None:
            return None
        if cluster["spec"].get("controlPlaneEndpoint", {}).get("host") != vip["controlPlane"]:
            return None
        if ingress and (cluster["metadata"].get("annotations") or {}).get(INGRESS_VIP) != vip["ingress"]:
            return None
        return cluster

    return world.wait(f"XR {name} to have its VIPs and its Cluster", check, timeout)


def condition_with_reason(world: World, name: str, typ: str, reason: str) -> dict:
    """Wait until the XR's condition typ has the reason; the condition."""
    return world.wait(f"{typ} {reason}", lambda: (c := world.condition(name, typ)).get("reason") == reason and c)


def variables(cluster: dict) -> dict:
    return {v["name"]: v.get("value") for v in cluster["spec"]["topology"].get("variables", [])}


def claim_names(world: World, namespace: str | None = "") -> set[str]:
    return {c["metadata"]["name"] for c in world.list("IPAddressClaim", namespace)}


def platform(world: World, cls: str, net: str, *, ingress: bool = True, size: int = 10, namespaced: bool = False) -> None:
    """A ClusterClass and a pool per role for it."""
    ns = world.ns if namespaced else None
    objs = [cluster_class(cls, world.ns, ("clusterVip", "ingressVip") if ingress else ("clusterVip",)),
            pool(f"{cls}-cp", cls, "control-plane", [f"{net}.10-{net}.{9 + size}"], gateway=f"{net}.1", namespace=ns)]
    if ingress:
        objs.append(pool(f"{cls}-ingress", cls, "ingress", [f"{net}.100-{net}.{99 + size}"], gateway=f"{net}.1", namespace=ns))
    world.apply(*objs)


def pool_total(world: World, kind: str, name: str, namespace: str | None = None, expect_free: int | None = None):
    """Wait until the pool's status counts the free addresses expected."""
    return world.wait(f"{kind} {name} to count {expect_free} free addresses",
                      lambda: world.pool_free(kind, name, namespace) == expect_free, timeout=120)


# --- the README walkthrough -----------------------------------------------------------------


def walkthrough(world: World) -> dict:
    """examples/: the XRD, the Composition, the pools and the kubeadm ClusterClass with its templates, then the XR."""
    world.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}},
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}})
    world.apply(*examples("definition.yaml"), *examples("composition.yaml"))
    world.apply(*(d for d in examples("required-resources.yaml") if d["kind"] not in ("IPAddress", "ClusterClass")))
    world.apply(*examples("clusterclass-kubeadm-kube-vip.yaml"))
    (xr,) = examples("xr.yaml")
    world.create_xr(xr)
    cluster = converged(world, "my-cluster", ingress=True)

    assert world.vip("my-cluster") == {"controlPlane": "10.0.0.10", "controlPlaneSource": "Pool",
                                       "ingress": "10.0.0.100", "ingressSource": "Pool"}
    claims = world.claims()
    assert set(claims) == {"vip-cp-my-cluster", "vip-ingress-my-cluster"}
    assert claims["vip-cp-my-cluster"]["spec"]["poolRef"] == {
        "apiGroup": "ipam.cluster.x-k8s.io", "kind": "GlobalInClusterIPPool", "name": "control-plane-vip-pool"}
    assert claims["vip-ingress-my-cluster"]["spec"]["poolRef"]["name"] == "ingress-vip-pool"
    assert world.bound_address("vip-cp-my-cluster") == "10.0.0.10"
    assert world.bound_address("vip-ingress-my-cluster") == "10.0.0.100"
    assert cluster["spec"]["controlPlaneEndpoint"] == {"host": "10.0.0.10", "port": 6443}
    assert variables(cluster) == {"cni": "calico", "clusterVip": "10.0.0.10", "ingressVip": "10.0.0.100"}
    assert cluster["metadata"]["annotations"][INGRESS_VIP] == "10.0.0.100"
    # Each condition names the VIP and the claim that holds it, the same before and after the Cluster is observed.
    # Crossplane writes the XR's status.vip and its conditions in separate writes: the conditions may lag one.
    for typ, message in (("ControlPlaneVIPReady", "control-plane VIP 10.0.0.10 from IPAddressClaim team-a/vip-cp-my-cluster"),
                         ("IngressVIPReady", "ingress VIP 10.0.0.100 from IPAddressClaim team-a/vip-ingress-my-cluster")):
        world.wait(f"{typ}: {message}", lambda typ=typ, message=message: (
            (c := world.condition("my-cluster", typ)).get("status"), c.get("reason"), c.get("message")) == ("True", "Allocated", message))
    usages = {u["metadata"]["name"]: u for u in world.list("Usage")}
    assert set(usages) == {"vip-cp-my-cluster", "vip-ingress-my-cluster"}
    assert usages["vip-cp-my-cluster"]["spec"]["by"]["resourceRef"] == {"name": "my-cluster"}
    assert world.pool_free("GlobalInClusterIPPool", "control-plane-vip-pool") in (10, None)  # the sim counts too
    return cluster


# --- pools ----------------------------------------------------------------------------------


def no_pool_then_labelled(world: World, net: str) -> None:
    cls = f"{world.ns}-late"
    world.apply(cluster_class(cls, world.ns, ("clusterVip",)),
                pool(f"{cls}-cp", cls, "control-plane", [f"{net}.10-{net}.20"], gateway=f"{net}.1", labelled=False))
    world.create_xr(world.new_xr("late", cls))
    cond = condition_with_reason(world, "late", "ControlPlaneVIPReady", "PoolNotFound")
    assert cond["status"] == "False"
    assert f"label a pool (InClusterIPPool in namespace {world.ns} or GlobalInClusterIPPool) with " \
           f"vip.capi.gorizond.io/cluster-class={cls} and vip.capi.gorizond.io/role=control-plane" in cond["message"], cond
    world.wait("a PoolNotFound warning event",
               lambda: any(t == "Warning" and r == "PoolNotFound" and cls in m for t, r, m in world.events("late")))
    assert world.cluster("late") is None and not claim_names(world)
    # The pool is labelled; nothing else is touched.
    world.apply(pool(f"{cls}-cp", cls, "control-plane", [f"{net}.10-{net}.20"], gateway=f"{net}.1"))
    cluster = converged(world, "late", ingress=False)
    assert cluster["spec"]["controlPlaneEndpoint"]["host"] == f"{net}.10"


def _one_address_pool(world: World, net: str, cls: str, *, spare: bool) -> None:
    world.apply(cluster_class(cls, world.ns, ("clusterVip",)),
                pool(f"{cls}-small", cls, "control-plane", [f"{net}.10"], gateway=f"{net}.1"))
    world.create_xr(world.new_xr("first", cls))
    converged(world, "first", ingress=False)
    assert world.bound_address("vip-cp-first") == f"{net}.10"
    # The pool's status shows it full before the next XR comes.
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-small", expect_free=0)
    if spare:
        world.apply(pool(f"{cls}-spare", cls, "control-plane", [f"{net}.50-{net}.59"], gateway=f"{net}.1"))


def exhausted_pool_spills_over(world: World, net: str) -> None:
    cls = f"{world.ns}-spill"
    _one_address_pool(world, net, cls, spare=True)
    world.create_xr(world.new_xr("second", cls))
    cluster = converged(world, "second", ingress=False)
    assert cluster["spec"]["controlPlaneEndpoint"]["host"] == f"{net}.50"
    assert world.get("IPAddressClaim", "vip-cp-second")["spec"]["poolRef"]["name"] == f"{cls}-spare"
    assert world.cluster("first")["spec"]["controlPlaneEndpoint"]["host"] == f"{net}.10"


def exhausted_pool_without_spare(world: World, net: str) -> None:
    cls = f"{world.ns}-full"
    _one_address_pool(world, net, cls, spare=False)
    world.create_xr(world.new_xr("second", cls))
    cond = condition_with_reason(world, "second", "ControlPlaneVIPReady", "PoolExhausted")
    assert cond["status"] == "False"
    assert f"every pool for ClusterClass {cls} and role control-plane is exhausted: GlobalInClusterIPPool {cls}-small " \
           f"(free 0, total 1)" in cond["message"], cond
    world.wait("a PoolExhausted warning event", lambda: any(r == "PoolExhausted" for _, r, _ in world.events("second")))
    assert world.cluster("second") is None and "vip-cp-second" not in claim_names(world)


# --- changes on a converged cluster ---------------------------------------------------------


def manual_endpoint(world: World, net: str) -> None:
    cls = f"{world.ns}-manual"
    platform(world, cls, net, ingress=False)
    world.create_xr(world.new_xr("byo", cls, host="192.0.2.50"))
    cluster = converged(world, "byo", ingress=False)
    assert cluster["spec"]["controlPlaneEndpoint"] == {"host": "192.0.2.50", "port": 6443}
    assert variables(cluster)["clusterVip"] == "192.0.2.50"
    assert world.vip("byo") == {"controlPlane": "192.0.2.50", "controlPlaneSource": "Manual"}
    cond = world.condition("byo", "ControlPlaneVIPReady")
    assert (cond["status"], cond["reason"]) == ("True", "Manual"), cond
    assert not claim_names(world)
    assert world.pool_free("GlobalInClusterIPPool", f"{cls}-cp") in (10, None)


def manual_endpoint_in_pool_waits_for_the_pool_to_exclude_it(world: World, net: str) -> None:
    """With manualVips.checkPools: a manual endpoint the pool can hand out holds the Cluster back,
    naming the line to add; once the pool excludes it, the Cluster is composed on it, and the
    provider hands out every other address of the pool but that one."""
    cls = f"{world.ns}-inpool"
    cp_pool = pool(f"{cls}-cp", cls, "control-plane", [f"{net}.10-{net}.12"], gateway=f"{net}.1")
    world.apply(cluster_class(cls, world.ns, ("clusterVip",)), cp_pool)
    world.create_xr(world.new_xr("inpool", cls, host=f"{net}.12"))
    cond = condition_with_reason(world, "inpool", "ControlPlaneVIPReady", "ManualVIPInPool")
    assert f"`- {net}.12`" in cond["message"] and f"GlobalInClusterIPPool {cls}-cp" in cond["message"], cond
    assert world.cluster("inpool") is None
    assert ("Warning", "ManualVIPInPool") in {(t, r) for t, r, _ in world.events("inpool")}
    cp_pool["spec"]["excludedAddresses"] = [f"{net}.12"]
    world.apply(cp_pool)
    cluster = converged(world, "inpool", ingress=False)
    assert cluster["spec"]["controlPlaneEndpoint"]["host"] == f"{net}.12"
    assert not claim_names(world)
    # the real provider agrees: of three pool clusters two get .10 and .11 (in whichever order it
    # binds their claims), the third none: .12 is excluded
    names = ("p1", "p2", "p3")
    for name in names:
        world.create_xr(world.new_xr(name, cls))

    def hosts() -> dict:
        out = {}
        for name in names:
            c = world.cluster(name)
            host = ((c or {}).get("spec", {}).get("controlPlaneEndpoint") or {}).get("host")
            if host:
                out[name] = host
        return out

    world.wait("two of three pool clusters with an endpoint", lambda: len(hosts()) == 2)
    assert sorted(hosts().values()) == [f"{net}.10", f"{net}.11"]
    (third,) = set(names) - set(hosts())
    condition_with_reason(world, third, "ControlPlaneVIPReady", "PoolExhausted")


SERVICE_LB_COUNT = "vip.capi.gorizond.io/service-lb-count"


def service_lb_addresses(cluster: dict | None) -> list:
    return variables(cluster).get("serviceLbVips") or [] if cluster else []


def service_lb_addresses_follow_the_count(world: World, net: str) -> None:
    """A ClusterClass that defines serviceLbVips: the Cluster is composed on its endpoint at once, and its
    list fills with the 2 addresses the XR's count asks for as the provider binds them; raising the
    count to 3 keeps both and adds a third; lowering it to 1 keeps the first and releases the others,
    which the pool counts free again; the XR deleted frees the last."""
    cls = f"{world.ns}-lb"
    world.apply(cluster_class(cls, world.ns, ("clusterVip", "serviceLbVips")),
                pool(f"{cls}-cp", cls, "control-plane", [f"{net}.10-{net}.19"], gateway=f"{net}.1"),
                pool(f"{cls}-lb", cls, "service-lb", [f"{net}.200-{net}.209"], gateway=f"{net}.1"))
    world.create_xr(world.new_xr("lbs", cls, annotations={**OFF, SERVICE_LB_COUNT: "2"}))
    converged(world, "lbs", ingress=False)
    world.wait("two service-lb addresses on the Cluster", lambda: len(service_lb_addresses(world.cluster("lbs"))) == 2)
    first = service_lb_addresses(world.cluster("lbs"))
    assert sorted(first) == [f"{net}.200", f"{net}.201"], first
    assert first == [world.bound_address(f"vip-lb-lbs-{i}") for i in range(2)]  # in index order
    world.edit_xr("lbs", annotations={SERVICE_LB_COUNT: "3"})
    world.wait("a third service-lb address", lambda: len(service_lb_addresses(world.cluster("lbs"))) == 3)
    third = service_lb_addresses(world.cluster("lbs"))
    assert third[:2] == first and third[2] == f"{net}.202", third
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-lb", expect_free=7)
    world.edit_xr("lbs", annotations={SERVICE_LB_COUNT: "1"})
    world.wait_gone("IPAddressClaim", "vip-lb-lbs-2")
    world.wait_gone("IPAddressClaim", "vip-lb-lbs-1")
    assert service_lb_addresses(world.cluster("lbs")) == first[:1]
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-lb", expect_free=9)
    world.delete_xr("lbs")
    world.wait_gone("IPAddressClaim", "vip-lb-lbs-0")
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-lb", expect_free=10)


DUAL_STACK = "vip.capi.gorizond.io/dual-stack"


def dual_stack_pairs_follow_the_class(world: World, net: str) -> None:
    """A ClusterClass that defines clusterVipSecondary and ingressVipSecondary, with an IPv4 and an IPv6 pool
    per role: the Cluster is composed once all four claims are bound, on the IPv4 endpoint, with the IPv6
    VIPs in the secondary variables and the ingress annotation "<v4>,<v6>"; the XR's dual-stack annotation
    "false" releases both IPv6 claims (the pools count them free again) and leaves the endpoint as it is;
    the XR deleted frees the rest."""
    cls = f"{world.ns}-ds"
    six = f"fd00:{net.split('.')[1]}:{net.split('.')[2]}"
    world.apply(cluster_class(cls, world.ns, ("clusterVip", "ingressVip", "clusterVipSecondary", "ingressVipSecondary")),
                pool(f"{cls}-cp", cls, "control-plane", [f"{net}.10-{net}.19"], gateway=f"{net}.1"),
                pool(f"{cls}-cp6", cls, "control-plane", [f"{six}::10-{six}::19"], prefix=64, gateway=f"{six}::1"),
                pool(f"{cls}-ingress", cls, "ingress", [f"{net}.100-{net}.109"], gateway=f"{net}.1"),
                pool(f"{cls}-ingress6", cls, "ingress", [f"{six}:1::10-{six}:1::19"], prefix=64, gateway=f"{six}:1::1"))
    world.create_xr(world.new_xr("pair", cls))
    cluster = world.wait("a Cluster for XR pair", lambda: world.cluster("pair"))
    cp, cp6 = world.bound_address("vip-cp-pair"), world.bound_address("vip-cp-pair-secondary")
    ing, ing6 = world.bound_address("vip-ingress-pair"), world.bound_address("vip-ingress-pair-secondary")
    assert cp.startswith(f"{net}.") and ipaddress.ip_address(cp6) in ipaddress.ip_network(f"{six}::/112"), (cp, cp6)
    assert ipaddress.ip_address(ing6) in ipaddress.ip_network(f"{six}:1::/112"), ing6
    # Composed with the whole pair at once: the topology controller never sees it without.
    assert cluster["spec"]["controlPlaneEndpoint"]["host"] == cp
    assert variables(cluster)["clusterVipSecondary"] == cp6 and variables(cluster)["ingressVipSecondary"] == ing6
    assert cluster["metadata"]["annotations"][INGRESS_VIP] == f"{ing},{ing6}"
    world.wait("XR pair to report the pair", lambda: world.vip("pair").get("controlPlaneSecondary") == cp6)
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-cp6", expect_free=9)
    world.edit_xr("pair", annotations={DUAL_STACK: "false"})
    world.wait_gone("IPAddressClaim", "vip-cp-pair-secondary")
    world.wait_gone("IPAddressClaim", "vip-ingress-pair-secondary")
    world.wait("the Cluster without its IPv6 VIPs", lambda: "clusterVipSecondary" not in variables(world.cluster("pair"))
               and world.cluster("pair")["metadata"]["annotations"][INGRESS_VIP] == ing)
    assert world.cluster("pair")["spec"]["controlPlaneEndpoint"]["host"] == cp
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-cp6", expect_free=10)
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-ingress6", expect_free=10)
    world.delete_xr("pair")
    world.wait_gone("IPAddressClaim", "vip-cp-pair")
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-cp", expect_free=10)


DNS_INPUT = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input",
             "dns": {"zone": "clusters.example.org", "controlPlaneName": "{cluster}-api.{namespace}",
                     "ingressName": "*.{cluster}.{namespace}"}}


def dns_records_follow_the_vips(world: World, net: str) -> None:
    """With dns (DNS_INPUT): external-dns publishes an A record of the control-plane VIP and a wildcard
    of the ingress VIP; the Cluster's clusterDnsName carries the name while its host stays the VIP; an
    IPv6 endpoint gets an AAAA record; the XR is Ready once external-dns has read the DNSEndpoint;
    ingress turned off takes its record out, and its address stays held while the record is published;
    an XR deleted takes all of its records; dns removed from the Input empties the DNSEndpoint, and
    it goes once external-dns has read it empty, the Cluster untouched."""
    zone = f"{world.ns}.clusters.example.org"
    cls = f"{world.ns}-dns"
    world.apply(cluster_class(cls, world.ns, ("clusterVip", "ingressVip", "clusterDnsName")),
                pool(f"{cls}-cp", cls, "control-plane", [f"{net}.10-{net}.19"], gateway=f"{net}.1"),
                pool(f"{cls}-ingress", cls, "ingress", [f"{net}.100-{net}.109"], gateway=f"{net}.1"))
    world.create_xr(world.new_xr("named", cls))
    world.create_xr(world.new_xr("named6", cls, host="fd00:10::5", annotations=OFF))
    cluster = converged(world, "named", ingress=True)
    cp, ingress = cluster["spec"]["controlPlaneEndpoint"]["host"], cluster["metadata"]["annotations"][INGRESS_VIP]
    assert variables(cluster)["clusterDnsName"] == f"named-api.{zone}"
    assert variables(cluster)["clusterVip"] == cp and cp.startswith(f"{net}.")
    both = {(f"named-api.{zone}", "A", cp), (f"*.named.{zone}", "A", ingress), (f"named6-api.{zone}", "AAAA", "fd00:10::5")}
    world.wait("external-dns to publish the three records", lambda: both <= world.dns_records())
    assert world.vip("named")["controlPlaneDnsName"] == f"named-api.{zone}"
    world.cluster_ready("named")

    def read() -> bool:
        endpoint = world.get("DNSEndpoint", "vip-dns-named") or {}
        return (endpoint.get("status") or {}).get("observedGeneration") == endpoint.get("metadata", {}).get("generation")

    world.wait("external-dns to have read DNSEndpoint vip-dns-named", read)
    world.wait("XR named to be Ready", lambda: world.settled("named"))
    world.edit_xr("named", annotations=OFF)

    freed_while_published = []

    def ingress_record_gone() -> bool:
        published = (f"*.named.{zone}", "A", ingress) in world.dns_records()
        if published and world.get("IPAddress", "vip-ingress-named") is None:
            freed_while_published.append(world.now())
        return not published

    world.wait("the ingress record to be gone", ingress_record_gone)
    assert not freed_while_published, \
        f"IPAddress vip-ingress-named was gone while external-dns still published *.named.{zone} -> {ingress}"
    world.wait_gone("IPAddress", "vip-ingress-named")
    assert (f"named-api.{zone}", "A", cp) in world.dns_records()
    world.delete_xr("named6")
    world.wait("the records of XR named6 to be gone", lambda: not {r for r in world.dns_records() if r[0].startswith("named6")})
    before = world.cluster("named")
    world.set_input({k: v for k, v in DNS_INPUT.items() if k != "dns"})
    # It goes only once external-dns has written status.observedGeneration for it emptied.
    world.wait_gone("DNSEndpoint", "vip-dns-named")
    left = {r for r in world.dns_records() if r[0].endswith(zone)}
    assert not left, f"DNSEndpoint vip-dns-named went while external-dns still published {sorted(left)}"
    after = world.cluster("named")
    assert after["spec"]["controlPlaneEndpoint"] == before["spec"]["controlPlaneEndpoint"]
    world.delete_xr("named")


def _converged_with_ingress(world: World, net: str, name: str, cls: str) -> tuple[dict, str]:
    platform(world, cls, net)
    world.create_xr(world.new_xr(name, cls))
    cluster = converged(world, name, ingress=True)
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-ingress", expect_free=9)
    return cluster, world.bound_address(f"vip-ingress-{name}")


def ingress_off_after_allocation(world: World, net: str) -> None:
    cls = f"{world.ns}-off"
    _, address = _converged_with_ingress(world, net, "noingress", cls)
    assert address == f"{net}.100"
    world.edit_xr("noingress", annotations=OFF)
    world.wait_gone("IPAddressClaim", "vip-ingress-noingress")
    world.wait_gone("IPAddress", "vip-ingress-noingress")
    assert world.get("Usage", "vip-ingress-noingress") is None
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-ingress", expect_free=10)

    def released():
        cluster = world.cluster("noingress")
        return INGRESS_VIP not in (cluster["metadata"].get("annotations") or {}) and "ingressVip" not in variables(cluster)

    world.wait("the Cluster without its ingress VIP", released)
    assert "ingress" not in world.vip("noingress")
    cond = world.condition("noingress", "IngressVIPReady")
    assert (cond["status"], cond["reason"]) == ("True", "Disabled"), cond
    assert world.cluster("noingress")["spec"]["controlPlaneEndpoint"]["host"] == f"{net}.10"


def manual_ingress_on_converged(world: World, net: str) -> None:
    cls = f"{world.ns}-mi"
    _converged_with_ingress(world, net, "handvip", cls)
    world.edit_xr("handvip", annotations={INGRESS_VIP: "192.0.2.77"})
    world.wait_gone("IPAddressClaim", "vip-ingress-handvip")
    world.wait_gone("IPAddress", "vip-ingress-handvip")
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-ingress", expect_free=10)
    world.wait("the Cluster on the manual ingress VIP", lambda: (world.cluster("handvip")["metadata"].get("annotations") or {})
               .get(INGRESS_VIP) == "192.0.2.77" and variables(world.cluster("handvip")).get("ingressVip") == "192.0.2.77")
    world.wait("status.vip with the manual ingress VIP",
               lambda: world.vip("handvip").get("ingress") == "192.0.2.77" and world.vip("handvip").get("ingressSource") == "Manual")
    world.wait_gone("Usage", "vip-ingress-handvip")  # Crossplane deletes the released claim's Usage after it


# --- deletion order -------------------------------------------------------------------------


def claims_outlive_a_deleting_cluster(world: World, net: str, hold: float = 15) -> None:
    """With Usages (the default): the claims and addresses stay until the Cluster is gone."""
    cls = f"{world.ns}-del"
    _converged_with_ingress(world, net, "doomed", cls)
    world.add_teardown_finalizer("doomed")
    world.delete_xr("doomed")
    world.wait_gone(XR_KIND, "doomed")
    world.wait("the Cluster being deleted", lambda: world.cluster("doomed")["metadata"].get("deletionTimestamp"))
    held = {"vip-cp-doomed": f"{net}.10", "vip-ingress-doomed": f"{net}.100"}
    # CAPI's teardown takes minutes; while it lasts, nobody else may get these addresses.
    world.wait(f"{hold:.0f} s with the Cluster still being deleted", _holds(world, held, hold), timeout=hold + 120)
    assert world.pool_free("GlobalInClusterIPPool", f"{cls}-cp") in (9, None)
    world.remove_teardown_finalizer("doomed")
    world.wait_gone("Cluster", "doomed")
    for claim in held:
        world.wait_gone("IPAddressClaim", claim)
        world.wait_gone("IPAddress", claim)
    world.wait_gone("Usage", "vip-cp-doomed")
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-cp", expect_free=10)
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-ingress", expect_free=10)


def _holds(world: World, held: dict[str, str], seconds: float):
    """A check that fails at once if a held claim or address goes, and passes after ``seconds``
    of the world's time (wall time on the stack, simulated time in the simulator)."""
    start = world.now()

    def check():
        for claim, address in held.items():
            if world.get("IPAddressClaim", claim) is None or world.bound_address(claim) != address:
                raise Broken(f"{claim} no longer holds {address} while its Cluster is being deleted\n{world.dump()}")
        if world.cluster("doomed") is None:
            raise Broken("the Cluster went, though its finalizer is still on")
        return world.now() - start >= seconds

    return check


class Broken(Exception):
    """Not a 'not yet': the scenario failed."""


def without_usage_claims_go_at_once(world: World, net: str) -> None:
    """Input usage: None: the claims and addresses go with the XR, while the Cluster is still deleting."""
    cls = f"{world.ns}-nousage"
    _converged_with_ingress(world, net, "quick", cls)
    assert not world.list("Usage")
    world.add_teardown_finalizer("quick")
    world.delete_xr("quick")
    for claim in ("vip-cp-quick", "vip-ingress-quick"):
        world.wait_gone("IPAddressClaim", claim)
        world.wait_gone("IPAddress", claim)
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-cp", expect_free=10)
    cluster = world.cluster("quick")
    assert cluster is not None and cluster["metadata"].get("deletionTimestamp"), "the Cluster is still being deleted"
    world.remove_teardown_finalizer("quick")
    world.wait_gone("Cluster", "quick")


# --- faults ---------------------------------------------------------------------------------


def fleet_survives(world: World, net: str, fault, count: int = 8) -> None:
    """count XRs created at once; the fault strikes while they converge: each XR ends with one
    claim per role, distinct VIPs, and no address held twice or for nothing."""
    cls = f"{world.ns}-fault"
    platform(world, cls, net, size=count + 2)
    names = [f"f{i}" for i in range(count)]
    for name in names:
        world.create_xr(world.new_xr(name, cls))
    world.wait("the first claims", lambda: claim_names(world))
    fault()
    clusters = {n: converged(world, n, ingress=True, timeout=420) for n in names}
    no_vip_shared(world, clusters)
    assert claim_names(world) == {f"vip-{r}-{n}" for n in names for r in ("cp", "ingress")}
    addresses = world.addresses()
    assert set(addresses) == claim_names(world), "an IPAddress without its claim, or a claim without its address"
    for n, c in clusters.items():
        assert world.bound_address(f"vip-cp-{n}") == c["spec"]["controlPlaneEndpoint"]["host"]
        assert world.bound_address(f"vip-ingress-{n}") == c["metadata"]["annotations"][INGRESS_VIP]
    pool_total(world, "GlobalInClusterIPPool", f"{cls}-cp", expect_free=2)


def no_vip_shared(world: World, clusters: dict[str, dict]) -> None:
    seen: dict[str, str] = {}
    for name, c in clusters.items():
        for vip in {c["spec"]["controlPlaneEndpoint"]["host"], (c["metadata"].get("annotations") or {}).get(INGRESS_VIP)} - {None}:
            assert vip not in seen, f"VIP {vip} on Cluster {name} and on Cluster {seen[vip]}"
            seen[vip] = name


# --- scale ----------------------------------------------------------------------------------


def fifty_xrs_then_twenty_replaced(world: World, net_a: str, net_b: str) -> None:
    """50 XRs at once in 2 namespaces over 2 ClusterClasses; then 20 deleted and 20 created."""
    ns_a, ns_b = world.ns, f"{world.ns}-b"
    world.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns_b}})
    alpha, beta = f"{world.ns}-alpha", f"{world.ns}-beta"
    # alpha: a global control-plane pool of exactly 25 addresses, and ingress; beta: a namespaced
    # pool of exactly 13 addresses in each namespace, no ingress. Every address is used: a new
    # XR can only get an address an old one freed.
    world.apply(cluster_class(alpha, ns_a), cluster_class(alpha, ns_b),
                cluster_class(beta, ns_a, ("clusterVip",)), cluster_class(beta, ns_b, ("clusterVip",)),
                pool(f"{alpha}-cp", alpha, "control-plane", [f"{net_a}.10-{net_a}.34"], gateway=f"{net_a}.1"),
                pool(f"{alpha}-ingress", alpha, "ingress", [f"{net_a}.100-{net_a}.124"], gateway=f"{net_a}.1"),
                pool(f"{beta}-cp", beta, "control-plane", [f"{net_b}.10-{net_b}.22"], gateway=f"{net_b}.1", namespace=ns_a),
                pool(f"{beta}-cp", beta, "control-plane", [f"{net_b}.130-{net_b}.142"], gateway=f"{net_b}.1", namespace=ns_b))
    plan = {}  # (namespace, name) -> class
    for i in range(50):
        ns = ns_a if i % 2 == 0 else ns_b
        cls = alpha if i < 25 else beta
        plan[(ns, f"s{i:02d}")] = cls
    for (ns, name), cls in plan.items():
        world.with_ns(ns).create_xr(world.with_ns(ns).new_xr(name, cls))
    first = all_converged(world, plan, alpha)
    gone = sorted(plan)[::5] + sorted(plan)[1::5]  # 20 of them, of both classes and namespaces
    assert len(gone) == 20
    freed = {vip for key in gone for vip in first[key]}
    for ns, name in gone:
        world.with_ns(ns).delete_xr(name)
        del plan[(ns, name)]
    for ns, name in gone:
        w = world.with_ns(ns)
        w.wait_gone(XR_KIND, name, timeout=300)
        w.wait_gone("IPAddress", f"vip-cp-{name}", timeout=300)
    for i, (ns, name) in enumerate(gone):
        new = (ns, f"n{i:02d}")
        plan[new] = alpha if int(name[1:]) < 25 else beta
        world.with_ns(ns).create_xr(world.with_ns(ns).new_xr(new[1], plan[new]))
    second = all_converged(world, plan, alpha)
    reused = {vip for key, vips in second.items() if key[1].startswith("n") for vip in vips}
    assert reused <= freed, f"new XRs got addresses no deleted XR had: {sorted(reused - freed)}"
    assert reused, "no address was reused"


def all_converged(world: World, plan: dict, ingress_class: str) -> dict:
    """Every XR of the plan converged, no VIP shared; (namespace, name) -> its VIPs."""
    clusters = {}
    for (ns, name), cls in plan.items():
        clusters[(ns, name)] = converged(world.with_ns(ns), name, ingress=cls == ingress_class, timeout=600)
    no_vip_shared(world, {f"{ns}/{n}": c for (ns, n), c in clusters.items()})
    vips = {}
    for (ns, name), c in clusters.items():
        vips[(ns, name)] = {c["spec"]["controlPlaneEndpoint"]["host"]} | (
            {c["metadata"]["annotations"][INGRESS_VIP]} if plan[(ns, name)] == ingress_class else set())
    for ns in {ns for ns, _ in plan}:
        w = world.with_ns(ns)
        names = {n for (n_ns, n) in plan if n_ns == ns}
        expected = {f"vip-cp-{n}" for n in names} | {f"vip-ingress-{n}" for n in names if plan[(ns, n)] == ingress_class}
        w.wait(f"the claims of {ns} to be exactly those of its XRs", lambda: claim_names(w) == expected, timeout=300)
        assert set(w.addresses()) == expected
    return vips



# --- the steady state -----------------------------------------------------------------------

STEADY_TTL = 10  # seconds: ttl.converged of the steady-state Composition, so a window sees many reconciles
STEADY_INPUT = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", "ttl": {"converged": f"{STEADY_TTL}s"}}


def steady_state(world: World, net: str, *, count: int = 4, window: float = 90) -> dict:
    """count converged XRs whose Clusters CAPI reports ready, left alone for ``window`` seconds:
    what each reconcile costs, in function calls and API requests (by verb and resource)."""
    cls = f"{world.ns}-steady"
    platform(world, cls, net)
    names = [f"calm{i}" for i in range(count)]
    for name in names:
        world.create_xr(world.new_xr(name, cls))
    for name in names:
        converged(world, name, ingress=True)
    for name in names:
        world.cluster_ready(name)
    for name in names:
        world.wait(f"XR {name} settled", lambda: world.settled(name))
    world.pause(STEADY_TTL * 1.5)  # every XR is past the reconcile that followed its last change
    before = world.counters()
    world.pause(window)
    after = world.counters()
    reconciles = after["reconciles"] - before["reconciles"]
    calls = after["calls"] - before["calls"]
    requests = {k: v - before["requests"].get(k, 0) for k, v in after["requests"].items()}
    by_user = {k: v - before["by_user"].get(k, 0) for k, v in after["by_user"].items()}
    return {"xrs": count, "window_s": window, "ttl_s": STEADY_TTL, "reconciles": reconciles, "calls": calls,
            "requests": {f"{verb} {resource}": n for (verb, resource), n in sorted(requests.items()) if n},
            "by_user": {f"{user} {verb} {resource}": n for (user, verb, resource), n in sorted(by_user.items()) if n}}
