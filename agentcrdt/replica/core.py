"""A replica: one peer's view of one scope, where the lower layers meet.

It holds a store, the causal DAG, the verdicts and the followers (materializers). Every write goes
through :meth:`Replica.commit` (our own events) or :meth:`Replica.ingest` (a peer's events); nothing else
writes to a store. Ingest is the trust boundary: bytes are decoded strictly, hashed, signature-checked,
scoped, causally placed, checked for equivocation and authorized before anything is applied.
"""

from __future__ import annotations

import hashlib
import os
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from agentcrdt.capabilities.policy import CapabilityPolicy, Denied, Policy
from agentcrdt.errors import CapabilityDenied, NotFound, RejectedEvent, UsageError
from agentcrdt.log import kinds as _kinds  # noqa: F401  (registers "genesis")
from agentcrdt.log.codec import canonical
from agentcrdt.log.dag import CausalDAG, Node
from agentcrdt.log.event import (
    Event,
    UnsignedEvent,
    create_event,
    decode_event,
    decode_sealed,
    prepare_chain,
    signature_check,
)
from agentcrdt.log.keys import Identity
from agentcrdt.log.pending import PendingBuffer
from agentcrdt.ops.state import OPS, DecodedOp, DocState, EntityKey, EntityState
from agentcrdt.ops.undo import inverse_ops
from agentcrdt.proposals import kinds as _proposal_kinds  # noqa: F401  (registers proposal, review)
from agentcrdt.replica.judge import VALID, Judge, VerdictRow, grant_of, grant_reason
from agentcrdt.replica.placement import Chunk, IngestReport, Placement, Verdicts
from agentcrdt.replica.policy_index import INDEXED_KINDS, PolicyIndex
from agentcrdt.replica.touches import TouchIndex
from agentcrdt.signing import CHUNK, PoolSigner, PoolVerifier, Signer, Verifier
from agentcrdt.store.base import EventStore, StoredEvent
from agentcrdt.store.seal import SEAL_META, RowDigest, Seal, seal_key

__all__ = ["Applied", "AppliedEvent", "EntityClass", "Follower", "IngestReport", "Replica", "new_genesis"]

SCOPE_META = "scope"
EPOCH_META = "verdict_epoch"
FEED_BATCH = 2_000  # store rows per Applied batch: one follower transaction each
_RECENT = 2 * FEED_BATCH  # decoded events kept: a batch fed to one follower, then to the next

T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True, slots=True)
class AppliedEvent:
    """One valid event as the replica applied it: its store position and the entity ops it applies."""

    position: int
    event: Event
    effects: list[DecodedOp]


@dataclass(frozen=True, slots=True)
class Applied:
    """A run of the log as this replica applied it: what followers project (they never read back).

    ``events`` are the valid events at store positions ``start < position <= end``, in store order (a
    causal order), each with its effects: an ``ops`` event's own ops, an auto-accepted proposal's, or an
    accepted proposal's ops stamped at the decisive review. Rows in that range that are not valid apply
    nothing. ``reset`` says verdicts changed retroactively: drop every projected row first (such a
    batch starts at 0; it and the next ones replay the log).
    """

    start: int
    end: int
    events: Sequence[AppliedEvent] = ()
    reset: bool = False
    #: More batches follow at once (a follower may wait for the last one to notify its listeners).
    more: bool = False
    #: The store's verdict epoch these rows were judged under; a follower keeps it with its position.
    epoch: int = 0


class Follower(Protocol):
    """Something that projects applied events (a materializer). See :mod:`agentcrdt.materialize`.

    The replica drives it: it asks how far the follower is and hands it the next :class:`Applied`
    batches. A follower whose durable position moved (another process projected into the same file)
    applies only what it lacks, and ignores a batch that does not start at or before its position.
    """

    def position(self) -> int:
        """Return the store position through which this follower has applied the log."""

    def epoch(self) -> int:
        """Return the verdict epoch (``Applied.epoch``) of the batches its rows come from; 0 if none.

        The replica resets a follower whose epoch is not the store's: verdicts changed since it
        projected, maybe in another process while this one was not running.
        """

    def apply(self, batch: Applied) -> object:
        """Project one batch (atomically with the new position and epoch)."""


class EntityClass(Protocol[T_co]):
    """What :meth:`Replica.get` needs of a typed entity class (any :class:`agentcrdt.schema.Entity`).

    A protocol rather than the class itself: typed entities live in a layer above the replica.
    """

    entity_type: str

    def from_state(self, entity_id: str, state: EntityState) -> T_co:
        """Read one entity of this type from its state."""


def new_genesis(
    identity: Identity, name: str, *, owners: Iterable[str] = (), nonce: str | None = None, time_ms: int = 0
) -> Event:
    """Build the genesis event of a new scope; its id is the scope id."""
    payload = {
        "name": name,
        "owners": sorted({identity.author, *owners}),
        "nonce": os.urandom(8).hex() if nonce is None else nonce,
    }
    return create_event(
        identity, scope=None, seq=1, deps=(), lamport=1, time_ms=time_ms, kind="genesis", payload=payload
    )


class _SealBroken(Exception):
    """The rows a seal covers do not have its digest (internal: refresh judges everything again)."""


# A stored row whose bytes do not decode, verify or match its columns: someone wrote it behind our back.
_TAMPERED = ("quarantined", "tampered: the stored event does not verify against its bytes and columns")


def _columns_match(stored: StoredEvent, event: Event) -> bool:
    return (
        stored.scope == event.scope
        and stored.author == event.author
        and stored.seq == event.seq
        and stored.lamport == event.lamport
        and stored.kind == event.kind
        and tuple(stored.deps) == event.deps
        and stored.local == event.local
    )


