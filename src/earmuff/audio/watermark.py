"""An inaudible watermark naming who was served a stream, recoverable from a leaked copy.

The mark lives in the loudness of time-frequency tiles: 32 ms by one of 16 mel-spaced
bands between 250 and 3400 Hz, the part of speech a telephone keeps. Each tile's log
energy is nudged onto one of two interleaved lattices (quantisation index modulation)
whose offsets a secret key draws per tile, and the lattice chosen is one coded bit. The
nudge is a gain on the tile, so the mark is the speech itself made a fraction of a
decibel louder or softer: it follows the local spectrum in time and frequency, which is
what keeps it inaudible, and with a lattice step of 0.4 nats of power it stays about 24
dB below the speech (``earmuff eval watermark`` measures it).

Why quantisation rather than an added spread-spectrum signal: a spread-spectrum mark
competes with the speech it rides on, and at 25 dB below speech three seconds cannot
carry 64 bits through it. A tile's lattice position does not compete with the speech,
only with what the leak added (codec noise, background noise), and a gain the leak
applied shifts every tile alike, which the detector estimates and removes.

A frame of 87 blocks (2.784 s) holds 1392 tiles; the payload plus a CRC-16 are
convolutionally coded (rate 1/3) and spread over them by a keyed interleaver, and the
frame repeats for the whole stream. Any excerpt longer than a frame therefore holds
every tile of it, in some rotation, and a longer copy holds every tile several times:
the detector sums the soft evidence of all repetitions before one Viterbi decoding. It
tries every rotation and every start offset (2-sample steps at 8 kHz) by an FFT over the
frame, keeps the alignments whose tiles sit closest to a lattice, decodes by Viterbi,
and reports a payload only if the CRC agrees: unmarked audio, or a mark made under
another key, gives None.

Both the alignment search and the decoder weigh a tile by what it can still say after
the leak, from one noise model (:func:`_tile_variance`): a tile's lattice phase survives
noise of variance v with amplitude exp(-8 pi^2 v / step^2), so a tile ten times above
the noise floor says almost nothing and one a thousand times above says a lot. The
search once weighed tiles by a saturating curve that counted both about alike; after 8
kHz, noise and Vorbis the noisy tiles then drowned the true alignment's score among the
11,136 tried, and most copies that were missed were missed there, with a payload the
decoder would have read (docs/research/watermark-robustness.md).

Six decoding hypotheses meet one CRC-16, so unmarked audio passes by chance about once
in 10,000 copies examined; a false accusation further needs that random 48-bit value to
be a code the server issued.

The server knows every code it issued, so a leaked copy is first matched among them
(:func:`identify_among`): every issued code is encoded as the embedder would, and scored
by the correlation of its coded bits with the soft evidence of the best 32 alignments,
then, if none stands out, of the best 256. That is maximum-likelihood choice among N
codewords, which survives coded bit error rates at which Viterbi decoding behind a CRC
fails; thresholds from Hoeffding's bound, the number of candidates and of hypotheses
keep the chance that any wrong code is named below one in a million per copy, both
stages together, up to a million codes. Blind decoding remains for copies whose
code is in no log (``earmuff watermark embed``).

Everything runs at 8 kHz: the input is resampled there, the mark is computed there and
resampled back, so any sample rate the pipeline produces is served and any rate a leak
comes in is read.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import gcd
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import resample_poly

from earmuff.audio.convolutional import ConvolutionalCode

Samples = np.ndarray[Any, np.dtype[np.float32]]
_Array = np.ndarray[Any, np.dtype[Any]]

PAYLOAD_BYTES = 6
PAYLOAD_BITS = 8 * PAYLOAD_BYTES
"""48 bits: what three seconds reliably carry through telephone noise. The server
draws a random mark code of this size per stream and keeps who and which lease it
names in the audit log, so the payload itself names no one."""
MARK_RATE = 8_000
FRAME_SECONDS = 87 * 4 * 64 / MARK_RATE
"""2.784 s: a leaked excerpt at least this long (plus a few milliseconds) holds a whole
frame; three seconds is the shortest copy the detector is specified for."""

_WINDOW = 256
_HOP = 64
_BAND_EDGES = np.array((8, 11, 14, 18, 21, 26, 30, 35, 41, 47, 53, 61, 69, 77, 87, 97, 109))
"""FFT bins (31.25 Hz each) bounding 16 mel-spaced bands from 250 to 3400 Hz."""
_BANDS = len(_BAND_EDGES) - 1
_BLOCK_HOPS = 4
_FRAME_BLOCKS = 87
_STEP = 0.4
"""Lattice step in natural-log units of tile power: each tile moves by at most 0.2
(0.87 dB), 0.1 on average."""
_EMBED_PASSES = 3
_SYNC_STEP = 2
_CANDIDATES = 3
_FLOOR_PERCENTILE = 20
_FIT_WEIGHT_KNEE = 10.0
_TILE_NOISE = 1.08
"""Variance of a tile's log energy per unit of inverse local SNR, times its bin count."""
_CODEC_NOISE = 0.05
"""Standard deviation a lossy codec adds to every tile's log energy, however loud: what
Vorbis at its default quality on 8 kHz speech leaves (0.045 measured on the strong tiles
of the tuning speakers; MP3 at 64 kbit/s leaves 0.03)."""
_LLR_LIMIT = 8.0
_CRC_BITS = 16
_CODE = ConvolutionalCode()
_WINDOW_SHAPE = np.sqrt(np.hanning(_WINDOW + 1)[:-1])
MATCH_ALIGNMENTS = 32
"""Alignments scored per candidate in the first stage (two hypotheses each). More
recover copies whose true alignment ranks low in the sync search, but each doubling
adds about 0.1 to the threshold, so the first stage stays narrow and a second, wider
one runs only when the first names no one."""
WIDE_ALIGNMENTS = 256
"""Alignments scored per candidate in the second stage: a copy whose sync peak was
outranked by chance peaks (one of the tuning speakers' copies had its true alignment
91st) is still matched, at a threshold raised for the wider search."""
MATCH_FALSE_POSITIVE = 1e-6
"""Chance per copy examined that some wrong candidate reaches the threshold, over both
stages: the narrow stage spends nine tenths of it, the wide stage the rest, so the
narrow stage's threshold rises by only 0.01 for the second stage's sake."""
MATCH_STAGES = (
    (MATCH_ALIGNMENTS, 0.9 * MATCH_FALSE_POSITIVE),
    (WIDE_ALIGNMENTS, 0.1 * MATCH_FALSE_POSITIVE),
)
"""(alignments, false-positive budget) of each stage, tried in turn."""
MATCH_MARGIN = 1.0
"""How far the best candidate must stand above the next, in the same units."""
_SCORE_CHUNK = 65_536
_AFFINE: list[tuple[_Array, _Array]] = []


