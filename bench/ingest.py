"""Ingestion throughput: earmuff's ``POST /v1/recordings`` against a bare FastAPI endpoint.

What it measures
    ``--requests`` uploads (default 1,000) of a ``--seconds`` long (default 5 s) 16 kHz mono
    16-bit WAV, sent over loopback by ``--concurrency`` concurrent clients (default 16),
    to a real ``earmuff serve`` process in a fresh temporary workspace (SQLite, local
    blob folder, a device registered through the CLI) and to a bare FastAPI app whose
    endpoint only reads the body. Both servers run as subprocesses with the same uvicorn
    settings as ``earmuff serve`` (one process, ``log_level="warning"``); they are loaded
    one after the other, never at the same time, in ``--rounds`` alternating rounds
    (default 3), each server getting a short warm-up (``--warmup`` uploads, default 50)
    on the same connections before each measured run. Both are driven by the same
    client code: one ``httpx.AsyncClient`` with a pool of ``--concurrency`` connections.
    The ratio that counts is the median of the rounds' ratios, so that one disturbed
    round does not decide it.

    Every upload carries distinct audio (one voice-like harmonic signal plus a different
    window of background noise), a distinct ``Idempotency-Key`` and a distinct
    ``device_recording_id``, so earmuff stores each one: none is answered as a replay.
    The device's account has not consented to human review (the default policy is
    opt-in), as most will not have: earmuff stores each upload and records the consent
    decision with it, and its pipeline has nothing to do.

Why a ratio
    Absolute requests/s depend on the machine, its load and its disk, so they are printed
    but not judged. The bare endpoint is the ceiling for this client, this HTTP stack and
    this upload size on this machine at this moment; earmuff's requests/s divided by the
    bare endpoint's is what stays comparable across machines. The target is a ratio of at
    least 0.5: checking, decoding, sealing and storing each recording may cost at most as
    much as receiving it. The ratio is reported, not enforced: the exit status
    only says whether every request succeeded.

Caveat
    Creating a file on ext4 gets slow for about 30 s after many files were deleted
    nearby: the kernel skips every recently freed inode while it looks for a free one,
    and earmuff creates one file per upload. Deleting an earlier run's workspace just
    before is enough to cost earmuff a fifth of its throughput; leave half a minute
    between runs. On a 2-core machine the client (one Python process) competes with the
    server for CPU, so both figures are lower than a server alone would reach, and the
    bare endpoint, being cheap, is the more client-bound of the two. The comparison is
    still fair: the client work per request is the same for both servers. Other work on
    the machine shifts both runs, and not necessarily equally, so the load average at the
    start is printed: compare runs made on a quiet machine.

Run it with ``.venv/bin/python bench/ingest.py``. The exit status is 1 if any request
failed (earmuff answering anything but 201, or the bare endpoint failing, which would make
the ratio meaningless), and 2 if a server could not be set up or started.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import wave
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from earmuff.web.server import free_port

SAMPLE_RATE = 16_000
TARGET_RATIO = 0.5
HOST = "127.0.0.1"
ACCOUNT_ID = "ACC-BENCH-1"
FIRST_NAME = "Ada"
DEVICE_SERIAL = "SN-BENCH-1"
STARTUP_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 120.0
FORMANTS = ((700.0, 130.0), (1220.0, 170.0), (2600.0, 250.0))
"""Centre and width (Hz) of three vowel-like resonances shaping the harmonics."""

Samples = np.ndarray[Any, np.dtype[np.float32]]


@dataclass(frozen=True)
class Target:
    """A running server to upload to, and the device token it expects (if any)."""

    name: str
    base_url: str
    token: str


@dataclass(frozen=True)
class Measurement:
    """One server's figures for the measured (post-warm-up) uploads."""

    server: str
    requests: int
    succeeded: int
    statuses: dict[str, int]
    elapsed_s: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    first_failures: list[str]

    @property
    def failed(self) -> int:
        return self.requests - self.succeeded


@dataclass
class Tally:
    """What a batch of uploads came back with."""

    latencies_s: list[float]
    statuses: Counter[str]
    failures: list[str]


