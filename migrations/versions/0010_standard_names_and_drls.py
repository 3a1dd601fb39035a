"""Standard names, local diagnostic reference levels, and the CT summaries the comparison reads:
mean CTDIvol and SSDE per study with the SSDE method, effective dose estimates, the study's DRL ratio.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

STUDY_FLOATS = ("drl_ratio", "mean_ctdivol_mgy", "mean_ssde_mgy", "effective_dose_msv")
CT_EVENT_FLOATS = ("effective_dose_estimate_msv", "effective_dose_coefficient")


def _add_name_fk(table):
    """standard_name_id referencing standard_name. SQLite: plain ADD COLUMN with the reference inline
    (done in place; see 0008 for why not batch mode). PostgreSQL: the column, then the constraint.
    No ON DELETE rule: SQLite does not report one on an added column, so models and schema could not
    be compared; deleting a standard name clears these references first (doseapp.standards)."""
    name = f"fk_{table}_standard_name_id_standard_name"  # the models' naming convention
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN standard_name_id INTEGER "
                   f"CONSTRAINT {name} REFERENCES standard_name (id)")
        return
    op.add_column(table, sa.Column("standard_name_id", sa.Integer(), nullable=True))
    op.create_foreign_key(name, table, "standard_name", ["standard_name_id"], ["id"])


def upgrade():
    op.create_table(
        "standard_name",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("modality", sa.String(4), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("modality", "name"),
    )
    op.create_table(
        "standard_name_rule",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("standard_name_id", sa.Integer(), sa.ForeignKey("standard_name.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("match", sa.String(8), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("standard_name_id", "field", "match", "value"),
    )
    op.create_index("ix_standard_name_rule_standard_name_id", "standard_name_rule", ["standard_name_id"])
    op.create_table(
        "reference_level",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("standard_name_id", sa.Integer(), sa.ForeignKey("standard_name.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("quantity", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("age_min_years", sa.Float()),
        sa.Column("age_max_years", sa.Float()),
        sa.Column("weight_min_kg", sa.Float()),
        sa.Column("weight_max_kg", sa.Float()),
        sa.Column("equipment_id", sa.Integer(), sa.ForeignKey("equipment.id", ondelete="CASCADE")),
        sa.Column("source", sa.Text()),
        sa.Column("note", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_reference_level_standard_name_id", "reference_level", ["standard_name_id"])
    op.create_index("ix_reference_level_name_quantity", "reference_level", ["standard_name_id", "quantity"])

    _add_name_fk("study")
    for name in STUDY_FLOATS:
        op.add_column("study", sa.Column(name, sa.Float(), nullable=True))
    op.add_column("study", sa.Column("ssde_method", sa.Text(), nullable=True))
    op.create_index("ix_study_modality_standard_name", "study",
                    ["modality", "standard_name_id", "equipment_id", "study_datetime"])
    op.create_index("ix_study_modality_drl_ratio", "study", ["modality", "drl_ratio"])
    op.create_index("ix_study_modality_ssde", "study", ["modality", "mean_ssde_mgy"])

    _add_name_fk("ct_event")
    for name in CT_EVENT_FLOATS:
        op.add_column("ct_event", sa.Column(name, sa.Float(), nullable=True))
    op.add_column("ct_event", sa.Column("effective_dose_region", sa.Text(), nullable=True))
    op.create_index("ix_ct_event_standard_name", "ct_event", ["standard_name_id", "study_id"])
    _add_name_fk("xray_event")
    op.create_index("ix_xray_event_standard_name", "xray_event", ["standard_name_id", "study_id"])

    op.add_column("system_settings", sa.Column("drl_sets", sa.JSON(), nullable=True))
    op.add_column("system_settings", sa.Column("drl_min_sample", sa.Integer(), nullable=False, server_default="10"))
    op.add_column("system_settings", sa.Column("drl_flag_factor", sa.Float(), nullable=False, server_default="1.5"))
    op.add_column("system_settings", sa.Column("drl_period_days", sa.Integer(), nullable=False,
                                               server_default="365"))


def _drop(table, names):
    for name in names:
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
        else:
            op.drop_column(table, name)


def downgrade():
    _drop("system_settings", ("drl_sets", "drl_min_sample", "drl_flag_factor", "drl_period_days"))
    op.drop_index("ix_xray_event_standard_name", table_name="xray_event")
    op.drop_index("ix_ct_event_standard_name", table_name="ct_event")
    for index in ("ix_study_modality_standard_name", "ix_study_modality_drl_ratio", "ix_study_modality_ssde"):
        op.drop_index(index, table_name="study")
    if op.get_bind().dialect.name != "sqlite":
        for table in ("study", "ct_event", "xray_event"):
            op.drop_constraint(f"fk_{table}_standard_name_id_standard_name", table, type_="foreignkey")
    _drop("xray_event", ("standard_name_id",))
    _drop("ct_event", ("standard_name_id", "effective_dose_region") + CT_EVENT_FLOATS)
    _drop("study", ("standard_name_id", "ssde_method") + STUDY_FLOATS)
    op.drop_table("reference_level")
    op.drop_table("standard_name_rule")
    op.drop_table("standard_name")
