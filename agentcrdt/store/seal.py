"""Seals over stored verdicts: proof that this installation derived them, checked without re-judging.

A verdict row in a store is a claim; anyone who can write the file can add an event with a ``valid``
row. A replica therefore never applies stored verdicts it cannot prove it derived. After each write it
stores a *seal*: a digest over every stored row in store order (the event's columns and bytes, its
verdict and reason) up to a position, authenticated with a key that never leaves this installation
(``$AGENTCRDT_HOME/seal.key``, default ``~/.agentcrdt``; created on first use, readable by its owner
only). Processes of one installation sharing a room file share the key, so they trust each other's
rows; a room file from elsewhere, or rows changed behind the replica's back, fail the seal and are
judged again from the events.

The digest is a running SHA-256 over length-prefixed rows, so it extends in O(1) per appended row and
is checked in the one scan that loads the causal DAG anyway.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agentcrdt.errors import StoreError

__all__ = ["SEAL_META", "RowDigest", "Seal", "seal_key", "seal_key_path"]

SEAL_META = "verdict_seal"
KEY_FILE = "seal.key"


class _Row(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def author(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def lamport(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def deps(self) -> tuple[str, ...]: ...
    @property
    def local(self) -> bool: ...
    @property
    def raw(self) -> bytes: ...


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + data


class RowDigest:
    """A running digest over stored rows, in store order."""

    def __init__(self) -> None:
        self._h = hashlib.sha256(b"agentcrdt verdict rows v1\n")
        self.position = 0  # store position of the last row added

    def add(self, position: int, row: _Row, verdict: str, reason: str) -> None:
        """Add the row stored at ``position`` with its verdict."""
        # Every column the replica reads back: the DAG is built from the routing columns, not the bytes.
        # Perf: one update of the concatenated fields (SHA-256 streams: the same digest as one update
        # per field), built with as few calls as possible: this runs once per event written or loaded.
        text = f"{row.id}\0{row.author}\0{row.seq}\0{row.lamport}\0{row.kind}\0{' '.join(row.deps)}".encode()
        tail = f"{verdict}\0{reason}".encode()
        raw = row.raw
        self._h.update(
            b"".join(
                (
                    len(text).to_bytes(8, "big"),
                    text,
                    b"L" if row.local else b"S",
                    len(raw).to_bytes(8, "big"),
                    raw,
                    len(tail).to_bytes(8, "big"),
                    tail,
                )
            )
        )
        self.position = position

    def hexdigest(self) -> str:
        """Return the digest of the rows added so far."""
        return self._h.copy().hexdigest()


@dataclass(frozen=True, slots=True)
class Seal:
    """The rows up to ``position`` of scope ``scope`` have digest ``digest``; ``mac`` proves who said so."""

    scope: str
    position: int
    digest: str

    def _mac(self, key: bytes) -> str:
        message = f"{self.scope}\0{self.position}\0{self.digest}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def encode(self, key: bytes) -> str:
        """Return the text stored in the store's metadata."""
        body = {"scope": self.scope, "position": self.position, "digest": self.digest}
        return json.dumps({**body, "mac": self._mac(key)}, sort_keys=True)

    @classmethod
    def decode(cls, text: str | None, key: bytes, scope: str) -> Seal | None:
        """Return the seal ``text`` holds if it is this installation's seal of ``scope``, else None."""
        if text is None:
            return None
        try:
            j = json.loads(text)
            seal = cls(str(j["scope"]), int(j["position"]), str(j["digest"]))
            mac = str(j["mac"])
        except (ValueError, KeyError, TypeError):
            return None  # not a seal we wrote: believe nothing
        if seal.scope != scope or not hmac.compare_digest(mac, seal._mac(key)):
            return None
        return seal


def seal_key_path() -> Path:
    """Return where this installation's seal key lives (``$AGENTCRDT_HOME/seal.key``)."""
    home = os.environ.get("AGENTCRDT_HOME")
    return (Path(home) if home else Path.home() / ".agentcrdt") / KEY_FILE


def seal_key() -> bytes:
    """Return this installation's seal key, creating it (owner-only) on first use."""
    return _load_key(str(seal_key_path()))


@functools.lru_cache(maxsize=8)
def _load_key(path_text: str) -> bytes:
    path = Path(path_text)
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(32))
            try:
                os.link(tmp, path)  # atomic, and never replaces a key another process just created
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        key = path.read_bytes()
    except OSError as e:
        raise StoreError(
            f"cannot read or create the seal key {path}: {e.strerror or e}; "
            "set AGENTCRDT_HOME to a directory this user can write"
        ) from e
    if len(key) != 32:
        raise StoreError(f"the seal key {path} is damaged (expected 32 bytes); delete it to make a new one")
    return key
