"""letter print batches; who dealt with a safeguarding alert, and how

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import casework.store.dbtypes

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "letter_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("produced_at", casework.store.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("produced_by", sa.String(), nullable=False),
        sa.Column("letter_ids", sa.JSON(), nullable=False),
        sa.Column("file", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_letter_batch_school_id", "letter_batch", ["school_id"])
    with op.batch_alter_table("notification") as b:
        b.add_column(sa.Column("resolved_by", sa.Text(), nullable=False, server_default=""))
        b.add_column(sa.Column("resolution", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("notification") as b:
        b.drop_column("resolution")
        b.drop_column("resolved_by")
    op.drop_index("ix_letter_batch_school_id", table_name="letter_batch")
    op.drop_table("letter_batch")
