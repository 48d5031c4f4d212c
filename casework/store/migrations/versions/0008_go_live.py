"""go live: a user's further schools, forced password change, provisional deadlines, case owners,
background print jobs, facts supplied for a letter

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from casework.store.dbtypes import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_membership",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("staff_user.id"), nullable=False, index=True),
        sa.Column("school_id", sa.Integer(), sa.ForeignKey("school.id"), nullable=False, index=True),
        sa.Column("role", sa.String(), nullable=False),
        sa.UniqueConstraint("user_id", "school_id"),
    )
    op.create_table(
        "print_job",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("school_id", sa.Integer(), sa.ForeignKey("school.id"), nullable=False, index=True),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("produced", sa.Integer(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("batch_ids", sa.JSON(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.String(), nullable=False),
    )
    with op.batch_alter_table("staff_user") as b:
        b.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("timer") as b:
        b.add_column(sa.Column("count_from", sa.Date(), nullable=True))
        b.add_column(sa.Column("school_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("letter") as b:
        b.add_column(sa.Column("facts", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("pupil_case") as b:
        b.add_column(sa.Column("owner_id", sa.Integer(), sa.ForeignKey("staff_user.id", name="fk_case_owner"),
                               nullable=True))
        b.create_index("ix_pupil_case_owner_id", ["owner_id"])


def downgrade() -> None:
    with op.batch_alter_table("letter") as b:
        b.drop_column("facts")
    with op.batch_alter_table("pupil_case") as b:
        b.drop_index("ix_pupil_case_owner_id")
        b.drop_column("owner_id")
    with op.batch_alter_table("timer") as b:
        b.drop_column("school_days")
        b.drop_column("count_from")
    with op.batch_alter_table("staff_user") as b:
        b.drop_column("must_change_password")
    op.drop_table("staff_membership")
    op.drop_table("print_job")
