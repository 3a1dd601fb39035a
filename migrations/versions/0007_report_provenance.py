"""Report provenance: each event, accumulated plane and breast dose points to the object (dose report
or image) that sent it, and each object keeps its own totals as sent, so a study built from several
reports (a continued CT study) keeps which came from which.

Revision ID: 0007
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Tables whose rows a report sends.
FROM_REPORT = ("ct_event", "xray_event", "accumulated_plane", "breast_dose")


def _fk(table: str) -> str:
    return f"fk_{table}_object_id_processed_object"


def upgrade():
    with op.batch_alter_table("processed_object") as batch:
        batch.add_column(sa.Column("event_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("total_dlp_mgycm", sa.Float(), nullable=True))
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in FROM_REPORT:
        if sqlite:
            # SQLite adds a column with its REFERENCES clause in place. Batch mode would copy the
            # table instead, and dropping the old copy with foreign keys on deletes its children
            # (ct_source rows of ct_event) by their ON DELETE CASCADE.
            op.execute(f"ALTER TABLE {table} ADD COLUMN object_id INTEGER CONSTRAINT {_fk(table)} "
                       "REFERENCES processed_object (id)")
        else:
            op.add_column(table, sa.Column("object_id", sa.Integer(), nullable=True))
            op.create_foreign_key(_fk(table), table, "processed_object", ["object_id"], ["id"])
        op.create_index(f"ix_{table}_object_id", table, ["object_id"], unique=False)


def downgrade():
    for table in FROM_REPORT:
        op.drop_index(f"ix_{table}_object_id", table_name=table)
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE {table} DROP COLUMN object_id")
        else:
            op.drop_constraint(_fk(table), table, type_="foreignkey")
            op.drop_column(table, "object_id")
    with op.batch_alter_table("processed_object") as batch:
        batch.drop_column("total_dlp_mgycm")
        batch.drop_column("event_count")
