"""Every watch event Crossplane's XR controller can receive, recorded as an informer sees them, and
attributed to the XRs whose circuit breaker counts them.

Crossplane v2.4's XR controller watches the XR kind itself, every kind an XR composes and every
kind a function requires (realtime compositions), and maps each event to XRs: the XR itself; the
XRs that compose the object; the XRs whose requirements name it, or select it by labels
(internal/controller/apiextensions/composite/dependency/tracker.go). Each mapped event takes one
token from that XR's bucket (internal/circuit: burst 100, 1 per second), deletions excepted.

``WatchLog`` watches the kinds given on the real API server (one thread per kind, from the
resourceVersion of a first list, so only what happens afterwards is recorded) and keeps, per event,
which fields changed and which field manager changed them. ``attribute`` maps events to one XR as
Crossplane's tracker does: the XR, what it composed (the label ``crossplane.io/composite``), and what
its last function call before the event required (the function logs its requirements at debug
level, which the e2e stack runs it with).
"""

from __future__ import annotations

import ast
import bisect
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

COMPOSITE_LABEL = "crossplane.io/composite"

# metadata that changes with every write, whatever was written
_NOISE = {"resourceVersion", "managedFields", "generation"}


@dataclass(frozen=True)
class Event:
    at: float  # time.time(), to compare with the components' logs
    kind: str
    namespace: str
    name: str
    type: str  # ADDED, MODIFIED, DELETED
    deleting: bool  # the object has a deletionTimestamp: Crossplane's breaker lets it through
    changed: tuple[str, ...]  # top paths that changed since the last event of this object
    managers: tuple[str, ...]  # the field managers whose entries changed (who wrote)
    labels: tuple[tuple[str, str], ...]
    obj: dict | None = None  # the object as received, for the kinds kept (WatchLog keep=)
    was_deleting: bool = False  # the object before this event had a deletionTimestamp

    @property
    def tokens(self) -> int:
        """What the event costs the bucket of an XR it maps to. Crossplane maps an update twice, the old
        object and the new (controller-runtime's EnqueueRequestsFromMapFunc), and its breaker's MapFunc
        records each; an object being deleted passes free."""
        return (not self.deleting) + (self.type == "MODIFIED" and not self.was_deleting)


def _diff(old, new, path: str = "", depth: int = 3) -> list[str]:
    if old == new:
        return []
    if depth == 0 or not isinstance(old, dict) or not isinstance(new, dict):
        return [path or "."]
    out = []
    for k in sorted(set(old) | set(new)):
        if not path and k == "metadata":
            pass
        out += _diff(old.get(k), new.get(k), f"{path}.{k}" if path else k, depth - 1)
    return out


def _clean(obj: dict) -> dict:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _NOISE}
    return {**obj, "metadata": meta}


def _managers(old: dict | None, new: dict) -> tuple[str, ...]:
    def entries(o):
        return {(m.get("manager"), m.get("operation"), m.get("subresource", "")): (m.get("time"), m.get("fieldsV1"))
                for m in ((o or {}).get("metadata") or {}).get("managedFields") or []}

    before, after = entries(old), entries(new)
    return tuple(sorted(f"{k[0]}:{k[1]}" + (f"/{k[2]}" if k[2] else "") for k, v in after.items() if before.get(k) != v))