@dataclass(frozen=True)
class Detection:
    """A payload read back from audio, and how sure the detector is of it."""

    payload: bytes
    sync_score: float
    """How far the best alignment's tiles stand from chance, in standard deviations of
    unmarked audio (whose best alignment is rarely above 5)."""
    agreement: float
    """Share of the soft evidence (weighted by confidence) that agrees with the decoded
    codeword: about 0.5 for noise, near 1 for a clean copy."""


def embed(samples: Samples, rate: int, payload: bytes, key: bytes) -> Samples:
    """``samples`` with ``payload`` marked in, same length and rate, float32 in [-1, 1].

    Deterministic: the same audio, payload and key give the same output.
    """
    _check_audio(samples, rate)
    _check_key(key)
    if len(payload) != PAYLOAD_BYTES:
        raise ValueError(f"the payload must be {PAYLOAD_BYTES} bytes, not {len(payload)}")
    host = samples.astype(np.float64)
    narrow = _resample(host, rate, MARK_RATE)
    layout = _Layout.from_key(key)
    marked = _embed_narrowband(narrow, _coded_bits(payload), layout)
    mark = _resample(marked - narrow, MARK_RATE, rate)
    mark = np.pad(mark, (0, max(0, len(host) - len(mark))))[: len(host)]
    out: Samples = np.clip(host + mark, -1.0, 1.0).astype(np.float32)
    return out


def identify(samples: Samples, rate: int, key: bytes) -> Detection | None:
    """The payload marked in ``samples`` under ``key``, or None if none is found."""
    found = evidence(samples, rate, key, _CANDIDATES)
    return None if found is None else decode(found)


