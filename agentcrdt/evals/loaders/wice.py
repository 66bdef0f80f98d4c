"""WiCE (Kamoi et al. 2023; text CC BY-SA, annotations ODC-BY): one case per claim of ``claims_dev.jsonl``.

Each case is a room with two documents: ``source.txt``, the cited page as WiCE gives it (its evidence
sentences, one per line, so a quote of a sentence occurs verbatim and line ``i`` is sentence ``i``), and
``claim.txt``, the claim. Expected: the claim's label (``supported``, ``partially_supported``,
``not_supported``) and its gold supporting sentences, WiCE's alternative sets of sentence indices (each
set supports the claim, or its supported part, on its own).

Options: ``split``: ``all``, or ``tune`` / ``holdout``, a fixed half of the claims each, chosen by a
digest of the claim text, so the offline verifier can be tuned on one half and reported on the other,
and any other copy of the file (``--data DIR``) splits the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentcrdt.errors import UsageError
from agentcrdt.evals.loaders import DataMissing, Loaded, register
from agentcrdt.evals.suite import VERDICTS, Case, CaseInputs, DocumentInput, Expected, VerdictExpectation

__all__ = ["CLAIM", "FILE", "SOURCE", "load", "split_of"]

FILE = "claims_dev.jsonl"
SPLITS = ("all", "tune", "holdout")
#: The documents of a case (file names; their stems are the document ids the expectation names).
SOURCE, CLAIM = "source.txt", "claim.txt"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def split_of(claim: str) -> str:
    """Return ``tune`` or ``holdout`` for a claim (a fixed half each, by a digest of its text)."""
    return "tune" if hashlib.sha256(claim.encode()).digest()[0] % 2 == 0 else "holdout"


def _row(path: Path, n: int, line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataMissing(f"{path}:{n}: not a JSON object ({e.msg}); is this WiCE's {FILE}?") from e
    missing = {"claim", "evidence", "supporting_sentences", "label"} - set(
        row if isinstance(row, dict) else ()
    )
    if missing:
        raise DataMissing(f"{path}:{n}: a WiCE claim needs {sorted(missing)}; is this WiCE's {FILE}?")
    if row["label"] not in VERDICTS:
        raise DataMissing(f"{path}:{n}: label {row['label']!r} is not one of {', '.join(VERDICTS)}")
    out: dict[str, Any] = row
    return out


def _name(row: Mapping[str, Any], claim: str) -> str:
    meta = row.get("meta")
    given = meta.get("id") if isinstance(meta, Mapping) else None
    if isinstance(given, str) and _NAME.fullmatch(given):
        return given
    return "wice-" + hashlib.sha256(claim.encode()).hexdigest()[:16]


def _case(row: Mapping[str, Any], name: str) -> Case:
    claim = str(row["claim"])
    # One sentence per line: a sentence holding a line break would shift every later line number.
    lines = [" ".join(str(s).split("\n")) for s in row["evidence"]]
    gold = [sorted({int(i) for i in alt}) for alt in row["supporting_sentences"] if alt]
    given = row.get("meta")
    meta: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    return Case(
        name=name,
        inputs=CaseInputs(
            documents=[
                DocumentInput(name=SOURCE, text="\n".join(lines)),
                DocumentInput(name=CLAIM, text=claim),
            ]
        ),
        expected_output=Expected(
            verdicts=[
                VerdictExpectation(
                    claim=Path(CLAIM).stem, source=Path(SOURCE).stem, label=row["label"], evidence=gold
                )
            ]
        ),
        metadata={"split": split_of(claim), "title": meta.get("claim_title")},
    )


@register("wice")
def load(data: Path, options: Mapping[str, Any]) -> Loaded:
    """Return one case per claim of ``split``, in file order."""
    unknown = set(options) - {"split"}
    if unknown:
        raise UsageError(f"the wice loader takes the option split; unknown: {sorted(unknown)}")
    split = options.get("split", "all")
    if split not in SPLITS:
        raise UsageError(f"wice split must be one of {', '.join(SPLITS)}; got {split!r}")
    path = data / FILE
    if not path.is_file():
        raise DataMissing(f"WiCE is not at {data}: it needs {FILE} (see ../shared/datasets/README.md)")
    cases, seen = [], set()
    # The version is a digest of the claims read, so the two halves (and the whole) never pass for one.
    version = hashlib.sha256(path.name.encode() + b"\0")
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = _row(path, n, line)
        claim = str(row["claim"])
        if split != "all" and split_of(claim) != split:
            continue
        name = _name(row, claim)
        if name in seen:
            name = f"{name[:180]}-{hashlib.sha256(claim.encode()).hexdigest()[:8]}"
        seen.add(name)
        cases.append(_case(row, name))
        version.update(hashlib.sha256(line.encode()).digest())
    return Loaded(cases, "sha256:" + version.hexdigest())
