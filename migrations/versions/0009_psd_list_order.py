"""Fluoroscopy lists filtered or sorted by peak skin dose: the (modality, column) index the other
sortable summary columns have, and on PostgreSQL the highest-first DESC NULLS LAST one (as 0003).

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_study_modality_psd", "study", ["modality", "peak_skin_dose_gy"], unique=False)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE INDEX IF NOT EXISTS ix_study_modality_psd_desc_pg "
               "ON study (modality, peak_skin_dose_gy DESC NULLS LAST, id DESC)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_study_modality_psd_desc_pg")
    op.drop_index("ix_study_modality_psd", table_name="study")
