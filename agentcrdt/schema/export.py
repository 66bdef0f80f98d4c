"""Export an Entity class: JSON Schema (with ``x-crdt``), SQL DDL (SQLite / PostgreSQL), loading by name.

Column types follow the *value* a field shows (a Counter is an integer, Text is text, sets, lists and
maps are JSON). Every field column is nullable: replicas converge on whatever peers wrote, so a row can
lack a required field (a peer touched the entity before its creation reached us, or runs an older
schema) and the typed table must still accept it. Only ``id`` and ``deleted`` are NOT NULL.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import importlib
import importlib.util
import sys
import typing
import uuid
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from agentcrdt.errors import SchemaError, UsageError
from agentcrdt.materialize.atoms import table_for
from agentcrdt.schema import fields as F
from agentcrdt.schema.entity import Entity

__all__ = [
    "Column",
    "Dialect",
    "columns",
    "ddl_statements",
    "json_schema",
    "load_entity_class",
    "quote",
    "sql_ddl",
]

Dialect = Literal["sqlite", "postgresql"]
_UPDATED = "updated_at"

# Value kind -> column type per dialect. SQLite has no JSON, BOOLEAN or DECIMAL storage class: JSON is
# TEXT (canonical JSON text), booleans 0/1, Decimals TEXT so they stay exact.
_TYPES: dict[str, tuple[str, str]] = {
    "text": ("TEXT", "TEXT"),
    "int": ("INTEGER", "BIGINT"),
    "float": ("REAL", "DOUBLE PRECISION"),
    "bool": ("INTEGER", "BOOLEAN"),
    "decimal": ("TEXT", "NUMERIC"),
    "datetime": ("TEXT", "TIMESTAMPTZ"),
    "date": ("TEXT", "DATE"),
    "time": ("TEXT", "TIME"),
    "uuid": ("TEXT", "UUID"),
    "json": ("TEXT", "JSONB"),
}
# Checked in order: bool before int, datetime before date (subclasses).
_CLASS_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (decimal.Decimal, "decimal"),
    (str, "text"),
    (dt.datetime, "datetime"),
    (dt.date, "date"),
    (dt.time, "time"),
    (uuid.UUID, "uuid"),
)


@dataclass(frozen=True)
class Column:
    """One typed-table column: its name, value kind (a key of the type map) and nullability."""

    name: str
    kind: str
    nullable: bool = True

    def sql_type(self, dialect: Dialect) -> str:
        """Return the column's SQL type in ``dialect``."""
        return _TYPES[self.kind][0 if dialect == "sqlite" else 1]


