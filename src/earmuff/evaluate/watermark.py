"""The audio watermark measured on real speech: is the reviewer found from a leaked copy,
is unmarked audio left alone, and does the mark cost the listener anything?

For every clip at least ``min_seconds`` long a random payload is marked in, under each
of ``marks`` keys drawn in turn from ``keys`` workspace keys (how well a copy is read
depends on the key's tile layout as well as on the speech, so one key is one sample),
the marked audio goes through each leak, and the detector must return exactly that
payload, from the whole copy and from a 3 s excerpt cut at a random offset. Besides the
single leaks of :mod:`earmuff.evaluate.leaks` there are two chains a leaker may well
apply in one go: 8 kHz, white noise 20 dB below the speech and Ogg Vorbis at the
encoder's default quality; and MP3 at 64 kbit/s then a telephone line (300-3400 Hz, 8
kHz, white noise 20 dB down, G.711 mu-law).

False positives are counted on the unmarked clips (whole and excerpt) and on marked
copies (the clean one and both chains) read under another of the keys. Each rate comes
with two 95 % intervals: Clopper-Pearson on the count, which says how far N trials
bound a rate even when none failed, and a bootstrap that redraws speakers and keys
(clips of one speaker, copies under one key, fail together, so the count overstates
the evidence). The mark's cost is its power below the speech (SNR) and the change in
Whisper's word error rate between unmarked and marked audio, pooled over the clips that
have a transcript (each clip once, marked under its first key).

With ``candidates`` N, a copy is also identified as the server now does it: among N
issued codes (its own and N - 1 random ones), by the codebook match of
:func:`earmuff.audio.watermark.identify_among`, the blind decoder only when no code
matches. Every condition is then reported three ways (``_codebook`` alone, ``_blind``
alone, and both in turn under the bare name), and a false positive is any code named
where none was marked under the key read, plus, for each chain, a code named when the
copy's own code is left out of the N (``_code_not_issued``).
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soundfile as sf
from scipy.signal import butter, sosfilt
from scipy.stats import beta

from earmuff.audio.watermark import (
    MATCH_STAGES,
    PAYLOAD_BITS,
    Codebook,
    choose,
    decode,
    embed,
    evidence,
    identify,
    mark_snr_db,
    match_threshold,
)
from earmuff.evaluate import leaks
from earmuff.evaluate.manifest import ManifestEntry, load_entry
from earmuff.evaluate.report import Progress, fraction, percent, real_time_factor
from earmuff.speech.asr import Transcriber
from earmuff.speech.text import EditCounts, align, normalise, word_error_rate

MIN_SECONDS = 3.0
EXCERPT_SECONDS = 3.0
LEVEL = 0.95
REPLICATES = 1000
LINE_BAND_HZ = (300.0, 3400.0)
MU = 255.0

Samples = leaks.Samples
Leak = Callable[[Samples, int, np.random.Generator], Samples]


def _mp3(samples: Samples, rate: int, rng: np.random.Generator) -> Samples:
    return leaks.mp3(samples, rate)[0]


def _ogg(samples: Samples, rate: int, rng: np.random.Generator) -> Samples:
    return leaks.ogg_vorbis(samples, rate)[0]


def _phone_white(samples: Samples, rate: int, rng: np.random.Generator) -> Samples:
    return leaks.phone(samples, rate, rng, "white")


def _phone_pink(samples: Samples, rate: int, rng: np.random.Generator) -> Samples:
    return leaks.phone(samples, rate, rng, "pink")


def narrowband_noise_ogg(samples: Samples, rate: int, rng: np.random.Generator) -> Samples:
    """8 kHz, white noise 20 dB below the speech, Ogg Vorbis at libsndfile's default
    quality (0.4): what a leaker gets without choosing a
    quality, and harsher than :func:`leaks.ogg_vorbis`'s 0.8. Returned at 8 kHz."""
    narrow = _noisy(leaks._resample(samples.astype(np.float64), rate, leaks.PHONE_RATE), rng)
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(narrow, -1.0, 1.0), leaks.PHONE_RATE, format="OGG", subtype="VORBIS")
    return _at_rate(leaks._decoded(buffer.getvalue(), len(narrow)), rate, len(samples))


