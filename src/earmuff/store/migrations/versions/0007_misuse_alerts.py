"""misuse alerts: what the rules over the audit trail found, and who acknowledged it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "misuse_alerts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_id", sa.String(length=32), nullable=True),
        sa.Column("acknowledgement_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"],
            ["staff_users.id"],
            name=op.f("fk_misuse_alerts_acknowledged_by_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_misuse_alerts")),
        sa.UniqueConstraint("rule", "key", name=op.f("uq_misuse_alerts_rule")),
    )
    with op.batch_alter_table("misuse_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_misuse_alerts_raised_at"), ["raised_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_misuse_alerts_staff_id"), ["staff_id"], unique=False)
    # An index only: the append-only triggers guard rows, and no row changes here.
    op.create_index("ix_audit_events_occurred_at", "audit_events", ["occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_occurred_at", table_name="audit_events")
    with op.batch_alter_table("misuse_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_misuse_alerts_staff_id"))
        batch_op.drop_index(batch_op.f("ix_misuse_alerts_raised_at"))
    op.drop_table("misuse_alerts")
