"""The first stage: accept a device's recording, check it, seal it, store it once.

Nothing is stored until every check has passed, and then the sealed blob is written
before the database row that points at it: a crash in between leaves an unreferenced
ciphertext (removed on the next attempt's rollback path), never a row without audio.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from earmuff.audio import AudioError, DecodedAudio, decode_audio, encode_wav
from earmuff.config import Settings
from earmuff.pipeline.consent import ConsentStage, decide_consent
from earmuff.pipeline.runner import DONE, STOPPED
from earmuff.pipeline.stage import Outcome
from earmuff.store.accounts import (
    DeviceIdentity,
    authenticate_device,
    open_first_name,
    seal_first_name,
)
from earmuff.store.blobs import BlobStore
from earmuff.store.crypto import KeyDestroyed, KeyRing, blob_context, seal
from earmuff.store.db import Database
from earmuff.store.models import (
    Account,
    IdempotencyRecord,
    Recording,
    RecordingStage,
    new_id,
    utcnow,
)
from earmuff.store.recordings import new_recording_key

_LOCALE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
EARLIEST_CAPTURE = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)
RETENTION_CHOICES = {"3m": 92, "18m": 548}

_ACCOUNTS = cast(Table, Account.__table__)
_RECORDINGS = cast(Table, Recording.__table__)
_RECORDING_STAGES = cast(Table, RecordingStage.__table__)
_IDEMPOTENCY_RECORDS = cast(Table, IdempotencyRecord.__table__)
_INSERT_RECORDING = insert(_RECORDINGS)
_INSERT_STAGE = insert(_RECORDING_STAGES)
_INSERT_ANSWER = insert(_IDEMPOTENCY_RECORDS)
_RENAME_ACCOUNT = update(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("account_id"))
"""Statements built once, with every value a parameter: this runs on every upload."""


class IngestError(Exception):
    """A request earmuff refuses; maps one-to-one onto an HTTP 4xx answer."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class RecordingMetadata(BaseModel):
    """What a device says about a recording. Unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    account_id: str = Field(min_length=1, max_length=128)
    first_name: str = Field(min_length=1, max_length=100)
    device_serial: str = Field(min_length=1, max_length=128)
    captured_at: AwareDatetime
    locale: str = Field(min_length=2, max_length=35)
    wake_word: str = Field(min_length=1, max_length=64)
    wake_confidence: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    device_recording_id: str | None = Field(default=None, min_length=1, max_length=128)

    @field_validator(
        "account_id", "first_name", "device_serial", "wake_word", "device_recording_id"
    )
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        if not _LOCALE.fullmatch(value):
            raise ValueError("must be a BCP 47 language tag such as en-US")
        language, *rest = value.replace("_", "-").split("-")
        return "-".join([language.lower(), *(p.upper() if len(p) == 2 else p for p in rest)])

    @field_validator("captured_at")
    @classmethod
    def _plausible_time(cls, value: datetime) -> datetime:
        if value < EARLIEST_CAPTURE or value > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError("must be a real capture time, not in the future")
        return value.astimezone(UTC)


@dataclass(frozen=True)
class IngestResult:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Uploader:
    """An authenticated device, with everything its upload needs, read in one transaction."""

    device: DeviceIdentity
    data_key: bytes = field(repr=False)
    first_name: str | None
    raw_retention: str
    idempotency_key: str | None
    previous: _StoredAnswer | None
    """The stored answer to an earlier request with the same Idempotency-Key, if any."""


class Ingestor:
    """Turns an authenticated upload into one sealed, stored recording.

    An upload costs two database transactions: one read (authentication, the account's
    key and consent, an earlier answer for the Idempotency-Key) before the body is
    read, and one write after every check has passed. The write records the consent
    stage's outcome too: whether review may follow, judged by the consent in force when
    the recording arrived. Every recording is then handed to the pipeline, because its
    wake check deletes a false wake whatever the household chose about review.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        blobs: BlobStore,
        keyring: KeyRing,
        on_stored: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.keyring = keyring
        self.on_stored = on_stored
        """Told the id of every newly stored recording (the in-process pipeline's queue)."""

    def authenticate(self, token: str | None, idempotency_key: str | None = None) -> Uploader:
        """Check the token before the body is read, so strangers cannot make us read 10 MB."""
        if not token:
            raise IngestError(401, "unauthenticated", "send 'Authorization: Bearer <device token>'")
        if idempotency_key is not None and not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise IngestError(
                400,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1-255 visible ASCII characters",
                "Idempotency-Key",
            )
        with self.db.read_connection() as connection:
            device = authenticate_device(connection, token)
            if device is None:
                raise IngestError(401, "invalid_token", "the device token is unknown or revoked")
            previous = _idempotency_record(connection, device, idempotency_key)
        try:
            data_key = self.keyring.unwrap(
                device.account_id, device.wrapped_key, device.master_key_id
            )
        except KeyDestroyed:
            raise IngestError(
                403, "account_closed", "this device's account is being deleted"
            ) from None
        return Uploader(
            device=device,
            data_key=data_key,
            first_name=open_first_name(data_key, device.account_id, device.first_name_sealed),
            raw_retention=device.raw_retention,
            idempotency_key=idempotency_key,
            previous=previous,
        )

    def ingest(
        self, uploader: Uploader, metadata_json: bytes | bytearray, audio: bytes | bytearray
    ) -> IngestResult:
        """Check, seal and store one upload. The body's parts come as they were parsed,
        bytes or bytearray: copying audio is a measurable part of an upload's cost."""
        device = uploader.device
        metadata = parse_metadata(metadata_json)
        if metadata.account_id != device.account_external_id:
            raise IngestError(
                403,
                "metadata_mismatch",
                "account_id is not the account of this device's token",
                "metadata.account_id",
            )
        if metadata.device_serial != device.serial:
            raise IngestError(
                403,
                "metadata_mismatch",
                "device_serial is not the serial of this device's token",
                "metadata.device_serial",
            )
        if len(audio) > self.settings.limits.max_audio_bytes:
            raise IngestError(
                413,
                "audio_too_large",
                f"the audio file is {len(audio)} bytes; at most "
                f"{self.settings.limits.max_audio_bytes} are accepted",
                "audio",
            )
        fingerprint = _fingerprint(metadata, audio)
        if uploader.previous is not None:
            return _replay(uploader.previous, fingerprint)
        try:
            decoded = decode_audio(audio, self.settings.limits)
        except AudioError as exc:
            raise IngestError(exc.status, exc.code, exc.message, "audio") from None
        canonical = encode_wav(decoded.samples, decoded.sample_rate)

        consent = decide_consent(
            self.settings.policy,
            child_profile=device.child_profile,
            choice=device.review_choice,
            disclosure_version=device.disclosure_version,
        )
        recording_id = new_id()
        blob_key = f"recordings/{recording_id}.wav"
        recording_key, key_sealed = new_recording_key(uploader.data_key, recording_id)
        sealed = seal(recording_key, canonical, blob_context(device.account_id, blob_key))
        self.blobs.put(blob_key, sealed)
        body = {
            "recording_id": recording_id,
            "status": "stored",
            "duration_s": round(decoded.duration_s, 3),
            "sample_rate": decoded.sample_rate,
        }
        try:
            with self.db.write_connection() as connection:
                self._insert(
                    connection, uploader, metadata, decoded, recording_id, blob_key, key_sealed
                )
                _record_stage(connection, recording_id, ConsentStage.name, consent)
                if uploader.idempotency_key is not None:
                    connection.execute(
                        _INSERT_ANSWER,
                        {
                            "device_id": device.device_id,
                            "key": uploader.idempotency_key,
                            "request_sha256": fingerprint,
                            "status_code": 201,
                            "response": body,
                            "created_at": utcnow(),
                        },
                    )
        except IntegrityError:
            self.blobs.delete(blob_key)
            if uploader.idempotency_key is not None:
                with self.db.read_connection() as connection:
                    record = _idempotency_record(connection, device, uploader.idempotency_key)
                if record is not None:
                    return _replay(record, fingerprint)
            raise IngestError(
                409,
                "duplicate_recording",
                "this device already sent a recording with this device_recording_id",
                "metadata.device_recording_id",
            ) from None
        except BaseException:
            self.blobs.delete(blob_key)
            raise
        if self.on_stored is not None and consent.proceed:
            self.on_stored(recording_id)
        return IngestResult(201, body)

    def _insert(
        self,
        connection: Connection,
        uploader: Uploader,
        metadata: RecordingMetadata,
        decoded: DecodedAudio,
        recording_id: str,
        blob_key: str,
        key_sealed: bytes,
    ) -> None:
        """Core statements built once, with every value a bound parameter: this runs on
        every upload, and such a statement is compiled once and then cached."""
        device = uploader.device
        if metadata.first_name != uploader.first_name:
            sealed_name = seal_first_name(uploader.data_key, device.account_id, metadata.first_name)
            connection.execute(
                _RENAME_ACCOUNT,
                {"account_id": device.account_id, "first_name_sealed": sealed_name},
            )
        received_at = utcnow()
        connection.execute(
            _INSERT_RECORDING,
            {
                "id": recording_id,
                "account_id": device.account_id,
                "device_id": device.device_id,
                "device_recording_id": metadata.device_recording_id,
                "captured_at": metadata.captured_at,
                "received_at": received_at,
                "locale": metadata.locale,
                "wake_word": metadata.wake_word,
                "wake_confidence": metadata.wake_confidence,
                "duration_s": decoded.duration_s,
                "sample_rate": decoded.sample_rate,
                "channels_received": decoded.channels,
                "source_format": decoded.format,
                "blob_key": blob_key,
                "key_sealed": key_sealed,
                "status": "stored",
                "retention_until": self._retention_deadline(uploader.raw_retention, received_at),
            },
        )
        _record_stage(connection, recording_id, "ingest", Outcome.go("stored"), received_at)

    def _retention_deadline(self, choice: str, received_at: datetime) -> datetime | None:
        if choice == "keep":
            return None
        days = RETENTION_CHOICES.get(choice, self.settings.policy.retention.raw_recordings_days)
        return received_at + timedelta(days=days)


