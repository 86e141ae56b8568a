"""The whole permission model: which staff roles may do what. Nothing else grants access.

Every staff page and API route names one permission here (see ``web/staff_auth.py``,
``require``); the permission matrix test calls every route as every role and as
nobody and checks the answer against this table. Least privilege throughout: an
admin manages accounts but hears no audio; a privacy officer audits but does not
review; only the holder of a lease hears that item.
"""

from __future__ import annotations

from types import MappingProxyType

from earmuff.store.models import STAFF_ROLES

REVIEWERS = frozenset({"annotator", "qa_reviewer"})

PERMISSIONS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "home": frozenset(STAFF_ROLES),
        "workbench": REVIEWERS,
        "second_listen.answer": frozenset({"qa_reviewer", "annotator"}),
        "qa": frozenset({"qa_reviewer"}),
        "safety": frozenset({"safety_officer"}),
        "audit": frozenset({"privacy_officer"}),
        "legal_hold": frozenset({"privacy_officer"}),
        "reidentify": frozenset({"safety_officer", "privacy_officer"}),
        "reidentify.request": frozenset({"safety_officer"}),
        "reidentify.decide": frozenset({"privacy_officer"}),
        "users": frozenset({"admin"}),
    }
)
"""``second_listen.answer``: annotators only when they opted in and cover the locale;
that finer rule lives with the requests themselves (review/second_listen.py).
``reidentify.*``: a safety officer asks and opens, a privacy officer decides; that the
decider is not the asker is checked with the request (review/reidentify.py)."""


def allows(permission: str, role: str | None) -> bool:
    return role is not None and role in PERMISSIONS[permission]
