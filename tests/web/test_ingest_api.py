"""POST /v1/recordings: what a device may send, and what every bad request gets back."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from earmuff.store import Store
from earmuff.store.models import IdempotencyRecord, Recording
from tests.audio_samples import encode, float_wav_with, tone, wav, wav_declaring
from tests.web.conftest import RegisteredDevice, make_device, upload


def stored_state(store: Store) -> tuple[int, int, list[str]]:
    with store.db.transaction() as session:
        recordings = session.scalar(select(func.count()).select_from(Recording)) or 0
        records = session.scalar(select(func.count()).select_from(IdempotencyRecord)) or 0
    return recordings, records, list(store.blobs.keys())


def assert_error(response, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    if field is not None:
        assert error["field"] == field


def test_a_valid_upload_is_stored_sealed_and_answered_201(
    client: TestClient, store: Store, device: RegisteredDevice
) -> None:
    response = upload(client, device.token, device.metadata(), wav(2.0))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "stored"
    assert body["duration_s"] == pytest.approx(2.0)
    assert body["sample_rate"] == 16_000
    with store.db.transaction() as session:
        recording = session.get(Recording, body["recording_id"])
        assert recording is not None
        assert recording.locale == "en-US"
        assert recording.wake_word == "alexa"
        assert recording.retention_until is not None
        outcomes = {s.stage: (s.status, s.detail["decision"]) for s in recording.stages}
        assert outcomes == {
            "ingest": ("done", "stored"),
            "consent": ("done", "no_consent"),
        }, "the default policy is opt-in, and this account never said yes"
    assert list(store.blobs.keys()) == [recording.blob_key]


@pytest.mark.parametrize(
    ("fmt", "subtype", "rate", "channels"),
    [
        ("WAV", "PCM_16", 8_000, 1),
        ("WAV", "PCM_24", 48_000, 2),
        ("WAV", "FLOAT", 22_050, 1),
        ("FLAC", "PCM_16", 16_000, 1),
        ("FLAC", "PCM_16", 44_100, 2),
        ("OGG", "VORBIS", 16_000, 1),
        ("OGG", "OPUS", 48_000, 1),
    ],
)
def test_wav_flac_and_ogg_at_8_to_48_khz_mono_or_stereo_are_accepted(
    client: TestClient, device: RegisteredDevice, fmt: str, subtype: str, rate: int, channels: int
) -> None:
    audio = encode(tone(1.0, rate, channels), rate, fmt, subtype)
    response = upload(client, device.token, device.metadata(), audio)
    assert response.status_code == 201, response.text
    assert response.json()["sample_rate"] == rate


def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer_and_stores_nothing_twice(
    client: TestClient, store: Store, device: RegisteredDevice
) -> None:
    audio = wav(1.0)
    first = upload(client, device.token, device.metadata(), audio, idempotency_key="k-1")
    second = upload(client, device.token, device.metadata(), audio, idempotency_key="k-1")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    recordings, records, blobs = stored_state(store)
    assert (recordings, records, len(blobs)) == (1, 1, 1)


def test_reusing_an_idempotency_key_for_another_recording_is_refused(
    client: TestClient, store: Store, device: RegisteredDevice
) -> None:
    upload(client, device.token, device.metadata(), wav(1.0, seed=1), idempotency_key="k-2")
    other = upload(client, device.token, device.metadata(), wav(1.0, seed=2), idempotency_key="k-2")
    assert_error(other, 422, "idempotency_key_reused", "Idempotency-Key")
    assert stored_state(store)[0] == 1


def test_the_same_idempotency_key_on_two_devices_are_two_recordings(
    client: TestClient, store: Store, device: RegisteredDevice
) -> None:
    other = make_device(store, "ACC-2002", "Ravi", "SN-2")
    audio = wav(1.0)
    assert upload(client, device.token, device.metadata(), audio, "same").status_code == 201
    assert upload(client, other.token, other.metadata(), audio, "same").status_code == 201
    assert stored_state(store)[0] == 2


def test_a_device_recording_id_is_used_once_per_device(
    client: TestClient, store: Store, device: RegisteredDevice
) -> None:
    metadata = device.metadata(device_recording_id="rec-7")
    assert upload(client, device.token, metadata, wav(1.0)).status_code == 201
    again = upload(client, device.token, metadata, wav(1.0, seed=3))
    assert_error(again, 409, "duplicate_recording", "metadata.device_recording_id")
    recordings, _, blobs = stored_state(store)
    assert (recordings, len(blobs)) == (1, 1)


def test_healthz_and_openapi_describe_the_service(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/recordings"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["audio", "metadata"]
    assert {"201", "200", "400", "401", "403", "413", "415", "422"} <= set(operation["responses"])
    assert "RecordingMetadata" in spec["components"]["schemas"]
    assert operation["security"] == [{"HTTPBearer": []}]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "emd_token"]
)
def test_an_upload_without_bearer_credentials_is_refused(
    client: TestClient, store: Store, device: RegisteredDevice, authorization: str | None
) -> None:
    response = upload(client, None, device.metadata(), wav(0.5), authorization=authorization)
    assert_error(response, 401, "unauthenticated")
    assert stored_state(store) == (0, 0, [])


def test_the_bearer_scheme_is_read_case_insensitively(
    client: TestClient, device: RegisteredDevice
) -> None:
    lower = f"bearer {device.token}"
    response = upload(client, None, device.metadata(), wav(0.5), authorization=lower)
    assert response.status_code == 201, response.text


BAD_AUDIO = [
    ("empty file", b"", 400, "empty_audio"),
    ("random bytes", bytes(range(256)) * 8, 415, "unsupported_format"),
    ("text pretending", b"RIFF....WAVEnot really audio", 422, "undecodable_audio"),
    ("truncated wav", wav(1.0)[:5000], 422, "truncated_audio"),
    ("lying data size", wav_declaring(10_000_000, b"\x00\x01" * 800), 422, "truncated_audio"),
    ("zero samples", wav_declaring(0, b""), 422, "empty_audio"),
    ("nan samples", float_wav_with(float("nan")), 422, "invalid_samples"),
    ("inf samples", float_wav_with(float("inf")), 422, "invalid_samples"),
    ("too long", wav(61.0, rate=8_000), 413, "audio_too_long"),
    ("rate too low", encode(tone(1.0, 4_000), 4_000), 422, "unsupported_sample_rate"),
    ("rate too high", encode(tone(0.2, 96_000), 96_000), 422, "unsupported_sample_rate"),
    ("truncated flac", encode(tone(2.0), 16_000, "FLAC")[:20_000], 422, "truncated_audio"),
    (
        "flac cut in its first frame",
        encode(tone(2.0), 16_000, "FLAC")[:3000],
        422,
        "undecodable_audio",
    ),
    ("flac header only", encode(tone(1.0), 16_000, "FLAC")[:42], 422, "truncated_audio"),
    ("ogg header only", encode(tone(1.0), 16_000, "OGG", "VORBIS")[:200], 422, "undecodable_audio"),
]


@pytest.mark.parametrize(
    ("audio", "status", "code"), [c[1:] for c in BAD_AUDIO], ids=[c[0] for c in BAD_AUDIO]
)
def test_bad_audio_gets_a_clear_4xx_and_stores_nothing(
    client: TestClient, store: Store, device: RegisteredDevice, audio: bytes, status: int, code: str
) -> None:
    response = upload(client, device.token, device.metadata(), audio)
    assert_error(response, status, code, "audio")
    assert stored_state(store) == (0, 0, [])


def test_audio_over_the_byte_limit_is_refused_before_it_is_read(
    client: TestClient, store: Store, device: RegisteredDevice
) -> None:
    limit = store.settings.limits.max_body_bytes
    response = upload(client, device.token, device.metadata(), b"\x00" * (limit + 1))
    assert_error(response, 413, "body_too_large")
    assert stored_state(store) == (0, 0, [])


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, "unauthenticated"),
        ("emd_not-a-real-token", "invalid_token"),
        ("garbage", "invalid_token"),
    ],
)
def test_a_missing_or_wrong_token_is_401(
    client: TestClient, store: Store, device: RegisteredDevice, token: str | None, code: str
) -> None:
    response = upload(client, token, device.metadata(), wav(1.0))
    assert_error(response, 401, code)
    assert stored_state(store) == (0, 0, [])


def test_a_basic_auth_header_is_not_a_device_token(
    client: TestClient, device: RegisteredDevice
) -> None:
    response = client.post("/v1/recordings", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_error(response, 401, "unauthenticated")


BAD_METADATA = [
    ("not json", b"{account_id:", 400, "invalid_metadata", "metadata"),
    ("not utf-8", b"\xff\xfe\x00", 400, "invalid_metadata", "metadata"),
    ("a list", b"[1, 2]", 400, "invalid_metadata", "metadata"),
    ("missing locale", {"locale": None}, 422, "invalid_metadata", "metadata.locale"),
    ("missing first name", {"first_name": None}, 422, "invalid_metadata", "metadata.first_name"),
    (
        "naive time",
        {"captured_at": "2026-11-20T18:30:00"},
        422,
        "invalid_metadata",
        "metadata.captured_at",
    ),
    (
        "future time",
        {"captured_at": "2099-01-01T00:00:00Z"},
        422,
        "invalid_metadata",
        "metadata.captured_at",
    ),
    ("bad locale", {"locale": "english please"}, 422, "invalid_metadata", "metadata.locale"),
    (
        "confidence > 1",
        {"wake_confidence": 1.5},
        422,
        "invalid_metadata",
        "metadata.wake_confidence",
    ),
    ("unknown field", {"owner_email": "a@b.c"}, 422, "invalid_metadata", "metadata.owner_email"),
    ("control chars", {"wake_word": "ale\x00xa"}, 422, "invalid_metadata", "metadata.wake_word"),
    ("other account", {"account_id": "ACC-9999"}, 403, "metadata_mismatch", "metadata.account_id"),
    (
        "other device",
        {"device_serial": "SN-999"},
        403,
        "metadata_mismatch",
        "metadata.device_serial",
    ),
]


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [c[1:] for c in BAD_METADATA],
    ids=[c[0] for c in BAD_METADATA],
)
def test_bad_metadata_gets_a_clear_4xx_naming_the_field_and_stores_nothing(
    client: TestClient,
    store: Store,
    device: RegisteredDevice,
    change,
    status: int,
    code: str,
    field: str,
) -> None:
    metadata = change if isinstance(change, bytes) else device.metadata()
    if isinstance(change, dict):
        metadata.update(change)
        metadata = {k: v for k, v in metadata.items() if v is not None}
    response = upload(client, device.token, metadata, wav(1.0))
    assert_error(response, status, code, field)
    assert stored_state(store) == (0, 0, [])


def test_missing_fields_and_non_multipart_bodies_are_refused(
    client: TestClient, store: Store, device: RegisteredDevice
) -> None:
    auth = {"Authorization": f"Bearer {device.token}"}
    assert_error(
        upload(client, device.token, device.metadata(), None), 400, "missing_field", "audio"
    )
    assert_error(upload(client, device.token, None, wav(1.0)), 400, "missing_field", "metadata")
    assert_error(client.post("/v1/recordings", headers=auth), 400, "empty_body")
    assert_error(
        client.post("/v1/recordings", headers=auth, content=json.dumps(device.metadata())),
        415,
        "unsupported_media_type",
    )
    truncated = client.post(
        "/v1/recordings",
        headers=auth | {"Content-Type": "multipart/form-data; boundary=xyz"},
        content=b'--xyz\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{}',
    )
    assert_error(truncated, 400, "malformed_body")
    assert stored_state(store) == (0, 0, [])


def test_metadata_sent_as_a_file_part_is_read_the_same(
    client: TestClient, device: RegisteredDevice
) -> None:
    response = client.post(
        "/v1/recordings",
        headers={"Authorization": f"Bearer {device.token}"},
        files={
            "metadata": ("metadata.json", json.dumps(device.metadata()), "application/json"),
            "audio": ("a.flac", encode(tone(1.0), 16_000, "FLAC"), "audio/flac"),
        },
    )
    assert response.status_code == 201, response.text


def test_a_revoked_device_can_no_longer_upload(
    client: TestClient, store: Store, device: RegisteredDevice
) -> None:
    from earmuff.store.models import Device, utcnow

    with store.db.transaction() as session:
        for row in session.scalars(select(Device)):
            row.revoked_at = utcnow()
    assert_error(upload(client, device.token, device.metadata(), wav(1.0)), 401, "invalid_token")


def test_a_new_first_name_from_the_device_replaces_the_stored_one_sealed(
    client: TestClient, store: Store, device: RegisteredDevice
) -> None:
    from earmuff.store.accounts import first_name
    from earmuff.store.models import Account

    assert (
        upload(client, device.token, device.metadata(first_name="Janet"), wav(1.0)).status_code
        == 201
    )
    with store.db.transaction() as session:
        account = session.scalars(select(Account)).one()
        assert first_name(session, store.keyring, account) == "Janet"
        assert b"Janet" not in (account.first_name_sealed or b"")
    me = client.get("/v1/devices/me", headers={"Authorization": f"Bearer {device.token}"})
    assert me.json()["first_name"] == "Janet"


def test_a_revoked_device_is_refused_at_once_and_a_rotated_token_replaces_the_old(
    client: TestClient, store: Store, device: RegisteredDevice
) -> None:
    from earmuff.store.accounts import revoke_device, rotate_device_token

    assert upload(client, device.token, device.metadata(), wav(1.0), "one").status_code == 201
    with store.db.transaction() as session:
        _, token = rotate_device_token(session, device.serial)
    assert upload(client, device.token, device.metadata(), wav(1.0), "two").status_code == 401
    assert upload(client, token, device.metadata(), wav(1.0), "two").status_code == 201
    with store.db.transaction() as session:
        revoke_device(session, device.serial)
    response = upload(client, token, device.metadata(), wav(1.0), "three")
    assert response.status_code == 401
    assert (
        client.get("/v1/devices/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    again = make_device(store, serial=device.serial)
    assert upload(client, again.token, again.metadata(), wav(1.0), "four").status_code == 201
