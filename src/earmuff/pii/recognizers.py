"""Recognizers for PII as people say it, each a small class behind Presidio's interface.

Speech differs from text: numbers come as words ("five five five, double two"), e-mail
addresses as "john at gmail dot com". Names the device already knows and names spelled
letter by letter have their own recognizers in :mod:`earmuff.pii.names`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

DIGITS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "two": "2", "three": "3",
    "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "niner": "9",
}  # fmt: skip
TEENS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}  # fmt: skip
TENS = {
    "twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6", "seventy": "7",
    "eighty": "8", "ninety": "9",
}  # fmt: skip
REPEATS = {"double": 2, "triple": 3}
PUNCTUATION = {"-", ",", ".", "\u2026", "/", "(", ")"}
"""What Whisper writes between digits: "5... 5... 5", "555-219", "(555) 219"."""
JOINERS = {*PUNCTUATION, "dash", "hyphen", "and"}
_TOKEN = re.compile(r"\d+|[A-Za-z]+|[-,.\u2026/()]")


def digit_runs(text: str) -> Iterator[tuple[int, int, str]]:
    """Maximal runs of spoken or written digits: ``(start, end, digits)`` in characters.

    "oh two double five, twenty one" gives "0255" + "21" = "025521", and "5... 5... 5"
    gives "555": any run of punctuation between digits joins them. A lone "o"/"oh"
    or "one" in ordinary speech ("oh no", "one more") never makes a run long enough
    to matter: callers keep runs of four digits or more.
    """
    tokens = [(m.start(), m.end(), m.group().lower()) for m in _TOKEN.finditer(text)]
    index = 0
    while index < len(tokens):
        digits, start, end, repeat = "", -1, -1, 1
        cursor = index
        while cursor < len(tokens):
            s, e, word = tokens[cursor]
            following = tokens[cursor + 1][2] if cursor + 1 < len(tokens) else ""
            if word.isdigit():
                piece = word * repeat if len(word) == 1 else word
            elif word in DIGITS:
                piece = DIGITS[word] * repeat
            elif word in TEENS:
                piece = TEENS[word]
            elif word in TENS:
                piece = TENS[word] + DIGITS.get(following, "0")
                if following in DIGITS and following not in ("o", "oh"):
                    cursor += 1
                    e = tokens[cursor][1]
            elif word == "hundred" and digits:
                piece = "00"
            elif word in REPEATS and _is_number_word(following):
                repeat = REPEATS[word]
                start = s if start < 0 else start
                cursor += 1
                continue
            elif word in JOINERS and digits:
                ahead = cursor + 1
                while ahead < len(tokens) and tokens[ahead][2] in PUNCTUATION:
                    ahead += 1
                if ahead == len(tokens) or not _is_number_word(tokens[ahead][2]):
                    break
                cursor = ahead
                continue
            else:
                break
            repeat = 1
            digits += piece
            start = s if start < 0 else start
            end = e
            cursor += 1
        if digits:
            yield start, end, digits
        index = max(cursor, index + 1)


def _is_number_word(word: str) -> bool:
    return word.isdigit() or word in DIGITS or word in TEENS or word in TENS or word in REPEATS


class SpokenNumberRecognizer(EntityRecognizer):
    """Digit sequences, spoken or written: seven or more are a phone number, four to six
    an account, card or PIN fragment (``NUMBER``)."""

    def __init__(self, phone_digits: int = 7, min_digits: int = 4) -> None:
        self.phone_digits = phone_digits
        self.min_digits = min_digits
        super().__init__(
            supported_entities=["PHONE_NUMBER", "NUMBER"], name="SpokenNumberRecognizer"
        )

    def load(self) -> None:
        """Nothing to load: the rules are the code."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for start, end, digits in digit_runs(text):
            if len(digits) < self.min_digits:
                continue
            entity = "PHONE_NUMBER" if len(digits) >= self.phone_digits else "NUMBER"
            if entity in entities:
                results.append(RecognizerResult(entity, start, end, 0.9))
        return results


_WORD = r"[a-z0-9]+"
_SEPARATOR = r"(?:\s+(?:dot|underscore|dash|hyphen)\s+|[._-])"
_DOMAIN_END = r"(?:com|org|net|edu|gov|io|co|uk|de|fr|us|info|biz|me|ai|ca|au)"


class SpokenEmailRecognizer(PatternRecognizer):
    """'john dot smith at example dot co dot uk' as well as 'john.smith@example.co.uk'."""

    def __init__(self) -> None:
        pattern = (
            rf"\b{_WORD}(?:{_SEPARATOR}{_WORD})*\s*(?:\bat\b|@)\s*{_WORD}"
            rf"(?:{_SEPARATOR}{_WORD})*(?:\s+dot\s+|\.){_DOMAIN_END}\b"
        )
        super().__init__(
            supported_entity="EMAIL_ADDRESS",
            name="SpokenEmailRecognizer",
            patterns=[Pattern("spoken e-mail", pattern, 0.85)],
        )


_STREET_TYPES = (
    "street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|court|ct|way|place|pl|"
    "terrace|close|crescent|square|parkway|highway|circle"
)
_NUMBER_WORDS = "|".join([*DIGITS, *TEENS, *TENS, "hundred", "thousand"])


class StreetAddressRecognizer(PatternRecognizer):
    """'twelve oak street', '221 b baker street', 'forty two wallaby way'."""

    def __init__(self) -> None:
        number = rf"(?:\d+[a-z]?|(?:(?:{_NUMBER_WORDS})[\s-]*)+)"
        pattern = rf"\b{number}\s+(?:[a-z]\s+)?(?:[a-z]+\s+){{1,3}}(?:{_STREET_TYPES})\b"
        super().__init__(
            supported_entity="STREET_ADDRESS",
            name="StreetAddressRecognizer",
            patterns=[Pattern("street address", pattern, 0.8)],
        )


_NAME_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\-]*")


class RareCapitalizedWordRecognizer(EntityRecognizer):
    """A capitalised word the recogniser's own vocabulary does not know is likely a name.

    Whisper writes names with capitals, and spells rare surnames ("Kepuska",
    "Schermerhorn") as pieces because no single token covers them; a common word
    ("Weather", "Kitchen") is one token. A run of capitalised words around such a word is
    taken whole, so "Paul Gagne" is masked, not just "Gagne". It errs towards masking:
    a rare brand or place is hidden too, which costs a reviewer little.
    """

    def __init__(self, common_words: frozenset[str]) -> None:
        self.common_words = common_words
        super().__init__(supported_entities=["PERSON"], name="RareCapitalizedWordRecognizer")

    def load(self) -> None:
        """The vocabulary is given at construction."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if "PERSON" not in entities:
            return []
        tokens = list(_NAME_TOKEN.finditer(text))
        capitalised = [t.group()[0].isupper() for t in tokens]
        results = []
        index = 0
        while index < len(tokens):
            if not capitalised[index]:
                index += 1
                continue
            end = index
            while (
                end + 1 < len(tokens)
                and capitalised[end + 1]
                and _adjacent(text, tokens[end], tokens[end + 1])
            ):
                end += 1
            run = tokens[index : end + 1]
            if any(self._rare(t.group()) for t in run):
                results.append(RecognizerResult("PERSON", run[0].start(), run[-1].end(), 0.6))
            index = end + 1
        return results

    def _rare(self, word: str) -> bool:
        return len(word) > 2 and word.lower().strip("'-") not in self.common_words


def _adjacent(text: str, left: re.Match[str], right: re.Match[str]) -> bool:
    """Two words are one name only when nothing but spaces stands between them."""
    return not text[left.end() : right.start()].strip()
