"""The reveal rule: when does a transcript still give a name or a number away?"""

from __future__ import annotations

import pytest

from earmuff.evaluate.manifest import PiiItem
from earmuff.evaluate.pii import common_subsequence, heard_digits, heard_words, leaks

NAME = PiiItem("PERSON", "Veton Kepuska")
PHONE = PiiItem("PHONE_NUMBER", "one zero four three three two one")


@pytest.mark.parametrize(
    ("transcript", "leaked"),
    [
        ("[PERSON]", []),
        ("", []),
        ("Veton [PERSON]", ["veton"]),
        ("my name is Kapuska.", ["kepuska"]),  # one letter off a long word
        ("my name is Kapuzka", ["kepuska"]),  # two letters off a word of more than five
        ("my name is Kapuzki", []),  # three letters off
        ("Vetin speaking", ["veton"]),  # one letter off a five-letter word
        ("Vitin speaking", []),  # two letters off a five-letter word
        ("VETON KEPUSKA", ["veton", "kepuska"]),
    ],
)
def test_a_name_is_revealed_by_a_word_within_its_edit_distance(
    transcript: str, leaked: list[str]
) -> None:
    assert leaks(NAME, transcript) == leaked


def test_mask_tags_are_not_words() -> None:
    assert heard_words("call [PERSON] at [PHONE_NUMBER], please") == ["call", "at", "please"]
    assert leaks(PiiItem("PERSON", "Person"), "[PERSON]") == []


def test_an_initial_is_not_checked_letter_by_letter() -> None:
    assert leaks(PiiItem("PERSON", "J. Smith"), "a cup of tea") == []


@pytest.mark.parametrize(
    ("transcript", "revealed"),
    [
        ("[PHONE_NUMBER]", False),
        ("104-3321", True),
        ("one oh four three", True),  # four digits in order, "oh" is zero
        ("it was 1 0 4", False),  # three digits only
        ("three two one four", False),  # four digits, not in order
        ("1 and then 0, 4 later 3", True),  # in order, not adjacent
        ("[PHONE_NUMBER] three two one", False),
    ],
)
def test_a_number_is_revealed_by_four_of_its_digits_in_order(
    transcript: str, revealed: bool
) -> None:
    assert bool(leaks(PHONE, transcript)) is revealed


def test_a_short_number_needs_all_its_digits() -> None:
    pin = PiiItem("NUMBER", "four two")
    assert leaks(pin, "twenty four") == []
    assert leaks(pin, "four two") == ["42"]


def test_digits_are_read_from_spoken_and_written_forms() -> None:
    assert heard_digits("call five five five, 2194 [PHONE_NUMBER] double four") == "555219444"
    assert common_subsequence("1043321", "x1y0z4") == 3
