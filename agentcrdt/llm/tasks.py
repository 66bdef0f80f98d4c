"""The task vocabulary: typed outputs every model (real or offline) produces for the dataroom agents.

Each output type names its task in ``task`` (``classify``, ``extract``, ``summarize``, ``link``,
``compare``, ``verify``, ``reflect``, ``theme``) and has a matching input type (``ClassifyContext``…)
holding the same inputs the rendered prompt shows a real model, in structured form. The runtime
passes that input as ``model.request(messages, OutputType, context=ctx.model_dump())``: real
adapters read the prompt and ignore it, the offline model reads only it. Docstrings and field
descriptions here end up in the JSON schema sent to real models, so they are written as instructions.

Evidence is always a :class:`Quote`: an exact substring of one document with its offsets. Use
:func:`check_quote` to verify or repair one before it goes into a proposal.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "TASKS",
    "Citation",
    "Classification",
    "ClassifyContext",
    "CompareContext",
    "ContradictionFinding",
    "Contradictions",
    "DocumentInput",
    "ExplorationFinding",
    "ExtractContext",
    "ExtractedField",
    "Extraction",
    "Fact",
    "FieldSpec",
    "LabelSpec",
    "Link",
    "LinkContext",
    "Links",
    "Mention",
    "Quote",
    "ReflectContext",
    "Reflection",
    "SummarizeContext",
    "Summary",
    "TaskContext",
    "TaskOutput",
    "ThemeContext",
    "ThemeSummary",
    "Verdict",
    "Verification",
    "VerifyContext",
    "check_quote",
    "task_of",
]

Confidence = float
_CONF = "How sure you are, from 0 (a guess) to 1 (stated verbatim, unambiguous)."


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Quote(_Out):
    """An exact quotation from the document: ``text`` copied character for character, with its offsets."""

    text: str = Field(min_length=1, description="An EXACT substring of the document; do not paraphrase.")
    start: int = Field(ge=0, description="Character offset where the quote starts in the document.")
    end: int = Field(ge=0, description="Character offset just after the quote (document[start:end] == text).")

    @model_validator(mode="after")
    def _ordered(self) -> Quote:
        if self.end < self.start:
            raise ValueError("end must be >= start")
        return self


def check_quote(document: str, quote: Quote) -> Quote | None:
    """Return ``quote`` if ``document[start:end] == text``, a copy with repaired offsets if the exact text
    occurs elsewhere (the occurrence nearest the claimed start), or None if the text is not in the document.
    """
    if document[quote.start : quote.end] == quote.text:
        return quote
    hits: list[int] = []
    i = document.find(quote.text)
    while i >= 0 and len(hits) < 1000:
        hits.append(i)
        i = document.find(quote.text, i + 1)
    if not hits:
        return None
    best = min(hits, key=lambda h: (abs(h - quote.start), h))
    return Quote(text=quote.text, start=best, end=best + len(quote.text))


# -- outputs ------------------------------------------------------------------------------------------


class Classification(_Out):
    """Classify the document: choose its kind from the given kinds and every clause-type tag that applies.

    Only use labels from the lists you are given. Support the choice with exact quotes from the document.
    """

    task: ClassVar[str] = "classify"

    kind: str = Field(description="Exactly one of the given document kinds.")
    tags: list[str] = Field(
        default_factory=list, description="The given clause-type tags the document contains (may be empty)."
    )
    confidence: Confidence = Field(ge=0, le=1, description=_CONF)
    rationale: str = Field(description="One or two sentences: why this kind and these tags.")
    evidence: list[Quote] = Field(default_factory=list, description="Exact quotes that support the labels.")


class ExtractedField(_Out):
    """One field value found in the document, normalized, with the exact quote it comes from."""

    name: str = Field(description="The field's name, exactly as given in the field list.")
    value: str = Field(
        description=(
            "The normalized value: dates as ISO YYYY-MM-DD; durations as ISO 8601 (P2Y, P6M, P30D); money as "
            "'<ISO currency> <amount>' without separators (USD 1000000); governing law as the jurisdiction "
            "name (Delaware, New York, England and Wales); parties as names separated by '; '."
        )
    )
    quote: Quote = Field(description="The exact passage that states the value.")
    confidence: Confidence = Field(ge=0, le=1, description=_CONF)


class Extraction(_Out):
    """Extract the requested fields from the document. Omit a field the document does not state."""

    task: ClassVar[str] = "extract"

    fields: list[ExtractedField] = Field(default_factory=list)


class Summary(_Out):
    """Summarize the document in a few sentences for a due-diligence reviewer, grounded in quotes."""

    task: ClassVar[str] = "summarize"

    summary: str = Field(description="A short summary (at most about five sentences).")
    key_points: list[str] = Field(
        default_factory=list, description="The main obligations, dates and amounts."
    )
    confidence: Confidence = Field(ge=0, le=1, description=_CONF)
    evidence: list[Quote] = Field(default_factory=list, description="Exact quotes the summary rests on.")


Relation = Literal["amends", "references", "duplicates", "related"]


class Link(_Out):
    """A typed relation from the document to one candidate document."""

    target_id: str = Field(description="The id of the candidate document, exactly as given.")
    relation: Relation = Field(
        description=(
            "amends: the document amends, supplements or modifies the target; references: it names the "
            "target; duplicates: the same text (near-identical); related: same subject or parties."
        )
    )
    confidence: Confidence = Field(ge=0, le=1, description=_CONF)
    rationale: str = Field(description="One sentence: why the relation holds.")
    evidence: list[Quote] = Field(default_factory=list, description="Exact quotes from the document.")


class Links(_Out):
    """Link the document to the candidate documents it relates to; leave out unrelated candidates."""

    task: ClassVar[str] = "link"

    links: list[Link] = Field(default_factory=list)


class ContradictionFinding(_Out):
    """The same field or claim stated with different values in two documents (or two versions)."""

    field_or_claim: str = Field(description="The field name or a short statement of the claim.")
    value_a: str = Field(description="The (normalized) value stated in doc_a.")
    value_b: str = Field(description="The (normalized) value stated in doc_b.")
    doc_a: str = Field(description="Id of the first document.")
    doc_b: str = Field(description="Id of the second document.")
    quote_a: Quote = Field(description="Exact quote from doc_a stating value_a.")
    quote_b: Quote = Field(description="Exact quote from doc_b stating value_b.")
    severity: Literal["low", "medium", "high"] = Field(
        description="high: money, governing law, parties or term; medium: dates and notice; low: the rest."
    )
    confidence: Confidence = Field(ge=0, le=1, description=_CONF)
    rationale: str = Field(description="One sentence: why these values conflict.")


class Contradictions(_Out):
    """Report every field or claim stated differently across the given documents; none if they agree."""

    task: ClassVar[str] = "compare"

    findings: list[ContradictionFinding] = Field(default_factory=list)


Verdict = Literal["supported", "partially_supported", "not_supported"]


class Citation(_Out):
    """An exact quote from one source document."""

    doc_id: str = Field(description="The id of the source document quoted, exactly as given.")
    quote: Quote = Field(description="The exact sentence (or passage) of that document.")


class Verification(_Out):
    """Verify the claim against the source documents: is every part of it stated there?

    supported: the sources state every part of the claim; partially_supported: they state some parts and
    not others; not_supported: they state none of it (or contradict it). Quote the source sentences the
    verdict rests on: those stating the supported parts; for an unsupported claim, the closest ones.
    """

    task: ClassVar[str] = "verify"

    verdict: Verdict = Field(description="supported, partially_supported or not_supported.")
    evidence: list[Citation] = Field(
        default_factory=list, description="The source sentences the verdict rests on, quoted exactly."
    )
    unsupported: list[str] = Field(
        default_factory=list, description="The parts or facts of the claim the sources do not state."
    )
    confidence: Confidence = Field(ge=0, le=1, description=_CONF)
    rationale: str = Field(description="One or two sentences: what is stated and what is not.")


class Mention(_Out):
    """A party, person, place or other named thing the document states, with the sentence naming it."""

    name: str = Field(description="The name as the document writes it (a company, person, place).")
    kind: Literal["party", "person", "organization", "jurisdiction", "other"] = Field(
        description="party: a party to the document; jurisdiction: its governing law's place."
    )
    quote: Quote = Field(description="The exact sentence of the document that names it.")


class ExplorationFinding(_Out):
    """Something worth a reviewer's time: a connection between documents, a contradiction between
    them, or an open question the documents raise and do not answer; quoted on every side."""

    kind: Literal["connection", "contradiction", "question"]
    title: str = Field(description="One line: what was found.")
    description: str = Field(description="One or two sentences: why it matters.")
    evidence: list[Citation] = Field(
        min_length=1,
        description="Exact quotes: one per document involved (both sides of a contradiction).",
    )
    confidence: Confidence = Field(ge=0, le=1, description=_CONF)


class Reflection(_Out):
    """Reflect on the document at this step of an exploration: what is here (the parties, people,
    places it names), what it connects to among the candidate documents, and what conflicts with the
    facts seen so far or is left open. Quote every claim exactly."""

    task: ClassVar[str] = "reflect"

    mentions: list[Mention] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list, description="Relations to candidate documents.")
    findings: list[ExplorationFinding] = Field(default_factory=list)
    facts: list[ExtractedField] = Field(
        default_factory=list, description="The document's contract fields, for later steps to compare."
    )
    claims: list[ExtractedField] = Field(
        default_factory=list,
        description="Figures it states beyond the contract fields (revenue, a covenant's length, a "
        "lease's expiry, a share of the capital): name says what the figure is, value is normalized, "
        "quote is the exact clause; for later steps to compare.",
    )


class ThemeSummary(_Out):
    """Summarize one theme of an exploration (documents the job found joined by relations and the
    names they share) for a reviewer: what holds these documents together, and what matters in them.
    Quote every claim exactly, from the documents given."""

    task: ClassVar[str] = "theme"

    label: str = Field(description="A short title for the theme (a few words: who or what it is about).")
    summary: str = Field(
        description="At most the given number of sentences: what the documents are and how they relate."
    )
    evidence: list[Citation] = Field(
        min_length=1, description="Exact quotes the summary rests on, from the given documents."
    )
    confidence: Confidence = Field(ge=0, le=1, description=_CONF)


TaskOutput = (
    Classification | Extraction | Summary | Links | Contradictions | Verification | Reflection | ThemeSummary
)

# -- inputs ---------------------------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DocumentInput(_In):
    """A document (one version) as the task sees it: offsets in quotes refer to ``text``."""

    id: str
    text: str
    title: str = ""


class LabelSpec(_In):
    """A label the classifier may choose; ``keywords`` are phrases that signal it (case-insensitive)."""

    name: str
    description: str = ""
    keywords: list[str] = Field(default_factory=list)


class FieldSpec(_In):
    """A field to extract. Known names (see the offline model's docs) get dedicated rules."""

    name: str
    description: str = ""


class Fact(_In):
    """An extracted value of one field in one document (the contradiction finder's input)."""

    doc_id: str
    field: str
    value: str
    quote: Quote
    confidence: float = Field(default=1.0, ge=0, le=1)


class ClassifyContext(_In):
    task: ClassVar[str] = "classify"
    document: DocumentInput
    kinds: list[LabelSpec] = Field(min_length=1)
    tags: list[LabelSpec] = Field(default_factory=list)


class ExtractContext(_In):
    task: ClassVar[str] = "extract"
    document: DocumentInput
    fields: list[FieldSpec] = Field(min_length=1)


class SummarizeContext(_In):
    task: ClassVar[str] = "summarize"
    document: DocumentInput
    max_sentences: int = Field(default=3, ge=1, le=20)


class LinkContext(_In):
    task: ClassVar[str] = "link"
    document: DocumentInput
    candidates: list[DocumentInput] = Field(default_factory=list)


class CompareContext(_In):
    """Facts to compare; ``documents`` (optional) lets quotes be re-checked against their texts."""

    task: ClassVar[str] = "compare"
    facts: list[Fact] = Field(default_factory=list)
    documents: list[DocumentInput] = Field(default_factory=list)


class VerifyContext(_In):
    """A claim (the text of a claim document) and the source documents it is checked against."""

    task: ClassVar[str] = "verify"
    claim: DocumentInput
    sources: list[DocumentInput] = Field(min_length=1)


class ReflectContext(_In):
    """One step of an exploration: the document at the node, the candidates it may connect to, the
    facts earlier steps read from other documents, and the job's question (may be empty)."""

    task: ClassVar[str] = "reflect"
    document: DocumentInput
    candidates: list[DocumentInput] = Field(default_factory=list)
    seen: list[Fact] = Field(default_factory=list)
    #: Figures earlier steps read from other documents (``field``: what the figure is).
    claims: list[Fact] = Field(default_factory=list)
    #: Documents the job already found this one related to (an explicit relation at an earlier node).
    related: list[str] = Field(default_factory=list)
    question: str = ""


class ThemeContext(_In):
    """One theme of an exploration: its documents (excerpts: quote offsets refer to the text given),
    the relations found between them (``"a amends b"``) and the names they share."""

    task: ClassVar[str] = "theme"
    documents: list[DocumentInput] = Field(min_length=1)
    relations: list[str] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)
    max_sentences: int = Field(default=3, ge=1, le=20)


TaskContext = (
    ClassifyContext
    | ExtractContext
    | SummarizeContext
    | LinkContext
    | CompareContext
    | VerifyContext
    | ReflectContext
    | ThemeContext
)

TASKS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "classify": (Classification, ClassifyContext),
    "extract": (Extraction, ExtractContext),
    "summarize": (Summary, SummarizeContext),
    "link": (Links, LinkContext),
    "compare": (Contradictions, CompareContext),
    "verify": (Verification, VerifyContext),
    "reflect": (Reflection, ReflectContext),
    "theme": (ThemeSummary, ThemeContext),
}
"""Task name -> (output type, input type)."""


def task_of(output_type: type[BaseModel]) -> str | None:
    """Return the task an output type declares (its ``task`` ClassVar), or None."""
    task: Any = getattr(output_type, "task", None)
    return task if isinstance(task, str) else None
