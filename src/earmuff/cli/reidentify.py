"""``earmuff reidentify``: the two-person re-identification from the command line.

Each command signs its officer in (password and one-time code) instead of taking a
name on trust; the rules are ``review/reidentify.py``'s, as on the web pages.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console

from earmuff.cli.options import Workspace, open_workspace
from earmuff.cli.signin import sign_in_staff
from earmuff.review import reidentify as service
from earmuff.store.models import REIDENTIFICATION_FIELDS, StaffUser, utcnow

app = typer.Typer(no_args_is_help=True, help="Re-identify a review item: two people, audited.")
console = Console()
As = Annotated[str, typer.Option("--as", help="Your staff username; you are asked to sign in")]
RequestId = Annotated[str, typer.Argument(help="The request's id")]
Failure = (service.ReidentificationError, service.ReidentificationForbidden)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


@app.command("request")
def request(
    item: Annotated[str, typer.Option(help="The review item's id")],
    reason: Annotated[str, typer.Option(help="What the safety procedure calls for, and why")],
    fields: Annotated[
        str, typer.Option(help=f"Comma-separated, any of: {', '.join(REIDENTIFICATION_FIELDS)}")
    ],
    as_: As,
    workspace: Workspace = None,
) -> None:
    """Ask (as a safety officer) to learn the named fields of ITEM's household."""
    store = open_workspace(workspace)
    try:
        asker = sign_in_staff(store, as_, "reidentify.request")
        with store.db.transaction() as session:
            person = session.get(StaffUser, asker.id)
            assert person is not None
            made = service.request_reidentification(
                session, store.keyring, person, item, reason, fields
            )
            made_id = made.id
    except Failure as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    console.print(f"request {made_id}: waiting for a privacy officer's decision")


@app.command("approve")
def approve(
    request_id: RequestId,
    note: Annotated[str, typer.Option(help="Why it is approved (required)")],
    as_: As,
    hours: Annotated[
        float, typer.Option(min=0.1, max=72, help="How long the fields stay openable")
    ] = 24,
    defer_until: Annotated[
        str | None,
        typer.Option(help="Tell the household only after this date (legal hold only; ISO 8601)"),
    ] = None,
    workspace: Workspace = None,
) -> None:
    """Approve (as a privacy officer, not the asker) a waiting request."""
    deferral = None
    if defer_until is not None:
        try:
            deferral = datetime.fromisoformat(defer_until.replace("Z", "+00:00"))
        except ValueError:
            raise _fail(f"--defer-until {defer_until!r} is not an ISO 8601 date") from None
        if deferral.tzinfo is None:
            deferral = deferral.replace(tzinfo=utcnow().tzinfo)
    store = open_workspace(workspace)
    try:
        decider = sign_in_staff(store, as_, "reidentify.decide")
        with store.db.transaction() as session:
            person = session.get(StaffUser, decider.id)
            assert person is not None
            approved = service.approve(
                session,
                store.keyring,
                person,
                request_id,
                note,
                open_for=timedelta(hours=hours),
                disclose_after=deferral,
            )
            until = approved.open_until
    except Failure as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    assert until is not None
    console.print(
        f"request {request_id} approved: the asker may open it once, "
        f"until {until:%Y-%m-%d %H:%M} UTC"
    )


@app.command("refuse")
def refuse(
    request_id: RequestId,
    note: Annotated[str, typer.Option(help="Why it is refused (required)")],
    as_: As,
    workspace: Workspace = None,
) -> None:
    """Refuse (as a privacy officer) a waiting request."""
    store = open_workspace(workspace)
    try:
        decider = sign_in_staff(store, as_, "reidentify.decide")
        with store.db.transaction() as session:
            person = session.get(StaffUser, decider.id)
            assert person is not None
            service.refuse(session, person, request_id, note)
    except Failure as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    console.print(f"request {request_id} refused")


@app.command("show")
def show(request_id: RequestId, as_: As, workspace: Workspace = None) -> None:
    """Open (as the safety officer who asked) the approved fields: once, before the deadline."""
    store = open_workspace(workspace)
    try:
        asker = sign_in_staff(store, as_, "reidentify.request")
        with store.db.transaction() as session:
            person = session.get(StaffUser, asker.id)
            assert person is not None
            opened = service.open_fields(session, store.keyring, person, request_id)
    except Failure as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    console.print(f"item {opened.review_item_id} (shown once; opening again is refused):")
    for name, value in opened.fields.items():
        console.print(f"  {service.FIELD_LABELS[name]:<22} {value}")
