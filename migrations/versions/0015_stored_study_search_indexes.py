"""Indexes for our C-FIND SCP's two scans of dicom_stored_study (docs/performance.md, issue 19): the
accession number (both databases) and patient name prefixes, case-insensitive (PostgreSQL:
lower(patient_name) with text_pattern_ops; SQLite: the column COLLATE NOCASE, which its LIKE uses).

Revision ID: 0015
Revises: 0013
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_dicom_stored_study_accession_number", "dicom_stored_study", ["accession_number"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_dicom_stored_study_patient_name_lower_pg "
                   "ON dicom_stored_study (lower(patient_name) text_pattern_ops)")
    elif op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE INDEX ix_dicom_stored_study_patient_name_nocase_sqlite "
                   "ON dicom_stored_study (patient_name COLLATE NOCASE)")


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_dicom_stored_study_patient_name_lower_pg")
    elif dialect == "sqlite":
        op.execute("DROP INDEX IF EXISTS ix_dicom_stored_study_patient_name_nocase_sqlite")
    op.drop_index("ix_dicom_stored_study_accession_number", table_name="dicom_stored_study")
