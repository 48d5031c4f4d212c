"""the evidence trail: which rule and workflow version produced a finding or a letter

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty for findings and letters made before this migration: `casework explain` says
    # "not recorded" for them rather than guessing.
    with op.batch_alter_table("case_finding") as b:
        b.add_column(sa.Column("provenance", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("letter") as b:
        b.add_column(sa.Column("provenance", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("letter") as b:
        b.drop_column("provenance")
    with op.batch_alter_table("case_finding") as b:
        b.drop_column("provenance")
