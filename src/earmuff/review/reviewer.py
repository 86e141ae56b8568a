"""The person asking for work, as the review code needs them: a plain value."""

from __future__ import annotations

from dataclasses import dataclass

from earmuff.store.models import StaffUser


@dataclass(frozen=True)
class Reviewer:
    """A staff member's id, role, locales and safety-pool choice, detached from any
    database session, so pages can build it once per request and pass it around."""

    id: str
    role: str
    locales: tuple[str, ...]
    safety_pool: bool

    @classmethod
    def of(cls, user: StaffUser) -> Reviewer:
        locales = tuple(part.strip() for part in user.locales.split(",") if part.strip())
        return cls(id=user.id, role=user.role, locales=locales, safety_pool=user.safety_pool)
