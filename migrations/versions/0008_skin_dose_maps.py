"""Skin dose maps: a stored map (or the reason there is none) per fluoroscopy study, the study's peak
skin dose as a summary column, a per-system trust decision, and maps calculated on import by default.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "skin_dose_map",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("study.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("method_version", sa.String(32), nullable=False),
        sa.Column("phantom", sa.String(32)),
        sa.Column("phantom_description", sa.Text()),
        sa.Column("peak_skin_dose_gy", sa.Float()),
        sa.Column("peak_surface", sa.String(16)),
        sa.Column("cells_over_3gy", sa.Integer()),
        sa.Column("cells_over_5gy", sa.Integer()),
        sa.Column("cells_over_10gy", sa.Integer()),
        sa.Column("cell_size_cm", sa.Float()),
        sa.Column("patient_height_m", sa.Float()),
        sa.Column("patient_mass_kg", sa.Float()),
        sa.Column("height_source", sa.String(16)),
        sa.Column("mass_source", sa.String(16)),
        sa.Column("orientation", sa.String(8)),
        sa.Column("orientation_source", sa.String(32)),
        sa.Column("events_used", sa.Integer()),
        sa.Column("events_skipped", sa.Integer()),
        sa.Column("skipped", sa.JSON()),
        sa.Column("dose_fraction", sa.Float()),
        sa.Column("geometry", sa.Text()),
        sa.Column("rows", sa.Integer()),
        sa.Column("cols", sa.Integer()),
        sa.Column("dose_map", sa.LargeBinary()),
        sa.Column("seconds", sa.Float()),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_skin_dose_map_study_id", "skin_dose_map", ["study_id"], unique=True)
    # Plain ADD COLUMN (SQLite does it in place): batch mode would copy study and equipment, and
    # dropping the old copies with foreign keys on would delete or refuse their children.
    op.add_column("study", sa.Column("peak_skin_dose_gy", sa.Float(), nullable=True))
    op.create_index("ix_study_peak_skin_dose_gy", "study", ["peak_skin_dose_gy"], unique=False)
    op.add_column("equipment", sa.Column("skin_map_trusted", sa.Boolean(), nullable=True))
    # Maps take well under a second now: show them and calculate them on import by default.
    true = "1" if op.get_bind().dialect.name == "sqlite" else "true"
    op.execute(f"UPDATE system_settings SET enable_skin_dose_maps = {true}, calc_skin_dose_on_import = {true}")


def downgrade():
    op.drop_index("ix_study_peak_skin_dose_gy", table_name="study")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE equipment DROP COLUMN skin_map_trusted")
        op.execute("ALTER TABLE study DROP COLUMN peak_skin_dose_gy")
    else:
        op.drop_column("equipment", "skin_map_trusted")
        op.drop_column("study", "peak_skin_dose_gy")
    op.drop_index("ix_skin_dose_map_study_id", table_name="skin_dose_map")
    op.drop_table("skin_dose_map")
