"""a case's timers indexed by kind and status, for the outstanding-deadline check

Revision ID: 0011
Revises: 0010

Whether a lapsed deadline is still outstanding depends on whether a later period of the same
deadline is open on its case (casework.timers.outstanding). With only the case id indexed, that
check read every timer of the case for every lapsed timer: quadratic in a case's timers, and run
on each sweep batch's cases to keep their next deadline. The composite index answers it in one
probe and serves every lookup by case id, so it replaces the case id index.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timer") as b:
        b.create_index("ix_timer_case_kind_status", ["case_id", "kind", "status"], unique=False)
        b.drop_index("ix_timer_case_id")


def downgrade() -> None:
    with op.batch_alter_table("timer") as b:
        b.create_index("ix_timer_case_id", ["case_id"], unique=False)
        b.drop_index("ix_timer_case_kind_status")