@dataclass(frozen=True)
class Evidence:
    """What a copy says about its coded bits under each hypothesis (an alignment, and
    which half of the lattice offset), best alignment first: computed once, it serves
    both the blind decoder and the choice among issued codes."""

    soft: _Array
    """Log-likelihood ratios of the coded bits, one row per hypothesis, repetitions
    summed (positive means a coded 0)."""
    sync: _Array
    """Sync score of each row's alignment."""


def evidence(
    samples: Samples, rate: int, key: bytes, alignments: int = WIDE_ALIGNMENTS
) -> Evidence | None:
    """The soft evidence of ``samples`` under ``key`` at its ``alignments`` best
    alignments; None if the audio is shorter than a block."""
    _check_audio(samples, rate)
    _check_key(key)
    narrow = _resample(samples.astype(np.float64), rate, MARK_RATE)
    found = _hypotheses(narrow, _Layout.from_key(key), alignments)
    return None if found is None else Evidence(soft=found[0], sync=found[1])


def decode(found: Evidence) -> Detection | None:
    """The blind reading: Viterbi on the hypotheses of the best ``_CANDIDATES``
    alignments, the first whose payload passes the CRC. Only those few, whatever
    ``found`` holds, so that the false-positive rate stays one in about 10,000."""
    candidates = found.soft[: 2 * _CANDIDATES]
    decoded = _CODE.decode(candidates, PAYLOAD_BITS + _CRC_BITS)
    for row, bits in enumerate(decoded):
        payload = np.packbits(bits[:PAYLOAD_BITS]).tobytes()
        if np.array_equal(bits[PAYLOAD_BITS:], _crc_bits(payload)):
            return Detection(
                payload=payload,
                sync_score=round(float(found.sync[row]), 2),
                agreement=round(_agreement(candidates[row], payload), 3),
            )
    return None


