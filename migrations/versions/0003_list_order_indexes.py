"""PostgreSQL-only list indexes: highest-first orderings (DESC NULLS LAST) and trigram indexes for
identifier contains-search (pg_trgm).

Revision ID: 0003
Revises: 0002
"""
import logging

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# name suffix -> study column; the same as doseapp.models.study.DESCENDING_SORTS and TRIGRAM_SEARCHED
# (a migration keeps its own copy: it must not change when the models do).
DESCENDING = {"datetime": "study_datetime", "dlp": "total_dlp_mgycm", "dap": "total_dap_gym2",
              "dose_rp": "total_dose_rp_gy", "agd": "agd_both_mgy", "events": "number_of_events",
              "age": "patient_age_years"}
TRIGRAM = ("accession_number", "patient_name", "patient_id")


def _trigram_schema(bind) -> str | None:
    """The schema pg_trgm lives in, creating it in public if it is missing and we may."""
    find = "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
    schema = bind.exec_driver_sql(find).scalar()
    if schema is None:
        try:
            with bind.begin_nested():
                bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        except Exception as exc:  # no privilege: lists still work, identifier search scans
            log.warning("pg_trgm could not be created (%s); identifier searches will not be indexed. "
                        "Ask the database administrator to run CREATE EXTENSION pg_trgm, then "
                        "`doseapp db upgrade` again after downgrading to 0002.", exc)
            return None
        schema = bind.exec_driver_sql(find).scalar()
    return schema


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for name, column in DESCENDING.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_study_modality_{name}_desc_pg "
                   f"ON study (modality, {column} DESC NULLS LAST, id DESC)")
    schema = _trigram_schema(bind)
    if schema:
        for column in TRIGRAM:
            op.execute(f'CREATE INDEX IF NOT EXISTS ix_study_{column}_trgm_pg '
                       f'ON study USING gin ({column} "{schema}".gin_trgm_ops)')


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in DESCENDING:
        op.execute(f"DROP INDEX IF EXISTS ix_study_modality_{name}_desc_pg")
    for column in TRIGRAM:
        op.execute(f"DROP INDEX IF EXISTS ix_study_{column}_trgm_pg")
