"""Transcripts made comparable, and the word error rate between them.

A reference written by a human annotator and a hypothesis written by Whisper differ in
ways that are not recognition errors: WUW-II markup (``{smack}``, ``[click]``,
``(( ))``, ``+gonna``), case, punctuation, "12" against "twelve", "gonna" against
"going to", hesitations Whisper leaves out. Both sides go through the same
normalisation so that the word error rate counts only words heard wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SCALES = ((10**9, "billion"), (10**6, "million"), (10**3, "thousand"))
ORDINALS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip
SPOKEN_FORMS = {
    "gonna": ("going", "to"), "wanna": ("want", "to"), "gotta": ("got", "to"),
    "ok": ("okay",), "alright": ("all", "right"), "mr": ("mister",), "mrs": ("missus",),
    "dr": ("doctor",),
}  # fmt: skip
FILLERS = frozenset(
    {"uh", "um", "umm", "uhm", "ah", "er", "erm", "eh", "hm", "hmm", "mm", "mmm", "mhm"}
)
"""Hesitations: annotators write them, Whisper almost never does; neither side counts them."""

_NOISE = re.compile(r"\{[^}]*\}|\[[^\]]*\]|<[^>]*>")
_UNSURE = re.compile(r"\(\(([^)]*)\)\)")
_ASIDE = re.compile(r"\([^)]*\)")
_FRAGMENT = re.compile(r"(?<!\S)[\w']+-(?!\S)")
_LEADING_HYPHEN = re.compile(r"(?<!\S)-(?=\w)")
_MARKERS = re.compile(r"[\^~*_+]")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")
_MONEY = re.compile(r"\$(\d+(?:,\d{3})*(?:\.\d+)?)")
_PERCENT = re.compile(r"(\d)\s*%")
_DIGIT_STRING = re.compile(r"\b\d+(?:-\d+)+\b")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b")
_PLURAL = re.compile(r"\b(\d+)s\b")
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_WORD = re.compile(r"[a-z0-9']+")


def normalise(text: str) -> list[str]:
    """The words of ``text`` as they would be spoken, lower-case, markup-free."""
    text = strip_markup(text)
    text = _CAMEL.sub(" ", text).lower().replace("&", " and ")
    text = spell_numbers(text)
    words: list[str] = []
    for token in _WORD.findall(text.replace("-", " ").replace("/", " ")):
        word = token.replace("'", "")
        words.extend(SPOKEN_FORMS.get(word, (word,)))
    return [word for word in words if word and word not in FILLERS]


def strip_markup(text: str) -> str:
    """WUW-II annotation removed: noises, unintelligible stretches, cut-off words, marks.

    ``((words))`` is the annotator's best guess at unclear speech; the guess is kept
    (as the corpus manifests keep it), only an empty ``(( ))`` disappears. A cut-off
    word ("ph-") was never a word the speaker finished, so it is dropped.
    """
    text = _NOISE.sub(" ", text)
    text = _UNSURE.sub(r" \1 ", text)
    text = _ASIDE.sub(" ", text)
    text = _FRAGMENT.sub(" ", text)
    text = _LEADING_HYPHEN.sub("", text)
    return _MARKERS.sub("", text)


def spell_numbers(text: str) -> str:
    """Numerals as words, read the way people say them ("5:30" is "five thirty")."""
    text = _TIME.sub(_spoken_time, text)
    text = _MONEY.sub(lambda m: f"{m.group(1)} dollars", text)
    text = _PERCENT.sub(r"\1 percent", text)
    text = _DIGIT_STRING.sub(lambda m: " ".join(_digits(m.group().replace("-", ""))), text)
    text = _ORDINAL.sub(lambda m: " ".join(ordinal_words(int(m.group(1)))), text)
    text = _PLURAL.sub(lambda m: " ".join(_plural(number_words(m.group(1)))), text)
    return _NUMBER.sub(lambda m: " ".join(number_words(m.group())), text)


def number_words(numeral: str) -> list[str]:
    """ "12" is "twelve", "1995" "nineteen ninety five", "0451" and phone-length digit
    strings are read digit by digit, "99.9" is "ninety nine point nine"."""
    whole, _, fraction = numeral.partition(".")
    grouped = "," in whole
    digits = whole.replace(",", "")
    if not digits:
        return _digits(fraction)
    if (len(digits) > 1 and digits.startswith("0")) or (len(digits) >= 7 and not grouped):
        words = _digits(digits)
    elif len(digits) == 4 and not grouped:
        words = year_words(int(digits))
    else:
        words = cardinal_words(int(digits))
    return [*words, "point", *_digits(fraction)] if fraction else words


def cardinal_words(number: int) -> list[str]:
    if number < 20:
        return [ONES[number]]
    if number < 100:
        tens, ones = divmod(number, 10)
        return [TENS[tens], ONES[ones]] if ones else [TENS[tens]]
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return [ONES[hundreds], "hundred", *(cardinal_words(rest) if rest else [])]
    if number >= 1000 * SCALES[0][0]:
        return _digits(str(number))
    for scale, name in SCALES:
        if number >= scale:
            high, rest = divmod(number, scale)
            return [*cardinal_words(high), name, *(cardinal_words(rest) if rest else [])]
    raise AssertionError("unreachable: every number of 1000 or more has a scale")


def year_words(number: int) -> list[str]:
    """Four digits without a thousands comma are most often a year: 1995, 2021."""
    century, rest = divmod(number, 100)
    if not (1100 <= number <= 1999 or 2010 <= number <= 2099):
        return cardinal_words(number)
    if rest == 0:
        return [*cardinal_words(century), "hundred"]
    tail = ["oh", ONES[rest]] if rest < 10 else cardinal_words(rest)
    return [*cardinal_words(century), *tail]


def ordinal_words(number: int) -> list[str]:
    words = cardinal_words(number)
    last = words[-1]
    if last in ORDINALS:
        ending = ORDINALS[last]
    elif last.endswith("y"):
        ending = last[:-1] + "ieth"
    else:
        ending = last + "th"
    return [*words[:-1], ending]


def _spoken_time(match: re.Match[str]) -> str:
    hour, minutes = match.group(1), int(match.group(2))
    if minutes == 0:
        return hour
    return f"{hour} oh {minutes}" if minutes < 10 else f"{hour} {minutes}"


def _plural(words: list[str]) -> list[str]:
    last = words[-1]
    return [*words[:-1], last[:-1] + "ies" if last.endswith("y") else last + "s"]


def _digits(digits: str) -> list[str]:
    return [ONES[int(d)] for d in digits]


@dataclass(frozen=True)
class EditCounts:
    """How a hypothesis differs from its reference, operation by operation."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    def __add__(self, other: EditCounts) -> EditCounts:
        return EditCounts(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
        )


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> EditCounts:
    """The cheapest edit (Levenshtein) from reference to hypothesis, counted by kind.

    Works on any sequence of strings: words of a transcript, or letters of a word.
    """
    previous = [EditCounts(insertions=j) for j in range(len(hypothesis) + 1)]
    for i, ref in enumerate(reference, 1):
        current = [EditCounts(deletions=i)]
        for j, hyp in enumerate(hypothesis, 1):
            diagonal = previous[j - 1]
            if ref != hyp:
                diagonal = diagonal + EditCounts(substitutions=1)
            current.append(
                min(
                    diagonal,
                    previous[j] + EditCounts(deletions=1),
                    current[j - 1] + EditCounts(insertions=1),
                    key=lambda counts: counts.errors,
                )
            )
        previous = current
    return previous[-1]


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    return align(a, b).errors


def word_error_rate(errors: int, reference_words: int) -> float | None:
    """Word errors per reference word; undefined (None) for an empty reference."""
    return errors / reference_words if reference_words else None