def _record_stage(
    connection: Connection,
    recording_id: str,
    stage: str,
    outcome: Outcome,
    at: datetime | None = None,
) -> None:
    """A stage outcome, in the form the pipeline runner records and later reads."""
    connection.execute(
        _INSERT_STAGE,
        {
            "recording_id": recording_id,
            "stage": stage,
            "status": DONE if outcome.proceed else STOPPED,
            "detail": {"decision": outcome.decision, **outcome.detail},
            "updated_at": at or utcnow(),
        },
    )


@dataclass(frozen=True)
class _StoredAnswer:
    request_sha256: str
    response: dict[str, Any]


_IDEMPOTENCY_ANSWER = select(IdempotencyRecord.request_sha256, IdempotencyRecord.response).where(
    IdempotencyRecord.device_id == bindparam("device_id"),
    IdempotencyRecord.key == bindparam("key"),
)


def _idempotency_record(
    connection: Connection, device: DeviceIdentity, key: str | None
) -> _StoredAnswer | None:
    if key is None:
        return None
    row = connection.execute(
        _IDEMPOTENCY_ANSWER, {"device_id": device.device_id, "key": key}
    ).first()
    return None if row is None else _StoredAnswer(row[0], row[1])


def _replay(record: _StoredAnswer, fingerprint: str) -> IngestResult:
    if record.request_sha256 != fingerprint:
        raise IngestError(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
            "Idempotency-Key",
        )
    return IngestResult(200, dict(record.response))


