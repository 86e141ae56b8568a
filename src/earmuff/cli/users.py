"""``earmuff users``: staff accounts from the command line, for the first admin and for
operators without a browser. Admins manage everyone else in the workbench's admin page.

No command here prints a password or a second-factor secret: people set their own at
an enrolment link. The first admin is the one account the operator may start alone;
after that an account is a proposal an admin signs in to make and another approves.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from earmuff.cli.options import Workspace, open_workspace
from earmuff.cli.signin import sign_in_staff
from earmuff.review.enrolment import bootstrap_admin, has_active_admin, propose_account
from earmuff.store.models import STAFF_ROLES, utcnow
from earmuff.store.staff import StaffError

app = typer.Typer(no_args_is_help=True, help="Staff accounts: reviewers, officers, admins.")
console = Console()


@app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Sign-in name, e.g. ana.k")],
    role: Annotated[str, typer.Option("--role", "-r", help=f"One of: {', '.join(STAFF_ROLES)}")],
    locales: Annotated[str, typer.Option(help="Comma-separated locales, e.g. en-US,en-GB")] = "",
    safety_pool: Annotated[
        bool, typer.Option("--safety-pool", help="Opted in to sensitive items")
    ] = False,
    as_: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Your admin username (password and code are asked for); "
            "not needed only for the very first admin",
        ),
    ] = None,
    base_url: Annotated[str, typer.Option(help="Where staff reach the workbench")] = (
        "http://127.0.0.1:8000"
    ),
    workspace: Workspace = None,
) -> None:
    """Propose a staff account for a second admin to approve, or enrol the first admin.

    With no active admin yet, ``--role admin`` without ``--as`` prints an enrolment
    link and its approval code, for the first admin to set their own password and
    authenticator. Otherwise an admin signs in with ``--as`` and the account waits
    for a different admin's approval on the admin page.
    """
    store = open_workspace(workspace)
    try:
        if as_ is None:
            with store.db.read() as session:
                bootstrapping = not has_active_admin(session)
            if not bootstrapping:
                raise _fail(
                    "an admin exists: sign in with --as YOUR_ADMIN_NAME to propose an account"
                )
            if role != "admin":
                raise _fail("the first account must be an admin (--role admin)")
            try:
                with store.db.transaction() as session:
                    link, code = bootstrap_admin(
                        session, store.keyring, username, utcnow(), locales=locales
                    )
            except StaffError as exc:
                raise _fail(str(exc)) from None
            console.print(
                f"first admin {username.strip().lower()}: open the link, enter the code, and "
                f"choose a password and authenticator; works once, until "
                f"{link.expires_at:%Y-%m-%d %H:%M} UTC"
            )
            typer.echo(f"link  {base_url.rstrip('/')}{link.path}")
            typer.echo(f"code  {code}")
            return
        admin = sign_in_staff(store, as_, "users")
        try:
            with store.db.transaction() as session:
                proposal = propose_account(
                    session,
                    admin.id,
                    username,
                    role,
                    utcnow(),
                    locales=locales,
                    safety_pool=safety_pool,
                )
        except StaffError as exc:
            raise _fail(str(exc)) from None
    finally:
        store.close()
    console.print(
        f"proposed {proposal.username} ({proposal.role}): a different admin must approve it "
        f"at {base_url.rstrip('/')}/admin/users before "
        f"{proposal.expires_at:%Y-%m-%d %H:%M} UTC; you will then get the enrolment link "
        "there, and the approver a code to give the person separately"
    )


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)
