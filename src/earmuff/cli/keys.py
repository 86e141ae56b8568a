"""``earmuff keys``: rotate the master key while the server runs (see store/rotation.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from earmuff.audit import record
from earmuff.cli.options import Workspace, open_workspace
from earmuff.store import Store
from earmuff.store.crypto import CryptoError, MasterKey
from earmuff.store.rotation import RotationError, rotate_master_key

app = typer.Typer(no_args_is_help=True, help="The master key.")
console = Console()


def _audit(store: Store, action: str, details: dict[str, object]) -> None:
    with store.db.transaction() as session:
        record(session, "cli", action, "master_key", details)


@app.command("rotate")
def rotate(
    grace: Annotated[
        float,
        typer.Option(
            min=0,
            max=600,
            help="Seconds left for running servers to pick up the new key before rows "
            "are rewrapped",
        ),
    ] = 5.0,
    workspace: Workspace = None,
) -> None:
    """Rewrap every account key under a new master key, then retire the old key.

    With the key in a file, the new key is made here and the old one removed from the
    file at the end; destroy every other copy of the old key (backups of the file).
    With EARMUFF_MASTER_KEY, list the new key first and the old one after it (comma-
    separated) on every process before running this, and drop the old one after.
    Interrupted, it can be run again: it resumes.
    """
    store = open_workspace(workspace)
    from_file = not store.settings.master_key
    key_file = store.settings.master_key_file if from_file else None

    def started(new: MasterKey, old: tuple[MasterKey, ...]) -> None:
        _audit(
            store,
            "keys.rotation_started",
            {"new_key_id": new.key_id, "old_key_ids": [k.key_id for k in old]},
        )
        console.print(f"new master key {new.key_id} written first in {key_file}")

    try:
        report = rotate_master_key(store.db, store.keyring, key_file, grace, on_switch=started)
        _audit(
            store,
            "keys.rotated",
            {
                "new_key_id": report.new_key_id,
                "retired_key_ids": list(report.retired_key_ids),
                "account_keys": report.account_keys,
                "purpose_keys": report.purpose_keys,
                "review_items": report.review_items,
            },
        )
    except (RotationError, CryptoError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        store.close()
    console.print(
        f"master key {report.new_key_id}: {report.account_keys} account key(s), "
        f"{report.purpose_keys} purpose key(s) and {report.review_items} review item key(s) "
        "rewrapped"
    )
    retired = ", ".join(report.retired_key_ids) or "none"
    if from_file:
        console.print(f"retired {retired}: removed from {key_file}; destroy every other copy of it")
    else:
        console.print(f"now remove {retired} from EARMUFF_MASTER_KEY and restart every process")
