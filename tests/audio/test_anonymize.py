"""McAdams anonymization: formants move, length and loudness stay, and it is fast."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from scipy.signal import lfilter, welch

from earmuff.audio.anonymize import (
    ChainAnonymizer,
    FormantWarpAnonymizer,
    McAdamsAnonymizer,
    SharpenAnonymizer,
    ShiftAnonymizer,
    _all_pole_rows,
    _by_rows,
    _overlap_add,
    _resynthesise,
    bilinear_warp,
    equalise_spectrum,
    lpc,
    mcadams,
    sharpen_formants,
    shift_voice,
    warp_formants,
    wsola_stretch,
)
from earmuff.audio.pitch import median_pitch
from tests.audio_samples import tone, voice

RATE = 16_000


def test_lpc_recovers_the_coefficients_of_a_known_all_pole_filter() -> None:
    rng = np.random.default_rng(0)
    true = np.array([1.0, -1.3, 0.8, -0.2])
    signal = lfilter([1.0], true, rng.standard_normal(20_000))
    estimated = lpc(signal[None, :], 3)[0]
    assert np.allclose(estimated, true, atol=0.02)


def test_alpha_one_changes_almost_nothing() -> None:
    speech = tone(1.0, RATE, seed=2)
    same = mcadams(speech, RATE, alpha=1.0)
    error = np.sqrt(np.mean((same - speech) ** 2)) / np.sqrt(np.mean(speech**2))
    assert error < 0.01


def spectral_centroid(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    freqs = np.fft.rfftfreq(len(samples), 1 / RATE)
    return float((spectrum * freqs).sum() / spectrum.sum())


def test_a_strong_alpha_moves_the_spectrum_and_keeps_length_and_level() -> None:
    speech = tone(2.0, RATE, seed=5)
    changed = mcadams(speech, RATE, alpha=0.6)
    assert changed.shape == speech.shape and changed.dtype == np.float32
    assert np.max(np.abs(changed)) <= np.max(np.abs(speech)) + 1e-6
    assert abs(spectral_centroid(changed) - spectral_centroid(speech)) > 100


def test_each_item_draws_its_own_alpha_from_the_configured_range() -> None:
    speech = tone(1.0, RATE, seed=1)
    anonymizer = McAdamsAnonymizer(0.5, 0.9)
    first = anonymizer.anonymize(speech, RATE, np.random.default_rng(1))
    again = anonymizer.anonymize(speech, RATE, np.random.default_rng(1))
    other = anonymizer.anonymize(speech, RATE, np.random.default_rng(2))
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)


def dominant_frequency(samples: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def sine(frequency: float, seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    times = np.arange(int(seconds * rate)) / rate
    wave: np.ndarray = 0.5 * np.sin(2 * np.pi * frequency * times)
    return wave.astype(np.float32)


def test_wsola_at_factor_one_gives_the_clip_back() -> None:
    speech = tone(1.0, RATE, seed=3)
    same = wsola_stretch(speech, 1.0, RATE)
    assert np.sqrt(np.mean((same - speech) ** 2)) < 0.01 * np.sqrt(np.mean(speech**2))


def test_wsola_changes_length_not_pitch() -> None:
    for factor in (0.8, 1.25):
        stretched = wsola_stretch(sine(220.0), factor, RATE)
        assert len(stretched) == round(RATE * factor)
        assert abs(dominant_frequency(stretched) - 220.0) < 5


def test_shift_voice_moves_pitch_by_the_factor_and_keeps_length() -> None:
    for factor in (0.8, 1.2):
        shifted = shift_voice(sine(300.0), RATE, factor)
        assert shifted.shape == (RATE,) and shifted.dtype == np.float32
        assert abs(dominant_frequency(shifted) - 300.0 * factor) < 6


def long_term_db(samples: np.ndarray) -> np.ndarray:
    frames = samples[: len(samples) // 512 * 512].reshape(-1, 512) * np.hanning(512)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
    bands = power[8:200].reshape(8, -1).mean(axis=1)  # 250 Hz to 6.25 kHz in eight bands
    db: np.ndarray = 10 * np.log10(bands)
    centred: np.ndarray = db - db.mean()
    return centred


def test_equalisation_gives_differently_coloured_clips_one_long_term_spectrum() -> None:
    noise = np.random.default_rng(0).standard_normal(2 * RATE)
    dull = lfilter([1.0], [1.0, -0.9], noise)  # strong low-pass
    bright = lfilter([1.0, -0.9], [1.0], noise)  # strong high-pass
    dull, bright = (0.3 * x / np.max(np.abs(x)) for x in (dull, bright))
    before = np.abs(long_term_db(dull) - long_term_db(bright)).max()
    dull, bright = (equalise_spectrum(x, RATE, max_gain_db=40.0) for x in (dull, bright))
    after = np.abs(long_term_db(dull) - long_term_db(bright)).max()
    assert before > 20 and after < 0.5


def octave_bands_db(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """A clip's long-term spectrum from 250 Hz to 3.5 kHz in 16 bands even in octaves:
    each band's place in octaves above 250 Hz, and its level in dB."""
    frames = samples[: len(samples) // 256 * 256].reshape(-1, 256) * np.hanning(256)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
    frequencies = np.fft.rfftfreq(256, 1.0 / rate)
    edges = np.geomspace(250.0, 3_500.0, 17)
    octaves = np.log2(np.sqrt(edges[:-1] * edges[1:]) / 250.0)
    db = np.array(
        [
            10 * np.log10(power[(frequencies >= lo) & (frequencies < hi)].mean())
            for lo, hi in pairwise(edges)
        ]
    )
    return octaves, db


def bend_db(samples: np.ndarray, rate: int) -> float:
    """How far a clip's long-term spectrum strays from the straight line of a plain
    tilt: the colour's resonances."""
    octaves, db = octave_bands_db(samples, rate)
    line = np.polyval(np.polyfit(octaves, db, 1), octaves)
    return float(np.sqrt(np.mean((db - line) ** 2)))


def slope_db(samples: np.ndarray, rate: int) -> float:
    """The straight line's slope through a clip's long-term spectrum, dB per octave."""
    octaves, db = octave_bands_db(samples, rate)
    return float(np.polyfit(octaves, db, 1)[0])


def test_the_line_slopes_by_a_tilt_drawn_from_its_range() -> None:
    noise = (0.3 * np.random.default_rng(5).standard_normal(4 * 8_000)).astype(np.float32)
    for tilt in (-6.0, 6.0):
        fixed = ShiftAnonymizer(1.0, 1.0, tilt_low_db=tilt, tilt_high_db=tilt)
        assert slope_db(fixed.anonymize(noise, 8_000, np.random.default_rng(0)), 8_000) == (
            pytest.approx(tilt, abs=1.0)
        )
    ranged = ShiftAnonymizer(1.0, 1.0, tilt_low_db=-6.0, tilt_high_db=6.0)
    slopes = [
        slope_db(ranged.anonymize(noise, 8_000, np.random.default_rng(seed)), 8_000)
        for seed in range(12)
    ]
    assert min(slopes) > -7.0 and max(slopes) < 7.0
    assert max(slopes) - min(slopes) > 6.0, "each clip its own line"


def test_colour_bends_each_clips_spectrum_its_own_way() -> None:
    noise = (0.3 * np.random.default_rng(3).standard_normal(4 * 8_000)).astype(np.float32)
    plain = ShiftAnonymizer(1.0, 1.0)
    coloured = ShiftAnonymizer(1.0, 1.0, colour_db=12.0, colour_bands=6)
    straight = plain.anonymize(noise, 8_000, np.random.default_rng(0))
    first, second = (coloured.anonymize(noise, 8_000, np.random.default_rng(s)) for s in (0, 1))
    assert bend_db(straight, 8_000) < 0.5
    assert bend_db(first, 8_000) > 2.0 and bend_db(second, 8_000) > 2.0
    assert np.abs(long_term_db(first) - long_term_db(second)).max() > 3.0
    with pytest.raises(ValueError, match="colour_bands"):
        ShiftAnonymizer(colour_db=8.0, colour_bands=0)


def test_equalisation_leaves_silence_alone() -> None:
    silence = np.zeros(RATE, dtype=np.float32)
    assert np.array_equal(equalise_spectrum(silence, RATE), silence)
    assert shift_voice(np.zeros(0, dtype=np.float32), RATE, 1.2).shape == (0,)


def test_the_shift_anonymizer_draws_per_item_and_keeps_length_and_peak() -> None:
    speech = tone(1.0, 8_000, seed=4)
    anonymizer = ShiftAnonymizer(1.1, 1.25)
    first = anonymizer.anonymize(speech, 8_000, np.random.default_rng(1))
    again = anonymizer.anonymize(speech, 8_000, np.random.default_rng(1))
    other = anonymizer.anonymize(speech, 8_000, np.random.default_rng(2))
    assert first.shape == speech.shape and first.dtype == np.float32
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)
    assert np.max(np.abs(first)) <= np.max(np.abs(speech)) + 1e-6


