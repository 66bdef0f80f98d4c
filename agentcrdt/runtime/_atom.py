"""The worker's lazy atom: a ``select`` whose reads a follower listener checks, re-run only on demand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from agentcrdt.materialize.atoms import Reader
from agentcrdt.materialize.follower import SQLiteFollower, Touched

__all__ = ["LazyAtom"]

T = TypeVar("T")


class LazyAtom(Generic[T]):
    """An atom that re-runs its query on demand: the follower only marks it dirty.

    :class:`~agentcrdt.materialize.Atom` re-runs at once on every relevant change; a worker needs the
    result only when it starts a round, and its own commits would otherwise re-run the query per proposal.
    ``on_change`` is called when a change touches what the last run read.
    """

    def __init__(self, follower: SQLiteFollower, query: Callable[[Reader], T]) -> None:
        self.follower = follower
        self.query = query
        self.reader: Reader | None = None
        self.dirty = True
        self.on_change: Callable[[], None] | None = None
        follower.listeners.append(self._touched)

    def run(self) -> T:
        reader = Reader(self.follower.db)
        self.dirty = False
        try:
            result = self.query(reader)
        except BaseException:
            self.dirty = True
            raise
        self.reader = reader
        return result

    def _touched(self, touched: Touched) -> None:
        if self.reader is None or self.reader.depends_on(touched):
            self.dirty = True
            if self.on_change is not None:
                self.on_change()

    def close(self) -> None:
        if self._touched in self.follower.listeners:
            self.follower.listeners.remove(self._touched)
