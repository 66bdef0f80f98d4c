"""Fixtures for dataroom tests: rooms in temp dirs and real .pdf/.docx files generated on the fly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentcrdt.dataroom import Dataroom
from agentcrdt.log.keys import Identity


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(lines: list[str]) -> bytes:
    """Return a minimal one-page PDF whose text layer holds ``lines`` (Helvetica, one line each)."""
    shows = " ".join(f"({_pdf_escape(line)}) Tj 0 -16 Td" for line in lines)
    content = f"BT /F1 12 Tf 72 720 Td {shows} ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        " /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


@pytest.fixture
def make_pdf(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str, lines: list[str]) -> Path:
        path = tmp_path / name
        path.write_bytes(pdf_bytes(lines))
        return path

    return make


@pytest.fixture
def make_docx(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str, paragraphs: list[str], table: list[list[str]] | None = None) -> Path:
        import docx

        document = docx.Document()
        for p in paragraphs:
            document.add_paragraph(p)
        if table:
            t = document.add_table(rows=len(table), cols=len(table[0]))
            for r, row in enumerate(table):
                for c, cell in enumerate(row):
                    t.cell(r, c).text = cell
        path = tmp_path / name
        document.save(str(path))
        return path

    return make


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    def w(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_bytes(content.encode("utf-8"))
        else:
            path.write_bytes(content)
        return path

    return w


@pytest.fixture
def owner() -> Identity:
    return Identity.from_name("room-owner")


@pytest.fixture
def room(tmp_path: Path, owner: Identity) -> Iterator[Dataroom]:
    r = Dataroom.create(tmp_path / "room.db", owner)
    yield r
    r.close()


def snapshot(room: Dataroom) -> tuple[int, frozenset[str], int]:
    """What must not move when an add is refused: event count, heads, store position."""
    return room.replica.store.count(), room.replica.heads, room.replica.store.last_position()


@pytest.fixture
def snap() -> Callable[[Dataroom], tuple[int, frozenset[str], int]]:
    return snapshot
