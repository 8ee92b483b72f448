"""A real management cluster on 127.0.0.1, started by the tests from the pinned binaries.

    etcd -> kube-apiserver -> kube-controller-manager (garbage collector, namespaces, ClusterRole aggregation)
         -> RBAC from each component's own manifests (tests/e2e/rbac.py): Crossplane's and external-dns's
            charts (`helm template`), the IPAM provider's and Cluster API's kustomizations, and ours
            (examples/rbac.yaml)
         -> CRDs of the in-cluster IPAM provider and external-dns
         -> Cluster API v1.14 (tests/e2e/capi.py): its CRDs (v1beta2 stored, v1beta1 converted by its
            webhook), its core manager (ClusterTopology on) and the kubeadm bootstrap and control-plane
            providers, their admission and conversion webhooks on 127.0.0.1
         -> Crossplane's CRDs, `crossplane core init`, `crossplane core start` (webhooks on, so
            Usages are enforced; the Usage webhook configuration points at 127.0.0.1), and
            `crossplane rbac start`
         -> the in-cluster IPAM provider's controller (webhooks off)
         -> external-dns (source crd, provider coredns: the records in etcd, under /skydns/)
         -> the function, as users install it: the README's Function, whose package (the image
            and package the README's Install it commands built, pushed to a registry on
            127.0.0.1) Crossplane's package manager pulls; the revision's image, fetched by its
            digest, started from its own root filesystem (tests/oci.py), which Crossplane's
            function runner dials over mutual TLS.

Everything is built by `python -m tools.install` from tools/versions.toml and found through
tools/gobuild.py; the CRDs, charts and kustomizations are read from the pinned modules in the Go
module cache. One CA, made here, signs every certificate: the API server's, each component's client
certificate (its ServiceAccount's user name, so its own chart's bindings apply and the audit log
tells who asked what), the webhook servers' (Crossplane's, Cluster API's), Crossplane's client
certificate for functions, and the function's server certificate. Only the test itself (user e2e)
and kube-controller-manager are in system:masters.

What is not real, and why:
- No infrastructure provider runs, and no machine: the tests play the infrastructure provider and
  the kubeadm control plane's machines (the infrastructure cluster ready, the control plane
  initialized on its version; StackWorld.cluster_ready). The kubeadm providers' controllers act on
  nothing (their webhooks and conversion serve): a control plane needs machines and a workload API
  server at the VIP. CAPD's in-memory backend was tried on paper and left: its fake API servers
  listen on 127.0.0.1 with certificates for POD_IP only, and KCP dials the Cluster's endpoint, the VIP.
- The IPAM provider runs without its webhooks (they only validate pools and refuse to delete a
  pool that still has addresses).
- Crossplane's package runtime is External: nothing runs the function as a Deployment. The tests
  are that runtime: once Crossplane has made the FunctionRevision from the pulled package, they
  fetch the revision's image from the registry, unpack it, start its entrypoint as its user under
  chroot with its root filesystem read-only and the certificates where TLS_SERVER_CERTS_DIR says
  (as the Deployment would mount them), and set the revision's endpoint, TLS Secret and
  RuntimeHealthy condition, as a runtime would. No network namespace: it listens on 127.0.0.1.
- Crossplane v2.4.0 binds its webhook, metrics and health servers on every interface (there is
  no flag for the host), its RBAC manager its metrics on :8080, and Cluster API's managers their
  webhook servers on every interface; everything else listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.e2e import capi, rbac
from tools import gobuild

ROOT = Path(__file__).resolve().parents[2]
XP_NS = "crossplane-system"
FUNCTION = "function-capi-vip"
OPERATOR = "capi-vip-allocator"  # a peer (tools/peers.py): started by the take-over test only
IPAM = "ipam-in-cluster-v1-1"  # the in-cluster IPAM provider of Cluster API's line (tools/versions.toml)


class StackError(RuntimeError):
    """A component did not start or stopped; the message says which, and where its log is."""


DNS_ZONE = "clusters.example.org"  # the zone external-dns serves (tests/e2e: Input dns.zone)
DNS_ENDPOINT_CRD = "dnsendpoints.externaldns.k8s.io.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    """Nothing listens on the port (on any interface)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return False
        return True


def binaries() -> dict[str, Path]:
    """The pinned binaries; gobuild.Missing names the install command when one is not built."""
    return {
        "etcd": gobuild.binary_of("etcd"),
        "kube-apiserver": gobuild.binary_of("kubernetes", "cmd/kube-apiserver"),
        "kube-controller-manager": gobuild.binary_of("kubernetes", "cmd/kube-controller-manager"),
        "crossplane": gobuild.binary_of("crossplane"),
        "ipam": gobuild.binary_of(IPAM),
        **{p.name: gobuild.binary_of(p.component, p.package) for p in capi.PROVIDERS if p.package},
        "external-dns": gobuild.binary_of("external-dns"),
        "helm": gobuild.binary_of("helm"),
    }


# --- PKI ---------------------------------------------------------------------------------


