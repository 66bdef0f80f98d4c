"""One side of a sync between two replicas of a scope: a state machine over messages, with no I/O.

``SyncSession(replica).start()`` returns the first frames to send, ``handle(frame)`` the frames that
answer one received frame; a driver (:mod:`agentcrdt.sync.memory`, a WebSocket) carries them. Both sides
start, so the exchange is symmetric::

    hello(heads, samples) ──►            ◄── hello(heads, samples)
    I know all their heads: events(exactly what they lack)
    else: have(base, Bloom filter of my ids beyond base)   ──►  events(their ids the filter lacks)
    orphans (a filter's false positive): need(ids)          ──►  events(those)
    my heads changed: hello again; the peer, now knowing all of them, answers exactly

Nothing here trusts the peer. Events are verified and placed by :meth:`Replica.ingest` (ids,
signatures, capabilities, the bounded per-peer orphan buffer), so a peer that sends other bytes for an
id, withholds deps, floods orphans or replays another scope's events cannot corrupt anything; it only
wastes its own session, which ends with :class:`SyncError` after ``max_rejected`` invalid events or any
malformed frame. An interrupted session is restarted from scratch: it asks only for what is still
missing, and what was already stored is a duplicate the replica ignores.
"""

from __future__ import annotations

from collections.abc import Iterable

from agentcrdt.errors import SyncError
from agentcrdt.replica import Replica
from agentcrdt.sync.bloom import Bloom
from agentcrdt.sync.wire import MAX_IDS, Events, Have, Hello, Message, Need, decode, encode

__all__ = ["SyncSession", "SyncStats"]

MAX_SAMPLES = 64
#: Rounds of asking for orphans' deps by id; past them, a hello gets the exact rest (orphans evicted
#: from a full buffer leave deps nobody asks for).
MAX_NEEDS = 2
BATCH_BYTES = 4 * 1024 * 1024


class SyncStats:
    """What a session sent and received: frames, bytes, events and how many were new."""

    def __init__(self) -> None:
        self.sent_frames = 0
        self.sent_bytes = 0
        self.received_frames = 0
        self.received_bytes = 0
        self.events_sent = 0
        self.events_received = 0
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0


