"""The one exception tree of agentcrdt.

Every error the library raises on purpose derives from :class:`AgentCRDTError`;
foreign exceptions (sqlite3, psycopg, nacl, pydantic) are mapped at the boundary
with ``raise ... from e`` so callers catch one tree::

    AgentCRDTError
    ├── UsageError                 the caller asked for something malformed; message says how to fix it
    │   ├── SchemaError            an Entity schema or field annotation is invalid
    │   ├── InvalidEntityValue     a value does not validate against its Entity field
    │   └── MissingAPIKey          a model needs an API key that is not in the environment
    ├── EncodingError              bytes or values that are not canonical / not decodable (fail closed)
    ├── IntegrityError             something that was stored or received does not verify
    │   ├── HashMismatch           recomputed id differs from the claimed id
    │   ├── BadSignature           signature does not verify for the claimed author
    │   └── Equivocation           one author, one seq, two different events
    ├── RejectedEvent              an event was refused on ingest (carries the reason)
    ├── CapabilityDenied           the policy refuses an event this replica tried to write (slot, op, reason)
    ├── StoreError                 a backend failed (I/O, locking, connection)
    │   └── MigrationError         the schema migrations could not be applied
    ├── NotFound                   a named event / entity / room does not exist
    ├── SyncError                  a sync peer broke the protocol (bad frame, other scope, flood)
    └── ModelError                 a model call failed (carries provider and HTTP status)
        ├── TransientError         a failure worth retrying (429, 5xx, timeouts); retried, then a ModelError
        ├── ModelOutputError       the model's output failed validation after the allowed re-asks
        └── CannotAnswer           the model read the input and says it holds no answer (not retried)

The kernel raises only :class:`UsageError` (for ops that do not fit a type).
"""

from __future__ import annotations

__all__ = [
    "AgentCRDTError",
    "BadSignature",
    "CannotAnswer",
    "CapabilityDenied",
    "EncodingError",
    "Equivocation",
    "HashMismatch",
    "IntegrityError",
    "InvalidEntityValue",
    "MigrationError",
    "MissingAPIKey",
    "ModelError",
    "ModelOutputError",
    "NotFound",
    "RejectedEvent",
    "SchemaError",
    "StoreError",
    "SyncError",
    "TransientError",
    "UsageError",
]


class AgentCRDTError(Exception):
    """Base of every error agentcrdt raises on purpose."""


class UsageError(AgentCRDTError, ValueError):
    """The caller passed something malformed; the message says how to fix it."""


class SchemaError(UsageError):
    """An Entity schema or one of its field annotations is invalid."""


class InvalidEntityValue(UsageError):
    """A value does not validate against its Entity field; ``field`` names it (None: the whole entity)."""

    def __init__(self, message: str, entity_type: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.entity_type = entity_type
        self.field = field_name


class EncodingError(AgentCRDTError, ValueError):
    """Input is not in canonical form or cannot be decoded unambiguously."""


class IntegrityError(AgentCRDTError):
    """Stored or received data does not verify."""


class HashMismatch(IntegrityError):
    """The id recomputed from an event's core differs from the id claimed for it."""


class BadSignature(IntegrityError):
    """An event's signature does not verify under its author's key."""


class Equivocation(IntegrityError):
    """One author signed two different events with the same sequence number."""

    def __init__(self, message: str, first: str, second: str) -> None:
        super().__init__(message)
        self.first = first
        self.second = second


class RejectedEvent(AgentCRDTError):
    """An event was refused on ingest; ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, detail: str, event_id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}" + (f" (event {event_id})" if event_id else ""))
        self.reason = reason
        self.detail = detail
        self.event_id = event_id


class CapabilityDenied(AgentCRDTError):
    """The policy refuses an event this replica tried to sign; nothing was written.

    ``kind`` is the event kind, ``reason`` the stable code (``outside_slot``, ``not_authorized``,
    ``grant_exceeds_holding``...), ``detail`` the explanation; ``slot`` and ``op`` (``Type.field``)
    name what was refused when the policy knows.
    """

    def __init__(
        self, kind: str, reason: str, detail: str, *, slot: str | None = None, op: str | None = None
    ) -> None:
        parts = ([f"slot {slot!r}"] if slot else []) + ([op] if op else [])
        where = f" ({', '.join(parts)})" if parts else ""
        super().__init__(f"this replica may not write {kind!r} events{where}: {reason}: {detail}")
        self.kind = kind
        self.reason = reason
        self.detail = detail
        self.slot = slot
        self.op = op


class StoreError(AgentCRDTError):
    """A storage backend failed; nothing from the failed call was written."""


class MigrationError(StoreError):
    """Schema migrations could not be applied."""


class SyncError(AgentCRDTError):
    """A sync peer broke the protocol: a malformed or oversized message, another scope's hello, more
    invalid events than a session tolerates. The session ends; nothing it stored is undone (every
    event was verified on its own) and nothing it refused was applied."""


class NotFound(AgentCRDTError, LookupError):
    """A named event, entity or room does not exist."""


class MissingAPIKey(UsageError):
    """A model provider needs an API key; the message names the variable and the offline alternative."""

    def __init__(self, provider: str, env_var: str) -> None:
        super().__init__(
            f"{provider} models need an API key: set the {env_var} environment variable, "
            f'or run without a network model with --model offline (model string "offline")'
        )
        self.provider = provider
        self.env_var = env_var


class ModelError(AgentCRDTError):
    """A model call failed; ``provider`` and ``status`` (HTTP status, if any) say where."""

    def __init__(self, message: str, *, provider: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status


class TransientError(ModelError):
    """A model call failed in a way worth retrying; ``retry_after`` is the server's requested wait in
    seconds, if it gave one.

    The currency between adapters and the retry loop: ``Model.request`` retries it and, once the budget
    is spent, raises a plain :class:`ModelError` from it. Scripted fakes raise it to simulate flaky
    providers.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        provider: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.retry_after = retry_after


class ModelOutputError(ModelError):
    """The model's output failed validation after the allowed re-asks; nothing was returned."""

    def __init__(
        self, message: str, *, validation_error: str, raw_text: str, provider: str | None = None
    ) -> None:
        super().__init__(message, provider=provider)
        self.validation_error = validation_error
        self.raw_text = raw_text


class CannotAnswer(ModelError):
    """The model read the input and found no answer for ``missing`` (required output fields, dotted paths).

    Not a failed call but an honest "the text does not say": the same input gets the same answer, so
    nothing retries it, and the worker counts the item as unanswered rather than as an error.
    """

    def __init__(self, message: str, *, missing: tuple[str, ...] = (), provider: str | None = None) -> None:
        super().__init__(message, provider=provider)
        self.missing = missing
