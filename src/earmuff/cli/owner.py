"""The owner's side, for operators: sign-in links, consent, legal holds, retention runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select

from earmuff.cli.options import Workspace, open_workspace
from earmuff.cli.signin import sign_in_staff
from earmuff.owner import consent as consent_service
from earmuff.owner.disclosure import DisclosureError, Disclosures
from earmuff.owner.holds import HoldError, HoldForbidden, release_legal_hold, set_legal_hold
from earmuff.owner.login import LoginError, issue_login_link
from earmuff.owner.retention import run_retention
from earmuff.store import Store
from earmuff.store.models import Account

retention_app = typer.Typer(no_args_is_help=True, help="Enforce the retention limits.")
console = Console()
Account_ = Annotated[str, typer.Argument(help="The company's account number")]
As = Annotated[
    str,
    typer.Option(
        "--as", help="Your username, as privacy officer; your password and code are asked for"
    ),
]


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


def _account_id(store: Store, external_id: str) -> str:
    with store.db.read() as session:
        account_id = session.scalar(select(Account.id).where(Account.external_id == external_id))
    if account_id is None:
        raise _fail(f"no account {external_id}")
    return account_id


def login_link(
    account: Account_,
    base_url: Annotated[str, typer.Option(help="Where owners reach the portal")] = (
        "http://127.0.0.1:8000"
    ),
    minutes: Annotated[
        int | None, typer.Option(min=1, max=7 * 24 * 60, help="Lifetime (default: policy)")
    ] = None,
    workspace: Workspace = None,
) -> None:
    """Print a one-use sign-in link to the owner portal for ACCOUNT."""
    store = open_workspace(workspace)
    try:
        with store.db.transaction() as session:
            token, expires_at = issue_login_link(
                session, account, store.settings.policy.owner, minutes=minutes
            )
    except LoginError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    console.print(f"works once, until {expires_at:%Y-%m-%d %H:%M} UTC:", style="dim")
    typer.echo(f"{base_url.rstrip('/')}/portal/sign-in?token={token}")


def consent(
    account: Account_,
    grant: Annotated[bool, typer.Option("--grant/--withdraw", help="Allow or stop human review")],
    disclosure: Annotated[
        str | None,
        typer.Option(help="Version of the text the owner was shown (default: the current one)"),
    ] = None,
    workspace: Workspace = None,
) -> None:
    """Record an owner's choice about human review (the portal's switch, for operators).

    Withdrawing takes effect at once: the account's review copies leave every queue.
    """
    store = open_workspace(workspace)
    try:
        account_id = _account_id(store, account)
        texts, policy = Disclosures(), store.settings.policy
        try:
            shown = texts.get(disclosure, policy) if disclosure else texts.current(policy)
        except DisclosureError as exc:
            raise _fail(f"{exc}; known versions: {', '.join(texts.versions)}") from None
        try:
            if grant:
                consent_service.grant(store, account_id, "cli", shown)
                console.print(f"account {account}: human review allowed ({shown.version})")
                return
            result = consent_service.withdraw(store, account_id, "cli", shown)
        except consent_service.ConsentError as exc:
            raise _fail(str(exc)) from None
    finally:
        store.close()
    kept = " (kept out of every queue under a legal hold)" if result.held else ""
    console.print(
        f"account {account}: human review stopped; {result.withdrawn} waiting and "
        f"{result.reviewed_deleted} reviewed copies withdrawn{kept}"
    )


def hold(
    account: Account_,
    reason: Annotated[str, typer.Option(help="Why the data must be kept (required)")],
    as_: As,
    workspace: Workspace = None,
) -> None:
    """Put ACCOUNT on legal hold: nothing of it is deleted until the hold is released."""
    store = open_workspace(workspace)
    try:
        account_id = _account_id(store, account)
        officer = sign_in_staff(store, as_, "legal_hold")
        set_legal_hold(store, account_id, reason, officer)
    except (HoldError, HoldForbidden) as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    console.print(f"account {account} is on legal hold: deletion suspended")


def release(
    account: Account_,
    as_: As,
    note: Annotated[str, typer.Option(help="Why the hold ends (required)")],
    workspace: Workspace = None,
) -> None:
    """Release ACCOUNT's legal hold and carry out the deletions that waited for it."""
    store = open_workspace(workspace)
    try:
        account_id = _account_id(store, account)
        officer = sign_in_staff(store, as_, "legal_hold")
        _, report = release_legal_hold(store, account_id, officer, note)
    except (HoldError, HoldForbidden) as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    console.print(
        f"account {account}: hold released; {report.held_requests_done} waiting deletion "
        f"request(s) carried out, {report.recordings} recording(s) and "
        f"{report.review_copies} review copies past their limits deleted"
    )


@retention_app.command("run")
def retention_run(
    now: Annotated[
        str | None, typer.Option(help="Act as if it were this time (ISO 8601, with zone)")
    ] = None,
    workspace: Workspace = None,
) -> None:
    """Delete everything past its retention limit, skipping accounts on legal hold."""
    when = None
    if now is not None:
        try:
            when = datetime.fromisoformat(now)
        except ValueError:
            raise _fail(f"--now {now!r} is not an ISO 8601 time") from None
        if when.tzinfo is None:
            raise _fail("--now needs a time zone, e.g. 2027-06-01T00:00:00Z")
    store = open_workspace(workspace)
    try:
        report = run_retention(store, when)
    finally:
        store.close()
    console.print(f"retention as of {report.now:%Y-%m-%d %H:%M} UTC")
    for name, count in report.summary().items():
        console.print(f"  {name.replace('_', ' ')}: {count}")