def test_the_shift_anonymizer_always_moves_the_voice_by_its_range() -> None:
    speech = sine(200.0, rate=8_000)
    anonymizer = ShiftAnonymizer(1.1, 1.25)
    for seed in range(8):
        moved = dominant_frequency(
            anonymizer.anonymize(speech, 8_000, np.random.default_rng(seed)), 8_000
        )
        ratio = max(moved, 200.0) / min(moved, 200.0)
        assert 1.08 < ratio < 1.27


def test_with_a_pivot_low_voices_always_go_up_and_high_voices_down() -> None:
    anonymizer = ShiftAnonymizer(1.1, 1.25, colour_db=8.0, pivot_hz=160.0)
    low, high = voice(110.0, 8_000), voice(220.0, 8_000)
    for seed in range(6):
        raised = median_pitch(anonymizer.anonymize(low, 8_000, np.random.default_rng(seed)), 8_000)
        lowered = median_pitch(
            anonymizer.anonymize(high, 8_000, np.random.default_rng(seed)), 8_000
        )
        assert raised is not None and 110.0 * 1.08 < raised < 110.0 * 1.27
        assert lowered is not None and 220.0 / 1.27 < lowered < 220.0 / 1.08


def test_without_a_pivot_a_coin_sends_one_voice_both_ways() -> None:
    anonymizer = ShiftAnonymizer(1.1, 1.25)
    low = voice(110.0, 8_000)
    pitches = [
        median_pitch(anonymizer.anonymize(low, 8_000, np.random.default_rng(seed)), 8_000)
        for seed in range(8)
    ]
    assert any(p is not None and p > 110.0 for p in pitches)
    assert any(p is not None and p < 110.0 for p in pitches)


