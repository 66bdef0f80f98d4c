"""Signing and verifying many events in helper processes, in step with the caller's own work.

Why processes: libsodium runs with the GIL released, but a thread that signs message after message needs
the GIL back between two calls, and while the caller is busy in Python (encoding, hashing, judging the
next events) it gets it only at the interpreter's switch interval (5 ms). Measured here: a thread pool
gave no speed-up while the caller worked. Helper processes have their own interpreters, so a batch's
signatures are computed on the other cores while the caller builds and judges the rest.

How: a batch is fed message by message; every ``CHUNK`` messages go to a helper at once (round robin,
over its stdin). The last, partial chunk of a batch goes to a helper too when signing (the caller has
its own work to do), and is verified by the caller itself (verifying is the slower half of ingest).
Small batches (a single commit) never leave the calling thread. Helpers are plain ``python -c``
children that import only PyNaCl: they start on first use, never re-import the caller's ``__main__``
(as ``multiprocessing``'s spawn would), run at a lower priority than the caller, and exit when their
stdin closes, so they die with their parent. Whenever they are unavailable (a helper died, another
batch in this process holds them, processes cannot be started) the work is done in the calling
thread: slower, never different. Ed25519 signatures are deterministic, so the results are
exactly those of signing or verifying one message at a time, in the order the messages were added.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from types import TracebackType
from typing import IO, Any, Self

from nacl.bindings import crypto_sign, crypto_sign_open
from nacl.exceptions import BadSignatureError, CryptoError

__all__ = ["CHUNK", "SignBatch", "VerifyBatch", "shutdown", "sign_all", "verify_all"]

log = logging.getLogger("agentcrdt.signing")

CHUNK = 64  # messages per hand-off: ~2-5 ms of work against ~50 µs of pickling and pipe traffic
_SIG_LEN = 64
_MAX_HELPERS = 4
# Chunks in flight per helper. Bounded so neither pipe can fill up: a helper blocked writing answers
# nobody reads would stop reading requests, and the caller would block writing the next one.
_IN_FLIGHT = 4
_FRAME = struct.Struct("<I")
_MAX_FAILURES = 3

# The helper program: read (op, args) frames from stdin, write answers to stdout, until stdin closes.
_HELPER = r"""
import os, pickle, signal, struct, sys
# Ctrl-C reaches the whole process group: the parent decides when to stop (it closes our stdin).
signal.signal(signal.SIGINT, signal.SIG_IGN)
# Yield to the caller: its thread is the critical path (it encodes, judges and writes while we sign), and
# on a machine without a spare core an equal share would slow it more than it speeds up signing.
try:
    os.nice(5)
except (AttributeError, OSError):
    pass
from nacl.bindings import crypto_sign, crypto_sign_open
from nacl.exceptions import BadSignatureError, CryptoError
frame, inp, out = struct.Struct("<I"), sys.stdin.buffer, sys.stdout.buffer
def verify(items):
    ok = []
    for public, message, signature in items:
        try:
            crypto_sign_open(signature + message, public)
            ok.append(True)
        except (BadSignatureError, CryptoError, ValueError, TypeError):
            ok.append(False)
    return ok
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    op, args = pickle.loads(inp.read(frame.unpack(head)[0]))
    if op == "sign":
        answer = [crypto_sign(m, args[0])[:64] for m in args[1]]
    else:
        answer = verify(args)
    data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(frame.pack(len(data)) + data)
    out.flush()
