"""Who signs and who verifies: seams a replica is given, so the log layer stays pure.

A :class:`Signer` signs an author's messages and a :class:`Verifier` checks ``(public key, message,
signature)`` triples, each through a session fed one item at a time (``add``) whose results come back
in the order added (``iter_signatures`` / ``iter_results``), as soon as they are ready: the replica
judges and writes the first events of a batch while later ones are still being signed or verified.

* :class:`PoolSigner` / :class:`PoolVerifier` (the defaults) do the work in helper processes
  (:mod:`agentcrdt.signing.pool`), in step with the caller's own work;
* :class:`InlineSigner` / :class:`InlineVerifier` do it in the calling thread (small tools, tests, or a
  host where processes cannot be started).

Ed25519 signatures are deterministic, so every implementation gives the same bytes; a signer backed by
an HSM or a remote key service only has to keep the order.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Protocol, Self

from agentcrdt.log.keys import Identity
from agentcrdt.signing.pool import CHUNK, SignBatch, VerifyBatch, sign_all, verify_all

__all__ = [
    "CHUNK",
    "InlineSigner",
    "InlineVerifier",
    "PoolSigner",
    "PoolVerifier",
    "SignSession",
    "Signer",
    "Verifier",
    "VerifySession",
]


class SignSession(Protocol):
    """One batch of messages to sign with one key (a context manager)."""

    def add(self, message: bytes) -> None:
        """Queue one message."""

    def iter_signatures(self) -> Iterator[bytes]:
        """Yield the signatures in the order the messages were added."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class VerifySession(Protocol):
    """One batch of signatures to check (a context manager)."""

    def add(self, public: bytes, message: bytes, signature: bytes) -> None:
        """Queue one check."""

    def iter_results(self) -> Iterator[bool]:
        """Yield whether each queued signature verifies, in the order added."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Signer(Protocol):
    """Signs for one author."""

    @property
    def author(self) -> str:
        """The ``ed25519:<hex>`` author whose key signs."""

    def signing(self) -> SignSession:
        """Start a batch."""


class Verifier(Protocol):
    """Checks signatures."""

    def verifying(self) -> VerifySession:
        """Start a batch."""


class _Session:
    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class _InlineSign(_Session):
    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._messages: list[bytes] = []

    def add(self, message: bytes) -> None:
        self._messages.append(message)

    def iter_signatures(self) -> Iterator[bytes]:
        messages, self._messages = self._messages, []
        return iter(sign_all(self._secret, messages))


class _InlineVerify(_Session):
    def __init__(self) -> None:
        self._items: list[tuple[bytes, bytes, bytes]] = []

    def add(self, public: bytes, message: bytes, signature: bytes) -> None:
        self._items.append((public, message, signature))

    def iter_results(self) -> Iterator[bool]:
        items, self._items = self._items, []
        return iter(verify_all(items))


class _KeySigner:
    """Holds one identity's secret key and author; subclasses say where the signing runs."""

    def __init__(self, identity: Identity) -> None:
        self._secret = identity.secret_key
        self._author = identity.author

    @property
    def author(self) -> str:
        return self._author


class PoolSigner(_KeySigner):
    """Sign with ``identity``'s key in helper processes (in the calling thread for small batches)."""

    def signing(self) -> SignBatch:
        return SignBatch(self._secret)


class PoolVerifier:
    """Verify in helper processes (in the calling thread for small batches)."""

    def verifying(self) -> VerifyBatch:
        return VerifyBatch()


class InlineSigner(_KeySigner):
    """Sign with ``identity``'s key in the calling thread."""

    def signing(self) -> SignSession:
        return _InlineSign(self._secret)


class InlineVerifier:
    """Verify in the calling thread."""

    def verifying(self) -> VerifySession:
        return _InlineVerify()
