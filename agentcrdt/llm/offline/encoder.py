"""The embedding side of the offline model: an injected ``embed`` function (or the lexical fallback),
memoized per text, with the similarity thresholds calibrated for that embedder family."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agentcrdt.llm.offline.text import EmbedFn, Matrix, lexical_embed

__all__ = ["Calibration", "Encoder", "family_of"]


@dataclass(frozen=True)
class Calibration:
    """Similarity levels that mean something for one embedder family (cosines are not comparable across
    models: MiniLM puts unrelated contract sentences near 0.1-0.3, a bag of words near 0)."""

    tag: float  # a label description this close to a sentence supports the label
    tag_strong: float  # ... and this close makes it certain
    related: float  # document-to-document similarity worth a "related" link
    field: float  # a sentence this close to an unknown field's description may state it


CALIBRATIONS = {
    "minilm": Calibration(tag=0.45, tag_strong=0.65, related=0.55, field=0.45),
    "fake": Calibration(tag=0.55, tag_strong=0.75, related=0.45, field=0.45),
    "lexical": Calibration(tag=0.45, tag_strong=0.65, related=0.3, field=0.35),
}


def family_of(embedder_id: str | None) -> str:
    """Map an embedder's model id to a short family name used in the offline model id."""
    if embedder_id is None:
        return "lexical"
    low = embedder_id.lower()
    if low.startswith("fake"):
        return "fake"
    if "minilm" in low:
        return "minilm"
    return "".join(c if c.isalnum() else "-" for c in low.split("@")[0].split(":")[-1])[:40] or "custom"


class Encoder:
    """Embed texts once each (bounded LRU memo, thread-safe) and compare them."""

    def __init__(self, embed: EmbedFn | None, family: str, memo_size: int = 20_000) -> None:
        self._embed = embed
        self.family = family
        self.calibration = CALIBRATIONS.get(family, CALIBRATIONS["minilm"])
        self._memo: OrderedDict[str, Matrix] = OrderedDict()
        self._memo_size = memo_size
        self._lock = threading.Lock()

    @property
    def semantic(self) -> bool:
        """Tell whether a real embedder is injected (False: the lexical bag of words stands in)."""
        return self._embed is not None

    def __call__(self, texts: Sequence[str]) -> Matrix:
        """Return one unit row per text, in order."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            vecs = self._direct(missing)
            with self._lock:
                for t, v in zip(missing, vecs, strict=True):
                    self._memo[t] = v
                while len(self._memo) > self._memo_size:
                    self._memo.popitem(last=False)
        with self._lock:
            rows = [self._memo.get(t) for t in texts]
        if any(r is None for r in rows):  # evicted meanwhile (tiny memo): embed those directly
            return self._direct(texts)
        if not rows:
            return np.zeros((0, 1), dtype=np.float32)
        out: Matrix = np.stack([r for r in rows if r is not None]).astype(np.float32)
        return out

    def _direct(self, texts: Sequence[str]) -> Matrix:
        raw = self._embed(list(texts)) if self._embed is not None else lexical_embed(texts)
        vecs = np.asarray(raw, dtype=np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        out: Matrix = (vecs / np.where(norms == 0, 1, norms)).astype(np.float32)
        return out
