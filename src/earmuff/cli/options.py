"""What every command shares: the ``--workspace`` option and opening it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
    return open_store(Settings.for_workspace(workspace))
