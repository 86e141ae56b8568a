"""The pipeline's cost against bare transcription of the same clips, in one run.

What it measures
    Clips of real speech shaped like assistant requests (someone saying "Alexa", then a
    WUW-II caller speaking: both real recordings, joined) are uploaded into a fresh
    workspace whose policy samples everything, so every clip goes through every stage:
    consent, wake check, sampling, transcription, PII, bleep and anonymization,
    screening, review item. For each clip, in turn, the bare faster-whisper transcription
    of the same audio with the same model and settings is timed too (faster-whisper's
    own voice-activity filter included, as the issue's transcription stage has it), and
    once more without that filter, to show what it costs. All are printed as seconds of
    processing per second of audio, with the ratios. Target: the pipeline costs at most
    1.3 times bare transcription.

    The same clips are then uploaded by a household that never allowed review: every
    recording gets the wake check whatever its consent (a false wake is deleted for
    everyone), and that check is all such a recording costs. Most recordings are of
    this kind, so its cost per audio second is printed too, against the same bare
    transcription.

Why a ratio
    Absolute speed depends on the machine and its load; interleaving the two per clip
    and dividing keeps the comparison fair on a noisy 2-core machine.

Run it with ``.venv/bin/python bench/pipeline.py`` (needs the corpus at
``$EARMUFF_CORPUS``, default ``../shared/data``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from earmuff.audio import decode_audio
from earmuff.cli.samples import join_recordings
from earmuff.config import IngestLimits, Policy, Settings
from earmuff.config.policy import ReviewPolicy
from earmuff.pipeline.build import Models, build_runner
from earmuff.pipeline.ingest import Ingestor
from earmuff.pipeline.runner import PipelineRunner
from earmuff.store import Store, open_store
from earmuff.store.accounts import register_device
from earmuff.store.consent import record_consent

TARGET_RATIO = 1.3


def clips(corpus: Path, count: int) -> list[bytes]:
    alexa = sorted((corpus / "alexa").glob("*.flac"))
    speech = sorted((corpus / "wuw" / "calls").glob("*/WUWII*_00[6-9].ulaw"))
    return [
        join_recordings(alexa[i % len(alexa)], speech[(7 * i) % len(speech)]) for i in range(count)
    ]


def unreviewed_cost(
    ingestor: Ingestor, store: Store, runner: PipelineRunner, audio: list[bytes]
) -> tuple[float, int]:
    """Seconds the pipeline spends on the clips of a household without consent, and how
    many of them reached the wake check."""
    with store.db.transaction() as session:
        _, token = register_device(session, store.keyring, "ACC-N", "Noor", "SN-N")
    uploader = ingestor.authenticate(token)
    seconds, checked = 0.0, 0
    for index, clip in enumerate(audio):
        metadata = {
            "account_id": "ACC-N", "first_name": "Noor", "device_serial": "SN-N",
            "captured_at": "2026-11-20T10:00:00Z", "locale": "en-US", "wake_word": "alexa",
            "device_recording_id": f"n{index}",
        }  # fmt: skip
        body = ingestor.ingest(uploader, json.dumps(metadata).encode(), clip).body
        started = time.perf_counter()
        reports = runner.run(str(body["recording_id"]))
        seconds += time.perf_counter() - started
        checked += any(report.stage == "wake" for report in reports)
    return seconds, checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--json", type=Path, metavar="OUT")
    args = parser.parse_args(argv)
    corpus = Path(
        os.environ.get("EARMUFF_CORPUS") or Path(__file__).parents[1] / ".." / "shared" / "data"
    )
    if not (corpus / "alexa").is_dir():
        print(f"the corpus is missing at {corpus} (set EARMUFF_CORPUS)", file=sys.stderr)
        return 2
    audio = clips(corpus, args.clips + 1)
    with tempfile.TemporaryDirectory(prefix="earmuff-bench-") as scratch:
        settings = Settings.for_workspace(Path(scratch), env={})
        settings = dataclasses.replace(
            settings, policy=Policy(review=ReviewPolicy(sampling_rate=1.0))
        )
        store = open_store(settings)
        with store.db.transaction() as session:
            device, token = register_device(session, store.keyring, "ACC-B", "Ada", "SN-B")
            record_consent(session, device.account_id, "granted", "bench", "disclosure-1")
        ingestor = Ingestor(settings, store.db, store.blobs, store.keyring)
        uploader = ingestor.authenticate(token)
        ids = []
        for index, clip in enumerate(audio):
            metadata = {
                "account_id": "ACC-B", "first_name": "Ada", "device_serial": "SN-B",
                "captured_at": "2026-11-20T10:00:00Z", "locale": "en-US", "wake_word": "alexa",
                "device_recording_id": f"b{index}",
            }  # fmt: skip
            ids.append(
                ingestor.ingest(uploader, json.dumps(metadata).encode(), clip).body["recording_id"]
            )
        models = Models(settings.policy)
        runner = build_runner(store, models)
        transcriber = models.transcriber
        runner.run(ids[0])
        pipeline_s = bare_s = whole_s = audio_s = 0.0
        completed = 0
        for recording_id, clip in zip(ids[1:], audio[1:], strict=True):
            decoded = decode_audio(clip, IngestLimits())
            audio_s += decoded.duration_s
            started = time.perf_counter()
            transcriber.transcribe(decoded.samples, decoded.sample_rate)
            bare_s += time.perf_counter() - started
            started = time.perf_counter()
            transcriber.transcribe(decoded.samples, decoded.sample_rate, vad=False)
            whole_s += time.perf_counter() - started
            started = time.perf_counter()
            reports = runner.run(recording_id)
            pipeline_s += time.perf_counter() - started
            completed += reports[-1].stage == "review_item"
        unreviewed_s, checked = unreviewed_cost(ingestor, store, runner, audio[1:])
        store.close()
    ratio = pipeline_s / bare_s
    results = {
        "clips": args.clips,
        "audio_seconds": round(audio_s, 2),
        "reached_review_item": completed,
        "pipeline_s_per_audio_s": round(pipeline_s / audio_s, 4),
        "bare_transcription_s_per_audio_s": round(bare_s / audio_s, 4),
        "without_vad_s_per_audio_s": round(whole_s / audio_s, 4),
        "ratio": round(ratio, 3),
        "ratio_to_whisper_without_vad": round(pipeline_s / whole_s, 3),
        "asr_model": transcriber.version,
        "not_admitted_s_per_audio_s": round(unreviewed_s / audio_s, 4),
        "not_admitted_ratio_to_bare": round(unreviewed_s / bare_s, 3),
        "not_admitted_wake_checked": checked,
    }
    print(
        f"{args.clips} clips, {audio_s:.1f} s of real speech, {completed} reached a review item\n"
        f"pipeline            {pipeline_s / audio_s:.4f} s per audio second\n"
        f"bare transcription  {bare_s / audio_s:.4f} s per audio second ({transcriber.version})\n"
        f"  without its VAD   {whole_s / audio_s:.4f} s per audio second "
        f"(pipeline/that: {pipeline_s / whole_s:.2f})\n"
        f"ratio pipeline/bare: {ratio:.2f} "
        f"({'meets' if ratio <= TARGET_RATIO else 'ABOVE'} the target of {TARGET_RATIO})\n"
        f"not admitted for review: {unreviewed_s / audio_s:.4f} s per audio second "
        f"({unreviewed_s / bare_s:.2f} of bare transcription), "
        f"{checked} of {args.clips} wake-checked"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
