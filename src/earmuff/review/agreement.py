"""How far reviewers agree with each other, and how close they come to known answers.

Overlap items are heard by several reviewers: their transcripts are compared by word
error rate, their intent labels by Cohen's kappa (per pair of reviewers) and
Krippendorff's alpha (over everyone at once, tolerating missing labels). Gold items
have a known answer: each reviewer's work on them is graded against it. The figures
tell a QA reviewer where the guidelines are unclear and who needs help, not who to
blame: the page shows them beside how many items each rests on.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations, permutations
from statistics import fmean

from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.speech.text import edit_distance, normalise
from earmuff.store.crypto import KeyRing
from earmuff.store.models import Annotation, GoldAnswer, ReviewItem, ReviewTask, StaffUser
from earmuff.store.review_items import ANNOTATION_TEXT, open_item_text


def transcript_wer(reference: str, hypothesis: str) -> float:
    """Word errors per reference word, both sides normalised (case, punctuation,
    numerals, fillers), so only words heard differently count.

    An empty reference counts as one word: words written where the reference has none
    are errors too, and two empty transcripts agree perfectly.
    """
    return _wer(normalise(reference), normalise(hypothesis))


def _wer(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    return edit_distance(reference, hypothesis) / max(len(reference), 1)


def mean_pairwise_wer(transcripts: Sequence[str]) -> float | None:
    """The mean WER over every ordered pair: each transcript is the reference once
    against each other one, so the figure does not depend on who came first."""
    words = [normalise(text) for text in transcripts]
    rates = [_wer(a, b) for a, b in permutations(words, 2)]
    return fmean(rates) if rates else None


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa for two raters, one (first rater's label, second's label) per item.

    Agreement beyond what the raters' own label frequencies would give by chance; None
    when it is undefined (no items, or both raters gave one and the same label to all).
    """
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(count * second[label] for label, count in first.items()) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def krippendorff_alpha(units: Iterable[Sequence[Hashable | None]]) -> float | None:
    """Krippendorff's alpha for nominal labels: one sequence of labels per unit (item),
    any number of raters, ``None`` where a rater gave no label.

    Units with fewer than two labels cannot be compared and are left out. None when
    alpha is undefined: fewer than two pairable labels, or only one label ever used.
    """
    coincidences: defaultdict[tuple[Hashable, Hashable], float] = defaultdict(float)
    for unit in units:
        labels = Counter(label for label in unit if label is not None)
        pairable = sum(labels.values())
        if pairable < 2:
            continue
        for c, n_c in labels.items():
            for k, n_k in labels.items():
                pairs = n_c * (n_k - 1) if c == k else n_c * n_k
                coincidences[c, k] += pairs / (pairable - 1)
    totals: defaultdict[Hashable, float] = defaultdict(float)
    for (c, _), value in coincidences.items():
        totals[c] += value
    n = sum(totals.values())
    expected = n * n - sum(value * value for value in totals.values())
    if n < 2 or expected <= 0:
        return None
    observed = sum(value for (c, k), value in coincidences.items() if c != k)
    return 1 - (n - 1) * observed / expected


@dataclass(frozen=True)
class ItemAgreement:
    """One overlap item: how alike its transcripts are, and whether the intents agree."""

    review_item_id: str
    annotations: int
    mean_pairwise_wer: float | None
    intents_agree: bool


@dataclass(frozen=True)
class PairAgreement:
    """Two reviewers' intent labels on the overlap items they both did."""

    first: str
    second: str
    items: int
    kappa: float | None


@dataclass(frozen=True)
class GoldAccuracy:
    """One reviewer against the known answers of the gold items they were given."""

    staff_id: str
    username: str
    gold_items: int
    mean_gold_wer: float | None
    intent_match_rate: float | None
    """Over the gold items whose answer has an intent."""


@dataclass(frozen=True)
class AgreementReport:
    items: tuple[ItemAgreement, ...]
    mean_wer: float | None
    """The mean over overlap items of their mean pairwise WER."""
    intent_alpha: float | None
    pairs: tuple[PairAgreement, ...]
    gold: tuple[GoldAccuracy, ...]


@dataclass(frozen=True)
class _Labelled:
    username: str
    transcript: str
    intent: str | None