def _literal_kind(values: tuple[Any, ...]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    return "text" if all(isinstance(v, str) for v in values) else "json"


def _value_kind(ann: Any) -> str:
    base, _ = F.strip_optional(ann)
    if typing.get_origin(base) is Literal:
        return _literal_kind(typing.get_args(base))
    if not isinstance(base, type):
        return "json"
    if issubclass(base, Enum):
        return _literal_kind(tuple(m.value for m in base))
    return next((kind for cls, kind in _CLASS_KINDS if issubclass(base, cls)), "json")


def _field_kind(spec: F.FieldSpec) -> str:
    m = spec.marker
    if isinstance(m, F.Counter):
        return "int"
    if isinstance(m, F.Text):
        return "text"
    if isinstance(m, F.AddWinsSet | F.Sequence | F.Map):
        return "json"
    return _value_kind(spec.annotation)


def columns(cls: type[Entity]) -> list[Column]:
    """Return the typed-table columns of an entity class, base columns first."""
    base = [Column("id", "text", False), Column("created_at", "int"), Column("updated_at", "int")]
    base.append(Column("deleted", "bool", False))
    return base + [Column(name, _field_kind(spec)) for name, spec in cls.crdt_fields().items()]


def quote(name: str) -> str:
    """Quote an SQL identifier (double quotes, embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def ddl_statements(cls: type[Entity], dialect: str = "sqlite") -> list[str]:
    """Return the ``CREATE TABLE`` and ``CREATE INDEX`` statements (each without a trailing ``;``)."""
    if dialect not in ("sqlite", "postgresql"):
        raise UsageError(f"unknown SQL dialect {dialect!r}; use 'sqlite' or 'postgresql'")
    d: Dialect = "sqlite" if dialect == "sqlite" else "postgresql"
    table = table_for(cls.entity_type)
    false = "0" if d == "sqlite" else "FALSE"
    lines = []
    for c in columns(cls):
        extra = " PRIMARY KEY NOT NULL" if c.name == "id" else ""
        if c.name == "deleted":
            extra = f" NOT NULL DEFAULT {false}"
        lines.append(f"    {quote(c.name)} {c.sql_type(d)}{extra}")
    body = ",\n".join(lines)
    return [
        f"CREATE TABLE IF NOT EXISTS {quote(table)} (\n{body}\n)",
        # Readers poll "what changed since": updated_at is the natural range key.
        f"CREATE INDEX IF NOT EXISTS {quote(table + '_updated_at')} ON {quote(table)} ({quote(_UPDATED)})",
    ]


def sql_ddl(cls: type[Entity], dialect: str = "sqlite") -> str:
    """Return the DDL script creating the entity's typed table named ``table_for(entity_type)``."""
    return "".join(f"{stmt};\n" for stmt in ddl_statements(cls, dialect))


def json_schema(cls: type[Entity]) -> dict[str, Any]:
    """Return pydantic's JSON Schema of the entity with an ``x-crdt`` keyword on each CRDT property.

    The schema describes field *values* (a float is a number); the wire form is the value codec's.
    """
    schema = cls.model_json_schema()
    props: dict[str, dict[str, Any]] = schema["properties"]
    for name, spec in cls.crdt_fields().items():
        if name in props:  # a field may be hidden from the schema (SkipJsonSchema)
            props[name]["x-crdt"] = spec.crdt
    props["deleted"]["x-crdt"] = "lww"
    for name in ("created_at", "updated_at"):
        props[name]["readOnly"] = True
    schema["x-entity-type"] = cls.entity_type
    schema["x-table"] = table_for(cls.entity_type)
    return schema


# -- loading a class by name ----------------------------------------------------------------------


def _load_file(path: Path) -> Any:
    if not path.is_file():
        raise UsageError(f"no Python file at {path}")
    resolved = path.resolve()
    # A stable, unique module name: pydantic resolves string annotations through sys.modules.
    name = f"_agentcrdt_schema_{resolved.stem}_{hashlib.sha256(str(resolved).encode()).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SchemaError:
        del sys.modules[name]
        raise
    except Exception as e:  # whatever the file raised, the user must see it as a load failure
        del sys.modules[name]
        raise UsageError(f"cannot load {path}: {type(e).__name__}: {e}") from e
    return module


def _load_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except SchemaError:
        raise
    except ModuleNotFoundError as e:
        raise UsageError(
            f"cannot import module {name!r} ({e}); use MODULE:Class for an importable module "
            "or path/to/file.py:Class for a file"
        ) from e
    except Exception as e:  # an import-time error in the user's module
        raise UsageError(f"cannot import module {name!r}: {type(e).__name__}: {e}") from e


def load_entity_class(target: str) -> type[Entity]:
    """Resolve ``"package.module:Class"`` or ``"path/to/file.py:Class"`` to an Entity subclass."""
    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr:
        raise UsageError(f"expected MODULE:Class or path/to/file.py:Class, got {target!r}")
    is_path = where.endswith(".py") or "/" in where or "\\" in where
    module = _load_file(Path(where)) if is_path else _load_module(where)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise UsageError(f"{where} has no attribute {attr!r}")
    if not (isinstance(obj, type) and issubclass(obj, Entity) and obj is not Entity):
        raise UsageError(f"{target} is not an agentcrdt Entity subclass (got {obj!r})")
    return obj
