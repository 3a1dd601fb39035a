"""Nuclear medicine and PET: radiopharmaceutical administrations and NM/PET image series of a study,
the study's NM summary columns (administered activity, radiopharmaceutical, radionuclide, effective
dose, activity per kg) with their list indexes, and the delete switch for received NM/PET images.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

FROM_REPORT = ("nm_administration", "nm_series")


def _provenance():
    # as FromReport declares it (see 0007): the object that sent the row
    return sa.Column("object_id", sa.Integer(), sa.ForeignKey("processed_object.id"), nullable=True)


def upgrade():
    op.create_table(
        "nm_administration",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("study.id", ondelete="CASCADE"), nullable=False),
        sa.Column("from_report", sa.Boolean(), nullable=False),
        sa.Column("event_uid", sa.String(128)),
        sa.Column("radiopharmaceutical", sa.Text()),
        sa.Column("radionuclide", sa.Text()),
        sa.Column("radionuclide_half_life_s", sa.Float()),
        sa.Column("specific_activity_bq_per_mmol", sa.Float()),
        sa.Column("volume_ml", sa.Float()),
        sa.Column("start_datetime", sa.DateTime()),
        sa.Column("stop_datetime", sa.DateTime()),
        sa.Column("administered_activity_mbq", sa.Float()),
        sa.Column("pre_administration_activity_mbq", sa.Float()),
        sa.Column("pre_administration_datetime", sa.DateTime()),
        sa.Column("pre_administration_device", sa.Text()),
        sa.Column("post_administration_activity_mbq", sa.Float()),
        sa.Column("post_administration_datetime", sa.DateTime()),
        sa.Column("post_administration_device", sa.Text()),
        sa.Column("route", sa.Text()),
        sa.Column("site", sa.Text()),
        sa.Column("extravasation_symptoms", sa.Text()),
        sa.Column("estimated_extravasation_percent", sa.Float()),
        sa.Column("effective_dose_msv", sa.Float()),
        sa.Column("effective_dose_authority", sa.Text()),
        sa.Column("organ_doses", sa.JSON()),
        sa.Column("person_name", sa.Text()),
        sa.Column("person_role", sa.Text()),
        sa.Column("brand_name", sa.Text()),
        sa.Column("comment", sa.Text()),
        sa.Column("associated_procedure", sa.Text()),
        sa.Column("patient_state", sa.Text()),
        sa.Column("body_surface_area_m2", sa.Float()),
        sa.Column("bmi_kg_m2", sa.Float()),
        sa.Column("glucose_mmol_l", sa.Float()),
        sa.Column("fasting_duration_h", sa.Float()),
        sa.Column("hydration_volume_ml", sa.Float()),
        _provenance(),
    )
    op.create_table(
        "nm_series",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("study.id", ondelete="CASCADE"), nullable=False),
        sa.Column("series_instance_uid", sa.String(128)),
        sa.Column("modality", sa.String(16)),
        sa.Column("series_datetime", sa.DateTime()),
        sa.Column("series_description", sa.Text()),
        sa.Column("protocol_name", sa.Text()),
        sa.Column("image_type", sa.Text()),
        sa.Column("series_type", sa.Text()),
        sa.Column("units", sa.String(32)),
        sa.Column("decay_correction", sa.String(32)),
        sa.Column("corrected_image", sa.Text()),
        sa.Column("number_of_slices", sa.Integer()),
        sa.Column("acquisition_datetime", sa.DateTime()),
        sa.Column("image_count", sa.Integer(), nullable=False),
        _provenance(),
    )
    op.create_index("ix_nm_administration_study_id", "nm_administration", ["study_id"])
    op.create_index("ix_nm_administration_event_uid", "nm_administration", ["event_uid"])
    op.create_index("ix_nm_administration_object_id", "nm_administration", ["object_id"])
    op.create_index("ix_nm_series_study_id", "nm_series", ["study_id"])
    op.create_index("ix_nm_series_series_instance_uid", "nm_series", ["series_instance_uid"])
    op.create_index("ix_nm_series_object_id", "nm_series", ["object_id"])

    op.add_column("study", sa.Column("nm_activity_mbq", sa.Float(), nullable=True))
    op.add_column("study", sa.Column("nm_radiopharmaceutical", sa.Text(), nullable=True))
    op.add_column("study", sa.Column("nm_radionuclide", sa.Text(), nullable=True))
    op.add_column("study", sa.Column("nm_effective_dose_msv", sa.Float(), nullable=True))
    op.add_column("study", sa.Column("nm_activity_per_kg_mbq", sa.Float(), nullable=True))
    op.create_index("ix_study_modality_nm_activity", "study", ["modality", "nm_activity_mbq"])
    op.create_index("ix_study_modality_nm_radiopharmaceutical", "study", ["modality", "nm_radiopharmaceutical"])
    op.create_index("ix_study_modality_nm_radionuclide", "study", ["modality", "nm_radionuclide"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_study_modality_activity_desc_pg ON study "
                   "(modality, nm_activity_mbq DESC NULLS LAST, id DESC)")
    op.add_column("system_settings", sa.Column("del_nm_im", sa.Boolean(), nullable=False,
                                               server_default=sa.false()))


def _drop(table, names):
    # In place on SQLite too (as 0010): a batch copy of study would cascade-delete its events.
    for name in names:
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
        else:
            op.drop_column(table, name)


def downgrade():
    _drop("system_settings", ("del_nm_im",))
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_study_modality_activity_desc_pg", table_name="study")
    for name in ("ix_study_modality_nm_radionuclide", "ix_study_modality_nm_radiopharmaceutical",
                 "ix_study_modality_nm_activity"):
        op.drop_index(name, table_name="study")
    _drop("study", ("nm_activity_per_kg_mbq", "nm_effective_dose_msv", "nm_radionuclide", "nm_radiopharmaceutical",
                    "nm_activity_mbq"))
    op.drop_table("nm_series")
    op.drop_table("nm_administration")
