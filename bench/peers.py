"""Side by side, one run, one stack: the function, the operator it replaces, and the Go pipeline a platform
team would compose without it (bench/peers/composition.yaml: function-extra-resources, function-go-templating,
function-auto-ready).

    .venv/bin/python bench/peers.py [--sizes 1,100] [--window 180] [--systems ipam,ours,operator,pipeline]

Starts the e2e stack of tests/e2e (the function installed from its package), installs the three Go functions
(each built from its source by tools/peers.py, its package built with the crossplane CLI and pushed to the
loopback registry, its process served on 127.0.0.1 with mTLS, as the stack serves ours), then, for each
system and each size, in a namespace of its own with pools of its own (the same labels for all three):
N clusters created at once (an XR each for ours and the pipeline; a Cluster each for the operator, which then
patches it), the time from each creation to its Cluster carrying an endpoint (p50, p99, max); then, converged,
a steady window: API requests per cluster-hour by client and verb (the API server's audit log, requests on the
system's namespace and on cluster-scoped objects, by each component's ServiceAccount), CPU seconds and memory
of each component (its process tree, from /proc), and CPU ms per XR reconcile (Crossplane's reconcile count).
Each system's objects are deleted before the next one starts. Bounded in time; loopback only. The last line:

    peers: endpoint p99 <ours>s (ipam alone <i>s, v1beta2 <v>s) operator <o>s pipeline <p>s; requests/cluster-hour <ours> operator <o> pipeline <p>; cpu ms/reconcile <ours> pipeline <p>

(the figures of the largest size; "ipam alone": the floor, the provider binding two claims per cluster made at
once with no system running, as no system can give a Cluster its endpoint before its claims are bound). Needs what the e2e tests need (python -m tools.install, root) and the peers'
sources (../shared/peers, or FUNCTION_CAPI_VIP_PEERS).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository, not bench/ (bench/requests.py would hide the library)

from tests.e2e.changes import percentile  # noqa: E402
from tests.e2e.kube import Kube  # noqa: E402
from tests.e2e.metrics import parse, total  # noqa: E402
from tests.e2e.stack import Proc, Stack, free_port, wait_for  # noqa: E402
from tests.e2e.world import CLUSTER_API, IPAM_API, StackWorld, cluster_class, composition, install_examples, pool, workload_cluster  # noqa: E402
from tests.package import Registry, build_and_push, crossplane_args  # noqa: E402
from tools import gobuild, peers  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "bench" / "peers" / "composition.yaml"
GO_FUNCTIONS = ("function-extra-resources", "function-go-templating", "function-auto-ready")
XR_CONTROLLER = "composite/workloadclusters.platform.example.org"
SYSTEMS = ("ipam", "ours", "ours-v1beta2", "operator", "pipeline")
# ipam: the floor, the claims alone (two per cluster), no system. ours-v1beta2: the function with the Input a
# platform team on CAPI 1.11 or later gives it (Clusters, ClusterClasses, claims and addresses in v1beta2, the
# version CAPI stores: no request goes through CAPI's conversion webhook), and XRs written in v1beta2's shape.
COMPOSITIONS = {"pipeline": "workloadcluster-go-pipeline", "ours-v1beta2": "workloadcluster-capi-vip-v1beta2"}
V1BETA2_INPUT = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input",
                 "cluster": {"apiVersion": "cluster.x-k8s.io/v1beta2", "clusterClassApiVersion": "cluster.x-k8s.io/v1beta2"},
                 "ipam": {"claimApiVersion": "ipam.cluster.x-k8s.io/v1beta2", "addressApiVersion": "ipam.cluster.x-k8s.io/v1beta2"},
                 "ttl": {"waiting": "15s", "converged": "10m"}}
# What the bench itself reads, in the versions CAPI stores (a list of 100 v1beta1 Clusters five times a second
# would put each through CAPI's conversion webhook, and load the machine it measures)
CLUSTERS_STORED = "cluster.x-k8s.io/v1beta2"
CLAIMS_STORED = "ipam.cluster.x-k8s.io/v1beta2"


# --- the Go functions, installed as Crossplane installs a Function, served as the stack serves ours ----------


def install_go_function(stack: Stack, registry: Registry, name: str, work: Path) -> None:
    peer = peers.pins()[name]
    binary = peers.binary_of(name)
    package = work / name / "package"
    shutil.copytree(peers.root() / peer.source / "package", package)
    for p in [package, *package.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    cli = gobuild.binary_of("crossplane-cli")
    xpkg = work / name / f"{name}.xpkg"
    ref = f"{registry.address}/{name}:{peer.version}"
    for argv in ([cli, "xpkg", "build", f"--package-root={package}", "-o", xpkg], [cli, "xpkg", "push", "-f", xpkg, ref]):
        p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300, cwd=work / name)  # no ./examples
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, argv))}: {p.stderr}")
    kube = Kube(stack.client)
    kube.apply({"apiVersion": "pkg.crossplane.io/v1", "kind": "Function", "metadata": {"name": name},
                "spec": {"package": ref}})
    port = free_port()
    stack.ports[name] = port
    stack.procs[name] = Proc(name, [binary, f"--address=127.0.0.1:{port}", f"--tls-certs-dir={stack.pki / 'function'}"],
                             stack.logs)
    stack.runtime_serves(name, port, "bench/peers.py runs the function on 127.0.0.1", stack.procs[name])


# --- what each component costs ---------------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            out.setdefault(ppid, []).append(int(d.name))
    return out


def tree(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def usage(pid: int) -> dict:
    """CPU seconds (user + system, the live process tree) and memory (resident now, and the peak) of a component."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu = rss = hwm = 0.0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / tick
            status = dict(line.split(":", 1) for line in Path(f"/proc/{p}/status").read_text().splitlines() if ":" in line)
            rss += int(status.get("VmRSS", "0 kB").split()[0]) / 1024
            hwm += int(status.get("VmHWM", "0 kB").split()[0]) / 1024
        except (OSError, ValueError, IndexError):
            continue
    return {"cpu_s": cpu, "rss_mib": rss, "peak_mib": hwm}


