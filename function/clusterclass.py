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
from function.structs import describe

if TYPE_CHECKING:  # the model is loaded only when a step carries an Input (see input.py)
    from function.input_model import Input

REQUIREMENT = "cluster-class"


@dataclasses.dataclass(frozen=True)
class ClassState:
    """A ClusterClass as far as this function cares."""

    name: str
    namespace: str
    resolved: bool  # Crossplane answered the requirement
    found: bool  # found and readable
    variables: frozenset[str] = frozenset()
    problem: str | None = None  # found, but its variables cannot be read: why, naming the field

    @property
    def label(self) -> str:
        return f"ClusterClass {self.namespace}/{self.name}"

    def defines(self, variable: str) -> bool:
        return variable in self.variables


def selector(inp: Input, name: str, namespace: str) -> Selector:
    return Selector(
        api_version=inp.cluster.cluster_class_api_version, kind="ClusterClass", name=name, namespace=namespace
    )


def variable_names(obj: dict) -> tuple[frozenset[str], str | None]:
    """The variables a class defines, from spec.variables and status.variables; or why they cannot be read.

    A class read in part is not read at all: a variable missing from a list that could not
    be read would look undefined, and the Cluster would lose it.
    """
    names: set[str] = set()
    for section in ("spec", "status"):
        part = obj.get(section)
        if part is None:
            continue
        if not isinstance(part, dict):
            return frozenset(), f"its {section} is {describe(part)}, not an object"
        variables = part.get("variables")
        if variables is None:
            continue
        if not isinstance(variables, list):
            return frozenset(), f"its {section}.variables is {describe(variables)}, not a list"
        for i, v in enumerate(variables):
            if not isinstance(v, dict) or not isinstance(v.get("name"), str) or not v["name"]:
                return frozenset(), f"its {section}.variables[{i}] has no name"
            names.add(v["name"])
    return frozenset(names), None


def read(inp: Input, fetched: Fetched, name: str, namespace: str) -> ClassState:
    sel = selector(inp, name, namespace)
    if not fetched.resolved(REQUIREMENT):
        return ClassState(name=name, namespace=namespace, resolved=False, found=False)
    obj = fetched.find(REQUIREMENT, sel)
    if obj is None:
        return ClassState(name=name, namespace=namespace, resolved=True, found=False)
    variables, problem = variable_names(obj)
    if problem is not None:
        label = f"ClusterClass {namespace}/{name}"
        problem = (
            f"{label} cannot be read: {problem}. Until it can, a Cluster not yet composed is held back and a "
            "live one keeps the VIP variables it has; fix the ClusterClass"
        )
        return ClassState(name=name, namespace=namespace, resolved=True, found=False, problem=problem)
    return ClassState(name=name, namespace=namespace, resolved=True, found=True, variables=variables)


STRING_SCHEMA = '{type: string, default: ""}'
ARRAY_SCHEMA = "{type: array, items: {type: string}, default: []}"


def missing_variable_message(cls: ClassState, variable: str, purpose: str, schema: str = STRING_SCHEMA) -> str:
    """The exact fix for a ClusterClass that lacks a variable."""
    return (
        f"{cls.label} defines no variable {variable}, so {purpose} is not passed to the topology "
        f"(CAPI rejects undefined variables). Add to its spec.variables: "
        f"{{name: {variable}, required: false, schema: {{openAPIV3Schema: {schema}}}}}"
    )
