"""Planted contradictions built from CUAD: each case is a real contract and an amendment written for it.

A deterministic generator (no randomness beyond a digest of the file name) writes, for each CUAD
contract whose gold answer for a planted field is known and whose gold clause occurs verbatim in the
text, one amendment per variant:

``planted``
    restates the field ("... is not modified by this Amendment; the Agreement is governed by the laws
    of the State of Texas") with a *different* value: one contradiction, between the contract's gold
    clause and the amendment's sentence.
``same``
    restates the field with the same value: a clean control, nothing to find.
``changed``
    replaces the field ("Section 12 is deleted and replaced with...") with a different value: the
    amendment changes the term, which is an amendment, not a contradiction; a hard control.
``unrelated``
    changes something else (the notice address): a clean control.

Every amendment names the contract ("amends the Distributor Agreement dated ... between A and B"), so
a link ``amends`` from the amendment to the contract is expected in every case. Options: ``split``
(``all``/``tune``/``holdout``, the halves of ``cuad-fields``), ``fields`` (of :data:`PLANTABLE`),
``variants`` (of :data:`VARIANTS`) and ``contracts`` (at most this many contracts, in file order).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from agentcrdt.dataroom.domain import slug
from agentcrdt.errors import UsageError
from agentcrdt.evals.loaders import Loaded, digest_files, register
from agentcrdt.evals.loaders.cuad import CSV_NAME, SPLITS, answer_column, clause_spans, read_rows, split_of
from agentcrdt.evals.normalize import duration, jurisdiction
from agentcrdt.evals.suite import (
    Case,
    CaseInputs,
    ContradictionExpectation,
    DocumentInput,
    Expected,
    LinkExpectation,
    Side,
)
from agentcrdt.llm.offline.normalize import jurisdictions_agree

__all__ = ["PLANTABLE", "VARIANTS", "amendment_for"]

VARIANTS = ("planted", "same", "changed", "unrelated")
#: Planted field -> the CUAD category whose answer and clause give the contract's own value.
PLANTABLE = {"governing_law": "Governing Law", "renewal": "Renewal Term"}
_LAWS = (
    "Delaware", "New York", "California", "Texas", "Illinois", "Florida", "Massachusetts",
    "Washington", "Georgia", "Colorado", "Nevada", "Ontario", "England and Wales",
)  # fmt: skip
_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 10: "ten", 12: "twelve"}


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest()[:8], "big")


def _law_text(law: str) -> str:
    if law in ("Ontario", "England and Wales") or "," in law or "Republic" in law:
        return f"the laws of {law}"
    return f"the laws of the State of {law}"


def _other_law(law: str, key: str) -> str:
    # Never a place the contract's own law contains or is inside of ("Nevada" against "United States"):
    # that restates the law in more detail, it does not contradict it.
    choices = [x for x in _LAWS if not jurisdictions_agree(jurisdiction(x), jurisdiction(law))]
    return choices[_digest(key, "law") % len(choices)]


def _renewal_iso(answer: str) -> str | None:
    # CUAD writes "successive 1 year", "1 year", "12 months"; "perpetual" or nothing cannot be planted.
    iso = duration(answer)
    return iso if re.fullmatch(r"P\d+[YMD]", iso) else None


def _renewal_text(iso: str) -> str:
    n, unit = int(iso[1:-1]), {"Y": "year", "M": "month", "D": "day"}[iso[-1]]
    words = _WORDS.get(n, str(n))
    return f"{words} ({n}) {unit}{'s' if n > 1 else ''}"


def _other_renewal(iso: str, key: str) -> str:
    choices = [x for x in ("P1Y", "P2Y", "P3Y", "P5Y", "P6M") if x != iso]
    return choices[_digest(key, "renewal") % len(choices)]


def _renewal_mode(spans: list[str]) -> str:
    """How the contract renews, as its own clause says: automatically, or at a party's option."""
    text = " ".join(spans)
    if re.search(r"\bautomatic", text, re.I):
        return "auto"
    if re.search(
        r"\boption\b|\bmay\b[^.]{0,40}\b(renew|extend)|\brenewable\b|\bmutual\w*\b|\belect", text, re.I
    ):
        return "option"
    return "auto"


