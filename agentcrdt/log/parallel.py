"""Signing and verifying many events on a small thread pool, in step with the caller's own work.

libsodium's Ed25519 runs with the GIL released (PyNaCl reaches it through cffi, which drops the GIL
around C calls), so signatures computed on pool threads use the other cores while the calling thread
goes on encoding, hashing and judging the next events. A batch is fed message by message; every
``CHUNK`` messages go to the pool at once, and the caller computes the last, partial chunk itself
while it waits, so a small batch never pays for a hand-off and a large one keeps every core busy.

The results are the same as signing or verifying one message at a time (Ed25519 signatures are
deterministic), in the order the messages were added.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from nacl.bindings import crypto_sign, crypto_sign_open
from nacl.exceptions import BadSignatureError, CryptoError

__all__ = ["CHUNK", "SignBatch", "VerifyBatch"]

CHUNK = 64  # messages per pool task: large enough to amortize the hand-off (~20 µs), small enough to overlap
_SIG_LEN = 64

_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """Return the process-wide pool, made on first use and made again in a forked child."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            # A child forked with a live pool inherits its objects but not its threads: start afresh.
            _pool = ThreadPoolExecutor(
                max_workers=max(1, min(8, os.cpu_count() or 1)), thread_name_prefix="agentcrdt-ed25519"
            )
            _pool_pid = os.getpid()
        return _pool


def _sign_chunk(secret: bytes, messages: list[bytes]) -> list[bytes]:
    return [crypto_sign(m, secret)[:_SIG_LEN] for m in messages]


def _verify_chunk(items: list[tuple[bytes, bytes, bytes]]) -> list[bool]:
    out = []
    for public, message, signature in items:
        try:
            crypto_sign_open(signature + message, public)
            out.append(True)
        except (BadSignatureError, CryptoError, ValueError, TypeError):
            out.append(False)
    return out


class SignBatch:
    """Sign messages with one secret key; :meth:`signatures` returns them in the order added."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._buffer: list[bytes] = []
        self._futures: list[Future[list[bytes]]] = []

    def add(self, message: bytes) -> None:
        """Queue one message; a full chunk starts signing on the pool at once."""
        self._buffer.append(message)
        if len(self._buffer) == CHUNK:
            self._futures.append(_executor().submit(_sign_chunk, self._secret, self._buffer))
            self._buffer = []

    def signatures(self) -> list[bytes]:
        """Return every signature, in order (the caller signs the last partial chunk itself)."""
        tail = _sign_chunk(self._secret, self._buffer)
        out = [s for f in self._futures for s in f.result()]
        out.extend(tail)
        self._buffer, self._futures = [], []
        return out


class VerifyBatch:
    """Verify (public key, message, signature) triples; :meth:`results` says which verify, in order."""

    def __init__(self) -> None:
        self._buffer: list[tuple[bytes, bytes, bytes]] = []
        self._futures: list[Future[list[bool]]] = []

    def add(self, public: bytes, message: bytes, signature: bytes) -> None:
        """Queue one check; a full chunk starts verifying on the pool at once."""
        self._buffer.append((public, message, signature))
        if len(self._buffer) == CHUNK:
            self._futures.append(_executor().submit(_verify_chunk, self._buffer))
            self._buffer = []

    def results(self) -> list[bool]:
        """Return, for every queued triple in order, whether its signature verifies."""
        return list(self.iter_results())

    def iter_results(self) -> Iterator[bool]:
        """Yield, in order, whether each queued signature verifies, as soon as its chunk is done.

        The caller's work on the first results overlaps with the pool's on the later chunks; the last,
        partial chunk is verified on the calling thread when reached.
        """
        buffer, futures = self._buffer, self._futures
        self._buffer, self._futures = [], []
        for f in futures:
            yield from f.result()
        yield from _verify_chunk(buffer)
