"""Projections of events into queryable SQLite tables, and reactive queries over them."""

from __future__ import annotations

from agentcrdt.materialize.atoms import Atom, Reader
from agentcrdt.materialize.entities import EntityProjection
from agentcrdt.materialize.follower import Projection, SQLiteFollower, Touched

__all__ = ["Atom", "EntityProjection", "Projection", "Reader", "SQLiteFollower", "Touched"]
