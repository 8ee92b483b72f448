"""Validate objects against the real CRDs, as the API server would, inside the simulator.

The CRDs are those of the Go modules pinned in tools/versions.toml (Cluster API, the in-cluster
IPAM provider, Crossplane), read from the Go module cache (`python -m tools.install` fills it).

Why this exists beside `crossplane resource validate` (tests/test_validate.py): the simulator
(tests/sim.py) and the lock-step harness (tests/harness.py) check every object the function emits
on every apply, thousands of times per run, in process. Running the CLI per apply would cost a
process start and a CRD load each time. Everything a user can run (the examples, the Input, both
render passes) is validated by the real CLI instead.

The CRDs' openAPIV3Schema is the Kubernetes dialect of OpenAPI v3. It is turned
into JSON Schema here, and jsonschema does the rest:

- x-kubernetes-preserve-unknown-fields: unknown fields allowed below;
- everywhere else an object with ``properties`` rejects unknown fields (the API
  server would silently prune them: for this function that is always a bug);
- x-kubernetes-int-or-string, nullable, formats int32 / int64 / date-time / byte;
- x-kubernetes-list-type set (unique items) and map (unique by list-map-keys);
- metadata: name (DNS-1123 subdomain), namespace (DNS label), label keys and values,
  annotation keys, as the API server checks them.

Not modelled: x-kubernetes-validations (CEL rules) and admission webhooks.
"""

from __future__ import annotations

import base64
import functools
import re
from datetime import datetime

import jsonschema
import yaml

from tools import gobuild

# The pinned components whose CRDs the simulator validates against.
CRD_SOURCES = ("cluster-api", "ipam-in-cluster", "crossplane", "external-dns")

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_KEY_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def _convert(s: dict) -> dict:
    """One node of a Kubernetes structural schema -> JSON Schema."""
    out: dict = {}
    for k, v in s.items():
        if k in ("description", "example", "x-kubernetes-validations", "x-kubernetes-map-type", "x-kubernetes-embedded-resource"):
            continue
        if k == "properties":
            out[k] = {name: _convert(sub) for name, sub in v.items()}
        elif k == "items":
            out[k] = _convert(v)
        elif k == "additionalProperties":
            out[k] = _convert(v) if isinstance(v, dict) else v
        elif k in ("allOf", "anyOf", "oneOf"):
            out[k] = [_convert(x) for x in v]
        elif k == "not":
            out[k] = _convert(v)
        elif k == "x-kubernetes-list-type":
            if v == "set":
                out["uniqueItems"] = True
        elif k == "x-kubernetes-list-map-keys":
            out["x-list-map-keys"] = v
        elif k in ("x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields", "nullable"):
            continue
        else:
            out[k] = v
    if s.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["type"] = ["integer", "string"]
    if "properties" in s and "additionalProperties" not in s and not s.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if s.get("nullable") and "type" in out:
        t = out["type"]
        out["type"] = [*t, "null"] if isinstance(t, list) else [t, "null"]
    return out


def _list_map_keys(validator, keys, instance, schema):
    if not isinstance(instance, list):
        return
    seen = set()
    for item in instance:
        if not isinstance(item, dict):
            continue
        key = tuple(repr(item.get(k)) for k in keys)
        if key in seen:
            yield jsonschema.ValidationError(f"duplicate entry for list-map keys {keys}: {key}")
        seen.add(key)


_formats = jsonschema.FormatChecker(formats=())


@_formats.checks("int32")
def _int32(v) -> bool:
    return not isinstance(v, int) or -(2**31) <= v < 2**31


@_formats.checks("int64")
def _int64(v) -> bool:
    return not isinstance(v, int) or -(2**63) <= v < 2**63


@_formats.checks("date-time", raises=ValueError)
def _date_time(v) -> bool:
    if isinstance(v, str):
        datetime.fromisoformat(v.replace("Z", "+00:00"))
    return True


@_formats.checks("byte", raises=ValueError)
def _byte(v) -> bool:
    if isinstance(v, str):
        base64.b64decode(v, validate=True)
    return True


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"x-list-map-keys": _list_map_keys})


@functools.cache
def _crds() -> dict[tuple[str, str, str], dict]:
    """(group, version, kind) -> JSON Schema of that version."""
    out = {}
    paths = sorted(p for name in CRD_SOURCES for d in gobuild.crd_dirs(name) for p in d.glob("*.yaml"))
    for path in paths:
        for doc in yaml.load_all(path.read_text(), Loader=_Loader):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                schema = (version.get("schema") or {}).get("openAPIV3Schema") or {"type": "object"}
                out[(spec["group"], version["name"], spec["names"]["kind"])] = {
                    "schema": _convert(schema),
                    "served": version.get("served", False),
                    "scope": spec.get("scope"),
                }
    return out


def _metadata_errors(meta: object, scope: str | None) -> list[str]:
    if not isinstance(meta, dict):
        return ["metadata: must be an object"]
    errs = []
    name = meta.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 253 or not _NAME.match(name)):
        errs.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain")
    if name is None and not meta.get("generateName"):
        errs.append("metadata.name: required")
    ns = meta.get("namespace")
    if ns is not None and (not isinstance(ns, str) or len(ns) > 63 or not _NS.match(ns)):
        errs.append(f"metadata.namespace: {ns!r} is not a DNS label")
    if scope == "Cluster" and ns:
        errs.append("metadata.namespace: set on a cluster-scoped kind")
    for field in ("labels", "annotations"):
        m = meta.get(field)
        if m is None:
            continue
        if not isinstance(m, dict):
            errs.append(f"metadata.{field}: must be a map")
            continue
        for k, v in m.items():
            prefix, _, key = k.rpartition("/")
            if not key or len(key) > 63 or not _KEY_NAME.match(key) or (prefix and (len(prefix) > 253 or not _NAME.match(prefix))):
                errs.append(f"metadata.{field}: key {k!r} is invalid")
            if not isinstance(v, str):
                errs.append(f"metadata.{field}[{k}]: value must be a string")
            elif field == "labels" and (len(v) > 63 or not _LABEL_VALUE.match(v)):
                errs.append(f"metadata.labels[{k}]: value {v!r} is invalid")
    return errs


def errors(obj: dict) -> list[str]:
    """Every schema violation of obj, as readable lines; [] when valid."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    group, _, version = api_version.rpartition("/")
    entry = _crds().get((group, version, kind))
    if entry is None:
        return [f"no CRD for {api_version} {kind} in the modules {', '.join(CRD_SOURCES)} of tools/versions.toml"]
    out = [] if entry["served"] else [f"{api_version} {kind} is not served"]
    out += _metadata_errors(obj.get("metadata"), entry["scope"])
    validator = _Validator(entry["schema"], format_checker=_formats)
    for e in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in e.absolute_path) or "(root)"
        out.append(f"{path}: {e.message}")
    return out


def assert_valid(obj: dict) -> None:
    errs = errors(obj)
    if errs:
        name = (obj.get("metadata") or {}).get("name")
        raise AssertionError(f"{obj.get('apiVersion')} {obj.get('kind')} {name} violates its CRD:\n  " + "\n  ".join(errs))