def _burst_cpu(stack: Stack):
    """CPU seconds of every component of the stack from now to the call of what it returns (the busiest first):
    where a burst's time goes on a machine of 2 cores."""
    pids = {name: proc.p.pid for name, proc in stack.procs.items() if proc.running}
    before = {name: usage(pid)["cpu_s"] for name, pid in pids.items()}

    def spent() -> str:
        used = {name: usage(pid)["cpu_s"] - before[name] for name, pid in pids.items()}
        busy = sorted(((round(v, 1), k) for k, v in used.items() if v >= 0.5), reverse=True)
        return f"{sum(used.values()):.0f} in all (" + ", ".join(f"{k} {v}" for v, k in busy) + ")"
    return spent


def audit(stack: Stack, since: float, until: float, namespace: str) -> dict[tuple[str, str], int]:
    """Requests by (client, verb) between two times, on the namespace or on cluster-scoped objects."""
    names = {identity.user: user for user, (identity, _) in stack.rbac.items()}
    names["system:serviceaccount:capi-system:capi-vip-allocator-controller-manager"] = "capi-vip-allocator"
    out: dict = {}
    for path in sorted(stack.logs.glob("audit*.log")):  # the API server rotates it at 100 MB
        for line in path.open():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("stage") != "ResponseComplete":
                continue
            t = datetime.fromisoformat(e["stageTimestamp"].replace("Z", "+00:00")).timestamp()
            if not since <= t < until:
                continue
            ns = (e.get("objectRef") or {}).get("namespace")
            if ns not in (None, namespace) or e["verb"] == "watch":
                continue
            user = e["user"]["username"]
            key = (names.get(user, user.rsplit(":", 1)[-1]), e["verb"])
            out[key] = out.get(key, 0) + 1
    return out


