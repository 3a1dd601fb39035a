"""Alembic environment: migrations run inside the doseapp Flask app, against its database."""
from __future__ import annotations

from alembic import context
from flask import current_app

from doseapp.database import include_object_for
from doseapp.models import db

target_metadata = db.metadata


def run_offline() -> None:
    context.configure(url=current_app.config["SQLALCHEMY_DATABASE_URI"], target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    with db.engine.connect() as connection:
        # Batch mode: SQLite cannot ALTER most things, so Alembic copies the table instead.
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True, compare_type=True,
                          include_object=include_object_for(connection.dialect.name))
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
