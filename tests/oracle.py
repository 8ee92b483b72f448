"""Today's decision, frozen: ``function/decide.py`` as of ORACLE_COMMIT, read from git, to answer beside the
decision that serves.

The decision is being rebuilt as one lifecycle for every address (issue 26). Until that is done, every
request must get the same answer from both, bug for bug: the differential tests
(tests/test_oracle_differential.py) and the simulator (``bench/differential.py --oracle``) compare them on
every call. A deliberate change of behaviour moves ORACLE_COMMIT to the commit that makes it, with a
test of its own, so that the oracle always stands for the behaviour users have.

The oracle is read from the repository's history, not copied into it: a clone without that commit
(a shallow one) cannot run these comparisons, and says so. It shares everything but decide.py with the
serving code (claims.py, messages.py, ...): those are the edges both decisions stand on, tested on their own.
"""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from google.protobuf import json_format

from function import fn

ORACLE_COMMIT = "04491ff"
ROOT = Path(__file__).resolve().parents[1]
_MODULE = "function._oracle_decide"


class OracleMissing(RuntimeError):
    pass


def source() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "show", f"{ORACLE_COMMIT}:function/decide.py"],
                             capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise OracleMissing("git is not installed, so the frozen decision cannot be read") from e
    if out.returncode != 0:
        raise OracleMissing(f"commit {ORACLE_COMMIT} is not in this clone ({out.stderr.strip()}); "
                            "fetch the full history (git fetch --unshallow) to compare against the frozen decision")
    return out.stdout


def load() -> types.ModuleType:
    """The frozen decide.py as a module of its own (loaded once)."""
    if _MODULE in sys.modules:
        return sys.modules[_MODULE]
    module = types.ModuleType(_MODULE)
    module.__file__ = f"<function/decide.py at {ORACLE_COMMIT}>"
    sys.modules[_MODULE] = module  # dataclasses look their module up while the class is made
    try:
        exec(compile(source(), module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own file, from our own history
    except BaseException:
        del sys.modules[_MODULE]
        raise
    return module


def answer(req: fnv1.RunFunctionRequest, now: float) -> fnv1.RunFunctionResponse:
    """The frozen decision's answer: fn.run with the oracle in place of function/decide.py."""
    oracle, serving = load(), fn.core
    fn.core = oracle
    try:
        return fn.run(req, now=now)
    finally:
        fn.core = serving


def difference(serving: fnv1.RunFunctionResponse, frozen: fnv1.RunFunctionResponse) -> str | None:
    """Where two answers differ, or None: compared whole (desired state, requirements, conditions, results,
    TTL); told as the lines of the serving answer that differ from the frozen one's."""
    if serving.SerializeToString(deterministic=True) == frozen.SerializeToString(deterministic=True):
        return None
    a, b = (json.dumps(json_format.MessageToDict(r), indent=1, sort_keys=True).splitlines() for r in (serving, frozen))
    lines = [line for line in difflib.unified_diff(b, a, "frozen", "serving", n=2, lineterm="")][2:]
    return "\n".join(lines[:60]) + ("\n..." if len(lines) > 60 else "")


class Compared:
    """A transport that answers with the serving decision and records where the frozen one would answer
    otherwise: ``calls`` answered by both, ``differences`` found."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.calls = 0
        self.differences: list[str] = []

    def __call__(self, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        t = self.now()
        frozen = answer(req, t)
        rsp = fn.run(req, now=t)
        self.calls += 1
        found = difference(rsp, frozen)
        if found:
            name = req.observed.composite.resource["metadata"]["name"]
            self.differences.append(f"{name}: the serving answer differs from the frozen one's\n{found}")
        return rsp
