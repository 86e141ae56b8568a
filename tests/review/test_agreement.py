"""Agreement measures, checked against textbook worked examples, and the QA report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from earmuff.config.policy import WorkbenchPolicy
from earmuff.review import queue
from earmuff.review.agreement import (
    agreement_report,
    cohen_kappa,
    krippendorff_alpha,
    mean_pairwise_wer,
    transcript_wer,
)
from earmuff.review.queue import Submission
from earmuff.store import Store
from tests.review.test_queue import queued_item, reviewer, submit, take

# Cohen's kappa


def two_by_two(yes_yes: int, yes_no: int, no_yes: int, no_no: int) -> list[tuple[Any, Any]]:
    """Two raters' yes/no labels from the cells of their 2x2 table."""
    return (
        [("yes", "yes")] * yes_yes
        + [("yes", "no")] * yes_no
        + [("no", "yes")] * no_yes
        + [("no", "no")] * no_no
    )


@pytest.mark.parametrize(
    ("cells", "kappa"),
    [((20, 5, 10, 15), 0.4), ((45, 15, 25, 15), 0.1304), ((25, 35, 5, 35), 0.2593)],
    ids=["50 proposals", "balanced disagreement", "skewed disagreement"],
)
def test_cohens_kappa_matches_the_worked_examples(
    cells: tuple[int, int, int, int], kappa: float
) -> None:
    """The 2x2 examples of Cohen's kappa as usually taught (e.g. Wikipedia's): the
    last two have the same 60 % raw agreement but different kappas."""
    assert cohen_kappa(two_by_two(*cells)) == pytest.approx(kappa, abs=5e-5)


def test_kappa_is_one_for_perfect_agreement_and_undefined_without_variation() -> None:
    assert cohen_kappa([("a", "a"), ("b", "b"), ("c", "c")]) == 1.0
    assert cohen_kappa([("a", "a"), ("a", "a")]) is None
    assert cohen_kappa([]) is None
    assert cohen_kappa([("a", "b"), ("b", "a")]) == -1.0


# Krippendorff's alpha


def test_alpha_matches_krippendorffs_nominal_example_with_four_coders_and_missing_values() -> None:
    """Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C:
    4 observers, 12 units, values missing; nominal alpha = 0.743."""
    n = None
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    units = list(zip(*coders, strict=True))
    assert krippendorff_alpha(units) == pytest.approx(0.743, abs=5e-4)


def test_alpha_matches_krippendorffs_binary_example_with_two_observers() -> None:
    """Krippendorff (2011), section A: two observers, ten units, binary; alpha = 0.095."""
    first = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    second = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert krippendorff_alpha(list(zip(first, second, strict=True))) == pytest.approx(
        0.095, abs=5e-4
    )


def test_alpha_works_on_labels_of_any_kind_and_leaves_out_units_with_one_label() -> None:
    units = [("timer", "timer", None), ("music", "music", "music"), ("call", None, None)]
    assert krippendorff_alpha(units) == 1.0
    assert krippendorff_alpha([("timer", "timer"), ("timer", "timer")]) is None
    assert krippendorff_alpha([("timer", None)]) is None


# Word error rate between transcripts


def test_transcripts_are_compared_after_normalisation() -> None:
    assert transcript_wer("Set a timer for 5 minutes.", "set a timer for five minutes") == 0.0
    assert transcript_wer("set a timer for ten minutes", "set a timer for two minutes") == (
        pytest.approx(1 / 6)
    )
    assert transcript_wer("", "") == 0.0
    assert transcript_wer("", "hello there") == 2.0, "words where there were none are errors"
    assert transcript_wer("hello there", "") == 1.0


def test_mean_pairwise_wer_does_not_depend_on_order() -> None:
    texts = ["play some jazz", "play some jazz music", "pay sam jazz"]
    assert mean_pairwise_wer(texts) == pytest.approx(mean_pairwise_wer(texts[::-1]))
    assert mean_pairwise_wer(["one"]) is None
    assert mean_pairwise_wer(["same words", "Same words!"]) == 0.0


# The QA report


def test_the_report_shows_overlap_agreement_and_gold_accuracy(store: Store, now: datetime) -> None:
    no_gold = WorkbenchPolicy(gold_share=0.0)
    always_gold = WorkbenchPolicy(gold_share=1.0)
    heard = {
        "ana": ("set a timer for ten minutes", "set_timer"),
        "ben": ("set a timer for ten minutes", "set_timer"),
        "cho": ("set the timer for ten minutes", "set_alarm"),
    }
    people = {name: reviewer(store, name) for name in heard}
    first = queued_item(store, copies=3)
    second = queued_item(store, copies=2)
    for item in (first, second):
        for name, who in people.items():
            if item == second and name == "cho":
                continue
            lease = take(store, who, now, no_gold)
            assert lease.review_item_id == item
            text, intent = heard[name]
            submit(store, who, lease, now, Submission(text, intent=intent), no_gold)
    with store.db.read() as session:
        report = agreement_report(session, store.keyring)
    by_item = {row.review_item_id: row for row in report.items}
    assert by_item[first].annotations == 3
    assert by_item[first].mean_pairwise_wer == pytest.approx(4 / 6 / 6)
    assert not by_item[first].intents_agree
    assert by_item[second].mean_pairwise_wer == 0.0 and by_item[second].intents_agree
    assert report.mean_wer == pytest.approx((4 / 36 + 0) / 2)
    assert report.intent_alpha is not None and report.intent_alpha < 1
    pairs = {(p.first, p.second): (p.items, p.kappa) for p in report.pairs}
    assert pairs[("ana", "ben")][0] == 2 and pairs[("ana", "cho")][0] == 1
    assert report.gold == ()

    qa = reviewer(store, "qa", role="qa_reviewer")
    ordinary = queued_item(store)
    lease = take(store, people["ana"], now, no_gold)
    assert lease.review_item_id == ordinary
    gold_source = submit(
        store, people["ana"], lease, now, Submission("turn on the lights", intent="smart_home")
    )
    queue.make_gold(store.db, store.keyring, qa, gold_source.id)
    for name, text, intent in (
        ("ben", "turn on the lights", "smart_home"),
        ("cho", "turn on the light", "question"),
    ):
        lease = take(store, people[name], now, always_gold)
        assert lease.kind == "gold"
        submit(store, people[name], lease, now, Submission(text, intent=intent), always_gold)
    with store.db.read() as session:
        gold = {row.username: row for row in agreement_report(session, store.keyring).gold}
    assert set(gold) == {"ben", "cho"}
    assert (gold["ben"].gold_items, gold["ben"].mean_gold_wer) == (1, 0.0)
    assert gold["ben"].intent_match_rate == 1.0
    assert gold["cho"].mean_gold_wer == pytest.approx(0.25)
    assert gold["cho"].intent_match_rate == 0.0
