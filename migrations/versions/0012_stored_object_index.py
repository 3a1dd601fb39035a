"""The index of kept objects (study / series / instance) that our own C-FIND, C-MOVE and C-GET SCP
answer from; per-node switches for those services and cleanup "when full"; per-remote C-FIND flag,
query model and maximum PDU.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "dicom_stored_study",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_instance_uid", sa.String(64), nullable=False, unique=True),
        sa.Column("patient_id", sa.String(128)),
        sa.Column("patient_name", sa.String(256)),
        sa.Column("patient_birth_date", sa.String(8)),
        sa.Column("patient_sex", sa.String(16)),
        sa.Column("study_date", sa.String(8)),
        sa.Column("study_time", sa.String(16)),
        sa.Column("accession_number", sa.String(128)),
        sa.Column("study_id", sa.String(16)),
        sa.Column("study_description", sa.String(256)),
        sa.Column("referring_physician", sa.String(256)),
        sa.Column("modalities", sa.String(128)),
        sa.Column("series_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("instance_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_dicom_stored_study_patient_id", "dicom_stored_study", ["patient_id"])
    op.create_index("ix_dicom_stored_study_study_date", "dicom_stored_study", ["study_date"])
    op.create_table(
        "dicom_stored_series",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_pk", sa.Integer(), sa.ForeignKey("dicom_stored_study.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("series_instance_uid", sa.String(64), nullable=False, unique=True),
        sa.Column("modality", sa.String(16)),
        sa.Column("series_number", sa.Integer()),
        sa.Column("series_description", sa.String(256)),
        sa.Column("series_date", sa.String(8)),
        sa.Column("series_time", sa.String(16)),
        sa.Column("instance_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_dicom_stored_series_study_pk", "dicom_stored_series", ["study_pk"])
    op.create_table(
        "dicom_stored_instance",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("series_pk", sa.Integer(), sa.ForeignKey("dicom_stored_series.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("sop_instance_uid", sa.String(64), nullable=False, unique=True),
        sa.Column("sop_class_uid", sa.String(64), nullable=False),
        sa.Column("transfer_syntax_uid", sa.String(64)),
        sa.Column("instance_number", sa.Integer()),
        sa.Column("content_date", sa.String(8)),
        sa.Column("content_time", sa.String(16)),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger()),
        sa.Column("node_aetitle", sa.String(16)),
        sa.Column("received_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_dicom_stored_instance_series_pk", "dicom_stored_instance", ["series_pk"])
    with op.batch_alter_table("dicom_store_scp") as batch:
        batch.add_column(sa.Column("cleanup_when_full", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("cleanup_full_percent", sa.Integer(), nullable=False, server_default="90"))
        batch.add_column(sa.Column("find_enabled", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("move_enabled", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("get_enabled", sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table("dicom_remote_node") as batch:
        batch.add_column(sa.Column("supports_find", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("query_model", sa.String(16), nullable=False, server_default="study"))
        batch.add_column(sa.Column("max_pdu", sa.Integer(), nullable=False, server_default="16384"))


def downgrade():
    with op.batch_alter_table("dicom_remote_node") as batch:
        for name in ("max_pdu", "query_model", "supports_find"):
            batch.drop_column(name)
    with op.batch_alter_table("dicom_store_scp") as batch:
        for name in ("get_enabled", "move_enabled", "find_enabled", "cleanup_full_percent", "cleanup_when_full"):
            batch.drop_column(name)
    op.drop_table("dicom_stored_instance")
    op.drop_table("dicom_stored_series")
    op.drop_table("dicom_stored_study")
