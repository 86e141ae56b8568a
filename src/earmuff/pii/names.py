"""Names as Whisper writes them: the household's first name misspelt or misheard, and
names spelled out letter by letter.

The registered first name is the one name the pipeline knows for sure, but Whisper
rarely writes an unusual name as registered: "Veton" comes out "Vetan" or "Vayton",
and a name heard as ordinary words comes out in pieces ("Sue Dip"). Exact matching
missed those on held-out callers, so a word (or, with ``join``, two neighbouring words
read as one) counts as the name when it is spelt nearly like it or sounds like it: a
phonetic key in the spirit of Metaphone (consonant skeleton, voiced and voiceless
pairs merged, vowels dropped after the first letter) compared by edit distance.

Fuzzy matching costs false masks: every word that sounds like the name is hidden from
the reviewer too. The thresholds in :class:`NameRules` were chosen by cross-validation
over speakers on the development set, counting false masks on utterances of other
speakers paired with names they do not contain (see ``earmuff eval pii``'s
``false_masks``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

VOWELS = frozenset("aeiou")
SILENT_STARTS = ("kn", "gn", "pn", "wr", "ps")
SIMPLE_CODES = {
    "b": "P", "d": "T", "f": "F", "j": "J", "k": "K", "l": "L", "m": "M", "n": "N",
    "p": "P", "q": "K", "r": "R", "s": "S", "t": "T", "v": "F", "z": "S",
}  # fmt: skip
"""Voiced and voiceless pairs share a code: a telephone line and Whisper blur them."""

_FUNCTION_WORDS = """
a an and are as at be but by do for from had has have he her him his i if in is it
its me my no not of on or our she so than that the their them then there these they
this to too up us was we were what when where which who why will with would you your
yes yeah okay ok oh uh um ah well just like one two now here how can get go got"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split())
"""Words too common to stand for a name by sound alone ("on" sounds like "Owen", "done"
like "Diane"): they match a name only when spelt nearly like it."""

_WORD = re.compile(r"[A-Za-z][A-Za-z']*")


def letters(word: str) -> str:
    return "".join(ch for ch in word.lower() if "a" <= ch <= "z")


@lru_cache(maxsize=4096)
def phonetic_key(word: str) -> str:
    """A Metaphone-like key: "Veton", "Vetan" and "Vayton" all give "FTN".

    Smaller than Double Metaphone (no alternate key, no rules for Slavic or Germanic
    spellings): the key only has to survive Whisper's respellings of one name, and the
    edit distance between keys absorbs what it gets wrong.
    """
    word = letters(word)
    word = re.sub(r"(.)\1+", r"\1", word)
    if word.startswith(SILENT_STARTS):
        word = word[1:]
    if word.startswith("wh"):
        word = "w" + word[2:]
    if word.startswith("x"):
        word = "s" + word[1:]
    codes: list[str] = []
    index, touching = 0, False
    while index < len(word):
        code, used = _code_at(word, index)
        if code and not (touching and codes[-1] == code):
            codes.append(code)
        touching = bool(code)
        index += used
    return "".join(codes)


def _code_at(word: str, index: int) -> tuple[str, int]:
    """The code of the sound at ``index`` and how many letters it takes."""
    letter = word[index]
    following = word[index + 1] if index + 1 < len(word) else ""
    pair = word[index : index + 2]
    if letter in VOWELS:
        return ("A" if index == 0 else ""), 1
    if word.startswith("tch", index):
        return "X", 3
    if word.startswith("sch", index):
        return "SK", 3
    digraphs = {"ph": "F", "sh": "X", "ch": "X", "th": "0", "ck": "K", "dg": "J"}
    if pair in digraphs:
        return digraphs[pair], 2
    if pair == "gh":
        return ("K" if index == 0 else ""), 2
    if letter == "c":
        return ("S" if following in ("e", "i", "y") else "K"), 1
    if letter == "g":
        return ("J" if following in ("e", "i", "y") else "K"), 1
    if letter == "x":
        return "KS", 1
    if letter in "why":
        kept = following in VOWELS and not (letter == "h" and index > 0)
        return (letter.upper() if kept else ""), 1
    if pair == "mb" and index + 2 == len(word):
        return "M", 2
    return SIMPLE_CODES.get(letter, ""), 1


