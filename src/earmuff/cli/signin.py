"""Signing a staff member in at the command line, with both factors, as the web does.

A command that acts as an officer or an admin must not take the name on trust: anyone
who can run ``earmuff`` on the workspace could otherwise act as anyone. Both factors
are prompted for before the database is touched, so a write transaction is never held
open while a person types, and a wrong password is not told apart from a wrong code.
"""

from __future__ import annotations

import typer
from rich.console import Console

from earmuff.audit.log import record
from earmuff.audit.sign_ins import is_locked, sign_in_refused, target
from earmuff.store import Store
from earmuff.store.models import StaffUser, utcnow
from earmuff.store.staff import SignInRefused, check_password_sign_in, check_totp_sign_in
from earmuff.web.permissions import allows

console = Console()


def sign_in_staff(store: Store, username: str, permission: str) -> StaffUser:
    """Prompt for USERNAME's password and one-time code; return the user if both are
    right and their role holds ``permission``, else print why and exit with status 1.

    Failures count towards the account's lock-out exactly as a web sign-in does, and
    every attempt is audited, so the command line is no quieter path for guessing.
    """
    password = typer.prompt(f"Password for {username}", hide_input=True)
    code = typer.prompt("One-time code from the authenticator")
    now = utcnow()
    refusal: SignInRefused | None = None
    user: StaffUser | None = None
    with store.db.transaction() as session:
        known = target(session, username)
        locked_before = is_locked(known, now)
        factor = "password"
        try:
            user = check_password_sign_in(session, username, password, now)
            factor = "code"
            check_totp_sign_in(store.keyring, user, code, now)
        except SignInRefused as exc:
            refusal, user = exc, None
            sign_in_refused(session, known, locked_before, now, "cli", factor)
        else:
            actor = f"staff:{user.id}"
            record(session, actor, "staff.signed_in", actor, {"via": "cli"})
    if refusal is not None or user is None:
        reason = str(refusal) if refusal is not None else "sign-in refused"
        console.print(f"[red]error:[/red] {username}: {reason}")
        raise typer.Exit(1)
    if not allows(permission, user.role):
        console.print(
            f"[red]error:[/red] {user.username} is {user.role.replace('_', ' ')}, "
            f"who may not do this ({permission})"
        )
        raise typer.Exit(1)
    return user
