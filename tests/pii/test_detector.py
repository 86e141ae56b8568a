"""PII as people say it: found in the transcript, masked by type, timed for the bleep."""

from __future__ import annotations

import pytest

from earmuff.pii import PiiDetector, Transcript, Word, audio_spans, mask
from earmuff.pii.recognizers import digit_runs


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector()


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [
        ("five five five two one nine four four three seven", "5552194437"),
        ("oh two double five one nine triple four", "025519444"),
        ("555-219-4437", "5552194437"),
        ("5, 5, 5, 2, 1, 9, 4.", "5552194"),
        ("eight hundred five five five twelve twelve", "8005551212"),
        ("twenty one forty seven", "2147"),
    ],
)
def test_spoken_and_written_digits_read_as_one_number(spoken: str, digits: str) -> None:
    assert [run[2] for run in digit_runs(spoken)] == [digits]


def test_ordinary_words_are_not_numbers() -> None:
    runs = [run[2] for run in digit_runs("oh no, one more time, I'm the one")]
    assert all(len(digits) < 4 for digits in runs)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "call jane at five five five two one nine four four three seven",
            "call [PERSON] at [PHONE_NUMBER]",
        ),
        ("email john dot smith at gmail dot com please", "email [EMAIL_ADDRESS] please"),
        ("send it to john.smith@example.co.uk", "send it to [EMAIL_ADDRESS]"),
        ("I live at twelve oak street", "I live at [STREET_ADDRESS]"),
        ("my pin is four four one two", "my pin is [NUMBER]"),
        ("Please call Robert Schmitt tomorrow", "Please call [PERSON] tomorrow"),
        ("what's the weather tomorrow", "what's the weather tomorrow"),
    ],
)
def test_findings_are_masked_by_type(detector: PiiDetector, text: str, masked: str) -> None:
    findings = detector.detect(text, known_names=["Jane"])
    assert mask(text, findings) == masked


def test_the_households_own_names_are_found_whatever_the_model_thinks(
    detector: PiiDetector,
) -> None:
    text = "tell goda dinner is ready"
    assert mask(text, detector.detect(text)) == text
    assert (
        mask(text, detector.detect(text, known_names=["Goda"])) == "tell [PERSON] dinner is ready"
    )


def test_a_wake_word_is_never_a_name(detector: PiiDetector) -> None:
    for text in ("Alexa, turn off the lights", "Wildfire, what time is it", "Onword call home"):
        findings = detector.detect(text, wake_words=["alexa", "wildfire", "onword"])
        assert not [f for f in findings if f.type == "PERSON"], text


def test_masked_words_map_to_their_times_for_the_bleep(detector: PiiDetector) -> None:
    words = [
        Word(" Please", 0.0, 0.2),
        Word(" ring", 0.2, 0.3),
        Word(" Jane", 0.35, 0.7),
        Word(" at", 0.75, 0.8),
        Word(" 555-219-4437.", 0.9, 2.6),
    ]
    transcript = Transcript.of(words)
    assert transcript.text == "Please ring Jane at 555-219-4437."
    findings = detector.detect(transcript.text, known_names=["Jane"])
    assert mask(transcript.text, findings) == "Please ring [PERSON] at [PHONE_NUMBER]."
    assert audio_spans(transcript, findings) == [(0.35, 0.7), (0.8, 2.6)]


def test_a_number_written_as_one_word_is_bleeped_from_its_neighbours(
    detector: PiiDetector,
) -> None:
    """Whisper times "2814892" from 2.57 s although "two, eight, one, four" came first
    (a development phone clip): the bleep must cover the time its neighbours leave."""
    alone = Transcript.of([Word(" 2814892", 2.57, 3.97)])
    assert audio_spans(alone, detector.detect(alone.text)) == [(0.0, 3.97)]
    between = Transcript.of(
        [Word(" call", 0.0, 0.3), Word(" 2814892", 2.57, 3.97), Word(" now", 4.4, 4.6)]
    )
    assert audio_spans(between, detector.detect(between.text)) == [(0.3, 4.4)]


def test_a_capitalised_word_the_recogniser_does_not_know_is_taken_for_a_name() -> None:
    from earmuff.speech.asr import common_words

    detector = PiiDetector(common_words=common_words("tiny.en"))
    for text, masked in [
        ("Alexa Vedanka Puska", "Alexa [PERSON]"),
        ("Paul Gagne", "[PERSON]"),
        ("Alexa, what's the weather in the Kitchen?", "Alexa, what's the weather in the Kitchen?"),
    ]:
        assert mask(text, detector.detect(text, wake_words=["alexa"])) == masked


@pytest.mark.parametrize(
    "spoken",
    [
        "5... 5... 5... 2... 1... 9... 4... 4... 3... 7",
        "5…5…5…2…1…9…4",
        "5-5-5-2-1-9-4",
        "5 5 5 2 1 9 4",
        "five five five, two one nine four",
        "five... five... five... two, one, nine, four",
        "(555) 219-4437",
    ],
)
def test_digits_however_punctuated_are_a_phone_number(detector: PiiDetector, spoken: str) -> None:
    text = f"call me on {spoken} tonight"
    assert mask(text, detector.detect(text)) == "call me on [PHONE_NUMBER] tonight"


def test_a_pause_in_ordinary_speech_does_not_make_a_number() -> None:
    runs = [run[2] for run in digit_runs("oh... no... one more time... one day")]
    assert all(len(digits) < 4 for digits in runs)
