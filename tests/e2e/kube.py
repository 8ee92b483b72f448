"""Plain-dict access to the real API server, over the official kubernetes client's ApiClient.

Objects go in and come out as dicts, as the API server stores them. Paths come from the API
server's own discovery (`/api/v1`, `/apis/GROUP/VERSION`), looked up again when a kind is new
(a CRD just established). Writes are server-side applies (field manager `e2e`), as kubectl
apply --server-side does them, or JSON merge patches.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml
from kubernetes.client import ApiClient

MANAGER = "e2e"


class NotFound(LookupError):
    pass


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Kube:
    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._kinds: dict[str, dict[str, dict]] = {}  # apiVersion -> kind -> discovery entry

    # -- transport
    def request(self, method: str, path: str, body=None, *, query: dict | None = None,
                content_type: str = "application/json", timeout: float = 60):
        """One request; the decoded JSON answer. 404 raises NotFound, any other error ApiError."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        _, url, headers, body, _ = self.client.param_serialize(method, path, query_params=list((query or {}).items()),
                                                               header_params=headers, body=body)
        r = self.client.call_api(method, url, header_params=headers, body=body, _request_timeout=timeout)
        data = r.read()
        if r.status == 404:
            raise NotFound(f"{method} {path}: {data.decode(errors='replace')[:500]}")
        if r.status >= 400:
            try:
                message = json.loads(data)["message"]
            except (ValueError, KeyError, TypeError):
                message = data.decode(errors="replace")[:2000]
            raise ApiError(r.status, f"{method} {path}: {r.status} {message}")
        return json.loads(data) if data else None

    def resource(self, api_version: str, kind: str) -> dict:
        """Discovery's entry of the kind: name (plural), namespaced."""
        for attempt in range(2):
            if attempt or api_version not in self._kinds:
                path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
                try:
                    found = self.request("GET", path)["resources"]
                except NotFound:
                    found = []
                self._kinds[api_version] = {r["kind"]: r for r in found if "/" not in r["name"]}
            if kind in self._kinds[api_version]:
                return self._kinds[api_version][kind]
        raise NotFound(f"the API server serves no {kind} in {api_version}")

    def path(self, api_version: str, kind: str, name: str | None = None, namespace: str | None = None,
             subresource: str | None = None) -> str:
        r = self.resource(api_version, kind)
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if r["namespaced"] and namespace:
            base += f"/namespaces/{namespace}"
        elif r["namespaced"] and name is not None:
            raise ValueError(f"{kind} {name} is namespaced: give its namespace")
        path = f"{base}/{r['name']}"
        if name is not None:
            path += f"/{name}"
        if subresource:
            path += f"/{subresource}"
        return path

    # -- reads
    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        try:
            return self.request("GET", self.path(api_version, kind, name, namespace))
        except NotFound:
            return None

    def list(self, api_version: str, kind: str, namespace: str | None = None, labels: dict | None = None) -> list[dict]:
        query = {"labelSelector": ",".join(f"{k}={v}" for k, v in labels.items())} if labels else None
        return self.request("GET", self.path(api_version, kind, namespace=namespace), query=query)["items"]

    # -- writes
    def apply(self, obj: dict, *, force: bool = True) -> dict:
        meta = obj["metadata"]
        path = self.path(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        query = {"fieldManager": MANAGER, **({"force": "true"} if force else {})}
        return self.request("PATCH", path, json.dumps(obj), query=query, content_type="application/apply-patch+yaml")

    def patch(self, api_version: str, kind: str, name: str, patch: dict, namespace: str | None = None,
              subresource: str | None = None) -> dict:
        return self.request("PATCH", self.path(api_version, kind, name, namespace, subresource), patch,
                            content_type="application/merge-patch+json")

    def patch_status(self, api_version: str, kind: str, name: str, patch: dict, namespace: str | None = None) -> dict:
        return self.patch(api_version, kind, name, patch, namespace, "status")

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None, *,
               propagation: str | None = None, dry_run: bool = False) -> dict | None:
        """Delete (as kubectl: background propagation unless asked otherwise); None if already gone."""
        query = {"dryRun": "All"} if dry_run else {}
        body = {"propagationPolicy": propagation} if propagation else None
        try:
            return self.request("DELETE", self.path(api_version, kind, name, namespace), body, query=query)
        except NotFound:
            return None

    def apply_crds(self, files: list[Path | dict], timeout: float = 120) -> None:
        """Apply CRDs, from files or as objects (server-side: the large CAPI ones exceed client-side
        apply's annotation) and wait until each is established and served."""
        crds = [d for f in files for d in ([f] if isinstance(f, dict) else yaml.safe_load_all(f.read_text())) if d]
        for crd in crds:
            try:
                self.apply(crd)
            except ApiError as e:
                # A CRD whose schema lists one x-kubernetes-validations rule twice (the Proxmox provider's v0.7.0)
                # cannot be server-side applied ("duplicate entries for key"); created, as kubectl create does.
                if "duplicate entries for key" not in str(e):
                    raise
                self.request("POST", self.path(crd["apiVersion"], crd["kind"]), crd)
        deadline = time.monotonic() + timeout
        for crd in crds:
            name = crd["metadata"]["name"]
            while True:
                got = self.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
                # just created, its status may be missing or hold "conditions": null
                conditions = {c["type"]: c["status"] for c in ((got or {}).get("status") or {}).get("conditions") or []}
                if conditions.get("Established") == "True":
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"CRD {name} not established after {timeout:.0f} s: {conditions}")
                time.sleep(0.2)
