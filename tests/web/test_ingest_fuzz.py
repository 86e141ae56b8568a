"""POST /v1/recordings under fuzzing: whatever a device sends, earmuff answers calmly.

The property, for every input: the answer is 201 or a 4xx (never a 5xx; the TestClient
re-raises server exceptions, so a crash fails the test too), every 4xx has the common
error shape, and a refused upload leaves nothing behind: no new recording row, no new
idempotency record, no new file in the blob folder (temporary files included).

The fixtures are function-scoped, so state carries over from one example to the next
(accepted uploads pile up); each example compares the store before and after itself.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import hypothesis
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from sqlalchemy import func, select

from earmuff.store import Store
from earmuff.store.models import IdempotencyRecord, Recording
from tests.audio_samples import encode, tone
from tests.web.conftest import RegisteredDevice, upload

FUZZ = hypothesis.settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

METADATA_KEYS = (
    "account_id",
    "first_name",
    "device_serial",
    "captured_at",
    "locale",
    "wake_word",
    "wake_confidence",
    "device_recording_id",
)

# Small, valid seeds for the mutation fuzzer: short, so that decoding one is cheap.
SEEDS: dict[str, bytes] = {
    "wav-pcm16-mono": encode(tone(0.25, 8_000), 8_000, "WAV", "PCM_16"),
    "wav-float-stereo": encode(tone(0.25, 8_000, channels=2), 8_000, "WAV", "FLOAT"),
    "flac-mono": encode(tone(0.25, 8_000), 8_000, "FLAC", "PCM_16"),
    "flac-stereo": encode(tone(0.25, 16_000, channels=2), 16_000, "FLAC", "PCM_16"),
    "ogg-vorbis": encode(tone(0.3, 16_000), 16_000, "OGG", "VORBIS"),
    "ogg-opus": encode(tone(0.3, 48_000), 48_000, "OGG", "OPUS"),
}
VALID_AUDIO = SEEDS["wav-pcm16-mono"]
HEADER_BYTES = 128
"""Mutations land in the first bytes half the time: that is where the parsers branch."""


@dataclass(frozen=True)
class Stored:
    recordings: int
    idempotency_records: int
    blob_files: frozenset[str]
    """Every file under the blob folder, hidden temporary files included."""


def stored(store: Store) -> Stored:
    with store.db.transaction() as session:
        recordings = session.scalar(select(func.count()).select_from(Recording)) or 0
        records = session.scalar(select(func.count()).select_from(IdempotencyRecord)) or 0
    root = store.settings.blob_dir
    files = frozenset(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return Stored(recordings, records, files)


def note_outcome(label: str) -> None:
    """Tally outcomes for ``pytest --hypothesis-show-statistics``."""
    if currently_in_test_context():
        hypothesis.event(label)


def assert_answered_cleanly(
    client: TestClient,
    store: Store,
    device: RegisteredDevice,
    metadata: dict[str, Any] | str | bytes,
    audio: bytes,
) -> httpx.Response:
    """Upload once and check the property: 201 with one new recording, or a clean 4xx."""
    before = stored(store)
    response = upload(client, device.token, metadata, audio)
    after = stored(store)
    if response.status_code == 201:
        note_outcome("201")
        assert after.recordings == before.recordings + 1
        assert before.blob_files < after.blob_files
        assert len(after.blob_files - before.blob_files) == 1
        return response
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "field"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["field"] is None or isinstance(error["field"], str)
    note_outcome(f"{response.status_code} {error['code']}")
    assert after == before, f"a {response.status_code} answer left something stored"
    return response


# --- strategies ----------------------------------------------------------------------------

any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
"""Any code points, control characters and lone surrogates included."""

control_heavy_text = st.text(
    st.sampled_from(["a", "é", " ", "\x00", "\x1f", "\x7f", "\u202e", "\ufeff", "\n", "\t"]),
    min_size=1,
    max_size=12,
)

huge_numbers = st.integers(60, 4000).map(lambda digits: 10**digits) | st.sampled_from(
    [
        10**30,
        -(10**30),
        2**63,
        -(2**63) - 1,
        1e308,
        -1e308,
        5e-324,
        float("nan"),
        float("inf"),
        float("-inf"),
    ]
)

nan_like_strings = st.sampled_from(
    ["NaN", "nan", "-nan", "Infinity", "-Infinity", "inf", "1e999", "0x10", "1_000", "", " "]
)


@st.composite
def odd_dates(draw: st.DrawFn) -> Any:
    """Timestamps in every format a buggy device clock or firmware might produce."""
    kind = draw(st.integers(0, 4))
    if kind == 0:  # real aware datetimes, any offset a timezone may legally have
        moment = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
        offset = timezone(timedelta(minutes=draw(st.integers(-1439, 1439))))
        return moment.replace(tzinfo=offset).isoformat()
    if kind == 1:  # unix times in seconds or milliseconds, as numbers or strings
        value = draw(st.integers(-(2**40), 2**45) | st.floats(allow_nan=True))
        return str(value) if draw(st.booleans()) else value
    if kind == 2:  # field by field, out of range and with odd separators
        year = draw(st.integers(0, 99_999))
        month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
        hour, minute, second = draw(st.integers(0, 25)), draw(st.integers(0, 61)), 60
        date_sep = draw(st.sampled_from(["-", "/", ".", ""]))
        time_sep = draw(st.sampled_from(["T", " ", "t", "_"]))
        zone = draw(st.sampled_from(["Z", "z", "+00:00", "+24:00", "-23:59", "+0530", "UTC", ""]))
        return (
            f"{year:04d}{date_sep}{month:02d}{date_sep}{day:02d}{time_sep}"
            f"{hour:02d}:{minute:02d}:{second:02d}{zone}"
        )
    if kind == 3:
        return draw(
            st.sampled_from(
                [
                    "Nov 20 2026 18:30",
                    "20/11/2026 18:30:00",
                    "2026-11-20T18:30:00.123456789012Z",
                    "2026-W47-5T18:30:00Z",
                    "2026-324T18:30:00Z",
                    "20261120T183000Z",
                    "2026-11-20",
                    "18:30:00Z",
                    "0000-00-00T00:00:00Z",
                    "9999-12-31T23:59:59-23:59",
                    "0001-01-01T00:00:00+23:59",
                    "1999-12-31T23:59:59Z",
                    "2000-01-01T00:00:00Z",
                ]
            )
        )
    return (datetime.now(UTC) + timedelta(seconds=draw(st.integers(-(10**9), 10**7)))).isoformat()


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | huge_numbers
    | any_text
    | nan_like_strings
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(any_text | st.sampled_from(METADATA_KEYS), children, max_size=4)
    ),
    max_leaves=12,
)
field_values = (
    json_values
    | control_heavy_text
    | odd_dates()
    | st.text(min_size=90, max_size=300)
    | st.sampled_from(["en-US", "EN_us", "en-", "x-klingon", "zh-Hant-TW-x", "de-DE-1996"])
)


def to_json(value: Any, ascii_only: bool) -> bytes:
    """JSON as a device might send it: escaped, or raw UTF-8 where lone surrogates pass.

    Python's encoder writes NaN and Infinity, and json.loads reads them back: kept.
    """
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def mutated_audio(draw: st.DrawFn) -> bytes:
    """A valid WAV, FLAC or Ogg file with bytes flipped, cut off, inserted or overwritten."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        limit = min(len(data), HEADER_BYTES) if draw(st.booleans()) else len(data)
        # Sparing the 4 magic bytes most of the time keeps the decoders, not the
        # format sniffer, under test (the random-bytes test covers the sniffer).
        lowest = 0 if draw(st.integers(0, 9)) == 0 else min(4, limit - 1)
        position = draw(st.integers(lowest, limit - 1))
        operation = draw(st.sampled_from(["flip", "truncate", "insert", "overwrite"]))
        if operation == "flip":
            data[position] ^= draw(st.integers(1, 255))
        elif operation == "truncate":
            del data[position:]
        elif operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=32))
        else:
            patch = draw(st.binary(min_size=1, max_size=8))
            data[position : position + len(patch)] = patch
    return bytes(data)


