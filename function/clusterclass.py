"""What a ClusterClass lets a Cluster set.

CAPI's Cluster webhook rejects a topology variable that the ClusterClass does not
define ("variable is not defined"), and it checks ``status.variables``, which the
ClusterClass controller fills from ``spec.variables`` and from external patches.
A variable counts as defined when it appears in either list: ``spec`` is what a
user just wrote, ``status`` what the webhook will check.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from function.requirements import Fetched, Selector

if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Input

REQUIREMENT = "cluster-class"


@dataclasses.dataclass(frozen=True)
class ClassState:
    """A ClusterClass as far as this function cares."""

    name: str
    namespace: str
    resolved: bool  # Crossplane answered the requirement
    found: bool
    variables: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return f"ClusterClass {self.namespace}/{self.name}"

    def defines(self, variable: str) -> bool:
        return variable in self.variables


def selector(inp: Input, name: str, namespace: str) -> Selector:
    return Selector(
        api_version=inp.cluster.cluster_class_api_version, kind="ClusterClass", name=name, namespace=namespace
    )


def variable_names(obj: dict) -> frozenset[str]:
    names: set[str] = set()
    for section in ("spec", "status"):
        part = obj.get(section)
        variables = part.get("variables") if isinstance(part, dict) else None
        if not isinstance(variables, list):
            continue
        for v in variables:
            if isinstance(v, dict) and isinstance(v.get("name"), str):
                names.add(v["name"])
    return frozenset(names)


def read(inp: Input, fetched: Fetched, name: str, namespace: str) -> ClassState:
    sel = selector(inp, name, namespace)
    if not fetched.resolved(REQUIREMENT):
        return ClassState(name=name, namespace=namespace, resolved=False, found=False)
    obj = fetched.find(REQUIREMENT, sel)
    if obj is None:
        return ClassState(name=name, namespace=namespace, resolved=True, found=False)
    return ClassState(name=name, namespace=namespace, resolved=True, found=True, variables=variable_names(obj))


def missing_variable_message(cls: ClassState, variable: str, purpose: str) -> str:
    """The exact fix for a ClusterClass that lacks a variable."""
    return (
        f"{cls.label} defines no variable {variable}, so {purpose} is not passed to the topology "
        f"(CAPI rejects undefined variables). Add to its spec.variables: "
        f"{{name: {variable}, required: false, schema: {{openAPIV3Schema: {{type: string, default: \"\"}}}}}}"
    )
