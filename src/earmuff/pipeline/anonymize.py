"""Stage: the audio a reviewer will hear: PII bleeped, then the voice anonymized.

Bleeping comes first so that the anonymizer's smearing in time cannot carry a trace of
a masked word outside its tone. The coefficient is drawn per item from the operating
system's randomness: two items of one speaker get two different voices.
"""

from __future__ import annotations

import json

import numpy as np

from earmuff.audio import encode_wav
from earmuff.audio.anonymize import (
    Anonymizer,
    ChainAnonymizer,
    FormantWarpAnonymizer,
    McAdamsAnonymizer,
    SharpenAnonymizer,
    ShiftAnonymizer,
    Step,
)
from earmuff.audio.bleep import bleep
from earmuff.config.policy import AnonymizationPolicy
from earmuff.pipeline.redact import REDACTION
from earmuff.pipeline.stage import Outcome, Work

REVIEW_AUDIO = "review.wav"


def anonymizer_for(rules: AnonymizationPolicy) -> Anonymizer:
    """The anonymizer the policy names: the pipeline and ``earmuff eval`` build it here."""
    mcadams = McAdamsAnonymizer(rules.alpha_low, rules.alpha_high)
    shift = ShiftAnonymizer(
        rules.shift_low,
        rules.shift_high,
        tilt_low_db=rules.tilt_low_db,
        tilt_high_db=rules.tilt_high_db,
        colour_db=rules.colour_db,
        colour_bands=rules.colour_bands,
        pivot_hz=rules.pivot_hz,
    )
    warp = FormantWarpAnonymizer(rules.warp_low, rules.warp_high, rules.warp_order)
    sharpen = SharpenAnonymizer(rules.sharpen_low, rules.sharpen_high, rules.sharpen_zeros)
    steps: dict[str, Step] = {
        "mcadams": mcadams,
        "eq-shift": shift,
        "formant-warp": warp,
        "sharpen": sharpen,
    }
    chain = tuple(steps[name] for name in rules.method.split("+"))
    if len(chain) == 1 and not rules.reequalises:
        return chain[0]
    return ChainAnonymizer(chain, reequalise=rules.reequalises)


class AnonymizeStage:
    name = "anonymize"

    def __init__(self, anonymizer: Anonymizer) -> None:
        self.anonymizer = anonymizer

    def run(self, work: Work) -> Outcome:
        redaction = json.loads(work.load(REDACTION) or b"null")
        if redaction is None:
            raise LookupError("the redaction is missing: run the pii stage first")
        audio = work.audio
        spans = [tuple(span) for span in redaction["spans"]]
        padding = work.policy.pii.bleep_padding_s
        bleeped = bleep(audio.samples, audio.sample_rate, spans, pad_s=padding)
        voice = self.anonymizer.anonymize(bleeped, audio.sample_rate, np.random.default_rng())
        work.save(REVIEW_AUDIO, encode_wav(voice, audio.sample_rate))
        return Outcome.go("anonymized", method=self.anonymizer.name, bleeped_spans=len(spans))
