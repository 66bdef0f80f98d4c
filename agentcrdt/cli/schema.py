"""``agentcrdt schema export TARGET --format jsonschema|sqlite|postgresql``."""

from __future__ import annotations

import json

from agentcrdt.errors import UsageError


def export_command(target: str, fmt: str = "jsonschema") -> int:
    """Print the JSON Schema (indented) or the SQL DDL of the Entity class named by ``target``."""
    from agentcrdt.schema.export import json_schema, load_entity_class, sql_ddl

    if fmt not in ("jsonschema", "sqlite", "postgresql"):
        raise UsageError(f"unknown export format {fmt!r}; use jsonschema, sqlite or postgresql")
    cls = load_entity_class(target)
    if fmt == "jsonschema":
        print(json.dumps(json_schema(cls), indent=2, ensure_ascii=False))
    else:
        print(sql_ddl(cls, fmt), end="")
    return 0
