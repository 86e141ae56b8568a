"""Export: finished annotations with anonymized audio, in three formats, naming nobody."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from sqlalchemy import select
from typer.testing import CliRunner

from earmuff.cli.main import app
from earmuff.config.policy import WorkbenchPolicy
from earmuff.review import export as export_module
from earmuff.review.escalation import open_case
from earmuff.review.export import (
    ExportError,
    export_annotations,
    medoid,
    parse_formats,
)
from earmuff.store import Store
from earmuff.store.models import AuditEvent, GoldAnswer, ReviewItem, ReviewTask, StaffUser
from earmuff.store.review_items import GOLD_TEXT, read_review_audio, seal_item_text
from tests.review.conftest import (
    RATE,
    Household,
    annotate,
    household_recording,
    make_item,
    make_staff,
)

ALL = ("jsonl", "nemo", "labelstudio")


@dataclass
class Corpus:
    """Items in every state an export must tell apart."""

    overlap: str
    single: str
    gold: str
    unintelligible: str
    withheld: dict[str, str]
    staff: list[StaffUser]
    household: Household


def _corpus(store: Store, now: datetime) -> Corpus:
    household = household_recording(store)
    ids = {
        name: make_item(store, seconds=seconds, seed=seed, recording_id=household.recording_id)
        for seed, (name, seconds) in enumerate(
            [
                ("overlap", 2.5),
                ("single", 1.7),
                ("gold", 6.2),
                ("unintelligible", 3.0),
                ("pulled", 3.0),
                ("pii_leak", 3.0),
                ("escalated", 3.0),
                ("flagged_sensitive", 3.0),
                ("unfinished", 3.0),
                ("skipped_only", 3.0),
                ("expired", 3.0),
            ]
        )
    }
    earlier = now - timedelta(days=2)
    with store.db.transaction() as session:
        ann = make_staff(session, "ann.lee")
        bob = make_staff(session, "bob.okafor")
        qa = make_staff(session, "qa.cruz", role="qa_reviewer")
        for slot, (who, text) in enumerate(
            [
                (ann, "set a timer for ten minutes"),
                (bob, "set the timer for ten minute"),
                (qa, "set a timer for ten minutes please"),
            ]
        ):
            at = earlier + timedelta(minutes=slot)
            annotate(store, session, ids["overlap"], who, text, slot=slot, kind="overlap", at=at)
        annotate(
            store,
            session,
            ids["single"],
            ann,
            "play [PERSON] by the beatles",
            intent="play_music",
            slots={"artist": "the beatles"},
            flags={"no_wake_word": True},
            at=earlier,
        )
        annotate(
            store, session, ids["gold"], bob, "whats the weather", intent="weather", kind="gold"
        )
        gold_item = session.get(ReviewItem, ids["gold"])
        assert gold_item is not None
        session.add(
            GoldAnswer(
                review_item_id=ids["gold"],
                transcript_sealed=seal_item_text(
                    store.keyring, gold_item, GOLD_TEXT, "what's the weather like"
                ),
                intent="weather",
                created_by_id=qa.id,
            )
        )
        annotate(store, session, ids["unintelligible"], ann, "", flags={"unintelligible": True})
        annotate(store, session, ids["pulled"], ann, "call [PERSON]")
        pulled = session.get(ReviewItem, ids["pulled"])
        assert pulled is not None
        pulled.status = "pulled"
        annotate(store, session, ids["pii_leak"], ann, "call mom", flags={"pii_leak": True})
        annotate(store, session, ids["escalated"], ann, "help me")
        open_case(session, ids["escalated"], "someone_in_danger", None, ann, WorkbenchPolicy(), now)
        annotate(
            store,
            session,
            ids["flagged_sensitive"],
            ann,
            "my diagnosis",
            flags={"sensitive": "health"},
        )
        annotate(store, session, ids["unfinished"], ann, "turn on the lights", slot=0)
        session.add(
            ReviewTask(review_item_id=ids["unfinished"], slot=1, locale="en-US", status="queued")
        )
        annotate(store, session, ids["skipped_only"], ann, "", outcome="skipped")
        annotate(store, session, ids["expired"], ann, "old news")
        expired = session.get(ReviewItem, ids["expired"])
        assert expired is not None
        expired.expires_at = now - timedelta(hours=1)
        staff = [ann, bob, qa]
    withheld = {
        name: item_id
        for name, item_id in ids.items()
        if name not in ("overlap", "single", "gold", "unintelligible")
    }
    return Corpus(
        ids["overlap"],
        ids["single"],
        ids["gold"],
        ids["unintelligible"],
        withheld,
        staff,
        household,
    )


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    """A folder for exports alone (the workspace lives beside it)."""
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_finished_annotations_go_out_in_all_three_formats(
    store: Store, now: datetime, exports: Path
) -> None:
    corpus = _corpus(store, now)
    out = exports / "export"
    summary = export_annotations(store, out, ALL, "test", now)

    finished = {corpus.overlap, corpus.single, corpus.gold, corpus.unintelligible}
    assert (summary.items, summary.annotations, summary.manifest_lines) == (4, 6, 3)
    assert sorted(p.name for p in out.iterdir()) == [
        "annotations.jsonl",
        "audio",
        "labelstudio.json",
        "labelstudio.xml",
        "manifest.jsonl",
    ]
    assert {p.stem for p in (out / "audio").iterdir()} == finished
    for path in out.rglob("*.json*"):
        text = path.read_text(encoding="utf-8")
        for name, item_id in corpus.withheld.items():
            assert item_id not in text, f"{name} item found in {path.name}"

    with store.db.read() as session:
        for item_id in finished:
            item = session.get(ReviewItem, item_id)
            assert item is not None
            anonymized = read_review_audio(store.keyring, store.blobs, item)
            assert (out / "audio" / f"{item_id}.wav").read_bytes() == anonymized

    annotations = _lines(out / "annotations.jsonl")
    assert {line["review_item_id"] for line in annotations} == finished
    [single] = [line for line in annotations if line["review_item_id"] == corpus.single]
    assert single == {
        "review_item_id": corpus.single,
        "audio_filepath": f"audio/{corpus.single}.wav",
        "purpose": "transcription",
        "served": "anonymized_recording",
        "locale": "en-US",
        "duration_bucket": "<2s",
        "transcript": "play [PERSON] by the beatles",
        "intent": "play_music",
        "slots": {"artist": "the beatles"},
        "flags": {"no_wake_word": True},
        "reviewer_role": "annotator",
        "task_kind": "single",
        "policy_version": "test-policy-7",
        "model_versions": {"asr": "whisper-base", "pii": "presidio-2.2"},
        "submitted_date": (now - timedelta(days=2)).date().isoformat(),
    }
    roles = sorted(
        line["reviewer_role"] for line in annotations if line["review_item_id"] == corpus.overlap
    )
    assert roles == ["annotator", "annotator", "qa_reviewer"]

    manifest = {line["audio_filepath"]: line for line in _lines(out / "manifest.jsonl")}
    assert set(manifest) == {f"audio/{i}.wav" for i in (corpus.overlap, corpus.single, corpus.gold)}
    assert manifest[f"audio/{corpus.overlap}.wav"]["text"] == "set a timer for ten minutes"
    assert manifest[f"audio/{corpus.gold}.wav"]["text"] == "what's the weather like"
    for line in manifest.values():
        info = sf.info(io.BytesIO((out / line["audio_filepath"]).read_bytes()))
        assert line["duration"] == pytest.approx(info.frames / info.samplerate, abs=1e-6)
        assert set(line) == {"audio_filepath", "duration", "text"}
    assert manifest[f"audio/{corpus.gold}.wav"]["duration"] == pytest.approx(6.2, abs=1 / RATE)


def test_the_label_studio_file_is_an_import_that_fits_its_labeling_config(
    store: Store, now: datetime, exports: Path
) -> None:
    corpus = _corpus(store, now)
    out = exports / "ls"
    export_annotations(store, out, ["labelstudio"], "test", now)
    assert not (out / "annotations.jsonl").exists() and not (out / "manifest.jsonl").exists()

    tasks = json.loads((out / "labelstudio.json").read_text(encoding="utf-8"))
    config = ET.fromstring((out / "labelstudio.xml").read_text(encoding="utf-8"))
    controls = {node.get("name"): node for node in config if node.get("toName") == "audio"}
    [audio] = [node for node in config if node.tag == "Audio"]
    assert audio.get("name") == "audio" and audio.get("value") == "$audio"

    by_item = {task["data"]["review_item_id"]: task for task in tasks}
    assert set(by_item) == {corpus.overlap, corpus.single, corpus.gold, corpus.unintelligible}
    for task in tasks:
        assert (
            task["data"]["audio"]
            == f"/data/local-files/?d=audio/{task['data']['review_item_id']}.wav"
        )
        assert (out / "audio" / f"{task['data']['review_item_id']}.wav").is_file()
        for annotation in task["annotations"]:
            for result in annotation["result"]:
                control = controls[result["from_name"]]
                assert result["to_name"] == "audio"
                assert result["type"] == control.tag.lower()
                if result["type"] == "choices":
                    allowed = {choice.get("value") for choice in control}
                    assert set(result["value"]["choices"]) <= allowed
                else:
                    assert isinstance(result["value"]["text"], list)

    single = by_item[corpus.single]["annotations"]
    assert len(single) == 1 and single[0]["ground_truth"] is False
    results = {result["from_name"]: result["value"] for result in single[0]["result"]}
    assert results == {
        "transcription": {"text": ["play [PERSON] by the beatles"]},
        "intent": {"choices": ["play_music"]},
        "flags": {"choices": ["no_wake_word"]},
        "slot_artist": {"text": ["the beatles"]},
    }
    gold = by_item[corpus.gold]["annotations"]
    assert [a["ground_truth"] for a in gold] == [False, True]
    assert gold[1]["result"][0]["value"] == {"text": ["what's the weather like"]}
    assert len(by_item[corpus.overlap]["annotations"]) == 3
    for task in tasks:
        for annotation in task["annotations"]:
            assert "completed_by" not in annotation


def test_nothing_identifying_leaves(store: Store, now: datetime, exports: Path) -> None:
    corpus = _corpus(store, now)
    out = exports / "export"
    export_annotations(store, out, ALL, "test", now)
    secrets = corpus.household.identifiers()
    for user in corpus.staff:
        secrets += [user.id, user.username]
    files = [path for path in out.rglob("*") if path.is_file()]
    assert len(files) == 4 + 4
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret} found in {path.name}"
            assert secret.lower().encode() not in data.lower(), f"{secret} found in {path.name}"


def test_the_export_is_audited(store: Store, now: datetime, exports: Path) -> None:
    _corpus(store, now)
    out = exports / "export"
    export_annotations(store, out, ["jsonl", "nemo"], "staff:someone", now)
    with store.db.read() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "export.written"))
    assert event is not None and event.actor == "staff:someone"
    assert event.details == {
        "out_dir": str(out),
        "formats": ["jsonl", "nemo"],
        "items": 4,
        "annotations": 6,
    }


def test_an_export_refuses_a_folder_with_something_in_it(
    store: Store, now: datetime, exports: Path
) -> None:
    _corpus(store, now)
    out = exports / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not an empty folder"):
        export_annotations(store, out, ALL, "test", now)
    assert sorted(p.name for p in exports.iterdir()) == ["busy"]
    empty = exports / "empty"
    empty.mkdir()
    assert export_annotations(store, empty, ["jsonl"], "test", now).items == 4


def test_a_failure_half_way_leaves_no_folder_and_no_audit(
    store: Store, now: datetime, exports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _corpus(store, now)
    calls = 0
    real = export_module.read_review_audio

    def flaky(*args: Any) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError("blob store went away")
        return real(*args)

    monkeypatch.setattr(export_module, "read_review_audio", flaky)
    with pytest.raises(OSError, match="went away"):
        export_annotations(store, exports / "export", ALL, "test", now)
    assert list(exports.iterdir()) == []
    with store.db.read() as session:
        assert (
            session.scalar(select(AuditEvent).where(AuditEvent.action == "export.written")) is None
        )


def test_an_empty_workbench_exports_empty_files(store: Store, now: datetime, exports: Path) -> None:
    summary = export_annotations(store, exports / "export", ALL, "test", now)
    assert (summary.items, summary.annotations) == (0, 0)
    assert (exports / "export" / "annotations.jsonl").read_text() == ""
    assert json.loads((exports / "export" / "labelstudio.json").read_text()) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jsonl", ("jsonl",)),
        (" NeMo , jsonl,nemo ", ("nemo", "jsonl")),
        (["labelstudio"], ("labelstudio",)),
    ],
)
def test_formats_are_parsed_from_a_comma_list(
    text: str | list[str], expected: tuple[str, ...]
) -> None:
    assert parse_formats(text) == expected


@pytest.mark.parametrize(
    ("text", "message"), [("csv", "unknown format csv"), (" , ", "at least one")]
)
def test_unknown_formats_are_named(text: str, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        parse_formats(text)


def test_the_consensus_is_the_transcript_closest_to_all_the_others() -> None:
    transcripts = [
        "sat a time or ten",
        "set a timer for ten minutes",
        "set the timer for ten minute",
        "set a timer for ten minutes please",
    ]
    assert medoid(transcripts) == 1
    assert medoid(["same words", "same words"]) == 0
    assert medoid(["only one"]) == 0
    assert medoid(["Set a timer for 10 minutes.", "set a timer for ten minutes"]) == 0


class TestCommand:
    runner = CliRunner()

    def _invoke(self, store: Store, *args: str) -> Any:
        env = {"EARMUFF_DATABASE_URL": store.settings.database_url}
        workspace = str(store.settings.workspace)
        return self.runner.invoke(app, ["export", *args, "--workspace", workspace], env=env)

    def test_earmuff_export_writes_the_chosen_formats(
        self, store: Store, now: datetime, exports: Path
    ) -> None:
        _corpus(store, now)
        out = exports / "out"
        result = self._invoke(store, "--out", str(out), "--format", "jsonl,nemo")
        assert result.exit_code == 0, result.output
        assert "exported 6 annotation(s) of 4 item(s) (jsonl, nemo)" in result.output
        assert "1 item(s) left out of the manifest" in result.output
        assert sorted(p.name for p in out.iterdir()) == [
            "annotations.jsonl",
            "audio",
            "manifest.jsonl",
        ]

    def test_earmuff_export_refuses_bad_input_with_a_message(
        self, store: Store, now: datetime, exports: Path
    ) -> None:
        result = self._invoke(store, "--out", str(exports / "out"), "--format", "csv")
        assert result.exit_code == 2 and "unknown format csv" in result.output
        (exports / "full").mkdir()
        (exports / "full" / "x").write_text("x")
        result = self._invoke(store, "--out", str(exports / "full"))
        assert result.exit_code == 1 and "not an empty folder" in result.output
        assert not (exports / "out").exists()


@pytest.mark.parametrize("served", ["synthetic_voice", "no_audio"])
def test_an_intent_item_exports_its_labels_but_never_trains_asr_on_a_reading(
    store: Store, now: datetime, exports: Path, served: str
) -> None:
    """What an intent task served is said beside its labels; the NeMo manifest, ASR
    training pairs, keeps to items that served the recording."""
    item_id = make_item(store, seconds=2.0)
    with store.db.transaction() as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None
        item.purpose, item.served = "intent", served
        if served == "no_audio":
            assert item.audio_blob_key is not None
            store.blobs.delete(item.audio_blob_key)
            item.audio_blob_key = None
        annotate(store, session, item_id, make_staff(session, "ann.lee"), "set a timer")
    export_annotations(store, exports / "export", ALL, "test", now)
    (line,) = _lines(exports / "export" / "annotations.jsonl")
    assert (line["purpose"], line["served"], line["intent"]) == ("intent", served, "set_timer")
    assert (line["audio_filepath"] is None) == (served == "no_audio")
    assert (exports / "export" / "audio" / f"{item_id}.wav").exists() == (served != "no_audio")
    assert _lines(exports / "export" / "manifest.jsonl") == []
