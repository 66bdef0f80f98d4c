"""Verdicts: what a replica decides about each event it holds, as a function of the events alone.

The :class:`Judge` owns the per-author sequence index (equivocation, the chain rule), the authority
index and the policy. It judges one event as it arrives (:meth:`Judge.judge`), and re-derives every
verdict from scratch when a late event changes earlier ones (:meth:`Judge.recompute_all`): the same
function either way, so every arrival order ends with the same verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from agentcrdt.capabilities.kinds import REVOKE
from agentcrdt.capabilities.policy import Allowed, CapabilityPolicy, Denied, Policy, Verdict
from agentcrdt.log.dag import CausalDAG, Node
from agentcrdt.log.event import Event, decode_event
from agentcrdt.replica.policy_index import AUTHORITY_KINDS, PolicyIndex
from agentcrdt.store.base import EventStore

__all__ = [
    "QUARANTINED",
    "VALID",
    "Judge",
    "VerdictRow",
    "derive_verdicts",
    "first_verdict_mismatch",
    "grant_of",
    "grant_reason",
]

VALID, QUARANTINED = "valid", "quarantined"
VerdictRow = tuple[str, str]  # (verdict, reason), as stored


# The reasons below are stored and compared across replicas: each must be a function of the events
# alone, the same whether the verdict was reached on arrival or by recompute_all, in any arrival order.


def equivocation(author: str, seq: int) -> VerdictRow:
    """The verdict of every event ``author`` signed with a sequence number it had already used."""
    return (QUARANTINED, f"equivocation: {author} signed more than one event with seq {seq}")


def broken_chain(author: str, seq: int) -> VerdictRow:
    """The verdict of an event that does not have its author's previous event in its causal past."""
    return (
        QUARANTINED,
        f"broken_chain: seq {seq} of {author} does not have its seq {seq - 1} in its causal past",
    )


def grant_reason(grant: str | None) -> str:
    """Return the stored reason of a valid event allowed by ``grant`` (empty for owners)."""
    return "" if grant is None else f"grant:{grant}"


def grant_of(reason: str) -> str | None:
    """Return the grant named in a stored reason, if any."""
    return reason[6:] if reason.startswith("grant:") else None


