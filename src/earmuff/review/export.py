"""Export of finished annotations: what the data team trains on, and nothing more.

An item is exported once its review is finished: at least one submitted annotation;
no task still queued or leased (gold tasks, made afresh for each reviewer shown a gold
item, aside); still in play (not pulled, escalated, withdrawn or deleted); never the
subject of a safety case; no annotation flagging a PII leak or an escalation; not past
its retention date. Its anonymized audio goes out (``audio/<review_item_id>.wav``),
never the raw recording; the records name the reviewer's role, never the reviewer, and
the date of a submission, not its time.

Formats (any of them, in one folder):

- ``jsonl``: ``annotations.jsonl``, one line per submitted annotation.
- ``nemo``: ``manifest.jsonl``, a NeMo ASR manifest (``audio_filepath`` relative to the
  manifest, ``duration`` exact from the WAV, ``text``), one line per item. The text is
  the item's consensus transcript: the gold answer when the item has one; otherwise,
  among the annotations not flagged ``unintelligible`` or ``not_for_this_locale`` and
  not empty, the medoid: the transcript with the least total word error rate against
  the others as references (WER as ``agreement`` measures it, on normalised words),
  ties to the earliest submission. With one annotation it is that one; with two, the
  one that reads better against the other's length. An item left without a candidate
  is not in the manifest.
- ``labelstudio``: ``labelstudio.json``, tasks in Label Studio's import format, each
  reviewer's annotation under ``annotations`` (a gold answer marked ``ground_truth``),
  and ``labelstudio.xml``, the labeling config those results belong to. Audio is
  referenced as ``/data/local-files/?d=audio/<id>.wav``: serve the export folder as
  Label Studio's local-files document root.

The folder appears whole or not at all: it is written under a temporary name beside
``out_dir`` and renamed once complete, and the export is audited in the same step.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, aliased

from earmuff.audio.span import wav_duration
from earmuff.audit.log import record
from earmuff.config.policy import WorkbenchPolicy
from earmuff.review.agreement import transcript_wer
from earmuff.review.escalation import ESCALATING_FLAGS
from earmuff.review.item_state import in_play_clause
from earmuff.store import Store
from earmuff.store.models import (
    Annotation,
    GoldAnswer,
    ReviewItem,
    ReviewTask,
    SafetyCase,
)
from earmuff.store.review_items import (
    ANNOTATION_TEXT,
    GOLD_TEXT,
    open_item_text,
    read_review_audio,
)

FORMATS = ("jsonl", "nemo", "labelstudio")
WITHHOLDING_FLAGS = ("pii_leak", *ESCALATING_FLAGS)
"""An item any annotation flagged with one of these never leaves, whatever its status."""
NOT_FOR_ASR = ("unintelligible", "not_for_this_locale")
"""An annotation with one of these flags is not a candidate for the manifest's text."""
STANDARD_FLAGS = ("no_wake_word", "unintelligible", "not_for_this_locale")
LABEL_STUDIO_AUDIO = "/data/local-files/?d="


class ExportError(ValueError):
    """The export cannot be made as asked; nothing was written."""


@dataclass(frozen=True)
class ExportSummary:
    out_dir: Path
    formats: tuple[str, ...]
    items: int
    annotations: int
    manifest_lines: int


@dataclass(frozen=True)
class _Done:
    """One submitted annotation, opened."""

    transcript: str
    intent: str | None
    slots: dict[str, Any]
    flags: dict[str, Any]
    role: str
    kind: str
    submitted_at: datetime


@dataclass
class _Item:
    item: ReviewItem
    annotations: list[_Done] = field(default_factory=list)
    gold: tuple[str, str | None] | None = None
    duration_s: float = 0.0


