"""Store SCP guards: association-request timeout, connections per address, maximum object size;
when the node's last error happened

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-25 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    # Existing nodes get the model defaults through server defaults (NOT NULL columns).
    with op.batch_alter_table('dicom_store_scp', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_timeout', sa.Integer(), nullable=False, server_default='10'))
        batch_op.add_column(sa.Column('connections_per_address', sa.Integer(), nullable=False, server_default='8'))
        batch_op.add_column(sa.Column('max_object_mb', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('last_error_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('dicom_store_scp', schema=None) as batch_op:
        batch_op.drop_column('last_error_at')
        batch_op.drop_column('max_object_mb')
        batch_op.drop_column('connections_per_address')
        batch_op.drop_column('request_timeout')
