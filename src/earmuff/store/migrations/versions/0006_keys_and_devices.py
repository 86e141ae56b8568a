"""keys and devices: purpose keys kept across master-key rotations; a revoked serial
can be registered again

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "revoked_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "purpose_keys",
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("master_key_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("purpose", name=op.f("pk_purpose_keys")),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_devices_serial"), type_="unique")
        batch_op.create_index(
            "ux_devices_active_serial",
            ["serial"],
            unique=True,
            postgresql_where=sa.text(ACTIVE),
            sqlite_where=sa.text(ACTIVE),
        )
    # Accounts deleted before erasure forgot the account number: forget it now.
    op.execute("UPDATE accounts SET external_id = 'erased:' || id WHERE deleted_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index("ux_devices_active_serial")
        batch_op.create_unique_constraint(batch_op.f("uq_devices_serial"), ["serial"])
    op.drop_table("purpose_keys")
