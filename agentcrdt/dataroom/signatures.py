"""Document signatures: a peer's Ed25519 signature over one version's content hash and a statement.

The signed message is domain-separated and unambiguous (a content hash never holds a newline)::

    b"agentcrdt/document-signature/v1:" + content_hash + b"\\n" + statement (UTF-8)

so a signature can never be replayed as an event signature (those sign ``agentcrdt/event/v1:<id>``),
and it binds what was signed (the text, through its hash) to what the signer says about it. Anyone
holding the log can check it: :func:`check_signature` needs only the entities, not the signer's help.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from agentcrdt.dataroom.domain import DocumentVersion, Signature, signature_id, version_id
from agentcrdt.errors import BadSignature, EncodingError
from agentcrdt.log.keys import Identity, digest, is_digest, verify

__all__ = [
    "SIGNATURE_CONTEXT",
    "CheckResult",
    "check_signature",
    "check_text",
    "sign_ops",
    "signature_message",
]

SIGNATURE_CONTEXT = b"agentcrdt/document-signature/v1:"
MAX_STATEMENT = 500


def signature_message(content_hash: str, statement: str) -> bytes:
    """Return the bytes a document signature signs."""
    return SIGNATURE_CONTEXT + content_hash.encode("ascii") + b"\n" + statement.encode("utf-8")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One verification: a version's text against its hash, or one signature."""

    what: Literal["text", "signature"]
    document: str
    version: str
    number: int
    ok: bool
    reason: str = ""
    signer: str = ""
    statement: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "what": self.what,
            "document": self.document,
            "version": self.version,
            "number": self.number,
            "ok": self.ok,
            "reason": self.reason,
            "signer": self.signer,
            "statement": self.statement,
        }


def sign_ops(
    identity: Identity, version: DocumentVersion, statement: str, time_ms: int
) -> list[dict[str, Any]]:
    """Sign a version's content hash and return the ops recording the :class:`Signature`."""
    if len(statement) > MAX_STATEMENT:
        raise EncodingError(f"a signature statement has at most {MAX_STATEMENT} characters")
    sig = identity.sign(signature_message(version.content_hash, statement))
    return Signature.create_ops(
        id=signature_id(version.id, identity.author),
        signer=identity.author,
        document=version.document,
        version=version.id,
        content_hash=version.content_hash,
        signature=sig.hex(),
        statement=statement,
        signed_at=time_ms,
    )


def check_text(version: DocumentVersion, text: str | None, missing: str = "") -> CheckResult:
    """Re-hash a version's full text (None: incomplete, ``missing`` says why) against its content hash."""

    def result(ok: bool, reason: str = "") -> CheckResult:
        return CheckResult("text", version.document, version.id, version.number, ok, reason)

    if text is None:
        return result(False, missing or "text incomplete")
    actual = digest(text.encode("utf-8"))
    if actual != version.content_hash:
        return result(False, f"text hashes to {actual}, not the recorded {version.content_hash}")
    if version.id != version_id(version.document, version.content_hash):
        return result(False, f"version id {version.id} does not match its content hash")
    return result(True)


def check_signature(sig: Signature, version: DocumentVersion | None) -> CheckResult:
    """Verify one signature against the version it names (the version as recorded in the log)."""
    number = 0 if version is None else version.number

    def result(ok: bool, reason: str = "") -> CheckResult:
        return CheckResult(
            "signature", sig.document, sig.version, number, ok, reason, sig.signer, sig.statement
        )

    if version is None:
        return result(False, f"signs version {sig.version}, which this room does not hold")
    if sig.content_hash != version.content_hash:
        return result(False, f"signed hash {sig.content_hash} is not the version's {version.content_hash}")
    if not is_digest(sig.content_hash):
        return result(False, "the signed content hash is malformed")
    try:
        raw = bytes.fromhex(sig.signature)
    except ValueError:
        return result(False, "signature is not hex")
    if len(raw) != 64:
        return result(False, "signature is not 64 bytes")
    try:
        verify(sig.signer, signature_message(sig.content_hash, sig.statement), raw)
    except (BadSignature, EncodingError) as e:
        return result(False, f"bad signature: {e}")
    return result(True)