def _pem_key(key) -> bytes:
    # PKCS#1 ("RSA PRIVATE KEY"): `crossplane core init` reads the CA Secret's key with
    # x509.ParsePKCS1PrivateKey; an EC or PKCS#8 key fails ("cannot parse CA key").
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _pem_cert(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class CA:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "function-capi-vip e2e CA")])
        self.cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def issue(self, folder: Path, cn: str, *, orgs=(), ips=(), dns=(), server=True, client=True) -> None:
        """tls.key, tls.crt and ca.crt in folder, as Crossplane lays out a certificate folder."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.timezone.utc)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                             *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs)])
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
        b = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False, crl_sign=False,
                                         content_commitment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        sans = [x509.IPAddress(ipaddress.ip_address(i)) for i in ips] + [x509.DNSName(d) for d in dns]
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tls.key").write_bytes(_pem_key(key))
        (folder / "tls.crt").write_bytes(_pem_cert(b.sign(self.key, hashes.SHA256())))
        (folder / "ca.crt").write_bytes(_pem_cert(self.cert))


def write_pki(pki: Path) -> None:
    ca = CA()
    pki.mkdir(parents=True, exist_ok=True)
    (pki / "ca.crt").write_bytes(_pem_cert(ca.cert))
    (pki / "ca.key").write_bytes(_pem_key(ca.key))
    ca.issue(pki / "kube-apiserver", "kube-apiserver", ips=["127.0.0.1"], dns=["localhost"], client=False)
    # The test itself and Kubernetes' own controller manager, in system:masters. Every other component
    # acts as its ServiceAccount, with a token (Stack.grant).
    for user in ("e2e", "kube-controller-manager"):
        ca.issue(pki / f"user-{user}", user, orgs=["system:masters"], server=False)
    # Crossplane's webhook server (TLS_SERVER_CERTS_DIR): the API server calls https://127.0.0.1:PORT.
    ca.issue(pki / "crossplane-server", "crossplane-webhook", ips=["127.0.0.1"], dns=["localhost"], client=False)
    # Crossplane's client certificate for functions (TLS_CLIENT_CERTS_DIR), the name core init would give it.
    ca.issue(pki / "crossplane-client", "crossplane", dns=[f"crossplane.{XP_NS}"], server=False)
    # Cluster API's webhook servers (each provider's, https://127.0.0.1:PORT): admission and conversion.
    ca.issue(pki / "capi-webhooks", "capi-webhook-service", ips=["127.0.0.1"], dns=["localhost"], client=False)
    # The function's server certificate: the runner dials the revision's endpoint 127.0.0.1:PORT.
    ca.issue(pki / "function", FUNCTION, ips=["127.0.0.1"], dns=["localhost"], client=False)
    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (pki / "sa.key").write_bytes(_pem_key(sa))
    (pki / "sa.pub").write_bytes(sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo))


# --- processes -----------------------------------------------------------------------------


class Proc:
    """One component: its own session (a test killing it never hits another), its log in a file."""

    def __init__(self, name: str, argv: list, logs: Path, env: dict | None = None, *, inherit_env: bool = True) -> None:
        self.name, self.argv = name, [str(a) for a in argv]
        self.env = {**(os.environ if inherit_env else {}), **(env or {})}
        self.log = logs / f"{name}.log"
        self.p: subprocess.Popen | None = None
        self.starts = 0
        self.stopped = False  # stopped on purpose: check() lets it be
        self.exited_at: float | None = None  # when it was first seen exited (not stopped on purpose)
        self.backoff = KUBELET_BACKOFF[0]  # the kubelet's delay before its next restart (Stack.kubelet)
        self.start()

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts + 1}: {' '.join(self.argv)}\n".encode())
            out.flush()
            self.p = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                      start_new_session=True)
        self.starts += 1
        self.stopped = False
        self.exited_at = None

    @property
    def running(self) -> bool:
        return self.p is not None and self.p.poll() is None

    def check(self) -> None:
        if not self.running and not self.stopped:
            raise StackError(f"{self.name} exited with {self.p.returncode if self.p else None}:\n{self.tail()}")

    def restart_due(self) -> bool:
        """Exited, not on purpose, and its restart delay passed since it was first seen so (the kubelet's
        CrashLoopBackOff: 10 s, doubled after each restart, at most 5 minutes)."""
        if self.running or self.stopped:
            return False
        now = time.monotonic()
        if self.exited_at is None:
            self.exited_at = now
        return now - self.exited_at >= self.backoff

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        self.stopped = True
        if self.running:
            self.p.kill()
        if self.p is not None:
            self.p.wait()

    def stop(self, grace: float = 15) -> None:
        self.stopped = True
        if self.running:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return f"{self.log}:\n" + "\n".join(text[-lines:])


KUBELET_BACKOFF = (10.0, 300.0)  # the kubelet's restart delay: first, and at most (it doubles in between)


def wait_for(what: str, ready, *, timeout: float, proc: Proc | None = None, interval: float = 0.25) -> float:
    started = time.monotonic()
    last: Exception | None = None
    while time.monotonic() - started < timeout:
        if proc is not None:
            proc.check()
        try:
            if ready():
                return time.monotonic() - started
        except Exception as e:  # noqa: BLE001 - not ready yet; the last error is reported
            last = e
        time.sleep(interval)
    detail = f"; last error: {last!r}" if last else ""
    raise StackError(f"{what}: not ready after {timeout:.0f} s{detail}" + (f"\n{proc.tail()}" if proc else ""))


def http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


# --- the stack -----------------------------------------------------------------------------


class Stack:
    """The components, started in order on 127.0.0.1; `up()`, then `down()`."""

    def __init__(self, workdir: Path, package, crossplane_args: tuple[str, ...] = ()) -> None:
        self.package = package  # tests/package.py Built: the pushed package and its registry
        self.crossplane_args = tuple(crossplane_args)  # flags of `crossplane core start` beside the stack's own
        self.wd = workdir
        self.pki = workdir / "pki"
        self.logs = workdir / "logs"
        self.bin = binaries()
        self.procs: dict[str, Proc] = {}
        self.ports: dict[str, int] = {}
        self.kubelet = False  # restart a component that exits instead of failing (see check)
        self.restarted: list[tuple[str, str]] = []  # (component, what happened)
        self.timings: dict[str, float] = {}
        self.client = None  # kubernetes.client.ApiClient of user e2e, once the API server is up

    # -- helpers
    def kubeconfig(self, user: str, token: str | None = None) -> Path:
        """The user's kubeconfig: its client certificate (e2e, kube-controller-manager), or a ServiceAccount's token."""
        path = self.wd / f"{user}.kubeconfig"
        if token is not None or not path.exists():
            creds = {"token": token} if token is not None else {
                "client-certificate": str(self.pki / f"user-{user}/tls.crt"), "client-key": str(self.pki / f"user-{user}/tls.key")}
            path.write_text(self._kubeconfig(user, {"certificate-authority": str(self.pki / "ca.crt")}, creds))
        return path

    def embedded_kubeconfig(self, user: str) -> str:
        """The user's kubeconfig with its certificates inline, for a Secret (a workload cluster's kubeconfig)."""
        b64 = lambda p: base64.b64encode(p.read_bytes()).decode()  # noqa: E731
        return self._kubeconfig(user, {"certificate-authority-data": b64(self.pki / "ca.crt")},
                                {"client-certificate-data": b64(self.pki / f"user-{user}/tls.crt"),
                                 "client-key-data": b64(self.pki / f"user-{user}/tls.key")})

    def _kubeconfig(self, user: str, ca: dict, creds: dict) -> str:
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "e2e",
            "clusters": [{"name": "e2e", "cluster": {"server": self.server, **ca}}],
            "users": [{"name": user, "user": creds}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": user}}],
        })

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['kube-apiserver']}"

    def tls(self) -> ssl.SSLContext:
        """Of user e2e, trusting the CA: for the API server's /metrics and /readyz."""
        c = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        c.load_cert_chain(self.pki / "user-e2e/tls.crt", self.pki / "user-e2e/tls.key")
        return c

    def get_raw(self, path: str) -> str:
        with urllib.request.urlopen(self.server + path, timeout=30, context=self.tls()) as r:
            return r.read().decode()

    def metrics(self, component: str) -> str:
        """The Prometheus text of a component: kube-apiserver, crossplane or function."""
        if component == "kube-apiserver":
            return self.get_raw("/metrics")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[component + '-metrics']}/metrics", timeout=30) as r:
            return r.read().decode()

    def _phase(self, name: str, fn) -> None:
        started = time.monotonic()
        fn()
        self.timings[name] = round(time.monotonic() - started, 1)

    def up(self) -> None:
        self.wd.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        started = time.monotonic()
        self.rbac = self.permissions()
        self._phase("pki", lambda: write_pki(self.pki))
        self._phase("etcd", self.start_etcd)
        self._phase("kube-apiserver", self.start_apiserver)
        self._phase("kube-controller-manager", self.start_controller_manager)
        self._phase("RBAC from each component's own manifests", self.grant)
        self._phase("CRDs of IPAM and external-dns", self.install_crds)
        self._phase("Cluster API", self.start_capi)
        self._phase("crossplane core init", self.crossplane_init)
        self._phase("crossplane core start", self.start_crossplane)
        self._phase("crossplane rbac manager", self.start_rbac_manager)
        self._phase("IPAM provider", self.start_ipam)
        self._phase("external-dns", self.start_external_dns)
        self._phase("Function installed from the registry", self.install_function)
        self._phase("function started from the revision's image", self.start_function)
        self._phase("Function healthy", self.function_healthy)
        self.timings["total"] = round(time.monotonic() - started, 1)

    def down(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()

    def check(self) -> None:
        """A component that exited fails the check; with ``kubelet`` on (the fault tests) it is started again after the
        kubelet's delay instead, as the kubelet restarts a pod's container in a real management cluster, and listed
        in ``restarted``."""
        for name, proc in self.procs.items():
            if self.kubelet and proc.restart_due():
                self.restarted.append((name, f"{proc.name} (exited with {proc.p.returncode}, restarted after {proc.backoff:.0f} s)"))
                proc.backoff = min(proc.backoff * 2, KUBELET_BACKOFF[1])
                proc.start()
            elif not self.kubelet:
                proc.check()

    # -- faults: a component stopped and started again, as it was (same ports, same data)
    FAULTY = ("kube-apiserver", "etcd", "ipam", "function", "crossplane")

    def stop_component(self, name: str) -> None:
        """SIGTERM, as a rolling restart or a node drain stops a pod (the function: SIGKILL, its port closed at once)."""
        if name not in self.FAULTY:
            raise ValueError(f"no fault for {name}: one of {', '.join(self.FAULTY)}")
        proc = self.procs[name]
        proc.kill() if name == "function" else proc.stop()

    def start_component(self, name: str) -> None:
        """The component started again with its own command line; returns once it is ready again."""
        proc = self.procs[name]
        proc.start()
        if name == "etcd":
            self.wait_etcd()
        if name in ("etcd", "kube-apiserver"):
            self.wait_apiserver()
        elif name == "ipam":
            self.wait_ipam()
        elif name == "function":
            self.wait_function()
        elif name == "crossplane":
            self.wait_crossplane()

    # -- components
    def start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.ports["etcd"] = client
        self.procs["etcd"] = Proc("etcd", [
            self.bin["etcd"], "--name=e2e", f"--data-dir={self.wd / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{client}", f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=e2e=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync", "--log-level=warn", "--quota-backend-bytes=4294967296",
        ], self.logs)
        self.wait_etcd()

    def wait_etcd(self) -> None:
        wait_for("etcd /health", lambda: json.load(urllib.request.urlopen(
            f"http://127.0.0.1:{self.ports['etcd']}/health", timeout=2)).get("health") == "true", timeout=60,
            proc=self.procs["etcd"])

    def start_apiserver(self) -> None:
        port = free_port()
        self.ports["kube-apiserver"] = port
        p = self.pki
        policy = self.wd / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump({
            "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
            "rules": [{"level": "None", "nonResourceURLs": ["/healthz*", "/readyz*", "/livez*", "/metrics"]},
                      {"level": "Metadata"}]}))
        self.procs["kube-apiserver"] = Proc("kube-apiserver", [
            self.bin["kube-apiserver"], f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            # --advertise-address: else the `kubernetes` endpoints get the machine's first address
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
            f"--cert-dir={self.wd / 'apiserver-certs'}",
            f"--tls-cert-file={p / 'kube-apiserver/tls.crt'}", f"--tls-private-key-file={p / 'kube-apiserver/tls.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            f"--service-account-key-file={p / 'sa.pub'}", f"--service-account-signing-key-file={p / 'sa.key'}",
            f"--service-account-issuer=https://127.0.0.1:{port}",
            # ClusterIPs only; nothing routes there. Apart from the pools' ranges, to avoid confusion.
            "--service-cluster-ip-range=172.31.255.0/24",
            "--authorization-mode=RBAC", "--allow-privileged=true", "--profiling=false",
            f"--audit-policy-file={policy}", f"--audit-log-path={self.logs / 'audit.log'}", "--audit-log-format=json",
            "--audit-log-maxsize=0", "--v=1",
        ], self.logs)
        self.wait_apiserver()
        from kubernetes import config

        self.client = config.new_client_from_config(str(self.kubeconfig("e2e")))

    def start_controller_manager(self) -> None:
        self.procs["kube-controller-manager"] = Proc("kube-controller-manager", [
            self.bin["kube-controller-manager"], f"--kubeconfig={self.kubeconfig('kube-controller-manager')}",
            "--controllers=garbagecollector,namespace,clusterrole-aggregation", "--leader-elect=false",
            # --secure-port=0: no HTTPS server, so it listens on nothing (and has no health endpoint)
            "--bind-address=127.0.0.1", "--secure-port=0", "--v=1",
        ], self.logs)
        wait_for("kube-controller-manager: garbage collector synced",
                 lambda: b"all resource monitors have synced" in self.procs["kube-controller-manager"].log.read_bytes(),
                 timeout=120, proc=self.procs["kube-controller-manager"])

    def permissions(self) -> dict[str, tuple["rbac.Identity", list[dict]]]:
        """Each component's identity and RBAC objects, from its own chart or kustomization; ours (examples/rbac.yaml)
        goes with Crossplane's, whose chart aggregates it."""
        helm = self.bin["helm"]
        crossplane = rbac.helm_rbac(helm, "crossplane", "cluster/charts/crossplane", "crossplane", XP_NS)
        ours = [d for d in yaml.safe_load_all((ROOT / "examples" / "rbac.yaml").read_text()) if d]
        dns = rbac.helm_rbac(helm, "external-dns", "charts/external-dns", "external-dns", rbac.EXTERNAL_DNS.namespace,
                             "sources={crd}", "policy=sync", "provider.name=coredns")
        out = {"crossplane": (rbac.CROSSPLANE, crossplane + ours), "rbac-manager": (rbac.RBAC_MANAGER, []),
               "external-dns": (rbac.service_account_of(dns), dns)}
        objs, identity = rbac.kustomized(IPAM, "config")
        out["ipam-provider"] = (identity, objs)
        for p in capi.PROVIDERS:
            if p.package:
                objs, identity = rbac.kustomized(p.component, p.config)
                out[p.name] = (identity, objs)
        return out

    def grant(self) -> None:
        """Each component's ServiceAccount, its chart's or kustomization's RBAC, and its kubeconfig: a token of
        that ServiceAccount (TokenRequest, valid for a day), as a pod's projected token would be."""
        from tests.e2e.kube import Kube

        kube = Kube(self.client)
        for ns in sorted({identity.namespace for identity, _ in self.rbac.values()}):
            kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        for _, objs in self.rbac.values():
            for obj in objs:
                kube.apply(obj)
        bound = {o["roleRef"]["name"] for _, objs in self.rbac.values() for o in objs if o["kind"] == "ClusterRoleBinding"}
        aggregated = [o["metadata"]["name"] for _, objs in self.rbac.values() for o in objs
                      if o.get("aggregationRule") and o["metadata"]["name"] in bound]
        wait_for(f"the rules of the aggregated ClusterRoles {aggregated} (kube-controller-manager)", lambda: all(
            (kube.get("rbac.authorization.k8s.io/v1", "ClusterRole", name) or {}).get("rules") for name in aggregated),
            timeout=60, proc=self.procs["kube-controller-manager"])
        self.tokens(self.rbac)

    def tokens(self, grants: dict[str, tuple["rbac.Identity", list[dict]]]) -> None:
        """Each user's ServiceAccount and its kubeconfig with a token of it."""
        from tests.e2e.kube import Kube

        kube = Kube(self.client)
        for user, (identity, _) in grants.items():
            kube.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": identity.service_account, "namespace": identity.namespace}})
            token = kube.request("POST", f"/api/v1/namespaces/{identity.namespace}/serviceaccounts/"
                                         f"{identity.service_account}/token",
                                 {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                  "spec": {"expirationSeconds": 86400}})["status"]["token"]
            self.kubeconfig(user, token=token)

    def start_operator(self) -> Proc:
        """capi-vip-allocator v0.7.1, the operator the function replaces, built from its source (tools/peers.py) and
        run as its shipped manifests run it (reconciler mode, no runtime extension; out of a cluster: --kubeconfig and no
        leader election), as its ServiceAccount with the RBAC of its own config/ kustomization. Its field manager is
        its binary's name, capi-vip-allocator. Started again by a second call after stop_operator()."""
        from tests.e2e.kube import Kube
        from tools import peers

        proc = self.procs.get(OPERATOR)
        if proc is not None:
            if not proc.running:
                proc.start()
            return proc
        peer = peers.pins()[OPERATOR]
        objs, identity = rbac.kustomized_at(peers.root() / peer.source / "config")
        kube = Kube(self.client)
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": identity.namespace}})
        for obj in objs:
            kube.apply(obj)
        self.tokens({OPERATOR: (identity, objs)})
        self.ports[OPERATOR + "-health"] = health = free_port()
        self.procs[OPERATOR] = proc = Proc(OPERATOR, [
            peers.binary_of(OPERATOR), f"--kubeconfig={self.kubeconfig(OPERATOR)}", "--enable-reconciler=true",
            "--enable-runtime-extension=false", f"--metrics-bind-address=127.0.0.1:{free_port()}",
            f"--health-probe-bind-address=127.0.0.1:{health}",
        ], self.logs)
        wait_for("capi-vip-allocator /readyz", lambda: http_ok(f"http://127.0.0.1:{health}/readyz"), timeout=60, proc=proc)
        return proc

    def stop_operator(self) -> None:
        """As a user scales its Deployment to zero: SIGTERM, and it is gone."""
        if OPERATOR in self.procs:
            self.procs[OPERATOR].stop()

    def install_crds(self) -> None:
        from tests.e2e.kube import Kube

        files = [f for d in gobuild.crd_dirs(IPAM) for f in sorted(d.glob("*.yaml"))]
        files += [d / DNS_ENDPOINT_CRD for d in gobuild.crd_dirs("external-dns")]
        Kube(self.client).apply_crds(files)

    def start_capi(self) -> None:
        """Cluster API's CRDs (conversion through its webhooks), its managers, then its webhook configurations."""
        from tests.e2e.kube import Kube

        kube = Kube(self.client)
        ca = (self.pki / "ca.crt").read_bytes()
        managers = [p for p in capi.PROVIDERS if p.package]
        for p in managers:
            self.ports[p.name], self.ports[p.name + "-health"] = free_port(), free_port()
        kube.apply_crds(capi.crds({p.name: self.ports[p.name] for p in managers}, ca))
        for p in managers:
            self.procs[p.name] = Proc(p.name, capi.manager_argv(
                p, self.bin[p.name], self.kubeconfig(p.name), self.pki / "capi-webhooks", self.ports[p.name],
                self.ports[p.name + "-health"]), self.logs)
        for p in managers:
            wait_for(f"{p.name} /readyz", lambda p=p: http_ok(f"http://127.0.0.1:{self.ports[p.name + '-health']}/readyz"),
                     timeout=180, proc=self.procs[p.name])
            for config in capi.webhook_configurations(p, self.ports[p.name], ca):
                kube.apply(config)

    def crossplane_init(self) -> None:
        from tests.e2e.kube import Kube

        kube = Kube(self.client)
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        # Our CA as Crossplane's, so init signs Crossplane's client certificate with it.
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": XP_NS}})
        kube.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": "crossplane-root-ca", "namespace": XP_NS},
                    "data": {"tls.crt": b64((self.pki / "ca.crt").read_bytes()), "tls.key": b64((self.pki / "ca.key").read_bytes())}})
        # init applies the CRDs and creates its Lock at once, without waiting for them to be
        # established ("no matches for kind Lock"); in a cluster its container restarts. Here the
        # CRDs go in first.
        (crds,) = (d for d in gobuild.crd_dirs("crossplane") if d.name == "crds")
        kube.apply_crds(sorted(crds.glob("*.yaml")))
        env = {"KUBECONFIG": str(self.kubeconfig("crossplane")), "POD_NAMESPACE": XP_NS,
               "TLS_CA_SECRET_NAME": "crossplane-root-ca", "TLS_CLIENT_SECRET_NAME": "crossplane-tls-client",
               # kong names the flag --cr-ds-path; the environment variable is plain
               "CRDS_PATH": str(crds),
               # with webhooks on, init writes a webhook configuration for a Service; start_crossplane
               # writes the same configuration for 127.0.0.1 instead
               "ENABLE_WEBHOOKS": "false"}
        log = self.logs / "crossplane-init.log"
        for attempt in range(3):
            r = subprocess.run([str(self.bin["crossplane"]), "core", "init"], env={**os.environ, **env},
                               capture_output=True, text=True, timeout=300)
            with log.open("a") as f:
                f.write(f"--- attempt {attempt + 1}, exit {r.returncode}\n{r.stdout}{r.stderr}")
            if r.returncode == 0:
                return
            time.sleep(2)
        raise StackError(f"crossplane core init failed 3 times; {log}:\n{r.stderr[-3000:]}")

    def _crossplane_argv(self) -> list:
        return [self.bin["crossplane"], "core", "start", "--package-runtime=External", f"--xpkg-cache-dir={self.wd / 'xpkg-cache'}",
                f"--webhook-port={self.ports['crossplane-webhook']}", f"--metrics-port={self.ports['crossplane-metrics']}",
                f"--health-probe-port={self.ports['crossplane-health']}", "--debug", *self.crossplane_args]

    def restart_crossplane(self, *, kill: bool = False) -> None:
        """Stop Crossplane (SIGKILL with kill, else SIGTERM) and start it again on the same ports (the webhook
        configuration and the function's endpoint name them), with the flags it has."""
        proc = self.procs["crossplane"]
        proc.kill() if kill else proc.stop()
        proc.argv = [str(a) for a in self._crossplane_argv()]
        proc.start()
        self.wait_crossplane()

    @contextlib.contextmanager
    def crossplane_running_with(self, crossplane_args: tuple[str, ...]):
        """Crossplane restarted with other extra flags for the block, and restarted with its own again after
        it, whatever the block did (the rest of the suite runs with the README's flags)."""
        own = self.crossplane_args
        self.crossplane_args = tuple(crossplane_args)
        try:
            self.restart_crossplane()
            yield
        finally:
            self.crossplane_args = own
            self.restart_crossplane()

    def start_crossplane(self) -> None:
        webhook, metrics, health = free_port(), free_port(), free_port()
        self.ports.update({"crossplane-webhook": webhook, "crossplane-metrics": metrics, "crossplane-health": health})
        (self.wd / "xpkg-cache").mkdir(exist_ok=True)
        self.procs["crossplane"] = Proc("crossplane", self._crossplane_argv(), self.logs, {"KUBECONFIG": str(self.kubeconfig("crossplane")), "POD_NAMESPACE": XP_NS,
                       "TLS_SERVER_CERTS_DIR": str(self.pki / "crossplane-server"),
                       "TLS_CLIENT_CERTS_DIR": str(self.pki / "crossplane-client")})
        self.wait_crossplane()
        # The Usage webhook exactly as Crossplane ships it, but called at 127.0.0.1.
        from tests.e2e.kube import Kube

        config = yaml.safe_load(gobuild.module_file("crossplane", "cluster/webhookconfigurations/usage.yaml").read_text())
        for hook in config["webhooks"]:
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{webhook}{hook['clientConfig']['service']['path']}",
                                    "caBundle": base64.b64encode((self.pki / "ca.crt").read_bytes()).decode()}
        Kube(self.client).apply(config)

    def wait_crossplane(self) -> None:
        wait_for("crossplane /readyz", lambda: http_ok(f"http://127.0.0.1:{self.ports['crossplane-health']}/readyz"),
                 timeout=180, proc=self.procs["crossplane"])

    def start_rbac_manager(self) -> None:
        """Crossplane's RBAC manager, as its chart runs it: it grants Crossplane each XRD's kinds (a ClusterRole
        crossplane:composite:<xrd>:aggregate-to-crossplane), which the chart's `crossplane` role aggregates."""
        if not port_free(8080):
            raise StackError("port 8080 is in use: Crossplane's RBAC manager (crossplane rbac start) always serves "
                             "its metrics on :8080 (no flag moves it); stop what listens there, or the other e2e stack")
        self.procs["rbac-manager"] = Proc("rbac-manager", [
            self.bin["crossplane"], "rbac", "start", "--provider-clusterrole=crossplane:allowed-provider-permissions",
            "--debug"], self.logs, {"KUBECONFIG": str(self.kubeconfig("rbac-manager")), "LEADER_ELECTION": "false"})
        wait_for("crossplane rbac manager's metrics on :8080", lambda: http_ok("http://127.0.0.1:8080/metrics"),
                 timeout=120, proc=self.procs["rbac-manager"])

    def start_ipam(self) -> None:
        health = free_port()
        self.ports["ipam-health"] = health
        self.procs["ipam"] = Proc("ipam-provider", [
            # --webhook-port=0: no webhook server; --diagnostics-address=0: no metrics server
            self.bin["ipam"], "--webhook-port=0", "--diagnostics-address=0",
            f"--health-probe-bind-address=127.0.0.1:{health}", "--leader-elect=false",
        ], self.logs, {"KUBECONFIG": str(self.kubeconfig("ipam-provider"))})
        self.wait_ipam()

    def wait_apiserver(self) -> None:
        wait_for("kube-apiserver /readyz", lambda: http_ok(self.server + "/readyz", self.tls()), timeout=240,
                 proc=self.procs["kube-apiserver"])

    def wait_ipam(self) -> None:
        wait_for("IPAM provider /readyz", lambda: http_ok(f"http://127.0.0.1:{self.ports['ipam-health']}/readyz"),
                 timeout=120, proc=self.procs["ipam"])

    def start_external_dns(self) -> None:
        """external-dns as a platform team runs it for DNSEndpoints: source crd, provider coredns,
        whose records live in etcd (the stack's own, under /skydns/) where CoreDNS's etcd plugin
        serves them. It syncs on every DNSEndpoint change (--events), and at least every 10 s."""
        health = free_port()
        self.ports["external-dns-health"] = health
        self.procs["external-dns"] = Proc("external-dns", [
            self.bin["external-dns"], "--source=crd", "--provider=coredns", "--policy=sync", "--registry=txt",
            "--txt-owner-id=e2e", f"--domain-filter={DNS_ZONE}", "--interval=10s", "--events",
            "--min-event-sync-interval=1s", f"--kubeconfig={self.kubeconfig('external-dns')}",
            f"--metrics-address=127.0.0.1:{health}", "--log-level=debug",
        ], self.logs, {"ETCD_URLS": f"http://127.0.0.1:{self.ports['etcd']}"})
        wait_for("external-dns /healthz", lambda: http_ok(f"http://127.0.0.1:{health}/healthz"), timeout=120,
                 proc=self.procs["external-dns"])

    def dns_records(self) -> set[tuple[str, str, str]]:
        """What external-dns has published: (name, A or AAAA, address), read back from etcd as CoreDNS
        reads it (a key is the name's labels reversed under /skydns/, plus targetstrip labels of its own)."""
        def b64(text: str) -> str:
            return base64.b64encode(text.encode()).decode()

        body = json.dumps({"key": b64("/skydns/"), "range_end": b64("/skydns0")}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.ports['etcd']}/v3/kv/range", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=10) as r:
            kvs = json.load(r).get("kvs") or []
        out = set()
        for kv in kvs:
            value = json.loads(base64.b64decode(kv["value"]))
            host = value.get("host")
            if not host:
                continue  # a TXT record of the registry
            labels = base64.b64decode(kv["key"]).decode().removeprefix("/skydns/").split("/")[::-1]
            name = ".".join(labels[value.get("targetstrip", 0):])
            out.add((name, "AAAA" if ":" in host else "A", host))
        return out

    # -- the function, as users install it, and the runtime's part
    def install_function(self) -> None:
        """The README's Function: Crossplane's package manager pulls the package from the registry,
        reads its crossplane.yaml and makes the FunctionRevision (it installs none of the package's
        CRDs: Function packages' CRDs are not installed, by the xpkg specification). The revision must
        be of the digest the push reported: v2.4 names it after sha256("<digest hex>|<generation>")."""
        from tests.e2e.kube import Kube
        from tests.package import function_manifest

        kube = Kube(self.client)
        kube.apply(yaml.safe_load(function_manifest().replace("$REGISTRY", self.package.registry.address)))
        wait_for(f"FunctionRevision of {FUNCTION}", lambda: self.revision(kube), timeout=180, proc=self.procs["crossplane"])
        generation = kube.get("pkg.crossplane.io/v1", "Function", FUNCTION)["metadata"]["generation"]
        name = self.revision(kube)["metadata"]["name"]
        if name != revision_name(FUNCTION, self.package.digest, generation):
            raise StackError(f"FunctionRevision {name} is not of the package pushed ({self.package.digest}, "
                             f"revision {revision_name(FUNCTION, self.package.digest, generation)})")
        self.image_digest = self.package.digest  # what Crossplane resolved, by the name; the runtime pulls it

    def revision(self, kube) -> dict | None:
        revisions = kube.list("pkg.crossplane.io/v1", "FunctionRevision", labels={"pkg.crossplane.io/package": FUNCTION})
        return revisions[0] if len(revisions) == 1 else None

    def start_function(self) -> None:
        """The runtime's part: the revision's image, fetched by digest, its entrypoint started as its
        user in its root filesystem, with the server certificate where TLS_SERVER_CERTS_DIR says."""
        import shutil

        from tests import oci
        from tests.package import REPOSITORY, pull

        rootfs = self.wd / "function-rootfs"
        config = pull(self.package.registry, REPOSITORY, self.image_digest, rootfs)
        tls = rootfs / "tls" / "server"
        shutil.copytree(self.pki / "function", tls)
        uid, gid = (int(x) for x in config["config"]["User"].split(":"))
        for f in [tls.parent, tls, *tls.iterdir()]:
            shutil.chown(f, uid, gid)
        port, metrics = free_port(), free_port()
        self.ports.update({"function": port, "function-metrics": metrics})
        self.procs["function"] = Proc("function", oci.command(rootfs, config, [
            f"--address=127.0.0.1:{port}", f"--metrics-address=127.0.0.1:{metrics}", "--debug"]), self.logs,
            oci.environment(config, {"TLS_SERVER_CERTS_DIR": "/tls/server", "PYTHONUNBUFFERED": "1"}), inherit_env=False)
        self.wait_function()

    def wait_function(self) -> None:
        def serving() -> bool:
            with socket.create_connection(("127.0.0.1", self.ports["function"]), timeout=1):
                return http_ok(f"http://127.0.0.1:{self.ports['function-metrics']}/metrics")

        wait_for("function: gRPC port and metrics", serving, timeout=60, proc=self.procs["function"])

    def function_healthy(self) -> None:
        """The Function, Active and Healthy, its revision's endpoint the function's port.

        With --package-runtime=External Crossplane sets no endpoint, no TLS Secret and no
        RuntimeHealthy condition on the revision: that is the runtime's part, played here."""
        self.runtime_serves(FUNCTION, self.ports["function"], "the e2e tests run the revision's image on 127.0.0.1",
                            self.procs["crossplane"])

    def runtime_serves(self, function: str, port: int, message: str, proc: Proc) -> None:
        """The package runtime's part for a Function whose process serves on 127.0.0.1:port with the stack's function
        certificate: the TLS Secret, and the revision's endpoint, Secret and RuntimeHealthy condition; then waits until
        Crossplane says the Function is installed and healthy."""
        from tests.e2e.kube import Kube

        kube = Kube(self.client)
        secret = f"{function}-tls-server"
        b64 = lambda f: base64.b64encode((self.pki / "function" / f).read_bytes()).decode()  # noqa: E731
        kube.apply({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                    "metadata": {"name": secret, "namespace": XP_NS},
                    "data": {"tls.crt": b64("tls.crt"), "tls.key": b64("tls.key"), "ca.crt": b64("ca.crt")}})

        def healthy() -> bool:
            revs = kube.list("pkg.crossplane.io/v1", "FunctionRevision", labels={"pkg.crossplane.io/package": function})
            if len(revs) != 1:
                return False
            rev = revs[0]
            status = rev.get("status") or {}
            if status.get("endpoint") != f"127.0.0.1:{port}" or status.get("tlsServerSecretName") != secret \
                    or not any(c["type"] == "RuntimeHealthy" and c["status"] == "True" for c in status.get("conditions") or []):
                conditions = [c for c in status.get("conditions") or [] if c["type"] != "RuntimeHealthy"]
                conditions.append({"type": "RuntimeHealthy", "status": "True", "reason": "HealthyPackageRevision",
                                   "message": message, "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
                kube.patch_status("pkg.crossplane.io/v1", "FunctionRevision", rev["metadata"]["name"], {
                    "metadata": {"resourceVersion": rev["metadata"]["resourceVersion"]},
                    # Without tlsServerSecretName (and that Secret) the revision stays unhealthy:
                    # "waiting for package runtime controller to set revision's webhook TLS secret".
                    "status": {"endpoint": f"127.0.0.1:{port}", "tlsServerSecretName": secret, "conditions": conditions}})
                return False
            fn = kube.get("pkg.crossplane.io/v1", "Function", function)
            have = {c["type"]: c["status"] for c in (fn.get("status") or {}).get("conditions") or []}
            return have.get("Installed") == "True" and have.get("Healthy") == "True"

        wait_for(f"Function {function} installed and healthy", healthy, timeout=180, interval=1, proc=proc)


def revision_name(function: str, digest: str, generation: int) -> str:
    """Crossplane v2.4's name of a package's revision: FriendlyID(name, sha256("<digest hex>|<generation>"))
    (internal/controller/pkg/manager/reconciler.go), for a name of lowercase letters, digits and dashes."""
    revision_id = hashlib.sha256(f"{digest.split(':', 1)[1]}|{generation}".encode()).hexdigest()
    return f"{function[:50]}-{revision_id[:12]}"
