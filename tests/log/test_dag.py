"""CausalDAG: brute-force oracles over random DAGs, rejection twins, long chains."""

from __future__ import annotations

import hashlib
import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentcrdt.errors import UsageError
from agentcrdt.log.dag import CausalDAG, Node


def nid(i: int) -> str:
    # Hash so that id order is unrelated to creation order (the (lamport, id) tiebreak gets exercised).
    return "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 25, locals_allowed: bool = True) -> list[Node]:
    """Nodes in creation order; deps are random earlier nodes, shared nodes never depend on local ones."""
    n = draw(st.integers(0, max_nodes))
    nodes: list[Node] = []
    for i in range(n):
        local = locals_allowed and draw(st.booleans()) and draw(st.booleans())
        pool = [x for x in nodes if local or not x.local]
        deps = draw(st.lists(st.sampled_from(pool), max_size=3, unique_by=lambda x: x.id)) if pool else []
        lamport = 1 + max((d.lamport for d in deps), default=0)
        author = draw(st.sampled_from(["ed25519:a", "ed25519:b", "ed25519:c"]))
        nodes.append(Node(nid(i), tuple(sorted(d.id for d in deps)), lamport, author, i + 1, local))
    return nodes


def causal_shuffle(nodes: list[Node], rnd: random.Random) -> list[Node]:
    """A random insertion order that respects deps."""
    remaining = list(nodes)
    done: set[str] = set()
    out: list[Node] = []
    while remaining:
        ready = [x for x in remaining if all(d in done for d in x.deps)]
        pick = rnd.choice(ready)
        remaining.remove(pick)
        done.add(pick.id)
        out.append(pick)
    return out


def build(nodes: list[Node]) -> CausalDAG:
    dag = CausalDAG()
    for x in nodes:
        assert dag.add(x) is True
    return dag


def brute_ancestors(nodes: list[Node], ids: set[str]) -> set[str]:
    by_id = {x.id: x for x in nodes}
    out = set(ids)
    changed = True
    while changed:
        changed = False
        for i in list(out):
            for d in by_id[i].deps:
                if d not in out:
                    out.add(d)
                    changed = True
    return out


def brute_heads(nodes: list[Node], include_local: bool) -> set[str]:
    live = [x for x in nodes if include_local or not x.local]
    parents = {d for x in live for d in x.deps}
    return {x.id for x in live if x.id not in parents}


def maximal(nodes: list[Node], ids: set[str]) -> set[str]:
    return {i for i in ids if not any(i in brute_ancestors(nodes, {j}) for j in ids if j != i)}


# -- properties ------------------------------------------------------------------------------------


@given(dags(), st.randoms(use_true_random=False))
def test_topo_order_is_linear_extension_independent_of_insertion(
    nodes: list[Node], rnd: random.Random
) -> None:
    a, b = build(nodes), build(causal_shuffle(nodes, rnd))
    order = a.topo_order()
    assert order == b.topo_order()
    assert sorted(order) == sorted(x.id for x in nodes)
    position = {i: k for k, i in enumerate(order)}
    for x in nodes:
        assert all(position[d] < position[x.id] for d in x.deps)
    assert a.heads() == b.heads() and a.heads(include_local=True) == b.heads(include_local=True)


@given(dags())
def test_heads_are_nodes_without_children(nodes: list[Node]) -> None:
    dag = build(nodes)
    assert dag.heads() == brute_heads(nodes, include_local=False)
    assert dag.heads(include_local=True) == brute_heads(nodes, include_local=True)
    assert len(dag) == len(nodes)


@given(dags(), st.data())
def test_ancestors_match_brute_force(nodes: list[Node], data: st.DataObject) -> None:
    dag = build(nodes)
    ids = {x.id for x in nodes}
    start = data.draw(st.sets(st.sampled_from(sorted(ids)), max_size=4)) if ids else set()
    expected = brute_ancestors(nodes, start)
    assert dag.ancestors(start) == expected
    by_id = {x.id: x for x in nodes}
    strict = brute_ancestors(nodes, {d for i in start for d in by_id[i].deps})
    assert dag.ancestors(start, include_self=False) == strict
    assert dag.ancestors_of_heads(start) == dag.topo_order(expected)


