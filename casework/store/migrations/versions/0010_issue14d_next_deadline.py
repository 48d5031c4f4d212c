"""each open case's next deadline kept on the case, indexed for the caseload

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import casework.store.dbtypes

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# As casework.store.casemodels.OPEN_CASE_INDEX was at this revision: the open cases by school and
# next deadline, with what the caseload's tabs, filters and sorts read.
OPEN_CASE_INDEX = ("school_id", "next_due_at", "opened_at", "owner_id", "state", "case_type", "workflow", "pupil_id",
                   "safeguarding", "closed_at")

# The earliest outstanding deadline of every case, as casework.timers.outstanding defines one (an open
# timer, or a lapsed one while the case still sits in the state that started it and no later period
# of it runs), written here as it stood at this revision: later code keeps the columns itself.
FILL = """
UPDATE pupil_case SET next_due_at = n.due_at, next_timer_id = n.id
FROM (SELECT t.case_id, t.id, t.due_at,
             row_number() OVER (PARTITION BY t.case_id ORDER BY t.due_at, t.id) AS rank
      FROM timer t JOIN pupil_case c ON c.id = t.case_id
      WHERE c.closed_at IS NULL
        AND (t.status = 'open'
             OR (t.status = 'lapsed' AND t.state = c.state
                 AND NOT EXISTS (SELECT 1 FROM timer later WHERE later.case_id = t.case_id
                                 AND later.kind = t.kind AND later.status = 'open')))) AS n
WHERE pupil_case.id = n.case_id AND n.rank = 1
"""


def upgrade() -> None:
    with op.batch_alter_table("pupil_case") as b:
        b.add_column(sa.Column("next_due_at", casework.store.dbtypes.UTCDateTime(), nullable=True))
        b.add_column(sa.Column("next_timer_id", sa.Integer(), nullable=True))
    op.execute(FILL)
    op.create_index("ix_case_open_next_due", "pupil_case", list(OPEN_CASE_INDEX),
                    sqlite_where=sa.text("closed_at IS NULL"), postgresql_where=sa.text("closed_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_case_open_next_due", table_name="pupil_case")
    with op.batch_alter_table("pupil_case") as b:
        b.drop_column("next_timer_id")
        b.drop_column("next_due_at")
