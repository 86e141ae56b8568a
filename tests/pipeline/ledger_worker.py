"""A real pipeline worker whose stages write down every start and finish in a ledger.

Run as ``python -m tests.pipeline.ledger_worker LEDGER HOLD_DIR CONCURRENCY`` with the
workspace and broker in the environment. It runs the configured pipeline's real stages through the
real Celery task; each stage is wrapped to append ``start``/``done`` lines (with the
process id) to LEDGER, and waits before running while a file named after it exists in
HOLD_DIR, so a test can catch a worker mid-recording. The runner notes each delivery's
end (``finished`` or ``busy``) and each build of its models (``build``), which lets the
tests count what ran, where, and how often, across processes.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from earmuff.config import Settings
from earmuff.pipeline.build import build_runner
from earmuff.pipeline.distributed import run_worker, worker_app
from earmuff.pipeline.runner import PipelineRunner, RecordingBusy, StageReport
from earmuff.pipeline.stage import Outcome, Stage, Work
from earmuff.store import Store


@dataclass(frozen=True)
class Ledger:
    path: Path

    def note(self, event: str, stage: str, recording_id: str) -> None:
        line = f"{event} {stage} {recording_id} {os.getpid()}\n".encode()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)


class LedgeredStage:
    def __init__(self, stage: Stage, ledger: Ledger, hold: Path) -> None:
        self.name = stage.name
        self._stage, self._ledger, self._hold = stage, ledger, hold

    def run(self, work: Work) -> Outcome:
        self._ledger.note("start", self.name, work.facts.id)
        while (self._hold / self.name).exists():
            time.sleep(0.05)
        outcome = self._stage.run(work)
        self._ledger.note("done", self.name, work.facts.id)
        return outcome


class LedgeredRunner(PipelineRunner):
    def __init__(self, store: Store, ledger: Ledger, hold: Path) -> None:
        self._ledger = ledger
        ledger.note("build", "-", "-")
        real = build_runner(store).stages
        super().__init__(store, [LedgeredStage(stage, ledger, hold) for stage in real])

    def run(self, recording_id: str) -> list[StageReport]:
        try:
            reports = super().run(recording_id)
        except RecordingBusy:
            self._ledger.note("busy", "-", recording_id)
            raise
        self._ledger.note("finished", "-", recording_id)
        return reports


def main(ledger_path: str, hold_dir: str, concurrency: str) -> int:
    ledger, hold = Ledger(Path(ledger_path)), Path(hold_dir)
    app = worker_app(
        Settings.for_workspace(),
        make_runner=lambda store: LedgeredRunner(store, ledger, hold),
        busy_retry_s=0.5,
    )
    return run_worker(app, concurrency=int(concurrency))


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