@st.composite
def magic_then_noise(draw: st.DrawFn) -> bytes:
    """Bytes that pass format sniffing, then say anything at all."""
    noise = draw(st.binary(max_size=2048))
    kind = draw(st.sampled_from(["riff", "rf64", "flac", "ogg", "wav-fmt"]))
    if kind == "riff":
        return b"RIFF" + draw(st.binary(min_size=4, max_size=4)) + b"WAVE" + noise
    if kind == "rf64":
        return b"RF64" + draw(st.binary(min_size=4, max_size=4)) + b"WAVE" + noise
    if kind == "flac":
        return b"fLaC" + noise
    if kind == "ogg":
        return b"OggS" + noise
    # A well-formed RIFF skeleton whose fmt fields are random: reaches the decoder proper.
    fmt = struct.pack(
        "<HHIIHH",
        draw(st.sampled_from([1, 3, 6, 7, 0xFFFE]) | st.integers(0, 0xFFFF)),
        draw(st.integers(0, 0xFFFF)),
        draw(st.integers(0, 0xFFFFFFFF)),
        draw(st.integers(0, 0xFFFFFFFF)),
        draw(st.integers(0, 0xFFFF)),
        draw(st.sampled_from([8, 16, 24, 32, 64]) | st.integers(0, 0xFFFF)),
    )
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(noise)) + noise
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --- metadata ------------------------------------------------------------------------------


@FUZZ
@given(value=json_values, ascii_only=st.booleans())
def test_any_json_value_as_metadata_is_refused_with_a_4xx_and_nothing_stored(
    client: TestClient, store: Store, device: RegisteredDevice, value: Any, ascii_only: bool
) -> None:
    """Arbitrary JSON (objects, arrays, scalars, NaN) never names this device, so: 4xx."""
    response = assert_answered_cleanly(
        client, store, device, to_json(value, ascii_only), VALID_AUDIO
    )
    assert response.status_code != 201


