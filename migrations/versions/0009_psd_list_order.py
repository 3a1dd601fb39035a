"""Fluoroscopy lists sorted by peak skin dose, highest first: the PostgreSQL-only DESC NULLS LAST
index the other sortable summary columns have (0003). SQLite reads ix_study_peak_skin_dose_gy
backwards for that order (it sorts NULL first), so it needs nothing new.

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE INDEX IF NOT EXISTS ix_study_modality_psd_desc_pg "
               "ON study (modality, peak_skin_dose_gy DESC NULLS LAST, id DESC)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_study_modality_psd_desc_pg")
