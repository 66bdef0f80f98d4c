"""Argument parsing and dispatch. Commands import the library lazily so ``--help`` stays instant."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from agentcrdt import __version__
from agentcrdt.cli import eval as eval_cli
from agentcrdt.cli import rabbithole as rabbithole_cli
from agentcrdt.cli import room
from agentcrdt.cli import sync as sync_cli
from agentcrdt.cli import ui as ui_cli
from agentcrdt.cli.worker import add_worker_arguments
from agentcrdt.errors import AgentCRDTError, CapabilityDenied

Handler = Callable[[argparse.Namespace], int]


def _audit_verify(args: argparse.Namespace) -> int:
    from agentcrdt.cli.audit import verify_command

    return verify_command(args.path, as_json=args.json)


def _log_show(args: argparse.Namespace) -> int:
    from agentcrdt.cli.audit import show_command

    return show_command(args.path, limit=args.limit, as_json=args.json)


def _schema_export(args: argparse.Namespace) -> int:
    from agentcrdt.cli.schema import export_command

    return export_command(args.target, fmt=args.format)


def _proposals(args: argparse.Namespace) -> int:
    from agentcrdt.cli import proposals as p

    if args.proposals_cmd == "list":
        return p.list_command(args.room, status=args.status, as_json=args.json)
    if args.proposals_cmd == "show":
        return p.show_command(args.room, args.id, as_json=args.json)
    return p.decide_command(
        args.room,
        args.id,
        args.proposals_cmd,
        note=args.note,
        key=args.key,
        as_json=args.json,
        force=getattr(args, "force", False),
    )


def _grant(args: argparse.Namespace) -> int:
    from agentcrdt.cli.proposals import grant_command

    return grant_command(args.room, args.grantee, args.capability, key=args.key)


def _revoke(args: argparse.Namespace) -> int:
    from agentcrdt.cli.proposals import revoke_command

    return revoke_command(args.room, args.grant, reason=args.reason, key=args.key)


def _key_new(args: argparse.Namespace) -> int:
    from agentcrdt.cli.proposals import key_new_command

    return key_new_command(args.path)


def _worker(args: argparse.Namespace) -> int:
    from agentcrdt.cli.worker import worker_command

    return worker_command(args)


def _demo(args: argparse.Namespace) -> int:
    from agentcrdt.demo import run

    return run(args.dir, model=args.model, kernel=args.kernel)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``agentcrdt`` command."""
    parser = argparse.ArgumentParser(
        prog="agentcrdt",
        description="LLM agents and humans as peers of one signed, convergent event log.",
    )
    parser.add_argument("--version", action="version", version=f"agentcrdt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    room.register(sub)
    eval_cli.register(sub)
    rabbithole_cli.register(sub)
    sync_cli.register(sub)
    ui_cli.register(sub)

    demo = sub.add_parser("demo", help="run the end-to-end demo on the embedded defaults")
    demo.add_argument("--dir", default=None, help="where to put the demo's files (default: ./demo-room)")
    demo.add_argument(
        "--model", default=None, help="model for the agents (default: $AGENTCRDT_MODEL, else offline)"
    )
    demo.add_argument("--kernel", action="store_true", help="run the two-peer kernel demo instead")
    demo.set_defaults(handler=_demo)

    audit = sub.add_parser("audit", help="verify a room's log").add_subparsers(
        dest="audit_cmd", metavar="ACTION"
    )
    verify = audit.add_parser("verify", help="re-derive every id and signature and check the DAG")
    verify.add_argument("path", help="the room's SQLite file")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(handler=_audit_verify)

    log = sub.add_parser("log", help="inspect a room's log").add_subparsers(dest="log_cmd", metavar="ACTION")
    show = log.add_parser("show", help="list events in causal order")
    show.add_argument("path", help="the room's SQLite file")
    show.add_argument("--limit", type=int, default=50, help="how many events to list (default 50)")
    show.add_argument("--json", action="store_true", help="print JSON lines")
    show.set_defaults(handler=_log_show)

    worker = sub.add_parser("worker", help="run agent workers").add_subparsers(
        dest="worker_cmd", metavar="ACTION"
    )
    run_worker = worker.add_parser("run", help="follow the log, run an agent, append its proposals")
    add_worker_arguments(run_worker)
    run_worker.set_defaults(handler=_worker)

    proposals = sub.add_parser("proposals", help="review agents' merge proposals").add_subparsers(
        dest="proposals_cmd", metavar="ACTION"
    )
    for action, text in (
        ("list", "list proposals, oldest first"),
        ("show", "show one proposal: evidence, ops, base / proposed / current"),
        ("accept", "accept a pending proposal (its ops apply at your review)"),
        ("reject", "reject a pending proposal"),
    ):
        cmd = proposals.add_parser(action, help=text)
        if action != "list":
            cmd.add_argument("id", help="proposal id (an unambiguous prefix is enough)")
        else:
            cmd.add_argument(
                "--status", choices=("pending", "accepted", "auto_accepted", "rejected", "quarantined")
            )
        cmd.add_argument("--room", required=True, help="the room's SQLite file")
        cmd.add_argument("--json", action="store_true", help="machine-readable output")
        if action in ("accept", "reject"):
            cmd.add_argument("--note", default="", help="a note recorded with the review")
            cmd.add_argument("--key", help="reviewer's key file (default: $AGENTCRDT_KEY)")
        if action == "accept":
            cmd.add_argument(
                "--force", action="store_true", help="accept even if an evidence span does not check out"
            )
        cmd.set_defaults(handler=_proposals)

    grant = sub.add_parser("grant", help="grant a capability slot to a peer (an agent's key)")
    grant.add_argument("grantee", help="'ed25519:…' author or the grantee's key file")
    grant.add_argument("capability", help="agents/<file>.py[:Name] defining the capability")
    grant.add_argument("--room", required=True, help="the room's SQLite file")
    grant.add_argument("--key", help="granter's key file (default: $AGENTCRDT_KEY)")
    grant.set_defaults(handler=_grant)

    revoke = sub.add_parser("revoke", help="revoke a grant (wins over the grantee's concurrent writes)")
    revoke.add_argument("grant", help="the grant event id")
    revoke.add_argument("--room", required=True, help="the room's SQLite file")
    revoke.add_argument("--reason", default="", help="why")
    revoke.add_argument("--key", help="revoker's key file (default: $AGENTCRDT_KEY)")
    revoke.set_defaults(handler=_revoke)

    key = sub.add_parser("key", help="signing keys").add_subparsers(dest="key_cmd", metavar="ACTION")
    new = key.add_parser("new", help="create a new Ed25519 key file (owner-only permissions)")
    new.add_argument("path")
    new.set_defaults(handler=_key_new)

    schema = sub.add_parser("schema", help="entity schemas").add_subparsers(
        dest="schema_cmd", metavar="ACTION"
    )
    export = schema.add_parser("export", help="export an Entity's JSON Schema or SQL DDL")
    export.add_argument("target", help="MODULE:Class or path/to/file.py:Class (an agentcrdt Entity subclass)")
    export.add_argument(
        "--format", choices=("jsonschema", "sqlite", "postgresql"), default="jsonschema", help="output format"
    )
    export.set_defaults(handler=_schema_export)
    return parser


def run(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; map library errors to a one-line message and exit code."""
    parser = build_parser()
    args = parser.parse_args(eval_cli.expand_shorthand(list(sys.argv[1:] if argv is None else argv)))
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except CapabilityDenied as e:
        hint = "ask an owner of the room for a grant that covers it (agentcrdt grant)"
        print(f"agentcrdt: error: {e}; {hint}", file=sys.stderr)
        return 2
    except AgentCRDTError as e:
        print(f"agentcrdt: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`agentcrdt proposals list | head`): stop quietly, as Unix tools do;
        # stdout is pointed at devnull so the interpreter's final flush cannot complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:
        # Files the user named (unreadable, a directory, a full disk): one line, never a traceback.
        where = f" {e.filename}:" if e.filename else ""
        print(
            f"agentcrdt: error:{where} {e.strerror or e}; check the path and its permissions",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
