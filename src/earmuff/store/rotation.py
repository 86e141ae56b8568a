"""Master-key rotation, and the purpose keys that survive it.

Why rotate: deleting an account destroys its wrapped data key in the live database,
but a backup taken before the deletion still holds that wrapped key, and the live
master key would open it. Rotating rewraps every *live* account key under a new master
key; once the old master key is destroyed, every backup taken before the rotation is
noise for the accounts deleted before it, and the new key opens nothing in those
backups, because nothing in them was wrapped under it.

Per purpose derived from the master key (``MasterKey.derive``), one of two choices:

- replaced: account data keys are rewrapped, and the review-items key (which seals
  each review copy's own key) is derived from the new master and every live item's key
  re-sealed under it. These protect content (audio, transcripts, names), which must
  not open from an old backup once it was deleted.
- pinned (``store.crypto.PINNED_PURPOSES``): the key is stored in ``purpose_keys``,
  wrapped under the master, and a rotation only rewraps it. Their values are baked into
  what cannot be rewritten (audit pseudonyms in the hash chain, watermarks in audio
  already streamed) or must not change under running servers (the vault's blind index,
  which deletions look up; staff TOTP secrets; signed URLs). The first time a
  workspace is opened with this table, each pinned key is set to what the current
  master derives, so nothing sealed or tagged before changes.

A rotation runs while servers run. The key file then lists the new key first and the
old one after it; every process re-reads the file when it changes (``KeyRing``), so
it wraps under the new key and still opens what the old one wrapped. Rows are
rewrapped in passes until a pass finds nothing left; only then is the old key removed
from the file. Interrupted at any point, ``earmuff keys rotate`` resumes: the file
still lists both keys, and a pass skips what is done.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from earmuff.store.crypto import (
    KEY_BYTES,
    PINNED_PURPOSES,
    KeyRing,
    MasterKey,
    MasterKeyError,
    seal,
    unseal,
    write_master_keys,
)
from earmuff.store.db import Database
from earmuff.store.models import AccountKey, PurposeKey, ReviewItem
from earmuff.store.review_items import reseal_item_key

CHUNK = 500


class RotationError(Exception):
    """The rotation cannot start as asked; nothing was changed."""


@dataclass(frozen=True)
class RotationReport:
    new_key_id: str
    retired_key_ids: tuple[str, ...]
    account_keys: int
    purpose_keys: int
    review_items: int
    passes: int
    key_file_updated: bool


def _context(purpose: str) -> bytes:
    return b"earmuff purpose key|" + purpose.encode()


def pin_purpose_keys(db: Database, keyring: KeyRing) -> None:
    """Give ``keyring`` the pinned purpose keys, storing them on a workspace's first open.

    Several processes may open a new workspace at once: one stores the keys, the
    others find them (a unique-key clash means another process got there first).
    """
    for attempt in range(3):
        with db.read() as session:
            rows = {row.purpose: row for row in session.scalars(select(PurposeKey))}
        if all(purpose in rows for purpose in PINNED_PURPOSES):
            keyring.pin(
                {
                    row.purpose: unseal(
                        keyring.find(row.master_key_id).key, row.wrapped_key, _context(row.purpose)
                    )
                    for row in rows.values()
                }
            )
            return
        try:
            with db.transaction() as session:
                master = keyring.master
                present = set(session.scalars(select(PurposeKey.purpose)))
                for purpose in PINNED_PURPOSES:
                    if purpose not in present:
                        key = master.derive_fresh(purpose)
                        session.add(
                            PurposeKey(
                                purpose=purpose,
                                wrapped_key=seal(master.key, key, _context(purpose)),
                                master_key_id=master.key_id,
                            )
                        )
        except IntegrityError:
            if attempt == 2:
                raise
    raise MasterKeyError("the purpose keys could not be stored")


def rotate_master_key(
    db: Database,
    keyring: KeyRing,
    key_file: Path | None,
    grace_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    on_switch: Callable[[MasterKey, tuple[MasterKey, ...]], None] | None = None,
) -> RotationReport:
    """Rewrap everything under a new master key, then retire the old one.

    With ``key_file`` (the key lives in a file): a new key is made and written first in
    the file, ``grace_s`` seconds are left for running processes to notice it, every
    row is rewrapped, and the file is rewritten with the new key alone. If the file
    already lists several keys, an earlier rotation was interrupted and is resumed.
    Without it (the keys come from ``EARMUFF_MASTER_KEY``), the operator has already
    put the new key first there, on every process; this rewraps, and the operator
    removes the old key afterwards.
    """
    keys = keyring.masters
    updated = False
    if key_file is not None and len(keys) == 1:
        new = MasterKey(secrets.token_bytes(KEY_BYTES))
        write_master_keys(key_file, [new, *keys])
        keyring.refresh(force=True)
        updated = True
        if on_switch is not None:
            on_switch(new, keys)
        sleep(grace_s)
    elif len(keys) == 1:
        raise RotationError(
            "EARMUFF_MASTER_KEY holds one key: put a new key first, then the old one "
            "(comma-separated), restart every earmuff process with it, and run this again"
        )
    current, *old = keyring.masters
    totals = [0, 0, 0]
    passes = 0
    while True:
        passes += 1
        done = _rewrap_pass(db, keyring)
        totals = [a + b for a, b in zip(totals, done, strict=True)]
        if not any(done):
            break
    if key_file is not None:
        write_master_keys(key_file, [current])
        keyring.refresh(force=True)
        updated = True
    db.scrub()
    return RotationReport(
        new_key_id=current.key_id,
        retired_key_ids=tuple(k.key_id for k in old),
        account_keys=totals[0],
        purpose_keys=totals[1],
        review_items=totals[2],
        passes=passes,
        key_file_updated=updated,
    )


def _rewrap_pass(db: Database, keyring: KeyRing) -> tuple[int, int, int]:
    """One pass over every wrapped or sealed key; how many it changed, by kind."""
    current = keyring.master
    accounts = purposes = 0
    with db.transaction() as session:
        stale = session.scalars(
            select(AccountKey).where(
                AccountKey.wrapped_key.is_not(None), AccountKey.master_key_id != current.key_id
            )
        )
        accounts = sum(keyring.rewrap(row) for row in stale)
        for row in session.scalars(
            select(PurposeKey).where(PurposeKey.master_key_id != current.key_id)
        ):
            key = unseal(
                keyring.find(row.master_key_id).key, row.wrapped_key, _context(row.purpose)
            )
            row.wrapped_key = seal(current.key, key, _context(row.purpose))
            row.master_key_id = current.key_id
            purposes += 1
    items = 0
    after = ""
    while True:
        with db.transaction() as session:
            rows = session.scalars(
                select(ReviewItem)
                .where(ReviewItem.key_sealed.is_not(None), ReviewItem.id > after)
                .order_by(ReviewItem.id)
                .limit(CHUNK)
            ).all()
            for item in rows:
                assert item.key_sealed is not None
                resealed = reseal_item_key(keyring, item.id, item.key_sealed)
                if resealed is not None:
                    item.key_sealed = resealed
                    items += 1
        if len(rows) < CHUNK:
            return accounts, purposes, items
        after = rows[-1].id
