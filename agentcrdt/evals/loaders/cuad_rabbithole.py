"""Rooms for exploration built from CUAD: several real contracts per room, each with an amendment the
planted-contradiction generator wrote for it, and a duplicate of one contract.

Per contract (a digest of its file name chooses): a ``planted`` amendment (restates the governing law or
the renewal term with a different value: a contradiction, quoted in the contract's own clause and the
amendment's sentence) or a ``same`` control (restates the same value: nothing to find). Every amendment
names its contract (an expected ``amends`` link); the copy of the room's first contract is an expected
``duplicates`` link, and a contradiction with the original is one with the copy too. A notice letter
between the parties of the second contract, citing no agreement, is an expected connection to that
contract and its amendment (shared parties). The job starts from the amendments, the copy and the
letter (the documents under review) and goes ``depth`` 1: to what they are
about. Options: ``split`` (``all``/``tune``/``holdout``), ``rooms``, ``contracts`` (per room), ``depth``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from agentcrdt.dataroom.domain import slug
from agentcrdt.errors import UsageError
from agentcrdt.evals.loaders import Loaded, digest_files, register
from agentcrdt.evals.loaders.cuad import CSV_NAME, SPLITS, answer_column, clause_spans, read_rows, split_of
from agentcrdt.evals.loaders.cuad_planted import (
    PLANTABLE,
    _party_names,
    _planted_value,
    _renewal_mode,
    _restate,
    amendment_for,
)
from agentcrdt.evals.suite import (
    Case,
    CaseInputs,
    ConnectionExpectation,
    ContradictionExpectation,
    DocumentInput,
    Expected,
    ExplorationJob,
    LinkExpectation,
    Side,
)

__all__ = ["load_rooms"]


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest()[:8], "big")


def _letter(sender: str, to: str, key: str) -> str:
    """A short notice from ``sender`` to ``to`` that cites no agreement (a date chosen by ``key``)."""
    dated = date(2022, 1, 1) + timedelta(days=_digest(key, "letter") % 365)
    return (
        f"NOTICE OF CHANGE OF ADDRESS\n\n{dated:%B} {dated.day}, {dated.year}\n\n"
        f"From: {sender}\nTo: {to}\n\n"
        f"Dear Sirs,\n\n{sender} hereby gives notice to {to} that, from the date of this letter, its "
        "address for all notices and correspondence is 1200 Harbor Boulevard, Suite 400.\n\n"
        f"Yours faithfully,\n\n{sender}\n\nBy: ______________________\n"
    )


@register("cuad-rabbithole")
def load_rooms(data: Path, options: Mapping[str, Any]) -> Loaded:
    """Return one case per room of CUAD contracts with their amendments and a duplicate."""
    unknown = set(options) - {"split", "rooms", "contracts", "depth"}
    if unknown:
        raise UsageError(
            f"cuad-rabbithole takes the options split, rooms, contracts and depth; unknown: {sorted(unknown)}"
        )
    split = options.get("split", "all")
    if split not in SPLITS:
        raise UsageError(f"cuad-rabbithole split must be one of {', '.join(SPLITS)}; got {split!r}")
    rooms, per_room, depth = options.get("rooms", 8), options.get("contracts", 5), options.get("depth", 1)
    for name, value in (("rooms", rooms), ("contracts", per_room)):
        if not isinstance(value, int) or value < 1:
            raise UsageError(f"cuad-rabbithole {name} must be a positive integer; got {value!r}")
    rows, columns = read_rows(data)
    parties_col, title_col = answer_column(columns, "Parties"), answer_column(columns, "Document Name")
    plantable: list[tuple[dict[str, str], str, str, list[str], str, tuple[str, str], list[str]]] = []
    for row in rows:
        filename = row["Filename"]
        if split != "all" and split_of(filename) != split:
            continue
        parties, title = _party_names(row[parties_col]), " ".join(row[title_col].split())
        path = data / "contracts" / filename
        if len(parties) < 2 or not title or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if not all(p.lower() in text.lower() for p in parties):
            continue
        for field in sorted(PLANTABLE, key=lambda f: _digest(filename, f)):
            spans = [s for s in clause_spans(row[PLANTABLE[field]]) if s and s in text]
            value = _planted_value(field, row[answer_column(columns, PLANTABLE[field])], filename)
            if spans and value is not None:
                plantable.append((row, filename, title, parties, field, value, spans))
                break
        if len(plantable) >= rooms * per_room:
            break
    cases: list[Case] = []
    used = [data / CSV_NAME]
    for r in range(rooms):
        group = plantable[r * per_room : (r + 1) * per_room]
        if len(group) < 2:
            break
        documents: list[DocumentInput] = []
        links: list[LinkExpectation] = []
        contradictions: list[ContradictionExpectation] = []
        starts: list[str] = []
        for _row, filename, title, parties, field, (own, other), spans in group:
            path = data / "contracts" / filename
            used.append(path)
            contract = slug(Path(filename).stem)
            variant = "planted" if _digest(filename, "variant") % 2 == 0 else "same"
            sentence = _restate(field, other if variant == "planted" else own, _renewal_mode(spans))
            dated = date(2021, 1, 1) + timedelta(days=_digest(filename, field) % 365)
            name = f"{Path(filename).stem[:80]} - Amendment No. 1.txt"
            amendment = slug(Path(name).stem)
            documents.append(DocumentInput(name=filename, path=str(path)))
            documents.append(
                DocumentInput(name=name, text=amendment_for(title, list(parties), dated, sentence))
            )
            links.append(LinkExpectation(source=amendment, relation="amends", target=contract))
            starts.append(amendment)
            if variant == "planted":
                contradictions.append(
                    ContradictionExpectation(
                        id=f"{contract}:{field}",
                        a=[Side(document=contract, quote=s) for s in spans],
                        b=[Side(document=amendment, quote=sentence)],
                    )
                )
        # A letter between the parties of the second contract that names neither it nor its title: a
        # connection only the shared parties make (to the contract and to its amendment).
        second, (party_a, party_b) = group[1][1], group[1][3][:2]
        letter_name = f"{Path(second).stem[:60]} - notice letter.txt"
        letter = slug(Path(letter_name).stem)
        documents.append(DocumentInput(name=letter_name, text=_letter(party_a, party_b, second)))
        connections = [
            ConnectionExpectation(a=letter, b=slug(Path(second).stem), why=f"parties {party_a}, {party_b}"),
            ConnectionExpectation(
                a=letter,
                b=slug(f"{Path(second).stem[:80]} - Amendment No. 1"),
                why=f"parties {party_a}, {party_b}",
            ),
        ]
        starts.append(letter)
        first = group[0][1]
        copy_name = f"{Path(first).stem[:80]} (copy).txt"
        copy_text = (data / "contracts" / first).read_text(encoding="utf-8")
        documents.append(DocumentInput(name=copy_name, text=copy_text))
        copy = slug(Path(copy_name).stem)
        original = slug(Path(first).stem)
        for c in contradictions:  # the copy is the same contract: its clause contradicts the amendment too
            if any(side.document == original for side in c.a):
                c.a.extend(Side(document=copy, quote=side.quote) for side in list(c.a))
        links.append(
            LinkExpectation(source=copy, relation="duplicates", target=slug(Path(first).stem), symmetric=True)
        )
        starts.append(copy)
        cases.append(
            Case(
                name=f"room-{r + 1:02d}-{hashlib.sha256(first.encode()).hexdigest()[:6]}",
                inputs=CaseInputs(documents=documents, job=ExplorationJob(start=starts, depth=depth)),
                expected_output=Expected(links=links, connections=connections, contradictions=contradictions),
                metadata={"split": split, "contracts": [g[1] for g in group]},
            )
        )
    return Loaded(cases, digest_files(used))
