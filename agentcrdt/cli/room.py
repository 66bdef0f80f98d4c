"""``agentcrdt room init|add|ls|show|history|sign|verify|access-log``: thin commands over the dataroom.

Wire into the main parser with ``room.register(sub)``. The library is imported inside each command, so
``agentcrdt --help`` does not pay for pydantic models, pypdf or python-docx.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcrdt.errors import UsageError

if TYPE_CHECKING:
    from agentcrdt.dataroom import Dataroom, Limits
    from agentcrdt.log.keys import Identity

__all__ = [
    "access_log_command",
    "add_command",
    "history_command",
    "init_command",
    "ls_command",
    "register",
    "show_command",
    "sign_command",
    "verify_command",
]

KEY_ENV = "AGENTCRDT_KEY"
MB = 1024 * 1024


def default_key_path(room: str | Path) -> Path:
    """Return the room's default key file: ``<room file>.key`` beside it."""
    p = Path(room)
    return p.with_name(p.name + ".key")


def _identity(room: str, key: str | None, *, required: bool) -> Identity | None:
    from agentcrdt.log.keys import Identity

    path = key or os.environ.get(KEY_ENV)
    if path:
        return Identity.load(path)
    default = default_key_path(room)
    if default.is_file():
        return Identity.load(default)
    if required:
        raise UsageError(
            f"which key signs this? pass --key PATH, set {KEY_ENV}, or keep the room's key at {default}"
        )
    return None


def _limits(max_file_mb: float | None, max_text_mb: float | None) -> Limits:
    from agentcrdt.dataroom import Limits

    base = Limits()
    return Limits(
        max_file_bytes=base.max_file_bytes if max_file_mb is None else int(max_file_mb * MB),
        max_text_bytes=base.max_text_bytes if max_text_mb is None else int(max_text_mb * MB),
    )


def _open(
    room: str, key: str | None = None, *, required: bool = False, limits: Limits | None = None
) -> Dataroom:
    from agentcrdt.dataroom import Dataroom, Limits
    from agentcrdt.errors import NotFound

    if not Path(room).is_file():  # say what is wrong with the room before asking for a key
        raise NotFound(f"no room file at {room}; create one with: agentcrdt room init {room}")
    return Dataroom.open(room, identity=_identity(room, key, required=required), limits=limits or Limits())


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _who(author: str) -> str:
    return author.removeprefix("ed25519:")[:12]


