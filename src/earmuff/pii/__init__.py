"""PII in transcripts: detection, typed masks, and the audio spans to bleep."""

from earmuff.pii.detector import Finding, PiiDetector
from earmuff.pii.redact import Transcript, Word, audio_spans, mask
from earmuff.speech.integrity import ModelIntegrityError

__all__ = [
    "Finding",
    "ModelIntegrityError",
    "PiiDetector",
    "Transcript",
    "Word",
    "audio_spans",
    "mask",
]
