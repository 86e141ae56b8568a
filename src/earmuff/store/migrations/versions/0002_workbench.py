"""workbench: staff sessions, review tasks and leases, annotations, gold answers,
second listens, safety cases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 02:56:07.194479
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("second_listener", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.alter_column("second_listener", server_default=None)
    op.create_table(
        "gold_answers",
        sa.Column("review_item_id", sa.String(length=32), nullable=False),
        sa.Column("transcript_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("intent", sa.String(length=64), nullable=True),
        sa.Column("created_by_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff_users.id"],
            name=op.f("fk_gold_answers_created_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["review_item_id"],
            ["review_items.id"],
            name=op.f("fk_gold_answers_review_item_id_review_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("review_item_id", name=op.f("pk_gold_answers")),
    )
    op.create_table(
        "review_tasks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("review_item_id", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pool", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=35), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_id", sa.String(length=32), nullable=True),
        sa.Column("lease_holder_id", sa.String(length=32), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by_id", sa.String(length=32), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["completed_by_id"],
            ["staff_users.id"],
            name=op.f("fk_review_tasks_completed_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["lease_holder_id"],
            ["staff_users.id"],
            name=op.f("fk_review_tasks_lease_holder_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["review_item_id"],
            ["review_items.id"],
            name=op.f("fk_review_tasks_review_item_id_review_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_tasks")),
        sa.UniqueConstraint("lease_id", name=op.f("uq_review_tasks_lease_id")),
        sa.UniqueConstraint("review_item_id", "slot", name=op.f("uq_review_tasks_review_item_id")),
    )
    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_review_tasks_open",
            ["pool", "locale", "available_at"],
            unique=False,
            postgresql_where=sa.text("status IN ('queued', 'leased')"),
            sqlite_where=sa.text("status IN ('queued', 'leased')"),
        )
        batch_op.create_index(
            "ix_review_tasks_lapsing",
            ["lease_expires_at"],
            unique=False,
            postgresql_where=sa.text("status = 'leased'"),
            sqlite_where=sa.text("status = 'leased'"),
        )
        batch_op.create_index(
            "ux_review_tasks_one_lease",
            ["lease_holder_id"],
            unique=True,
            postgresql_where=sa.text("status = 'leased'"),
            sqlite_where=sa.text("status = 'leased'"),
        )
        batch_op.create_index(
            batch_op.f("ix_review_tasks_review_item_id"), ["review_item_id"], unique=False
        )

    op.create_table(
        "lease_grants",
        sa.Column("lease_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("review_item_id", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("pool", sa.String(length=16), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_item_id"],
            ["review_items.id"],
            name=op.f("fk_lease_grants_review_item_id_review_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_users.id"], name=op.f("fk_lease_grants_staff_id_staff_users")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["review_tasks.id"],
            name=op.f("fk_lease_grants_task_id_review_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lease_id", name=op.f("pk_lease_grants")),
    )
    with op.batch_alter_table("lease_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lease_grants_review_item_id"), ["review_item_id"], unique=False
        )
        batch_op.create_index("ix_lease_grants_staff", ["staff_id", "granted_at"], unique=False)

    op.create_table(
        "safety_cases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("review_item_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=True),
        sa.Column("opened_by_id", sa.String(length=32), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('open', 'triaged', 'action_decided', 'closed')",
            name=op.f("ck_safety_cases_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["opened_by_id"],
            ["staff_users.id"],
            name=op.f("fk_safety_cases_opened_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["review_item_id"],
            ["review_items.id"],
            name=op.f("fk_safety_cases_review_item_id_review_items"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_cases")),
    )
    with op.batch_alter_table("safety_cases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_safety_cases_review_item_id"), ["review_item_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_safety_cases_state"), ["state"], unique=False)

    op.create_table(
        "second_listens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("review_item_id", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(length=35), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("requested_by_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answered_by_id", sa.String(length=32), nullable=True),
        sa.Column("suggestion_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["answered_by_id"],
            ["staff_users.id"],
            name=op.f("fk_second_listens_answered_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["staff_users.id"],
            name=op.f("fk_second_listens_requested_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["review_item_id"],
            ["review_items.id"],
            name=op.f("fk_second_listens_review_item_id_review_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_second_listens")),
    )
    with op.batch_alter_table("second_listens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_second_listens_review_item_id"), ["review_item_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_second_listens_status"), ["status"], unique=False)

    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_sessions_staff_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_staff_sessions")),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_sessions_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "annotations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("review_item_id", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("staff_role", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("transcript_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("intent", sa.String(length=64), nullable=True),
        sa.Column("slots", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("skip_reason", sa.String(length=64), nullable=True),
        sa.Column("gold_wer", sa.Float(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_item_id"],
            ["review_items.id"],
            name=op.f("fk_annotations_review_item_id_review_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_users.id"], name=op.f("fk_annotations_staff_id_staff_users")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["review_tasks.id"],
            name=op.f("fk_annotations_task_id_review_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotations")),
    )
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_annotations_item_staff", ["review_item_id", "staff_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_annotations_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "safety_case_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["safety_cases.id"],
            name=op.f("fk_safety_case_events_case_id_safety_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_users.id"],
            name=op.f("fk_safety_case_events_staff_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_case_events")),
    )
    with op.batch_alter_table("safety_case_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_safety_case_events_case_id"), ["case_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("safety_case_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_case_events_case_id"))

    op.drop_table("safety_case_events")
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annotations_staff_id"))
        batch_op.drop_index("ix_annotations_item_staff")

    op.drop_table("annotations")
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_sessions_staff_id"))

    op.drop_table("staff_sessions")
    with op.batch_alter_table("second_listens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_second_listens_status"))
        batch_op.drop_index(batch_op.f("ix_second_listens_review_item_id"))

    op.drop_table("second_listens")
    with op.batch_alter_table("safety_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_cases_state"))
        batch_op.drop_index(batch_op.f("ix_safety_cases_review_item_id"))

    op.drop_table("safety_cases")
    with op.batch_alter_table("lease_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_lease_grants_staff")
        batch_op.drop_index(batch_op.f("ix_lease_grants_review_item_id"))

    op.drop_table("lease_grants")
    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_tasks_review_item_id"))
        batch_op.drop_index("ux_review_tasks_one_lease")
        batch_op.drop_index("ix_review_tasks_lapsing")
        batch_op.drop_index("ix_review_tasks_open")

    op.drop_table("review_tasks")
    op.drop_table("gold_answers")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("second_listener")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
