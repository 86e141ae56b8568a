"""What the audit tests share: an insider's way past the append-only triggers."""

from __future__ import annotations

from sqlalchemy import text

from earmuff.store import Store


def unseal_audit_table(store: Store) -> None:
    """Drop the triggers that refuse UPDATE and DELETE on the audit table, as someone
    who owns the database can: the chain and the checkpoints must catch what follows."""
    with store.db.engine.begin() as conn:
        if store.db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
