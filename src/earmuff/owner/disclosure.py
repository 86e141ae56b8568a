"""The text an owner reads before allowing human review: versioned, and kept as shown.

Each version is a packaged file (``disclosures/<version>.txt``); a new wording is a new
file, and old files stay so that any consent can be shown again with the words it was
given under. The text quotes the deployment's own figures (sampling rate, cap, how long
copies live), so the exact wording shown is also kept, by its SHA-256, in
``disclosure_texts``: a consent records both the version and that hash.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from earmuff.config import Policy
from earmuff.store.models import DisclosureText, utcnow

DISCLOSURES = Path(__file__).parent / "disclosures"
_VERSION = re.compile(r"[a-z0-9][a-z0-9.\-]{0,62}")


class DisclosureError(LookupError):
    """No disclosure has this version, or the text shown is not the text now in force."""


@dataclass(frozen=True)
class Block:
    """A paragraph, or a list when ``items`` is not empty."""

    text: str
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Disclosure:
    version: str
    text: str
    sha256: str

    @property
    def blocks(self) -> list[Block]:
        """The text as paragraphs and lists, for a page to lay out."""
        blocks: list[Block] = []
        for chunk in self.text.strip().split("\n\n"):
            lines = chunk.splitlines()
            items = tuple(line[2:].strip() for line in lines if line.startswith("- "))
            lead = " ".join(line for line in lines if not line.startswith("- "))
            blocks.append(Block(lead, items))
        return blocks


def policy_figures(policy: Policy) -> dict[str, str]:
    """The deployment's rules in the words the disclosure uses."""
    review = policy.review
    rates = sorted({review.sampling_rate, *review.locale_sampling_rates.values()})
    if len(rates) == 1:
        sampling = f"about {_percent(rates[0])} of recordings"
    else:
        sampling = (
            f"between {_percent(rates[0])} and {_percent(rates[-1])} of recordings, "
            "depending on the language"
        )
    if review.consent == "opt-in":
        rule = "Nobody listens unless you say yes here. Until then, the answer is no."
    else:
        rule = "People may listen unless you say no here."
    return {
        "sampling": sampling,
        "cap": str(review.per_account_cap_30d),
        "review_days": str(policy.retention.review_items_days),
        "default_rule": rule,
    }


def _percent(rate: float) -> str:
    return f"{rate * 100:.3g} %"


class Disclosures:
    """Every version in a folder; the newest (highest number) is the one in force."""

    def __init__(self, folder: Path = DISCLOSURES) -> None:
        self._templates: dict[str, Template] = {}
        for path in folder.glob("*.txt"):
            if not _VERSION.fullmatch(path.stem):
                raise DisclosureError(f"{path.name}: a version is lower-case letters and digits")
            self._templates[path.stem] = Template(path.read_text(encoding="utf-8"))
        if not self._templates:
            raise DisclosureError(f"no disclosure texts in {folder}")

    @property
    def versions(self) -> list[str]:
        return sorted(self._templates, key=_order)

    def current(self, policy: Policy) -> Disclosure:
        return self.get(self.versions[-1], policy)

    def get(self, version: str, policy: Policy) -> Disclosure:
        template = self._templates.get(version)
        if template is None:
            raise DisclosureError(f"no disclosure has version {version!r}")
        text = template.substitute(policy_figures(policy))
        return Disclosure(version, text, hashlib.sha256(text.encode()).hexdigest())

    def shown(self, version: str, sha256: str | None, policy: Policy) -> Disclosure:
        """The disclosure an owner answered, which must be the one in force, word for word.

        ``sha256`` (when the page sent it) catches a policy change between showing the
        text and the owner's answer: the owner must read the new wording first.
        """
        current = self.current(policy)
        if version != current.version or (sha256 is not None and sha256 != current.sha256):
            raise DisclosureError(
                "the text about human review has changed since it was shown; read it again"
            )
        return current


def _order(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order, so disclosure-10 comes after disclosure-9."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", version)
    )


def remember(session: Session, disclosure: Disclosure) -> None:
    """Keep the exact wording the first time it is answered, so a consent can be replayed.

    Two owners answering a new wording at once both try to insert it: the second insert
    does nothing instead of failing the owner's transaction.
    """
    values = {
        "sha256": disclosure.sha256,
        "version": disclosure.version,
        "text": disclosure.text,
        "first_shown_at": utcnow(),
    }
    table = DisclosureText
    if session.get_bind().dialect.name == "postgresql":
        session.execute(postgresql.insert(table).values(values).on_conflict_do_nothing())
    else:
        session.execute(sqlite.insert(table).values(values).on_conflict_do_nothing())