# --- one system, one size ----------------------------------------------------------------------------------------


def run_one(stack: Stack, system: str, size: int, net: str, window: float, index: int, warm_up: bool = False) -> dict:
    ns = f"peers-{system}-{size}" + ("-warm-up" if warm_up else "")
    cls = f"{ns}-class"
    w = StackWorld(stack, ns, COMPOSITIONS.get(system, "workloadcluster-capi-vip"))
    w.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    a, b = net.split(".")[1], index
    w.apply(cluster_class(cls, ns),
            pool(f"{cls}-cp", cls, "control-plane", [f"10.{a}.{b}.0/24"], prefix=16, gateway=f"10.{a}.255.254"),
            pool(f"{cls}-ingress", cls, "ingress", [f"10.{a}.{b + 100}.0/24"], prefix=16, gateway=f"10.{a}.255.254"))
    names = [f"c{i}" for i in range(size)]
    if system == "ipam":
        return _ipam_floor(stack, w, names, ns, cls, size, warm_up)
    if system == "operator":
        stack.start_operator()
    burst = _burst_cpu(stack)
    created: dict[str, float] = {}
    for n in names:
        if system == "operator":
            w.kube.apply({"apiVersion": CLUSTER_API, "kind": "Cluster", "metadata": {"name": n, "namespace": ns},
                          "spec": {"topology": {"class": cls, "version": "v1.31.0", "variables": [{"name": "cni", "value": "calico"}]}}})
        else:
            xr = workload_cluster(n, ns, cls, composition_name=w.composition_name)
            if system == "ours-v1beta2":
                topology = xr["spec"]["cluster"]["topology"]
                topology["classRef"] = {"name": topology.pop("class")}
            w.kube.apply(xr)
        created[n] = time.monotonic()
    def with_endpoint() -> set[str]:
        return {c["metadata"]["name"] for c in w.kube.list(CLUSTERS_STORED, "Cluster", ns)
                if (c["spec"].get("controlPlaneEndpoint") or {}).get("host")}

    times = list(_until_done(stack, created, with_endpoint, size).values())
    spread = _spread(times)
    print(f"  {system} x{size}: {len(times)}/{size} Clusters with their endpoint; p50 {spread['p50']:.2f} s, "
          f"p99 {spread['p99']:.2f} s, max {spread['max']:.2f} s; CPU s meanwhile: {burst()}", flush=True)
    if warm_up:
        _delete(stack, w, system, names, ns, size)
        return {}
    time.sleep(20)  # the last writes of convergence (ingress, readiness) out of the window
    ours = system if system.startswith("ours") else "ours"  # the function's process, named after the system measured
    components = {"crossplane": "crossplane", ours: "function", "operator": "capi-vip-allocator", **{f: f for f in GO_FUNCTIONS}}
    procs = {k: stack.procs[v].p.pid for k, v in components.items() if v in stack.procs and stack.procs[v].running}
    before = {k: usage(pid) for k, pid in procs.items()}
    reconciles0 = total(parse(stack.metrics("crossplane")), "controller_runtime_reconcile_total", controller=XR_CONTROLLER)
    t0 = time.time()
    time.sleep(window)
    t1 = time.time()
    reconciles = total(parse(stack.metrics("crossplane")), "controller_runtime_reconcile_total", controller=XR_CONTROLLER) - reconciles0
    after = {k: usage(pid) for k, pid in procs.items()}
    requests = audit(stack, t0, t1, ns)
    hours = window / 3600
    per_hour = {f"{c} {v}": round(n / size / hours, 1) for (c, v), n in sorted(requests.items())}
    own = ["capi-vip-allocator"] if system == "operator" else ["crossplane"]
    mine = sum(n for (c, _), n in requests.items() if c in own) / size / hours
    cpu = {k: round((after[k]["cpu_s"] - before[k]["cpu_s"]) / size / hours, 3) for k in procs}
    fn_cpu = {"pipeline": list(GO_FUNCTIONS), "operator": ["operator"]}.get(system, [ours])
    cpu_ms_per_reconcile = (sum(after[k]["cpu_s"] - before[k]["cpu_s"] for k in fn_cpu if k in procs) * 1000 / reconciles
                            if reconciles and system != "operator" else None)
    result = {"system": system, "size": size, "endpoint_s": spread,
              "window_s": window, "requests_per_cluster_hour": round(mine, 1), "requests_by_client_verb": per_hour,
              "reconciles": reconciles, "cpu_s_per_cluster_hour": cpu,
              "memory_mib": {k: {"rss": round(after[k]["rss_mib"], 1), "peak": round(after[k]["peak_mib"], 1)} for k in procs},
              "cpu_ms_per_reconcile": cpu_ms_per_reconcile}
    print(f"  {system} x{size} steady {window:.0f} s: {mine:.1f} requests/cluster-hour by {'/'.join(own)} "
          f"({', '.join(f'{k} {v}' for k, v in per_hour.items())}); {reconciles:.0f} XR reconciles; CPU s/cluster-hour "
          f"{cpu}; cpu ms/reconcile {cpu_ms_per_reconcile if cpu_ms_per_reconcile is None else round(cpu_ms_per_reconcile, 2)}",
          flush=True)
    _delete(stack, w, system, names, ns, size)
    return result


