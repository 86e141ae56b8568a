"""Simultaneous uploads: retries racing each other still store exactly one recording."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from earmuff.pipeline.ingest import IngestError, Ingestor
from earmuff.store import Store
from earmuff.store.models import Recording
from tests.audio_samples import wav
from tests.web.conftest import RegisteredDevice


def ingestor(store: Store) -> Ingestor:
    return Ingestor(store.settings, store.db, store.blobs, store.keyring)


def test_racing_retries_with_one_idempotency_key_store_one_recording(
    store: Store, device: RegisteredDevice
) -> None:
    service = ingestor(store)
    metadata = json.dumps(device.metadata()).encode()
    audio = wav(2.0)

    def send(_: int) -> tuple[int, str]:
        uploader = service.authenticate(device.token, idempotency_key="race")
        result = service.ingest(uploader, metadata, audio)
        return result.status_code, result.body["recording_id"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, range(8)))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1 and statuses.count(200) == 7
    assert len({recording for _, recording in results}) == 1
    with store.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Recording)) == 1
    assert len(list(store.blobs.keys())) == 1


def test_many_uploads_at_once_all_succeed(store: Store, device: RegisteredDevice) -> None:
    service = ingestor(store)
    uploader = service.authenticate(device.token)

    def send(index: int) -> int:
        metadata = json.dumps(device.metadata(device_recording_id=f"r{index}")).encode()
        try:
            return service.ingest(uploader, metadata, wav(1.0, seed=index)).status_code
        except IngestError as exc:
            return exc.status

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(send, range(48)))
    assert statuses == [201] * 48
    with store.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Recording)) == 48
