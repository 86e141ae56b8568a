"""Runs stages in order over a recording, recording each outcome so a crash resumes.

A stage whose outcome is recorded is never run again for that recording: ``done``
moves on to the next stage, ``stopped`` ends the recording's journey (no consent, not
sampled, a false wake). ``failed`` is recorded with the error's type and is retried on
the next run. A run first claims its recording, so two workers handed the same recording
at once never both run a stage.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.pipeline.stage import Outcome, RecordingFacts, Stage, Work
from earmuff.store import Store
from earmuff.store.claims import ClaimHeld, claims_for
from earmuff.store.models import Recording, RecordingStage, utcnow

log = logging.getLogger(__name__)

DONE, STOPPED, FAILED = "done", "stopped", "failed"


class RecordingBusy(Exception):
    """Another worker is taking this recording through the pipeline right now."""

    def __init__(self, recording_id: str) -> None:
        super().__init__(f"recording {recording_id} is being processed by another worker")
        self.recording_id = recording_id


@dataclass(frozen=True)
class StageReport:
    stage: str
    status: str
    decision: str
    detail: dict[str, object]


class PipelineRunner:
    def __init__(self, store: Store, stages: Sequence[Stage]) -> None:
        self.store = store
        self.stages = list(stages)
        names = [stage.name for stage in self.stages]
        if len(set(names)) != len(names) or "ingest" in names:
            raise ValueError(f"stage names must be unique and not 'ingest': {names}")
        self._claims = claims_for(store.db)

    def run(self, recording_id: str) -> list[StageReport]:
        """Take one recording as far as it goes; return every stage's recorded outcome.

        Raises ``RecordingBusy`` if another worker holds the recording: its outcomes are
        read only once the claim is ours, so a run never repeats what the holder did.
        """
        try:
            with self._claims.hold(f"recording:{recording_id}"):
                return self._run(recording_id)
        except ClaimHeld:
            raise RecordingBusy(recording_id) from None

    def _run(self, recording_id: str) -> list[StageReport]:
        with self.store.db.read() as session:
            recording = session.get(Recording, recording_id)
            if recording is None:
                raise KeyError(recording_id)
            facts = RecordingFacts.of(recording)
            recorded = _recorded(session, recording_id)
        work = Work(self.store, facts)
        reports: list[StageReport] = []
        for stage in self.stages:
            previous = recorded.get(stage.name)
            if previous is not None and previous.status in (DONE, STOPPED):
                reports.append(previous)
                if previous.status == STOPPED:
                    break
                continue
            try:
                outcome = stage.run(work)
            except Exception as exc:
                log.exception("stage %s failed on recording %s", stage.name, recording_id)
                report = StageReport(stage.name, FAILED, "error", {"error": type(exc).__name__})
                self._record(recording_id, report)
                reports.append(report)
                break
            report = _report(stage.name, outcome)
            self._record(recording_id, report)
            reports.append(report)
            if not outcome.proceed:
                break
        return reports

    def pending(self) -> Iterator[str]:
        """Recordings some stage has not yet finished with, oldest first."""
        yield from unfinished(self.store, self.stages[-1].name if self.stages else "ingest")

    def run_pending(self) -> dict[str, list[StageReport]]:
        """Run every unfinished recording but those another worker holds right now."""
        reports: dict[str, list[StageReport]] = {}
        for recording_id in self.pending():
            try:
                reports[recording_id] = self.run(recording_id)
            except RecordingBusy:
                continue
        return reports

    def _record(self, recording_id: str, report: StageReport) -> None:
        detail = {"decision": report.decision, **report.detail}
        with self.store.db.transaction() as session:
            row = session.get(RecordingStage, (recording_id, report.stage))
            if row is None:
                session.add(
                    RecordingStage(
                        recording_id=recording_id,
                        stage=report.stage,
                        status=report.status,
                        detail=detail,
                    )
                )
            else:
                row.status, row.detail, row.updated_at = report.status, detail, utcnow()


def unfinished(store: Store, last_stage: str) -> list[str]:
    """Recordings neither stopped nor through ``last_stage``, oldest first."""
    finished = select(RecordingStage.recording_id).where(
        ((RecordingStage.stage == last_stage) & (RecordingStage.status == DONE))
        | (RecordingStage.status == STOPPED)
    )
    with store.db.read() as session:
        return list(
            session.scalars(
                select(Recording.id)
                .where(Recording.blob_key.is_not(None), Recording.id.not_in(finished))
                .order_by(Recording.received_at)
            )
        )


def _report(stage: str, outcome: Outcome) -> StageReport:
    return StageReport(
        stage, DONE if outcome.proceed else STOPPED, outcome.decision, outcome.detail
    )


def _recorded(session: Session, recording_id: str) -> dict[str, StageReport]:
    rows = session.scalars(
        select(RecordingStage).where(RecordingStage.recording_id == recording_id)
    )
    return {
        row.stage: StageReport(
            row.stage,
            row.status,
            str(row.detail.get("decision", "")),
            {k: v for k, v in row.detail.items() if k != "decision"},
        )
        for row in rows
    }
