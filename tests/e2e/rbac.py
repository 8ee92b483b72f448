"""The permissions each component of the e2e stack runs with, from its own manifests, as a real
install gives them: Crossplane's and external-dns's from their Helm charts (`helm template`, the
chart in the pinned module), the IPAM provider's and Cluster API's from their kustomizations
(`config/rbac`, named and bound as `config/default` says), and ours from examples/rbac.yaml.

Each component authenticates as its ServiceAccount (a token from the TokenRequest API, as a pod's
projected token), so the charts' and kustomizations' bindings to that ServiceAccount apply to it
unchanged. Only the test itself (user e2e) and Kubernetes' own kube-controller-manager are in
system:masters.

What kustomize does is done here only as far as these files need it: the rbac folder's resources
(ClusterRoles and ClusterRoleBindings), the default folder's patches of them (labels merged, a
binding's roleRef replaced), its namePrefix on every name and roleRef, and its namespace on every
ServiceAccount subject.
"""

from __future__ import annotations

import copy
import dataclasses
import subprocess
from pathlib import Path

import yaml

from tools import gobuild

RBAC_KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


@dataclasses.dataclass(frozen=True)
class Identity:
    namespace: str
    service_account: str

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    @property
    def groups(self) -> list[str]:
        return ["system:serviceaccounts", f"system:serviceaccounts:{self.namespace}", "system:authenticated"]


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _merge(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in patch.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def kustomized(component: str, config: str) -> tuple[list[dict], Identity]:
    """A provider's ClusterRoles and ClusterRoleBindings as its config/default kustomization makes them,
    and the ServiceAccount they bind (its manager's)."""
    return kustomized_at(gobuild.module_file(component, config))


def kustomized_at(root: Path) -> tuple[list[dict], Identity]:
    """The same, from a config folder (a peer's source: tools/peers.py)."""
    default = yaml.safe_load((root / "default" / "kustomization.yaml").read_text())
    prefix, namespace = default.get("namePrefix", ""), default["namespace"]
    rbac = yaml.safe_load((root / "rbac" / "kustomization.yaml").read_text())
    objs = [d for r in rbac["resources"] if r.endswith(".yaml") for d in _docs(root / "rbac" / r) if d["kind"] in RBAC_KINDS[:2]]
    for p in default.get("patches") or []:
        path = p.get("path") if isinstance(p, dict) else p
        for patch in _docs(root / "default" / path) if path else []:
            for i, obj in enumerate(objs):
                if (obj["kind"], obj["metadata"]["name"]) == (patch.get("kind"), patch["metadata"]["name"]):
                    objs[i] = _merge(obj, patch)
    service_accounts = set()
    for obj in objs:
        obj["metadata"]["name"] = prefix + obj["metadata"]["name"]
        if obj["kind"] == "ClusterRoleBinding":
            obj["roleRef"]["name"] = prefix + obj["roleRef"]["name"]
            for s in obj.get("subjects") or []:
                if s["kind"] == "ServiceAccount":
                    s["name"], s["namespace"] = prefix + s["name"], namespace
                    service_accounts.add(s["name"])
    (sa,) = service_accounts
    return objs, Identity(namespace, sa)


def helm_rbac(helm: Path, component: str, chart: str, release: str, namespace: str, *sets: str) -> list[dict]:
    """The RBAC objects of a chart in a pinned module, as `helm template` renders them."""
    args = [str(helm), "template", release, str(gobuild.module_file(component, chart)), "--namespace", namespace]
    for s in sets:
        args += ["--set", s]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{p.stderr}")
    return [d for d in yaml.safe_load_all(p.stdout) if d and d.get("kind") in RBAC_KINDS]


def service_account_of(objs: list[dict]) -> Identity:
    """The one ServiceAccount the objects' cluster-wide bindings bind."""
    found = {(s["namespace"], s["name"]) for o in objs if o["kind"] == "ClusterRoleBinding"
             for s in o.get("subjects") or [] if s["kind"] == "ServiceAccount"}
    (one,) = found
    return Identity(*one)


# Crossplane's chart (cluster/charts/crossplane): the core's and the RBAC manager's ServiceAccounts in
# its release namespace. external-dns's chart (charts/external-dns) with the crd source, as the
# Input dns asks for; its release in its own namespace.
CROSSPLANE = Identity("crossplane-system", "crossplane")
RBAC_MANAGER = Identity("crossplane-system", "rbac-manager")
EXTERNAL_DNS = Identity("external-dns", "external-dns")
