"""Stamps: the total order the kernel uses, supplied by replicas (the kernel never invents one)."""

from __future__ import annotations

from typing import Any, NamedTuple, TypeAlias

from agentcrdt.errors import UsageError

__all__ = ["JSON", "Stamp", "Tag", "stamp_from_json", "stamp_to_json", "tag_from_json", "tag_to_json"]

#: A JSON value: dict / list / str / int / bool / None (never float: the signed codec rejects floats).
JSON: TypeAlias = Any

#: The unique tag of one op: (event id, op index inside the event).
Tag: TypeAlias = tuple[str, int]


class Stamp(NamedTuple):
    """The identity and LWW rank of one op.

    Tuple order is the total order used wherever one is needed: Lamport clock first, then author (as
    Automerge does), then event id and op index as final tiebreaks so no two ops ever compare equal.
    """

    lamport: int
    author: str
    event: str
    index: int  # type: ignore[assignment]  # the contract names it; shadows tuple.index

    @property
    def tag(self) -> Tag:
        """Return the op's unique tag ``(event, index)``."""
        return (self.event, self.index)


def _is_int(x: object) -> bool:
    # bool is an int subclass; a JSON ``true`` must never pass as a number.
    return type(x) is int


def tag_to_json(tag: Tag) -> JSON:
    """Encode a tag as ``[event, index]``."""
    return [tag[0], tag[1]]


def tag_from_json(j: JSON) -> Tag:
    """Decode ``[event, index]``; raise UsageError on any other shape."""
    if not (isinstance(j, list) and len(j) == 2 and isinstance(j[0], str) and _is_int(j[1]) and j[1] >= 0):
        raise UsageError(f"a tag is [event_id: str, index: int >= 0], got {j!r}")
    return (j[0], j[1])


def stamp_to_json(s: Stamp) -> JSON:
    """Encode a stamp as ``[lamport, author, event, index]`` (used in snapshots only)."""
    return [s.lamport, s.author, s.event, s.index]


def stamp_from_json(j: JSON) -> Stamp:
    """Decode ``[lamport, author, event, index]``; raise UsageError on any other shape."""
    if not (
        isinstance(j, list)
        and len(j) == 4
        and _is_int(j[0])
        and isinstance(j[1], str)
        and isinstance(j[2], str)
        and _is_int(j[3])
    ):
        raise UsageError(f"a stamp is [lamport: int, author: str, event: str, index: int], got {j!r}")
    return Stamp(j[0], j[1], j[2], j[3])
