"""What `crossplane render` does, for the files in examples/, against the real function server.

The crossplane CLI cannot be installed here, so this does its part of the job:

- read the XR, the Composition (Pipeline mode) and the Function objects;
- for each pipeline step, call RunFunction on the function's Development runtime
  (here: the address of the server the test started), with the observed XR, the
  observed composed resources (``-o``: keyed by their
  ``crossplane.io/composition-resource-name`` annotation), the desired state so far,
  the step's Input and the context;
- satisfy the step's requirements from the ``-e`` files (apiVersion and kind, then
  ``match_name`` or every ``match_labels`` entry, and the namespace where given), up
  to 6 calls until the requirements stop changing, the context carried between calls;
- a Fatal result ends the render with an error, as the CLI does;
- print the desired XR (its status, a Ready condition ``Available`` when every
  composed resource is ready, else ``Creating``, and the function's conditions), then
  the composed resources with the metadata Crossplane adds, as a YAML stream sorted
  by resource name.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from tests.harness import fetch, to_dict, to_struct
from tests.sim import requirements_unchanged

MAX_CALLS = 6
RENDER_TIME = "2024-01-01T00:00:00Z"  # crossplane render uses a fixed transition time
_STATUS = {fnv1.STATUS_CONDITION_TRUE: "True", fnv1.STATUS_CONDITION_FALSE: "False", fnv1.STATUS_CONDITION_UNKNOWN: "Unknown"}


class RenderError(Exception):
    pass


def load(path: str | Path) -> list[dict]:
    """Every YAML document in a file, or in every .yaml file of a directory."""
    p = Path(path)
    files = sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    return [doc for f in files for doc in yaml.safe_load_all(f.read_text()) if doc]


def render(xr_path, composition_path, functions_path, *, observed=None, extra=None, target) -> str:
    (xr,) = load(xr_path)
    (composition,) = load(composition_path)
    functions = {f["metadata"]["name"]: f for f in load(functions_path)}
    observed_resources = {}
    for obj in load(observed) if observed else []:
        name = (obj.get("metadata", {}).get("annotations") or {}).get("crossplane.io/composition-resource-name")
        if not name:
            raise RenderError(f"observed {obj.get('kind')} {obj['metadata'].get('name')} has no crossplane.io/composition-resource-name annotation")
        observed_resources[name] = obj
    store = load(extra) if extra else []
    if composition["spec"].get("mode") != "Pipeline":
        raise RenderError("only Pipeline mode Compositions are rendered")

    desired = fnv1.State()
    context = None
    conditions: list[fnv1.Condition] = []
    for step in composition["spec"]["pipeline"]:
        fn = functions.get(step["functionRef"]["name"])
        if fn is None:
            raise RenderError(f"pipeline step {step['step']} references unknown Function {step['functionRef']['name']}")
        if (fn["metadata"].get("annotations") or {}).get("render.crossplane.io/runtime") != "Development":
            raise RenderError(f"Function {fn['metadata']['name']} is not annotated render.crossplane.io/runtime: Development")
        rsp = _run_step(target, step, xr, observed_resources, desired, context, store)
        desired = rsp.desired
        context = rsp.context if rsp.HasField("context") else None
        conditions.extend(rsp.conditions)
    return _output(xr, desired, conditions)


def _run_step(target, step, xr, observed_resources, desired, context, store) -> fnv1.RunFunctionResponse:
    fetched: dict[str, list[dict]] = {}
    previous = None
    for _ in range(MAX_CALLS):
        req = fnv1.RunFunctionRequest(meta=fnv1.RequestMeta(tag=step["step"]))
        req.meta.capabilities.extend(
            [fnv1.CAPABILITY_CAPABILITIES, fnv1.CAPABILITY_REQUIRED_RESOURCES, fnv1.CAPABILITY_CONDITIONS]
        )
        req.observed.composite.resource.CopyFrom(to_struct(xr))
        for name, obj in observed_resources.items():
            req.observed.resources[name].resource.CopyFrom(to_struct(obj))
        req.desired.CopyFrom(desired)
        if "input" in step:
            req.input.CopyFrom(to_struct(step["input"]))
        if context is not None:
            req.context.CopyFrom(context)
        for name, items in fetched.items():
            req.required_resources[name].SetInParent()
            for obj in items:
                req.required_resources[name].items.add().resource.CopyFrom(to_struct(obj))
        rsp = target(req)
        for r in rsp.results:
            if r.severity == fnv1.SEVERITY_FATAL:
                raise RenderError(f"pipeline step {step['step']} returned a fatal result: {r.message}")
        context = rsp.context if rsp.HasField("context") else None
        same, previous = requirements_unchanged(previous, rsp)
        if same:
            return rsp
        selectors = {**dict(previous.extra_resources), **dict(previous.resources)}
        fetched = {name: fetch(store, sel, modern=True) for name, sel in selectors.items()}
    raise RenderError(f"pipeline step {step['step']}: requirements didn't stabilize after {MAX_CALLS} calls")


def _output(xr: dict, desired: fnv1.State, conditions: list[fnv1.Condition]) -> str:
    composed = {name: r for name, r in desired.resources.items()}
    all_ready = all(r.ready == fnv1.READY_TRUE for r in composed.values())
    status = copy.deepcopy(to_dict(desired.composite.resource).get("status", {}))
    status["conditions"] = [
        {"lastTransitionTime": RENDER_TIME, "reason": "Available" if all_ready else "Creating",
         "status": "True" if all_ready else "False", "type": "Ready"},
        *({"lastTransitionTime": RENDER_TIME, "message": c.message, "reason": c.reason, "status": _STATUS[c.status],
           "type": c.type} for c in conditions),
    ]
    meta = {k: v for k, v in xr["metadata"].items() if k in ("name", "namespace")}
    docs = [{"apiVersion": xr["apiVersion"], "kind": xr["kind"], "metadata": meta, "status": status}]
    for name in sorted(composed):
        obj = to_dict(composed[name].resource)
        m = obj.setdefault("metadata", {})
        m.setdefault("annotations", {})["crossplane.io/composition-resource-name"] = name
        m.setdefault("labels", {})["crossplane.io/composite"] = xr["metadata"]["name"]
        m["ownerReferences"] = [{"apiVersion": xr["apiVersion"], "blockOwnerDeletion": True, "controller": True,
                                 "kind": xr["kind"], "name": xr["metadata"]["name"], "uid": ""}]
        docs.append(_ints(obj))
    return yaml.safe_dump_all(docs, sort_keys=True, explicit_start=True, default_flow_style=False)


def _ints(v):
    """protobuf Structs carry numbers as floats; print whole numbers as YAML ints, as the CLI does."""
    if isinstance(v, dict):
        return {k: _ints(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_ints(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def parse_command(line: str) -> dict:
    """The arguments of a `crossplane render ...` command line, as render() takes them."""
    words = line.split()
    assert words[:2] == ["crossplane", "render"], line
    positional, opts = [], {}
    it = iter(words[2:])
    for w in it:
        if w in ("-o", "--observed-resources"):
            opts["observed"] = next(it)
        elif w in ("-e", "--extra-resources", "--required-resources"):
            opts["extra"] = next(it)
        elif w.startswith("--observed-resources="):
            opts["observed"] = w.split("=", 1)[1]
        elif w.startswith(("--extra-resources=", "--required-resources=")):
            opts["extra"] = w.split("=", 1)[1]
        elif w.startswith("-"):
            raise AssertionError(f"unsupported render flag {w}")
        else:
            positional.append(w)
    return {"paths": positional, **opts}


def sync_readme(readme: Path, golden: Path) -> None:
    """Put each golden render output into the README, in the yaml block after its command."""
    text = readme.read_text()
    parts = text.split("```sh\ncrossplane render examples/")
    for n in range(1, len(parts)):
        head, sep, rest = parts[n].partition("```yaml\n")
        _, end, tail = rest.partition("```\n")
        parts[n] = head + sep + (golden / f"render-{n}.yaml").read_text() + end + tail
    readme.write_text("```sh\ncrossplane render examples/".join(parts))


if __name__ == "__main__":
    # After UPDATE_GOLDEN=1 pytest tests/test_render.py: python -m tests.render
    root = Path(__file__).resolve().parents[1]
    sync_readme(root / "README.md", root / "tests" / "golden")
