"""``earmuff export``: finished annotations and their anonymized audio, for training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from earmuff.cli.options import Workspace, open_workspace
from earmuff.review.export import FORMATS, ExportError, export_annotations, parse_formats
from earmuff.store.models import utcnow

console = Console()


def export(
    out: Annotated[
        Path, typer.Option("--out", help="A new or empty folder to write the export into")
    ],
    formats: Annotated[
        str,
        typer.Option("--format", help=f"Comma-separated, any of: {', '.join(FORMATS)}"),
    ] = ",".join(FORMATS),
    workspace: Workspace = None,
) -> None:
    """Export finished annotations: JSON Lines, a NeMo manifest, a Label Studio import.

    Only the anonymized audio leaves, only of items whose review is finished and that
    were neither pulled nor escalated; reviewers are named by role alone.
    """
    try:
        chosen = parse_formats(formats)
    except ExportError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    store = open_workspace(workspace)
    try:
        summary = export_annotations(store, out, chosen, "cli", utcnow())
    except ExportError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        store.close()
    console.print(
        f"exported {summary.annotations} annotation(s) of {summary.items} item(s) "
        f"({', '.join(summary.formats)}) to {summary.out_dir}"
    )
    if "nemo" in summary.formats and summary.manifest_lines < summary.items:
        console.print(
            f"{summary.items - summary.manifest_lines} item(s) left out of the manifest: "
            "no usable transcript (unintelligible, another locale, or empty)"
        )
