"""VectorIndex on both backends: KNN, filters, updates, deletes, model changes, a shared file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentcrdt.errors import UsageError
from agentcrdt.retrieval import EmbeddingCache, FakeEmbedder, IndexItem, VectorIndex
from agentcrdt.store.driver import driver

BACKENDS = ["sqlite-vec", "numpy"]


def _item(i: int, text: str, *, etype: str = "Doc", eid: str | None = None) -> IndexItem:
    return IndexItem(f"c{i}", etype, eid or f"d{i % 50}", "text", i, 0, len(text), text, extra={"n": i})


def _random_index(room: Path, backend: str, n: int = 500, dim: int = 16) -> tuple[VectorIndex, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = VectorIndex(room, FakeEmbedder(dim), backend=backend)  # type: ignore[arg-type]
    items = [_item(i, f"t{i}", etype="Doc" if i % 100 else "Rare") for i in range(n)]
    index.upsert(items, list(x))
    return index, x


@pytest.mark.parametrize("backend", BACKENDS)
def test_search_ranks_by_cosine_similarity(room: Path, backend: str) -> None:
    index = VectorIndex(room, FakeEmbedder(64), backend=backend)  # type: ignore[arg-type]
    assert index.backend == backend
    texts = ["governing law new york", "payment net thirty days", "laws of new york govern", "notice"]
    assert index.upsert([_item(i, t) for i, t in enumerate(texts)]) == 4
    hits = index.search("new york governing law", k=2)
    assert [h.chunk_id for h in hits] == ["c0", "c2"]
    q = FakeEmbedder(64).embed(["new york governing law"])[0]
    assert hits[0].score == pytest.approx(float(FakeEmbedder(64).embed([texts[0]])[0] @ q), abs=1e-5)
    assert hits[0].metadata == {
        "etype": "Doc", "eid": "d0", "field": "text", "chash": hits[0].metadata["chash"], "index": 0, "n": 0,
    }  # fmt: skip
    assert (hits[0].start, hits[0].end, hits[0].text) == (0, len(texts[0]), texts[0])
    assert index.search(q, k=1)[0].chunk_id == "c0"
    assert index.search("x", k=0) == []
    assert len(index) == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_selective_filters_return_the_true_top_k(room: Path, backend: str) -> None:
    index, x = _random_index(room, backend)
    q = x[3] + 0.1
    q = (q / np.linalg.norm(q)).astype(np.float32)
    scores = x @ q
    cases: list[tuple[dict[str, str | list[str]], list[int]]] = [
        ({"eid": ["d7", "d31"]}, [i for i in range(500) if i % 50 in (7, 31)]),
        ({"etype": "Rare"}, [0, 100, 200, 300, 400]),
        ({"etype": "Doc", "eid": "d0"}, [i for i in range(500) if i % 50 == 0 and i % 100]),
    ]
    for where, allowed in cases:
        expected = sorted(allowed, key=lambda i: -scores[i])[:10]
        hits = index.search(q, k=10, where=where)
        assert [h.chunk_id for h in hits] == [f"c{i}" for i in expected], where
        assert [h.score for h in hits] == pytest.approx([float(scores[i]) for i in expected], abs=1e-5)
    assert index.search(q, k=10, where={"eid": []}) == []
    with pytest.raises(UsageError, match="filter keys"):
        index.search(q, where={"text": "x"})


@pytest.mark.parametrize("backend", BACKENDS)
def test_update_keep_and_delete(room: Path, backend: str) -> None:
    fake = FakeEmbedder(64)
    index = VectorIndex(room, fake, backend=backend)  # type: ignore[arg-type]
    index.upsert([_item(0, "apples and pears"), _item(1, "bananas")])
    index.upsert([_item(0, "cars and trucks")])  # new content, new vector (vec0: delete then insert)
    assert index.search("trucks", k=1)[0].chunk_id == "c0"
    moved = IndexItem("c1", "Doc", "d1", "text", 5, 10, 17, "bananas")
    calls = fake.calls
    assert index.upsert([moved], [None]) == 0  # same content: the stored vector stays
    assert fake.calls == calls
    hit = index.search("bananas", k=1)[0]
    assert (hit.chunk_id, hit.start, hit.metadata["index"]) == ("c1", 10, 5)
    with pytest.raises(UsageError, match="no vector"):
        index.upsert([_item(1, "changed bananas")], [None])
    assert index.delete(chunk_ids=["c0", "missing"]) == 1
    assert [h.chunk_id for h in index.search("cars", k=5)] == ["c1"]
    assert index.delete(where={"eid": "d1"}) == 1 and len(index) == 0
    assert index.search("anything") == []


def test_model_change_is_an_error_or_a_rebuild(room: Path) -> None:
    cache = EmbeddingCache(room)
    index = VectorIndex(room, FakeEmbedder(64), cache=cache)
    index.upsert([_item(0, "alpha beta"), _item(1, "gamma delta")])
    index.close()
    with pytest.raises(UsageError, match="on_model_change='rebuild'"):
        VectorIndex(room, FakeEmbedder(32))
    failing = FakeEmbedder(32)
    failing.fail_on = lambda texts: True
    with pytest.raises(RuntimeError):
        VectorIndex(room, failing, on_model_change="rebuild")
    VectorIndex(room, FakeEmbedder(64)).close()  # a failed rebuild left the old model's vectors in charge
    small = FakeEmbedder(32)
    rebuilt = VectorIndex(room, small, on_model_change="rebuild", cache=cache)
    assert small.embedded == 2 and len(rebuilt) == 2
    assert rebuilt.search("gamma", k=1)[0].chunk_id == "c1"
    rebuilt.close()
    back = FakeEmbedder(64)
    VectorIndex(room, back, on_model_change="rebuild", cache=cache)
    assert back.embedded == 0  # the cache still had the 64-d vectors


def test_a_numpy_writer_marks_the_vec_table_for_rebuild(room: Path) -> None:
    vec = VectorIndex(room, FakeEmbedder(64), backend="sqlite-vec")
    vec.upsert([_item(0, "first text")])
    vec.close()
    np_index = VectorIndex(room, FakeEmbedder(64), backend="numpy")
    np_index.upsert([_item(1, "second text added without the extension")])
    np_index.delete(chunk_ids=["c0"])
    np_index.close()
    again = VectorIndex(room, FakeEmbedder(64), backend="sqlite-vec")
    assert [h.chunk_id for h in again.search("second text", k=5)] == ["c1"]


def test_coexists_with_the_rooms_other_connections_on_the_same_file(room: Path) -> None:
    # The store and the projections open the room through the same library (agentcrdt.store.driver).
    index = VectorIndex(room, FakeEmbedder(64))
    other = driver().module.connect(str(room), isolation_level=None)
    other.execute("PRAGMA busy_timeout=10000")
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT)")
    for round_ in range(3):
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO events (body) VALUES (?)", (f"event {round_}",))
        other.execute("COMMIT")
        index.upsert([_item(round_, f"chunk {round_}")])
        # each sees the other's committed rows; the other connection reads the index's plain tables
        assert index.db.execute("SELECT count(*) FROM events").fetchone()[0] == round_ + 1
        assert other.execute("SELECT count(*) FROM chunks").fetchone()[0] == round_ + 1
    with index.transaction():
        index.upsert([_item(9, "held in an open transaction")])
        assert other.execute("SELECT count(*) FROM chunks").fetchone()[0] == 3  # readers are not blocked
    assert other.execute("SELECT count(*) FROM chunks").fetchone()[0] == 4


def test_bad_table_name_and_missing_backend(room: Path) -> None:
    with pytest.raises(UsageError):
        VectorIndex(room, FakeEmbedder(), table="x; drop")


def test_a_rooms_vectors_live_in_the_room_file(tmp_path: Path) -> None:
    from agentcrdt.log.keys import Identity
    from agentcrdt.ops.state import op
    from agentcrdt.rooms.local import create_local
    from agentcrdt.runtime.context import open_retrieval

    path = tmp_path / "room.db"
    room = create_local(path, Identity.from_name("owner"), "room")
    room.commit("ops", {"ops": [op("Document", "d1", "text", "lww", {"set": "The buyer pays on delivery."})]})
    retrieval = open_retrieval(path, FakeEmbedder(64), [("Document", "text")])
    retrieval.catch_up(room)
    assert [h.text for h in retrieval.search("buyer pays", k=1)] == ["The buyer pays on delivery."]
    retrieval.close()
    room.store.close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == ["room.db"]
    with driver().module.connect(str(path)) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert any(t.startswith("chunks_") for t in tables) and "events" in tables
    if driver().vec:  # vectors in sqlite-vec, in the same file as the log
        assert any(t.startswith("chunks_") and t.endswith("_vec") for t in tables)
