"""JSON Schema, SQL DDL (executed for real), load_entity_class and the CLI command."""

from __future__ import annotations

import json
import sqlite3
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from schema_models import Kitchen

from agentcrdt.cli._main import run
from agentcrdt.cli.schema import export_command
from agentcrdt.errors import SchemaError, UsageError
from agentcrdt.schema import Entity, json_schema, load_entity_class, sql_ddl

KITCHEN_SQLITE = """\
CREATE TABLE IF NOT EXISTS "kitchen" (
    "id" TEXT PRIMARY KEY NOT NULL,
    "created_at" INTEGER,
    "updated_at" INTEGER,
    "deleted" INTEGER NOT NULL DEFAULT 0,
    "title" TEXT,
    "price" REAL,
    "amount" TEXT,
    "when" TEXT,
    "day" TEXT,
    "color" TEXT,
    "big" INTEGER,
    "step" TEXT,
    "data" TEXT,
    "status" TEXT,
    "votes" INTEGER,
    "views" INTEGER,
    "tags" TEXT,
    "labels" TEXT,
    "steps" TEXT,
    "body" TEXT,
    "attrs" TEXT
);
CREATE INDEX IF NOT EXISTS "kitchen_updated_at" ON "kitchen" ("updated_at");
"""

KITCHEN_POSTGRES_TYPES = {
    "id": "text",
    "created_at": "bigint",
    "updated_at": "bigint",
    "deleted": "boolean",
    "title": "text",
    "price": "double precision",
    "amount": "numeric",
    "when": "timestamp with time zone",
    "day": "date",
    "color": "text",
    "big": "bigint",
    "step": "jsonb",
    "data": "jsonb",
    "status": "text",
    "votes": "bigint",
    "views": "bigint",
    "tags": "jsonb",
    "labels": "jsonb",
    "steps": "jsonb",
    "body": "text",
    "attrs": "jsonb",
}


def test_json_schema_names_each_crdt() -> None:
    schema = json_schema(Kitchen)
    props = schema["properties"]
    crdts = {name: p.get("x-crdt") for name, p in props.items()}
    assert crdts == {
        "id": None,
        "created_at": None,
        "updated_at": None,
        "deleted": "lww",
        "title": "lww",
        "price": "lww",
        "amount": "lww",
        "when": "lww",
        "day": "lww",
        "color": "lww",
        "big": "lww",
        "step": "lww",
        "data": "lww",
        "status": "mv",
        "votes": "pncounter",
        "views": "gcounter",
        "tags": "orset",
        "labels": "lwwset",
        "steps": "rga",
        "body": "rga",
        "attrs": "map",
    }
    assert (schema["x-entity-type"], schema["x-table"], schema["required"]) == ("Kitchen", "kitchen", ["id"])
    assert props["created_at"]["readOnly"] is True
    assert props["tags"]["type"] == "array" and props["tags"]["uniqueItems"] is True
    assert props["body"]["type"] == "string" and props["votes"]["type"] == "integer"
    assert "Step" in schema["$defs"]
    json.dumps(schema)  # plain JSON


def test_sqlite_ddl_snapshot_and_it_runs() -> None:
    ddl = sql_ddl(Kitchen)
    assert ddl == KITCHEN_SQLITE
    db = sqlite3.connect(":memory:")
    db.executescript(ddl)
    db.executescript(ddl)  # idempotent
    info = [(r[1], r[2], r[3], r[5]) for r in db.execute("PRAGMA table_info(kitchen)")]
    assert info[:4] == [
        ("id", "TEXT", 1, 1),
        ("created_at", "INTEGER", 0, 0),
        ("updated_at", "INTEGER", 0, 0),
        ("deleted", "INTEGER", 1, 0),
    ]
    assert [r[1] for r in db.execute("PRAGMA index_list(kitchen)")] == [
        "kitchen_updated_at",
        "sqlite_autoindex_kitchen_1",
    ]