class WatchLog:
    def __init__(self, client, kinds: list[tuple[str, str]], keep: frozenset[str] = frozenset(),
                 file: Path | None = None) -> None:
        from tests.e2e.kube import Kube

        self.kube = Kube(client)
        self.client = client
        self.keep = keep
        self._file = file.open("a") if file else None  # every event as a JSON line, for a look afterwards
        self.events: list[Event] = []
        self._last: dict[tuple[str, str, str], dict] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready: list[threading.Event] = []
        self._threads = []
        for api_version, kind in kinds:
            ready = threading.Event()
            self._ready.append(ready)
            t = threading.Thread(target=self._run, args=(api_version, kind, ready), name=f"watch-{kind}", daemon=True)
            self._threads.append(t)
            t.start()
        for ready in self._ready:
            ready.wait(60)

    def _run(self, api_version: str, kind: str, ready: threading.Event) -> None:
        from kubernetes import client, watch

        group, version = api_version.split("/")
        plural = self.kube.resource(api_version, kind)["name"]
        api = client.CustomObjectsApi(self.client)
        rv = None
        while not self._stop.is_set():
            try:
                if rv is None:
                    listed = api.list_cluster_custom_object(group, version, plural)
                    rv = listed["metadata"]["resourceVersion"]
                    with self._lock:
                        for obj in listed["items"]:
                            m = obj["metadata"]
                            self._last[(kind, m.get("namespace", ""), m["name"])] = obj
                    ready.set()
                w = watch.Watch()
                for e in w.stream(api.list_cluster_custom_object, group, version, plural, resource_version=rv,
                                  timeout_seconds=30, allow_watch_bookmarks=False):
                    obj = e["object"]
                    meta = obj.get("metadata") or {}
                    rv = meta.get("resourceVersion", rv)
                    self._record(kind, e["type"], obj)
                    if self._stop.is_set():
                        break
            except Exception:  # noqa: BLE001 - expired or restarting: list again
                rv = None
                time.sleep(0.5)

    def _record(self, kind: str, typ: str, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        key = (kind, meta.get("namespace", ""), meta.get("name", ""))
        with self._lock:
            old = self._last.get(key)
            changed = tuple(_diff(_clean(old), _clean(obj))) if old is not None and typ == "MODIFIED" else ()
            managers = _managers(old, obj)
            if typ == "DELETED":
                self._last.pop(key, None)
            else:
                self._last[key] = obj
            e = Event(time.time(), kind, key[1], key[2], typ, bool(meta.get("deletionTimestamp")), changed, managers,
                      tuple(sorted((meta.get("labels") or {}).items())), obj if kind in self.keep else None,
                      bool(((old or {}).get("metadata") or {}).get("deletionTimestamp")))
            self.events.append(e)
            if self._file:
                conditions = {c.get("type"): [c.get("status"), c.get("reason"), c.get("message", "")]
                              for c in (obj.get("status") or {}).get("conditions") or [] if isinstance(c, dict)}
                self._file.write(json.dumps({"at": e.at, "kind": kind, "namespace": key[1], "name": key[2], "type": typ,
                                             "deleting": e.deleting, "changed": changed, "managers": managers,
                                             "conditions": conditions if kind in self.keep else None}) + "\n")
                self._file.flush()

    def latest(self, kind: str, namespace: str, name: str) -> dict | None:
        """The object as the last event showed it; None once deleted (or never seen)."""
        with self._lock:
            return self._last.get((kind, namespace, name))

    def of_kind(self, kind: str, namespace: str) -> dict[str, dict]:
        with self._lock:
            return {k[2]: o for k, o in self._last.items() if k[0] == kind and k[1] == namespace}

    def since(self, t: float) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.at >= t]

    def stop(self) -> None:
        self._stop.set()
        if self._file:
            with self._lock:
                self._file.close()
                self._file = None


