"""The causal DAG of one scope: heads, ancestors, concurrency and what a peer is missing.

Pure over values: nodes carry only what the graph needs (id, deps, Lamport clock, author, seq, local
flag); decoding, hashing and signatures live elsewhere. Every dependency must already be present when a
node is added, so the graph is acyclic by construction and any insertion order that respects causality
yields the same graph. Orphans wait in :class:`agentcrdt.log.pending.PendingBuffer`.

Two facts carry the algorithms:

* Lamport clocks strictly increase along edges (``lamport == 1 + max(deps)``), so sorting by
  ``(lamport, id)`` is a deterministic topological order, and a walk towards the roots can stop as soon as
  the clock drops to the target's.
* Local-only nodes are never synced, so a shared node may not depend on one; shared heads are computed as
  if local nodes did not exist.

No per-node ancestor sets are stored: memory stays O(nodes + edges) for million-node logs, and queries
walk only the part of the graph between the frontiers involved.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from agentcrdt.errors import UsageError

__all__ = ["CausalDAG", "Node"]


class Node(NamedTuple):
    """One event as the DAG sees it (a NamedTuple: a million of them build ~2.5x faster than dataclasses)."""

    id: str
    deps: tuple[str, ...]
    lamport: int
    author: str
    seq: int
    local: bool = False


# Flags used by ``missing``'s two-colour walk.
_THEIRS = 1
_OURS = 2


class CausalDAG:
    """An append-only causal graph with incrementally maintained heads."""

    __slots__ = ("_heads", "_nodes", "_shared_heads")

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}
        self._heads: set[str] = set()  # nodes without children, local ones included
        self._shared_heads: set[str] = set()  # non-local nodes without non-local children

    # -- building ---------------------------------------------------------------------------------

    def add(self, node: Node) -> bool:
        """Add ``node``; return False if the identical node is already present.

        Raise UsageError if a dep is unknown (buffer the node until it arrives), if the Lamport clock
        is not ``1 + max(dep clocks)``, if a shared node depends on a local one, if deps repeat, or if
        a different node already has this id.
        """
        nodes = self._nodes
        existing = nodes.get(node.id)
        if existing is not None:
            if existing == node:
                return False
            raise UsageError(f"a different node with id {node.id} is already in the DAG; ids must be digests")
        if len(node.deps) > 1 and len(set(node.deps)) != len(node.deps):
            raise UsageError(f"node {node.id} lists a dep twice; deps must be distinct")
        top = 0
        for dep_id in node.deps:
            dep = nodes.get(dep_id)
            if dep is None:
                raise UsageError(
                    f"node {node.id} depends on unknown {dep_id}; hold it in the pending buffer until the dep"
                    " is added"
                )
            if dep.local and not node.local:
                raise UsageError(f"shared node {node.id} depends on local-only {dep_id}; mark it local")
            if dep.lamport > top:
                top = dep.lamport
        if node.lamport != top + 1:
            raise UsageError(
                f"node {node.id} has lamport {node.lamport}, expected {top + 1} (1 + max of deps)"
            )
        nodes[node.id] = node
        heads = self._heads
        for dep_id in node.deps:
            heads.discard(dep_id)
        heads.add(node.id)
        if not node.local:
            # Deps of a shared node are all shared (checked above).
            shared = self._shared_heads
            for dep_id in node.deps:
                shared.discard(dep_id)
            shared.add(node.id)
        return True

    # -- lookups ----------------------------------------------------------------------------------

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[str]:
        """Iterate ids in insertion order (a causal order, but not the canonical one: see topo_order)."""
        return iter(self._nodes)

    def get(self, node_id: str) -> Node | None:
        """Return the node, or None if it is not present."""
        return self._nodes.get(node_id)

    def lamport(self, node_id: str) -> int:
        """Return the Lamport clock of a present node."""
        return self._require(node_id).lamport

    def heads(self, include_local: bool = False) -> frozenset[str]:
        """Return the nodes nobody depends on: the deps of the next event.

        By default local-only nodes are ignored (these are the heads to advertise to peers); with
        ``include_local=True`` they count, which is what a local-only event should depend on.
        """
        return frozenset(self._heads if include_local else self._shared_heads)

    # -- queries ----------------------------------------------------------------------------------

    def ancestors(self, ids: Iterable[str], include_self: bool = True) -> set[str]:
        """Return every node reachable from ``ids`` through deps. Unknown ids raise UsageError."""
        nodes = self._nodes
        start = [self._require(i).id for i in ids]
        # Explicit stack: 100k-long chains would overflow a recursive walk.
        seen: set[str] = set(start) if include_self else set()
        stack = list(start)
        while stack:
            for dep_id in nodes[stack.pop()].deps:
                if dep_id not in seen:
                    seen.add(dep_id)
                    stack.append(dep_id)
        return seen

    def is_ancestor(self, a: str, b: str) -> bool:
        """Return True if ``a`` is in the causal past of ``b`` (reflexive: a node is its own ancestor)."""
        node_a, node_b = self._require(a), self._require(b)
        if a == b:
            return True
        floor = node_a.lamport
        if floor >= node_b.lamport:
            return False
        nodes = self._nodes
        seen = {b}
        stack = [b]
        while stack:
            for dep_id in nodes[stack.pop()].deps:
                if dep_id == a:
                    return True
                # Clocks grow along edges: below a's clock nothing can lead back up to a.
                if dep_id not in seen and nodes[dep_id].lamport > floor:
                    seen.add(dep_id)
                    stack.append(dep_id)
        return False

    def concurrent(self, a: str, b: str) -> bool:
        """Return True if neither node is an ancestor of the other (a node is not concurrent with itself)."""
        return not self.is_ancestor(a, b) and not self.is_ancestor(b, a)

    def missing(self, ours: Iterable[str], theirs: Iterable[str], include_local: bool = False) -> list[str]:
        """Return ``ancestors(theirs) - ancestors(ours)`` in topological order.

        That is what a peer whose heads are ``theirs`` must send a peer whose heads are ``ours``. Ids
        this DAG does not know are ignored on both sides: an unknown id in ``ours`` only means we may
        send something the peer already has, never that we skip something it lacks. Local-only nodes
        are left out unless ``include_local`` (they are never synced).
        """
        nodes = self._nodes
        flags: dict[str, int] = {}
        heap: list[tuple[int, str]] = []
        undecided = 0  # queued nodes reached from theirs but not (yet) from ours
        ours_queued = 0  # queued nodes reached from ours
        for flag, ids in ((_OURS, ours), (_THEIRS, theirs)):
            for node_id in ids:
                if node_id in nodes and node_id not in flags:
                    flags[node_id] = flag
                    heapq.heappush(heap, (-nodes[node_id].lamport, node_id))
                    undecided += flag == _THEIRS
                    ours_queued += flag == _OURS
        # Pop highest clock first: every descendant of a popped node was popped before it, so its
        # colours are final. Stop when nothing queued is theirs-only (the rest is in our past), or
        # switch to a plain walk once no ours-coloured node is queued (our whole past has been seen).
        out: list[str] = []
        while undecided and ours_queued:
            _, node_id = heapq.heappop(heap)
            flag = flags[node_id]
            node = nodes[node_id]
            if flag == _THEIRS:
                undecided -= 1
                out.append(node_id)
            else:
                ours_queued -= 1
            for dep_id in node.deps:
                old = flags.get(dep_id, 0)
                if old | flag != old:
                    flags[dep_id] = old | flag
                    if old == 0:
                        heapq.heappush(heap, (-nodes[dep_id].lamport, dep_id))
                        undecided += flag == _THEIRS
                        ours_queued += flag != _THEIRS
                    elif old == _THEIRS:  # now ours too
                        undecided -= 1
                        ours_queued += 1
        if undecided:
            # All of our past has been walked: the rest is a plain traversal, no ordering needed.
            stack = [node_id for _, node_id in heap]
            out.extend(stack)
            while stack:
                for dep_id in nodes[stack.pop()].deps:
                    if dep_id not in flags:
                        flags[dep_id] = _THEIRS
                        out.append(dep_id)
                        stack.append(dep_id)
        keyed = [(nodes[i].lamport, i) for i in out if include_local or not nodes[i].local]
        keyed.sort()
        return [node_id for _, node_id in keyed]

    def topo_order(self, ids: Iterable[str] | None = None) -> list[str]:
        """Return ``ids`` (default: every node) sorted by ``(lamport, id)``: a canonical linear extension.

        The same set gives the same list on every replica, whatever the order nodes were added in.
        """
        if ids is None:
            keyed = [(n.lamport, n.id) for n in self._nodes.values()]
        else:
            keyed = [(self._require(i).lamport, i) for i in set(ids)]
        keyed.sort()
        return [node_id for _, node_id in keyed]

    def ancestors_of_heads(self, heads: Iterable[str]) -> list[str]:
        """Return the causal past of ``heads`` (inclusive) in topo order: fold it to get state as of heads."""
        return self.topo_order(self.ancestors(heads))

    def _require(self, node_id: str) -> Node:
        node = self._nodes.get(node_id)
        if node is None:
            raise UsageError(f"unknown node {node_id}; check `id in dag` first")
        return node