def agreement_report(session: Session, keyring: KeyRing) -> AgreementReport:
    """Agreement on every overlap item with two or more submissions, and each
    reviewer's accuracy on gold items, from the annotations in the database."""
    by_item = _overlap_annotations(session, keyring)
    items = tuple(
        ItemAgreement(
            review_item_id=item_id,
            annotations=len(done),
            mean_pairwise_wer=mean_pairwise_wer([a.transcript for a in done]),
            intents_agree=len({a.intent for a in done if a.intent is not None}) <= 1,
        )
        for item_id, done in sorted(by_item.items())
    )
    rates = [item.mean_pairwise_wer for item in items if item.mean_pairwise_wer is not None]
    return AgreementReport(
        items=items,
        mean_wer=fmean(rates) if rates else None,
        intent_alpha=krippendorff_alpha([[a.intent for a in done] for done in by_item.values()]),
        pairs=_pair_kappas(by_item.values()),
        gold=_gold_accuracy(session),
    )


def _overlap_annotations(session: Session, keyring: KeyRing) -> dict[str, list[_Labelled]]:
    rows = session.execute(
        select(Annotation, ReviewItem, StaffUser.username)
        .join(ReviewTask, ReviewTask.id == Annotation.task_id)
        .join(ReviewItem, ReviewItem.id == Annotation.review_item_id)
        .join(StaffUser, StaffUser.id == Annotation.staff_id)
        .where(
            ReviewTask.kind == "overlap",
            Annotation.outcome == "submitted",
            Annotation.transcript_sealed.is_not(None),
            ReviewItem.key_sealed.is_not(None),
        )
        .order_by(Annotation.review_item_id, Annotation.submitted_at)
    ).all()
    by_item: dict[str, list[_Labelled]] = defaultdict(list)
    for annotation, item, username in rows:
        assert annotation.transcript_sealed is not None
        text = open_item_text(keyring, item, ANNOTATION_TEXT, annotation.transcript_sealed)
        by_item[item.id].append(_Labelled(username, text, annotation.intent))
    return {item_id: done for item_id, done in by_item.items() if len(done) >= 2}


def _pair_kappas(items: Iterable[list[_Labelled]]) -> tuple[PairAgreement, ...]:
    labels: dict[tuple[str, str], list[tuple[Hashable, Hashable]]] = defaultdict(list)
    for done in items:
        labelled = sorted((a for a in done if a.intent is not None), key=lambda a: a.username)
        for a, b in combinations(labelled, 2):
            if a.username != b.username:
                labels[a.username, b.username].append((a.intent, b.intent))
    return tuple(
        PairAgreement(first, second, len(pairs), cohen_kappa(pairs))
        for (first, second), pairs in sorted(labels.items())
    )


def _gold_accuracy(session: Session) -> tuple[GoldAccuracy, ...]:
    rows = session.execute(
        select(Annotation.staff_id, StaffUser.username, Annotation.gold_wer, Annotation.intent)
        .add_columns(GoldAnswer.intent)
        .join(ReviewTask, ReviewTask.id == Annotation.task_id)
        .join(GoldAnswer, GoldAnswer.review_item_id == Annotation.review_item_id)
        .join(StaffUser, StaffUser.id == Annotation.staff_id)
        .where(ReviewTask.kind == "gold", Annotation.outcome == "submitted")
    ).all()
    graded: dict[tuple[str, str], list[tuple[float | None, bool | None]]] = defaultdict(list)
    for staff_id, username, gold_wer, intent, answer_intent in rows:
        match = None if answer_intent is None else intent == answer_intent
        graded[staff_id, username].append((gold_wer, match))
    accuracy = []
    for (staff_id, username), grades in sorted(graded.items(), key=lambda kv: kv[0][1]):
        rates = [rate for rate, _ in grades if rate is not None]
        matches = [match for _, match in grades if match is not None]
        accuracy.append(
            GoldAccuracy(
                staff_id=staff_id,
                username=username,
                gold_items=len(grades),
                mean_gold_wer=fmean(rates) if rates else None,
                intent_match_rate=fmean(matches) if matches else None,
            )
        )
    return tuple(accuracy)