@given(dags(), st.data())
def test_is_ancestor_and_concurrent(nodes: list[Node], data: st.DataObject) -> None:
    if not nodes:
        return
    dag = build(nodes)
    for _ in range(10):
        a = data.draw(st.sampled_from(nodes)).id
        b = data.draw(st.sampled_from(nodes)).id
        assert dag.is_ancestor(a, b) == (a in brute_ancestors(nodes, {b}))
        assert dag.concurrent(a, b) == dag.concurrent(b, a)
        assert dag.concurrent(a, b) == (not dag.is_ancestor(a, b) and not dag.is_ancestor(b, a))
    assert not dag.concurrent(nodes[0].id, nodes[0].id)


@given(dags(), st.data())
def test_missing_is_set_difference_and_brings_copy_to_union(nodes: list[Node], data: st.DataObject) -> None:
    dag = build(nodes)
    ids = sorted(x.id for x in nodes)
    pick = st.sets(st.sampled_from(ids), max_size=3) if ids else st.just(set[str]())
    ours, theirs = data.draw(pick), data.draw(pick)
    include_local = data.draw(st.booleans())
    past_ours, past_theirs = brute_ancestors(nodes, ours), brute_ancestors(nodes, theirs)
    by_id = {x.id: x for x in nodes}
    expected = {i for i in past_theirs - past_ours if include_local or not by_id[i].local}
    got = dag.missing(ours, theirs, include_local=include_local)
    assert set(got) == expected and len(got) == len(expected)
    assert got == dag.topo_order(expected)
    # A replica at `ours` that applies the answer, in the given order, ends at the union's heads.
    copy = build([by_id[i] for i in dag.topo_order(past_ours)])
    for i in got:
        copy.add(by_id[i])
    union = past_ours | {i for i in past_theirs if include_local or not by_id[i].local}
    assert copy.heads(include_local=True) == maximal(nodes, union)


@given(dags(locals_allowed=False))
def test_missing_ignores_unknown_ids(nodes: list[Node]) -> None:
    dag = build(nodes)
    heads = dag.heads()
    assert dag.missing(["sha256:unknown"], heads) == dag.topo_order()
    assert dag.missing(heads, ["sha256:unknown"]) == []


@given(dags())
def test_readding_identical_nodes_is_idempotent(nodes: list[Node]) -> None:
    dag = build(nodes)
    heads = dag.heads(include_local=True)
    for x in nodes:
        assert dag.add(x) is False
    assert len(dag) == len(nodes) and dag.heads(include_local=True) == heads


# -- rejections, each with a passing twin ----------------------------------------------------------

ROOT = Node(nid(0), (), 1, "ed25519:a", 1)


def test_unknown_dep_rejected_and_known_dep_accepted() -> None:
    dag = build([ROOT])
    with pytest.raises(UsageError, match="unknown"):
        dag.add(Node(nid(1), (nid(99),), 2, "ed25519:a", 2))
    assert dag.add(Node(nid(1), (ROOT.id,), 2, "ed25519:a", 2))


@pytest.mark.parametrize("lamport", [0, 1, 3, 7])
def test_wrong_lamport_rejected(lamport: int) -> None:
    dag = build([ROOT])
    with pytest.raises(UsageError, match="lamport"):
        dag.add(Node(nid(1), (ROOT.id,), lamport, "ed25519:a", 2))
    assert nid(1) not in dag and dag.heads() == {ROOT.id}
    assert dag.add(Node(nid(1), (ROOT.id,), 2, "ed25519:a", 2))


def test_root_lamport_must_be_one() -> None:
    dag = CausalDAG()
    with pytest.raises(UsageError):
        dag.add(Node(nid(0), (), 0, "ed25519:a", 1))
    assert dag.add(ROOT)