class Judge:
    """Verdicts for one scope: sequence index, authority index and policy."""

    def __init__(
        self,
        genesis: Event,
        policy: Policy,
        dag: Callable[[], CausalDAG],
        fetch: Callable[[str], Event | None],
    ) -> None:
        self.genesis = genesis
        self.policy = policy
        self._dag = dag
        self.policy_index = PolicyIndex(genesis, dag, fetch)
        # Per-author sequence index over shared events (local-only events count separately: peers never
        # see them, so they must not leave holes in the author's shared chain). One id per (author, seq),
        # the first seen; the rare seqs used more than once (equivocations) list all their ids in forks.
        self.seqs: dict[tuple[str, int], str] = {}
        self.forks: dict[tuple[str, int], list[str]] = {}
        self.max_seq: dict[tuple[str, bool], int] = {}

    def reset(self) -> None:
        """Forget the indexes (they are rebuilt as events are noted again)."""
        self.seqs.clear()
        self.forks.clear()
        self.max_seq.clear()
        self.policy_index.reset()

    def note_seq(self, author: str, seq: int, event_id: str, local: bool) -> None:
        """Record an event's place in its author's sequence."""
        if not local:
            key = (author, seq)
            first = self.seqs.setdefault(key, event_id)
            if first != event_id:
                ids = self.forks.setdefault(key, [first])
                if event_id not in ids:
                    ids.append(event_id)
                    self.policy_index.mark_forked(author)
        if seq > self.max_seq.get((author, local), 0):
            self.max_seq[(author, local)] = seq

    def ids_at(self, author: str, seq: int) -> Sequence[str]:
        """Return the ids of ``author``'s shared events with sequence number ``seq`` (two or more: a fork)."""
        key = (author, seq)
        forked = self.forks.get(key)
        if forked is not None:
            return forked
        first = self.seqs.get(key)
        return () if first is None else (first,)

    def next_seq(self, author: str, local: bool) -> int:
        """Return the sequence number ``author``'s next (shared or local) event takes."""
        return self.max_seq.get((author, local), 0) + 1

    # -- one event ----------------------------------------------------------------------------------

    def verdict(self, event: Event) -> Verdict:
        """Ask the policy about one event (no sequence checks)."""
        if event.kind == "genesis":
            return Denied("second_genesis", "a scope has exactly one genesis event")
        return self.policy.authorize(self.policy_index, event)

    def judge(
        self, event: Event, batch: dict[str, VerdictRow], stored: Callable[[str], VerdictRow | None]
    ) -> tuple[VerdictRow, bool]:
        """Judge an arriving event; return its verdict and whether an earlier verdict had to change.

        ``batch`` holds the verdicts of this ingest batch (an equivocation may overwrite one);
        ``stored`` reads a verdict from the store.
        """
        others = [i for i in self.ids_at(event.author, event.seq) if i != event.id]
        self.note_seq(event.author, event.seq, event.id, event.local)
        if others:
            prior = others[0]
            # Equivocation: both events stay in the log as proof, neither applies.
            reason = equivocation(event.author, event.seq)
            old = batch.get(prior) or stored(prior)
            batch[prior] = reason
            return reason, old is not None and old[0] == VALID
        if not self.follows_own_chain(event):
            return broken_chain(event.author, event.seq), False
        # A revocation, valid or not, calls for recompute_all: it may void rights used by events already
        # judged (concurrent with it), and where revocations hinge on each other, one that fails here
        # may still count in the fixpoint over all of them.
        retro = event.kind == REVOKE
        verdict = self.verdict(event)
        if isinstance(verdict, Denied):
            return (QUARANTINED, f"{verdict.reason}: {verdict.detail}"), retro
        return (VALID, grant_reason(verdict.grant)), retro

    def follows_own_chain(self, event: Event) -> bool:
        """Tell whether the author's previous shared event is in this event's causal past.

        Each author's shared events form a chain (seq 1, 2, 3... each seeing the one before): the kernel's
        per-author summaries (map removes, counter merges) are exact only under that rule, and a gap or a
        fork is visible to every replica from the event's own causal past, so the verdict is the same
        everywhere.
        """
        if event.seq == 1 or event.local or event.kind == "genesis":
            return True
        dag = self._dag()
        for prev in self.ids_at(event.author, event.seq - 1):
            if prev in event.deps or any(dag.is_ancestor(prev, d) for d in event.deps):
                return True
        return False

    def index_valid(self, event: Event, grant: str | None) -> bool:
        """Index a valid event; return True when earlier verdicts or effects may have to change.

        A revocation can invalidate events concurrent with it that were already applied, a review can
        displace a concurrent decision already applied, and a proposal can arrive after the review
        that decides it: all call for :meth:`recompute_all`.
        """
        before = None
        if event.kind == "review":
            before = self.policy_index.decisive(event.payload["proposal"])
        # A review need not have its proposal in its causal past (a backdated review): one that came
        # first was applied with no ops, and the proposal arriving now gives the deciding review its ops.
        reviewed = event.kind == "proposal" and self.policy_index.decisive(event.id) is not None
        self.policy_index.note_valid(event, grant)
        if event.kind == REVOKE or reviewed:
            return True
        if event.kind == "review":
            # Any change of the deciding review but one moves effects already applied: the old decision
            # loses its ops, or an earlier review (undecided until now) gains them. The exception: this
            # review decides a proposal nothing decided before, and its ops apply with it.
            after = self.policy_index.decisive(event.payload["proposal"])
            before_id, after_id = before and before.id, after and after.id
            return before_id != after_id and not (before_id is None and after_id == event.id)
        return False

    # -- every event --------------------------------------------------------------------------------

    def recompute_all(self, order: Sequence[str], events: Mapping[str, Event]) -> dict[str, VerdictRow]:
        """Re-derive every verdict; ``order`` is a causal order of all ids, ``events`` decodes them.

        Grants and revocations are settled first, all together (:meth:`_settle_authority`); then every
        other event is judged in causal order against that *whole* authority, so a revocation counts
        for the writes concurrent with it whether it sorts before or after them. The authority index is
        left as the verdicts say, ready for events that arrive next.
        """
        equivocated = {i for ids in self.forks.values() for i in ids}

        def static(e: Event) -> VerdictRow | None:
            if e.id == self.genesis.id:
                return (VALID, "")
            if e.id in equivocated:
                return equivocation(e.author, e.seq)
            if not self.follows_own_chain(e):
                return broken_chain(e.author, e.seq)
            return None

        verdicts: dict[str, VerdictRow] = {}
        authority: list[Event] = []
        for event_id in order:
            e = events[event_id]
            fixed = static(e)
            if fixed is not None:
                verdicts[event_id] = fixed
            elif e.kind in AUTHORITY_KINDS:
                authority.append(e)
        settled = self._settle_authority(authority)
        self.policy_index.reset()
        for e in authority:  # causal order, as the index expects
            v = settled[e.id]
            if isinstance(v, Allowed):
                self.policy_index.note_valid(e, v.grant)
        for event_id in order:
            e = events[event_id]
            if event_id in verdicts:
                if verdicts[event_id][0] == VALID:
                    self.policy_index.note_valid(e, None)  # the genesis
                continue
            v = settled[event_id] if e.kind in AUTHORITY_KINDS else self.verdict(e)
            if isinstance(v, Allowed):
                verdicts[event_id] = (VALID, grant_reason(v.grant))
                if e.kind not in AUTHORITY_KINDS:
                    self.policy_index.note_valid(e, v.grant)
            else:
                verdicts[event_id] = (QUARANTINED, f"{v.reason}: {v.detail}")
        return verdicts

    def _settle_authority(self, authority: list[Event]) -> dict[str, Verdict]:
        """Decide every grant and revocation (``authority``: in causal order) at once.

        A revocation counts for events concurrent with it, and its own validity can hinge on other
        revocations (of its author's grant, of a delegator's), concurrent ones included: the verdicts
        are a fixpoint, not one pass. ``Γ(R)`` judges every grant and revocation in causal order
        assuming ``R`` is the set of valid revocations, and returns the revocations found valid. Γ is
        antitone (assuming more revocations leaves fewer rights), so alternating it from ``R = ∅``
        gives an under-estimate that only grows and an over-estimate that only shrinks, until both stop
        (the well-founded fixpoint): usually they meet. Where they do not (revocations that each
        would void the other's right), the over-estimate holds — revocations win, the safe side —
        and those revocations are valid too. Every step is a function of the events, so every replica
        lands on the same verdicts.
        """
        lower: frozenset[str] = frozenset()
        while True:
            upper, under_lower = self._authority_pass(authority, lower)
            new_lower, under_upper = self._authority_pass(authority, upper)
            if new_lower == lower:
                break
            lower = new_lower
        # The verdicts assuming every revocation that may be valid; undecided revocations (valid
        # under the under-estimate only) keep the verdict they had there.
        return {i: under_lower[i] if i in upper and i not in lower else v for i, v in under_upper.items()}

    def _authority_pass(
        self, authority: list[Event], revocations: frozenset[str]
    ) -> tuple[frozenset[str], dict[str, Verdict]]:
        """Γ (see :meth:`_settle_authority`): judge ``authority`` assuming ``revocations`` are the valid
        revocations; return the revocations found valid and every verdict."""
        self.policy_index.reset()
        for e in authority:
            if e.id in revocations:
                self.policy_index.note_valid(e, None)
        verdicts: dict[str, Verdict] = {}
        valid_revocations = []
        for e in authority:
            v = self.verdict(e)
            verdicts[e.id] = v
            if isinstance(v, Allowed):
                if e.kind == REVOKE:
                    valid_revocations.append(e.id)
                else:
                    self.policy_index.note_valid(e, v.grant)
        return frozenset(valid_revocations), verdicts


