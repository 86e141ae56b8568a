"""``earmuff users``: staff accounts from the command line, for the first admin and for
operators without a browser. Admins manage everyone else in the workbench's admin page."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from earmuff.audit import record
from earmuff.cli.options import Workspace, open_workspace
from earmuff.store.models import STAFF_ROLES
from earmuff.store.staff import StaffError, create_staff

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
    workspace: Workspace = None,
) -> None:
    """Create a staff account; prints its password and TOTP secret once."""
    store = open_workspace(workspace)
    try:
        with store.db.transaction() as session:
            created = create_staff(
                session, store.keyring, username, role, locales=locales, safety_pool=safety_pool
            )
            record(
                session,
                "cli",
                "staff.created",
                f"staff:{created.user.id}",
                {"username": created.user.username, "role": role},
            )
    except StaffError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    console.print(f"user         {created.user.username} ({role})")
    console.print(f"password     {created.password}")
    console.print(f"TOTP secret  {created.totp_secret}")
    console.print(f"TOTP URI     {created.totp_uri}")
    console.print("Shown once: store them in the person's password manager and authenticator.")