def _until_done(stack: Stack, created: dict[str, float], done_now, size: int) -> dict[str, float]:
    """Seconds from each name's creation to the first poll (every 0.2 s) where done_now() includes it."""
    times: dict[str, float] = {}
    deadline = time.monotonic() + 300 + 3 * size
    while len(times) < len(created) and time.monotonic() < deadline:
        now = time.monotonic()
        for n in done_now() - set(times):
            times[n] = now - created[n]
        stack.check()
        time.sleep(0.2)
    return times


def _spread(times: list[float]) -> dict:
    nan = float("nan")
    return {"p50": percentile(times, 50) if times else nan, "p99": percentile(times, 99) if times else nan,
            "max": max(times, default=nan), "n": len(times)}


def _ipam_floor(stack: Stack, w: StackWorld, names: list[str], ns: str, cls: str, size: int, warm_up: bool) -> dict:
    """The floor under every system: the in-cluster IPAM provider binding the claims a cluster needs (its
    control-plane and ingress VIPs) with nothing else running, made at once for every cluster; the time from
    creation to both bound, per cluster. No system can give a Cluster its endpoint sooner."""
    burst = _burst_cpu(stack)
    created: dict[str, float] = {}
    for n in names:
        for role in ("cp", "ingress"):
            w.kube.apply({"apiVersion": IPAM_API, "kind": "IPAddressClaim", "metadata": {"name": f"{n}-{role}", "namespace": ns},
                          "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "GlobalInClusterIPPool",
                                               "name": f"{cls}-{role}"}}})
        created[n] = time.monotonic()
    def both_bound() -> set[str]:
        done = {c["metadata"]["name"] for c in w.kube.list(CLAIMS_STORED, "IPAddressClaim", ns)
                if ((c.get("status") or {}).get("addressRef") or {}).get("name")}
        return {n for n in names if f"{n}-cp" in done and f"{n}-ingress" in done}

    times = list(_until_done(stack, created, both_bound, size).values())
    spread = _spread(times)
    print(f"  ipam x{size}: {len(times)}/{size} clusters' two claims bound; p50 {spread['p50']:.2f} s, p99 {spread['p99']:.2f} s, "
          f"max {spread['max']:.2f} s ({2 * size / max(times, default=1):.1f} claims/s); "
          f"CPU s meanwhile: {burst()}", flush=True)
    for n in names:
        for role in ("cp", "ingress"):
            w.kube.delete(IPAM_API, "IPAddressClaim", f"{n}-{role}", ns)
    wait_for(f"the claims in {ns} to go", lambda: not w.kube.list(CLAIMS_STORED, "IPAddressClaim", ns), timeout=300 + 2 * size)
    return {} if warm_up else {"system": "ipam", "size": size, "endpoint_s": spread}