def derive_verdicts(
    genesis: Event, events: Iterable[Event], policy: Policy | None = None
) -> dict[str, VerdictRow]:
    """Return the verdict of every event of one scope (``events``: the genesis's followers, in any
    causal order, e.g. store order), derived from the events alone, as a fresh replica would.

    What ``agentcrdt audit verify`` compares stored verdicts with.
    """
    dag = CausalDAG()
    by_id: dict[str, Event] = {}
    judge = Judge(genesis, policy or CapabilityPolicy(), lambda: dag, by_id.get)
    for e in (genesis, *events):
        if e.id in by_id:
            continue
        dag.add(Node(e.id, tuple(e.deps), e.lamport, e.author, e.seq, e.local))
        by_id[e.id] = e
        judge.note_seq(e.author, e.seq, e.id, e.local)
    return judge.recompute_all(dag.topo_order(), by_id)


def first_verdict_mismatch(store: EventStore) -> tuple[int, str, VerdictRow | None, VerdictRow] | None:
    """Derive every verdict of the events ``store`` holds and compare with the stored ones.

    Returns ``(position, id, stored, derived)`` of the first event, in store order, whose stored
    verdict differs, or None when all agree. The events must have passed ``verify_log`` first.
    """
    rows: list[tuple[int, str, VerdictRow | None]] = []
    events: list[Event] = []
    cursor = 0
    while batch := store.since_judged(cursor, limit=10_000):
        for position, stored, verdict in batch:
            rows.append((position, stored.id, verdict))
            events.append(decode_event(stored.raw, verify_signature=False))
            cursor = position
    if not events:
        return None
    derived = derive_verdicts(events[0], events[1:])
    for position, event_id, verdict in rows:
        if verdict != derived[event_id]:
            return position, event_id, verdict, derived[event_id]
    return None