def test_lamport_uses_max_of_deps() -> None:
    dag = build([ROOT, Node(nid(1), (ROOT.id,), 2, "ed25519:a", 2), Node(nid(2), (), 1, "ed25519:b", 1)])
    with pytest.raises(UsageError):
        dag.add(Node(nid(3), tuple(sorted((nid(1), nid(2)))), 2, "ed25519:c", 1))
    assert dag.add(Node(nid(3), tuple(sorted((nid(1), nid(2)))), 3, "ed25519:c", 1))
    assert dag.heads() == {nid(3)}


def test_shared_node_on_local_dep_rejected_local_twin_accepted() -> None:
    local = Node(nid(1), (ROOT.id,), 2, "ed25519:a", 2, local=True)
    dag = build([ROOT, local])
    with pytest.raises(UsageError, match="local"):
        dag.add(Node(nid(2), (local.id,), 3, "ed25519:a", 3))
    assert dag.add(Node(nid(2), (local.id,), 3, "ed25519:a", 3, local=True))
    assert dag.heads() == {ROOT.id} and dag.heads(include_local=True) == {nid(2)}


def test_conflicting_node_with_same_id_rejected_identical_accepted() -> None:
    dag = build([ROOT])
    with pytest.raises(UsageError, match="different node"):
        dag.add(ROOT._replace(author="ed25519:b"))
    assert dag.add(ROOT) is False


def test_duplicate_deps_rejected() -> None:
    dag = build([ROOT])
    with pytest.raises(UsageError, match="twice"):
        dag.add(Node(nid(1), (ROOT.id, ROOT.id), 2, "ed25519:a", 2))
    assert dag.add(Node(nid(1), (ROOT.id,), 2, "ed25519:a", 2))


def test_queries_on_unknown_ids_raise_usage_error() -> None:
    dag = build([ROOT])
    for call in (
        lambda: dag.lamport("sha256:nope"),
        lambda: dag.ancestors(["sha256:nope"]),
        lambda: dag.is_ancestor(ROOT.id, "sha256:nope"),
        lambda: dag.topo_order(["sha256:nope"]),
    ):
        with pytest.raises(UsageError):
            call()
    assert dag.get("sha256:nope") is None and dag.lamport(ROOT.id) == 1 and ROOT.id in dag


# -- scale -----------------------------------------------------------------------------------------


def chain(n: int) -> list[Node]:
    nodes = [Node(f"sha256:{0:064x}", (), 1, "ed25519:a", 1)]
    for i in range(1, n):
        nodes.append(Node(f"sha256:{i:064x}", (nodes[-1].id,), i + 1, "ed25519:a", i + 1))
    return nodes


def test_100k_chain_has_no_recursion_limit_and_is_fast() -> None:
    t0 = time.perf_counter()
    nodes = chain(100_000)
    dag = build(nodes)
    first, mid, tip = nodes[0].id, nodes[50_000].id, nodes[-1].id
    assert dag.heads() == {tip}
    assert len(dag.ancestors([tip])) == 100_000
    assert len(dag.ancestors([tip], include_self=False)) == 99_999
    assert dag.missing([], [tip]) == [x.id for x in nodes]
    assert dag.missing([mid], [tip]) == [x.id for x in nodes[50_001:]]
    assert dag.missing([tip], [mid]) == []
    assert dag.missing([tip], [tip]) == []
    assert dag.is_ancestor(first, tip) and not dag.is_ancestor(tip, first)
    assert not dag.concurrent(first, tip)
    assert dag.ancestors_of_heads([tip])[:2] == [first, nodes[1].id]
    assert time.perf_counter() - t0 < 10


def test_missing_walks_only_between_frontiers() -> None:
    # A wide fork on top of a long shared history: the shared part must not be reported.
    nodes = chain(20_000)
    base = nodes[-1]
    left = Node(nid(-1), (base.id,), base.lamport + 1, "ed25519:b", 1)
    right = Node(nid(-2), (base.id,), base.lamport + 1, "ed25519:c", 1)
    dag = build([*nodes, left, right])
    assert dag.missing([left.id], [right.id]) == [right.id]
    assert dag.concurrent(left.id, right.id)
    assert dag.heads() == {left.id, right.id}
