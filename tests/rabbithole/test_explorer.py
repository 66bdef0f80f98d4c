"""The explorer agent on the sample dataroom, offline: what it finds, that every quote is verbatim, that
it proposes through its slot, and the map, its exports and the command line around it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import pytest

from agentcrdt.capabilities import Capability
from agentcrdt.cli._main import run as cli
from agentcrdt.dataroom import Dataroom
from agentcrdt.dataroom.domain import ENTITIES
from agentcrdt.dataroom.texts import current_texts
from agentcrdt.log.keys import Identity
from agentcrdt.materialize import Reader
from agentcrdt.rabbithole import JobRunner, create_job, read_job
from agentcrdt.rabbithole.explore import AgentExplorer
from agentcrdt.rabbithole.export import graph_of, to_graphml, to_html, to_json
from agentcrdt.rabbithole.report import JobMap, build_map
from agentcrdt.rabbithole.show import render_text
from agentcrdt.replica import Replica
from agentcrdt.retrieval import get_embedder
from agentcrdt.rooms.local import open_local
from agentcrdt.rooms.workflow import grant, list_proposals
from agentcrdt.runtime import build_model, load_agent
from tests._browser import CHROMIUM, CHROMIUM_ARGS, need_browser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "examples" / "falcon" / "documents"
JOBS = Capability("rabbithole", writes=("RabbitholeJob.*", "RabbitholeNode.*"), mode="direct")


@pytest.fixture(scope="module")
def falcon(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample dataroom with the explorer's key granted both slots."""
    path = tmp_path_factory.mktemp("falcon") / "falcon.db"
    owner = Identity.from_name("owner")
    room = Dataroom.create(path, owner, name="falcon")
    room.add(sorted(DOCS.iterdir()))
    agent = load_agent(str(ROOT / "agents" / "explorer.py"))
    grant(room.replica, Identity.from_name("explorer").author, agent.capability)
    grant(room.replica, Identity.from_name("explorer").author, JOBS)
    room.close()
    return path


