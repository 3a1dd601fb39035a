"""Schema management: apply Alembic migrations, and create the database on first use."""
from __future__ import annotations

import logging

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import upgrade as _upgrade

from doseapp.models import db

log = logging.getLogger(__name__)


def head_revision(app: Flask) -> str:
    return ScriptDirectory(app.config["MIGRATIONS_DIR"]).get_current_head()


def current_revision(app: Flask) -> str | None:
    with app.app_context(), db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(app: Flask) -> None:
    with app.app_context():
        _upgrade(directory=app.config["MIGRATIONS_DIR"])


def ensure_current(app: Flask) -> bool:
    """Upgrade when the schema is missing or behind. Returns True if migrations ran."""
    if current_revision(app) == head_revision(app):
        return False
    log.info("Database schema is not at %s: applying migrations", head_revision(app))
    upgrade(app)
    return True


def include_object_for(dialect: str):
    """An Alembic `include_object` hook that leaves out schema objects declared for another database
    (`Index(...).ddl_if(dialect="postgresql")`), so comparing models with an SQLite schema does not
    ask for PostgreSQL-only indexes."""
    def include(obj, name, type_, reflected, compare_to):
        ddl_if = getattr(obj, "_ddl_if", None)
        if type_ == "index" and not reflected and ddl_if is not None and ddl_if.dialect not in (None, dialect):
            return False
        return True
    return include