def parse_formats(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"jsonl,nemo"`` → ``("jsonl", "nemo")``; unknown or no formats are an error."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    chosen = tuple(dict.fromkeys(part.strip().lower() for part in parts if part.strip()))
    unknown = [name for name in chosen if name not in FORMATS]
    if unknown:
        raise ExportError(f"unknown format {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    if not chosen:
        raise ExportError(f"choose at least one format: {', '.join(FORMATS)}")
    return chosen


def export_annotations(
    store: Store, out_dir: Path, formats: Sequence[str], actor: str, now: datetime
) -> ExportSummary:
    """Write the finished annotations to ``out_dir`` (new, or an empty folder) and audit it."""
    chosen = parse_formats(formats)
    out = out_dir.absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} is not an empty folder: export into a new or empty one")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    renamed = False
    try:
        with store.db.read() as session:
            items = _finished_items(session, store, now)
            (partial / "audio").mkdir()
            for entry in items:
                if entry.item.audio_blob_key is None:
                    continue
                wav = read_review_audio(store.keyring, store.blobs, entry.item)
                entry.duration_s = wav_duration(wav)
                (partial / _audio_path(entry.item.id)).write_bytes(wav)
        summary = ExportSummary(
            out_dir=out,
            formats=chosen,
            items=len(items),
            annotations=sum(len(entry.annotations) for entry in items),
            manifest_lines=0,
        )
        if "jsonl" in chosen:
            _write_lines(partial / "annotations.jsonl", _annotation_lines(items))
        if "nemo" in chosen:
            lines = list(_manifest_lines(items))
            _write_lines(partial / "manifest.jsonl", lines)
            summary = replace(summary, manifest_lines=len(lines))
        if "labelstudio" in chosen:
            _write_label_studio(partial, items, store.settings.policy.workbench)
        with store.db.transaction() as session:
            record(
                session,
                actor,
                "export.written",
                "export",
                {
                    "out_dir": str(out),
                    "formats": list(chosen),
                    "items": summary.items,
                    "annotations": summary.annotations,
                },
            )
            if out.exists():
                out.rmdir()
            partial.rename(out)
            renamed = True
    except BaseException:
        shutil.rmtree(out if renamed else partial, ignore_errors=True)
        raise
    return summary


def _finished_items(session: Session, store: Store, now: datetime) -> list[_Item]:
    pending = aliased(ReviewTask)
    unfinished = exists().where(
        pending.review_item_id == ReviewItem.id,
        pending.kind != "gold",
        pending.status.in_(("queued", "leased")),
    )
    escalated = exists().where(SafetyCase.review_item_id == ReviewItem.id)
    rows = session.execute(
        select(Annotation, ReviewItem, ReviewTask.kind)
        .join(ReviewItem, ReviewItem.id == Annotation.review_item_id)
        .join(ReviewTask, ReviewTask.id == Annotation.task_id)
        .where(
            Annotation.outcome == "submitted",
            in_play_clause(),
            or_(ReviewItem.expires_at.is_(None), ReviewItem.expires_at > now),
            ~unfinished,
            ~escalated,
        )
        .order_by(ReviewItem.id, Annotation.submitted_at, Annotation.id)
    ).all()
    withheld = _withheld(session, {item.id for _, item, _ in rows})
    items: dict[str, _Item] = {}
    for annotation, item, kind in rows:
        if item.id in withheld:
            continue
        entry = items.setdefault(item.id, _Item(item))
        transcript = (
            open_item_text(store.keyring, item, ANNOTATION_TEXT, annotation.transcript_sealed)
            if annotation.transcript_sealed is not None
            else ""
        )
        entry.annotations.append(
            _Done(
                transcript=transcript,
                intent=annotation.intent,
                slots=dict(annotation.slots),
                flags=dict(annotation.flags),
                role=annotation.staff_role,
                kind=kind,
                submitted_at=annotation.submitted_at,
            )
        )
    for gold in session.scalars(
        select(GoldAnswer).where(GoldAnswer.review_item_id.in_(list(items)))
    ):
        entry = items[gold.review_item_id]
        text = open_item_text(store.keyring, entry.item, GOLD_TEXT, gold.transcript_sealed)
        entry.gold = (text, gold.intent)
    return list(items.values())


def _withheld(session: Session, item_ids: set[str]) -> set[str]:
    """Items some annotation (submitted or skipped) flagged as a leak or an escalation."""
    flagged: set[str] = set()
    rows = session.execute(
        select(Annotation.review_item_id, Annotation.flags).where(
            Annotation.review_item_id.in_(item_ids)
        )
    )
    for item_id, flags in rows:
        if any(flags.get(flag) for flag in WITHHOLDING_FLAGS):
            flagged.add(item_id)
    return flagged


def _audio_path(item_id: str) -> str:
    return f"audio/{item_id}.wav"


def _write_lines(path: Path, lines: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")


def _set_flags(flags: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in flags.items() if value}


def _annotation_lines(items: list[_Item]) -> Iterable[dict[str, Any]]:
    for entry in items:
        item = entry.item
        for done in entry.annotations:
            yield {
                "review_item_id": item.id,
                "audio_filepath": _audio_path(item.id) if item.audio_blob_key else None,
                "purpose": item.purpose,
                "served": item.served,
                "locale": item.locale,
                "duration_bucket": item.duration_bucket,
                "transcript": done.transcript,
                "intent": done.intent,
                "slots": done.slots,
                "flags": _set_flags(done.flags),
                "reviewer_role": done.role,
                "task_kind": done.kind,
                "policy_version": item.policy_version,
                "model_versions": item.model_versions,
                "submitted_date": done.submitted_at.date().isoformat(),
            }


def _manifest_lines(items: list[_Item]) -> Iterable[dict[str, Any]]:
    """ASR training pairs: only items served the recording, as a synthetic reading of the
    machine's own transcript would teach a recogniser nothing but its own output."""
    for entry in items:
        if entry.item.served != "anonymized_recording":
            continue
        text = consensus_transcript(entry)
        if text is None:
            continue
        yield {
            "audio_filepath": _audio_path(entry.item.id),
            "duration": round(entry.duration_s, 6),
            "text": text,
        }


def consensus_transcript(entry: _Item) -> str | None:
    """The gold answer, else the medoid of the usable transcripts (see the module text)."""
    if entry.gold is not None:
        return entry.gold[0]
    candidates = [
        done.transcript
        for done in entry.annotations
        if done.transcript.strip() and not any(done.flags.get(flag) for flag in NOT_FOR_ASR)
    ]
    if not candidates:
        return None
    return candidates[medoid(candidates)]


def medoid(transcripts: Sequence[str]) -> int:
    """The index of the transcript with the least total WER against all the others
    (each other one as the reference), ties to the earliest."""
    totals = [
        sum(
            transcript_wer(transcripts[ref], transcripts[hyp])
            for ref in range(len(transcripts))
            if ref != hyp
        )
        for hyp in range(len(transcripts))
    ]
    return min(range(len(totals)), key=lambda index: (totals[index], index))


def _write_label_studio(folder: Path, items: list[_Item], policy: WorkbenchPolicy) -> None:
    intents = dict.fromkeys(policy.intents)
    slots = dict.fromkeys(policy.slots)
    flags = dict.fromkeys(STANDARD_FLAGS)
    tasks = []
    for entry in items:
        annotations = []
        for done in entry.annotations:
            intents.update(dict.fromkeys([done.intent] if done.intent else []))
            slots.update(dict.fromkeys(done.slots))
            flags.update(dict.fromkeys(_set_flags(done.flags)))
            annotations.append(
                {
                    "result": _results(done.transcript, done.intent, done.slots, done.flags),
                    "ground_truth": False,
                    "was_cancelled": False,
                }
            )
        if entry.gold is not None:
            text, intent = entry.gold
            intents.update(dict.fromkeys([intent] if intent else []))
            annotations.append(
                {
                    "result": _results(text, intent, {}, {}),
                    "ground_truth": True,
                    "was_cancelled": False,
                }
            )
        tasks.append(
            {
                "data": {
                    "audio": LABEL_STUDIO_AUDIO + _audio_path(entry.item.id),
                    "review_item_id": entry.item.id,
                    "locale": entry.item.locale,
                    "duration_bucket": entry.item.duration_bucket,
                },
                "annotations": annotations,
            }
        )
    (folder / "labelstudio.json").write_text(
        json.dumps(tasks, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    (folder / "labelstudio.xml").write_text(
        _label_config(list(intents), list(slots), list(flags)), encoding="utf-8"
    )


def _results(
    transcript: str, intent: str | None, slots: dict[str, Any], flags: dict[str, Any]
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = [
        _result("transcription", "textarea", {"text": [transcript]}),
    ]
    if intent:
        results.append(_result("intent", "choices", {"choices": [intent]}))
    set_flags = list(_set_flags(flags))
    if set_flags:
        results.append(_result("flags", "choices", {"choices": set_flags}))
    for name, value in slots.items():
        if value not in (None, ""):
            results.append(_result(f"slot_{name}", "textarea", {"text": [str(value)]}))
    return results


def _result(name: str, kind: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": name,
        "from_name": name,
        "to_name": "audio",
        "type": kind,
        "origin": "manual",
        "value": value,
    }


def _label_config(intents: list[str], slots: list[str], flags: list[str]) -> str:
    """The labeling interface the exported results fit: every intent, slot and flag used."""
    lines = [
        "<View>",
        '  <Audio name="audio" value="$audio" zoom="true"/>',
        '  <Header value="Transcription"/>',
        '  <TextArea name="transcription" toName="audio" rows="3" editable="true" '
        'maxSubmissions="1"/>',
        '  <Header value="Intent"/>',
        '  <Choices name="intent" toName="audio" choice="single" showInline="true">',
        *(f"    <Choice value={quoteattr(intent)}/>" for intent in intents),
        "  </Choices>",
        '  <Header value="Flags"/>',
        '  <Choices name="flags" toName="audio" choice="multiple" showInline="true">',
        *(f"    <Choice value={quoteattr(flag)}/>" for flag in flags),
        "  </Choices>",
    ]
    for slot in slots:
        lines.append(f"  <Header value={quoteattr('Slot: ' + slot)}/>")
        lines.append(
            f'  <TextArea name={quoteattr("slot_" + slot)} toName="audio" rows="1" '
            'editable="true" maxSubmissions="1"/>'
        )
    lines.append("</View>")
    return "\n".join(lines) + "\n"
