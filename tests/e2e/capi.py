"""Cluster API in the e2e stack: its core manager and the kubeadm providers, as envtest runs them.

Each provider is the binary tools.install builds from the pinned sigs.k8s.io/cluster-api module,
with its CRDs, webhook configurations and conversion read from that module, as the provider's own
kustomization lays them out (`config/crd/kustomization.yaml`: the contract labels its CRDs carry, and
the CRDs whose conversion its webhook serves; `config/webhook/manifests.yaml`). What kustomize and
cert-manager would do in a cluster is done here: every webhook and conversion is called at
https://127.0.0.1:<the provider's port> with the stack's CA (a `url` client config), and each
provider's webhook server has a certificate for 127.0.0.1 from that CA.

- core (`core`): every controller (ClusterTopology on), its webhooks (the Cluster's defaulting and
  validation, ClusterClass, IPAddressClaim), and /convert for its CRDs (v1beta2 stored, v1beta1
  served through it).
- the kubeadm bootstrap and control-plane providers: their webhooks and conversion. Their controllers
  act on nothing (--watch-filter with a value no object carries): a control plane needs machines and a
  workload API server at the VIP, which no provider here gives. The tests write what they would (the
  control plane initialized, the infrastructure cluster ready), and core computes the Cluster's
  conditions from that.
- CRDs only, no controller: the vSphere provider's (the kubeadm examples' infrastructure), the RKE2
  bootstrap and control-plane providers' and the Proxmox provider's (the RKE2 example's); each with the
  contract labels its kustomization gives, so that Cluster API's topology controller renders them.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
from pathlib import Path

import yaml

from tools import gobuild

GATES = "--feature-gates=ClusterTopology=true"
NO_OBJECT = "function-capi-vip-e2e-none"  # a watch-filter value no object carries: the controllers idle


@dataclasses.dataclass(frozen=True)
class Provider:
    name: str  # short, for process, user and webhook configuration names
    component: str  # in tools/versions.toml
    package: str | None  # its manager's main package; None: only its CRDs are installed
    config: str  # its config/ folder in the module
    controllers: bool = True  # False: webhooks and conversion only (--watch-filter NO_OBJECT)

    def file(self, relative: str) -> Path:
        """A file of the provider's config/ folder in its module."""
        return gobuild.module_file(self.component, f"{self.config}/{relative}")

    def kustomization(self) -> dict:
        return yaml.safe_load(self.file("crd/kustomization.yaml").read_text()) or {}

    def crd_files(self) -> list[Path]:
        crd = self.file("crd")
        return [crd / r for r in self.kustomization().get("resources", []) if r.endswith(".yaml")]


PROVIDERS = (
    Provider("capi", "cluster-api", "core", "core/config"),
    Provider("capi-kubeadm-bootstrap", "cluster-api", "bootstrap/kubeadm", "bootstrap/kubeadm/config", controllers=False),
    Provider("capi-kubeadm-control-plane", "cluster-api", "controlplane/kubeadm", "controlplane/kubeadm/config",
             controllers=False),
    Provider("capv", "cluster-api-provider-vsphere", None, "config/default"),
    Provider("rke2-bootstrap", "cluster-api-provider-rke2", None, "bootstrap/config"),
    Provider("rke2-control-plane", "cluster-api-provider-rke2", None, "controlplane/config"),
    Provider("proxmox", "cluster-api-provider-proxmox", None, "config"),
)


def contract_labels(kustomization: dict) -> dict[str, str]:
    """The labels a kustomization gives its CRDs (the CAPI contract versions each serves)."""
    out = dict(kustomization.get("commonLabels") or {})
    for entry in kustomization.get("labels") or []:
        out.update(entry.get("pairs") or {})
    return out


def converted(provider: Provider) -> set[str]:
    """The CRDs whose conversion the provider's webhook serves (its kustomization's webhook_in_ patches)."""
    crd = provider.file("crd")
    names = set()
    for patch in provider.kustomization().get("patches") or provider.kustomization().get("patchesStrategicMerge") or []:
        path = patch.get("path") if isinstance(patch, dict) else patch
        if path and Path(path).name.startswith("webhook_in_"):
            names.add(yaml.safe_load((crd / path).read_text())["metadata"]["name"])
    return names


def crds(ports: dict[str, int], ca: bytes) -> list[dict]:
    """Every provider's CRDs, with its contract labels, and conversion through its webhook where it has one."""
    out = []
    for p in PROVIDERS:
        labels = contract_labels(p.kustomization())
        conversion = converted(p) if p.package else set()
        for f in p.crd_files():
            crd = yaml.safe_load(f.read_text())
            crd["metadata"].setdefault("labels", {}).update(labels)
            if crd["metadata"]["name"] in conversion:
                crd["spec"]["conversion"] = {"strategy": "Webhook", "webhook": {
                    "conversionReviewVersions": ["v1"],
                    "clientConfig": {"url": f"https://127.0.0.1:{ports[p.name]}/convert",
                                     "caBundle": base64.b64encode(ca).decode()}}}
            out.append(crd)
    return out


def webhook_configurations(provider: Provider, port: int, ca: bytes) -> list[dict]:
    """The provider's Mutating/ValidatingWebhookConfigurations, called at 127.0.0.1:port, named after it."""
    path = provider.file("webhook/manifests.yaml")
    out = []
    for config in yaml.safe_load_all(path.read_text()):
        if not config:
            continue
        config = copy.deepcopy(config)
        config["metadata"]["name"] = f"{provider.name}-{config['metadata']['name']}"
        for hook in config["webhooks"]:
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{hook['clientConfig']['service']['path']}",
                                    "caBundle": base64.b64encode(ca).decode()}
        out.append(config)
    return out


def manager_argv(provider: Provider, binary: Path, kubeconfig: Path, certs: Path, port: int, health: int) -> list[str]:
    argv = [str(binary), f"--kubeconfig={kubeconfig}", f"--webhook-port={port}", f"--webhook-cert-dir={certs}",
            f"--health-addr=127.0.0.1:{health}", "--diagnostics-address=0", "--leader-elect=false", GATES, "--v=2"]
    if not provider.controllers:
        argv.append(f"--watch-filter={NO_OBJECT}")
    return argv
