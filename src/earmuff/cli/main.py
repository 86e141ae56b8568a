"""earmuff: set up a workspace, register devices, serve the API, upload, and demo."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from earmuff.audit.devices import record_device_event
from earmuff.cli import audit as audit_cli
from earmuff.cli import devices as devices_cli
from earmuff.cli import evaluate, keys, owner, reidentify, users
from earmuff.cli import watermark as watermark_cli
from earmuff.cli.export import export
from earmuff.cli.options import Workspace, open_workspace
from earmuff.config import Settings
from earmuff.store import Store, open_store
from earmuff.store.accounts import RegistrationError, register_device

app = typer.Typer(no_args_is_help=True, help=__doc__, pretty_exceptions_show_locals=False)
devices = typer.Typer(no_args_is_help=True, help="Register the devices that may upload.")
app.add_typer(devices, name="devices")
devices.command("revoke")(devices_cli.revoke)
devices.command("rotate")(devices_cli.rotate)
app.add_typer(keys.app, name="keys")
pipeline_app = typer.Typer(no_args_is_help=True, help="Run the de-identification pipeline.")
app.add_typer(pipeline_app, name="pipeline")
accounts_app = typer.Typer(no_args_is_help=True, help="Household accounts.")
db_app = typer.Typer(no_args_is_help=True, help="The database, for its owner.")
app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")
app.add_typer(evaluate.app, name="eval")
app.add_typer(users.app, name="users")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(reidentify.app, name="reidentify")
app.add_typer(watermark_cli.app, name="watermark")
app.command()(export)
app.add_typer(owner.retention_app, name="retention")
accounts_app.command("consent")(owner.consent)
accounts_app.command("login-link")(owner.login_link)
accounts_app.command("hold")(owner.hold)
accounts_app.command("release")(owner.release)
console = Console()


def _store(workspace: Path | None) -> Store:
    return open_workspace(workspace)


@app.command()
def init(workspace: Workspace = None) -> None:
    """Create the workspace: database, blob folder and master key."""
    store = _store(workspace)
    settings = store.settings
    console.print(f"workspace  {settings.workspace}")
    console.print(f"database   {store.db.engine.url.render_as_string(hide_password=True)}")
    console.print(f"blobs      {settings.blob_dir}")
    source = "EARMUFF_MASTER_KEY" if settings.master_key else str(settings.master_key_file)
    console.print(f"master key {source}")
    store.close()


@devices.command("add")
def devices_add(
    account: Annotated[str, typer.Option(help="The company's account number")],
    first_name: Annotated[str, typer.Option(help="The account owner's first name")],
    serial: Annotated[str, typer.Option(help="The device's serial number")],
    workspace: Workspace = None,
) -> None:
    """Register a device and print its token. The token is shown once and stored hashed."""
    store = _store(workspace)
    try:
        with store.db.transaction() as session:
            device, token = register_device(session, store.keyring, account, first_name, serial)
            record_device_event(session, store.keyring, "cli", "device.registered", device)
    except RegistrationError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        store.close()
    console.print(f"device {serial} registered for account {account}")
    typer.echo(token)


@db_app.command("grant-app-role")
def db_grant_app_role(
    role: Annotated[str, typer.Argument(help="The PostgreSQL role the server connects as")],
    workspace: Workspace = None,
) -> None:
    """Grant ROLE what the server needs, and only SELECT and INSERT on the audit log.

    Run as the tables' owner (the role migrations run as), after every upgrade.
    """
    from earmuff.store.db import grant_application_role

    store = _store(workspace)
    try:
        with store.db.engine.begin() as connection:
            grant_application_role(connection, role)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        store.close()
    console.print(f"{role} may read and write earmuff's tables and only append to its audit log")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes")] = 1,
    pipeline: Annotated[
        bool,
        typer.Option(
            help="Run the pipeline: in-process (single worker only), or with "
            "EARMUFF_BROKER_URL set, enqueue each recording for `earmuff worker`"
        ),
    ] = True,
    retention: Annotated[
        bool, typer.Option(help="Enforce retention every $EARMUFF_RETENTION_INTERVAL_S seconds")
    ] = True,
    workspace: Workspace = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json).

    One process runs Python on one core at a time; ``--workers N`` runs N processes
    sharing the port, each opening the same workspace. The in-process pipeline runs
    with one worker; with more, run ``earmuff pipeline run`` beside them, or set
    ``EARMUFF_BROKER_URL`` and run ``earmuff worker``. Retention runs at start and then
    periodically, in every process (runs are safe side by side).
    """
    from earmuff.pipeline.engine import engine_for
    from earmuff.web import create_app

    settings = Settings.for_workspace(workspace)
    if workers == 1:
        store = open_store(settings)
        worker = engine_for(store) if pipeline else None
        interval = settings.retention_interval_s if retention else None
        uvicorn.run(
            create_app(
                store=store,
                pipeline=worker,
                retention_interval_s=interval,
                misuse_interval_s=settings.policy.misuse.scan_minutes * 60,
            ),
            host=host,
            port=port,
            log_level="warning",
        )
        return
    _store(settings.workspace).close()
    os.environ["EARMUFF_WORKSPACE"] = str(settings.workspace)
    distributed = pipeline and settings.broker_url is not None
    uvicorn.run(
        f"earmuff.web.app:{_factory(distributed, retention)}",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
    )


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    device_token: Annotated[str, typer.Option(envvar="EARMUFF_DEVICE_TOKEN", help="Device token")],
    server: Annotated[str, typer.Option(help="earmuff API base URL")] = "http://127.0.0.1:8000",
    locale: Annotated[str, typer.Option(help="BCP 47 locale of the speech")] = "en-US",
    wake_word: Annotated[str, typer.Option(help="The wake word the device heard")] = "alexa",
    concurrency: Annotated[int, typer.Option(min=1, max=32)] = 4,
) -> None:
    """Upload audio files as one device, with a progress bar.

    Each file's Idempotency-Key is its content hash, so running the same command again
    stores nothing twice.
    """
    outcomes: dict[str, int] = {}
    failures: list[str] = []
    with httpx.Client(base_url=server, timeout=60) as client:
        profile = client.get("/v1/devices/me", headers={"Authorization": f"Bearer {device_token}"})
        if profile.status_code != 200:
            console.print(f"[red]error:[/red] {server} refused the token ({profile.status_code})")
            raise typer.Exit(1)
        me = profile.json()
    metadata = {
        "account_id": me["account_id"],
        "device_serial": me["device_serial"],
        "first_name": me["first_name"],
        "locale": locale,
        "wake_word": wake_word,
    }
    with (
        httpx.Client(base_url=server, timeout=60) as client,
        Progress(
            TextColumn("uploading"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        task = progress.add_task("upload", total=len(files))
        futures = {
            pool.submit(upload_file, client, path, device_token, metadata): path for path in files
        }
        for future in as_completed(futures):
            path = futures[future]
            try:
                response = future.result()
            except httpx.HTTPError as exc:
                failures.append(f"{path}: {exc}")
            else:
                outcomes[str(response.status_code)] = outcomes.get(str(response.status_code), 0) + 1
                if response.status_code >= 400:
                    error = response.json().get("error", {})
                    failures.append(
                        f"{path}: {response.status_code} {error.get('code')}: "
                        f"{error.get('message')}"
                    )
            progress.advance(task)
    stored, repeated = outcomes.get("201", 0), outcomes.get("200", 0)
    console.print(f"{stored} stored, {repeated} already stored, {len(failures)} refused")
    for failure in failures:
        console.print(f"[red]{failure}[/red]")
    if failures:
        raise typer.Exit(1)


def upload_file(
    client: httpx.Client, path: Path, token: str, metadata: dict[str, str]
) -> httpx.Response:
    data = path.read_bytes()
    captured = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()
    body = metadata | {"captured_at": captured}
    return client.post(
        "/v1/recordings",
        headers={
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": hashlib.sha256(data).hexdigest(),
        },
        files={
            "metadata": (None, json.dumps(body), "application/json"),
            "audio": (path.name, data, "application/octet-stream"),
        },
    )


@pipeline_app.command("run")
def pipeline_run(
    recording: Annotated[
        str | None, typer.Option(help="One recording id (default: every unfinished one)")
    ] = None,
    workspace: Workspace = None,
) -> None:
    """Take recordings through the pipeline and print what each stage decided."""
    from earmuff.pipeline.build import build_runner
    from earmuff.pipeline.runner import RecordingBusy

    store = _store(workspace)
    try:
        runner = build_runner(store)
        ids = [recording] if recording else list(runner.pending())
        for recording_id in ids:
            try:
                reports = runner.run(recording_id)
            except KeyError:
                console.print(f"[red]error:[/red] no recording {recording_id}")
                raise typer.Exit(1) from None
            except RecordingBusy:
                console.print(f"{recording_id}  busy: another worker is processing it")
                continue
            steps = ", ".join(f"{r.stage}: {r.decision}" for r in reports)
            console.print(f"{recording_id}  {steps}")
        console.print(f"{len(ids)} recording(s) processed")
    finally:
        store.close()


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Recordings processed at once, one process each")
    ] = 1,
    workspace: Workspace = None,
) -> None:
    """Run a worker of the distributed pipeline: take recordings from EARMUFF_BROKER_URL."""
    from earmuff.config.settings import SettingsError
    from earmuff.pipeline.distributed import run_worker, worker_app

    try:
        settings = Settings.for_workspace(workspace)
    except SettingsError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if settings.broker_url is None:
        console.print("[red]error:[/red] set EARMUFF_BROKER_URL (redis://... or amqp://...)")
        raise typer.Exit(1)
    open_store(settings).close()
    raise typer.Exit(run_worker(worker_app(settings), concurrency))


def _factory(distributed: bool, retention: bool) -> str:
    """The app each of several server processes builds: with the broker, it enqueues
    what it stores (and enforces retention); else retention alone, or the bare API."""
    if distributed:
        return "create_distributed_app"
    return "create_served_app" if retention else "create_app"


@app.command()
def demo(
    workspace: Workspace = None,
    port: Annotated[int, typer.Option(help="Port for the demo server (0: any free port)")] = 0,
    serve: Annotated[
        bool | None,
        typer.Option(
            "--serve/--no-serve",
            help="Keep serving the workbench after the tour (default: when run in a terminal)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Make a fresh demo workspace, register devices, upload recordings, review them in the
    workbench, and show the result."""
    from earmuff.cli.demo import DemoError, run_demo

    try:
        run_demo(workspace, port, console, serve=sys.stdin.isatty() if serve is None else serve)
    except DemoError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


if __name__ == "__main__":
    app()
