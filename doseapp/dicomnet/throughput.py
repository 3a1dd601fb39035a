"""A Store SCP node's throughput for its dashboard: objects and megabytes received (successful
C-STORE rows of the transaction log) and associations accepted, per hour over the last day and per
day over the last two weeks.

Two grouped queries per node, each a range of the (scp_id, operation, at) index: rows are counted
per UTC hour by the database, and the hours are summed into the display zone's days here (at most
HOURS_BACK groups come back, however busy the node)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from doseapp.display.timefmt import UTC, display_zone
from doseapp.models import DicomTransaction, db
from doseapp.models.base import utcnow

HOURS = 24
DAYS = 14
HOURS_BACK = DAYS * 24 + 24  # enough hours to cover DAYS local days in any zone


@dataclass
class Bucket:
    start: dt.datetime  # local (display zone) start of the hour or day
    objects: int = 0
    bytes: int = 0
    associations: int = 0

    @property
    def megabytes(self) -> float:
        return self.bytes / 1e6


@dataclass
class Throughput:
    hours: list[Bucket]  # the last HOURS hours, oldest first; the last is the hour now under way
    days: list[Bucket]   # the last DAYS days, oldest first; the last is today so far

    @property
    def objects_per_hour(self) -> float:
        return sum(b.objects for b in self.hours) / HOURS


def _hour_expr(column):
    """The UTC hour a naive-UTC datetime falls in: a timestamp on PostgreSQL, 'YYYY-MM-DD HH' text on
    SQLite (which stores datetimes as 'YYYY-MM-DD HH:MM:SS...': its first 13 characters)."""
    if db.engine.dialect.name == "postgresql":
        return func.date_trunc("hour", column)
    return func.substr(column, 1, 13)


def _as_hour(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.strptime(value, "%Y-%m-%d %H")
    return value.replace(minute=0, second=0, microsecond=0, tzinfo=UTC)


def _per_hour(node_id: int, operation: str, status: str, since: dt.datetime) -> dict[dt.datetime, tuple[int, int]]:
    hour = _hour_expr(DicomTransaction.at).label("hour")
    rows = db.session.execute(
        select(hour, func.count(), func.coalesce(func.sum(DicomTransaction.size_bytes), 0))
        .where(DicomTransaction.scp_id == node_id, DicomTransaction.operation == operation,
               DicomTransaction.at >= since, DicomTransaction.status == status)
        .group_by(hour))
    return {_as_hour(h): (int(n), int(size)) for h, n, size in rows}


def node_throughput(node_id: int, now: dt.datetime | None = None) -> Throughput:
    """The node's throughput up to `now` (naive UTC, default: now)."""
    now = (now or utcnow()).replace(tzinfo=UTC)
    zone = display_zone()
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    first = this_hour - dt.timedelta(hours=HOURS_BACK - 1)
    since = first.replace(tzinfo=None)
    stores = _per_hour(node_id, "C-STORE", "success", since)
    associations = _per_hour(node_id, "ASSOCIATE", "accepted", since)

    hours = [Bucket((this_hour - dt.timedelta(hours=k)).astimezone(zone)) for k in range(HOURS - 1, -1, -1)]
    today = now.astimezone(zone).date()
    day_list = [today - dt.timedelta(days=k) for k in range(DAYS - 1, -1, -1)]
    days = {d: Bucket(dt.datetime.combine(d, dt.time(), zone)) for d in day_list}
    by_hour = {b.start.astimezone(UTC): b for b in hours}
    for when in set(stores) | set(associations):
        n, size = stores.get(when, (0, 0))
        accepted = associations.get(when, (0, 0))[0]
        for bucket in (by_hour.get(when), days.get(when.astimezone(zone).date())):
            if bucket is not None:
                bucket.objects += n
                bucket.bytes += size
                bucket.associations += accepted
    return Throughput(hours, [days[d] for d in day_list])
