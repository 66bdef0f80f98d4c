"""EmbeddingCache: never embeds a text twice per model id; order, dedup, stats, normalization."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentcrdt.errors import UsageError
from agentcrdt.retrieval import EmbeddingCache, FakeEmbedder, normalize, text_hash


def test_normalize() -> None:
    assert normalize("  a\u0301\t b\n\nc  ") == "\u00e1 b c"
    assert text_hash("a  b") == text_hash(" a b\n")
    assert text_hash("a b") != text_hash("ab")


def test_embeds_only_misses_dedups_and_keeps_order(cache: EmbeddingCache, fake: FakeEmbedder) -> None:
    texts = ["one", "two", "one", " two ", "three"]
    v = cache.embed(fake, texts)
    assert fake.embedded == 3 and fake.calls == 1
    assert (cache.stats.hits, cache.stats.misses, cache.stats.embedded) == (0, 5, 3)
    assert np.array_equal(v, FakeEmbedder(64).embed(["one", "two", "one", "two", "three"]))
    v2 = cache.embed(fake, ["three", "four", "one"])
    assert fake.embedded == 4 and cache.stats.hits == 2 and cache.stats.embedded == 4
    assert np.array_equal(v2[0], v[4]) and np.array_equal(v2[2], v[0])
    assert cache.embed(fake, []).shape == (0, 64)
    assert fake.calls == 2


def test_persists_across_connections(room: Path, fake: FakeEmbedder) -> None:
    first = EmbeddingCache(room)
    v = first.embed(fake, ["persisted text"])
    first.close()
    again = EmbeddingCache(room)
    assert np.array_equal(again.embed(fake, ["persisted  text"]), v)
    assert fake.embedded == 1 and again.stats.hits == 1
    again.close()


def test_model_ids_never_mix(cache: EmbeddingCache) -> None:
    a, b = FakeEmbedder(64), FakeEmbedder(32)
    cache.embed(a, ["x"])
    assert cache.embed(b, ["x"]).shape == (1, 32)
    assert a.embedded == b.embedded == 1
    assert cache.count(a.model_id) == cache.count(b.model_id) == 1


def test_a_failing_embedder_stores_nothing(cache: EmbeddingCache, fake: FakeEmbedder) -> None:
    fake.fail_on = lambda texts: True
    with pytest.raises(RuntimeError):
        cache.embed(fake, ["a", "b"])
    assert cache.count() == 0


def test_a_wrong_shape_is_refused(cache: EmbeddingCache) -> None:
    class Bad(FakeEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            return super().embed(texts)[:, :10]

    with pytest.raises(UsageError, match="shape"):
        cache.embed(Bad(), ["x"])
