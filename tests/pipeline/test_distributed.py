"""The distributed engine, against real Redis and RabbitMQ brokers and real worker processes.

Workers run as separate processes (``earmuff worker``, or tests/pipeline/ledger_worker.py,
which runs the same task and the same stages with a ledger of what ran where), so a
test can kill one for real. Each test has its own queue (on Redis, its own key prefix).
The pipeline's heavy model is swapped for a real smaller one (Whisper tiny.en) by the
workspace's policy file, which also samples every recording.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kombu
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from earmuff.cli.main import app
from earmuff.cli.samples import join_recordings
from earmuff.config import Settings
from earmuff.pipeline.distributed import BrokerPipeline, celery_app
from earmuff.store import Store
from earmuff.store.claims import claims_for
from earmuff.store.models import RecordingStage
from earmuff.store.vault import items_of_recordings
from earmuff.web import create_app
from tests.audio_samples import wav
from tests.conftest import missing
from tests.pipeline.conftest import Household
from tests.web.conftest import upload

BROKER_URLS = {
    "redis": os.environ.get("EARMUFF_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "rabbitmq": os.environ.get("EARMUFF_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//"),
}
UNREACHABLE = {"redis": "redis://127.0.0.1:1/0", "rabbitmq": "amqp://guest:guest@127.0.0.1:1//"}
ROOT = Path(__file__).parents[2]
EARMUFF = Path(sys.executable).with_name("earmuff")
STAGES = ["wake", "sample", "transcribe", "pii", "anonymize", "screen", "review_item"]
"""What a worker runs: the upload itself decided consent as it stored the recording."""
ALL_DONE = dict.fromkeys(["ingest", "consent", *STAGES], "done")
POLICY = """
[review]
sampling_rate = 1.0

[asr]
model = "tiny.en"
"""


@dataclass(frozen=True)
class Broker:
    name: str
    url: str
    queue: str


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    name: str = request.param
    connection = kombu.Connection(BROKER_URLS[name], connect_timeout=3)
    try:
        connection.ensure_connection(max_retries=1)
    except Exception as exc:
        missing(f"{name} at {connection.as_uri()} ({type(exc).__name__})")
    finally:
        connection.release()
    found = Broker(name, BROKER_URLS[name], f"earmuff-test-{uuid.uuid4().hex[:12]}")
    yield found
    _forget_queue(found)


def _forget_queue(broker: Broker) -> None:
    if broker.name == "redis":
        client = redis.Redis.from_url(broker.url)
        keys = list(client.scan_iter(f"{broker.queue}:*"))
        if keys:
            client.delete(*keys)
        client.close()
        return
    with kombu.Connection(broker.url) as connection:
        channel: Any = connection.channel()
        channel.queue_delete(broker.queue)
        channel.exchange_delete(broker.queue)
        channel.close()


def configure(store: Store, broker: Broker, **extra: str) -> dict[str, str]:
    """Point ``store`` and the worker processes' environment at one workspace and queue."""
    workspace = store.settings.workspace
    (workspace / "policy.toml").write_text(POLICY)
    env = {
        "EARMUFF_WORKSPACE": str(workspace),
        "EARMUFF_DATABASE_URL": store.settings.database_url,
        "EARMUFF_BROKER_URL": broker.url,
        "EARMUFF_PIPELINE_QUEUE": broker.queue,
        **extra,
    }
    store.settings = Settings.for_workspace(workspace, env=env)
    return env


