"""owner side: disclosure texts, owner sign-in, deletion receipts, legal holds, the
owner's sealed review history, and the vault's blind index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 03:00:16.840330
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "disclosure_texts",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("first_shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_disclosure_texts")),
    )
    with op.batch_alter_table("disclosure_texts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disclosure_texts_version"), ["version"], unique=False)

    op.create_table(
        "deletion_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("recording_id", sa.String(length=32), nullable=True),
        sa.Column("range_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("range_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("receipt_sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_deletion_requests_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletion_requests")),
    )
    with op.batch_alter_table("deletion_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deletion_requests_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by_id", sa.String(length=32), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_by_id", sa.String(length=32), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("release_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_legal_holds_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["released_by_id"],
            ["staff_users.id"],
            name=op.f("fk_legal_holds_released_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["set_by_id"], ["staff_users.id"], name=op.f("fk_legal_holds_set_by_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_holds_account_id"), ["account_id"], unique=False)

    op.create_table(
        "owner_login_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_owner_login_links_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_owner_login_links")),
    )
    with op.batch_alter_table("owner_login_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_owner_login_links_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_owner_login_links_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "owner_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_owner_sessions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_owner_sessions")),
    )
    with op.batch_alter_table("owner_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_owner_sessions_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_owner_sessions_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "review_history",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("recording_id", sa.String(length=32), nullable=False),
        sa.Column("record_sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_review_history_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_review_history_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_history")),
    )
    with op.batch_alter_table("review_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_history_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_review_history_recording_id"), ["recording_id"], unique=False
        )

    with op.batch_alter_table("consent_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disclosure_sha256", sa.String(length=64), nullable=True))

    with op.batch_alter_table("vault_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_tag", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("recording_tag", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_vault_entries_account_tag"), ["account_tag"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_vault_entries_recording_tag"), ["recording_tag"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("vault_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vault_entries_recording_tag"))
        batch_op.drop_index(batch_op.f("ix_vault_entries_account_tag"))
        batch_op.drop_column("recording_tag")
        batch_op.drop_column("account_tag")

    with op.batch_alter_table("consent_history", schema=None) as batch_op:
        batch_op.drop_column("disclosure_sha256")

    with op.batch_alter_table("review_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_history_recording_id"))
        batch_op.drop_index(batch_op.f("ix_review_history_account_id"))

    op.drop_table("review_history")
    with op.batch_alter_table("owner_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_owner_sessions_expires_at"))
        batch_op.drop_index(batch_op.f("ix_owner_sessions_account_id"))

    op.drop_table("owner_sessions")
    with op.batch_alter_table("owner_login_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_owner_login_links_expires_at"))
        batch_op.drop_index(batch_op.f("ix_owner_login_links_account_id"))

    op.drop_table("owner_login_links")
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_holds_account_id"))

    op.drop_table("legal_holds")
    with op.batch_alter_table("deletion_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deletion_requests_account_id"))

    op.drop_table("deletion_requests")
    with op.batch_alter_table("disclosure_texts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosure_texts_version"))

    op.drop_table("disclosure_texts")
