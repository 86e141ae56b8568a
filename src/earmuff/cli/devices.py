"""Device credentials after registration: revoke a device, or give it a new token.

Both act at once: the ingestion API looks the token up on every request, so the next
upload with a revoked or replaced token gets 401. The audit log names the device by its
random id and its serial only by a keyed tag (``store.crypto.pseudonym``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from earmuff.audit.devices import record_device_event
from earmuff.cli.options import Workspace, open_workspace
from earmuff.store.accounts import RegistrationError, revoke_device, rotate_device_token
from earmuff.store.models import Device

console = Console()
Serial = Annotated[str, typer.Argument(help="The device's serial number")]


def _change(
    workspace: Path | None, action: str, change: Callable[[Session], tuple[Device, str | None]]
) -> str | None:
    """Make ``change`` and audit it as ``action`` in one transaction; an unknown or
    revoked serial is printed and exits 1, having changed nothing."""
    store = open_workspace(workspace)
    try:
        with store.db.transaction() as session:
            device, token = change(session)
            record_device_event(session, store.keyring, "cli", action, device)
    except RegistrationError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        store.close()
    return token


def revoke(serial: Serial, workspace: Workspace = None) -> None:
    """Refuse SERIAL's token from now on. The serial can be registered again later."""
    _change(workspace, "device.revoked", lambda session: (revoke_device(session, serial), None))
    console.print(f"device {serial} revoked: its token is refused from now on", highlight=False)


def rotate(serial: Serial, workspace: Workspace = None) -> None:
    """Give SERIAL a new token, printed once; the old token is refused from now on."""
    token = _change(
        workspace, "device.token_rotated", lambda session: rotate_device_token(session, serial)
    )
    console.print(f"device {serial}: new token (shown once; the old one is refused)")
    typer.echo(token)