@contextmanager
def worker_process(command: list[str], env: dict[str, str], log: Path) -> Iterator[int]:
    """A worker in its own process group; on exit a warm shutdown, then nothing left."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EARMUFF_")}
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            env={**clean, **env},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process.pid
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def ledger_worker(
    env: dict[str, str], tmp_path: Path, name: str, concurrency: int = 1
) -> AbstractContextManager[int]:
    command = [
        sys.executable,
        "-m",
        "tests.pipeline.ledger_worker",
        str(tmp_path / "ledger"),
        str(tmp_path / "hold"),
        str(concurrency),
    ]
    return worker_process(command, env, tmp_path / f"{name}.log")


def eventually(check: Callable[[], bool], what: str, logs: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-4000:]}" for log in logs.glob("*.log"))
    pytest.fail(f"timed out waiting for {what}\n{tails}")


@dataclass(frozen=True)
class Entry:
    event: str
    stage: str
    recording_id: str
    pid: int


def ledger(tmp_path: Path) -> list[Entry]:
    path = tmp_path / "ledger"
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        event, stage, recording_id, pid = line.split()
        entries.append(Entry(event, stage, recording_id, int(pid)))
    return entries


def events(tmp_path: Path, event: str) -> list[Entry]:
    return [entry for entry in ledger(tmp_path) if entry.event == event]


def hold(tmp_path: Path, stage: str) -> Path:
    gate = tmp_path / "hold" / stage
    gate.parent.mkdir(exist_ok=True)
    gate.touch()
    return gate


def spoken_request(corpus: Path) -> bytes:
    """A wake word, then a phone number: the whole pipeline has work to do on it."""
    return join_recordings(corpus / "alexa/0.flac", corpus / "phone/phone_george_04_8495931.wav")


def queued(store: Store, queue: str) -> list[object]:
    """Take every message off ``queue``: the arguments of each task, in order."""
    taken = []
    with celery_app(store.settings).connection_for_read() as connection:
        channel: Any = connection.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            body = message.body if isinstance(message.body, bytes) else message.body.encode()
            taken.append(json.loads(body)[0])
    return taken


def outcomes(store: Store, recording_id: str) -> dict[str, str]:
    with store.db.read() as session:
        rows = session.scalars(
            select(RecordingStage).where(RecordingStage.recording_id == recording_id)
        )
        return {row.stage: row.status for row in rows}


def review_item_of(store: Store, recording_id: str) -> str | None:
    with store.db.read() as session:
        items = items_of_recordings(session, store.keyring, [recording_id]).get(recording_id)
    return items[0] if items else None


def test_a_recording_uploaded_through_the_api_reaches_its_review_item_on_a_worker(
    store: Store, broker: Broker, household: Household, corpus: Path, tmp_path: Path
) -> None:
    env = configure(store, broker)
    household.consent("granted")
    command = [str(EARMUFF), "worker", "--workspace", str(store.settings.workspace)]
    with (
        worker_process(command, env, tmp_path / "worker.log"),
        TestClient(create_app(store=store, pipeline=BrokerPipeline(store))) as client,
    ):
        response = upload(client, household.token, household.metadata(), spoken_request(corpus))
        assert response.status_code == 201
        recording_id = response.json()["recording_id"]
        eventually(
            lambda: review_item_of(store, recording_id) is not None,
            "the review item",
            tmp_path,
        )
    assert outcomes(store, recording_id) == ALL_DONE


def test_only_the_recording_id_crosses_the_broker(
    store: Store, broker: Broker, household: Household
) -> None:
    configure(store, broker)
    household.consent("granted")
    recording_id = household.upload(audio=wav(1.0, seed=7))
    BrokerPipeline(store).submit(recording_id)
    celery = celery_app(store.settings)
    with celery.connection_for_read() as connection:
        channel: Any = connection.default_channel
        message = channel.basic_get(broker.queue, no_ack=True)
        assert message is not None, "the recording was enqueued"
        assert channel.basic_get(broker.queue, no_ack=True) is None, "exactly once"
    assert message.content_type == "application/json"
    body = message.body if isinstance(message.body, bytes) else message.body.encode()
    args, kwargs, embed = json.loads(body)
    assert args == [recording_id]
    assert kwargs == {}
    assert set(embed.values()) == {None}
    assert message.headers["task"] == "earmuff.pipeline.run_recording"
    everything = body + json.dumps([message.headers, message.properties]).encode()
    for secret in ("ACC-1", "SN-1", "Jane", household.token, household.account_id):
        assert secret.encode() not in everything
    assert len(body) < 200, "no audio, no transcript"


def test_a_recording_stored_while_the_broker_is_down_is_enqueued_when_the_server_next_starts(
    store: Store, broker: Broker, household: Household, caplog: pytest.LogCaptureFixture
) -> None:
    configure(store, broker)
    household.consent("granted")
    reachable = store.settings
    store.settings = dataclasses.replace(reachable, broker_url=UNREACHABLE[broker.name])
    with TestClient(create_app(store=store, pipeline=BrokerPipeline(store))) as client:
        response = upload(client, household.token, household.metadata(), wav(0.5, seed=1))
    assert response.status_code == 201, "the upload is stored whatever the broker's state"
    recording_id = response.json()["recording_id"]
    assert f"recording {recording_id} is stored but the broker is unreachable" in caplog.text
    store.settings = reachable
    restarted = BrokerPipeline(store)
    restarted.start()
    restarted.stop()
    assert queued(store, broker.queue) == [[recording_id]]


def test_a_duplicate_delivery_runs_no_stage_twice(
    store: Store, broker: Broker, household: Household, corpus: Path, tmp_path: Path
) -> None:
    env = configure(store, broker)
    household.consent("granted")
    recording_id = household.upload(audio=spoken_request(corpus))
    gate = hold(tmp_path, "wake")
    engine = BrokerPipeline(store)
    with ledger_worker(env, tmp_path, "worker", concurrency=2):
        engine.submit(recording_id)
        eventually(lambda: bool(events(tmp_path, "start")), "a worker to start", tmp_path)
        engine.submit(recording_id)
        eventually(lambda: bool(events(tmp_path, "busy")), "the duplicate to be refused", tmp_path)
        gate.unlink()
        eventually(
            lambda: len(events(tmp_path, "finished")) >= 2,
            "both deliveries to finish",
            tmp_path,
        )
    engine.stop()
    entries = ledger(tmp_path)
    assert Counter(e.stage for e in entries if e.event == "start") == Counter(STAGES)
    assert Counter(e.stage for e in entries if e.event == "done") == Counter(STAGES)
    assert events(tmp_path, "busy")[0].pid != events(tmp_path, "start")[0].pid
    builds = Counter(e.pid for e in events(tmp_path, "build"))
    deliveries = [e for e in entries if e.event in ("busy", "finished")]
    assert set(builds.values()) == {1}, "models load once per worker process"
    assert len(deliveries) > len(builds), "a process took a second delivery without reloading"
    assert outcomes(store, recording_id) == ALL_DONE
    assert review_item_of(store, recording_id) is not None


@pytest.mark.parametrize("victim", ["pool process", "whole worker"])
def test_a_worker_killed_mid_recording_leaves_it_to_another_which_resumes_it(
    store: Store,
    broker: Broker,
    household: Household,
    corpus: Path,
    tmp_path: Path,
    victim: str,
) -> None:
    env = configure(store, broker, EARMUFF_BROKER_VISIBILITY_TIMEOUT_S="2")
    household.consent("granted")
    recording_id = household.upload(audio=spoken_request(corpus))
    gate = hold(tmp_path, "pii")
    engine = BrokerPipeline(store)
    with ledger_worker(env, tmp_path, "a") as first:
        engine.submit(recording_id)
        eventually(
            lambda: any(e.stage == "pii" for e in events(tmp_path, "start")),
            "the first worker to reach the PII stage",
            tmp_path,
        )
        killed = events(tmp_path, "start")[-1].pid
        if victim == "pool process":
            os.kill(killed, signal.SIGKILL)
            finish_elsewhere: AbstractContextManager[object] = nullcontext()
        else:
            os.killpg(first, signal.SIGKILL)
            finish_elsewhere = ledger_worker(env, tmp_path, "b")
        gate.unlink()
        with finish_elsewhere:
            eventually(
                lambda: bool(events(tmp_path, "finished")),
                "another worker process to finish the recording",
                tmp_path,
            )
    engine.stop()
    entries = ledger(tmp_path)
    starts = Counter(e.stage for e in entries if e.event == "start")
    assert starts == Counter(STAGES) + Counter(["pii"]), "only the interrupted stage ran again"
    assert Counter(e.stage for e in entries if e.event == "done") == Counter(STAGES)
    assert {e.pid for e in entries if e.event == "done" and e.stage == "pii"} != {killed}
    assert all(e.pid == killed for e in entries if e.event == "done" and e.stage == "transcribe")
    assert outcomes(store, recording_id) == ALL_DONE
    assert review_item_of(store, recording_id) is not None


def test_pipeline_run_beside_the_workers_leaves_alone_a_recording_one_of_them_holds(
    store: Store, household: Household, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = store.settings.workspace
    (workspace / "policy.toml").write_text(POLICY)
    monkeypatch.setenv("EARMUFF_DATABASE_URL", store.settings.database_url)
    monkeypatch.setenv("EARMUFF_BROKER_URL", BROKER_URLS["redis"])
    household.consent("granted")
    held, free = household.upload(), household.upload()
    with claims_for(store.db).hold(f"recording:{held}"):
        result = CliRunner().invoke(app, ["pipeline", "run", "--workspace", str(workspace)])
    assert result.exit_code == 0, result.output
    assert f"{held}  busy: another worker is processing it" in result.output
    assert f"{free}  consent: consented, wake: " in result.output
    assert outcomes(store, held) == {"ingest": "done", "consent": "done"}


def test_a_worker_needs_a_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EARMUFF_BROKER_URL", raising=False)
    result = CliRunner().invoke(app, ["worker", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 1
    assert "set EARMUFF_BROKER_URL" in result.output
