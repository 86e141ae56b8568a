"""staff enrolment: two-admin proposals and one-use enrolment links

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_proposals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("locales", sa.String(length=255), nullable=False),
        sa.Column("safety_pool", sa.Boolean(), nullable=False),
        sa.Column("proposed_by_id", sa.String(length=32), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by_id", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('create', 'reset', 'role')", name=op.f("ck_staff_proposals_kind_known")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'refused', 'cancelled')",
            name=op.f("ck_staff_proposals_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_proposals_decided_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_proposals_proposed_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_proposals_staff_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_proposals")),
    )
    with op.batch_alter_table("staff_proposals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_proposals_status"), ["status"], unique=False)

    op.create_table(
        "staff_enrolments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("proposal_id", sa.String(length=32), nullable=True),
        sa.Column("staff_id", sa.String(length=32), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("locales", sa.String(length=255), nullable=False),
        sa.Column("safety_pool", sa.Boolean(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("totp_secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("failed_codes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("burned_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('create', 'reset')", name=op.f("ck_staff_enrolments_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["staff_proposals.id"],
            name=op.f("fk_staff_enrolments_proposal_id_staff_proposals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_enrolments_staff_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_enrolments")),
    )
    with op.batch_alter_table("staff_enrolments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_enrolments_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_staff_enrolments_proposal_id"), ["proposal_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_staff_enrolments_token_hash"), ["token_hash"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_enrolments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_enrolments_token_hash"))
        batch_op.drop_index(batch_op.f("ix_staff_enrolments_proposal_id"))
        batch_op.drop_index(batch_op.f("ix_staff_enrolments_expires_at"))
    op.drop_table("staff_enrolments")
    with op.batch_alter_table("staff_proposals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_proposals_status"))
    op.drop_table("staff_proposals")
