"""What every command shares: the ``--workspace`` option and opening it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from earmuff.audit.checkpoints import Checkpointer
from earmuff.audit.policy import note_policy
from earmuff.config import Settings
from earmuff.store import Store, open_store

Workspace = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $EARMUFF_WORKSPACE, else ./earmuff-data)",
        show_default=False,
    ),
]


def open_workspace(workspace: Path | None) -> Store:
    """Open the workspace, its audit log signed as the server signs it (see
    ``audit/checkpoints.py``): a command that appends events leaves none unsigned for
    longer than the policy allows."""
    store = open_store(Settings.for_workspace(workspace))
    Checkpointer.for_settings(store.settings, store.db).attach()
    note_policy(store, "cli")
    return store
