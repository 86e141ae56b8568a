"""Transcript normalisation and word error rate: only words heard wrong may count."""

from __future__ import annotations

import pytest

from earmuff.speech.text import (
    EditCounts,
    align,
    edit_distance,
    normalise,
    number_words,
    word_error_rate,
)


def words(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("{smack} Veton Kepuska", "veton kepuska"),
        ("[click] Onword [voices]", "onword"),
        ("{lip smack} Hi ^John [static\\] (( )) [\\static]", "hi john"),
        ("[phone fuzz/] ((Where is my)) Onword [/phone fuzz]", "where is my onword"),
        ("so I'm +gonna use it", "so im going to use it"),
        ("redirect the ph- call to +the Operator", "redirect the call to the operator"),
        ("-Are you calling from  landline", "are you calling from landline"),
        ("the ~CPX and *speakfire, _Voyager_", "the cpx and speakfire voyager"),
        ("uh well um it's ThinkEngine.", "well its think engine"),
        ("Hello, World! OK?", "hello world okay"),
        ("(laughs) yes", "yes"),
    ],
)
def test_markup_case_punctuation_and_hesitations_are_removed(raw: str, expected: str) -> None:
    assert normalise(raw) == words(expected)


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("meet me at 5:00", "meet me at five"),
        ("at 10:30 or 2:05", "at ten thirty or two oh five"),
        ("12 eggs", "twelve eggs"),
        ("1,500 dollars", "one thousand five hundred dollars"),
        ("$20", "twenty dollars"),
        ("in 1995 and 2021", "in nineteen ninety five and twenty twenty one"),
        ("2005", "two thousand five"),
        ("99.999% up", "ninety nine point nine nine nine percent up"),
        ("the 1st and 22nd", "the first and twenty second"),
        ("the 8000s", "the eight thousands"),
        ("call 555-2194", "call five five five two one nine four"),
        ("pin 0451", "pin zero four five one"),
        ("5552194437", "five five five two one nine four four three seven"),
    ],
)
def test_numerals_read_as_people_say_them(written: str, spoken: str) -> None:
    assert normalise(written) == words(spoken)


def test_a_numeral_and_its_words_compare_equal() -> None:
    assert normalise("I need twelve of them") == normalise("I need 12 of them.")


def test_large_and_small_numbers_have_words() -> None:
    assert number_words("0") == ["zero"]
    assert number_words("3,000,001") == ["three", "million", "one"]
    assert number_words("100") == ["one", "hundred"]


def test_alignment_counts_each_kind_of_error() -> None:
    assert align(words("a b c d"), words("a x c d e")) == EditCounts(1, 0, 1)
    assert align(words("a b c d"), words("a c d")) == EditCounts(0, 1, 0)
    edits = align(words("the cat sat on a mat"), words("cat sit on a mat today"))
    assert edits == EditCounts(substitutions=1, deletions=1, insertions=1)
    assert edits.errors == 3


@pytest.mark.parametrize(
    ("reference", "hypothesis", "errors"),
    [("", "", 0), ("a b", "", 2), ("", "a b", 2), ("a b c", "a b c", 0), ("a b c", "c b a", 2)],
)
def test_word_errors_are_the_levenshtein_distance(
    reference: str, hypothesis: str, errors: int
) -> None:
    assert edit_distance(words(reference), words(hypothesis)) == errors


def test_edit_distance_also_works_on_letters() -> None:
    assert edit_distance("kepuska", "kapuska") == 1
    assert edit_distance("alexa", "") == 5


def test_word_error_rate_is_pooled_over_reference_words() -> None:
    assert word_error_rate(3, 12) == 0.25
    assert word_error_rate(2, 0) is None
