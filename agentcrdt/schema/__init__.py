"""Typed entities: pydantic models whose fields are CRDTs, their ops builders, JSON Schema and SQL DDL.

See ``docs/entities.md``. Typical use::

    class Task(Entity):
        title: str = ""
        body: Annotated[str, Text()] = ""
        tags: Annotated[set[str], AddWinsSet()] = set()
        votes: Annotated[int, Counter()] = 0

    replica.commit("ops", {"ops": Task.create_ops(id="t1", title="Ship it")})
"""

from __future__ import annotations

from agentcrdt.schema.entity import BASE_FIELDS, Entity
from agentcrdt.schema.export import json_schema, load_entity_class, sql_ddl
from agentcrdt.schema.fields import (
    LWW,
    AddWinsSet,
    Counter,
    CRDTMarker,
    FieldSpec,
    GrowCounter,
    InvalidEntityValue,
    LWWSet,
    Map,
    MultiValue,
    Sequence,
    Text,
)
from agentcrdt.schema.typed_tables import TypedEntityProjection, TypedTables, typed_table_hook
from agentcrdt.schema.values import decode_value, encode_value

__all__ = [
    "BASE_FIELDS",
    "LWW",
    "AddWinsSet",
    "CRDTMarker",
    "Counter",
    "Entity",
    "FieldSpec",
    "GrowCounter",
    "InvalidEntityValue",
    "LWWSet",
    "Map",
    "MultiValue",
    "Sequence",
    "Text",
    "TypedEntityProjection",
    "TypedTables",
    "decode_value",
    "encode_value",
    "json_schema",
    "load_entity_class",
    "sql_ddl",
    "typed_table_hook",
]
