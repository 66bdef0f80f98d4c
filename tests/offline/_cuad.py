"""Governing-law and date extraction scored against CUAD's normalized answers (read in place)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from agentcrdt.llm.offline import OfflineModel
from agentcrdt.llm.tasks import Extraction

CUAD = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cuad"
DATE_FIELDS = {
    "agreement_date": "Agreement Date-Answer",
    "effective_date": "Effective Date-Answer",
    "expiration_date": "Expiration Date-Answer",
}


def cuad_available() -> bool:
    return (CUAD / "master_clauses_dev.csv").is_file() and (CUAD / "contracts").is_dir()


def us_date(answer: str) -> str | None:
    """CUAD writes dates m/d/yy; return ISO, or None for non-dates ('perpetual', blanks)."""
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})", answer.strip())
    if not m:
        return None
    y = int(m[3]) + (0 if len(m[3]) == 4 else 2000 if int(m[3]) < 50 else 1900)
    try:
        return date(y, int(m[1]), int(m[2])).isoformat()
    except ValueError:
        return None


def law_matches(predicted: str, answer: str) -> bool:
    """Right when the predicted jurisdiction is one of the answer's places ('Ontario, Canada' → Ontario)."""
    places = [p.strip().lower() for part in answer.split(";") for p in part.split(",")[:1]]
    return predicted.lower() in places or any(p in predicted.lower() for p in places if p)


@dataclass
class Score:
    right: int = 0
    total: int = 0
    confidences: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0


def evaluate(model: OfflineModel, n: int) -> dict[str, Score]:
    """Extract governing law and dates from the first ``n`` contracts; exact quotes are asserted."""
    with open(CUAD / "master_clauses_dev.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:n]
    scores = {name: Score() for name in ["governing_law", *DATE_FIELDS]}
    fields = [{"name": name} for name in scores]
    for row in rows:
        text = (CUAD / "contracts" / row["Filename"]).read_text(encoding="utf-8", errors="replace")
        out = model.run("extract", {"document": {"id": row["Filename"], "text": text}, "fields": fields})
        assert isinstance(out, Extraction)
        got = {f.name: f for f in out.fields}
        for f in out.fields:
            assert text[f.quote.start : f.quote.end] == f.quote.text
        expected: dict[str, str | None] = {n: us_date(row[c]) for n, c in DATE_FIELDS.items()}
        law = row["Governing Law-Answer"].strip()
        for name, answer in [("governing_law", law or None), *expected.items()]:
            if answer is None:
                continue
            pred = got.get(name)
            ok = pred is not None and (
                law_matches(pred.value, answer) if name == "governing_law" else pred.value == answer
            )
            scores[name].total += 1
            scores[name].right += ok
            if pred is not None:
                scores[name].confidences.append((pred.confidence, ok))
    return scores


def report(label: str, scores: dict[str, Score]) -> str:
    return f"{label}: " + ", ".join(f"{k} {s.right}/{s.total} = {s.accuracy:.1%}" for k, s in scores.items())
