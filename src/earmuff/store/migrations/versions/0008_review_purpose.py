"""review purpose: what each review item is for, and what its reviewer is served

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-12 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Items made before purposes existed were all transcription tasks served the
    # anonymized recording: the defaults fill them in, then go, as the models have none.
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "purpose", sa.String(length=32), nullable=False, server_default="transcription"
            )
        )
        batch_op.add_column(
            sa.Column(
                "served",
                sa.String(length=32),
                nullable=False,
                server_default="anonymized_recording",
            )
        )
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.alter_column("purpose", server_default=None)
        batch_op.alter_column("served", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.drop_column("served")
        batch_op.drop_column("purpose")
