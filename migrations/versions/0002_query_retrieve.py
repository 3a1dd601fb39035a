"""query-retrieve: remote node capabilities and timeouts, response exclusion reasons at every level,
retrieve counts, scheduled queries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 08:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    # Existing rows get the model defaults through server defaults (NOT NULL columns added to a
    # table that may already hold remote nodes or queries).
    with op.batch_alter_table('dicom_remote_node', schema=None) as batch_op:
        batch_op.add_column(sa.Column('supports_move', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('supports_get', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('acse_timeout', sa.Integer(), nullable=False, server_default='30'))
        batch_op.add_column(sa.Column('dimse_timeout', sa.Integer(), nullable=False, server_default='120'))
        batch_op.add_column(sa.Column('network_timeout', sa.Integer(), nullable=False, server_default='120'))
        batch_op.add_column(sa.Column('echo_status', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('last_echo_at', sa.DateTime(), nullable=True))

    op.create_table('dicom_scheduled_query',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('remote_node_id', sa.Integer(), nullable=False),
    sa.Column('store_scp_id', sa.Integer(), nullable=True),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('interval_minutes', sa.Integer(), nullable=False),
    sa.Column('days_back', sa.Integer(), nullable=False),
    sa.Column('retrieve', sa.Boolean(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('last_run_at', sa.DateTime(), nullable=True),
    sa.Column('next_run_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['remote_node_id'], ['dicom_remote_node.id'],
                            name=op.f('fk_dicom_scheduled_query_remote_node_id_dicom_remote_node'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_scp_id'], ['dicom_store_scp.id'],
                            name=op.f('fk_dicom_scheduled_query_store_scp_id_dicom_store_scp'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dicom_scheduled_query'))
    )

    with op.batch_alter_table('dicom_query', schema=None) as batch_op:
        batch_op.add_column(sa.Column('summary', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('retrieve_job_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('retrieve_method', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('objects_requested', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('objects_received', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('objects_failed', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('scheduled_query_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_dicom_query_retrieve_job_id_job'), 'job',
                                    ['retrieve_job_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_dicom_query_scheduled_query_id_dicom_scheduled_query'),
                                    'dicom_scheduled_query', ['scheduled_query_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_dicom_query_scheduled_query_id'), ['scheduled_query_id'], unique=False)

    with op.batch_alter_table('dicom_query_study', schema=None) as batch_op:
        batch_op.add_column(sa.Column('study_time', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('modalities_returned', sa.Boolean(), nullable=False, server_default=sa.true()))

    with op.batch_alter_table('dicom_query_series', schema=None) as batch_op:
        batch_op.add_column(sa.Column('excluded_reason', sa.Text(), nullable=True))

    with op.batch_alter_table('dicom_query_image', schema=None) as batch_op:
        batch_op.add_column(sa.Column('excluded_reason', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('dicom_query_image', schema=None) as batch_op:
        batch_op.drop_column('excluded_reason')
    with op.batch_alter_table('dicom_query_series', schema=None) as batch_op:
        batch_op.drop_column('excluded_reason')
    with op.batch_alter_table('dicom_query_study', schema=None) as batch_op:
        batch_op.drop_column('modalities_returned')
        batch_op.drop_column('study_time')
    with op.batch_alter_table('dicom_query', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dicom_query_scheduled_query_id'))
        batch_op.drop_constraint(batch_op.f('fk_dicom_query_scheduled_query_id_dicom_scheduled_query'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_dicom_query_retrieve_job_id_job'), type_='foreignkey')
        for column in ('scheduled_query_id', 'objects_failed', 'objects_received', 'objects_requested',
                       'retrieve_method', 'retrieve_job_id', 'summary'):
            batch_op.drop_column(column)
    op.drop_table('dicom_scheduled_query')
    with op.batch_alter_table('dicom_remote_node', schema=None) as batch_op:
        for column in ('last_echo_at', 'echo_status', 'network_timeout', 'dimse_timeout', 'acse_timeout',
                       'supports_get', 'supports_move'):
            batch_op.drop_column(column)