def test_a_clip_without_pitch_keeps_the_coin_under_a_pivot() -> None:
    noise = (0.1 * np.random.default_rng(0).standard_normal(8_000)).astype(np.float32)
    pivoted = ShiftAnonymizer(1.1, 1.25, pivot_hz=160.0)
    coin = ShiftAnonymizer(1.1, 1.25)
    for seed in range(3):
        assert np.array_equal(
            pivoted.anonymize(noise, 8_000, np.random.default_rng(seed)),
            coin.anonymize(noise, 8_000, np.random.default_rng(seed)),
        )


def test_the_shift_anonymizer_refuses_a_range_that_does_not_shift() -> None:
    with pytest.raises(ValueError, match="shift_low"):
        ShiftAnonymizer(0.9, 1.1)
    with pytest.raises(ValueError, match="tilt"):
        ShiftAnonymizer(tilt_low_db=3.0, tilt_high_db=-3.0)
    with pytest.raises(ValueError, match="pivot_hz"):
        ShiftAnonymizer(pivot_hz=-1.0)


def test_a_chain_applies_each_step_with_its_own_draw() -> None:
    speech = tone(1.0, 8_000, seed=5)
    shift, mcadams_step = ShiftAnonymizer(1.1, 1.25), McAdamsAnonymizer(0.7, 0.9)
    chain = ChainAnonymizer((shift, mcadams_step))
    chained = chain.anonymize(speech, 8_000, np.random.default_rng(3))
    by_hand_rng = np.random.default_rng(3)
    by_hand = mcadams_step.anonymize(
        shift.anonymize(speech, 8_000, by_hand_rng), 8_000, by_hand_rng
    )
    assert chain.name == "eq-shift+mcadams"
    assert chained.shape == speech.shape and chained.dtype == np.float32
    assert np.array_equal(chained, by_hand)
    assert not np.allclose(chained, shift.anonymize(speech, 8_000, np.random.default_rng(3)))


