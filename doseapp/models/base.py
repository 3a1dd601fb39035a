"""The shared SQLAlchemy handle and column helpers."""
from __future__ import annotations

import datetime as dt

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)


def utcnow() -> dt.datetime:
    """Naive UTC timestamp: SQLite has no time zones, so every stored instant is UTC."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class FromReport:
    """For rows a dose report sent (events, accumulated planes, breast doses): the object (report or
    image) that sent it, so a study built from several reports keeps which came from which. None for
    rows stored before this was recorded.

    No ON DELETE action: objects go only with their study, whose deletion cascades to these rows in
    the same statement (both databases check the reference at the end of it), so Study.objects is
    left to the database. An action would also not survive on SQLite, where the column is added in
    place (a copied table would cascade-delete ct_source) and an inline REFERENCES keeps no action."""
    object_id: Mapped[int | None] = mapped_column(ForeignKey("processed_object.id"), index=True)

    @declared_attr
    def report(cls):
        return relationship("ProcessedObject")
