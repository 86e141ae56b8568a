"""``earmuff audit``: verify the log against its signed checkpoints, sign its head now,
export a stretch of it that an outside auditor can verify alone, and run the misuse
rules over it."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from earmuff.audit.checkpoints import (
    Checkpointer,
    CheckpointError,
    load_public_key,
)
from earmuff.audit.log import record
from earmuff.audit.misuse import scan as scan_for_misuse
from earmuff.audit.verification import Verdict, export_events, verify_export, verify_workspace
from earmuff.cli.options import Workspace, open_workspace
from earmuff.config import Settings
from earmuff.store.db import Database
from earmuff.store.models import utcnow

app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")
console = Console()
PublicKeys = Annotated[
    list[Path] | None,
    typer.Option(
        "--public-key",
        exists=True,
        dir_okay=False,
        help="A trusted verifying key (.pub); repeat for keys of earlier years. "
        "Default: the workspace's own signing key",
    ),
]


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


def _report(verdict: Verdict) -> None:
    for problem in verdict.problems:
        where = f"event {problem.event_id}: " if problem.event_id is not None else ""
        source = f" [{problem.checkpoint}]" if problem.checkpoint else ""
        console.print(f"[red]BROKEN[/red] {where}{problem.message}{source}")
    if verdict.ok:
        latest = verdict.latest
        signed = (
            f"; newest checkpoint at event {latest.seq}, signed {latest.at}"
            if latest is not None
            else ""
        )
        console.print(
            f"OK: {verdict.events} events, {verdict.checkpoints} checkpoint(s){signed}; "
            f"{verdict.unsigned} event(s) after it not yet signed"
        )


@app.command("verify")
def verify(
    public_key: PublicKeys = None,
    export: Annotated[
        Path | None,
        typer.Option("--export", exists=True, dir_okay=False, help="Verify an export file instead"),
    ] = None,
    workspace: Workspace = None,
) -> None:
    """Check every event's hash and every signed checkpoint; exit 1 at the first break.

    The log is streamed, so memory stays flat however long it is.
    """
    try:
        keys = [load_public_key(path) for path in public_key or ()]
    except CheckpointError as exc:
        raise _fail(str(exc)) from None
    if export is not None:
        if not keys:
            raise _fail("--export needs the --public-key of the workspace that exported it")
        with export.open(encoding="utf-8") as lines:
            verdict = verify_export(lines, keys)
        _report(verdict)
        raise typer.Exit(0 if verdict.ok else 1)
    settings = Settings.for_workspace(workspace)
    database = Database(settings.database_url)
    try:
        with database.read() as session:
            verdict = verify_workspace(session, settings, keys or None)
    except CheckpointError as exc:
        raise _fail(str(exc)) from None
    finally:
        database.dispose()
    _report(verdict)
    raise typer.Exit(0 if verdict.ok else 1)


@app.command("checkpoint")
def checkpoint(workspace: Workspace = None) -> None:
    """Sign the log's head now and write the checkpoint outside the database."""
    store = open_workspace(workspace)
    try:
        signed = Checkpointer.for_settings(store.settings, store.db).checkpoint()
    except CheckpointError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    if signed is None:
        console.print("the audit log is empty: nothing to sign")
        return
    console.print(f"signed event {signed.seq} (head {signed.head[:16]}...) at {signed.at}")


@app.command("export")
def export(
    since: Annotated[str, typer.Option(help="Events from this time on (ISO 8601, with zone)")],
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write (default: standard output)")
    ] = None,
    workspace: Workspace = None,
) -> None:
    """Write the events since SINCE as JSON Lines, headed by the checkpoint that proves
    them (signed now) and its public key: `earmuff audit verify --export` checks it."""
    try:
        start = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"--since {since!r} is not an ISO 8601 time") from None
    if start.tzinfo is None:
        raise _fail("--since needs a time zone, e.g. 2026-12-01T00:00:00Z")
    if out is not None and out.exists():
        raise _fail(f"{out} exists: exports never overwrite a file")
    store = open_workspace(workspace)
    try:
        checkpointer = Checkpointer.for_settings(store.settings, store.db)
        with store.db.transaction() as session:
            record(session, "cli", "audit.exported", "audit", {"since": start.isoformat()})
        signed = checkpointer.checkpoint()
        assert signed is not None, "the log holds at least the export's own event"
        handle = sys.stdout if out is None else out.open("x", encoding="utf-8")
        lines = 0
        try:
            with store.db.read() as session:
                for line in export_events(session, start, signed, checkpointer.key.public_key()):
                    handle.write(json.dumps(line, sort_keys=True) + "\n")
                    lines += 1
        finally:
            if out is not None:
                handle.close()
    except CheckpointError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    if out is not None:
        console.print(f"exported {lines - 1} event(s) up to event {signed.seq} to {out}")


def _time(option: str, value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"{option} {value!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise _fail(f"{option} needs a time zone, e.g. 2026-12-01T00:00:00Z")
    return at


@app.command("scan")
def scan(
    since: Annotated[
        str | None,
        typer.Option(
            help="Look at events from this time on (ISO 8601, with zone); "
            "default: the policy's misuse.lookback_hours ago"
        ),
    ] = None,
    workspace: Workspace = None,
) -> None:
    """Run the misuse rules over the log and raise, once each, the alerts they find: on
    the privacy officers' /audit/alerts page, in the log (misuse.alert) and here."""
    now = utcnow()
    store = open_workspace(workspace)
    try:
        lookback = timedelta(hours=store.settings.policy.misuse.lookback_hours)
        start = _time("--since", since) if since is not None else now - lookback
        if start >= now:
            raise _fail("--since must lie in the past")
        raised = scan_for_misuse(store, start, now)
    finally:
        store.close()
    for alert in raised:
        console.print(f"[red]ALERT[/red] {alert.rule}: {alert.summary}", highlight=False)
    console.print(f"{len(raised)} new alert(s) since {start.isoformat()}")