def test_postgresql_ddl_runs(pg_conn: Any) -> None:
    ddl = sql_ddl(Kitchen, "postgresql")
    assert ddl.startswith('CREATE TABLE IF NOT EXISTS "kitchen" (\n    "id" TEXT PRIMARY KEY NOT NULL,\n')
    assert '"deleted" BOOLEAN NOT NULL DEFAULT FALSE' in ddl and '"when" TIMESTAMPTZ' in ddl
    schema = f"agentcrdt_schema_test_{uuid.uuid4().hex[:12]}"
    with pg_conn.cursor() as cur:  # one transaction, rolled back by the fixture
        cur.execute(f'CREATE SCHEMA "{schema}"')
        cur.execute(f'SET LOCAL search_path TO "{schema}"')
        cur.execute(ddl)
        cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'kitchen' ORDER BY ordinal_position",
            (schema,),
        )
        assert dict(cur.fetchall()) == KITCHEN_POSTGRES_TYPES
        cur.execute(
            'INSERT INTO kitchen (id, "when", tags, price) VALUES (%s, %s, %s::jsonb, %s)',
            ("k", "2024-01-01T00:00:00+00:00", '["a"]', 1.5),
        )
        cur.execute("SELECT deleted, tags FROM kitchen")
        assert cur.fetchall() == [(False, ["a"])]
        cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s ORDER BY indexname", (schema,))
        assert [r[0] for r in cur.fetchall()] == ["kitchen_pkey", "kitchen_updated_at"]


def test_sql_ddl_rejects_unknown_dialects() -> None:
    sql_ddl(Kitchen, "postgresql")
    with pytest.raises(UsageError, match="unknown SQL dialect 'mysql'"):
        sql_ddl(Kitchen, "mysql")


# -- load_entity_class --------------------------------------------------------------------------------

MODEL_FILE = """
from __future__ import annotations

from typing import Annotated

from agentcrdt.schema import AddWinsSet, Entity


class Note(Entity):
    title: str = ""
    tags: Annotated[set[str], AddWinsSet()] = set()


NOT_AN_ENTITY = 3
"""


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes_model.py"
    path.write_text(MODEL_FILE)
    return path


def test_load_from_a_file(model_file: Path) -> None:
    cls = load_entity_class(f"{model_file}:Note")
    assert cls.entity_type == "Note" and cls.crdt_fields()["tags"].crdt == "orset"
    assert load_entity_class(f"{model_file}:Note") is cls  # loaded once


def test_load_from_a_module(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(model_file.parent))
    monkeypatch.delitem(sys.modules, "notes_model", raising=False)
    assert load_entity_class("notes_model:Note").entity_type == "Note"
    assert load_entity_class("schema_models:Kitchen") is Kitchen


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{file}", "expected MODULE:Class"),
        ("{file}:Missing", "has no attribute 'Missing'"),
        ("{file}:NOT_AN_ENTITY", "not an agentcrdt Entity subclass"),
        ("{file}:Entity", "not an agentcrdt Entity subclass"),
        ("{dir}/nope.py:Note", "no Python file at"),
        ("no_such_module_xyz:Note", "cannot import module 'no_such_module_xyz'"),
    ],
)
def test_load_errors(model_file: Path, target: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_entity_class(target.format(file=model_file, dir=model_file.parent))


def test_load_errors_from_the_file_itself(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(UsageError, match=r"cannot load .*RuntimeError: boom"):
        load_entity_class(f"{broken}:X")
    bad_schema = tmp_path / "bad_schema.py"
    bad_schema.write_text(
        textwrap.dedent(
            """
            from typing import Annotated
            from agentcrdt.schema import Counter, Entity

            class Bad(Entity):
                n: Annotated[str, Counter()] = ""
            """
        )
    )
    with pytest.raises(SchemaError, match=r"Bad\.n: Counter\(\) needs an `int` field"):
        load_entity_class(f"{bad_schema}:Bad")


# -- the CLI ------------------------------------------------------------------------------------------


def test_export_command_prints_json_schema(model_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export_command(f"{model_file}:Note", "jsonschema") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["properties"]["tags"]["x-crdt"] == "orset" and out["x-table"] == "note"


@pytest.mark.parametrize(("fmt", "int_type"), [("sqlite", "INTEGER"), ("postgresql", "BIGINT")])
def test_cli_prints_ddl(
    model_file: Path, capsys: pytest.CaptureFixture[str], fmt: str, int_type: str
) -> None:
    assert run(["schema", "export", f"{model_file}:Note", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert out.startswith('CREATE TABLE IF NOT EXISTS "note" (') and f'"created_at" {int_type}' in out


def test_cli_reports_a_bad_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["schema", "export", "no_such_module_xyz:Note"]) == 2
    assert "cannot import module 'no_such_module_xyz'" in capsys.readouterr().err


def test_export_command_rejects_unknown_formats(model_file: Path) -> None:
    with pytest.raises(UsageError, match="unknown export format"):
        export_command(f"{model_file}:Note", "yaml")


def test_entity_base_is_not_exportable() -> None:
    assert issubclass(Kitchen, Entity)
    with pytest.raises(UsageError, match="not an agentcrdt Entity subclass"):
        load_entity_class("agentcrdt.schema:Entity")
