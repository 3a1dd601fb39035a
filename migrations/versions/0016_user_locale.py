"""Each user's language (issue 22): None follows the site default (DOSEAPP_LANGUAGE), else the browser;
and whether their exports' column headings are in it (default: English, which scripts read).

Revision ID: 0016
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("export_headings_translated", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("user") as batch:
        batch.drop_column("export_headings_translated")
        batch.drop_column("locale")
