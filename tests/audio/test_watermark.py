"""The audio watermark on real speech: a leaked copy names its stream; nothing else does."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly
from typer.testing import CliRunner

from earmuff.audio import AudioError, decode_audio
from earmuff.audio.codec import ANY_FORMAT
from earmuff.audio.watermark import (
    MATCH_FALSE_POSITIVE,
    MATCH_STAGES,
    PAYLOAD_BYTES,
    Codebook,
    Evidence,
    _coded_bits,
    embed,
    evidence,
    identify,
    identify_among,
    mark_snr_db,
    match,
    match_threshold,
)
from earmuff.audit.log import record
from earmuff.audit.marks import STREAMED, issued_codes, mark_subject
from earmuff.cli.main import app
from earmuff.config import IngestLimits, Settings
from earmuff.evaluate import leaks
from earmuff.evaluate.manifest import load_audio
from earmuff.evaluate.watermark import evaluation_key, mp3_phone_line, narrowband_noise_ogg
from earmuff.store import open_store
from earmuff.store.crypto import MasterKey, watermark_key

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
PAYLOAD = b"\x8a\x17lease"[:PAYLOAD_BYTES]
CLIPS = [
    "wuw/calls/00000/WUWII00000_006.ulaw",  # telephone speech, 8 kHz, 9 s
    "librispeech/train-clean-100/1034-121119-0000.flac",  # read speech, 16 kHz, 7.9 s
]
LEAKS = {
    "mp3_64k": lambda x, rate, rng: leaks.mp3(x, rate)[0],
    "ogg_64k": lambda x, rate, rng: leaks.ogg_vorbis(x, rate)[0],
    "phone_white_20db": lambda x, rate, rng: leaks.phone(x, rate, rng, "white"),
    "phone_pink_20db": lambda x, rate, rng: leaks.phone(x, rate, rng, "pink"),
}
runner = CliRunner()


def speech(corpus: Path, clip: str) -> tuple[np.ndarray, int]:
    return load_audio(corpus / clip)


@pytest.mark.parametrize("clip", CLIPS)
def test_a_marked_stream_names_its_payload_and_keeps_its_shape(corpus: Path, clip: str) -> None:
    samples, rate = speech(corpus, clip)
    marked = embed(samples, rate, PAYLOAD, KEY)
    assert marked.dtype == np.float32 and marked.shape == samples.shape
    assert np.array_equal(marked, embed(samples, rate, PAYLOAD, KEY)), "deterministic"
    assert mark_snr_db(samples, marked) > 22.0, "the mark is a fraction of a dB on each tile"
    found = identify(marked, rate, KEY)
    assert found is not None and found.payload == PAYLOAD
    assert found.agreement > 0.9


@pytest.mark.parametrize("leak", sorted(LEAKS))
@pytest.mark.parametrize("clip", CLIPS)
def test_a_three_second_excerpt_of_a_leaked_copy_names_the_stream(
    corpus: Path, clip: str, leak: str
) -> None:
    samples, rate = speech(corpus, clip)
    rng = np.random.default_rng(7)
    copy = LEAKS[leak](embed(samples, rate, PAYLOAD, KEY), rate, rng)
    cut = leaks.excerpt(copy, rate, 3.0, rng)
    found = identify(cut, rate, KEY)
    assert found is not None, f"no mark found after {leak}"
    assert found.payload == PAYLOAD


CHAINS = {"8k_noise_20db_ogg": narrowband_noise_ogg, "mp3_64k_phone_line": mp3_phone_line}


@pytest.mark.parametrize("chain", sorted(CHAINS))
@pytest.mark.parametrize("clip", CLIPS)
def test_a_whole_four_second_copy_survives_each_leak_chain_under_several_keys(
    corpus: Path, clip: str, chain: str
) -> None:
    samples, rate = speech(corpus, clip)
    samples = samples[: 4 * rate]
    for seed in range(100, 103):
        key = evaluation_key(seed)
        copy = CHAINS[chain](embed(samples, rate, PAYLOAD, key), rate, np.random.default_rng(seed))
        found = identify(copy, rate, key)
        assert found is not None, f"no mark found after {chain} under key {seed}"
        assert found.payload == PAYLOAD
        assert identify(copy, rate, OTHER_KEY) is None


@pytest.fixture(scope="module")
def issued() -> list[bytes]:
    """9,999 codes issued to other streams."""
    raw = np.random.default_rng(11).bytes(9_999 * PAYLOAD_BYTES)
    return [raw[at : at + PAYLOAD_BYTES] for at in range(0, len(raw), PAYLOAD_BYTES)]


def test_every_candidate_is_encoded_as_the_embedder_encodes_it() -> None:
    payloads = [np.random.default_rng(seed).bytes(PAYLOAD_BYTES) for seed in range(20)]
    book = Codebook(payloads)
    for index, payload in enumerate(payloads):
        exact = (1.0 - 2.0 * _coded_bits(payload))[None, :]
        best, _ = book.best(exact)
        assert np.argmax(best) == index
        assert best[index] == pytest.approx(np.sqrt(exact.size), rel=1e-5)
    assert 7.2 < match_threshold(10_000, 32) < 7.4 < match_threshold(1_000_000, 32) < 8.0


def test_wrong_codes_score_no_higher_than_the_threshold_allows() -> None:
    """Heavy-tailed soft values (most near zero, a few clipped) and 100,000 random codes:
    a wrong code's normalised score has unit variance and no tail beyond the Gaussian's."""
    rng = np.random.default_rng(5)
    soft = np.clip(rng.standard_t(2, size=(8, 210)) * rng.random((8, 210)) ** 4, -8, 8)
    raw = rng.bytes(100_000 * PAYLOAD_BYTES)
    book = Codebook([raw[at : at + PAYLOAD_BYTES] for at in range(0, len(raw), PAYLOAD_BYTES)])
    scores = np.stack([book.best(row[None, :])[0] for row in soft])
    assert 0.95 < scores.std() < 1.05
    assert np.mean(scores > 3.0) < 2 * 0.00135
    assert scores.max() < match_threshold(len(book), len(soft))


@pytest.mark.parametrize(("row", "stage"), [(5, 0), (300, 1)])
def test_a_copy_whose_alignment_ranked_low_is_matched_by_the_wide_stage(
    issued: list[bytes], row: int, stage: int
) -> None:
    """The codeword planted in one row of noise: in the narrow stage's rows it is named at
    the narrow threshold, beyond them at the wide stage's higher one; the two stages'
    false-positive budgets add up to the one promised."""
    rng = np.random.default_rng(row)
    alignments = MATCH_STAGES[-1][0]
    soft = rng.standard_normal((2 * alignments, 210))
    soft[row] += 0.8 * (1.0 - 2.0 * _coded_bits(PAYLOAD))
    found = Evidence(soft=soft, sync=np.zeros(len(soft)))
    book = Codebook([*issued, PAYLOAD])
    named = match(book, found)
    assert named is not None and named.payload == PAYLOAD
    hypotheses, budget = 2 * MATCH_STAGES[stage][0], MATCH_STAGES[stage][1]
    assert named.threshold == round(match_threshold(len(book), hypotheses, budget), 2)
    assert match(book, found, excluding=len(issued)) is None
    assert sum(budget for _, budget in MATCH_STAGES) == pytest.approx(MATCH_FALSE_POSITIVE)


@pytest.mark.parametrize("chain", sorted(CHAINS))
@pytest.mark.parametrize("clip", CLIPS)
def test_a_whole_four_second_copy_is_found_among_ten_thousand_issued_codes(
    corpus: Path, clip: str, chain: str, issued: list[bytes]
) -> None:
    samples, rate = speech(corpus, clip)
    samples = samples[: 4 * rate]
    book = Codebook([*issued, PAYLOAD])
    for seed in range(100, 103):
        key = evaluation_key(seed)
        copy = CHAINS[chain](embed(samples, rate, PAYLOAD, key), rate, np.random.default_rng(seed))
        seen = evidence(copy, rate, key)
        assert seen is not None
        found = match(book, seen)
        assert found is not None, f"not matched after {chain} under key {seed}"
        assert (found.payload, found.index) == (PAYLOAD, len(issued))
        assert found.score > found.threshold and found.score - found.runner_up > 1.0
        assert match(book, seen, excluding=len(issued)) is None, "a code never issued"
        assert identify_among(copy, rate, OTHER_KEY, book) is None
    assert identify_among(samples, rate, KEY, book) is None, "unmarked speech"
    assert identify_among(np.zeros(4 * rate, np.float32), rate, KEY, book) is None
    assert identify_among(samples, rate, KEY, []) is None


@pytest.mark.parametrize("start_s", [0.0, 0.0137, 1.5, 3.3331, 5.9])
def test_any_three_seconds_will_do_not_only_the_start(corpus: Path, start_s: float) -> None:
    samples, rate = speech(corpus, CLIPS[0])
    marked = embed(samples, rate, PAYLOAD, KEY)
    start = round(start_s * rate)
    found = identify(marked[start : start + 3 * rate], rate, KEY)
    assert found is not None and found.payload == PAYLOAD


def test_a_copy_at_another_sample_rate_is_read(corpus: Path) -> None:
    samples, rate = speech(corpus, CLIPS[1])
    marked = embed(samples, rate, PAYLOAD, KEY)
    resampled = resample_poly(marked, 441, 160).astype(np.float32)  # 16 kHz to 44.1 kHz
    found = identify(resampled, 44_100, KEY)
    assert found is not None and found.payload == PAYLOAD


@pytest.mark.parametrize("clip", CLIPS)
def test_unmarked_speech_and_another_keys_mark_are_no_mark(corpus: Path, clip: str) -> None:
    samples, rate = speech(corpus, clip)
    assert identify(samples, rate, KEY) is None
    assert identify(samples[rate : 4 * rate], rate, KEY) is None
    assert identify(embed(samples, rate, PAYLOAD, OTHER_KEY), rate, KEY) is None


def test_silence_and_scraps_are_no_mark_and_still_embed() -> None:
    rate = 16_000
    for samples in (np.zeros(3 * rate, np.float32), np.zeros(10, np.float32)):
        marked = embed(samples, rate, PAYLOAD, KEY)
        assert marked.shape == samples.shape
        assert identify(marked, rate, KEY) is None


@pytest.mark.parametrize(
    ("samples", "payload", "key", "message"),
    [
        (np.zeros(8000, np.float32), b"short", KEY, "6 bytes"),
        (np.zeros((8000, 2), np.float32), PAYLOAD, KEY, "mono"),
        (np.full(8000, np.nan, np.float32), PAYLOAD, KEY, "NaN"),
        (np.zeros(8000, np.float32), PAYLOAD, b"tiny", "16 bytes"),
    ],
)
def test_bad_input_is_refused_with_a_reason(
    samples: np.ndarray, payload: bytes, key: bytes, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        embed(samples, 8000, payload, key)


def test_the_key_comes_from_the_master_key_and_serves_nothing_else() -> None:
    master = MasterKey(bytes(32))
    assert watermark_key(master) == watermark_key(MasterKey(bytes(32)))
    assert watermark_key(master) != watermark_key(MasterKey(bytes([1]) * 32))
    assert watermark_key(master) != master.derive("vault")
    assert len(watermark_key(master)) == 32


def test_mp3_is_read_only_where_a_leak_may_be_mp3(corpus: Path) -> None:
    samples, rate = speech(corpus, CLIPS[0])
    data = _mp3_bytes(samples, rate)
    limits = IngestLimits()
    with pytest.raises(AudioError) as refused:
        decode_audio(data, limits)
    assert refused.value.code == "unsupported_format"
    decoded = decode_audio(data, limits, accept=ANY_FORMAT)
    assert (decoded.format, decoded.sample_rate) == ("mp3", rate)
    assert abs(len(decoded.samples) - len(samples)) < rate // 10


def test_the_cli_marks_a_file_and_names_it_from_a_leaked_mp3(corpus: Path, tmp_path: Path) -> None:
    env = {"EARMUFF_MASTER_KEY": "ab" * 32}
    workspace = ["--workspace", str(tmp_path / "ws")]
    source = tmp_path / "review.wav"
    samples, rate = speech(corpus, CLIPS[0])
    sf.write(source, samples, rate, subtype="PCM_16")
    marked = tmp_path / "marked.wav"

    result = runner.invoke(
        app,
        ["watermark", "embed", str(source), str(marked), "--payload", "L-0042", *workspace],
        env=env,
    )
    assert result.exit_code == 0, result.output
    leaked = tmp_path / "leak.mp3"
    copy, copy_rate = sf.read(marked, dtype="float32")
    leaked.write_bytes(_mp3_bytes(copy[2 * copy_rate : 6 * copy_rate], copy_rate))

    result = runner.invoke(app, ["watermark", "identify", str(leaked), *workspace], env=env)
    assert result.exit_code == 0, result.output
    assert "payload L-0042" in result.output

    result = runner.invoke(app, ["watermark", "identify", str(source), *workspace], env=env)
    assert result.exit_code == 1
    assert "no mark found" in result.output

    other = {"EARMUFF_MASTER_KEY": "cd" * 32}
    elsewhere = ["--workspace", str(tmp_path / "other-ws")]
    result = runner.invoke(app, ["watermark", "identify", str(marked), *elsewhere], env=other)
    assert result.exit_code == 1, "another workspace's key finds nothing"


def test_the_cli_names_the_stream_of_a_leaked_copy_among_the_issued_codes(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"EARMUFF_MASTER_KEY": "ab" * 32}
    monkeypatch.setenv("EARMUFF_MASTER_KEY", env["EARMUFF_MASTER_KEY"])
    workspace = tmp_path / "ws"
    codes = [bytes.fromhex("5a17c3e90b24"), bytes.fromhex("00ff00ff00ff"), PAYLOAD]
    store = open_store(Settings.for_workspace(workspace))
    try:
        key = watermark_key(store.keyring.master)
        with store.db.transaction() as session:
            for number, code in enumerate(codes):
                details = {"staff": "s-1", "role": "reviewer", "lease": f"L-{number}"}
                record(session, "system", STREAMED, mark_subject(code), details)
            record(session, "system", "audit.leak_traced", "mark:none", {})
        with store.db.read() as session:
            assert sorted(issued_codes(session)) == sorted(codes)
    finally:
        store.close()
    samples, rate = speech(corpus, CLIPS[1])
    copy = narrowband_noise_ogg(
        embed(samples[: 4 * rate], rate, codes[0], key), rate, np.random.default_rng(1)
    )
    leaked = tmp_path / "leak.wav"
    sf.write(leaked, copy, rate, subtype="PCM_16")
    args = ["watermark", "identify", str(leaked), "--workspace", str(workspace)]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert "hex 5a17c3e90b24" in result.output
    assert "matched among 3 issued codes" in result.output
    assert "under lease L-0" in result.output
    result = runner.invoke(app, [*args, "--until", "2000-01-01"], env=env)
    assert "matched among" not in result.output, "no code was issued before 2000"


def test_the_cli_refuses_what_it_cannot_do_and_writes_nothing(tmp_path: Path) -> None:
    env = {"EARMUFF_MASTER_KEY": "ab" * 32}
    workspace = ["--workspace", str(tmp_path / "ws")]
    source = tmp_path / "in.wav"
    sf.write(source, np.zeros(8000, np.float32), 8000, subtype="PCM_16")
    cases = [
        (["embed", str(source), str(tmp_path / "o.wav"), "--payload", "TOO-LONG"], "at most 6"),
        (["embed", str(source), str(tmp_path / "o.mp3"), "--payload", "A"], ".wav or .flac"),
        (["embed", str(source), str(tmp_path / "o.wav"), "--payload", "é"], "ASCII"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["watermark", *args, *workspace], env=env)
        assert result.exit_code == 2 and message in flat(result.output), result.output
    not_audio = tmp_path / "notes.txt"
    not_audio.write_text("not audio")
    result = runner.invoke(app, ["watermark", "identify", str(not_audio), *workspace], env=env)
    assert result.exit_code == 2 and "MP3" in flat(result.output)
    result = runner.invoke(app, ["watermark", "identify", str(source), *workspace])
    assert result.exit_code == 2 and "no master key" in flat(result.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "notes.txt"]


def flat(output: str) -> str:
    """The CLI's words without the box and line breaks rich draws around errors."""
    return " ".join(re.sub("[│╭╮╰╯─]", " ", output).split())


def _mp3_bytes(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="MP3", subtype="MPEG_LAYER_III")
    return buffer.getvalue()