@FUZZ
@given(
    replaced=st.dictionaries(st.sampled_from(METADATA_KEYS), field_values, max_size=4),
    dropped=st.sets(st.sampled_from(METADATA_KEYS), max_size=2),
    extra=st.dictionaries(any_text, json_values, max_size=1),
    ascii_only=st.booleans(),
)
def test_real_metadata_keys_with_random_values_are_answered_201_or_4xx(
    client: TestClient,
    store: Store,
    device: RegisteredDevice,
    replaced: dict[str, Any],
    dropped: set[str],
    extra: dict[str, Any],
    ascii_only: bool,
) -> None:
    """The device's real metadata with a few values swapped for anything at all."""
    metadata = device.metadata() | replaced
    for key in dropped:
        metadata.pop(key, None)
    metadata |= {k: v for k, v in extra.items() if k not in METADATA_KEYS}
    assert_answered_cleanly(client, store, device, to_json(metadata, ascii_only), VALID_AUDIO)


@FUZZ
@given(captured_at=odd_dates())
def test_a_capture_time_in_any_format_is_answered_201_or_4xx(
    client: TestClient, store: Store, device: RegisteredDevice, captured_at: Any
) -> None:
    metadata = device.metadata(captured_at=captured_at)
    response = assert_answered_cleanly(client, store, device, to_json(metadata, True), VALID_AUDIO)
    if response.status_code != 201:
        assert response.json()["error"]["field"] == "metadata.captured_at"


def _mutated_json(raw: bytes) -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda cut, insert, at: raw[: at % len(raw)] + insert + raw[at % len(raw) + cut :],
        st.integers(0, 8),
        st.binary(max_size=8),
        st.integers(0, len(raw) - 1),
    )


VALID_METADATA_JSON = json.dumps(
    {
        "account_id": "ACC-1001",
        "first_name": "Jane",
        "device_serial": "SN-1",
        "captured_at": "2026-11-20T18:30:00Z",
        "locale": "en-US",
        "wake_word": "alexa",
    }
).encode()


@FUZZ
@given(
    raw=st.binary(max_size=512)
    | _mutated_json(VALID_METADATA_JSON)
    | any_text.map(lambda text: text.encode("utf-8", "surrogatepass"))
    | st.sampled_from(
        [b"\xef\xbb\xbf{}", "{}".encode("utf-16"), "{}".encode("utf-32"), b"\x00" * 16]
    )
)
@example(raw=b'{"wake_confidence": 1' + b"0" * 5000 + b"}")
@example(raw=b"[" * 100_000)
@example(raw=b'{"a":' * 50_000)
def test_arbitrary_bytes_as_metadata_are_answered_201_or_4xx(
    client: TestClient, store: Store, device: RegisteredDevice, raw: bytes
) -> None:
    assert_answered_cleanly(client, store, device, raw, VALID_AUDIO)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"wake_confidence": 1' + b"0" * 5000 + b"}", id="5000-digit integer"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="arrays nested 100000 deep"),
        pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, id="objects nested 50000 deep"),
    ],
)
def test_json_that_python_refuses_to_build_is_invalid_metadata_not_a_crash(
    client: TestClient, store: Store, device: RegisteredDevice, raw: bytes
) -> None:
    """Well-formed JSON can still be unparseable: Python caps integer digits and depth."""
    response = assert_answered_cleanly(client, store, device, raw, VALID_AUDIO)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_metadata"
    assert response.json()["error"]["field"] == "metadata"


# --- audio ---------------------------------------------------------------------------------


@FUZZ
@given(audio=st.binary(max_size=4096))
def test_random_bytes_as_audio_are_refused_with_a_4xx(
    client: TestClient, store: Store, device: RegisteredDevice, audio: bytes
) -> None:
    response = assert_answered_cleanly(client, store, device, device.metadata(), audio)
    assert response.status_code != 201


@hypothesis.settings(FUZZ, max_examples=150)
@given(audio=mutated_audio())
def test_damaged_wav_flac_and_ogg_files_are_answered_201_or_4xx(
    client: TestClient, store: Store, device: RegisteredDevice, audio: bytes
) -> None:
    """A bit flipped in the samples may still be audio; one in a header must not crash."""
    assert_answered_cleanly(client, store, device, device.metadata(), audio)


@FUZZ
@given(audio=magic_then_noise())
def test_valid_magic_bytes_followed_by_noise_are_answered_201_or_4xx(
    client: TestClient, store: Store, device: RegisteredDevice, audio: bytes
) -> None:
    response = assert_answered_cleanly(client, store, device, device.metadata(), audio)
    if response.status_code != 201:
        assert response.json()["error"]["field"] == "audio"


def test_the_fuzz_seeds_themselves_are_accepted(
    client: TestClient, store: Store, device: RegisteredDevice
) -> None:
    """Guards the fuzzers: if the seeds were refused, mutating them would test nothing."""
    for name, audio in SEEDS.items():
        response = assert_answered_cleanly(client, store, device, device.metadata(), audio)
        assert response.status_code == 201, (name, response.text)
        assert math.isclose(response.json()["duration_s"], 0.25, abs_tol=0.06), name
