"""A worker's durable cursor: how far it has handled the log, and with which prompt."""

from __future__ import annotations

from dataclasses import dataclass

from agentcrdt.store.base import TrackingRecorder

__all__ = ["Checkpoint"]


@dataclass(frozen=True)
class Checkpoint:
    """The cursor ``name`` in the store's tracking rung, valid for one prompt (``tag``: its hash).

    The cursor says "every event up to here was handled with this prompt". A new prompt re-reads
    everything: the cursor goes back to 0 *with* the new tag, in one transaction, so a worker stopped
    before its first round under the new prompt does not resume from the old prompt's position.
    """

    tracking: TrackingRecorder
    name: str
    tag: str

    @property
    def _tag_key(self) -> str:
        return f"{self.name}:prompt"

    def load(self) -> int:
        """Return the position to resume from (0 under a new prompt, which is recorded)."""
        if self.tracking.get_meta(self._tag_key) == self.tag:
            return self.tracking.get_cursor(self.name)
        with self.tracking.atomic():
            self.tracking.set_cursor(self.name, 0)
            self.tracking.set_meta(self._tag_key, self.tag)
        return 0

    def save(self, position: int) -> None:
        """Record that every event through ``position`` was handled."""
        self.tracking.set_cursor(self.name, position)
