"""The task vocabulary: output types validate, carry their task name and instructions; quotes check."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agentcrdt.llm.tasks import (
    TASKS,
    Classification,
    ContradictionFinding,
    Contradictions,
    Extraction,
    Link,
    Links,
    Quote,
    Summary,
    check_quote,
    task_of,
)

DOC = "The fee is $100. The fee is $100. Governed by Delaware law."


def test_every_task_has_an_output_and_an_input_type() -> None:
    assert set(TASKS) == {"classify", "extract", "summarize", "link", "compare", "verify", "reflect", "theme"}
    for name, (output_type, context_type) in TASKS.items():
        assert task_of(output_type) == name
        assert getattr(context_type, "task") == name  # noqa: B009


def test_schemas_carry_instructions_for_real_models() -> None:
    schema = Extraction.model_json_schema()
    field = schema["$defs"]["ExtractedField"]["properties"]["value"]["description"]
    assert "YYYY-MM-DD" in field and "P30D" in field and "USD 1000000" in field
    assert "EXACT substring" in schema["$defs"]["Quote"]["properties"]["text"]["description"]
    assert "task" not in schema["properties"]  # a ClassVar, not a field the model must write


def test_outputs_validate_and_reject_garbage() -> None:
    q = {"text": "fee", "start": 4, "end": 7}
    Classification(kind="nda", tags=["x"], confidence=0.5, rationale="r", evidence=[Quote(**q)])
    Summary(summary="s", key_points=[], confidence=1, evidence=[])
    Links(links=[Link(target_id="d", relation="amends", confidence=0.9, rationale="r")])
    Contradictions(
        findings=[
            ContradictionFinding(
                field_or_claim="f", value_a="1", value_b="2", doc_a="a", doc_b="b", quote_a=Quote(**q),
                quote_b=Quote(**q), severity="high", confidence=0.5, rationale="r",
            )
        ]
    )  # fmt: skip
    with pytest.raises(ValidationError):
        Classification(kind="nda", confidence=1.5, rationale="r")
    with pytest.raises(ValidationError):
        Link(target_id="d", relation="cites", confidence=0.5, rationale="r")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Quote(text="fee", start=7, end=4)
    with pytest.raises(ValidationError):
        Summary.model_validate({"summary": "s", "confidence": 0.5, "extra": 1})


def test_check_quote_accepts_repairs_or_rejects() -> None:
    good = Quote(text="fee is $100", start=4, end=15)
    assert DOC[good.start : good.end] == good.text
    assert check_quote(DOC, good) is good
    moved = check_quote(DOC, Quote(text="fee is $100", start=20, end=31))  # nearest occurrence wins
    assert moved is not None and (moved.start, moved.end) == (21, 32) and DOC[21:32] == moved.text
    assert check_quote(DOC, Quote(text="fee is $200", start=4, end=15)) is None
