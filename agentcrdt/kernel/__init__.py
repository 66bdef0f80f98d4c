"""Pure CRDT kernel: stamps, type objects (registers, counters, sets, map, sequence), law checks.

Standard library only: no I/O, no clock, no randomness. Replicas supply every :class:`Stamp`.
Look types up by their stable name with :func:`get_type`; add your own with :func:`register_type`.
"""

from __future__ import annotations

from agentcrdt.kernel.base import TYPES, CRDTType, LatticeCRDT, Stable, canonical, get_type, register_type
from agentcrdt.kernel.clock import JSON, Stamp, Tag
from agentcrdt.kernel.counters import GCOUNTER, PNCOUNTER, GCounter, Inc, PNCounter
from agentcrdt.kernel.laws import check_laws
from agentcrdt.kernel.maps import MAP, MapRemove, MapType, MapUpdate
from agentcrdt.kernel.registers import LWW, MV, LWWRegister, MVRegister, MVSet, SetValue
from agentcrdt.kernel.sequence import RGA, ElemId, RGAType, SeqDelete, SeqInsert
from agentcrdt.kernel.sets import LWWSET, ORSET, LWWElementSet, ORSet, SetAdd, SetRemove

__all__ = [
    "GCOUNTER",
    "JSON",
    "LWW",
    "LWWSET",
    "MAP",
    "MV",
    "ORSET",
    "PNCOUNTER",
    "RGA",
    "TYPES",
    "CRDTType",
    "ElemId",
    "GCounter",
    "Inc",
    "LWWElementSet",
    "LWWRegister",
    "LatticeCRDT",
    "MVRegister",
    "MVSet",
    "MapRemove",
    "MapType",
    "MapUpdate",
    "ORSet",
    "PNCounter",
    "RGAType",
    "SeqDelete",
    "SeqInsert",
    "SetAdd",
    "SetRemove",
    "SetValue",
    "Stable",
    "Stamp",
    "Tag",
    "canonical",
    "check_laws",
    "get_type",
    "register_type",
]

for _t in (LWW, MV, GCOUNTER, PNCOUNTER, ORSET, LWWSET, MAP, RGA):
    register_type(_t)
del _t
