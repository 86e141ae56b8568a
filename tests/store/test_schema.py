"""Constraints the database itself enforces, whatever code writes to it."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from earmuff.store import Store
from earmuff.store.models import StaffUser


def test_a_staff_user_must_hold_a_known_role(store: Store) -> None:
    with store.db.transaction() as session:
        session.add(StaffUser(username="ok", password_hash="x", role="annotator"))
    with pytest.raises(IntegrityError), store.db.transaction() as session:
        session.add(StaffUser(username="bad", password_hash="x", role="superuser"))
