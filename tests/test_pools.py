"""The pool-selection rule (function/pools.py), table-driven."""

import pytest

from function import input as inputs
from function import pools
from function.requirements import Fetched
from tests.harness import pool

INP = inputs.DEFAULT


def choose(*objs, cls="cc", role="control-plane", namespace="team-a"):
    """Answer every pool requirement with the pools that match its kind (as Crossplane would, loosely)."""
    reqs = pools.requirements(INP, role, cls, namespace)
    fetched = Fetched({name: [o for o in objs if o["kind"] == sel.kind] for name, sel in reqs.items()})
    return pools.choose(INP, fetched, role, cls, reqs, namespace)


def ns_pool(name, **kw):
    return pool(name, kind="InClusterIPPool", namespace=kw.pop("namespace", "team-a"), **kw)


@pytest.mark.parametrize(
    ("objs", "chosen"),
    [
        pytest.param([pool("g1", free=3)], "g1", id="a labelled global pool"),
        pytest.param([pool("g1", listed="other, cc")], "g1", id="the operator's list form"),
        pytest.param([pool("g1", listed="other,cc2")], None, id="list form without the class"),
        pytest.param([pool("g1", cls="other")], None, id="a pool for another class"),
        pytest.param([pool("g1", role="ingress")], None, id="a pool for another role"),
        pytest.param([pool("g1", free=50), ns_pool("n1", free=1)], "n1", id="namespaced before global"),
        pytest.param([ns_pool("n1", namespace="team-b", free=9)], None, id="a namespaced pool of another namespace"),
        pytest.param([pool("g1", free=2), pool("g2", free=7)], "g2", id="most free addresses"),
        pytest.param([pool("g2", free=4), pool("g1", free=4)], "g1", id="then name"),
        pytest.param([ns_pool("n1", free=0), pool("g1", free=3)], "g1", id="exhausted passed over while another has room"),
        pytest.param([pool("g1"), pool("g0", free=0)], "g1", id="no status yet is not exhausted"),
        pytest.param([pool("g1", free=0), pool("g2", free=0)], None, id="all exhausted"),
    ],
)
def test_selection_rule(objs, chosen):
    choice = choose(*objs)
    assert (choice.pool.name if choice.pool else None) == chosen


def test_all_exhausted_are_still_listed_as_candidates():
    choice = choose(pool("g1", free=0), pool("g2", free=0))
    assert [p.name for p in choice.candidates] == ["g1", "g2"]


def test_a_class_name_that_is_no_label_value_is_served_by_the_list_form_only():
    long = "c" * 70
    reqs = pools.requirements(INP, "control-plane", long, "team-a")
    assert all(name.endswith("/list") for name in reqs)
    assert choose(pool("g1", listed=long), cls=long).pool.name == "g1"


def test_unanswered_requirements_are_not_resolved():
    reqs = pools.requirements(INP, "control-plane", "cc", "team-a")
    assert not pools.choose(INP, Fetched(), "control-plane", "cc", reqs, "team-a").resolved


def test_namespaced_selectors_carry_the_cluster_namespace_and_global_ones_none():
    reqs = pools.requirements(INP, "ingress", "cc", "team-a")
    assert {s.kind: s.namespace for s in reqs.values()} == {"InClusterIPPool": "team-a", "GlobalInClusterIPPool": None}
    assert all(s.labels[inputs.DEFAULT.labels.role] == "ingress" for s in reqs.values())
