"""``earmuff reidentify``: the two-person re-identification from the command line.

Each command signs its officer in (password and one-time code) instead of taking a
name on trust; the rules are ``review/reidentify.py``'s, as on the web pages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from earmuff.cli.options import Workspace, open_workspace
from earmuff.cli.signin import sign_in_staff
from earmuff.review import reidentify as service
from earmuff.store.crypto import KeyRing
from earmuff.store.models import REIDENTIFICATION_FIELDS, StaffUser, utcnow

app = typer.Typer(no_args_is_help=True, help="Re-identify a review item: two people, audited.")
console = Console()
As = Annotated[str, typer.Option("--as", help="Your staff username; you are asked to sign in")]
RequestId = Annotated[str, typer.Argument(help="The request's id")]
T = TypeVar("T")


def _as_officer(
    workspace: Path | None,
    username: str,
    permission: str,
    step: Callable[[Session, KeyRing, StaffUser], T],
) -> T:
    """Sign USERNAME in, then take ``step`` as them in one transaction; a refusal by the
    rules is printed and exits 1, having changed nothing."""
    store = open_workspace(workspace)
    try:
        officer = sign_in_staff(store, username, permission)
        with store.db.transaction() as session:
            person = session.get(StaffUser, officer.id)
            assert person is not None
            return step(session, store.keyring, person)
    except (service.ReidentificationError, service.ReidentificationForbidden) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        store.close()


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
    made = _as_officer(
        workspace,
        as_,
        "reidentify.request",
        lambda session, keyring, asker: (
            service.request_reidentification(session, keyring, asker, item, reason, fields).id
        ),
    )
    console.print(f"request {made}: waiting for a privacy officer's decision")


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
            console.print(f"[red]error:[/red] --defer-until {defer_until!r} is not an ISO date")
            raise typer.Exit(1) from None
        if deferral.tzinfo is None:
            deferral = deferral.replace(tzinfo=utcnow().tzinfo)
    until = _as_officer(
        workspace,
        as_,
        "reidentify.decide",
        lambda session, keyring, decider: (
            service.approve(
                session,
                keyring,
                decider,
                request_id,
                note,
                open_for=timedelta(hours=hours),
                disclose_after=deferral,
            ).open_until
        ),
    )
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
    _as_officer(
        workspace,
        as_,
        "reidentify.decide",
        lambda session, _keyring, decider: service.refuse(session, decider, request_id, note),
    )
    console.print(f"request {request_id} refused")


@app.command("show")
def show(request_id: RequestId, as_: As, workspace: Workspace = None) -> None:
    """Open (as the safety officer who asked) the approved fields: once, before the deadline."""
    opened = _as_officer(
        workspace,
        as_,
        "reidentify.request",
        lambda session, keyring, asker: service.open_fields(session, keyring, asker, request_id),
    )
    console.print(f"item {opened.review_item_id} (shown once; opening again is refused):")
    for name, value in opened.fields.items():
        console.print(f"  {service.FIELD_LABELS[name]:<22} {value}")