def _renewal_clause(value: str, mode: str) -> str:
    if mode == "option":
        return f"the Agreement may be renewed for successive renewal terms of {_renewal_text(value)} each"
    return (
        "upon expiration of the then-current term, the Agreement renews automatically for successive "
        f"renewal terms of {_renewal_text(value)} each"
    )


def _restate(field: str, value: str, mode: str = "auto") -> str:
    if field == "governing_law":
        return (
            "The parties confirm that the governing law provision of the Agreement is not modified by "
            "this Amendment: the Agreement is governed by and construed in accordance with "
            f"{_law_text(value)}."
        )
    return (
        "The parties confirm that the renewal provision of the Agreement is not modified by this "
        f"Amendment: {_renewal_clause(value, mode)}."
    )


def _replace(field: str, value: str, mode: str = "auto") -> str:
    if field == "governing_law":
        return (
            "The governing law section of the Agreement is hereby deleted and replaced with the following: "
            f'"This Agreement shall be governed by and construed in accordance with {_law_text(value)}."'
        )
    clause = _renewal_clause(value, mode).replace("the Agreement", "this Agreement")
    return (
        "The renewal section of the Agreement is hereby deleted and replaced with the following: "
        f'"{clause[0].upper()}{clause[1:]}."'
    )


_UNRELATED = (
    "Notices to the parties under the Agreement shall from the date of this Amendment be sent to the "
    "addresses set forth on the signature page of this Amendment."
)


def _party_names(answer: str) -> list[str]:
    names = []
    for entry in answer.split(";"):
        name = re.sub(r"\([^)]*\)|“[^”]*”|\"[^\"]*\"", " ", entry)
        name = " ".join(name.split()).strip(" ,;.")
        if name and re.search(r"[A-Za-z]{2}", name) and "[" not in name and name not in names:
            names.append(name)
    return names[:2]


def amendment_for(title: str, parties: list[str], dated: date, sentence: str) -> str:
    """The text of an amendment to the contract ``title`` between ``parties`` carrying ``sentence``."""
    a, b = parties
    return (
        f"AMENDMENT NO. 1 TO {title.upper()}\n\n"
        f'This Amendment No. 1 (this "Amendment") is made as of {dated:%B} {dated.day}, {dated.year}, by and '
        f'between {a} and {b}, and amends the {title} between {a} and {b} (the "Agreement").\n\n'
        "WHEREAS, the parties wish to amend the Agreement as set forth below;\n\n"
        "NOW, THEREFORE, the parties agree as follows:\n\n"
        f"1. {sentence}\n\n"
        "2. Except as expressly set forth in this Amendment, the Agreement remains in full force and effect. "
        "Capitalized terms used and not defined in this Amendment have the meanings given in the "
        "Agreement.\n\n"
        "IN WITNESS WHEREOF, the parties have executed this Amendment as of the date first written above.\n\n"
        f"{a}\n\nBy: ______________________\n\n{b}\n\nBy: ______________________\n"
    )


def _planted_value(field: str, answer: str, key: str) -> tuple[str, str] | None:
    """The contract's own value of ``field`` (from CUAD's answer) and a different one to plant."""
    if field == "governing_law":
        law = answer.split(",")[0].strip() if answer.strip() else ""
        return (law, _other_law(law, key)) if law else None
    iso = _renewal_iso(answer)
    return (iso, _other_renewal(iso, key)) if iso else None