class AudioFactory:
    """Distinct, voice-like WAVs: one fixed voice plus a sliding window of background noise."""

    def __init__(self, seconds: float, variants: int, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.frames = round(seconds * SAMPLE_RATE)
        self.voice = voice_like(self.frames, rng)
        noise = rng.standard_normal(self.frames + variants) * 0.01
        self.noise: Samples = noise.astype(np.float32)
        self.variants = variants

    def wav(self, index: int) -> bytes:
        """The ``index``-th recording; each index in ``range(variants)`` has its own noise."""
        if not 0 <= index < self.variants:
            raise IndexError(f"audio variant {index} is outside 0..{self.variants - 1}")
        mixed = self.voice + self.noise[index : index + self.frames]
        return wav_bytes(np.clip(mixed * 32767.0, -32768, 32767).astype("<i2"))


def voice_like(frames: int, rng: np.random.Generator) -> Samples:
    """A voiced, syllabic signal: a wandering pitch whose harmonics follow vowel formants."""
    t = np.arange(frames) / SAMPLE_RATE
    base_pitch = 140.0
    pitch = base_pitch + 25.0 * np.sin(2 * np.pi * 0.3 * t) + 4.0 * np.sin(2 * np.pi * 5.5 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    signal = np.zeros(frames)
    for harmonic in range(1, int(4000 // base_pitch) + 1):
        frequency = harmonic * base_pitch
        resonance = sum(math.exp(-(((frequency - f) / width) ** 2)) for f, width in FORMANTS)
        signal += (0.05 + resonance) / harmonic * np.sin(harmonic * phase)
    syllables = np.sqrt(np.clip(np.sin(2 * np.pi * 3.7 * t + rng.uniform(0, 2 * np.pi)), 0, 1))
    words = (np.sin(2 * np.pi * 0.45 * t) > -0.6).astype(np.float64)
    voiced = signal * syllables * words
    normalized: Samples = (0.3 * voiced / np.abs(voiced).max()).astype(np.float32)
    return normalized


def wav_bytes(pcm: np.ndarray[Any, np.dtype[np.int16]]) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def bare_app() -> FastAPI:
    """The baseline: the same route, answering 201 once it has read the whole body."""
    app = FastAPI()

    @app.post("/v1/recordings")
    async def upload(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse({"received_bytes": len(body)}, status_code=201)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_bare(port: int, workers: int) -> None:
    """Run the baseline exactly as ``earmuff serve`` runs earmuff."""
    if workers == 1:
        uvicorn.run(bare_app(), host=HOST, port=port, log_level="warning")
        return
    uvicorn.run(
        f"{Path(__file__).stem}:bare_app",
        factory=True,
        app_dir=str(Path(__file__).parent),
        workers=workers,
        host=HOST,
        port=port,
        log_level="warning",
    )


def clean_env() -> dict[str, str]:
    """The environment minus any EARMUFF_* setting that could point away from the workspace."""
    return {k: v for k, v in os.environ.items() if not k.startswith("EARMUFF_")}


def earmuff_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "earmuff.cli.main", *args]


def run_cli(*args: str) -> str:
    """Run one ``earmuff`` command to completion and return its standard output."""
    done = subprocess.run(
        earmuff_cli(*args), env=clean_env(), check=True, capture_output=True, text=True
    )
    return done.stdout


def register_device(workspace: Path) -> str:
    """Create the workspace and register one device through the CLI; return its token."""
    run_cli("init", "--workspace", str(workspace))
    added = run_cli(
        "devices",
        "add",
        "--workspace",
        str(workspace),
        "--account",
        ACCOUNT_ID,
        "--first-name",
        FIRST_NAME,
        "--serial",
        DEVICE_SERIAL,
    )
    return added.strip().splitlines()[-1]


@contextmanager
def running_server(command: list[str], port: int, log: Path) -> Iterator[str]:
    """Start ``command`` listening on ``port``, yield its base URL once healthy, stop it."""
    base_url = f"http://{HOST}:{port}"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command, env=clean_env(), stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            wait_until_healthy(base_url, process, log)
            yield base_url
        finally:
            stop(process)


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            health = httpx.get(f"{base_url}/healthz", timeout=2, trust_env=False)
            if health.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server at {base_url} did not become healthy:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def upload_request(
    client: httpx.AsyncClient, target: Target, audio: AudioFactory, index: int, captured_at: str
) -> httpx.Request:
    """The multipart upload a device would send for recording ``index``."""
    metadata = {
        "account_id": ACCOUNT_ID,
        "first_name": FIRST_NAME,
        "device_serial": DEVICE_SERIAL,
        "captured_at": captured_at,
        "locale": "en-US",
        "wake_word": "alexa",
        "wake_confidence": 0.9,
        "device_recording_id": f"bench-{index:06d}",
    }
    return client.build_request(
        "POST",
        "/v1/recordings",
        headers={"Authorization": f"Bearer {target.token}", "Idempotency-Key": str(uuid.uuid4())},
        files={
            "metadata": (None, json.dumps(metadata), "application/json"),
            "audio": (f"bench-{index:06d}.wav", audio.wav(index), "audio/wav"),
        },
    )


async def upload_all(
    client: httpx.AsyncClient,
    target: Target,
    audio: AudioFactory,
    indices: range,
    concurrency: int,
) -> Tally:
    """Send one upload per index, ``concurrency`` at a time, and tally the answers."""
    tally = Tally(latencies_s=[], statuses=Counter(), failures=[])
    pending = iter(indices)
    captured_at = datetime.now(UTC).isoformat()

    async def worker() -> None:
        for index in pending:
            request = upload_request(client, target, audio, index, captured_at)
            started = time.perf_counter()
            try:
                response = await client.send(request)
            except httpx.HTTPError as exc:
                tally.statuses["transport error"] += 1
                tally.failures.append(f"#{index}: {type(exc).__name__}: {exc}")
                continue
            tally.latencies_s.append(time.perf_counter() - started)
            tally.statuses[str(response.status_code)] += 1
            if response.status_code != 201:
                tally.failures.append(f"#{index}: {response.status_code} {response.text[:300]}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally


async def measure(
    target: Target, audio: AudioFactory, first: int, requests: int, warmup: int, concurrency: int
) -> Measurement:
    """Warm up, then time ``requests`` uploads over the same pool of connections, using
    the recordings numbered from ``first`` on."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=target.base_url, limits=limits, timeout=REQUEST_TIMEOUT_S, trust_env=False
    ) as client:
        await upload_all(client, target, audio, range(first, first + warmup), concurrency)
        started = time.perf_counter()
        measured = range(first + warmup, first + warmup + requests)
        tally = await upload_all(client, target, audio, measured, concurrency)
        elapsed = time.perf_counter() - started
    return summarize(target.name, requests, tally, elapsed)


def summarize(server: str, requests: int, tally: Tally, elapsed_s: float) -> Measurement:
    p50, p99 = (
        np.percentile(tally.latencies_s, [50, 99]) * 1000 if tally.latencies_s else (np.nan,) * 2
    )
    return Measurement(
        server=server,
        requests=requests,
        succeeded=tally.statuses["201"],
        statuses=dict(sorted(tally.statuses.items())),
        elapsed_s=round(elapsed_s, 3),
        requests_per_s=round(requests / elapsed_s, 2),
        p50_ms=round(float(p50), 2),
        p99_ms=round(float(p99), 2),
        first_failures=tally.failures[:5],
    )


@contextmanager
def earmuff_server(scratch: Path, args: argparse.Namespace) -> Iterator[Target]:
    workspace = scratch / "workspace"
    token = register_device(workspace)
    port = free_port()
    command = earmuff_cli(
        "serve",
        "--workspace",
        str(workspace),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(args.workers),
    )
    with running_server(command, port, scratch / "earmuff.log") as base_url:
        yield Target("earmuff", base_url, token)


@contextmanager
def bare_server(scratch: Path, args: argparse.Namespace) -> Iterator[Target]:
    port = free_port()
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve-bare",
        str(port),
        "--workers",
        str(args.workers),
    ]
    with running_server(command, port, scratch / "bare.log") as base_url:
        yield Target("bare", base_url, "not-checked")


@dataclass(frozen=True)
class Round:
    earmuff: Measurement
    bare: Measurement

    @property
    def ratio(self) -> float:
        return self.earmuff.requests_per_s / self.bare.requests_per_s


def run_rounds(scratch: Path, audio: AudioFactory, args: argparse.Namespace) -> list[Round]:
    """Measure earmuff, then the bare endpoint, ``--rounds`` times over the same servers.

    Each round uses new recordings (earmuff refuses a device_recording_id twice), so a
    later round stores into a workspace that already holds the earlier rounds' uploads.
    """
    rounds = []
    per_round = args.warmup + args.requests
    with earmuff_server(scratch, args) as earmuff, bare_server(scratch, args) as bare:
        for number in range(args.rounds):
            first = number * per_round
            measured = [
                asyncio.run(
                    measure(target, audio, first, args.requests, args.warmup, args.concurrency)
                )
                for target in (earmuff, bare)
            ]
            rounds.append(Round(*measured))
    return rounds


def report(
    rounds: list[Round], ratio: float, audio: AudioFactory, args: argparse.Namespace, load: float
) -> None:
    size = len(audio.wav(0))
    print(
        f"{args.rounds} rounds of {args.requests} uploads per server of a {args.seconds:g} s "
        f"{SAMPLE_RATE // 1000} kHz mono 16-bit WAV ({size:,} bytes), {args.concurrency} "
        f"concurrent clients, {args.warmup} warm-up uploads per server and round; load "
        f"average at start {load:.2f} on {os.cpu_count()} CPUs"
    )
    print(f"{'round':<6} {'server':<8} {'ok/total':>11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for number, measured in enumerate(rounds, 1):
        for row in (measured.earmuff, measured.bare):
            print(
                f"{number:<6} {row.server:<8} {f'{row.succeeded}/{row.requests}':>11} "
                f"{row.requests_per_s:>8.1f} {row.p50_ms:>8.1f} {row.p99_ms:>8.1f}"
            )
        print(f"{number:<6} ratio {measured.ratio:.2f}")
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(
        f"ratio earmuff/bare req/s, median of {len(rounds)} rounds: {ratio:.2f} "
        f"({verdict} the target of {TARGET_RATIO})"
    )
    for measured in rounds:
        for row in (measured.earmuff, measured.bare):
            if row.failed:
                print(
                    f"{row.server}: {row.failed} failed, statuses {row.statuses}", file=sys.stderr
                )
                for failure in row.first_failures:
                    print(f"  {failure}", file=sys.stderr)


def write_json(
    path: Path, rounds: list[Round], ratio: float, args: argparse.Namespace, load: float
) -> None:
    results = {
        "config": {
            "rounds": args.rounds,
            "requests": args.requests,
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "audio_seconds": args.seconds,
            "sample_rate": SAMPLE_RATE,
            "cpus": os.cpu_count(),
            "load_average_at_start": load,
        },
        "rounds": [
            {"earmuff": asdict(r.earmuff), "bare": asdict(r.bare), "ratio": round(r.ratio, 4)}
            for r in rounds
        ],
        "ratio": round(ratio, 4),
        "target_ratio": TARGET_RATIO,
    }
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="measured uploads per server")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating measurements; the median ratio counts"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=5.0, help="audio length in seconds")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured uploads per server")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes, the same for both servers"
    )
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.requests, args.concurrency, args.rounds) < 1 or args.warmup < 0:
        parser.error("--requests, --concurrency and --rounds must be >= 1, --warmup >= 0")
    if args.seconds <= 0:
        parser.error("--seconds must be > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_bare is not None:
        serve_bare(args.serve_bare, args.workers)
        return 0
    audio = AudioFactory(args.seconds, variants=(args.warmup + args.requests) * args.rounds)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="earmuff-bench-") as scratch:
        try:
            rounds = run_rounds(Path(scratch), audio, args)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", None) or ""
            print(f"benchmark aborted: {exc}\n{detail}", file=sys.stderr)
            return 2
    ratio = statistics.median(r.ratio for r in rounds)
    report(rounds, ratio, audio, args, load)
    if args.json:
        write_json(args.json, rounds, ratio, args, load)
    failed = any(r.earmuff.failed or r.bare.failed for r in rounds)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