def levenshtein(a: str, b: str) -> int:
    """Edit distance alone: the detector compares every word with every name, and
    :func:`earmuff.speech.text.edit_distance` also builds the alignment."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class NameRules:
    """When a word stands for the known name.

    ``spelling``: edits allowed per letter of the name (0.25 lets a four-letter name
    differ by one letter). ``sound``: edits allowed between phonetic keys (-1: none), for
    keys of at least ``sound_min_key`` codes (short keys such as "PL" for "Paul"
    collide with everyday words: "play", "pool"). ``join``: also read two neighbouring
    words as one, for a name heard as ordinary words. ``surname``: which word after the
    name is masked with it (see :func:`_surname_end`).

    The defaults come from two-fold cross-validation over the development speakers
    (pii.jsonl, false masks on speakers.jsonl's texts): one fold chose equal keys
    (``sound`` 0), the other a quarter of the letters; both chose no joining (it found
    nothing and doubled the false masks). Keys of three codes or more and the
    everyday-word rule were kept although one fold gained one first-name hit without
    them, because short keys mask commands such as "play" and "stop". One fold chose
    the "adjacent" surname for a single clip ("John can't see" for "John Canty") and the
    other fold gained nothing from it, while it masks "dinner" in "tell Goda dinner is
    ready": "capitalised" is kept.
    """

    spelling: float = 0.25
    sound: int = 0
    sound_min_key: int = 3
    join: bool = False
    surname: str = "capitalised"

    def matches(self, candidate: str, name: str, common: bool) -> bool:
        heard, wanted = letters(candidate), letters(name)
        if len(heard) < 2 or not wanted:
            return False
        if heard == wanted:
            return True
        allowed = int(len(wanted) * self.spelling)
        if abs(len(heard) - len(wanted)) <= allowed and levenshtein(heard, wanted) <= allowed:
            return True
        if common or self.sound < 0:
            return False
        key, wanted_key = phonetic_key(heard), phonetic_key(wanted)
        return len(wanted_key) >= self.sound_min_key and levenshtein(key, wanted_key) <= self.sound


EXACT_SCORE = 0.95
FUZZY_SCORE = 0.6
EXACT_ONLY = NameRules(spelling=0.0, sound=-1, join=False, surname="none")
"""The rule before fuzzy matching: the registered spelling, any case."""


class KnownNameRecognizer(EntityRecognizer):
    """The household's own first name however Whisper spells it.

    Built per request: the names belong to one account and must not leak into another's.
    """

    def __init__(
        self,
        names: Sequence[str],
        rules: NameRules,
        wake_words: Sequence[str] = (),
        everyday: frozenset[str] = frozenset(),
    ) -> None:
        """``wake_words`` never match, nor count as a surname: "Alexa" is no "Alex".
        ``everyday``: words that match the name only when spelt nearly like it, never by
        sound alone (the recogniser's own vocabulary: "stop" sounds like "Sudip", and
        Whisper writes a misheard unusual name as pieces, not as an everyday word)."""
        self.names = sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True)
        self.rules = rules
        self.never = frozenset(w.strip().lower() for w in wake_words if w.strip())
        self.everyday = everyday | FUNCTION_WORDS
        super().__init__(supported_entities=["PERSON"], name="KnownNameRecognizer")

    def load(self) -> None:
        """The names are given at construction."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if "PERSON" not in entities:
            return []
        return [
            RecognizerResult("PERSON", start, end, score) for start, end, score in self.spans(text)
        ]

    def spans(self, text: str) -> Iterator[tuple[int, int, float]]:
        """``(start, end, score)`` of the words (or neighbouring pairs) that stand for a
        name, with the surname that follows it (``rules.surname``). The registered
        spelling scores high; a resemblance gives way to another recognizer's type where
        they overlap ("john dot smith at ..." is an e-mail, whoever "Jane" is)."""
        words = list(_WORD.finditer(text))
        registered = {letters(name) for name in self.names}
        index = 0
        while index < len(words):
            last = self._match(text, words, index)
            if last is None:
                index += 1
                continue
            found = "".join(word.group() for word in words[index : last + 1])
            score = EXACT_SCORE if letters(found) in registered else FUZZY_SCORE
            last = _surname_end(text, words, last, self.rules.surname, self.never)
            yield words[index].start(), words[last].end(), score
            index = last + 1

    def _match(self, text: str, words: list[re.Match[str]], index: int) -> int | None:
        """The index of the last word of a match that starts at ``index``, if any."""
        word = words[index]
        if word.group().lower() in self.never:
            return None
        common = word.group().lower() in self.everyday
        if any(self.rules.matches(word.group(), name, common) for name in self.names):
            return index
        if not self.rules.join or index + 1 >= len(words):
            return None
        following = words[index + 1]
        if text[word.end() : following.start()].strip():
            return None
        joined = word.group() + following.group()
        both_common = common and following.group().lower() in self.everyday
        if any(self.rules.matches(joined, name, both_common) for name in self.names):
            return index + 1
        return None


def _surname_end(
    text: str, words: list[re.Match[str]], last: int, rule: str, never: frozenset[str]
) -> int:
    """The index of the last word of the surname after a first name ending at ``last``.

    The surname is the word right after the first name, with nothing but a space
    between, never a function word or a wake word, and, by ``rule``: "capitalised"
    (Whisper capitalises names, and a common surname such as "King" or "Hart" is no
    rare word for the other recognizers to catch), "adjacent" (whatever its case: a
    surname heard as ordinary words, "Canty" written "can't see"), or "none".
    """
    if rule == "none" or last + 1 >= len(words):
        return last
    following = words[last + 1]
    word = following.group()
    if (
        text[words[last].end() : following.start()].strip()
        or word.lower() in FUNCTION_WORDS
        or word.lower() in never
        or (rule == "capitalised" and not word[0].isupper())
    ):
        return last
    return last + 1


_LETTER = r"[A-Za-z]"
_BETWEEN = r"(?:\s*[-.,]\s*|\s+)"
_ALONE = r"(?![A-Za-z']|-[A-Za-z]{2})"
SPELLED = re.compile(rf"(?<![A-Za-z'])({_LETTER}(?:{_BETWEEN}{_LETTER}{_ALONE}){{2,}})")
"""Three or more single letters, apart by dashes, dots, commas or spaces ("T-shirt"
ends a run: its letter belongs to a word)."""


class SpelledNameRecognizer(EntityRecognizer):
    """A caller spelling a name letter by letter ("K-E-P-U-S-K-A", "k. e. p.").

    Neither spaCy nor the rare-word rule sees a name in single letters, and the bleep
    left them audible on held-out callers. Three letters at least, so that "I" and "a"
    in ordinary speech are never a run; an abbreviation spoken as letters ("U S A") is
    hidden too, which costs a reviewer little.
    """

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], name="SpelledNameRecognizer")

    def load(self) -> None:
        """The rule is the pattern."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if "PERSON" not in entities:
            return []
        return [
            RecognizerResult("PERSON", m.start(), m.end(), 0.85) for m in SPELLED.finditer(text)
        ]
