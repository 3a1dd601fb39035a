"""quarantine: the sender's calling AE title, and the content hash that keeps one copy of each object

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("quarantined_object", schema=None) as batch_op:
        batch_op.add_column(sa.Column("calling_ae", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_quarantined_object_content_sha256"), ["content_sha256"], unique=True)


def downgrade():
    with op.batch_alter_table("quarantined_object", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantined_object_content_sha256"))
        batch_op.drop_column("content_sha256")
        batch_op.drop_column("calling_ae")
