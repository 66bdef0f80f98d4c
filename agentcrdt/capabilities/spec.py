"""Capability slots: what a peer may read and write, and whether its writes apply or wait for review.

A capability is defined in Python and travels in the log as data (inside a ``grant`` event), so every
replica evaluates the same rules from the same bytes — never from code named by a peer. Confidence
thresholds are decimal strings because the signed codec has no floats.

Write targets are ``"Type.field"``, ``"Type.*"`` (any field of a type) or ``"*"`` (anything). The soft
delete flag counts as the field ``_deleted``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from agentcrdt.errors import EncodingError, UsageError

__all__ = ["AutoAccept", "Capability", "Limits", "covers", "parse_confidence"]

Mode = Literal["direct", "propose"]
_SLOT_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_TARGET_RE = re.compile(r"\*|[A-Za-z_][A-Za-z0-9_]{0,62}\.(\*|[A-Za-z_][A-Za-z0-9_]{0,62})")
_CONF_RE = re.compile(r"(0(\.\d{1,4})?|1(\.0{1,4})?)")


def parse_confidence(value: Any) -> Decimal:
    """Parse a confidence: a decimal string in [0, 1] with at most 4 decimals (e.g. ``"0.85"``)."""
    if type(value) is not str or not _CONF_RE.fullmatch(value):
        raise EncodingError(f"confidence must be a decimal string between '0' and '1', got {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation as e:  # unreachable after the regex; kept so the boundary stays total
        raise EncodingError(f"confidence {value!r} is not a decimal") from e


def covers(patterns: tuple[str, ...], target: str) -> bool:
    etype = target.partition(".")[0]
    return any(p in ("*", target, f"{etype}.*") for p in patterns)


def _check_targets(targets: Any, what: str) -> tuple[str, ...]:
    if type(targets) is not list or not all(type(t) is str and _TARGET_RE.fullmatch(t) for t in targets):
        raise EncodingError(f"{what} must be a list of 'Type.field', 'Type.*' or '*'")
    return tuple(targets)


@dataclass(frozen=True, slots=True)
class AutoAccept:
    """Accept a proposal without review when its confidence reaches ``min_confidence`` and every op
    targets ``fields`` (empty: any field the capability may write)."""

    min_confidence: Decimal
    fields: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Encode for a grant payload."""
        return {"min_confidence": str(self.min_confidence), "fields": list(self.fields)}

    @classmethod
    def from_json(cls, j: Any) -> AutoAccept:
        """Decode from a grant payload; EncodingError if malformed."""
        if type(j) is not dict or j.keys() != {"min_confidence", "fields"}:
            raise EncodingError("auto_accept is {'min_confidence': '0.8', 'fields': [...]}")
        return cls(parse_confidence(j["min_confidence"]), _check_targets(j["fields"], "auto_accept fields"))

    def admits(self, confidence: Decimal, targets: list[str]) -> bool:
        """Tell whether a proposal with this confidence and these targets is accepted at once."""
        return confidence >= self.min_confidence and all(
            not self.fields or covers(self.fields, t) for t in targets
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one grantee may emit under one grant (checked by every replica)."""

    max_ops_per_proposal: int = 50
    max_proposals_per_hour: int | None = None
    token_budget: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Encode for a grant payload."""
        return {
            "max_ops_per_proposal": self.max_ops_per_proposal,
            "max_proposals_per_hour": self.max_proposals_per_hour,
            "token_budget": self.token_budget,
        }

    @classmethod
    def from_json(cls, j: Any) -> Limits:
        """Decode from a grant payload; EncodingError if malformed."""
        keys = {"max_ops_per_proposal", "max_proposals_per_hour", "token_budget"}
        if type(j) is not dict or j.keys() != keys:
            raise EncodingError(f"limits must have exactly {sorted(keys)}")
        for k in keys:
            v = j[k]
            if v is not None and (type(v) is not int or v < 1):
                raise EncodingError(f"limit {k} must be a positive integer or null")
        if j["max_ops_per_proposal"] is None:
            raise EncodingError("max_ops_per_proposal cannot be null")
        return cls(j["max_ops_per_proposal"], j["max_proposals_per_hour"], j["token_budget"])

    def within(self, other: Limits) -> bool:
        """Tell whether these limits are at least as strict as ``other`` (for delegation)."""

        def le(a: int | None, b: int | None) -> bool:
            return b is None or (a is not None and a <= b)

        return (
            self.max_ops_per_proposal <= other.max_ops_per_proposal
            and le(self.max_proposals_per_hour, other.max_proposals_per_hour)
            and le(self.token_budget, other.token_budget)
        )


@dataclass(frozen=True, slots=True)
class Capability:
    """A slot: reads, writes, mode, auto-accept policy, limits, review and delegation rights."""

    slot: str
    writes: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    mode: Mode = "propose"
    proposal_kinds: tuple[str, ...] = ()
    auto_accept: AutoAccept | None = None
    limits: Limits = field(default_factory=Limits)
    review: tuple[str, ...] = ()
    can_grant: bool = False

    def __post_init__(self) -> None:
        try:
            self.to_json_checked()
        except EncodingError as e:
            raise UsageError(f"invalid capability {self.slot!r}: {e}") from e

    def to_json(self) -> dict[str, Any]:
        """Encode for a grant payload (the form every replica checks)."""
        return {
            "slot": self.slot,
            "writes": list(self.writes),
            "reads": list(self.reads),
            "mode": self.mode,
            "proposal_kinds": list(self.proposal_kinds),
            "auto_accept": None if self.auto_accept is None else self.auto_accept.to_json(),
            "limits": self.limits.to_json(),
            "review": list(self.review),
            "can_grant": self.can_grant,
        }

    def to_json_checked(self) -> dict[str, Any]:
        """Encode and validate by decoding again."""
        j = self.to_json()
        Capability.from_json(j)
        return j

    @classmethod
    def from_json(cls, j: Any) -> Capability:
        """Decode from a grant payload; EncodingError if malformed."""
        keys = {
            "slot",
            "writes",
            "reads",
            "mode",
            "proposal_kinds",
            "auto_accept",
            "limits",
            "review",
            "can_grant",
        }
        if type(j) is not dict or j.keys() != keys:
            raise EncodingError(f"a capability has exactly the fields {sorted(keys)}")
        if type(j["slot"]) is not str or not _SLOT_RE.fullmatch(j["slot"]):
            raise EncodingError("slot must be lowercase letters, digits, '-' or '_' (max 63)")
        if j["mode"] not in ("direct", "propose"):
            raise EncodingError("mode must be 'direct' or 'propose'")
        kinds = j["proposal_kinds"]
        if type(kinds) is not list or not all(type(k) is str and _SLOT_RE.fullmatch(k) for k in kinds):
            raise EncodingError("proposal_kinds must be a list of lowercase names")
        review = j["review"]
        if type(review) is not list or not all(
            type(r) is str and (r == "*" or _SLOT_RE.fullmatch(r)) for r in review
        ):
            raise EncodingError("review must be a list of slot names or '*'")
        if type(j["can_grant"]) is not bool:
            raise EncodingError("can_grant must be true or false")
        auto = None if j["auto_accept"] is None else AutoAccept.from_json(j["auto_accept"])
        cap = object.__new__(cls)  # bypass __post_init__: decoding is the validation
        for name, value in (
            ("slot", j["slot"]),
            ("writes", _check_targets(j["writes"], "writes")),
            ("reads", _check_targets(j["reads"], "reads")),
            ("mode", j["mode"]),
            ("proposal_kinds", tuple(kinds)),
            ("auto_accept", auto),
            ("limits", Limits.from_json(j["limits"])),
            ("review", tuple(review)),
            ("can_grant", j["can_grant"]),
        ):
            object.__setattr__(cap, name, value)
        return cap

    # -- questions the policy asks ----------------------------------------------------------------

    def may_write(self, entity_type: str, field_name: str) -> bool:
        """Tell whether this slot covers writing ``entity_type.field_name``."""
        return covers(self.writes, f"{entity_type}.{field_name}")

    def may_review(self, slot: str) -> bool:
        """Tell whether this slot may review proposals made under ``slot``."""
        return "*" in self.review or slot in self.review

    def within(self, other: Capability) -> bool:
        """Tell whether this capability grants nothing ``other`` does not hold (delegation rule)."""
        return (
            all(covers(other.writes, w) if w != "*" else "*" in other.writes for w in self.writes)
            and all(covers(other.reads, r) if r != "*" else "*" in other.reads for r in self.reads)
            and (self.mode == "propose" or other.mode == "direct")
            and (not other.proposal_kinds or set(self.proposal_kinds or ["*"]) <= set(other.proposal_kinds))
            and self.limits.within(other.limits)
            and (self.auto_accept is None or _auto_within(self.auto_accept, other))
            and all((r == "*" and "*" in other.review) or other.may_review(r) for r in self.review)
            and (not self.can_grant or other.can_grant)
        )


def _auto_within(auto: AutoAccept, other: Capability) -> bool:
    if other.mode == "direct":
        return True
    if other.auto_accept is None:
        return False
    return auto.min_confidence >= other.auto_accept.min_confidence and all(
        not other.auto_accept.fields or covers(other.auto_accept.fields, f) for f in auto.fields or ["*"]
    )
