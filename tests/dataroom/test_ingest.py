"""Ingestion: every format, versions, unchanged files, bad input leaving the room as it was, big texts."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcrdt.dataroom import (
    Dataroom,
    Document,
    DocumentChunk,
    DocumentVersion,
    IngestError,
    Limits,
    slug,
    version_id,
)
from agentcrdt.dataroom.ingest import split_text
from agentcrdt.log.event import MAX_EVENT_BYTES
from agentcrdt.log.keys import Identity, digest

Snap = Callable[[Dataroom], tuple[int, frozenset[str], int]]


def _text(room: Dataroom, doc: str, number: int | None = None) -> str:
    return room.read(doc, number).text


# -- formats ------------------------------------------------------------------------------------------


def test_txt_is_normalized_and_hashed(room: Dataroom, write: Callable[..., Path]) -> None:
    path = write("Side Letter.txt", "\ufeffLine one\r\nLine two\rLine three\n")
    [result] = room.add([path])
    assert (result.status, result.document, result.number) == ("new", "side-letter", 1)
    text = "Line one\nLine two\nLine three\n"
    v = room.version("side-letter")
    assert v.content_hash == digest(text.encode())
    assert v.id == version_id("side-letter", v.content_hash) == result.version
    assert (v.mime, v.source_name, v.added_by) == (
        "text/plain",
        "Side Letter.txt",
        room.replica.identity.author,
    )  # type: ignore[union-attr]
    assert _text(room, "side-letter") == text
    doc = room.document("Side Letter.txt")
    assert (doc.title, doc.current_version, doc.status) == (
        "Line one",
        v.id,
        "active",
    )  # the first line titles it


def test_markdown(room: Dataroom, write: Callable[..., Path]) -> None:
    room.add([write("notes.md", "# Notes\n\n* renewal: 12 months\n")])
    assert _text(room, "notes") == "# Notes\n\n* renewal: 12 months\n"
    assert room.version("notes").mime == "text/markdown"


def test_pdf_text_layer(room: Dataroom, make_pdf: Callable[..., Path]) -> None:
    path = make_pdf("Master Agreement.pdf", ["MASTER SERVICES AGREEMENT", "Governing law: New York (USA)"])
    [result] = room.add([path])
    assert result.document == "master-agreement"
    text = _text(room, "master-agreement")
    assert "MASTER SERVICES AGREEMENT" in text
    assert "Governing law: New York (USA)" in text
    assert room.version("master-agreement").mime == "application/pdf"


def test_docx_paragraphs_and_tables(room: Dataroom, make_docx: Callable[..., Path]) -> None:
    path = make_docx(
        "NDA.docx",
        ["MUTUAL NON-DISCLOSURE AGREEMENT", "Term: two (2) years."],
        table=[["Party", "Role"], ["Acme Corp", "Discloser"]],
    )
    room.add([path])
    text = _text(room, "nda")
    assert text.startswith("MUTUAL NON-DISCLOSURE AGREEMENT\nTerm: two (2) years.\n")
    assert "Party | Role" in text and "Acme Corp | Discloser" in text


def test_all_formats_in_one_atomic_add(
    room: Dataroom,
    write: Callable[..., Path],
    make_pdf: Callable[..., Path],
    make_docx: Callable[..., Path],
    snap: Snap,
) -> None:
    before = snap(room)
    files = [
        write("a.txt", "alpha"),
        write("b.md", "beta"),
        make_pdf("c.pdf", ["gamma"]),
        make_docx("d.docx", ["delta"]),
    ]
    results = room.add(files, folder="Deal/Legal")
    assert [r.status for r in results] == ["new"] * 4
    assert snap(room)[0] > before[0]
    assert {d.id for d in room.documents()} == {"a", "b", "c", "d"}
    assert {d.folder for d in room.documents()} == {"deal/legal"}
    assert [(f.id, f.parent) for f in room.folders()] == [("deal", ""), ("deal/legal", "deal")]


# -- versions -----------------------------------------------------------------------------------------


def test_changed_file_makes_a_new_version(room: Dataroom, write: Callable[..., Path]) -> None:
    path = write("msa.txt", "Term: 12 months.")
    room.add([path])
    first = room.version("msa")
    path.write_text("Term: 24 months.")
    [result] = room.add([path])
    assert (result.status, result.number) == ("changed", 2)
    versions = room.versions("msa")
    assert [v.number for v in versions] == [1, 2]
    assert room.document("msa").current_version == versions[1].id != first.id
    assert _text(room, "msa") == "Term: 24 months."
    assert _text(room, "msa", 1) == "Term: 12 months."  # old versions stay readable


def test_unchanged_file_writes_nothing(room: Dataroom, write: Callable[..., Path], snap: Snap) -> None:
    path = write("msa.txt", "Term: 12 months.")
    room.add([path])
    before = snap(room)
    path.write_bytes(b"Term: 12 months.")  # same bytes, new mtime
    [result] = room.add([path])
    assert result.status == "unchanged"
    assert snap(room) == before


def test_same_text_in_another_format_is_unchanged(
    room: Dataroom, write: Callable[..., Path], make_docx: Callable[..., Path], snap: Snap
) -> None:
    room.add([write("memo.txt", "One line.")])
    before = snap(room)
    [result] = room.add([make_docx("memo.docx", ["One line."])])
    assert (result.document, result.status) == ("memo", "unchanged")
    assert snap(room) == before


def test_reverting_restores_the_old_version(room: Dataroom, write: Callable[..., Path]) -> None:
    path = write("msa.txt", "v1 text")
    room.add([path])
    path.write_text("v2 text")
    room.add([path])
    path.write_text("v1 text")
    [result] = room.add([path])
    assert (result.status, result.number) == ("restored", 1)
    assert len(room.versions("msa")) == 2
    assert _text(room, "msa") == "v1 text"


def test_add_as_names_the_document(room: Dataroom, write: Callable[..., Path]) -> None:
    room.add([write("msa.txt", "first")])
    [result] = room.add([write("MSA-final-signed.txt", "second")], document_id="msa")
    assert (result.document, result.status, result.number) == ("msa", "changed", 2)


def test_slugs() -> None:
    assert slug("Master Services Agreement (v2)") == "master-services-agreement-v2"
    assert slug("Überweisung–Bestätigung") == "uberweisung-bestatigung"
    assert slug("契約書").startswith("doc-") and slug("契約書") == slug("契約書")
    with pytest.raises(Exception, match="no letters or digits"):
        slug("---")


# -- bad input: a clear message and the room exactly as it was ----------------------------------------


def _bad_cases(tmp: Path) -> dict[str, tuple[Path, str]]:
    cases: dict[str, tuple[Path, bytes | None, str]] = {
        "missing": (tmp / "missing.txt", None, "no such file"),
        "empty": (tmp / "empty.txt", b"", "empty"),
        "blank": (tmp / "blank.md", b"  \n\t\r\n", "empty"),
        "nul bytes": (tmp / "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        "latin-1": (tmp / "latin.txt", "Caf\u00e9 cr\u00e8me".encode("latin-1"), "not UTF-8"),
        "control chars": (tmp / "ctl.txt", bytes(range(1, 9)) * 20, "binary"),
        "fake pdf": (tmp / "fake.pdf", b"this is not a pdf at all", "not a PDF"),
        "broken pdf": (tmp / "broken.pdf", b"%PDF-1.4\n1 0 obj garbage \xff\xfe endobj", "PDF"),
        "fake docx": (tmp / "fake.docx", b"PK\x03\x04 but not really a zip", "not a .docx"),
        "unsupported": (tmp / "sheet.xlsx", b"whatever", "unsupported file type"),
        "no suffix": (tmp / "README", b"text", "unsupported file type"),
    }
    out = {}
    for name, (path, data, why) in cases.items():
        if data is not None:
            path.write_bytes(data)
        out[name] = (path, why)
    zip_path = tmp / "other.docx"
    with zipfile.ZipFile(zip_path, "w") as z:
        z.writestr("hello.txt", "not a word document")
    out["zip without document"] = (zip_path, "not a Word document")
    (tmp / "folder.txt").mkdir()
    out["directory"] = (tmp / "folder.txt", "not a regular file")
    return out


BAD = [
    "missing",
    "empty",
    "blank",
    "nul bytes",
    "latin-1",
    "control chars",
    "fake pdf",
    "broken pdf",
    "fake docx",
    "unsupported",
    "no suffix",
    "zip without document",
    "directory",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_file_is_refused_and_room_unchanged(
    room: Dataroom, write: Callable[..., Path], tmp_path: Path, snap: Snap, case: str
) -> None:
    room.add([write("existing.txt", "already here")])
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    path, why = _bad_cases(bad_dir)[case]
    good = write("good.txt", "a perfectly good file")  # its twin passes alone (below)
    before = snap(room)
    with pytest.raises(IngestError, match=why) as info:
        room.add([good, path])
    assert info.value.problems == [(str(path), info.value.problems[0][1])]
    assert str(path) in str(info.value) and "nothing added" in str(info.value)
    assert snap(room) == before
    assert [d.id for d in room.documents()] == ["existing"]
    assert room.add([good])[0].status == "new"  # the good twin alone goes in


def test_pdf_without_text_layer(room: Dataroom, make_pdf: Callable[..., Path], snap: Snap) -> None:
    before = snap(room)
    with pytest.raises(IngestError, match="no text layer"):
        room.add([make_pdf("scan.pdf", [])])
    assert snap(room) == before


def test_every_problem_is_listed(room: Dataroom, write: Callable[..., Path]) -> None:
    with pytest.raises(IngestError) as info:
        room.add([write("a.txt", ""), write("b.txt", b"\x00\x01"), write("c.txt", "fine")])
    assert [Path(p).name for p, _ in info.value.problems] == ["a.txt", "b.txt"]


def test_duplicate_names_in_one_call(room: Dataroom, write: Callable[..., Path], snap: Snap) -> None:
    a = write("x/Report.txt", "one")
    b = write("y/report.md", "two")
    before = snap(room)
    with pytest.raises(IngestError, match="same document 'report'"):
        room.add([a, b])
    assert snap(room) == before
    with pytest.raises(IngestError, match="same document"):
        room.add([a, a])
    assert snap(room) == before


def test_file_over_the_size_limit(tmp_path: Path, owner: Identity, write: Callable[..., Path]) -> None:
    with Dataroom.create(tmp_path / "small.db", owner, limits=Limits(max_file_bytes=1000)) as room:
        before = room.replica.store.count()
        with pytest.raises(IngestError, match="file is 1001 bytes, over the 1000 bytes limit"):
            room.add([write("big.txt", "x" * 1001)])
        assert room.replica.store.count() == before
        assert room.add([write("ok.txt", "x" * 1000)])[0].status == "new"


def test_text_over_the_text_limit(tmp_path: Path, owner: Identity, write: Callable[..., Path]) -> None:
    with Dataroom.create(tmp_path / "small.db", owner, limits=Limits(max_text_bytes=100)) as room:
        with pytest.raises(IngestError, match="per version; split it"):
            room.add([write("long.md", "é" * 51)])  # 102 UTF-8 bytes
        assert room.documents() == []


# -- large texts --------------------------------------------------------------------------------------


def test_large_text_is_chunked_across_events(room: Dataroom, write: Callable[..., Path]) -> None:
    line = "Clause {n}: the Supplier shall deliver “the Goods” \\ within 30 days; naïve café.\n"
    text = "".join(line.format(n=i) for i in range(40_000))  # ~3.4 MB
    path = write("huge.txt", text)
    position = room.replica.store.last_position()
    [result] = room.add([path])
    assert result.chunks > 4
    events = [s for _, s in room.replica.store.since(position)]
    v = room.version("huge")
    assert v.chunks == result.chunks and v.text_bytes == len(text.encode())
    assert _text(room, "huge") == text
    assert len(events) >= result.chunks  # chunk events + the version's own event
    assert max(len(s.raw) for s in events) <= MAX_EVENT_BYTES
    # The version's event comes last: whoever holds it holds every part of its text.
    assert events[-1].id in room.replica.heads
    assert all(r.ok for r in room.verify("huge"))
    chunks = room._all(DocumentChunk, v.id + "#")[0]
    assert sorted(c.index for c in chunks) == list(range(1, v.chunks))


def test_escape_heavy_text_respects_the_chunk_size(
    tmp_path: Path, owner: Identity, write: Callable[..., Path]
) -> None:
    text = 'a\tb"c\\d\f' * 3000 + "😀" * 1000  # 2-byte escapes and 4-byte characters
    with Dataroom.create(tmp_path / "esc.db", owner, limits=Limits(chunk_bytes=4096)) as room:
        [result] = room.add([write("esc.md", text)])
        assert result.chunks > 5
        assert room.read("esc").text == text


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400), st.integers(min_value=16, max_value=120))
def test_split_text_round_trips_within_the_limit(text: str, max_bytes: int) -> None:
    import orjson

    pieces = split_text(text, max_bytes)
    assert "".join(pieces) == text
    assert all(len(orjson.dumps(p)) <= max_bytes for p in pieces)
    assert all(pieces) or pieces == [""]


def test_entities_read_back_typed(room: Dataroom, write: Callable[..., Path]) -> None:
    room.add([write("a.txt", "text")])
    doc = room.document("a")
    assert isinstance(doc, Document)
    assert isinstance(room.version("a"), DocumentVersion)
    rows = room.replica.followers[0].query("SELECT id, number FROM documentversion")  # type: ignore[attr-defined]
    assert rows == [(doc.current_version, 1)]


def test_title_comes_from_the_first_heading_or_the_file_name(
    room: Dataroom, write: Callable[..., Path]
) -> None:
    room.add(
        [write("msa.md", "\n\n# Master Services Agreement\n\nBody."), write("numbers.txt", "12345\n---\n")]
    )
    assert room.document("msa").title == "Master Services Agreement"
    assert room.document("numbers").title == "numbers"  # no line with letters: the file name
