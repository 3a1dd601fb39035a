"""Schema management: apply Alembic migrations, and create the database on first use."""
from __future__ import annotations

import logging
import math

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import upgrade as _upgrade
from sqlalchemy import text

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


# --- helpers for queries that must give the same numbers on both databases -----------------------

def dialect() -> str:
    return db.engine.dialect.name


def percentile_cont(values: list[float], q: float) -> float | None:
    """PostgreSQL's percentile_cont(q) WITHIN GROUP (ORDER BY value), with its arithmetic (PostgreSQL
    15 percentile_cont_final_common and float8_lerp): rows floor and ceil of q * (n - 1) of the
    sorted values, lo + (hi - lo) * fraction between them. Sorts `values` in place."""
    if not values:
        return None
    values.sort()
    pos = q * (len(values) - 1)
    first, second = math.floor(pos), math.ceil(pos)
    lo = values[first]
    if first == second:
        return lo
    return lo + (values[second] - lo) * (pos - first)


def tune_postgresql() -> None:
    """No JIT for this transaction's chart queries on PostgreSQL: it compiled each chart query (30-130
    ms) for queries that run a few hundred ms. work_mem is left alone: more of it (16-64 MB) made the
    planner pick a serial sort over the parallel plan, slower on the bench (docs/performance.md)."""
    if dialect() == "postgresql":
        db.session.execute(text("SET LOCAL jit = off"))
