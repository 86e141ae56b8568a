"""Device credentials after registration: revoke a device, or give it a new token.

Both act at once: the ingestion API looks the token up on every request, so the next
upload with a revoked or replaced token gets 401. The audit log names the device by its
random id and its serial only by a keyed tag (``store.crypto.pseudonym``).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from earmuff.audit import record
from earmuff.cli.options import Workspace, open_workspace
from earmuff.store.accounts import RegistrationError, revoke_device, rotate_device_token
from earmuff.store.crypto import pseudonym

console = Console()
Serial = Annotated[str, typer.Argument(help="The device's serial number")]


def revoke(serial: Serial, workspace: Workspace = None) -> None:
    """Refuse SERIAL's token from now on. The serial can be registered again later."""
    store = open_workspace(workspace)
    try:
        with store.db.transaction() as session:
            device = revoke_device(session, serial)
            record(
                session,
                "cli",
                "device.revoked",
                f"device:{device.id}",
                {
                    "account": f"account:{device.account_id}",
                    "serial_tag": pseudonym(store.keyring, "serial", serial),
                },
            )
    except RegistrationError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        store.close()
    console.print(f"device {serial} revoked: its token is refused from now on", highlight=False)


def rotate(serial: Serial, workspace: Workspace = None) -> None:
    """Give SERIAL a new token, printed once; the old token is refused from now on."""
    store = open_workspace(workspace)
    try:
        with store.db.transaction() as session:
            device, token = rotate_device_token(session, serial)
            record(
                session,
                "cli",
                "device.token_rotated",
                f"device:{device.id}",
                {
                    "account": f"account:{device.account_id}",
                    "serial_tag": pseudonym(store.keyring, "serial", serial),
                },
            )
    except RegistrationError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        store.close()
    console.print(f"device {serial}: new token (shown once; the old one is refused)")
    typer.echo(token)
