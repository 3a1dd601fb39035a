"""High-dose alerts: rules, alerts with their review state, e-mail subscriptions, the e-mail outbox,
users' e-mail addresses and the SMTP settings.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None



def _smtp_columns():
    return (
        sa.Column("smtp_host", sa.String(255), nullable=True),
        sa.Column("smtp_port", sa.Integer(), nullable=True),
        sa.Column("smtp_security", sa.String(8), nullable=False, server_default="starttls"),
        sa.Column("smtp_username", sa.Text(), nullable=True),
        sa.Column("smtp_password", sa.Text(), nullable=True),
        sa.Column("smtp_sender", sa.String(254), nullable=True),
        sa.Column("alert_digest_hour", sa.Integer(), nullable=False, server_default="7"),
    )


def upgrade():
    op.create_table(
        "alert_rule",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(32), nullable=False, unique=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("threshold", sa.Float()),
        sa.Column("period_weeks", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rule_key", sa.String(32), nullable=False),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("study.id", ondelete="CASCADE"), nullable=False),
        sa.Column("modality", sa.String(4), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("threshold", sa.Float()),
        sa.Column("unit", sa.String(16)),
        sa.Column("detail", sa.JSON()),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("state_changed_at", sa.DateTime()),
        sa.Column("state_changed_by", sa.Integer(), sa.ForeignKey("user.id", ondelete="SET NULL")),
        sa.UniqueConstraint("rule_key", "study_id"),
    )
    op.create_index("ix_alert_study_id", "alert", ["study_id"])
    op.create_index("ix_alert_state_created", "alert", ["state", "created_at"])
    op.create_index("ix_alert_modality_state", "alert", ["modality", "state"])
    op.create_table(
        "alert_subscription",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("rule_key", sa.String(32), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.UniqueConstraint("user_id", "rule_key"),
    )
    op.create_index("ix_alert_subscription_user_id", "alert_subscription", ["user_id"])
    op.create_table(
        "email_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("next_attempt_at", sa.DateTime()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime()),
    )
    op.create_index("ix_email_message_status_next", "email_message", ["status", "next_attempt_at"])
    op.create_table(
        "email_message_alert",
        sa.Column("email_message_id", sa.Integer(), sa.ForeignKey("email_message.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alert.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_email_message_alert_alert_id", "email_message_alert", ["alert_id"])
    op.add_column("user", sa.Column("email", sa.String(254), nullable=True))
    for column in _smtp_columns():
        op.add_column("system_settings", column)


def downgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, name in [("system_settings", c.name) for c in _smtp_columns()] + [("user", "email")]:
        if sqlite:
            op.execute(f'ALTER TABLE "{table}" DROP COLUMN {name}')
        else:
            op.drop_column(table, name)
    for table in ("email_message_alert", "email_message", "alert_subscription", "alert", "alert_rule"):
        op.drop_table(table)