def test_a_reequalising_chain_ends_on_the_line_its_shift_drew() -> None:
    """The shift and the warp move the long-term spectrum that the first equalisation
    set; re-equalising is the plain chain's result brought to the same drawn line."""
    speech = tone(1.0, 8_000, seed=7)
    shift = ShiftAnonymizer(1.1, 1.3, colour_db=12.0, colour_bands=6)
    steps = (shift, FormantWarpAnonymizer(0.03, 0.12, order=24))
    settled = ChainAnonymizer(steps, reequalise=True)
    assert settled.name == "eq-shift+formant-warp+eq"
    after = settled.anonymize(speech, 8_000, np.random.default_rng(2))
    plain = ChainAnonymizer(steps).anonymize(speech, 8_000, np.random.default_rng(2))
    line, _factor = shift.draw(speech, 8_000, np.random.default_rng(2))
    assert after.shape == speech.shape and after.dtype == np.float32
    assert np.array_equal(after, line.apply(plain, 8_000))
    assert not np.allclose(after, plain)


def test_only_a_chain_that_starts_with_the_shift_can_reequalise() -> None:
    with pytest.raises(ValueError, match="eq-shift"):
        ChainAnonymizer((McAdamsAnonymizer(), ShiftAnonymizer()), reequalise=True)
    with pytest.raises(ValueError, match="at least one"):
        ChainAnonymizer(())


def test_the_bilinear_warp_keeps_the_band_edges_and_moves_formants_by_its_sign() -> None:
    angles = np.linspace(0.0, np.pi, 200)
    up, down = bilinear_warp(0.1)(angles), bilinear_warp(-0.1)(angles)
    assert np.allclose([up[0], up[-1], down[0], down[-1]], [0.0, np.pi, 0.0, np.pi])
    assert np.all(np.diff(up) > 0) and np.all(np.diff(down) > 0), "order is kept"
    assert np.all(up[1:-1] > angles[1:-1]) and np.all(down[1:-1] < angles[1:-1])
    assert up[1] / angles[1] == pytest.approx(1.1 / 0.9, rel=0.01)


def formant(samples: np.ndarray, rate: int) -> float:
    """The frequency of the strongest resonance of the clip's overall LPC filter."""
    a = lpc(samples[None, :].astype(np.float64), 4)[0]
    poles = np.roots(a)
    strongest = poles[np.argmax(np.abs(poles) * (poles.imag > 0))]
    return float(np.angle(strongest) * rate / (2 * np.pi))


