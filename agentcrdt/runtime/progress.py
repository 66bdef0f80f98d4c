"""What a worker has done so far, and a throttled plain-line printer for it."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TextIO

__all__ = ["Progress", "ProgressPrinter"]


@dataclass
class Progress:
    """Counters of one worker (since it started)."""

    agent: str
    items_total: int = 0  # items taken up for processing (not already proposed)
    items_done: int = 0
    skipped: int = 0  # items whose input already has a proposal by this author
    proposals: int = 0
    auto_accepted: int = 0
    errors: int = 0  # model or agent errors: logged, counted, no proposal
    unanswered: int = 0  # items the model read and said it cannot answer (CannotAnswer): no proposal
    refused: int = 0  # proposals the replica's policy refused (outside the slot, limits)
    unsupported: int = 0  # drafts dropped because none of their evidence is verbatim in the text
    evidence_dropped: int = 0  # evidence items dropped (not verbatim)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal | None = Decimal(0)
    rounds: int = 0
    last_errors: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        """Return input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def note_error(self, message: str) -> None:
        """Count an error and keep its message (the last ten)."""
        self.errors += 1
        self.last_errors = [*self.last_errors[-9:], message]

    def line(self) -> str:
        """Return one human-readable status line."""
        cost = "cost unknown" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        parts = [
            f"{self.agent}: {self.items_done}/{self.items_total} items",
            f"{self.proposals} proposals ({self.auto_accepted} auto-accepted)",
            f"{self.tokens:,} tokens",
            cost,
        ]
        extra = [
            f"{n} {what}"
            for n, what in (
                (self.skipped, "already proposed"),
                (self.errors, "errors"),
                (self.unanswered, "unanswered"),
                (self.refused, "refused"),
                (self.unsupported, "unsupported"),
            )
            if n
        ]
        return ", ".join(parts + extra)


class ProgressPrinter:
    """Print :meth:`Progress.line` at most every ``interval`` seconds (and always when forced)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.interval = interval
        self._clock = clock
        self._last = float("-inf")
        self._last_line = ""

    def __call__(self, progress: Progress, force: bool = False) -> None:
        now = self._clock()
        line = progress.line()
        if line == self._last_line or (not force and now - self._last < self.interval):
            return
        self._last, self._last_line = now, line
        print(line, file=self.stream or sys.stdout, flush=True)
