"""Text from files: .txt and .md (strict UTF-8), .pdf (the text layer, via pypdf), .docx (python-docx).

Every extractor takes the file's bytes and returns text or raises :class:`ExtractionError` saying what
is wrong with the file in words a person can act on. The parsers are imported lazily: ``agentcrdt
--help`` must not pay for them. Text is normalized the same way for every format (see :func:`normalize`)
so that the content hash of a version depends only on its text.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

from agentcrdt.errors import UsageError

__all__ = ["MIME_TYPES", "SUPPORTED", "ExtractionError", "extract", "normalize"]

MIME_TYPES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
SUPPORTED = tuple(MIME_TYPES)
_MAX_UNZIPPED = 256 * 1024 * 1024  # a .docx inflating past this is a zip bomb, not a contract
_ALLOWED_CONTROLS = frozenset("\t\n\f")


class ExtractionError(UsageError):
    """A file's content cannot be turned into text; the message says why."""


def normalize(text: str) -> str:
    """Drop a BOM, turn CRLF and CR into LF and replace lone surrogates, so equal texts hash equally."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    # Parsers can hand back lone surrogates; they cannot be encoded as UTF-8 (nor signed).
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _plain(data: bytes) -> str:
    if b"\x00" in data:
        raise ExtractionError("binary data (NUL bytes), not a text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        where = f"invalid byte at offset {e.start}"
        raise ExtractionError(f"not UTF-8 text ({where}); re-save it as UTF-8") from e
    controls = sum(1 for c in text if c < " " and c not in _ALLOWED_CONTROLS and c != "\r")
    if controls * 20 > max(len(text), 1):
        raise ExtractionError("binary data (mostly control characters), not a text file")
    return text


def _pdf(data: bytes) -> str:
    if b"%PDF-" not in data[:1024]:
        raise ExtractionError("not a PDF file (no %PDF- header)")
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError("the PDF is encrypted with a password; decrypt it first")
        pages = [page.extract_text() or "" for page in reader.pages]
    except ExtractionError:
        raise
    except Exception as e:  # pypdf raises many types on damaged input; any of them means "unreadable"
        raise ExtractionError(f"damaged or unsupported PDF ({type(e).__name__}: {e})") from e
    text = "\n\n".join(p.strip("\n") for p in pages).replace("\x00", "")
    if not text.strip():
        raise ExtractionError("the PDF has no text layer (a scan? run OCR on it first)")
    return text


def _docx(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if sum(i.file_size for i in z.infolist()) > _MAX_UNZIPPED:
                raise ExtractionError("the .docx inflates to more than 256 MB; refusing it")
            if "word/document.xml" not in z.namelist():
                raise ExtractionError("not a Word document (a zip file without word/document.xml)")
    except zipfile.BadZipFile as e:
        raise ExtractionError("not a .docx file (not a zip archive)") from e
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    cells: list[str] = []
                    for cell in row.cells:
                        if not cells or cell.text != cells[-1]:  # merged cells repeat their text
                            cells.append(cell.text)
                    blocks.append(" | ".join(cells))
            else:
                blocks.append(block.text)
    except Exception as e:  # python-docx/lxml raise many types on damaged input
        raise ExtractionError(f"damaged or unsupported .docx ({type(e).__name__}: {e})") from e
    return "\n".join(blocks).replace("\x00", "")


_EXTRACTORS: dict[str, Callable[[bytes], str]] = {
    ".txt": _plain,
    ".md": _plain,
    ".markdown": _plain,
    ".pdf": _pdf,
    ".docx": _docx,
}


def extract(path: Path, data: bytes) -> str:
    """Return the normalized text of a file's bytes, chosen by the file's extension."""
    extractor = _EXTRACTORS.get(path.suffix.lower())
    if extractor is None:
        raise ExtractionError(
            f"unsupported file type {path.suffix or '(none)'!r}; supported: {', '.join(SUPPORTED)}"
        )
    return normalize(extractor(data))