def function_calls(log: Path) -> dict[str, list[tuple[float, tuple[str, ...]]]]:
    """Each call of the function, by XR (namespace/name): when, and what it required, from the lines
    it logs at debug level ("decided ... required=[kind|namespace|name|labels, ...] ... xr=...")."""
    out: dict[str, list[tuple[float, tuple[str, ...]]]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if "decided" not in line:
            continue
        line = _ANSI.sub("", line)
        xr, required = _XR.search(line), _REQUIRED.search(line)
        if not xr or not required:
            continue
        try:
            at = datetime.fromisoformat(line.split(" ", 1)[0]).timestamp()
        except ValueError:
            continue
        out.setdefault(xr.group(1), []).append((at, tuple(ast.literal_eval(required.group(1)))))
    return out


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_XR = re.compile(r" xr=(\S+)")
_REQUIRED = re.compile(r"required=(\[[^\]]*\])")


def _selects(selector: str, e: Event) -> bool:
    kind, namespace, name, labels = selector.split("|", 3)
    if kind != e.kind or (namespace and namespace != e.namespace) or (name and name != e.name):
        return False
    have = dict(e.labels)
    return all(have.get(k) == v for k, v in (p.split("=", 1) for p in labels.split(",") if p))


def attribute(events: list[Event], xr_kind: str, namespace: str, name: str,
              calls: list[tuple[float, tuple[str, ...]]]) -> list[tuple[str, Event]]:
    """The events that reach XR namespace/name through Crossplane's mapping, each with its source:
    self, composed (the label crossplane.io/composite), or required (by what the XR's last call
    before the event required, as Crossplane's tracker records it)."""
    out = []
    calls = sorted(calls)
    times = [t for t, _ in calls]
    for e in events:
        if not e.tokens:
            continue  # an object being deleted: Crossplane passes its events without taking a token
        if e.kind == xr_kind:
            if (e.namespace, e.name) == (namespace, name):
                out.append(("self", e))
            continue
        if dict(e.labels).get(COMPOSITE_LABEL) == name and e.namespace == namespace:
            out.append(("composed", e))
            continue
        i = bisect.bisect_left(times, e.at) - 1
        if i >= 0 and any(_selects(sel, e) for sel in calls[i][1]):
            out.append(("required", e))
    return out


def summary(attributed: list[tuple[str, Event]]) -> dict[str, int]:
    """Counts by source and kind, and by what was written: 'composed IPAddressClaim status (ipam-provider)'."""
    out: dict[str, int] = {}
    for source, e in attributed:
        what = ",".join(sorted({p.split(".")[0] if not p.startswith("metadata") else p for p in e.changed})) or e.type
        who = ",".join(m.split(":")[0] for m in e.managers)
        key = f"{source} {e.kind} {what}" + (f" ({who})" if who else "")
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


# --- what the e2e tests check and report ---------------------------------------------------

BREAKER_LOG = "Circuit breaker is open"


def breaker_opened(w) -> list[str]:
    """Every XR of a test's namespaces whose watch circuit breaker is open (its Responsive condition
    False), or was while the test ran (Crossplane logs each reconcile it makes with the breaker open)."""
    from tests.e2e.world import XR_KIND, conditions_of

    out = []
    for ns in sorted(w.namespaces):
        for xr in w.with_ns(ns).list(XR_KIND):
            c = conditions_of(xr).get("Responsive") or {}
            if c.get("status") == "False":
                out.append(f"XR {ns}/{xr['metadata']['name']}: Crossplane's watch circuit breaker is open: "
                           f"{c.get('reason')}: {c.get('message')}")
    logged: dict[str, str] = {}
    for line in w.stack.procs["crossplane"].log.read_text(errors="replace").splitlines():
        if BREAKER_LOG not in line:
            continue
        for ns in w.namespaces:
            if f'"namespace":"{ns}"' in line:
                name = line.split('"request": {"name":"', 1)[-1].split('"', 1)[0]
                logged.setdefault(f"{ns}/{name}", line.split("triggered-by", 1)[-1][:120])
    out += [f"XR {xr}: Crossplane logged its watch circuit breaker open (triggered-by{by})" for xr, by in sorted(logged.items())
            if not any(o.startswith(f"XR {xr}:") for o in out)]
    flags = [a for a in w.stack.crossplane_args if a.startswith("--circuit-breaker")]
    return [f"{o}; Crossplane runs with {' '.join(flags) if flags else 'its default breaker (burst 100)'}" for o in out]


def events_per_xr(w, since: float) -> dict[str, tuple[int, dict[str, int]]]:
    """What the watch events that reached each XR of a test since ``since`` cost its circuit breaker
    (Event.tokens): in all, and by source."""
    from tests.e2e.world import XR_KIND

    events = w.stack.watch_log.since(since)
    calls = function_calls(w.stack.procs["function"].log)
    xrs = sorted({(e.namespace, e.name) for e in events if e.kind == XR_KIND and e.namespace in w.namespaces})
    out = {}
    for ns, name in xrs:
        attributed = attribute(events, XR_KIND, ns, name, calls.get(f"{ns}/{name}", []))
        by: dict[str, int] = {}
        for source, e in attributed:
            by[f"{source} {e.kind}"] = by.get(f"{source} {e.kind}", 0) + e.tokens
        out[f"{ns}/{name}"] = (sum(by.values()), dict(sorted(by.items(), key=lambda kv: -kv[1])))
    return out