def test_a_formant_warp_moves_the_resonance_and_leaves_the_pitch() -> None:
    rate = 8_000
    pulses = np.zeros(rate, dtype=np.float64)
    pulses[:: rate // 120] = 1.0  # a 120 Hz voice
    radius, centre = 0.97, 2 * np.pi * 700 / rate
    voice = lfilter([1.0], [1.0, -2 * radius * np.cos(centre), radius**2], pulses)
    voice = (0.5 * voice / np.max(np.abs(voice))).astype(np.float32)
    raised = warp_formants(voice, rate, bilinear_warp(0.08))
    lowered = warp_formants(voice, rate, bilinear_warp(-0.08))
    assert formant(raised, rate) > 1.1 * formant(voice, rate)
    assert formant(lowered, rate) < 0.9 * formant(voice, rate)
    period = lambda x: np.argmax(np.correlate(x, x, "full")[len(x) + 30 : len(x) + 120]) + 30  # noqa: E731
    assert period(raised) == period(voice) == period(lowered)


def test_the_formant_warp_anonymizer_draws_size_and_direction_per_item() -> None:
    speech = tone(1.0, 8_000, seed=6)
    anonymizer = FormantWarpAnonymizer(0.03, 0.08)
    outputs = [anonymizer.anonymize(speech, 8_000, np.random.default_rng(s)) for s in range(6)]
    assert all(o.shape == speech.shape and o.dtype == np.float32 for o in outputs)
    assert np.array_equal(outputs[0], anonymizer.anonymize(speech, 8_000, np.random.default_rng(0)))
    centroids = [spectral_centroid(o) for o in outputs]
    below = sum(c < spectral_centroid(speech) for c in centroids)
    assert 0 < below < len(outputs), "some items go down, some up"
    with pytest.raises(ValueError, match="beta_low"):
        FormantWarpAnonymizer(0.1, 0.05)
    with pytest.raises(ValueError, match="order"):
        FormantWarpAnonymizer(order=1)


def test_a_higher_order_warp_moves_more_of_the_voices_detail() -> None:
    """Above the formants' dozen poles, the rest fit finer detail of the voice's spectrum,
    which the warp then moves too: the same warp changes the clip further."""
    speech = tone(2.0, 8_000, seed=8)
    before = long_term_db(speech)

    def change(order: int) -> float:
        warped = warp_formants(speech, 8_000, bilinear_warp(0.1), order)
        return float(np.mean(np.abs(long_term_db(warped) - before)))

    assert change(28) > change(12)


def two_formant_voice(rate: int = 8_000) -> np.ndarray:
    """Noise through resonances at 700 and 1,800 Hz: two formants with a valley between."""
    a = np.array([1.0])
    for hz in (700, 1_800):
        radius, centre = 0.9, 2 * np.pi * hz / rate
        a = np.convolve(a, [1.0, -2 * radius * np.cos(centre), radius**2])
    voice = lfilter([1.0], a, np.random.default_rng(1).standard_normal(2 * rate))
    return (0.5 * voice / np.max(np.abs(voice))).astype(np.float32)


def spectrum_db(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies from 200 Hz to 3.6 kHz and the clip's long-term power there, in dB."""
    freqs, power = welch(samples, rate, nperseg=512)
    kept = (freqs > 200) & (freqs < 3_600)
    return freqs[kept], 10 * np.log10(power[kept])


def contrast_db(samples: np.ndarray, rate: int) -> float:
    """How far the long-term spectrum strays from its straight-line tilt: peaks and valleys."""
    freqs, db = spectrum_db(samples, rate)
    return float(np.std(db - np.polyval(np.polyfit(freqs, db, 1), freqs)))


def test_sharpening_with_equal_factors_gives_the_clip_back() -> None:
    speech = two_formant_voice()
    assert np.allclose(sharpen_formants(speech, 8_000, poles=0.6, zeros=0.6), speech, atol=1e-6)


def test_sharpening_deepens_the_valley_between_formants_and_keeps_them_in_place() -> None:
    rate = 8_000
    speech = two_formant_voice(rate)
    sharper = [sharpen_formants(speech, rate, poles, zeros=0.55) for poles in (0.7, 0.8, 0.9)]
    contrasts = [contrast_db(clip, rate) for clip in (speech, *sharper)]
    assert contrasts == sorted(contrasts), "the further the poles from the zeros, the sharper"

    def valley(samples: np.ndarray) -> float:
        freqs, db = spectrum_db(samples, rate)
        at = lambda hz: db[np.argmin(np.abs(freqs - hz))]  # noqa: E731
        return float(min(at(700), at(1_800)) - at(1_200))

    assert valley(sharper[-1]) > valley(speech) + 2.0
    for clip in sharper:
        freqs, db = spectrum_db(clip, rate)
        low, high = freqs < 1_200, freqs > 1_200
        assert freqs[low][np.argmax(db[low])] == pytest.approx(700, rel=0.05)
        assert freqs[high][np.argmax(db[high])] == pytest.approx(1_800, rel=0.05)
        assert clip.shape == speech.shape and clip.dtype == np.float32
        assert np.max(np.abs(clip)) == pytest.approx(np.max(np.abs(speech)), rel=1e-5)


def test_the_sharpen_anonymizer_draws_its_strength_per_item() -> None:
    speech = tone(1.0, 8_000, seed=9)
    anonymizer = SharpenAnonymizer(0.6, 0.9)
    outputs = [anonymizer.anonymize(speech, 8_000, np.random.default_rng(s)) for s in range(3)]
    assert all(o.shape == speech.shape and o.dtype == np.float32 for o in outputs)
    assert np.array_equal(outputs[0], anonymizer.anonymize(speech, 8_000, np.random.default_rng(0)))
    assert not np.allclose(outputs[0], outputs[1]) and not np.allclose(outputs[1], outputs[2])
    poles = np.random.default_rng(0).uniform(0.6, 0.9)
    assert np.array_equal(outputs[0], sharpen_formants(speech, 8_000, poles, 0.55, 12))


@pytest.mark.parametrize(
    "settings",
    [
        {"poles_low": 0.9, "poles_high": 0.8},
        {"zeros": 0.75},
        {"poles_high": 1.0},
        {"zeros": 0.0},
    ],
)
def test_the_sharpen_anonymizer_refuses_factors_out_of_order(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"need 0 < zeros <= poles_low <= poles_high < 1"):
        SharpenAnonymizer(**settings)
    with pytest.raises(ValueError, match="order must be at least 2"):
        SharpenAnonymizer(order=1)


def test_the_frames_all_pole_synthesis_is_each_frames_own_filter_from_rest() -> None:
    """Every frame is resynthesised through its own warped filter at once, one sample
    step for all frames: the same numbers as filtering frame by frame."""
    rng = np.random.default_rng(3)
    frames = rng.standard_normal((40, 160))
    a = lpc(lfilter([1.0], [1.0, -1.6, 0.9], frames, axis=1), 12)
    expected = np.array(
        [lfilter([1.0], row, excitation) for row, excitation in zip(a, frames, strict=True)]
    )
    assert np.allclose(_all_pole_rows(a, frames), expected, rtol=1e-9, atol=1e-12)


def test_frames_shared_out_over_threads_come_back_in_order_and_unchanged() -> None:
    frames = np.random.default_rng(4).standard_normal((500, 160))
    warp = bilinear_warp(0.1)
    alone = _resynthesise(frames, warp, 24)
    assert np.array_equal(_by_rows(lambda rows: _resynthesise(rows, warp, 24), frames), alone)
    assert np.array_equal(_by_rows(lambda rows: rows[:, :3] * 2, frames[:5]), frames[:5, :3] * 2)


@pytest.mark.parametrize(("size", "hop"), [(8, 2), (8, 4), (10, 4)])
def test_overlap_add_sums_the_rows_laid_a_hop_apart(size: int, hop: int) -> None:
    frames = np.random.default_rng(5).standard_normal((7, size))
    expected = np.zeros(hop * 6 + size)
    for row, frame in enumerate(frames):
        expected[row * hop : row * hop + size] += frame
    summed = _overlap_add(frames, hop)
    assert np.allclose(summed[: len(expected)], expected, rtol=0, atol=1e-12)
    assert not summed[len(expected) :].any()
