"""A Bloom filter over event ids: what a peer holds, in 16 bits an id (false positives ~0.05%).

A false positive only means an event the peer lacks is not sent at first. The sender also sends every
descendant of an event it sends (the peer cannot hold a child without its parent), so a false positive
inside a run of missing events costs nothing; one at the first missing event of a run leaves its
descendants orphans, asked for by id (``need``), and a missed head is found by the next hello. 16 bits
(not the usual 10) keep that rare: an orphaned run longer than the peer's orphan quota costs a second
transfer of the run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["BITS_PER_ID", "Bloom", "K"]

BITS_PER_ID = 16
K = 11  # the optimal number of hashes for 16 bits an id


def _positions(event_id: str, k: int, m: int) -> list[int]:
    # Double hashing (Kirsch and Mitzenmacher): k positions from two 64-bit hashes of the id.
    d = hashlib.blake2b(event_id.encode(), digest_size=16).digest()
    h1, h2 = int.from_bytes(d[:8], "big"), int.from_bytes(d[8:], "big") | 1
    return [(h1 + i * h2) % m for i in range(k)]


class Bloom:
    """A Bloom filter of ``m`` bits (a multiple of 8) and ``k`` hashes."""

    def __init__(self, bits: bytes | bytearray, k: int = K) -> None:
        self.bits = bytearray(bits)
        self.k = k
        self.m = len(self.bits) * 8

    @classmethod
    def of(cls, ids: Iterable[str], count: int) -> Bloom:
        """Return a filter sized for ``count`` ids holding ``ids``."""
        m = max(64, -(-count * BITS_PER_ID // 8) * 8)
        bloom = cls(bytes(m // 8))
        for i in ids:
            bloom.add(i)
        return bloom

    def add(self, event_id: str) -> None:
        for p in _positions(event_id, self.k, self.m):
            self.bits[p >> 3] |= 1 << (p & 7)

    def __contains__(self, event_id: object) -> bool:
        if not isinstance(event_id, str):
            return False
        return all(self.bits[p >> 3] & (1 << (p & 7)) for p in _positions(event_id, self.k, self.m))
