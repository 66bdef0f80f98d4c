"""Rabbithole jobs: budgets stop them exactly, a restart resumes, workers split the work, claims converge."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentcrdt.errors import NotFound, UsageError
from agentcrdt.rabbithole import JobRunner, create_job, read_job, request_stop
from agentcrdt.rabbithole.state import RabbitholeNode, node_id, parse_passage, passage_ref
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import create_memory, join_memory
from agentcrdt.rooms.workflow import grant
from tests.rabbithole._fake import (
    GRAPH,
    JOBS,
    GraphExplorer,
    fixed_themes,
    make_room,
    open_worker,
    worker_identity,
)

FAKE = Path(__file__).with_name("_fake.py")
ROOT = Path(__file__).resolve().parents[2]


def _room(tmp_path: Path, workers: tuple[str, ...] = ("worker",)) -> Path:
    path = tmp_path / "room.db"
    make_room(path, workers)
    return path


def _run(replica: Replica, job: str, explorer: GraphExplorer, **kw: object) -> tuple[str, list[str]]:
    summary = anyio.run(JobRunner(replica, job, explorer, **kw).run)  # type: ignore[arg-type]
    return summary.reason, summary.explored


def test_a_job_explores_the_graph_breadth_first_and_ends_done(tmp_path: Path) -> None:
    room = open_worker(_room(tmp_path))
    ex = GraphExplorer()
    job = create_job(room, ex, start="d0", depth=5)
    reason, explored = _run(room, job, ex)
    assert reason == "done"
    assert explored == ["d0", "d1", "d2", "d3", "d4", "d5"]  # by depth, then id: one order everywhere
    view = read_job(room, job)
    assert {n.ref: n.depth for n in view.nodes} == {"d0": 0, "d1": 1, "d2": 1, "d3": 2, "d4": 2, "d5": 3}
    assert view.job.calls == 6 and view.job.tokens == 60 and view.job.nodes_claimed == 6
    assert view.node("d3").parent == "d1"  # type: ignore[union-attr]  (first discovered from d1)


@pytest.mark.parametrize(
    ("limits", "reason", "explored", "calls"),
    [
        ({"depth": 1}, "depth", ["d0", "d1", "d2"], 6),
        ({"depth": 5, "nodes": 4}, "nodes", ["d0", "d1", "d2", "d3"], 8),
        ({"depth": 5, "calls": 5}, "calls", ["d0", "d1"], 4),  # 2 calls a node: a third would overrun 5
        ({"depth": 5, "tokens": 25}, "tokens", ["d0", "d1", "d2"], 6),  # stops once 25 is reached
    ],
)
def test_budgets_stop_the_job_exactly_and_say_which(
    tmp_path: Path, limits: dict[str, int], reason: str, explored: list[str], calls: int
) -> None:
    room = open_worker(_room(tmp_path))
    ex = GraphExplorer(calls_per_node=2)
    job = create_job(room, ex, start="d0", **limits)  # type: ignore[arg-type]
    got_reason, got = _run(room, job, ex)
    assert (got_reason, got) == (reason, explored)
    view = read_job(room, job)
    assert view.job.calls == calls and view.job.calls <= (limits.get("calls") or 10**9)
    # Running again spends nothing more: the budget is in the log, not in the process.
    assert _run(room, job, ex) == (reason, [])


def test_a_stop_request_ends_every_worker_before_its_next_node(tmp_path: Path) -> None:
    room = open_worker(_room(tmp_path))
    ex = GraphExplorer()
    job = create_job(room, ex, start="d0", depth=5)
    runner = JobRunner(room, job, ex)
    anyio.run(lambda: runner.run(max_steps=2))
    request_stop(room, job)
    assert _run(room, job, ex) == ("stopped", [])
    assert [n.ref for n in read_job(room, job).done()] == ["d0", "d1"]


def test_a_restart_takes_up_the_node_it_held_and_explores_nothing_twice(tmp_path: Path) -> None:
    path = _room(tmp_path)
    room = open_worker(path)
    ex = GraphExplorer()
    job = create_job(room, ex, start="d0", depth=5)
    runner = JobRunner(room, job, ex)
    anyio.run(lambda: runner.run(max_steps=2))
    held, _, _ = runner.claim()  # claimed, then the process "dies" before finishing it
    assert held is not None and held.ref == "d2"
    room.close()
    again = open_worker(path)
    reason, explored = _run(again, job, ex)
    assert reason == "done" and explored == ["d2", "d3", "d4", "d5"]  # its own claim first, no node twice
    assert read_job(again, job).job.calls_reserved == 6  # the held node's reservation was not taken twice


def test_a_killed_worker_process_resumes_without_exploring_a_node_twice(tmp_path: Path) -> None:
    path = _room(tmp_path)
    room = open_worker(path)
    job = create_job(room, GraphExplorer(), start="d0", depth=5)
    room.close()
    log = tmp_path / "explored.log"
    args = [sys.executable, str(FAKE), str(path), job, "worker", "0", "0.3", str(log)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while (not log.exists() or len(log.read_text().split()) < 2) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # mid-job: one node recorded or in flight, the rest untouched
    proc.wait(timeout=30)
    before = {n.ref for n in read_job(open_worker(path), job).done()}
    assert 1 <= len(before) <= 2
    out = subprocess.run([*args[:-2], "0", str(log)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    view = read_job(open_worker(path), job)
    assert {n.ref for n in view.done()} == set(GRAPH)
    explored_after = out.stdout.split("explored", 1)[1].split("reason")[0].split()
    assert not set(explored_after) & before  # a node recorded before the kill is never explored again
    # A node in flight at the kill is explored again by the same worker; nothing is recorded twice.
    assert view.job.nodes_claimed == len(GRAPH) and view.job.calls == len(GRAPH)


def test_two_worker_processes_split_the_job_and_explore_no_node_twice(tmp_path: Path) -> None:
    path = _room(tmp_path, ("w1", "w2"))
    room = open_worker(path, "w1")
    job = create_job(room, GraphExplorer(), start="d0", depth=5)
    room.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(FAKE), str(path), job, name, "0", "0.15"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("w1", "w2")
    ]
    explored: list[list[str]] = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        explored.append(out.split("explored", 1)[1].split("reason")[0].split())
    counts = Counter(ref for refs in explored for ref in refs)
    assert set(counts) == set(GRAPH) and set(counts.values()) == {1}  # each node once, by one worker
    assert all(explored), f"one worker did everything: {explored}"
    view = read_job(open_worker(path, "w1"), job)
    assert len({n.claimed_by for n in view.nodes}) == 2 and view.job.calls == len(GRAPH)


def test_concurrent_claims_on_two_replicas_resolve_to_one_winner(alice_bob: tuple[Replica, Replica]) -> None:
    a, b = alice_bob
    ex = GraphExplorer()
    job = create_job(a, ex, start="d0", depth=5)
    a.sync_with(b)
    claimed_a, _, _ = JobRunner(a, job, ex).claim()
    claimed_b, _, _ = JobRunner(b, job, ex).claim()  # neither has seen the other's claim
    assert claimed_a is not None and claimed_b is not None and claimed_a.ref == claimed_b.ref == "d0"
    a.sync_with(b)
    winner_a = a.get(RabbitholeNode, node_id(job, "d0"))
    winner_b = b.get(RabbitholeNode, node_id(job, "d0"))
    assert winner_a is not None and winner_b is not None
    assert winner_a.claimed_by == winner_b.claimed_by  # the register resolves alike on both replicas
    assert read_job(a, job).job.nodes_claimed == 2  # both claims were spent: concurrent work is counted


@pytest.fixture
def alice_bob() -> tuple[Replica, Replica]:
    a = create_memory(worker_identity("alice"), "room")
    grant(a, worker_identity("bob").author, JOBS)
    b = join_memory(a, worker_identity("bob"))
    return a, b


def test_bad_jobs_are_refused_with_what_to_do(tmp_path: Path) -> None:
    room = open_worker(_room(tmp_path))
    ex = GraphExplorer()
    with pytest.raises(UsageError, match="--question TEXT"):
        create_job(room, ex)
    with pytest.raises(UsageError, match="no such document"):
        create_job(room, ex, start="nope")
    with pytest.raises(UsageError, match="--calls must be at least 1"):
        create_job(room, ex, start="d0", calls=0)
    with pytest.raises(NotFound, match="no rabbithole job 'rh-x'"):
        read_job(room, "rh-x")


def test_names_become_entity_nodes_that_cost_no_call_and_lead_to_the_documents_naming_them(
    tmp_path: Path,
) -> None:
    room = open_worker(_room(tmp_path))
    # d0 names "Acme Corp", d1 names it as "ACME CORP" (one entity node); it leads to d5, which the
    # graph alone reaches only at depth 3.
    ex = GraphExplorer(names={"d0": ["Acme Corp"], "d1": ["ACME CORP"]}, named_by={"acme corp": ["d5"]})
    job = create_job(room, ex, start="d0", depth=2, calls=4)
    reason, explored = _run(room, job, ex)
    view = read_job(room, job)
    entity = view.node("Acme Corp", "entity")
    assert entity is not None and entity.done and entity.depth == 1 and entity.parent == "d0"
    assert view.node("ACME CORP", "entity") is entity  # one node per name, however it is spelled
    d5 = view.node("d5")
    assert d5 is not None and d5.depth == 2 and d5.via == "entity:Acme Corp"
    # Four documents fit the calls budget; the entity node took none of it.
    assert reason == "calls" and view.job.calls == 4 and explored.count("Acme Corp") == 1
    assert [r for r in explored if r != "Acme Corp"] == ["d0", "d1", "d2", "d3"]


@given(
    st.text(min_size=1, max_size=30).filter(lambda s: "#" not in s),
    st.text(min_size=1, max_size=12),
    st.integers(0, 10**7),
    st.integers(1, 10**5),
)
def test_a_passage_reference_round_trips_and_a_bad_one_says_what_it_expected(
    doc: str, version: str, start: int, length: int
) -> None:
    vid = f"{doc}@{version}"
    ref = passage_ref(vid, start, start + length)
    assert parse_passage(ref) == (vid.rpartition("@")[0], vid, start, start + length)
    for bad in (doc, f"{vid}#{start}", f"{vid}#x-{start}", f"nodoc#{start}-{start + 1}"):
        with pytest.raises(ValueError, match="expected <version id>#<start>-<end>"):
            parse_passage(bad)
    # Claim and chunk nodes are one node per exact passage; entity ids fold spelling.
    longer = passage_ref(vid, start, start + length + 1)
    assert node_id("rh-1", ref, "chunk") != node_id("rh-1", longer, "chunk")


def test_the_job_view_reused_between_steps_equals_one_built_afresh(
    alice_bob: tuple[Replica, Replica],
) -> None:
    from agentcrdt.rabbithole import JobView, RabbitholeJob

    alice, bob = alice_bob
    ex = GraphExplorer()
    job = create_job(alice, ex, start="d0", depth=3)
    alice.sync_with(bob)
    runners = [JobRunner(alice, job, ex, worker="a"), JobRunner(bob, job, ex, worker="b")]
    for step in range(12):
        anyio.run(runners[step % 2].step)
        a, b = runners[step % 2].replica, runners[(step + 1) % 2].replica
        a.sync_with(b)  # the other replica's cached nodes must see what arrived
        for r in (a, b):
            fresh = JobView.of(r.get(RabbitholeJob, job), r.all(RabbitholeNode))  # type: ignore[arg-type]
            assert read_job(r, job).nodes == fresh.nodes


THEMES = (("d0", "d1"), ("d2", "d3"), ("d4", "d5"))


@pytest.mark.parametrize(
    ("calls", "themes", "explored", "summarized", "reason"),
    [
        (None, 2, 6, 2, "done"),  # no calls budget: up to --themes, after every node
        (None, 5, 6, 3, "done"),  # no more than the map has
        (10, 3, 6, 2, "done"),  # a fifth of the calls at most: 2 kept back, exploring needs only 6
        (6, 3, 5, 1, "calls"),  # 1 call kept back: exploring stops at 5, the budget is spent exactly
        (4, 3, 4, 0, "calls"),  # under 5 calls nothing is kept back and nothing summarized
        (None, 0, 6, 0, "done"),
    ],
)
def test_themes_are_summarized_once_after_exploring_within_the_calls_budget(
    tmp_path: Path, calls: int | None, themes: int, explored: int, summarized: int, reason: str
) -> None:
    room = open_worker(_room(tmp_path))
    ex = GraphExplorer()
    job = create_job(room, ex, start="d0", depth=5, calls=calls, themes=themes)
    summary = anyio.run(JobRunner(room, job, ex, themes=fixed_themes(*THEMES)).run)
    view = read_job(room, job)
    written = [n for n in view.done() if n.kind == "theme"]
    assert (summary.reason, len(summary.explored), summary.themes) == (reason, explored, summarized)
    assert [n.ref for n in written] == sorted(f"theme-{'-'.join(t)}" for t in THEMES[:summarized])
    assert view.job.calls == explored + summarized <= (calls or 10**9)
    assert view.job.nodes_claimed == explored  # summaries are not nodes of the nodes budget
    again = JobRunner(room, job, ex, themes=fixed_themes(*THEMES))
    assert anyio.run(again.run).themes == 0 and read_job(room, job).job.calls == view.job.calls


def test_a_restart_during_a_theme_summary_writes_it_once(tmp_path: Path) -> None:
    path = _room(tmp_path)
    room = open_worker(path)
    log = tmp_path / "explored.log"
    ex = GraphExplorer(log=log)
    job = create_job(room, ex, start="d0", depth=5, themes=2)
    runner = JobRunner(room, job, ex, themes=fixed_themes(*THEMES))
    anyio.run(lambda: runner.run(max_steps=6))
    held, _, _ = runner.claim()  # the first theme is claimed, then the process "dies"
    assert held is not None and held.kind == "theme" and held.ref == "theme-d0-d1"
    assert read_job(room, job).end_reason(1) is None  # a summary in flight: the job is not over
    room.close()
    again = open_worker(path)
    summary = anyio.run(JobRunner(again, job, ex, themes=fixed_themes(*THEMES)).run)
    assert summary.themes == 2 and summary.explored == []
    assert log.read_text().splitlines()[6:] == ["theme theme-d0-d1", "theme theme-d2-d3"]
    assert read_job(again, job).job.calls_reserved == 8  # the held summary's call reserved once


def test_a_stopped_job_summarizes_nothing(tmp_path: Path) -> None:
    room = open_worker(_room(tmp_path))
    ex = GraphExplorer()
    job = create_job(room, ex, start="d0", depth=5, themes=3)
    anyio.run(lambda: JobRunner(room, job, ex).run(max_steps=2))
    request_stop(room, job)
    summary = anyio.run(JobRunner(room, job, ex, themes=fixed_themes(*THEMES)).run)
    assert (summary.reason, summary.themes) == ("stopped", 0)