@register("cuad-planted")
def load_planted(data: Path, options: Mapping[str, Any]) -> Loaded:
    """Return the planted-contradiction cases built from the CUAD contracts in ``data``."""
    unknown = set(options) - {"split", "fields", "variants", "contracts"}
    if unknown:
        raise UsageError(
            "cuad-planted takes the options split, fields, variants and contracts; "
            f"unknown: {sorted(unknown)}"
        )
    split = options.get("split", "all")
    if split not in SPLITS:
        raise UsageError(f"cuad-planted split must be one of {', '.join(SPLITS)}; got {split!r}")
    fields = list(options.get("fields") or PLANTABLE)
    variants = list(options.get("variants") or VARIANTS)
    bad = [f for f in fields if f not in PLANTABLE] + [v for v in variants if v not in VARIANTS]
    if bad:
        raise UsageError(
            f"cuad-planted: unknown {bad}; fields are {', '.join(PLANTABLE)}, variants {', '.join(VARIANTS)}"
        )
    limit = options.get("contracts")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise UsageError(f"cuad-planted contracts must be a positive integer; got {limit!r}")
    rows, columns = read_rows(data)
    parties_col = answer_column(columns, "Parties")
    title_col = answer_column(columns, "Document Name")
    cases: list[Case] = []
    used = [data / CSV_NAME]
    taken = 0
    for row in rows:
        filename = row["Filename"]
        if split != "all" and split_of(filename) != split:
            continue
        parties, title = _party_names(row[parties_col]), " ".join(row[title_col].split())
        if len(parties) < 2 or not title or (limit is not None and taken >= limit):
            continue
        path = data / "contracts" / filename
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        if not all(p.lower() in text.lower() for p in parties):
            continue  # an amendment names the parties as the contract does (CUAD's answers have typos)
        made = _cases_for(row, columns, filename, path, text, title, parties, fields, variants)
        if made:
            used.append(path)
            cases.extend(made)
            taken += 1
    return Loaded(cases, digest_files(used))


def _cases_for(
    row: Mapping[str, str],
    columns: list[str],
    filename: str,
    path: Path,
    text: str,
    title: str,
    parties: list[str],
    fields: list[str],
    variants: list[str],
) -> list[Case]:
    contract = slug(Path(filename).stem)
    out: list[Case] = []
    for field in fields:
        category = PLANTABLE[field]
        spans = [s for s in clause_spans(row[category]) if s and s in text]
        value = _planted_value(field, row[answer_column(columns, category)], filename)
        if not spans or value is None:
            continue  # the contract's own clause must be quotable for the contradiction to be checkable
        own, other = value
        # The controls restate the term as the contract words it (automatic or optional renewal): a
        # "same" amendment that turned an option into an automatic renewal would be a real conflict.
        mode = _renewal_mode(spans)
        dated = date(2021, 1, 1) + timedelta(days=_digest(filename, field) % 365)
        for variant in variants:
            if variant == "unrelated" and any(c.metadata["variant"] == "unrelated" for c in out):
                continue  # one unrelated amendment per contract, whatever the fields
            sentence = {
                "planted": _restate(field, other, mode),
                "same": _restate(field, own, mode),
                "changed": _replace(field, other, mode),
                "unrelated": _UNRELATED,
            }[variant]
            # Slugs of long file names share prefixes: the digest keeps case names apart.
            stem = f"{contract[:64]}-{hashlib.sha256(filename.encode()).hexdigest()[:6]}"
            name = f"{stem}-{variant}" if variant == "unrelated" else f"{stem}-{field}-{variant}"
            amendment_name = f"{Path(filename).stem[:80]} - Amendment No. 1 ({field}, {variant}).txt"
            amendment = slug(Path(amendment_name).stem)
            contradictions = []
            if variant == "planted":
                contradictions.append(
                    ContradictionExpectation(
                        id=f"{contract}:{field}",
                        a=[Side(document=contract, quote=s) for s in spans],
                        b=[Side(document=amendment, quote=sentence)],
                    )
                )
            out.append(
                Case(
                    name=name,
                    inputs=CaseInputs(
                        documents=[
                            DocumentInput(name=filename, path=str(path)),
                            DocumentInput(
                                name=amendment_name, text=amendment_for(title, parties, dated, sentence)
                            ),
                        ]
                    ),
                    expected_output=Expected(
                        links=[LinkExpectation(source=amendment, relation="amends", target=contract)],
                        contradictions=contradictions,
                    ),
                    metadata={
                        "filename": filename,
                        "split": split_of(filename),
                        "field": field,
                        "variant": variant,
                        "own": own,
                        "planted": other if variant in ("planted", "changed") else own,
                    },
                )
            )
    return out