def _dump(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


# -- commands ----------------------------------------------------------------------------------------


def init_command(room: str, *, key: str | None, name: str | None, as_json: bool) -> int:
    """Create a room and, unless ``key`` names one, a new owner key beside it (``ROOM.key``, 0600)."""
    from agentcrdt.dataroom import Dataroom
    from agentcrdt.log.keys import Identity

    path = Path(room)
    if path.exists():
        raise UsageError(f"{path} already exists; add files to it with 'agentcrdt room add {path} FILE…'")
    created_key = None
    if key is not None:
        identity = Identity.load(key)
    else:
        key_path = default_key_path(path)
        if key_path.exists():
            identity = Identity.load(key_path)
        else:
            identity = Identity.generate()
            identity.save(key_path)
            created_key = str(key_path)
    with Dataroom.create(path, identity, name=name) as r:
        scope = r.replica.scope
    if as_json:
        _dump({"room": str(path), "scope": scope, "owner": identity.author, "key_created": created_key})
        return 0
    print(f"created room {path} (scope {scope})")
    print(f"owner {identity.author}")
    if created_key:
        print(f"owner key written to {created_key} (keep it secret; back it up)")
    print(f"next: agentcrdt room add {path} FILE…")
    return 0


def add_command(
    room: str,
    files: list[str],
    *,
    key: str | None,
    folder: str | None,
    document_id: str | None,
    max_file_mb: float | None,
    max_text_mb: float | None,
    as_json: bool,
) -> int:
    """Add files (all or nothing): new documents, new versions of changed ones, nothing for unchanged."""
    with _open(room, key, required=True, limits=_limits(max_file_mb, max_text_mb)) as r:
        results = r.add(files, folder=folder, document_id=document_id)
    if as_json:
        _dump([x.to_json() for x in results])
        return 0
    for x in results:
        part = f" in {x.chunks} parts" if x.chunks > 1 else ""
        print(f"{x.status:<9} {x.document:<32} v{x.number}  {x.chars} chars{part}  ({x.path})")
    written = sum(1 for x in results if x.status != "unchanged")
    print(f"{written} of {len(results)} file(s) changed the room" if written else "nothing changed")
    return 0


def ls_command(room: str, *, as_json: bool) -> int:
    """List documents: id, current version, kind, status, tags, title."""
    with _open(room) as r:
        rows = []
        for d in r.documents():
            versions = r.versions(d.id)
            current = next((v for v in versions if v.id == d.current_version), None)
            rows.append((d, current.number if current else 0, len(versions)))
    if as_json:
        _dump(
            [
                {**d.model_dump(mode="json", exclude={"fields"}), "version": n, "versions": total}
                for d, n, total in rows
            ]
        )
        return 0
    if not rows:
        print(f"no documents yet: agentcrdt room add {room} FILE…")
        return 0
    for d, n, total in rows:
        tags = ",".join(sorted(d.tags)) or "-"
        print(f"{d.id:<32} v{n}/{total}  {d.kind or '-':<14} {d.status:<12} {tags:<24} {d.title}")
    return 0


def show_command(
    room: str, doc: str, *, version: int | None, key: str | None, text: bool, as_json: bool
) -> int:
    """Show a document: metadata, tags, fields, links, findings, comments, signatures and (logged) text."""
    with _open(room, key, required=text) as r:
        d = r.document(doc)
        v = r.version(d.id, version)
        body = r.read(d.id, v.number, via="cli:show").text if text else None
        links, findings, comments = r.links(d.id), r.findings(d.id), r.comments(d.id)
        sigs = [s for s in r.signatures(d.id) if s.version == v.id]
    if as_json:
        _dump(
            {
                "document": d.model_dump(mode="json"),
                "version": v.model_dump(mode="json", exclude={"text"}),
                "links": [x.model_dump(mode="json") for x in links],
                "findings": [x.model_dump(mode="json") for x in findings],
                "comments": [x.model_dump(mode="json") for x in comments],
                "signatures": [x.model_dump(mode="json") for x in sigs],
                "text": body,
            }
        )
        return 0
    print(f"document   {d.id}   {d.title}")
    print(f"kind       {d.kind or '-'}   status {d.status}   folder {d.folder or '-'}")
    print(f"version    v{v.number} {v.id}  ({v.source_name}, {v.mime}, {v.size} bytes)")
    print(f"hash       {v.content_hash}   added by {_who(v.added_by)} {_when(v.created_at or 0)}")
    print(f"tags       {', '.join(sorted(d.tags)) or '-'}")
    if d.summary:
        print(f"summary    {d.summary}")
    for name, fv in sorted(d.fields.items()):
        where = f" [{fv.start}:{fv.end}]" if fv.start is not None else ""
        print(f"field      {name} = {fv.value!r}  “{fv.quote}”{where}")
    for lk in links:
        other = lk.target if lk.source == d.id else lk.source
        arrow = "->" if lk.source == d.id else "<-"
        print(f"link       {arrow} {lk.relation} {other} (confidence {lk.confidence})")
    for f in findings:
        print(f"finding    {f.kind}/{f.severity} [{f.status}] {f.title}")
        for span in f.evidence:
            print(f"             {span.document}: “{span.quote}”")
    for c in comments:
        print(f"comment    {_who(c.author)}: {c.body}")
    for s in sigs:
        print(f"signature  {_who(s.signer)} “{s.statement}” {_when(s.signed_at)}")
    if body is not None:
        print("-" * 80)
        print(body, end="" if body.endswith("\n") else "\n")
    return 0


def history_command(room: str, doc: str, *, as_json: bool) -> int:
    """List a document's versions and the events touching it."""
    with _open(room) as r:
        d = r.document(doc)
        versions = r.versions(d.id)
        events = r.history(d.id)
    if as_json:
        _dump(
            {
                "document": d.id,
                "versions": [v.model_dump(mode="json", exclude={"text"}) for v in versions],
                "events": [e.to_json() for e in events],
            }
        )
        return 0
    print(f"{d.id}: {len(versions)} version(s)")
    for v in versions:
        mark = "*" if v.id == d.current_version else " "
        print(
            f" {mark}v{v.number:<3} {_when(v.created_at or 0)}  {v.content_hash[:23]}…  {v.text_bytes} bytes"
            f"  {v.source_name}  by {_who(v.added_by)}"
        )
    print("events:")
    for e in events:
        local = " (local)" if e.local else ""
        print(f"  {_when(e.time_ms)}  {e.event_id[7:19]}  {e.kind:<8} {_who(e.author)}{local}  {e.summary}")
    return 0


def sign_command(
    room: str, doc: str, *, version: int | None, statement: str, key: str | None, as_json: bool
) -> int:
    """Sign a version's content hash with the signer's key and record the signature."""
    with _open(room, key, required=True) as r:
        sig = r.sign(doc, version, statement=statement)
        number = next((x.number for x in r.versions(sig.document) if x.id == sig.version), 0)
    if as_json:
        _dump(sig.model_dump(mode="json"))
        return 0
    print(f"signed {sig.document} v{number} ({sig.content_hash}) as {sig.signer}: “{sig.statement}”")
    return 0


def verify_command(room: str, doc: str | None, *, as_json: bool) -> int:
    """Re-hash every version and verify every signature; exit 1 if anything fails."""
    with _open(room) as r:
        results = r.verify(doc)
    failed = [x for x in results if not x.ok]
    if as_json:
        _dump({"ok": not failed, "checks": [x.to_json() for x in results]})
        return 1 if failed else 0
    for x in results:
        mark = "ok    " if x.ok else "FAILED"
        what = "text" if x.what == "text" else f"signed by {_who(x.signer)} “{x.statement}”"
        reason = f": {x.reason}" if x.reason else ""
        print(f"{mark} {x.document} v{x.number} {what}{reason}")
    texts = sum(1 for x in results if x.what == "text")
    print(
        f"{len(failed)} FAILED of {len(results)} checks"
        if failed
        else f"all {texts} version(s) and {len(results) - texts} signature(s) verify"
    )
    return 1 if failed else 0


def access_log_command(room: str, doc: str | None, *, as_json: bool) -> int:
    """Show who read which document version, when (this replica's local access log)."""
    with _open(room) as r:
        records = r.access_log(doc)
        numbers = {v.id: v.number for d in {x.document for x in records} for v in r.versions(d)}
    if as_json:
        _dump([{**x.to_json(), "number": numbers.get(x.version)} for x in records])
        return 0
    if not records:
        print("no reads logged")
        return 0
    for x in records:
        n = numbers.get(x.version)
        print(f"{_when(x.time_ms)}  {x.reader}  read {x.document} v{n if n else '?'}  via {x.via}")
    return 0


# -- argparse ----------------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    cmd = args.room_cmd
    if cmd == "init":
        return init_command(args.path, key=args.key, name=args.name, as_json=args.json)
    if cmd == "add":
        return add_command(
            args.path,
            args.files,
            key=args.key,
            folder=args.folder,
            document_id=args.document_id,
            max_file_mb=args.max_file_mb,
            max_text_mb=args.max_text_mb,
            as_json=args.json,
        )
    if cmd == "ls":
        return ls_command(args.path, as_json=args.json)
    if cmd == "show":
        return show_command(
            args.path, args.doc, version=args.version, key=args.key, text=not args.no_text, as_json=args.json
        )
    if cmd == "history":
        return history_command(args.path, args.doc, as_json=args.json)
    if cmd == "sign":
        return sign_command(
            args.path,
            args.doc,
            version=args.version,
            statement=args.statement,
            key=args.key,
            as_json=args.json,
        )
    if cmd == "verify":
        return verify_command(args.path, args.doc, as_json=args.json)
    return access_log_command(args.path, args.doc, as_json=args.json)


def register(subparsers: Any) -> None:
    """Add ``room`` and its actions to the main parser's subparsers."""
    room = subparsers.add_parser("room", help="a dataroom: documents, versions, reads, signatures")
    sub = room.add_subparsers(dest="room_cmd", metavar="ACTION", required=True)
    key_help = f"signing key file (default: ${KEY_ENV}, else ROOM.key beside the room)"

    def action(name: str, text: str, *, key: bool = False) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
        p.add_argument("path", help="the room's SQLite file")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        if key:
            p.add_argument("--key", help=key_help)
        p.set_defaults(handler=_run)
        return p

    init = action("init", "create a room and its owner key (ROOM.key, owner-only)")
    init.add_argument("--key", help="use this existing key file as the owner instead of creating ROOM.key")
    init.add_argument("--name", help="the room's name (default: the file name)")

    add = action("add", "add .txt/.md/.pdf/.docx files: new documents or new versions", key=True)
    add.add_argument("files", nargs="+", metavar="FILE")
    add.add_argument("--folder", help="put the documents in this folder (e.g. deal/contracts)")
    add.add_argument("--as", dest="document_id", metavar="DOC", help="add one file as a version of DOC")
    add.add_argument("--max-file-mb", type=float, help="largest file accepted (default 20)")
    add.add_argument("--max-text-mb", type=float, help="largest extracted text accepted (default 8)")

    action("ls", "list documents")

    show = action("show", "show a document and its current text (the read is logged)", key=True)
    show.add_argument("doc", help="document id or file name")
    show.add_argument("--version", type=int, help="version number (default: current)")
    show.add_argument("--no-text", action="store_true", help="metadata only (not logged: no text is read)")

    history = action("history", "list a document's versions and the events touching it")
    history.add_argument("doc", help="document id or file name")

    sign = action("sign", "sign a document version's content hash", key=True)
    sign.add_argument("doc", help="document id or file name")
    sign.add_argument("--version", type=int, help="version number (default: current)")
    sign.add_argument(
        "--statement", default="approved", help="what the signature attests (default: approved)"
    )

    verify = action("verify", "re-hash every version and verify every signature (exit 1 on failure)")
    verify.add_argument("doc", nargs="?", help="only this document")

    log = action("access-log", "show who read which document version, when")
    log.add_argument("--doc", dest="doc", help="only this document")