class SyncSession:
    """Sync ``replica`` with one peer (``peer`` names it in the orphan buffer's quotas and in logs)."""

    def __init__(
        self,
        replica: Replica,
        *,
        peer: str = "peer",
        max_rejected: int = 100,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.replica = replica
        self.peer = peer
        self.max_rejected = max_rejected
        self.batch_bytes = batch_bytes
        self.their_heads: tuple[str, ...] | None = None
        self.awaiting = 0  # answers still due to our hello, have and need messages
        self.stats = SyncStats()
        self._announced: frozenset[str] | None = None
        self._asked: set[str] = set()
        self._sent: set[str] = set()  # ids sent this session
        self._needs = 0
        self.received: set[str] = set()  # ids this session stored (a live pusher need not echo them)

    # -- what the driver calls ----------------------------------------------------------------------

    def start(self) -> list[bytes]:
        """Return the first frames to send: our hello."""
        return self._out([self._hello()])

    def handle(self, frame: bytes) -> list[bytes]:
        """Return the frames answering ``frame``; SyncError if the peer broke the protocol."""
        self.stats.received_frames += 1
        self.stats.received_bytes += len(frame)
        msg = decode(frame)
        if isinstance(msg, Hello):
            return self._out(self._on_hello(msg))
        if isinstance(msg, Need):
            return self._out(self._send(self._raws(msg.ids[:MAX_IDS])))
        if isinstance(msg, Have):
            self._answered()
            out = self._on_have(msg)
        else:
            if not msg.more:
                self._answered()
            self._on_events(msg)
            out = []
        if self.awaiting == 0 and not (isinstance(msg, Events) and msg.more):
            out += self._follow_up()  # every answer is in: ask for what is still missing, or re-announce
        return self._out(out)

    @property
    def synced(self) -> bool:
        """Whether both sides hold the same events as far as this side knows: every answer is in, we
        hold every head the peer announced last, and those heads cover all of ours."""
        if self.their_heads is None or self.awaiting:
            return False
        dag = self.replica.dag
        if not all(h in dag for h in self.their_heads):
            return False
        return not dag.missing(self.their_heads, dag.heads())

    def push(self, raws: Iterable[bytes]) -> list[bytes]:
        """Return frames sending events written here since (a live session: ``--watch``)."""
        return self._out(self._send(list(raws), answer=False))

    # -- the protocol -------------------------------------------------------------------------------

    def _hello(self) -> Hello:
        heads = self.replica.heads
        self._announced = heads
        self.awaiting += 1
        return Hello(self.replica.scope, tuple(sorted(heads)), self._samples())

    def _samples(self) -> tuple[str, ...]:
        """Ids of our past at exponentially spaced distances from the newest (and the oldest): the
        peer finds the most recent ones it holds, and what lies before them we both hold."""
        dag = self.replica.dag
        order = sorted(((dag.lamport(i), i) for i in dag), reverse=True)
        picks: list[str] = []
        at = 1
        while at < len(order) and len(picks) < MAX_SAMPLES - 1:
            picks.append(order[at][1])
            at *= 2
        if order:
            picks.append(order[-1][1])
        return tuple(dict.fromkeys(picks))

    def _on_hello(self, msg: Hello) -> list[Message]:
        if msg.scope != self.replica.scope:
            raise SyncError(
                f"peer {self.peer} syncs scope {msg.scope}, this replica holds {self.replica.scope}"
            )
        self.their_heads = msg.heads
        dag = self.replica.dag
        if all(h in dag for h in msg.heads):
            return self._send(self._raws(dag.missing(msg.heads, dag.heads())))
        base = tuple(i for i in (*msg.heads, *msg.samples) if i in dag)
        mine = dag.missing(base, dag.heads())
        bloom = Bloom.of(mine, len(mine))
        self.awaiting += 1
        # Our orphans by id: the peer sends every descendant of what we lack, and would send them again.
        return [Have(base, bloom.k, bytes(bloom.bits), tuple(self.replica.buffered()[:MAX_IDS]))]

    def _on_have(self, msg: Have) -> list[Message]:
        dag = self.replica.dag
        bloom = Bloom(msg.bits, msg.k)
        base = [i for i in msg.base if i in dag]
        # What the filter lacks, and every descendant of it (a peer lacking an event lacks its placed
        # descendants, whatever a false positive says), in causal order, but for the orphans the peer
        # says it holds; what we already sent (answering their hello) is on its way: their filter
        # predates it.
        held = set(msg.held)
        wanted: list[str] = []
        chosen: set[str] = set()
        for i in dag.missing(base, dag.heads()):
            node = dag.get(i)
            assert node is not None
            if i in held:
                chosen.add(i)  # its descendants are what the peer lacks next
            elif i not in bloom or any(d in chosen for d in node.deps):
                chosen.add(i)
                if i not in self._sent:
                    wanted.append(i)
        return self._send(self._raws(wanted))

    def _on_events(self, msg: Events) -> None:
        self.stats.events_received += len(msg.raws)
        if msg.raws:
            report = self.replica.ingest(msg.raws, source=self.peer)
            self.stats.accepted += len(report.accepted)
            self.received.update(report.accepted)
            self.stats.duplicates += report.duplicates
            self.stats.rejected += len(report.rejected)
            if self.stats.rejected > self.max_rejected:
                raise SyncError(
                    f"peer {self.peer} sent {self.stats.rejected} invalid events (more than "
                    f"{self.max_rejected}): session closed"
                )

    def _follow_up(self) -> list[Message]:
        # What our orphans wait for, and the peer's heads we still lack (what a false positive of our
        # filter kept from us, were it a head): asked for by id.
        unknown = {h for h in self.their_heads or () if not self.replica.holds(h)}
        wanted = sorted((self.replica.missing_deps() | unknown) - self._asked)[:MAX_IDS]
        if wanted and self._needs < MAX_NEEDS:
            self._needs += 1
            self._asked.update(wanted)
            self.awaiting += 1
            return [Need(tuple(wanted))]
        if self.replica.heads != self._announced:
            return [self._hello()]  # what we hold changed: tell the peer, it answers exactly
        return []

    # -- helpers ------------------------------------------------------------------------------------

    def _answered(self) -> None:
        # An answer to nothing (a duplicate frame, a confused peer) is read for its events only.
        self.awaiting = max(0, self.awaiting - 1)

    def _raws(self, ids: Iterable[str]) -> list[bytes]:
        wanted = list(ids)
        got = self.replica.store.get_many(wanted)
        dag = self.replica.dag
        present = [i for i in wanted if i in got and i in dag and not dag.get(i).local]  # type: ignore[union-attr]
        present.sort(key=lambda i: (dag.lamport(i), i))  # causal order: nothing arrives an orphan
        self._sent.update(present)
        return [got[i].raw for i in present]

    def _send(self, raws: list[bytes], *, answer: bool = True) -> list[Message]:
        """Events in batches of at most ``batch_bytes``; an answer always sends one, even empty."""
        batches: list[list[bytes]] = [[]]
        size = 0
        for r in raws:
            if batches[-1] and size + len(r) + 4 > self.batch_bytes:
                batches.append([])
                size = 0
            batches[-1].append(r)
            size += len(r) + 4
        if not answer and not raws:
            return []
        self.stats.events_sent += len(raws)
        if not answer:  # a push answers nothing: every batch says more, so no request is counted off
            return [Events(tuple(b), more=True) for b in batches]
        return [Events(tuple(b), more=i < len(batches) - 1) for i, b in enumerate(batches)]

    def _out(self, msgs: list[Message]) -> list[bytes]:
        frames = [encode(m) for m in msgs]
        self.stats.sent_frames += len(frames)
        self.stats.sent_bytes += sum(map(len, frames))
        return frames