def parse_metadata(raw: bytes | bytearray) -> RecordingMetadata:
    """Parse the ``metadata`` field, naming the first offending field in the error.

    Well-formed JSON can still be refused by Python's parser, and that is the client's
    fault too, not a server error: an integer longer than the interpreter's digit limit
    raises a plain ``ValueError`` (not ``JSONDecodeError``), and arrays or objects nested
    deeper than the recursion limit raise ``RecursionError``.
    """
    try:
        data = json.loads(raw)
    except RecursionError:
        raise IngestError(
            400, "invalid_metadata", "metadata is nested too deeply", "metadata"
        ) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the int digit limit
        raise IngestError(
            400, "invalid_metadata", f"metadata is not JSON: {exc}", "metadata"
        ) from None
    if not isinstance(data, dict):
        raise IngestError(400, "invalid_metadata", "metadata must be a JSON object", "metadata")
    try:
        return RecordingMetadata.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"])
        raise IngestError(
            422, "invalid_metadata", f"metadata.{where}: {error['msg']}", f"metadata.{where}"
        ) from None


def _fingerprint(metadata: RecordingMetadata, audio: bytes | bytearray) -> str:
    digest = hashlib.sha256(metadata.model_dump_json().encode())
    digest.update(hashlib.sha256(audio).digest())
    return digest.hexdigest()
