"""The sensitive-content screen flags what the safety pool should hear, and little else."""

from __future__ import annotations

import pytest

from earmuff.pipeline.screen import SensitiveContentScreen

screen = SensitiveContentScreen()


@pytest.mark.parametrize(
    ("transcript", "category"),
    [
        ("I just want to end my life tonight", "self_harm"),
        ("Daddy stop please I'm scared", "child_in_distress"),
        ("put the knife down or I'll kill you", "violence"),
        ("somebody broke in, call the police", "possible_crime"),
        ("alexa play that song about sex", "sexual_content"),
        ("my dad has chest pain, call an ambulance", "medical"),
        ("Alexa, I’m SCARED, he hits me", "child_in_distress"),
    ],
)
def test_each_category_is_recognised(transcript: str, category: str) -> None:
    result = screen.screen(transcript)
    assert result.sensitive and result.category == category


def test_the_most_severe_category_names_an_item_that_matches_several() -> None:
    result = screen.screen("he has a gun and says he wants to kill himself, I want to die")
    assert result.category == "self_harm"
    assert set(result.matches) == {"self_harm", "violence"}


@pytest.mark.parametrize(
    "transcript",
    [
        "alexa what's the weather tomorrow",
        "set a timer for ten minutes",
        "play some music by the sextet",
        "add sussex cheese to the shopping list",
        "turn on the gunnar lamp",
    ],
)
def test_everyday_requests_pass_even_when_a_term_hides_inside_a_word(transcript: str) -> None:
    assert not screen.screen(transcript).sensitive


def test_a_custom_lexicon_plugs_in_without_touching_the_matcher() -> None:
    custom = SensitiveContentScreen({"finance": ("bank account", "overdraft")})
    assert custom.screen("what's in my bank account").category == "finance"