def _explorer() -> AgentExplorer:
    agent = load_agent(str(ROOT / "agents" / "explorer.py"))
    return AgentExplorer(agent, build_model("offline", get_embedder("fake")))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def explored(falcon: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("explored") / "falcon.db"
    shutil.copy(falcon, path)
    replica = open_local(path, identity=Identity.from_name("explorer"), entities=ENTITIES)
    ex = _explorer()
    job = create_job(replica, ex, start="05-msa-amendment-1", depth=2, themes=3)
    summary = anyio.run(JobRunner(replica, job, ex).run)
    assert summary.reason == "done" and summary.refused == 0 and summary.unsupported == 0
    replica.close()
    return path, job


def _reader(replica: Replica) -> Reader:
    replica.catch_up()
    return Reader(next(f.db for f in replica.followers if getattr(f, "db", None) is not None))  # type: ignore[attr-defined]


def _map(path: Path, job: str) -> JobMap:
    replica = open_local(path)
    try:
        return build_map(replica, job)
    finally:
        replica.close()


def test_the_amendments_and_their_contract_are_explored_and_the_law_conflict_found(
    explored: tuple[Path, str],
) -> None:
    m = _map(*explored)
    assert {n["ref"] for n in m.nodes if n["done"]} >= {
        "04-msa-meridian",
        "05-msa-amendment-1",
        "06-msa-amendment-2",
    }
    laws = [f for f in m.findings_of("contradiction") if f["title"].startswith("governing_law")]
    pair = {"04-msa-meridian", "06-msa-amendment-2"}
    hit = [f for f in laws if {q["document"] for q in f["evidence"]} == pair]
    assert hit, [f["title"] for f in laws]
    assert "New York" in hit[0]["title"] and "New Jersey" in hit[0]["title"]
    assert any(
        lk["source"] == "06-msa-amendment-2"
        and lk["target"] == "04-msa-meridian"
        and lk["relation"] == "amends"
        for lk in m.links
    )
    assert {e["name"] for e in m.entities} >= {"Meridian Freight Corporation", "New York"}


def test_every_quote_is_verbatim_in_its_document_and_nothing_applies_before_review(
    explored: tuple[Path, str],
) -> None:
    path, job = explored
    replica = open_local(path)
    try:
        room = Dataroom(replica)
        texts = {d.id: room.version(d.id).text for d in room.documents()}
        m = build_map(replica, job)
        proposals = [p for p in list_proposals(replica) if p.agent == Identity.from_name("explorer").author]
    finally:
        replica.close()
    quotes = [(q["document"], q["quote"]) for f in m.findings for q in f["evidence"]]
    quotes += [(lk["source"], lk["quote"]) for lk in m.links]
    quotes += [(d, q) for e in m.entities for d, q in e["documents"].items()]
    assert quotes and all(q in texts[d] for d, q in quotes)  # groundedness 100%
    assert proposals and {p.event.payload["slot"] for p in proposals} == {"explorer"}
    assert {str(p.status) for p in proposals} == {"pending"}  # findings enter review; none auto-applies


def test_running_the_job_again_proposes_nothing_twice(explored: tuple[Path, str], tmp_path: Path) -> None:
    path = tmp_path / "again.db"
    shutil.copy(explored[0], path)
    replica = open_local(path, identity=Identity.from_name("explorer"), entities=ENTITIES)
    before = len(list_proposals(replica))
    summary = anyio.run(JobRunner(replica, explored[1], _explorer()).run)
    assert summary.explored == [] and len(list_proposals(replica)) == before
    replica.close()


def test_the_largest_themes_are_summarized_by_the_model_with_quotes_verbatim_in_their_documents(
    explored: tuple[Path, str],
) -> None:
    m = _map(*explored)
    replica = open_local(explored[0])
    try:
        view = read_job(replica, explored[1])
        texts = {i: text for i, _, _, text in current_texts(_reader(replica))}
    finally:
        replica.close()
    several = [t for t in m.themes if len(t["documents"]) >= 2]
    assert several, "the falcon job finds themes of several documents"
    summarized = [t for t in m.themes if t["written_by"] == "model"]
    assert summarized == several[:3]  # the largest first, up to the job's three
    for t in summarized:
        assert t["summary"] != t["outline"] and t["label"]
        assert t["evidence"] and all(q["document"] in t["documents"] for q in t["evidence"])
        assert all(q["quote"] in texts[q["document"]] for q in t["evidence"])
    themes = [n for n in view.done() if n.kind == "theme"]
    assert len(themes) == len(summarized)
    calling = [n for n in view.done() if n.kind in ("document", "chunk")]
    assert view.job.calls == len(calling) + len(themes)
    assert (
        "(outline from the graph)"
        not in render_text(m).split("Strongest connections")[0].split(summarized[-1]["label"])[0]
    )


def test_the_map_reads_as_text_and_exports_as_json_and_graphml(explored: tuple[Path, str]) -> None:
    import networkx as nx

    m = _map(*explored)
    text = render_text(m)
    for heading in ("Themes", "Strongest connections", "Contradictions", "Open questions"):
        assert heading in text
    assert "New Jersey" in text and m.themes
    data = json.loads(to_json(m))
    assert data["job"]["id"] == explored[1] and data["graph"]["nodes"]
    g = nx.parse_graphml(to_graphml(m))
    graph = graph_of(m)
    assert g.number_of_nodes() == len(graph["nodes"]) and g.number_of_edges() == len(graph["edges"])


def test_the_html_graph_opens_in_chromium_without_errors_and_shows_quotes(
    explored: tuple[Path, str], tmp_path: Path
) -> None:
    need_browser()
    from playwright.sync_api import sync_playwright

    m = _map(*explored)
    page_file = tmp_path / "map.html"
    page_file.write_text(to_html(m), encoding="utf-8")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(page_file.as_uri(), wait_until="load")
            page.wait_for_selector("svg[data-ready]")
            graph = graph_of(m)
            assert page.locator("g.node").count() == len(graph["nodes"])
            assert page.locator("svg line").count() == len(graph["edges"])
            page.locator("g.node[data-id='doc:06-msa-amendment-2'] circle").click()
            details = page.locator("#details").inner_text()
            assert "06-msa-amendment-2" in details and "New Jersey" in details
        finally:
            browser.close()
    assert problems == []


def test_the_command_line_runs_shows_and_exports_a_job(
    falcon: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    room = tmp_path / "falcon.db"
    shutil.copy(falcon, room)
    Identity.from_name("explorer").save(room.with_name("falcon.explorer.key"))
    Identity.from_name("owner").save(room.with_name("falcon.db.key"))
    args = ["rabbithole", "run", "--room", str(room), "--from", "06-msa-amendment-2", "--depth", "2"]
    assert cli([*args, "--embedder", "fake", "--budget", "calls=2", "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    assert result["reason"] == "calls" and result["calls"] == 2
    job = result["job"]
    assert cli(["rabbithole", "show", job, "--room", str(room)]) == 0
    assert "Contradictions" in capsys.readouterr().out
    for fmt in ("json", "graphml", "html"):
        target = tmp_path / f"map.{fmt}"
        assert (
            cli(["rabbithole", "export", job, "--room", str(room), "--format", fmt, "-o", str(target)]) == 0
        )
        assert target.stat().st_size > 0
    assert cli(["rabbithole", "list", "--room", str(room)]) == 0
    assert job in capsys.readouterr().out
    # Resuming a job whose budget is spent explores nothing and says why.
    assert cli(["rabbithole", "run", "--room", str(room), "--job", job, "--embedder", "fake", "--json"]) == 0
    again = capsys.readouterr().out
    assert json.loads([line for line in again.splitlines() if line.startswith("{")][-1])["calls"] == 2


def test_bad_budgets_and_unknown_jobs_are_clear_errors(
    falcon: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agentcrdt.cli.rabbithole import parse_budgets
    from agentcrdt.errors import UsageError

    assert parse_budgets(["calls=40", "20000tokens", "$0.50", "nodes=3"]) == {
        "calls": 40, "tokens": 20000, "usd": __import__("decimal").Decimal("0.50"), "nodes": 3,
    }  # fmt: skip
    with pytest.raises(UsageError, match="give calls=N"):
        parse_budgets(["forty calls"])
    assert cli(["rabbithole", "show", "rh-nope", "--room", str(falcon)]) != 0
    assert "no rabbithole job 'rh-nope'" in capsys.readouterr().err


def test_a_question_job_also_grows_by_retrieval(falcon: Path, tmp_path: Path) -> None:
    from agentcrdt.runtime.context import open_retrieval

    path = tmp_path / "falcon.db"
    shutil.copy(falcon, path)
    replica = open_local(path, identity=Identity.from_name("explorer"), entities=ENTITIES)
    agent = load_agent(str(ROOT / "agents" / "explorer.py"))
    embedder = get_embedder("fake")
    retrieval = open_retrieval(path, embedder, agent.retrieval_sources)
    try:
        retrieval.catch_up(replica)
        ex = AgentExplorer(agent, build_model("offline", embedder), retrieval=retrieval)  # type: ignore[arg-type]
        job = create_job(replica, ex, question="office lease rent and premises", depth=1, nodes=12)
        anyio.run(JobRunner(replica, job, ex).run)
        view = read_job(replica, job)
    finally:
        retrieval.close()
        replica.close()
    seeds = [n for n in view.nodes if n.via == "question"]
    grown = [n for n in view.nodes if n.via == "retrieval:question"]
    assert 1 <= len(seeds) <= 3 and grown  # each document node adds the next closest documents
    assert all(n.depth == 1 and n.kind == "document" for n in grown)
    assert len({n.ref for n in view.nodes if n.kind == "document"}) == len(
        [n for n in view.nodes if n.kind == "document"]
    )


_FIGURES = {
    "letter.txt": "LETTER OF INTENT\n\nThe Buyer values the Target on its annual recurring revenue of "
    "$14.2 million as of December 31, 2025, as represented by management. The Buyer proposes a "
    "closing in the second quarter.\n",
    "finance.txt": "FINANCIAL SUMMARY\n\nHighlights of the year.\n\n- Annual recurring revenue at "
    "December 31, 2025 was USD 12,600,000, up from the year before.\n- Headcount grew to 86.\n",
    "lease.txt": "OFFICE LEASE\n\nThe Tenant leases the premises at 200 Harbor Street for office use. "
    "Rent is payable monthly in advance.\n",
    "minutes.txt": "BOARD MINUTES\n\nThe board met in Boston and discussed hiring plans and the "
    "office move.\n",
}


def _figures_room(tmp_path: Path, embedder: str | None = "fake") -> tuple[Path, AgentExplorer, object]:
    from agentcrdt.runtime.context import open_retrieval

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in _FIGURES.items():
        (docs / name).write_text(text)
    path = tmp_path / "room.db"
    room = Dataroom.create(path, Identity.from_name("owner"), name="figures")
    room.add(sorted(docs.iterdir()))
    agent = load_agent(str(ROOT / "agents" / "explorer.py"))
    grant(room.replica, Identity.from_name("explorer").author, agent.capability)
    grant(room.replica, Identity.from_name("explorer").author, JOBS)
    room.close()
    emb = get_embedder("fake")
    retrieval = open_retrieval(path, emb, agent.retrieval_sources) if embedder else None
    return path, AgentExplorer(agent, build_model("offline", emb), retrieval=retrieval), retrieval  # type: ignore[arg-type]


def test_a_figure_becomes_a_claim_node_whose_passages_are_read_for_what_contradicts_it(
    tmp_path: Path,
) -> None:
    path, ex, retrieval = _figures_room(tmp_path)
    replica = open_local(path, identity=Identity.from_name("explorer"), entities=ENTITIES)
    try:
        assert retrieval is not None
        retrieval.catch_up(replica)  # type: ignore[attr-defined]
        job = create_job(replica, ex, start="letter", depth=2)
        summary = anyio.run(JobRunner(replica, job, ex).run)
        view = read_job(replica, job)
        m = build_map(replica, job)
    finally:
        retrieval.close()  # type: ignore[attr-defined]
        replica.close()
    claims = [n for n in view.nodes if n.kind == "claim"]
    chunks = [n for n in view.nodes if n.kind == "chunk"]
    arr = next(n for n in claims if n.via.endswith("annual recurring revenue"))
    assert arr.depth == 1 and arr.parent == "letter" and arr.done
    chunk = next(n for n in chunks if n.parent == arr.ref)
    assert chunk.ref.startswith("finance@") and chunk.depth == 2 and chunk.done
    # The chunk's finding quotes both documents verbatim; its document is reached past the depth.
    (found,) = [f for f in m.findings_of("contradiction") if "recurring" in f["title"]]
    assert {e["document"] for e in found["evidence"]} == {"letter", "finance"}
    for e in found["evidence"]:
        assert e["quote"] and e["quote"] in _FIGURES[e["document"] + ".txt"]
    assert view.node("finance") is not None and view.node("finance").via == "chunk"
    assert summary.reason == "depth"
    # Claim nodes cost no call: one call per document and chunk node read.
    read = [n for n in view.nodes if n.done and n.kind in ("document", "chunk")]
    assert view.job.calls == len(read) and view.job.calls_reserved == len(read)


def test_without_an_index_no_claim_is_followed(tmp_path: Path) -> None:
    path, ex, _ = _figures_room(tmp_path, embedder=None)
    replica = open_local(path, identity=Identity.from_name("explorer"), entities=ENTITIES)
    try:
        job = create_job(replica, ex, start="letter", depth=2)
        anyio.run(JobRunner(replica, job, ex).run)
        view = read_job(replica, job)
    finally:
        replica.close()
    assert [n.kind for n in view.nodes if n.kind in ("claim", "chunk")] == []