def mp3_phone_line(samples: Samples, rate: int, rng: np.random.Generator) -> Samples:
    """MP3 at 64 kbit/s, then a telephone line: 8 kHz, the 300-3400 Hz band of a
    fourth-order Butterworth (causal, so with a line's phase distortion), white noise 20
    dB below the speech and G.711 mu-law at 8 bits."""
    decoded = leaks.mp3(samples, rate)[0]
    narrow = leaks._resample(decoded.astype(np.float64), rate, leaks.PHONE_RATE)
    band = butter(4, LINE_BAND_HZ, btype="bandpass", fs=leaks.PHONE_RATE, output="sos")
    line = _mu_law(np.clip(_noisy(sosfilt(band, narrow), rng), -1.0, 1.0))
    return _at_rate(line.astype(np.float32), rate, len(samples))


def _noisy(
    narrow: np.ndarray[Any, np.dtype[np.float64]], rng: np.random.Generator, snr_db: float = 20.0
) -> np.ndarray[Any, np.dtype[np.float64]]:
    noise = rng.standard_normal(len(narrow))
    noise *= np.sqrt(np.mean(narrow**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return narrow + noise


def _mu_law(
    signal: np.ndarray[Any, np.dtype[np.float64]],
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Compress to 256 mu-law levels and expand back, as a G.711 line does."""
    compressed = np.sign(signal) * np.log1p(MU * np.abs(signal)) / np.log1p(MU)
    levels = np.round((compressed + 1) / 2 * 255) / 255 * 2 - 1
    expanded: np.ndarray[Any, np.dtype[np.float64]] = (
        np.sign(levels) * ((1 + MU) ** np.abs(levels) - 1) / MU
    )
    return expanded


def _at_rate(narrow: Samples, rate: int, length: int) -> Samples:
    """Back to the clip's own rate, so every condition is read as the other leaks are."""
    back = leaks._resample(narrow.astype(np.float64), leaks.PHONE_RATE, rate)
    out: Samples = np.pad(back, (0, max(0, length - len(back))))[:length].astype(np.float32)
    return out


LEAKS: dict[str, Leak] = {
    "clean": lambda samples, rate, rng: samples,
    "mp3_64k": _mp3,
    "ogg_64k": _ogg,
    "phone_8k_white_20db": _phone_white,
    "phone_8k_pink_20db": _phone_pink,
    "8k_noise_20db_ogg": narrowband_noise_ogg,
    "mp3_64k_phone_line": mp3_phone_line,
}
CHAINS = ("8k_noise_20db_ogg", "mp3_64k_phone_line")
"""The leaks that are two or three in one; their copies are also read under another key."""
CHAINS_OTHER_KEY = tuple(f"{name}_other_key" for name in CHAINS)


@dataclass
class Tally:
    n: int = 0
    identified: int = 0
    wrong_payload: int = 0
    trials: list[tuple[str, int, bool]] = field(default_factory=list)
    """(speaker, key index, identified) per copy: what the bootstrap redraws."""

    def count(self, found: bytes | None, expected: bytes, speaker: str = "", key: int = 0) -> None:
        self.n += 1
        self.identified += found == expected
        self.wrong_payload += found is not None and found != expected
        self.trials.append((speaker, key, found == expected))

    def record(self, seed: int = 0) -> dict[str, Any]:
        return {
            "n": self.n,
            "identified": self.identified,
            "missed": self.n - self.identified - self.wrong_payload,
            "accuracy": fraction(self.identified, self.n),
            "wrong_payload": self.wrong_payload,
            "exact_interval": exact_interval(self.identified, self.n),
            "bootstrap_interval": bootstrap_interval(self.trials, seed),
        }


@dataclass
class Measurements:
    conditions: dict[str, Tally] = field(
        default_factory=lambda: {
            f"{name}{suffix}": Tally() for name in LEAKS for suffix in ("", "_excerpt_3s")
        }
    )
    false_positives: dict[str, Tally] = field(
        default_factory=lambda: {
            name: Tally()
            for name in ("unmarked", "unmarked_excerpt_3s", "other_key", *CHAINS_OTHER_KEY)
        }
    )
    snr_db: list[float] = field(default_factory=list)
    embed_seconds: float = 0.0
    identify_seconds: list[float] = field(default_factory=list)
    audio_seconds: float = 0.0
    unmarked_edits: EditCounts = field(default_factory=EditCounts)
    marked_edits: EditCounts = field(default_factory=EditCounts)
    reference_words: int = 0
    transcribed: int = 0
    too_short: int = 0
    clips: int = 0
    speakers: set[str] = field(default_factory=set)


def evaluation_key(seed: int) -> bytes:
    """A fixed key per seed, so a run can be repeated exactly."""
    return hashlib.sha256(f"earmuff watermark evaluation {seed}".encode()).digest()


def evaluate_watermark(
    entries: Sequence[ManifestEntry],
    transcriber: Transcriber | None,
    seed: int = 0,
    progress: Progress | None = None,
    keys: int = 1,
    marks: int = 1,
    min_seconds: float = MIN_SECONDS,
    leak_names: Sequence[str] | None = None,
    candidates: int | None = None,
) -> dict[str, Any]:
    """Mark clip ``i`` under keys ``i * marks``, ..., ``i * marks + marks - 1`` (modulo
    ``keys``), so every key is used about as often and meets many speakers; a copy is read
    for false positives under the key after its own."""
    if keys < 2 and marks > 1:
        raise ValueError("several marks per clip need several keys")
    key_set = [evaluation_key(seed + k) for k in range(max(keys, 2))]
    chosen = {name: LEAKS[name] for name in (leak_names or LEAKS)}
    ways = ("", "_codebook", "_blind") if candidates else ("",)
    chains = [chain for chain in CHAINS if chain in chosen]
    measured = Measurements(
        conditions={
            f"{name}{cut}{way}": Tally()
            for name in chosen
            for cut in ("", "_excerpt_3s")
            for way in ways
        },
        false_positives={
            name: Tally()
            for name in [
                "unmarked",
                "unmarked_excerpt_3s",
                "other_key",
                *(f"{chain}_other_key" for chain in chains),
                *(f"{chain}_code_not_issued" for chain in chains if candidates),
            ]
        },
    )
    reader = _Reader(measured, candidates)
    for index, entry in enumerate(entries):
        samples, rate = load_entry(entry)
        if len(samples) < min_seconds * rate:
            measured.too_short += 1
        else:
            measured.clips += 1
            speaker = entry.speaker or entry.audio_filepath
            measured.speakers.add(speaker)
            for mark in range(marks):
                rng = np.random.default_rng([seed, index, mark])
                own = (index * marks + mark) % max(keys, 1)
                other = (own + 1) % len(key_set)
                _measure_copy(
                    measured,
                    reader,
                    chosen,
                    samples,
                    rate,
                    (own, key_set[own]),
                    (other, key_set[other]),
                    speaker,
                    rng,
                )
                if mark == 0:
                    _measure_wer(measured, entry, samples, rate, key_set[own], rng, transcriber)
        if progress is not None:
            progress()
    options: dict[str, Any] = {"keys": keys, "marks_per_clip": marks, "min_seconds": min_seconds}
    if candidates:
        options["candidates"] = candidates
        options["match_thresholds"] = [
            round(match_threshold(candidates, 2 * alignments, false_positive), 2)
            for alignments, false_positive in MATCH_STAGES
        ]
    return summarise(measured, transcriber.version if transcriber else None, seed, options)


class _Reader:
    """Reads a copy blind, or among ``candidates`` issued codes and then blind, from one
    computation of its soft evidence."""

    def __init__(self, measured: Measurements, candidates: int | None) -> None:
        self.measured = measured
        self.candidates = candidates
        self.book: Codebook | None = None
        if candidates:
            rng = np.random.default_rng([28, 6, candidates])
            raw = rng.bytes((candidates - 1) * (PAYLOAD_BITS // 8))
            step = PAYLOAD_BITS // 8
            self.book = Codebook([raw[at : at + step] for at in range(0, len(raw), step)])

    def read(
        self, audio: Samples, rate: int, key: bytes, issued: bytes
    ) -> tuple[bytes | None, bytes | None, bytes | None, bytes | None]:
        """The code named (codebook then blind), by the codebook alone, blind alone, and
        by the codebook with ``issued`` (the copy's own code) left out."""
        started = time.perf_counter()
        if self.book is None:
            found = identify(audio, rate, key)
            self.measured.identify_seconds.append(time.perf_counter() - started)
            payload = None if found is None else found.payload
            return payload, None, payload, None
        seen = evidence(audio, rate, key)
        if seen is None:
            return None, None, None, None
        blind = decode(seen)
        book, own = self.book, Codebook([issued])

        def with_own(soft: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            best, which = book.best(soft)
            mine, mine_which = own.best(soft)
            return np.concatenate([best, mine]), np.concatenate([which, mine_which])

        among = choose(with_own, seen)
        not_issued = choose(book.best, seen)
        self.measured.identify_seconds.append(time.perf_counter() - started)
        codebook = None if among is None else self._payload(among.index, issued)
        other = None if not_issued is None else self._payload(not_issued.index, issued)
        either = codebook if codebook is not None else (blind.payload if blind else None)
        return either, codebook, None if blind is None else blind.payload, other

    def _payload(self, index: int, issued: bytes) -> bytes:
        assert self.book is not None
        return issued if index == len(self.book) else self.book.payloads[index]


def _measure_copy(
    measured: Measurements,
    reader: _Reader,
    chosen: dict[str, Leak],
    samples: Samples,
    rate: int,
    own: tuple[int, bytes],
    other: tuple[int, bytes],
    speaker: str,
    rng: np.random.Generator,
) -> None:
    key_index, key = own
    payload = rng.bytes(PAYLOAD_BITS // 8)
    started = time.perf_counter()
    marked = embed(samples, rate, payload, key)
    measured.embed_seconds += time.perf_counter() - started
    measured.audio_seconds += len(samples) / rate
    measured.snr_db.append(mark_snr_db(samples, marked))
    positives = measured.false_positives

    def count(name: str, audio: Samples) -> bytes | None:
        either, codebook, blind, not_issued = reader.read(audio, rate, key, payload)
        measured.conditions[name].count(either, payload, speaker, key_index)
        if reader.book is not None:
            measured.conditions[f"{name}_codebook"].count(codebook, payload, speaker, key_index)
            measured.conditions[f"{name}_blind"].count(blind, payload, speaker, key_index)
        return not_issued

    def nothing(name: str, audio: Samples, under: bytes) -> None:
        found = reader.read(audio, rate, under, payload)[0]
        positives[name].count(found, b"", speaker, key_index)

    for name, leak in chosen.items():
        copy = leak(marked, rate, rng)
        not_issued = count(name, copy)
        count(f"{name}_excerpt_3s", leaks.excerpt(copy, rate, EXCERPT_SECONDS, rng))
        if name in CHAINS:
            nothing(f"{name}_other_key", copy, other[1])
            if reader.book is not None:
                positives[f"{name}_code_not_issued"].count(not_issued, b"", speaker, key_index)
    nothing("unmarked", samples, key)
    nothing("unmarked_excerpt_3s", leaks.excerpt(samples, rate, EXCERPT_SECONDS, rng), key)
    nothing("other_key", marked, other[1])


def _measure_wer(
    measured: Measurements,
    entry: ManifestEntry,
    samples: Samples,
    rate: int,
    key: bytes,
    rng: np.random.Generator,
    transcriber: Transcriber | None,
) -> None:
    if transcriber is None or not entry.text or not entry.text.strip():
        return
    marked = embed(samples, rate, rng.bytes(PAYLOAD_BITS // 8), key)
    reference = normalise(entry.text)
    before = normalise(transcriber.transcribe(samples, rate).text)
    after = normalise(transcriber.transcribe(marked, rate).text)
    measured.unmarked_edits += align(reference, before)
    measured.marked_edits += align(reference, after)
    measured.reference_words += len(reference)
    measured.transcribed += 1


def exact_interval(successes: int, trials: int, level: float = LEVEL) -> list[float] | None:
    """Clopper-Pearson: never narrower than the truth allows, and still informative when
    every trial succeeded (N of N bounds the miss rate at about 3.7 / N)."""
    if not trials:
        return None
    tail = (1 - level) / 2
    low = 0.0 if successes == 0 else float(beta.ppf(tail, successes, trials - successes + 1))
    high = (
        1.0 if successes == trials else float(beta.ppf(1 - tail, successes + 1, trials - successes))
    )
    return [round(low, 4), round(high, 4)]


def bootstrap_interval(
    trials: Sequence[tuple[str, int, bool]], seed: int = 0, level: float = LEVEL
) -> list[float] | None:
    """Percentile interval of the rate when speakers and keys are both redrawn with
    replacement: a trial counts as often as its speaker times its key was drawn."""
    if not trials:
        return None
    speakers = sorted({speaker for speaker, _, _ in trials})
    keys = sorted({key for _, key, _ in trials})
    speaker_of = np.searchsorted(speakers, [speaker for speaker, _, _ in trials])
    key_of = np.searchsorted(keys, [key for _, key, _ in trials])
    hit = np.array([ok for _, _, ok in trials], dtype=np.float64)
    rng = np.random.default_rng([seed, 28])
    speaker_counts = rng.multinomial(
        len(speakers), np.full(len(speakers), 1 / len(speakers)), REPLICATES
    )
    key_counts = rng.multinomial(len(keys), np.full(len(keys), 1 / len(keys)), REPLICATES)
    weights = speaker_counts[:, speaker_of] * key_counts[:, key_of]
    total = weights.sum(axis=1)
    rates = (weights @ hit)[total > 0] / total[total > 0]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(rates, [tail, 100 - tail])
    return [round(float(low), 4), round(float(high), 4)]


def summarise(
    measured: Measurements,
    asr_model: str | None,
    seed: int = 0,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    snr = np.array(measured.snr_db)
    copies = len(measured.snr_db)
    unmarked_wer = word_error_rate(measured.unmarked_edits.errors, measured.reference_words)
    marked_wer = word_error_rate(measured.marked_edits.errors, measured.reference_words)
    positives = {name: tally.record(seed) for name, tally in measured.false_positives.items()}
    # A false positive is any payload read where none was marked under the key read.
    found = sum(tally.wrong_payload for tally in measured.false_positives.values())
    trials = sum(tally.n for tally in measured.false_positives.values())
    return {
        "payload_bits": PAYLOAD_BITS,
        **(options or {}),
        "clips": measured.clips,
        "speakers": len(measured.speakers),
        "copies": copies,
        "too_short": measured.too_short,
        "conditions": {name: tally.record(seed) for name, tally in measured.conditions.items()},
        "false_positives": {
            **{name: figures["wrong_payload"] for name, figures in positives.items()},
            "trials": trials,
            "rate": fraction(found, trials),
            "exact_interval": exact_interval(found, trials),
        },
        "mark_snr_db": {
            "mean": round(float(snr.mean()), 2) if copies else None,
            "median": round(float(np.median(snr)), 2) if copies else None,
            "min": round(float(snr.min()), 2) if copies else None,
        },
        "embed_rtf": real_time_factor(measured.embed_seconds, measured.audio_seconds),
        "identify_seconds_mean": round(float(np.mean(measured.identify_seconds)), 4)
        if measured.identify_seconds
        else None,
        "wer": {
            "model": asr_model,
            "clips": measured.transcribed,
            "reference_words": measured.reference_words,
            "unmarked": unmarked_wer,
            "marked": marked_wer,
            "change": None
            if unmarked_wer is None or marked_wer is None
            else marked_wer - unmarked_wer,
        },
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = [
        f"{result['copies']} marked copies of {result['clips']} clips ({result['speakers']} "
        f"speakers) of at least {result.get('min_seconds', MIN_SECONDS):g} s under "
        f"{result.get('keys', 1)} keys ({result['too_short']} shorter skipped), "
        f"{result['payload_bits']}-bit payload",
    ]
    if result.get("candidates"):
        lines.append(
            f"identified among {result['candidates']} issued codes (thresholds "
            f"{' then '.join(str(t) for t in result['match_thresholds'])}), then blind; "
            "_codebook and _blind alone"
        )
    for name, figures in result["conditions"].items():
        exact, boot = figures["exact_interval"], figures["bootstrap_interval"]
        lines.append(
            f"  {name:32s} identified {percent(figures['accuracy']):>8s} "
            f"({figures['identified']}/{figures['n']}, 95 % {_span(exact)} exact, "
            f"{_span(boot)} over speakers and keys), missed {figures['missed']}, "
            f"wrong payload {figures['wrong_payload']}"
        )
    positives = result["false_positives"]
    named = ", ".join(
        f"{count} {name.replace('_', ' ')}"
        for name, count in positives.items()
        if name not in ("trials", "rate", "exact_interval")
    )
    lines.append(
        f"false positives {named}, of {positives['trials']} trials "
        f"(95 % {_span(positives['exact_interval'])})"
    )
    snr = result["mark_snr_db"]
    lines.append(
        f"mark SNR {snr['mean']} dB mean, {snr['min']} dB min; embed RTF {result['embed_rtf']}; "
        f"identify {result['identify_seconds_mean']} s per copy"
    )
    wer = result["wer"]
    if wer["clips"]:
        lines.append(
            f"WER {percent(wer['unmarked'])} unmarked, {percent(wer['marked'])} marked "
            f"over {wer['clips']} clips ({wer['reference_words']} words)"
        )
    return lines


def _span(interval: list[float] | None) -> str:
    return "n/a" if interval is None else f"{percent(interval[0])}-{percent(interval[1])}"
