"""Ed25519 identities (PyNaCl / libsodium) and tagged digests."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

import nacl.exceptions
import nacl.signing
from nacl.bindings import crypto_sign, crypto_sign_open, crypto_sign_seed_keypair

from agentcrdt.errors import BadSignature, EncodingError, UsageError

__all__ = ["AUTHOR_PREFIX", "DIGEST_PREFIX", "Identity", "digest", "parse_author", "verify"]

AUTHOR_PREFIX = "ed25519:"
DIGEST_PREFIX = "sha256:"
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_AUTHOR_RE = re.compile(r"ed25519:[0-9a-f]{64}")


def digest(data: bytes) -> str:
    """Return the tagged SHA-256 digest of ``data`` (``sha256:<64 hex>``)."""
    return DIGEST_PREFIX + hashlib.sha256(data).hexdigest()


def is_digest(value: object) -> bool:
    """Tell whether ``value`` is a well-formed tagged digest."""
    return type(value) is str and _DIGEST_RE.fullmatch(value) is not None


_PUBLIC_KEYS: dict[str, bytes] = {}


def parse_author(author: str) -> bytes:
    """Return the raw 32-byte public key named by an ``ed25519:<hex>`` author string."""
    # Perf: every event names its author; the peers of a room are few, so remember the good ones.
    if type(author) is str:
        known = _PUBLIC_KEYS.get(author)
        if known is not None:
            return known
    if type(author) is not str or _AUTHOR_RE.fullmatch(author) is None:
        raise EncodingError(f"author {author!r} is not 'ed25519:' followed by 64 lowercase hex digits")
    public = bytes.fromhex(author[8:])
    if len(_PUBLIC_KEYS) < 65536:  # the cap only guards against floods of made-up authors
        _PUBLIC_KEYS[author] = public
    return public


def verify(author: str, message: bytes, signature: bytes) -> None:
    """Raise :class:`BadSignature` unless ``signature`` is ``author``'s signature over ``message``."""
    public = parse_author(author)
    try:
        # The binding directly (a key that is not a curve point fails here too): VerifyKey.verify
        # costs a key object per author and a copy of the message.
        crypto_sign_open(bytes(signature) + message, public)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError, TypeError) as e:
        raise BadSignature(f"signature does not verify for author {author}") from e


class Identity:
    """A peer's signing key. The author string is its public half."""

    __slots__ = ("_key", "_secret", "author")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise UsageError("an Ed25519 seed is exactly 32 bytes; use Identity.generate() for a new one")
        self._key = nacl.signing.SigningKey(seed)
        public, self._secret = crypto_sign_seed_keypair(seed)
        self.author = AUTHOR_PREFIX + public.hex()

    @classmethod
    def generate(cls) -> Identity:
        """Create a fresh random identity."""
        return cls(os.urandom(32))

    @classmethod
    def from_name(cls, name: str) -> Identity:
        """Derive a deterministic identity from a name: for tests, demos and golden vectors only."""
        return cls(hashlib.sha256(b"agentcrdt-test-identity:" + name.encode()).digest())

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte signature of ``message``."""
        # The binding directly: SigningKey.sign wraps the same call in a SignedMessage we would discard.
        return crypto_sign(message, self._secret)[:64]

    @property
    def secret_key(self) -> bytes:
        """Return the 64-byte libsodium secret key, for signers that sign elsewhere (helper processes:
        :class:`agentcrdt.signing.PoolSigner`). Never log or send it."""
        return bytes(self._secret)

    def save(self, path: str | Path) -> None:
        """Write the seed to ``path`` readable by the owner only; refuse to overwrite."""
        p = Path(path)
        if p.exists():
            raise UsageError(f"{p} already exists; refusing to overwrite a key (delete it first if intended)")
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w") as f:
            f.write(bytes(self._key).hex() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Identity:
        """Read a key written by :meth:`save`."""
        p = Path(path)
        try:
            text = p.read_text().strip()
            return cls(bytes.fromhex(text))
        except FileNotFoundError as e:
            raise UsageError(f"no key at {p}; create one with Identity.generate().save(path)") from e
        except ValueError as e:
            raise UsageError(f"{p} does not hold a 64-hex-digit Ed25519 seed") from e

    def __repr__(self) -> str:
        return f"Identity({self.author[:20]}…)"