def _delete(stack: Stack, w: StackWorld, system: str, names: list[str], ns: str, size: int) -> None:
    """Gone before the next system starts: its watches and requeues would count in the next one's window."""
    if system == "operator":
        stack.stop_operator()
        for n in names:
            w.kube.delete(CLUSTER_API, "Cluster", n, ns)
    else:
        for n in names:
            w.kube.delete("platform.example.org/v1alpha1", "WorkloadCluster", n, ns)
    wait_for(f"everything in {ns} to go", lambda: not w.kube.list(CLUSTERS_STORED, "Cluster", ns)
             and not w.kube.list(CLAIMS_STORED, "IPAddressClaim", ns), timeout=300 + 2 * size)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1,100", help="clusters created at once, per run (comma-separated)")
    ap.add_argument("--window", type=float, default=600, help="seconds of steady state measured after the largest size "
                    "converged (at least the function's converged TTL, 10 minutes in the example Composition)")
    ap.add_argument("--small-window", type=float, default=30, help="the same after the smaller sizes")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    args = ap.parse_args()
    if not peers.available():
        print(f"bench/peers.py: {peers.not_collected_reason()}", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",")]
    systems = args.systems.split(",")
    wd = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    started = time.monotonic()
    print(f"building the image and the package, starting the stack in {wd} ...", flush=True)
    registry = Registry(wd / "registry")
    stack = None
    results = []
    try:
        stack = Stack(wd / "stack", build_and_push(registry), crossplane_args=crossplane_args())  # the README's
        stack.up()
        install_examples(stack)
        for name in GO_FUNCTIONS:
            install_go_function(stack, registry, name, wd / "go-functions")
        Kube(stack.client).apply(yaml.safe_load(PIPELINE.read_text()))
        Kube(stack.client).apply(composition(COMPOSITIONS["ours-v1beta2"], V1BETA2_INPUT))
        print(f"stack up in {time.monotonic() - started:.0f} s, the three Go functions installed", flush=True)
        index = 0
        print("warming up: one cluster of each system, not counted (Crossplane starts its informers for a kind on the "
              "first XR that needs it)", flush=True)
        for system in systems:
            index += 1
            run_one(stack, system, 1, "10.200.0", 0, index, warm_up=True)
        for size in sizes:
            for system in systems:
                index += 1
                window = args.window if size == max(sizes) else args.small_window
                result = run_one(stack, system, size, "10.200.0", window, index)
                if result:
                    results.append(result)
    finally:
        if stack is not None:
            stack.down()
        registry.stop()
    (wd / "peers.json").write_text(json.dumps(results, indent=1))
    print(f"results in {wd / 'peers.json'}; {time.monotonic() - started:.0f} s in all")
    last = {r["system"]: r for r in results if r["size"] == max(sizes)}

    def fig(system: str, f) -> str:
        return f"{f(last[system]):.2f}" if system in last and f(last[system]) is not None else "n/a"

    print(f"peers: endpoint p99 {fig('ours', lambda r: r['endpoint_s']['p99'])}s (ipam alone {fig('ipam', lambda r: r['endpoint_s']['p99'])}s, v1beta2 {fig('ours-v1beta2', lambda r: r['endpoint_s']['p99'])}s) operator "
          f"{fig('operator', lambda r: r['endpoint_s']['p99'])}s pipeline {fig('pipeline', lambda r: r['endpoint_s']['p99'])}s; "
          f"requests/cluster-hour {fig('ours', lambda r: r['requests_per_cluster_hour'])} operator "
          f"{fig('operator', lambda r: r['requests_per_cluster_hour'])} pipeline {fig('pipeline', lambda r: r['requests_per_cluster_hour'])}; "
          f"cpu ms/reconcile {fig('ours', lambda r: r['cpu_ms_per_reconcile'])} pipeline {fig('pipeline', lambda r: r['cpu_ms_per_reconcile'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