def _hypotheses(narrow: _Array, layout: _Layout, count: int) -> tuple[_Array, _Array] | None:
    """Soft coded bits for the ``count`` best alignments, each under both halves of the
    lattice offset, and the sync score of each row."""
    alignments = _alignments(narrow, layout)
    if not alignments:
        return None
    scores = np.concatenate([alignment.scores for alignment in alignments])
    best = np.argsort(-np.abs(scores))[:count]
    soft: list[_Array] = []
    for index in best:
        alignment = alignments[index // _FRAME_BLOCKS]
        rotation = int(index % _FRAME_BLOCKS)
        offset = float(np.angle(alignment.scores[rotation])) * _STEP / (4 * np.pi)
        bits = alignment.soft_bits(layout, rotation, offset)
        # The offset is known modulo half a step, and half a step further every
        # tile's lattice swaps: the other hypothesis is the same evidence negated.
        soft.extend((bits, -bits))
    return np.array(soft), np.repeat(np.abs(scores[best]), 2)


@dataclass(frozen=True)
class Match:
    """The issued code a copy was matched to, and by how much it beat the rest."""

    payload: bytes
    index: int
    """Position of the payload among the candidates."""
    score: float
    """The payload's correlation with the copy's soft evidence, in standard deviations
    of a wrong code's: a wrong code scores about N(0, 1)."""
    runner_up: float
    """The best score of any other candidate."""
    threshold: float
    """What any candidate had to reach, for this many candidates and hypotheses."""
    sync_score: float


class Codebook:
    """Candidate payloads as the signs of their coded bits, encoded once and scored
    against many copies.

    The embedder's code is affine in the payload bits (a CRC with a fixed initial value,
    then a terminated convolutional code), so the coded bits of every candidate are one
    matrix product modulo 2 away from its payload bits: a million candidates encode in
    seconds, where one-by-one encoding would take minutes.
    """

    def __init__(self, payloads: Sequence[bytes]) -> None:
        if any(len(payload) != PAYLOAD_BYTES for payload in payloads):
            raise ValueError(f"every candidate must be {PAYLOAD_BYTES} bytes")
        self.payloads = list(payloads)
        raw = np.frombuffer(b"".join(self.payloads), dtype=np.uint8)
        bits = np.unpackbits(raw).reshape(len(self.payloads), PAYLOAD_BITS)
        chunks = [
            _coded_signs(bits[start : start + _SCORE_CHUNK])
            for start in range(0, len(bits), _SCORE_CHUNK)
        ]
        coded = _CODE.coded_length(PAYLOAD_BITS + _CRC_BITS)
        self._signs = np.concatenate(chunks) if chunks else np.zeros((0, coded), np.int8)

    def __len__(self) -> int:
        return len(self.payloads)

    def best(self, soft: _Array) -> tuple[_Array, _Array]:
        """Every candidate's best normalised score over the hypotheses (rows of
        ``soft``), and which hypothesis gave it.

        The score is sum_j s_j x_j / sqrt(sum_j s_j^2), x_j = +1 for a coded 0 and -1
        for a coded 1: the log-likelihood of the candidate's codeword up to a constant,
        so the highest is the maximum-likelihood choice among them.
        """
        norm = np.sqrt(np.sum(soft**2, axis=1)) + 1e-12
        weights = (soft / norm[:, None]).T.astype(np.float32)
        best = np.empty(len(self), dtype=np.float32)
        which = np.empty(len(self), dtype=np.int64)
        for start in range(0, len(self), _SCORE_CHUNK):
            scores = self._signs[start : start + _SCORE_CHUNK].astype(np.float32) @ weights
            which[start : start + len(scores)] = np.argmax(scores, axis=1)
            best[start : start + len(scores)] = scores.max(axis=1)
        return best, which


def identify_among(
    samples: Samples, rate: int, key: bytes, candidates: Sequence[bytes] | Codebook
) -> Match | None:
    """Which of ``candidates`` (the codes the server issued) is marked in ``samples``
    under ``key``, or None if none stands out.

    Choosing among N known codewords by maximum likelihood needs far less evidence than
    decoding 48 free bits that a CRC-16 must then confirm: a copy whose Viterbi path is
    wrong in a few places still correlates with its own codeword far above any other.
    """
    book = candidates if isinstance(candidates, Codebook) else Codebook(candidates)
    found = evidence(samples, rate, key)
    if found is None or len(book) == 0:
        return None
    return match(book, found)


def match(book: Codebook, found: Evidence, excluding: int | None = None) -> Match | None:
    """The candidate of ``book`` that :func:`choose` names for ``found``; ``excluding``
    drops one candidate, as if it had never been issued."""

    def scores(soft: _Array) -> tuple[_Array, _Array]:
        best, which = book.best(soft)
        if excluding is not None:
            best[excluding] = -np.inf
        return best, which

    chosen = choose(scores, found)
    if chosen is None:
        return None
    return Match(
        payload=book.payloads[chosen.index],
        index=chosen.index,
        score=round(chosen.score, 2),
        runner_up=round(chosen.runner_up, 2),
        threshold=round(chosen.threshold, 2),
        sync_score=round(float(found.sync[chosen.hypothesis]), 2),
    )


@dataclass(frozen=True)
class Choice:
    """Which candidate won, by how much, and under which hypothesis."""

    index: int
    score: float
    runner_up: float
    threshold: float
    hypothesis: int


Scorer = Callable[[_Array], tuple[_Array, _Array]]
"""Every candidate's best score over the rows of soft evidence given, and which row."""


def choose(scores: Scorer, found: Evidence) -> Choice | None:
    """The winning candidate of the first stage of :data:`MATCH_STAGES` that names one.

    Each stage scores the candidates over the hypotheses of its best alignments and
    decides at its own threshold; the stages' false-positive budgets add up to
    :data:`MATCH_FALSE_POSITIVE`, so trying the wide stage after the narrow one costs a
    copy that the narrow stage names nothing.
    """
    for alignments, false_positive in MATCH_STAGES:
        soft = found.soft[: 2 * alignments]
        best, which = scores(soft)
        decided = decide(best, len(soft), false_positive)
        if decided is not None:
            index, score, runner_up, threshold = decided
            return Choice(index, score, runner_up, threshold, int(which[index]))
        if len(soft) == len(found.soft):
            break
    return None


def decide(
    best: _Array, hypotheses: int, false_positive: float = MATCH_FALSE_POSITIVE
) -> tuple[int, float, float, float] | None:
    """Index, score, runner-up's score and threshold of the winning candidate among the
    best scores ``best``, or None if none wins.

    The margin guards what the threshold cannot: two issued codes whose codewords are
    close would both score high on a copy of either.
    """
    if len(best) == 0:
        return None
    threshold = match_threshold(len(best), hypotheses, false_positive)
    order = np.argsort(-best)[:2]
    top = float(best[order[0]])
    runner_up = float(best[order[1]]) if len(order) > 1 else 0.0
    if not np.isfinite(top) or top < threshold or top - runner_up < MATCH_MARGIN:
        return None
    return int(order[0]), top, runner_up, threshold


def match_threshold(
    candidates: int, hypotheses: int, false_positive: float = MATCH_FALSE_POSITIVE
) -> float:
    """The normalised score that a wrong candidate reaches with probability below
    ``false_positive``, over all ``candidates`` x ``hypotheses`` trials.

    A wrong code is independent of the copy, so its score is a sum of the soft values
    with random signs, of variance 1 once normalised. Hoeffding's bound for such a sum,
    exp(-t^2 / 2), is the Gaussian tail but holds for any soft values; a union bound
    over every trial sets t = sqrt(2 ln(trials / p)): 7.37 for 10,000 candidates and 64
    hypotheses, 7.97 for a million. The coded bits of a random code are uniform and
    pairwise independent rather than independent, so the bound is checked empirically
    (docs/research/watermark-robustness.md).
    """
    trials = max(candidates, 1) * max(hypotheses, 1)
    return float(np.sqrt(2 * np.log(trials / false_positive)))


def mark_snr_db(original: Samples, marked: Samples) -> float:
    """Power of the speech over power of the mark, in dB."""
    difference = marked.astype(np.float64) - original.astype(np.float64)
    noise = float(np.sum(difference**2))
    signal = float(np.sum(original.astype(np.float64) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(signal / noise)


@dataclass(frozen=True)
class _Layout:
    """What the key decides: each tile's lattice offset and which coded bit it carries."""

    dither: _Array
    coded_bit: _Array

    @classmethod
    def from_key(cls, key: bytes) -> _Layout:
        tiles = _FRAME_BLOCKS * _BANDS
        dither = _keystream(key, b"dither", tiles).reshape(_FRAME_BLOCKS, _BANDS) * _STEP
        order = np.argsort(_keystream(key, b"interleave", tiles), kind="stable")
        coded_bit = np.empty(tiles, dtype=np.int64)
        coded_bit[order] = np.arange(tiles) % _CODE.coded_length(PAYLOAD_BITS + _CRC_BITS)
        return cls(dither=dither, coded_bit=coded_bit.reshape(_FRAME_BLOCKS, _BANDS))


@dataclass(frozen=True)
class _Alignment:
    """The tiles of the audio read from one start offset, and the lattice fit of every
    rotation of the frame against them."""

    tiles: _Array
    above_floor: _Array
    scores: _Array

    def soft_bits(self, layout: _Layout, rotation: int, offset: float) -> _Array:
        """Log-likelihood ratios of every coded bit, summed over every repetition."""
        blocks = (np.arange(len(self.tiles)) + rotation) % _FRAME_BLOCKS
        residual = np.log(self.tiles + 1e-30) - offset - layout.dither[blocks]
        variance = _tile_variance(self.above_floor)
        llr = _lattice_likelihood(residual, variance) - _lattice_likelihood(
            residual - _STEP / 2, variance
        )
        llr = np.clip(llr, -_LLR_LIMIT, _LLR_LIMIT)
        coded = _CODE.coded_length(PAYLOAD_BITS + _CRC_BITS)
        return np.bincount(layout.coded_bit[blocks].ravel(), llr.ravel(), minlength=coded)


def _embed_narrowband(narrow: _Array, coded: _Array, layout: _Layout) -> _Array:
    """Move every tile's log energy to the nearest point of the lattice of its bit.

    The gains are applied in the STFT and the result re-measured: overlapping frames
    smear a gain into the neighbouring tiles, and a few passes correct for it.
    """
    spectrum = _stft(narrow)
    blocks = spectrum.shape[0] // _BLOCK_HOPS
    if blocks == 0:
        return narrow
    frame_block = np.arange(blocks) % _FRAME_BLOCKS
    bits = coded[layout.coded_bit[frame_block]]
    lattice = layout.dither[frame_block] + bits * (_STEP / 2)
    start = np.log(_block_tiles(_band_energy(spectrum))[:blocks] + 1e-30)
    target = start - _wrap(start - lattice)
    log_gain = np.zeros((spectrum.shape[0], _BANDS))
    marked = narrow
    for _ in range(_EMBED_PASSES):
        now = np.log(_block_tiles(_band_energy(_stft(marked)))[:blocks] + 1e-30)
        log_gain[: blocks * _BLOCK_HOPS] -= np.repeat(now - target, _BLOCK_HOPS, axis=0)
        gain = np.ones(spectrum.shape)
        gain[:, _BAND_EDGES[0] : _BAND_EDGES[-1]] = np.exp(
            np.repeat(log_gain, np.diff(_BAND_EDGES), axis=1) / 2
        )
        marked = _istft(spectrum * gain, len(narrow))
    return marked


def _alignments(narrow: _Array, layout: _Layout) -> list[_Alignment]:
    """Every start offset on a ``_SYNC_STEP`` grid within one block, scored against every
    rotation of the frame by one circular cross-correlation per offset."""
    reference = np.fft.fft(np.exp(-4j * np.pi * layout.dither / _STEP), axis=0)
    alignments = []
    for shift in range(0, _HOP, _SYNC_STEP):
        energies = _band_energy(_stft(narrow[shift:]))
        for phase in range(_BLOCK_HOPS):
            tiles = _block_tiles(energies[phase:])
            if len(tiles) == 0:
                continue
            floor = np.percentile(tiles, _FLOOR_PERCENTILE, axis=0) + 1e-30
            above = tiles / floor
            lattice = np.exp(4j * np.pi * np.log(tiles + 1e-30) / _STEP)
            for weight in _sync_weights(above):
                folded = np.zeros((_FRAME_BLOCKS, _BANDS), dtype=complex)
                np.add.at(folded, np.arange(len(tiles)) % _FRAME_BLOCKS, weight * lattice)
                correlation = np.fft.ifft(
                    reference * np.conj(np.fft.fft(np.conj(folded), axis=0)), axis=0
                )
                scale = np.sqrt(np.sum(weight**2) / 2) + 1e-12
                alignments.append(_Alignment(tiles, above, correlation.sum(axis=1) / scale))
    return alignments


def _sync_weights(above_floor: _Array) -> tuple[_Array, _Array]:
    """Two weightings of the tiles for the alignment search, each scored in standard
    deviations of chance so that the best few of both compete for the same few decoding
    hypotheses (and the false-positive rate does not grow).

    The first is matched to the noise model: it wins when noise was added (a phone, a
    noisy room) and only loud tiles keep their lattice phase. The second saturates
    above ten times the floor: it wins when a coarse codec's noise follows the signal,
    so that loud tiles are no more reliable than middling ones, which the additive model
    cannot see.
    """
    matched = np.exp(-8 * np.pi**2 * _tile_variance(above_floor) / _STEP**2)
    return matched, above_floor / (above_floor + _FIT_WEIGHT_KNEE)


def _tile_variance(above_floor: _Array) -> _Array:
    """Variance of each tile's log energy about its lattice point: the noise under the
    tile (falling as the tile stands further above the noise floor) plus the codec's."""
    noise: _Array = _TILE_NOISE / np.diff(_BAND_EDGES) / np.maximum(above_floor, 1e-6)
    return noise + _CODEC_NOISE**2


def _lattice_likelihood(residual: _Array, variance: _Array) -> _Array:
    """Log-likelihood of a residual from the nearest lattice points under Gaussian noise."""
    wrapped = _wrap(residual)
    terms = np.stack([-((wrapped + k * _STEP) ** 2) / (2 * variance) for k in (-1, 0, 1)])
    peak = terms.max(axis=0)
    likelihood: _Array = peak + np.log(np.exp(terms - peak).sum(axis=0))
    return likelihood


def _agreement(soft: _Array, payload: bytes) -> float:
    codeword = _coded_bits(payload)
    agree = np.sum(np.abs(soft) * ((soft < 0) == (codeword == 1)))
    return float(agree / (np.sum(np.abs(soft)) + 1e-12))


def _coded_bits(payload: bytes) -> _Array:
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    return _CODE.encode(np.concatenate([bits, _crc_bits(payload)]))


def _coded_signs(bits: _Array) -> _Array:
    """+1 for a coded 0, -1 for a coded 1, per row of payload bits: the embedder's
    codeword, from the affine map payload -> coded bits."""
    constant, linear = _affine_code()
    parity = (bits.astype(np.float32) @ linear + constant) % 2
    signs: _Array = (1 - 2 * parity).astype(np.int8)
    return signs


def _affine_code() -> tuple[_Array, _Array]:
    """Coded bits of the all-zero payload, and how each payload bit flips them."""
    if not _AFFINE:
        zero = _coded_bits(bytes(PAYLOAD_BYTES)).astype(np.float32)
        units = np.eye(PAYLOAD_BITS, dtype=np.uint8)
        flips = np.array([_coded_bits(np.packbits(unit).tobytes()) for unit in units])
        _AFFINE.append((zero, (flips != zero).astype(np.float32)))
    return _AFFINE[0]


def _crc_bits(payload: bytes) -> _Array:
    checksum = binascii.crc_hqx(payload, 0xFFFF).to_bytes(2, "big")
    return np.unpackbits(np.frombuffer(checksum, dtype=np.uint8))


def _keystream(key: bytes, label: bytes, count: int) -> _Array:
    """``count`` uniform numbers in [0, 1) from the key: SHAKE-256 rather than numpy's
    generators, whose streams numpy does not promise to keep across versions, so a mark
    made today is still found after an upgrade."""
    raw = hashlib.shake_256(b"earmuff watermark|" + label + b"|" + key).digest(4 * count)
    return np.frombuffer(raw, dtype="<u4").astype(np.float64) / 2**32


def _wrap(values: _Array) -> _Array:
    """Distance to the nearest multiple of the step, in [-step/2, step/2]."""
    return values - np.round(values / _STEP) * _STEP


def _stft(signal: _Array) -> _Array:
    padded = np.pad(signal, (_WINDOW, _WINDOW + _HOP))
    count = (len(padded) - _WINDOW) // _HOP + 1
    frames = sliding_window_view(padded, _WINDOW)[::_HOP][:count]
    return np.fft.rfft(frames * _WINDOW_SHAPE, axis=1)


def _istft(spectrum: _Array, length: int) -> _Array:
    """Weighted overlap-add; the square-root Hann pair sums to a constant at 75 % overlap."""
    frames = np.fft.irfft(spectrum, _WINDOW, axis=1) * _WINDOW_SHAPE
    overlap = _WINDOW // _HOP
    out = np.zeros((len(frames) + overlap - 1) * _HOP)
    for part in range(overlap):
        chunk = frames[:, part * _HOP : (part + 1) * _HOP].reshape(-1)
        out[part * _HOP : part * _HOP + len(chunk)] += chunk
    out *= _HOP / np.sum(_WINDOW_SHAPE**2)
    return out[_WINDOW : _WINDOW + length]


def _band_energy(spectrum: _Array) -> _Array:
    power = spectrum.real**2 + spectrum.imag**2
    cumulative = np.concatenate([np.zeros((len(power), 1)), np.cumsum(power, axis=1)], axis=1)
    bands: _Array = cumulative[:, _BAND_EDGES[1:]] - cumulative[:, _BAND_EDGES[:-1]]
    return bands


def _block_tiles(energies: _Array) -> _Array:
    blocks = len(energies) // _BLOCK_HOPS
    tiles: _Array = (
        energies[: blocks * _BLOCK_HOPS].reshape(blocks, _BLOCK_HOPS, _BANDS).sum(axis=1)
    )
    return tiles


def _resample(signal: _Array, rate: int, target: int) -> _Array:
    if rate == target:
        return signal
    common = gcd(rate, target)
    return np.asarray(resample_poly(signal, target // common, rate // common), dtype=np.float64)


def _check_audio(samples: Samples, rate: int) -> None:
    if samples.ndim != 1:
        raise ValueError("the watermark works on mono audio: pass a 1-D array")
    if rate < 1:
        raise ValueError(f"the sample rate must be positive, not {rate}")
    if not np.isfinite(samples).all():
        raise ValueError("the audio contains NaN or infinite samples")


def _check_key(key: bytes) -> None:
    if len(key) < 16:
        raise ValueError("the watermark key must be at least 16 bytes")
