"""scheduler: job runs and the email outbox

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import casework.store.dbtypes

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.Column("scheduled_for", casework.store.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=False),
        sa.Column("claimed_at", casework.store.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("started_at", casework.store.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", casework.store.dbtypes.UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job", "scope", "period"),
    )
    op.create_table(
        "email_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", casework.store.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_at", casework.store.dbtypes.UTCDateTime(), nullable=True),
        sa.Column("sent_at", casework.store.dbtypes.UTCDateTime(), nullable=True),
        sa.Column("error", sa.String(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.ForeignKeyConstraint(["notification_id"], ["notification.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_email_outbox_status", "email_outbox", ["status", "claimed_at"])
    op.create_index("ix_email_outbox_school_id", "email_outbox", ["school_id"])


def downgrade() -> None:
    op.drop_index("ix_email_outbox_school_id", table_name="email_outbox")
    op.drop_index("ix_email_outbox_status", table_name="email_outbox")
    op.drop_table("email_outbox")
    op.drop_table("job_run")
