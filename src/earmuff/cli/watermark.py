"""``earmuff watermark``: mark a file as the server marks a stream, and read a leaked copy.

Both commands use the workspace's watermark key (derived from its master key), so a
copy leaked from the workbench is identified here with the same code the server runs.
The key is never created here: marking or reading under a key nobody else holds would
only ever say "no mark found".
"""

from __future__ import annotations

import io
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated

import soundfile as sf
import typer
from rich.console import Console

from earmuff.audio import AudioError, decode_audio, encode_wav
from earmuff.audio.codec import ANY_FORMAT, DecodedAudio
from earmuff.audio.watermark import PAYLOAD_BYTES, Codebook, Samples, decode, embed, evidence, match
from earmuff.audit.log import record
from earmuff.audit.marks import issued_codes, mark_subject, stream_of_mark
from earmuff.cli.options import Workspace
from earmuff.config import IngestLimits, Settings
from earmuff.store import open_store
from earmuff.store.crypto import MasterKeyError, watermark_key

app = typer.Typer(
    no_args_is_help=True,
    help="Mark audio with a payload, or find who a leaked copy was served to.",
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)
MAX_SECONDS = 3_600.0
OUTPUT_FORMATS = {".wav": "WAV", ".flac": "FLAC"}

InFile = Annotated[
    Path,
    typer.Argument(
        exists=True, dir_okay=False, readable=True, metavar="IN", help="WAV, FLAC, Ogg or MP3"
    ),
]


@app.command("embed")
def embed_command(
    source: InFile,
    target: Annotated[
        Path, typer.Argument(dir_okay=False, metavar="OUT", help="Where to write (.wav or .flac)")
    ],
    payload: Annotated[
        str, typer.Option("--payload", help=f"Up to {PAYLOAD_BYTES} ASCII characters")
    ],
    workspace: Workspace = None,
) -> None:
    """Write SOURCE to TARGET with PAYLOAD marked in, inaudibly."""
    fmt = OUTPUT_FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise typer.BadParameter("must end in .wav or .flac", param_hint="TARGET")
    try:
        code = encode_payload(payload)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--payload") from None
    audio = _read(source)
    key = _key(workspace)
    marked = embed(audio.samples, audio.sample_rate, code, key)
    _write_atomically(target, _encode(marked, audio.sample_rate, fmt))
    typer.echo(f"marked {target} with {payload!r} ({audio.duration_s:.1f} s)")


@app.command("identify")
def identify_command(
    source: InFile,
    workspace: Workspace = None,
    since: Annotated[
        datetime | None,
        typer.Option("--since", help="Match only codes streamed from then on (UTC)"),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option("--until", help="Match only codes streamed before then (UTC)"),
    ] = None,
) -> None:
    """Print the payload marked in SOURCE and whose stream carried it; exit 1 if no mark is
    found. The copy is matched among the codes this workspace issued first, and decoded
    blind only if none matches (a payload marked with `watermark embed` is never issued).
    A look-up that names a person is audited, as on the audit page."""
    audio = _read(source)
    key = _key(workspace)
    store = open_store(Settings.for_workspace(workspace))
    try:
        with store.db.read() as session:
            codes = issued_codes(session, since, until)
        seen = evidence(audio.samples, audio.sample_rate, key)
        matched = match(Codebook(codes), seen) if seen is not None and codes else None
        blind = decode(seen) if seen is not None and matched is None else None
        code = matched.payload if matched else blind.payload if blind else None
        if code is None:
            typer.echo(f"no mark found in {source} ({audio.duration_s:.1f} s)")
            raise typer.Exit(1)
        typer.echo(f"payload {decode_payload(code)}")
        typer.echo(f"hex {code.hex()}")
        if matched is not None:
            typer.echo(
                f"matched among {len(codes)} issued codes: score {matched.score:.1f} "
                f"(threshold {matched.threshold:.1f}, next best {matched.runner_up:.1f}), "
                f"sync score {matched.sync_score:.1f}"
            )
        elif blind is not None:
            typer.echo(
                f"decoded blind: sync score {blind.sync_score:.1f}, agreement {blind.agreement:.2f}"
            )
        with store.db.transaction() as session:
            stream = stream_of_mark(session, code)
            record(
                session,
                "cli",
                "audit.leak_traced",
                mark_subject(code),
                {"found": stream is not None, "seconds": round(audio.duration_s, 1)},
            )
    finally:
        store.close()
    if stream is None:
        typer.echo("no stream of this workspace carries this mark")
        return
    what = (
        f"lease {stream.lease}"
        if stream.lease
        else f"second listen {stream.second_listen}"
        if stream.second_listen
        else f"safety case {stream.safety_case}"
    )
    typer.echo(
        f"streamed to {stream.username} ({stream.role}) under {what}, item "
        f"{stream.review_item}, at {stream.streamed_at:%Y-%m-%d %H:%M:%S} UTC"
    )


def encode_payload(text: str) -> bytes:
    """``text`` as exactly :data:`PAYLOAD_BYTES` bytes, right-padded with zero bytes."""
    if not text or not text.isascii() or not text.isprintable():
        raise ValueError("must be printable ASCII characters")
    if len(text) > PAYLOAD_BYTES:
        raise ValueError(
            f"{text!r} is {len(text)} characters; the mark holds at most {PAYLOAD_BYTES}"
        )
    return text.encode("ascii").ljust(PAYLOAD_BYTES, b"\0")


def decode_payload(payload: bytes) -> str:
    """The text :func:`encode_payload` made, or the hex of a payload that is not text
    (the server's random mark codes)."""
    text = payload.rstrip(b"\0")
    if text and text.isascii() and text.decode("ascii").isprintable():
        return text.decode("ascii")
    return payload.hex()


def _key(workspace: Path | None) -> bytes:
    settings = Settings.for_workspace(workspace)
    if not settings.master_key and not settings.master_key_file.exists():
        console.print(
            f"[red]error:[/red] no master key at {settings.master_key_file}: "
            "run `earmuff init` or set EARMUFF_MASTER_KEY",
            highlight=False,
        )
        raise typer.Exit(2)
    try:
        store = open_store(settings)
    except MasterKeyError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    try:
        # The workspace's stored watermark key: it outlives master-key rotations.
        return watermark_key(store.keyring.master)
    finally:
        store.close()


def _read(path: Path) -> DecodedAudio:
    data = path.read_bytes()
    limits = IngestLimits(max_audio_bytes=max(1, len(data)), max_duration_s=MAX_SECONDS)
    try:
        return decode_audio(data, limits, accept=ANY_FORMAT)
    except AudioError as exc:
        console.print(f"[red]error:[/red] {path}: {exc.message}", highlight=False)
        raise typer.Exit(2) from None


def _encode(samples: Samples, rate: int, fmt: str) -> bytes:
    if fmt == "WAV":
        return encode_wav(samples, rate)
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype="PCM_16")
    return buffer.getvalue()


def _write_atomically(target: Path, data: bytes) -> None:
    """A crash or a full disk leaves either the old file or none, never half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
