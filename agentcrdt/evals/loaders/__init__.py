"""Loaders: cases built from an external dataset in its own layout (a suite names one in ``loader``).

A loader reads its dataset from the suite's ``data`` directory (or ``--data DIR``: another copy or split
in the same layout) and says clearly what is missing when the data is absent; datasets are never copied
into the project. Each loader also returns a version of the data it read (a digest of the files), which
a run records, so two runs on different data are never compared as if they were one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentcrdt.errors import UsageError
from agentcrdt.evals.suite import Case

__all__ = ["LOADERS", "DataMissing", "Loaded", "digest_files", "load_cases", "register"]


class DataMissing(UsageError):
    """A loader's dataset is not where the suite (or ``--data``) says."""


@dataclass(frozen=True)
class Loaded:
    """A loader's cases and the version (``sha256:`` digest) of the data they came from."""

    cases: list[Case]
    version: str


LoaderFn = Callable[[Path, Mapping[str, Any]], Loaded]
LOADERS: dict[str, LoaderFn] = {}


def register(name: str) -> Callable[[LoaderFn], LoaderFn]:
    """Register a loader function ``(data_dir, options) -> Loaded`` under ``name``."""

    def deco(fn: LoaderFn) -> LoaderFn:
        LOADERS[name] = fn
        return fn

    return deco


def digest_files(paths: Iterable[Path]) -> str:
    """Return the ``sha256:`` digest of the files' names and contents, in the order given."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return "sha256:" + h.hexdigest()


def load_cases(name: str, data: Path, options: Mapping[str, Any]) -> Loaded:
    """Run the loader ``name`` on ``data``; unknown names and absent data are clear errors."""
    from agentcrdt.evals.loaders import cuad, cuad_planted, cuad_rabbithole, cuad_tags, falcon, wice  # noqa: F401

    fn = LOADERS.get(name)
    if fn is None:
        raise UsageError(f"no suite loader {name!r}; known: {', '.join(sorted(LOADERS))}")
    if not data.is_dir():
        raise DataMissing(
            f"the {name} suite reads its data from {data}, which is not a directory; "
            "point --data at a copy of the dataset (same layout)"
        )
    return fn(data, options)