"""


def sign_all(secret: bytes, messages: list[bytes]) -> list[bytes]:
    """Sign every message with a libsodium secret key, in the calling thread."""
    return [crypto_sign(m, secret)[:_SIG_LEN] for m in messages]


def verify_all(items: list[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """Tell, for each ``(public, message, signature)``, whether it verifies, in the calling thread."""
    out = []
    for public, message, signature in items:
        try:
            crypto_sign_open(signature + message, public)
            out.append(True)
        except (BadSignatureError, CryptoError, ValueError, TypeError):
            out.append(False)
    return out


def _local(request: tuple[str, Any]) -> list[Any]:
    op, args = request
    return sign_all(args[0], args[1]) if op == "sign" else verify_all(args)


class _Helper:
    """One helper process and its two pipes."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HELPER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout

    def send(self, request: tuple[str, Any]) -> None:
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        self.stdin.write(_FRAME.pack(len(data)) + data)
        self.stdin.flush()

    def recv(self) -> list[Any]:
        head = self.stdout.read(_FRAME.size)
        if len(head) < _FRAME.size:
            raise EOFError("signature helper exited")
        data = self.stdout.read(_FRAME.unpack(head)[0])
        answer: list[Any] = pickle.loads(data)  # our own child, over a private pipe: trusted
        return answer

    def stop(self) -> None:
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class _Helpers:
    """The process's helpers; one batch at a time holds them (others work in their own thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held by the batch using the helpers
        self.pid = 0
        self.helpers: list[_Helper] = []
        self.disabled = False
        self.failures = 0  # batches in a row whose helpers broke; helpers that cannot work are given up

    def acquire(self) -> list[_Helper] | None:
        """Return the helpers for exclusive use, or None (then work in the calling thread)."""
        if self.disabled or not self.lock.acquire(blocking=False):
            return None
        try:
            if self.pid != os.getpid():
                # First use, or a forked child holding its parent's pipes: start our own helpers.
                self.helpers, self.pid = [], os.getpid()
            if not self.helpers:
                n = max(1, min(_MAX_HELPERS, os.cpu_count() or 1))
                self.helpers = [_Helper() for _ in range(n)]
            return self.helpers
        except Exception as e:  # failing to start processes only means "work inline"
            log.warning("signature helpers unavailable (%s); signing and verifying in this thread", e)
            self.disabled = True
            self._stop()
            self.lock.release()
            return None

    def release(self, *, broken: bool, failed: bool = False) -> None:
        """Give the helpers back; broken ones (answers left unread, a helper died) are stopped.

        ``failed``: a helper died or its pipe broke. Three batches in a row like that (a Python that
        cannot import PyNaCl in a child, say) and the work stays in the calling thread from then on.
        """
        if broken:
            self._stop()
        self.failures = self.failures + 1 if failed else 0
        if self.failures >= _MAX_FAILURES:
            log.warning("signature helpers keep failing; signing and verifying in this thread from now on")
            self.disabled = True
        self.lock.release()

    def _stop(self) -> None:
        if self.pid == os.getpid():  # a forked child must not touch its parent's helpers
            for helper in self.helpers:
                helper.stop()
        self.helpers = []

    def shutdown(self) -> None:
        # Bounded wait: at exit, a daemon thread may still hold the helpers mid-batch.
        locked = self.lock.acquire(timeout=2)
        try:
            self._stop()
        finally:
            if locked:
                self.lock.release()


_HELPERS = _Helpers()


def shutdown() -> None:
    """Stop the helper processes (they also stop on their own when this process exits)."""
    _HELPERS.shutdown()


atexit.register(shutdown)


class _Batch:
    """Hand chunks to the helpers; answers come back in submission order. Use as a context manager."""

    def __init__(self) -> None:
        self._helpers: list[_Helper] | None = None
        self._asked = False
        # Per chunk, in order: [helper or None, request, answer or None].
        self._chunks: list[list[Any]] = []
        self._waiting: dict[int, deque[int]] = {}  # helper index -> chunks sent to it, not yet answered

    def _send(self, request: tuple[str, Any]) -> None:
        if not self._asked:
            self._asked = True
            self._helpers = _HELPERS.acquire()
            self._waiting = {i: deque() for i in range(len(self._helpers or ()))}
        index = len(self._chunks)
        self._chunks.append([None, request, None])
        if self._helpers is None:
            return
        h = index % len(self._helpers)
        try:
            if len(self._waiting[h]) >= _IN_FLIGHT:
                self._receive(h)
            self._helpers[h].send(request)
            self._chunks[index][0] = h
            self._waiting[h].append(index)
        except (OSError, EOFError, ValueError):
            self._give_up()

    def _receive(self, h: int) -> None:
        assert self._helpers is not None
        index = self._waiting[h].popleft()
        self._chunks[index][2] = self._helpers[h].recv()

    def _answers(self) -> Iterator[list[Any]]:
        try:
            for chunk in list(self._chunks):
                h, request, answer = chunk
                if answer is None and h is not None and self._helpers is not None:
                    try:
                        while chunk[2] is None:
                            self._receive(h)
                        answer = chunk[2]
                    except (OSError, EOFError, ValueError):
                        self._give_up()
                        answer = None
                yield answer if answer is not None else _local(request)
        finally:
            self.close()

    def _give_up(self) -> None:
        # A helper died or its pipe broke: finish this batch here; fresh helpers start next time.
        if self._helpers is not None:
            self._helpers = None
            _HELPERS.release(broken=True, failed=True)

    def close(self) -> None:
        """Give the helpers back (stopping them if answers are left unread). Idempotent."""
        if self._helpers is not None:
            unread = any(self._waiting.values())
            self._helpers = None
            _HELPERS.release(broken=unread)
        self._asked = False
        self._chunks = []

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SignBatch(_Batch):
    """Sign messages with one secret key; :meth:`signatures` returns them in the order added."""

    def __init__(self, secret: bytes) -> None:
        super().__init__()
        self._secret = secret
        self._buffer: list[bytes] = []

    def add(self, message: bytes) -> None:
        """Queue one message; a full chunk goes to a helper at once."""
        self._buffer.append(message)
        if len(self._buffer) == CHUNK:
            self._send(("sign", (self._secret, self._buffer)))
            self._buffer = []

    def signatures(self) -> list[bytes]:
        """Return every signature, in order."""
        return list(self.iter_signatures())

    def iter_signatures(self) -> Iterator[bytes]:
        """Yield every signature in order, each chunk as soon as it is back.

        Unlike verifying, signing is the cheaper half of a writer's work: the caller's own work
        (judging and writing the events) is the critical path, so once the helpers are in use the last,
        partial chunk goes to them too. A batch smaller than a chunk is signed in the calling thread.
        """
        if self._buffer and self._chunks:
            self._send(("sign", (self._secret, self._buffer)))
            self._buffer = []
        tail = sign_all(self._secret, self._buffer)
        self._buffer = []
        for chunk in self._answers():
            yield from chunk
        yield from tail


class VerifyBatch(_Batch):
    """Verify (public key, message, signature) triples; say which verify, in the order added."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer: list[tuple[bytes, bytes, bytes]] = []

    def add(self, public: bytes, message: bytes, signature: bytes) -> None:
        """Queue one check; a full chunk goes to a helper at once."""
        self._buffer.append((public, message, signature))
        if len(self._buffer) == CHUNK:
            self._send(("verify", self._buffer))
            self._buffer = []

    def results(self) -> list[bool]:
        """Return, for every queued triple in order, whether its signature verifies."""
        return list(self.iter_results())

    def iter_results(self) -> Iterator[bool]:
        """Yield, in order, whether each queued signature verifies, as soon as its chunk is back.

        The caller's work on the first results overlaps with the helpers' on later chunks; the last,
        partial chunk is verified in the calling thread first, while the helpers work.
        """
        tail = verify_all(self._buffer)  # first: the helpers are busy with the full chunks meanwhile
        self._buffer = []
        for chunk in self._answers():
            yield from chunk
        yield from tail