def _default_seal_key() -> bytes:
    return seal_key()


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _node(e: Event | StoredEvent) -> Node:
    return Node(e.id, tuple(e.deps), e.lamport, e.author, e.seq, e.local)


def _alive(ref: weakref.ReferenceType[Replica]) -> Replica:
    replica = ref()
    if replica is None:
        raise UsageError("this replica has been closed and collected; open the room again")
    return replica


class Replica:
    """One peer's view of one scope. Use :meth:`create` or :meth:`open`."""

    def __init__(
        self,
        store: EventStore,
        *,
        identity: Identity | None = None,
        policy: Policy | None = None,
        followers: Sequence[Follower] = (),
        clock: Callable[[], int] = _wall_ms,
        pending: PendingBuffer[Event] | None = None,
        seal_key: bytes | None = None,
        progress: Callable[[int, int], None] | None = None,
        signer: Signer | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        scope = store.get_meta(SCOPE_META)
        if scope is None:
            raise NotFound(
                "this store holds no scope yet; create one with Replica.create(store, identity, name)"
            )
        self.store = store
        self.scope: str = scope
        self.identity = identity
        if signer is not None and (identity is None or signer.author != identity.author):
            raise UsageError("a signer signs for the replica's identity: pass identity= with the same author")
        #: Signs our events (helper processes by default) and checks peers' (see agentcrdt.signing).
        self.signer: Signer | None = signer or (PoolSigner(identity) if identity is not None else None)
        self.verifier: Verifier = verifier or PoolVerifier()
        self.followers: list[Follower] = list(followers)
        self._clock = clock
        self._pending: PendingBuffer[Event] = pending if pending is not None else PendingBuffer()
        self._dag: CausalDAG | None = None  # loaded on first use: opening a big room must stay cheap
        self._loaded = 0  # store position up to which the DAG and indexes are loaded
        # Stored verdicts are believed only under this installation's seal (see agentcrdt.store.seal):
        # the digest covers the rows up to _loaded as this replica judged or checked them.
        self._seal_key = _default_seal_key() if seal_key is None else seal_key
        self._digest = RowDigest()
        self._digest_stale = False  # an earlier row's verdict changed: rebuild the digest before sealing
        self._closed = False
        # The current state, folded incrementally up to store position _state_pos (see _current_state);
        # dropped whenever a verdict of a row already folded may have changed.
        self._state: DocState | None = None
        self._state_pos = 0
        self._touches = TouchIndex()  # what folds a few entities as of past heads (state_at(only=))
        #: Called as ``progress(done, total)`` while stored events are judged again (a room from elsewhere).
        self.progress = progress
        # Perf: events recently stored (as built or verified) or decoded, by id, so that followers (the
        # projections, then the retrieval index) need not decode and re-check the same bytes again. An id
        # is the digest of the bytes, so a cached event is the stored one whatever happened since.
        self._recent: OrderedDict[str, Event] = OrderedDict()
        # Inside batch(): seals are deferred to the end of its transaction.
        self._batching = False
        self._unsealed = False
        self._rebuild_pending = False
        # The events an ingest has placed in the DAG but maybe not yet written (writes go chunk by
        # chunk): the policy must find them by id (a revoke's grant, a review's proposal) all the same.
        self._placing: dict[str, Event] = {}
        genesis = store.get(scope)
        if genesis is None:
            raise NotFound(f"the store names scope {scope} but does not hold its genesis event")
        self.genesis = decode_event(genesis.raw, expected_id=scope)
        last = store.last_position()  # first: a seal read after it covers at least as much
        self._vouched_at_open = self._seal_position() >= last
        # The judge reaches back through a weak reference: a cycle replica -> judge -> replica would keep
        # every closed replica (its DAG, its indexes) alive until a full garbage collection.
        this = weakref.ref(self)
        self.judge = Judge(
            self.genesis,
            policy or CapabilityPolicy(),
            lambda: _alive(this).dag,
            lambda event_id: _alive(this)._fetch(event_id),
        )

    @property
    def policy_index(self) -> PolicyIndex:
        """Return the index of grants, revocations, proposals and reviews (valid events only)."""
        return self.judge.policy_index

    @property
    def policy(self) -> Policy:
        """Return the policy that judges events."""
        return self.judge.policy

    # -- construction -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        store: EventStore | Callable[[str], EventStore],
        identity: Identity,
        name: str,
        *,
        owners: Iterable[str] = (),
        nonce: str | None = None,
        clock: Callable[[], int] = _wall_ms,
        **kwargs: Any,
    ) -> Replica:
        """Write a genesis event naming ``identity`` (and ``owners``) as owners; return the new replica.

        ``store`` may be a factory taking the new scope id, for backends bound to one scope at open
        (PostgreSQL): ``Replica.create(lambda scope: open_store(url, scope=scope), me, "room")``.
        """
        genesis = new_genesis(identity, name, owners=owners, nonce=nonce, time_ms=clock())
        target = store if isinstance(store, EventStore) else store(genesis.id)
        return cls.join(target, genesis.raw, identity=identity, clock=clock, **kwargs)

    @classmethod
    def open(cls, store: EventStore, **kwargs: Any) -> Replica:
        """Open the scope a store already holds.

        A room this installation sealed opens in O(1). Anything its seal does not cover (a room file
        from elsewhere, rows added or changed behind its back) is judged again from the events first,
        reported through ``progress``, and the followers' tables are rebuilt from what it derived.
        """
        replica = cls(store, **kwargs)
        if not replica._vouched_at_open:
            replica.dag  # noqa: B018  (loads, judging what no seal of ours covers)
            with store.atomic():
                replica._next_epoch()  # what followers hold elsewhere came from verdicts not believed
            replica._rebuild_followers()
        return replica

    @classmethod
    def join(cls, store: EventStore, genesis_raw: bytes, **kwargs: Any) -> Replica:
        """Start an empty replica of an existing scope from its genesis event's bytes."""
        if store.get_meta(SCOPE_META) is not None:
            raise UsageError("this store already holds a scope; open it with Replica.open(store)")
        genesis = decode_event(genesis_raw)
        if genesis.kind != "genesis":
            raise UsageError(f"expected a genesis event, got a {genesis.kind!r} event")
        if genesis.author not in genesis.payload["owners"]:
            raise UsageError("that genesis event is not signed by one of the owners it names; refusing it")
        with store.atomic():
            positions = store.append_judged([genesis], {genesis.id: (VALID, "")})
            store.set_meta(SCOPE_META, genesis.id)
            digest = RowDigest()
            digest.add(positions[0], genesis, VALID, "")
            key = kwargs.get("seal_key") or _default_seal_key()
            store.set_meta(SEAL_META, Seal(genesis.id, positions[0], digest.hexdigest()).encode(key))
        return cls(store, **kwargs)

    # -- the DAG ------------------------------------------------------------------------------------

    @property
    def dag(self) -> CausalDAG:
        """Return the causal DAG, loading it from the store on first use."""
        if self._dag is None:
            self._dag = CausalDAG()
            self.refresh()
        return self._dag

    def refresh(self, *, judge: bool = True) -> int:
        """Take in events appended to the store since we last looked (by other processes, or ours on
        first load); return how many were new.

        Rows under this installation's seal (see :mod:`agentcrdt.store.seal`) are indexed with their
        stored verdicts once the digest of the rows matches the seal; every other row is verified and
        judged again from its bytes, and its verdict corrected where the stored one differs (with
        ``judge=False``, loading stops before such rows: nothing is written). A seal that does not
        match means rows changed behind our back: everything is judged again.
        """
        if self._dag is None:
            return 0
        found = 0
        while True:
            seal = self._read_seal()
            if seal is None or seal.position <= self._loaded:
                break
            initial = self._loaded == 0
            try:
                found += self._load_vouched(seal)
            except _SealBroken:
                self._reload_all()
                if not initial:
                    # Maybe another process of ours rewrote earlier verdicts (a recompute): load it all
                    # again and check the whole digest against its seal before suspecting the file.
                    return self.refresh(judge=judge)
                found = 0  # the rows do not match our seal: believe none of them
                break
        return found + self._judge_stored() if judge else found

    def _load_vouched(self, seal: Seal) -> int:
        """Index the rows up to the seal's position with their stored verdicts; raise _SealBroken when
        their digest does not match the seal (or rows it covers are missing)."""
        vouched = seal.position
        dag, digest = self._require_dag(), self._digest
        indexed: list[tuple[StoredEvent, tuple[str, str]]] = []
        found = 0
        while self._loaded < vouched and (batch := self.store.since_judged(self._loaded, limit=10_000)):
            for position, stored, verdict in batch:
                if position > vouched:
                    break
                row = verdict or ("", "")
                digest.add(position, stored, *row)
                if stored.id not in dag:
                    dag.add(_node(stored))
                    self._note_seq(stored.author, stored.seq, stored.id, stored.local)
                    found += 1
                    if stored.kind in INDEXED_KINDS and row[0] == VALID:
                        indexed.append((stored, row))
                self._loaded = position
            else:
                continue
            break
        if self._loaded != vouched or digest.hexdigest() != seal.digest:
            raise _SealBroken
        for stored, (_, reason) in indexed:  # store order is causal order, as the index expects
            # The digest just matched our seal and covers these bytes: they were verified when stored.
            event = self._recent.get(stored.id) or decode_sealed(stored.raw, stored.id)
            self.policy_index.note_valid(event, grant_of(reason))
        return found

    def _judge_stored(self) -> int:
        """Verify and judge every stored row after ``_loaded`` (no seal of ours covers them), correct
        the stored verdicts that differ, and seal the result."""
        dag = self._require_dag()
        total = self.store.last_position() - self._loaded
        if total <= 0:
            return 0
        verdicts = Verdicts()
        stored_rows: dict[str, tuple[str, str] | None] = {}
        digested: dict[str, VerdictRow] = {}  # the verdict each row entered the digest with
        retro = False
        found = done = 0
        while batch := self.store.since_judged(self._loaded, limit=CHUNK * 4):
            decoded: list[tuple[int, StoredEvent, Event | None]] = []
            with self.verifier.verifying() as checks:
                for position, stored, verdict in batch:
                    stored_rows[stored.id] = verdict
                    if stored.id in dag:
                        decoded.append((position, stored, None))  # ours, appended while others wrote
                        continue
                    try:
                        event = decode_event(stored.raw, expected_id=stored.id, verify_signature=False)
                    except RejectedEvent:
                        decoded.append((position, stored, None))
                        continue
                    checks.add(*signature_check(event))
                    decoded.append((position, stored, event))
                results = iter(checks.iter_results())
                for position, stored, candidate in decoded:
                    if stored.id in dag:
                        row = stored_rows[stored.id] or ("", "")
                    else:
                        found += 1
                        dag.add(_node(stored))
                        ok = candidate is not None and next(results) and _columns_match(stored, candidate)
                        if candidate is None or not ok:
                            self._note_seq(stored.author, stored.seq, stored.id, stored.local)
                            verdicts[stored.id] = row = _TAMPERED
                        elif stored.id == self.scope:
                            self._note_seq(stored.author, stored.seq, stored.id, stored.local)
                            verdicts[stored.id] = row = (VALID, "")  # the genesis (checked on open)
                        else:
                            self._placing[stored.id] = candidate
                            row, late = self.judge.judge(candidate, verdicts, self._stored_verdict)
                            verdicts[stored.id] = row
                            retro = retro or late
                            if row[0] == VALID:
                                retro = self.judge.index_valid(candidate, grant_of(row[1])) or retro
                    self._digest.add(position, stored, *row)
                    digested[stored.id] = row
                    self._loaded = position
                    done += 1
            self._placing.clear()
            if self.progress is not None:
                self.progress(done, total)
        changed = {}
        rewritten = False  # a verdict followers may have projected changed
        for event_id, row in verdicts.items():
            before = stored_rows[event_id] if event_id in stored_rows else self._stored_verdict(event_id)
            if before != row:
                changed[event_id] = row
                rewritten = rewritten or before is not None
            if digested.get(event_id, row) != row:
                self._digest_stale = True  # an equivocation found later changed an earlier row
        with self.store.atomic():
            if changed:
                self.store.set_verdicts(changed)
                self._state = None
            if rewritten:
                self._next_epoch()
            self._write_seal()
        if retro:
            self.recompute()  # outside the transaction: followers may write to the same file
        return found

    def _require_dag(self) -> CausalDAG:
        assert self._dag is not None  # callers load it first
        return self._dag

    def _reload_all(self) -> None:
        """Forget the DAG, indexes and digest, and start loading again from an empty DAG."""
        self._reload()
        self._dag = CausalDAG()

    # -- the seal -----------------------------------------------------------------------------------

    def _read_seal(self) -> Seal | None:
        return Seal.decode(self.store.get_meta(SEAL_META), self._seal_key, self.scope)

    def _seal_position(self) -> int:
        seal = self._read_seal()
        return -1 if seal is None else seal.position

    def _rebuild_digest(self) -> None:
        """Compute the digest of every row up to ``_loaded`` again from the store (verdicts changed)."""
        digest = RowDigest()
        while batch := self.store.since_judged(digest.position, limit=10_000):
            for position, stored, verdict in batch:
                if position > self._loaded:
                    break
                digest.add(position, stored, *(verdict or ("", "")))
            else:
                continue
            break
        self._digest = digest
        self._digest_stale = False

    def _write_seal(self) -> None:
        """Seal the rows up to ``_loaded`` (call inside the transaction that wrote them)."""
        if self._batching:
            self._unsealed = True  # sealed once, when the batch's transaction ends
            return
        if self._digest_stale:
            self._rebuild_digest()
        seal = Seal(self.scope, self._digest.position, self._digest.hexdigest())
        self.store.set_meta(SEAL_META, seal.encode(self._seal_key))

    def indexed_position(self) -> int:
        """Index everything the store holds (other processes' appends too); return the last store
        position the DAG and the authority indexes cover.

        Followers project no further than this: an event's effects (an auto-accepted proposal, an
        accepting review) depend on the grants and reviews before it, which must be indexed first.
        """
        # Followers call this inside their own transaction on the room file: never write from here
        # (rows no seal of ours covers wait for the next commit, ingest or refresh).
        if self._dag is None:
            self._dag = CausalDAG()
        self.refresh(judge=False)
        return self._loaded

    def _advance(
        self, positions: list[int], events: Sequence[Event], verdicts: dict[str, VerdictRow]
    ) -> None:
        # Our own appends need no re-reading, unless another process slipped events in between (then
        # refresh reads them back, in store order, with theirs).
        for event in events:
            self._remember(event)  # followers may be fed after an outer transaction, not at _notify
        if positions and positions[0] == self._loaded + 1:
            for position, event in zip(positions, events, strict=True):
                self._digest.add(position, event, *verdicts[event.id])
            self._loaded = positions[-1]
        if len(verdicts) > len(events):
            self._digest_stale = True  # an earlier row's verdict changed (an equivocation found)
            self._state = None
            self._next_epoch()  # in the same transaction as the rows

    def _fetch(self, event_id: str) -> Event | None:
        placing = self._placing.get(event_id)
        if placing is not None:
            return placing
        stored = self.store.get(event_id)
        return None if stored is None else self.decoded(stored)

    def _note_seq(self, author: str, seq: int, event_id: str, local: bool) -> None:
        self.judge.note_seq(author, seq, event_id, local)

    @property
    def heads(self) -> frozenset[str]:
        """Return the ids of the shared (non-local) events nothing else depends on yet."""
        return self.store.heads()

    # -- writing ------------------------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group writes (commits, ingests) into one store transaction, sealed once at its end; the
        followers are fed once it has committed (they write to the same file, in transactions of their
        own).

        What the worker's outbox does with a batch of proposals: one transaction and one seal instead
        of one per proposal. Nested batches join the outer one.
        """
        if self._batching:
            yield
            return
        try:
            with self.store.atomic():
                self._batching, self._unsealed = True, False
                try:
                    yield
                finally:
                    self._batching = False
                if self._unsealed:
                    self._write_seal()
        except BaseException:
            self._reload()  # the batch's events were rolled back: the store is the truth
            self._rebuild_pending = False
            raise
        finally:
            self._unsealed = False
            rebuild, self._rebuild_pending = self._rebuild_pending, False
        if rebuild:
            self._rebuild_followers()
        else:
            self.catch_up()

    def commit(self, kind: str, payload: Any, *, local: bool = False) -> Event:
        """Sign and append a new event of ours on top of the current heads; apply it."""
        return self.commit_many([(kind, payload)], local=local)[0]

    def commit_many(self, changes: Sequence[tuple[str, Any]], *, local: bool = False) -> list[Event]:
        """Sign a chain of events (each on top of the previous) and append them in one transaction."""
        if self.identity is None:
            raise UsageError("this replica has no identity; open it with identity=Identity.load(path)")
        chain = self._prepare(self.identity.author, changes, local)
        assert self.signer is not None  # set whenever identity is
        with self.signer.signing() as signer:
            # An event's id does not depend on its signature: chain the ids first, feeding each signing
            # message to the signature helpers, which sign on other cores while we build the next events.
            unsigned = []
            for u in chain:
                signer.add(u.signing_message)
                unsigned.append(u)
            sealed = (u.seal(sig) for u, sig in zip(unsigned, signer.iter_signatures(), strict=True))
            return self._append_chain(sealed)

    def _prepare(
        self, author: str, changes: Sequence[tuple[str, Any]], local: bool
    ) -> Iterator[UnsignedEvent]:
        dag = self.dag
        self.refresh()
        # The DAG's heads, not the store's: another process may append between our refresh and now, and
        # an event must depend on events we hold (our own last one included, or our chain breaks).
        deps: Iterable[str] = dag.heads()
        lamport = 1 + max((dag.lamport(d) for d in deps), default=0)
        return prepare_chain(
            author,
            changes,
            scope=self.scope,
            seq=self.judge.next_seq(author, local),
            deps=deps,
            lamport=lamport,
            clock=self._clock,
            local=local,
        )

    def _append_chain(self, sealed: Iterable[Event]) -> list[Event]:
        """Judge and append a chain prepared on our heads, in one transaction: a denied event anywhere
        writes none of it (CapabilityDenied)."""
        dag = self.dag
        events: list[Event] = []
        grants: list[str | None] = []
        retro = False
        try:
            # One transaction: never an event without its verdict. Within it, each chunk is judged and
            # written as its signatures come back, so the caller's work overlaps the helpers' signing.
            with self.store.atomic():
                written = 0
                for event in sealed:
                    verdict = self.judge.verdict(event)
                    if isinstance(verdict, Denied):
                        raise CapabilityDenied(
                            event.kind, verdict.reason, verdict.detail, slot=verdict.slot, op=verdict.op
                        )
                    # Placed and indexed at once, so the next event of the chain is judged with this
                    # one in its causal past (a grant it uses, a proposal counted against its limits).
                    dag.add(_node(event))
                    self._note_seq(event.author, event.seq, event.id, event.local)
                    retro = self.judge.index_valid(event, verdict.grant) or retro
                    events.append(event)
                    grants.append(verdict.grant)
                    if len(events) - written == CHUNK:
                        self._write_judged(events[written:], grants[written:])
                        written = len(events)
                self._write_judged(events[written:], grants[written:])
                self._write_seal()
        except BaseException:
            if events:
                self._reload()  # forget the unwritten chain: the store is the truth
            raise
        if retro:
            self.recompute()
        self._notify(events)
        return events

    def prepare_for(
        self, author: str, changes: Sequence[tuple[str, Any]], *, local: bool = False
    ) -> list[UnsignedEvent]:
        """Prepare a chain of events by ``author`` on top of our heads, for a signer this replica does
        not hold (a browser's key): the signer signs each ``signing_message``. Shared events come back
        through :meth:`ingest`, judged as every peer's are; local ones (a read through this replica,
        logged here and never synced) through :meth:`append_signed`. Nothing is stored here;
        preparing again before those arrive reuses the same sequence numbers."""
        return list(self._prepare(author, changes, local))

    def append_signed(self, raws: Sequence[bytes]) -> list[Event]:
        """Append a local chain :meth:`prepare_for` prepared and its author signed elsewhere: each
        signature verified, the chain judged as our own commits are, all or none (CapabilityDenied;
        RejectedEvent for bytes that are not such a chain, or BadSignature)."""
        events = [decode_event(raw) for raw in raws]  # verifies ids and signatures
        if not events:
            return []
        dag = self.dag
        self.refresh()
        first = events[0]
        expected = self.judge.next_seq(first.author, True)
        for i, e in enumerate(events):
            in_order = (
                e.local and e.scope == self.scope and e.author == first.author and e.seq == expected + i
            )
            if not in_order:
                raise RejectedEvent("not_prepared", "expected the local chain prepared for this signer", e.id)
            if not all(d in dag or (i and d == events[i - 1].id) for d in e.deps):
                raise RejectedEvent("not_prepared", "its deps are not in this replica", e.id)
        return self._append_chain(events)

    def _write_judged(self, events: list[Event], grants: list[str | None]) -> None:
        verdicts = {e.id: (VALID, grant_reason(g)) for e, g in zip(events, grants, strict=True)}
        self._advance(self.store.append_judged(events, verdicts), events, verdicts)

    def _reload(self) -> None:
        """Drop the in-memory DAG and indexes; they are rebuilt from the store on next use."""
        self._dag = None
        self._loaded = 0
        self._digest = RowDigest()
        self._digest_stale = False
        self._state = None
        self.judge.reset()

    # -- ingest -------------------------------------------------------------------------------------

    def ingest(self, raws: Iterable[bytes], *, source: str = "") -> IngestReport:
        """Verify and apply a peer's events, in any order; orphans wait in the pending buffer.

        Everything this call places is stored in one transaction (all or nothing, rejections included).
        """
        self.dag  # noqa: B018  (load, then take in what other processes appended)
        self.refresh()
        placement = Placement(
            self.scope, self.dag, self._pending, self.judge, self._stored_verdict, self._placing
        )
        try:
            # Events are placed as their signatures verify (in the signature helpers, chunk by chunk), and
            # written chunk by chunk inside one atomic block, so judging and writing overlap with
            # verifying the next chunks. An event whose deps were placed earlier in this call is ready
            # at once: a causally ordered batch (what missing_for sends) never queues in the bounded
            # pending buffer.
            with self.store.atomic():
                for event in self._verified(raws, placement):
                    placement.offer(event, source)
                    if placement.ready >= CHUNK:
                        self._write_chunk(placement.take())
                self._write_chunk(placement.take())
                if placement.events or placement.verdicts:
                    self._write_seal()
        except BaseException:
            if placement.events:
                self._reload()  # forget what was placed but not stored: the store is the truth
            raise
        finally:
            self._placing.clear()
        if placement.retro:
            self.recompute()
        if placement.events:
            self._notify(placement.events)
        return placement.report

    def _write_chunk(self, chunk: Chunk) -> None:
        """Store one chunk of a placement: its events with every verdict set since, its rejections."""
        for rejection in chunk.rejections:
            self.store.record_rejection(*rejection)
        if chunk.events or chunk.verdicts:
            self._advance(
                self.store.append_judged(chunk.events, chunk.verdicts), chunk.events, chunk.verdicts
            )

    def _verified(self, raws: Iterable[bytes], placement: Placement) -> Iterator[Event]:
        """Decode ``raws`` and yield those whose signatures verify, in order; reject every failure."""
        decoded: list[Event] = []
        with self.verifier.verifying() as checks:
            for raw in raws:
                try:
                    # Signatures are checked by helper processes while we decode the next events.
                    event = decode_event(raw, verify_signature=False)
                except RejectedEvent as e:
                    placement.reject(e.event_id, raw, e.reason, e.detail)
                    continue
                checks.add(*signature_check(event))
                decoded.append(event)
            for event, ok in zip(decoded, checks.iter_results(), strict=True):
                if ok:
                    yield event
                    continue
                detail = f"signature does not verify for author {event.author}"
                placement.reject(event.id, event.raw, "bad_signature", detail)

    def _stored_verdict(self, event_id: str) -> tuple[str, str] | None:
        return self.store.verdicts([event_id]).get(event_id)

    def recompute(self) -> None:
        """Re-derive every verdict from the whole log and rebuild the projections.

        Verdicts are a pure function of the set of events; this computes that function from scratch
        (rare: revocations, equivocations, displaced reviews), so any arrival order ends the same.
        """
        order = self.dag.topo_order()
        stored = self.store.get_many(order)
        verdicts = self.judge.recompute_all(order, {i: self.decoded(stored[i]) for i in order})
        old = self.store.verdicts(order)
        changed = {i: v for i, v in verdicts.items() if old.get(i) != v}
        with self.store.atomic():
            if changed:
                self.store.set_verdicts(changed)
                self._digest_stale = True
                self._next_epoch()
            self._write_seal()
        self._state = None  # effects may have moved too (a displaced review), not only verdicts
        self._rebuild_followers()

    def verdict_epoch(self) -> int:
        """Return how many times stored verdicts changed retroactively (a recompute that changed any,
        an open that could not believe them); followers carry it to know they must replay the log."""
        return int(self.store.get_meta(EPOCH_META) or 0)

    def _next_epoch(self) -> None:
        self.store.set_meta(EPOCH_META, str(self.verdict_epoch() + 1))

    def effects(self, event: Event) -> list[DecodedOp]:
        """Return the ops a valid event applies (own ops, auto-accepted or accepted proposals)."""
        return self.policy_index.effects(event)

    def _notify(self, fresh: Sequence[Event] = ()) -> None:
        for event in fresh:
            self._remember(event)
        if not self._batching:  # inside a batch, followers are fed when it has committed
            self.catch_up()

    def _remember(self, event: Event) -> None:
        recent = self._recent
        recent[event.id] = event
        if len(recent) > _RECENT:
            recent.popitem(last=False)

    # -- followers ----------------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Take in what other processes appended, then bring every follower up to date."""
        for follower in self.followers:
            self.feed(follower)

    def feed(self, follower: Follower, *, reset: bool = False) -> None:
        """Hand ``follower`` every event it lacks, as :class:`Applied` batches of up to FEED_BATCH rows
        (with ``reset``: every event, the first batch telling it to drop what it holds).

        Never past what the DAG and the authority indexes cover: an event's effects (an auto-accepted
        proposal, an accepting review) depend on the grants and reviews before it.
        """
        epoch = self.verdict_epoch()
        reset = reset or follower.epoch() != epoch  # verdicts changed since it projected: replay all
        position = 0 if reset else follower.position()
        if position >= self.store.last_position() and not (reset and follower.position()):
            return  # up to date: opening a big room must not load its DAG for nothing
        upto = self.indexed_position()
        while position < upto:
            rows = self.store.since_judged(position, limit=FEED_BATCH)
            events: list[AppliedEvent] = []
            end = position
            for row_position, stored, verdict in rows:
                if row_position > upto:
                    break
                end = row_position
                if verdict is not None and verdict[0] == VALID:
                    event = self.decoded(stored)  # verified on ingest; reused if just written
                    events.append(AppliedEvent(row_position, event, self.effects(event)))
            more = end < upto and len(rows) == FEED_BATCH
            follower.apply(Applied(position, end, events, reset=reset, more=more, epoch=epoch))
            if end == position:
                return  # nothing more is stored (rows another process is still writing)
            reset = False
            position = follower.position()

    def _rebuild_followers(self) -> None:
        """Verdicts changed retroactively: every follower drops its rows and replays the log."""
        if self._batching:
            self._rebuild_pending = True  # when the batch has committed
            return
        for follower in self.followers:
            self.feed(follower, reset=True)

    def decoded(self, stored: StoredEvent) -> Event:
        """Return the event a stored record holds, decoded without re-verifying its signature.

        Events this replica stored or decoded recently are returned as they are, without decoding again.
        """
        event = self._recent.get(stored.id)
        if event is None:
            event = decode_event(stored.raw, verify_signature=False)
            self._remember(event)
        return event

    # -- reading and sync ---------------------------------------------------------------------------

    def verdict(self, event_id: str) -> tuple[str, str]:
        """Return ``(verdict, reason)`` for a stored event.

        The first call loads the DAG, which checks the stored verdicts against our seal (see
        :meth:`refresh`): a verdict is never reported that this replica has not derived or checked.
        """
        self.dag  # noqa: B018
        self.refresh()  # rows other processes appended since: judged, if no seal of ours covers them
        found = self.store.verdicts([event_id]).get(event_id)
        if found is None:
            raise NotFound(f"no event {event_id} in this replica")
        return found

    def is_member(self, author: str) -> bool:
        """Whether ``author`` owns the scope or holds a grant that no valid revocation ended (who a
        sync server lets sync the scope; what it may write is still judged event by event)."""
        self.dag  # noqa: B018  (loads the grants)
        if author in self.genesis.payload["owners"]:
            return True
        index = self.judge.policy_index
        return any(not index.revocations_of(g.event.id) for g in index.grants_to(author))

    def slots(self) -> list[str]:
        """Return the capability slots unrevoked grants hand out in this scope, sorted (what a work
        queue keeps one line of work for)."""
        self.dag  # noqa: B018  (loads the grants)
        index = self.judge.policy_index
        found = {
            g.capability.slot
            for author in index.grantees()
            for g in index.grants_to(author)
            if not index.revocations_of(g.event.id)
        }
        return sorted(found)

    def readable(self, author: str) -> tuple[str, ...] | None:
        """What ``author`` may read: None (everything) for an owner, else the ``Type.field`` patterns
        its unrevoked grants read or write (a read-only subscriber receives only those)."""
        self.dag  # noqa: B018  (loads the grants)
        if author in self.genesis.payload["owners"]:
            return None
        index = self.judge.policy_index
        patterns: list[str] = []
        for g in index.grants_to(author):
            if not index.revocations_of(g.event.id):
                patterns += [*g.capability.reads, *g.capability.writes]
        return tuple(dict.fromkeys(patterns))

    def missing_deps(self) -> set[str]:
        """Return the ids the buffered orphans wait for (what a sync asks its peer for by id)."""
        dag = self.dag
        return self._pending.missing_deps(dag.__contains__)

    def buffered(self) -> list[str]:
        """Return the ids of the orphans this replica holds, waiting for their deps (a peer syncing
        with us need not send them again)."""
        return self._pending.ids()

    def holds(self, event_id: str) -> bool:
        """Whether this replica has the event: placed, or buffered as an orphan waiting for its deps
        (either way a peer need not send it again)."""
        return event_id in self.dag or event_id in self._pending

    def missing_for(self, their_heads: Iterable[str]) -> list[bytes]:
        """Return the raw events a peer at ``their_heads`` lacks, in causal order."""
        dag = self.dag
        order = dag.missing(their_heads, dag.heads())
        got = self.store.get_many(order)
        return [got[i].raw for i in order]

    def sync_with(self, other: Replica) -> tuple[IngestReport, IngestReport]:
        """Exchange events with another in-process replica of the same scope, both ways."""
        to_other = self.missing_for(other.heads)
        to_self = other.missing_for(self.heads)
        return other.ingest(to_other, source=self.author_or("local")), self.ingest(
            to_self, source=other.author_or("peer")
        )

    def author_or(self, default: str) -> str:
        """Return this replica's author string, or ``default`` for a read-only replica."""
        return self.identity.author if self.identity else default

    def valid_ids(self) -> set[str]:
        """Return the ids of every stored event whose verdict is ``valid``."""
        self.dag  # noqa: B018  (checks stored verdicts against our seal first)
        return {i for i, (v, _) in self.store.verdicts().items() if v == VALID}

    def state_at(
        self, heads: Iterable[str] | None = None, *, only: Iterable[EntityKey] | None = None
    ) -> DocState:
        """Return the state as of ``heads`` (default: now): a fold over their valid causal past.

        The current state is kept folded as events arrive, so ``state_at()`` costs a copy of the state,
        not a fold of the log; past heads fold their causal past. Verdicts are today's: an event found
        invalid later (equivocation) is invalid in the past too. The copy is the caller's to change.

        ``only``: the state of those entities alone, folded from the events that may change them
        (:mod:`agentcrdt.replica.touches`), not from the whole past: what showing or checking one
        proposal needs, milliseconds instead of seconds on a large room.
        """
        if only is not None:
            return self._state_of(heads, frozenset(only))
        if heads is None:
            return self._current_state().copy()
        order = self.dag.ancestors_of_heads(heads)
        verdicts = self.store.verdicts(order)
        stored = self.store.get_many(order)
        doc = DocState()
        for event_id in order:
            if verdicts.get(event_id, ("", ""))[0] == VALID:
                event = self.decoded(stored[event_id])
                doc.apply_ops(self.effects(event), event.time)
        return doc

    def _state_of(self, heads: Iterable[str] | None, keys: frozenset[EntityKey]) -> DocState:
        if heads is None and self._state is not None:  # folded already: a copy of those is cheaper
            return self._current_state().copy(only=keys)
        touches = self._touched()
        # Now: every shared event loaded (what the current state folds), no ancestry walk needed.
        ids = touches.candidates(keys, None if heads is None else self.dag.ancestors(heads))
        verdicts, stored = self.store.verdicts(ids), self.store.get_many(ids)
        doc = DocState()
        for event_id in ids:
            if verdicts.get(event_id, ("", ""))[0] == VALID:
                event = self.decoded(stored[event_id])
                doc.apply_ops([o for o in self.effects(event) if o[0] in keys], event.time)
        return doc

    def _touched(self) -> TouchIndex:
        """The touch index, extended by the rows loaded since it last looked."""
        self.dag  # noqa: B018
        self.refresh()
        touches = self._touches
        while touches.position < self._loaded and (batch := self.store.since(touches.position, limit=10_000)):
            for position, stored in batch:
                if position > self._loaded:
                    break
                touches.add(position, stored)
            else:
                continue
            break
        return touches

    def _current_state(self) -> DocState:
        """Return the cached current state, after folding in the valid shared events stored since.

        Store order is a causal order and the cache is dropped whenever an earlier verdict (or the
        effects a review gives a proposal) may have changed, so this equals a fold of the heads' past.
        """
        self.dag  # noqa: B018
        self.refresh()
        if self._state is None:
            self._state, self._state_pos = DocState(), 0
        doc = self._state
        while self._state_pos < self._loaded and (
            batch := self.store.since_judged(self._state_pos, limit=10_000)
        ):
            for position, stored, verdict in batch:
                if position > self._loaded:
                    break
                if verdict is not None and verdict[0] == VALID and not stored.local:
                    event = self.decoded(stored)
                    doc.apply_ops(self.effects(event), event.time)
                self._state_pos = position
            else:
                continue
            break
        return doc

    def entity_state(self, entity_type: str, entity_id: str) -> EntityState | None:
        """Return one entity's CRDT state as of now (None if it has none), to diff a change against
        (``Entity.update_ops(id, state, ...)``). The state is the replica's own: read it, do not change it."""
        return self._current_state().entities.get((entity_type, entity_id))

    def entity_states(self, entity_type: str) -> list[tuple[str, EntityState]]:
        """Return ``(id, CRDT state)`` of every entity of one type as of now, by id, soft-deleted
        ones too (``state.deleted``): what :meth:`all` builds its entities from, for a reader that
        caches what it builds (keyed on ``state.touched``). The states are the replica's own: read
        them, do not change them."""
        return self._current_state().of_type(entity_type)

    def get(self, entity: EntityClass[T_co], entity_id: str) -> T_co | None:
        """Return one typed entity as of now (``room.get(Document, "nda")``), or None if it does not
        exist or is soft-deleted."""
        state = self._current_state().entities.get((entity.entity_type, entity_id))
        if state is None or state.deleted:
            return None
        return entity.from_state(entity_id, state)

    def all(self, entity: EntityClass[T_co]) -> list[T_co]:
        """Return every live entity of one type as of now, by id."""
        return [
            entity.from_state(eid, st)
            for eid, st in self._current_state().of_type(entity.entity_type)
            if not st.deleted
        ]

    def query(self, sql: str, params: Iterable[object] = ()) -> list[tuple[object, ...]]:
        """Run a read-only SQL query over the first SQL follower's tables (``entities``, typed tables).

        Rooms from :func:`agentcrdt.rooms.local.open_local` / ``create_memory`` have one.
        """
        for follower in self.followers:
            query = getattr(follower, "query", None)
            if callable(query):
                rows: list[tuple[object, ...]] = query(sql, params)
                return rows
        raise UsageError(
            "this replica has no SQL follower to query; open it with agentcrdt.open_local(path) or "
            "agentcrdt.create_memory(...), or append a SQLiteFollower to replica.followers"
        )

    def state_hash(self) -> str:
        """Return one digest of the state (every valid event's effects folded): equal on every replica
        that holds the same events, whatever order they arrived in."""
        return "sha256:" + hashlib.sha256(canonical(self._current_state().snapshot())).hexdigest()

    def close(self) -> None:
        """Close the followers' connections and the store (idempotent). The replica is unusable after."""
        if self._closed:
            return
        self._closed = True
        for follower in self.followers:
            close = getattr(follower, "close", None)
            if callable(close):
                close()
        self.store.close()

    def __enter__(self) -> Replica:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def undo(self, event_id: str) -> Event:
        """Undo one of our own events with a new event (history is never rewritten)."""
        if self.identity is None:
            raise UsageError("this replica has no identity; open it with identity=Identity.load(path)")
        stored = self.store.get(event_id)
        if stored is None:
            raise NotFound(f"no event {event_id} in this replica")
        event = decode_event(stored.raw, verify_signature=False)
        if event.author != self.identity.author:
            raise UsageError("a peer can only undo its own changes; ask the author, or write new values")
        if event.kind != OPS:
            raise UsageError(f"only ops events can be undone, {event_id} is a {event.kind!r} event")
        ops = inverse_ops(event, self.state_at(event.deps), self.state_at())
        if not ops:
            raise UsageError("nothing to undo: every change of that event was already overwritten or undone")
        return self.commit(OPS, {"ops": ops, "undoes": event_id})

    def events(self) -> Iterable[Event]:
        """Yield every stored event in causal (store) order, decoded without re-verifying signatures."""
        cursor = 0
        while batch := self.store.since(cursor, limit=5_000):
            for position, stored in batch:
                cursor = position
                yield decode_event(stored.raw, verify_signature=False)
