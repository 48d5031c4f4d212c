"""penalty notices: how each was served and the day it counts as received

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("penalty_notice") as b:
        b.add_column(sa.Column("served_by", sa.String(), nullable=False, server_default="post"))
        b.add_column(sa.Column("received_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("penalty_notice") as b:
        b.drop_column("received_on")
        b.drop_column("served_by")
