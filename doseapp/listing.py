"""What the paged, filtered lists (jobs, quarantine, DICOM transactions) share: day ranges from the
address bar and paging."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from doseapp.display.timefmt import utc_start_of
from doseapp.models import db


def parse_day(text: str | None, label: str) -> dt.date | None:
    """A YYYY-MM-DD day, None when blank; ValueError in plain words otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{label} must be a date such as 2024-03-31, not {text!r}") from None


def days_asked(values) -> tuple[dt.date | None, dt.date | None, list[str]]:
    """The `from` and `to` days of address-bar style values, and what was wrong with them, in words
    (a day that does not read is left out)."""
    days, errors = [], []
    for key, label in (("from", "From"), ("to", "To")):
        try:
            days.append(parse_day(values.get(key), label))
        except ValueError as exc:
            errors.append(str(exc))
            days.append(None)
    return days[0], days[1], errors


def day_range(column, first: dt.date | None, last: dt.date | None) -> list:
    """Conditions for `column` (an instant stored as naive UTC) falling on `first` to `last`, both days
    included, days as the pages show them: in the display time zone (DOSEAPP_TIMEZONE)."""
    where = []
    if first is not None:
        where.append(column >= utc_start_of(first))
    if last is not None:
        where.append(column < utc_start_of(last + dt.timedelta(days=1)))
    return where


@dataclass
class Page:
    rows: list
    total: int
    page: int
    pages: int


def paginate(query, order_by, page: int | None, size: int) -> Page:
    """One page of `query` (a select of one entity) in `order_by` order, the page number kept in range."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, -(-total // size))
    page = min(max(1, page or 1), pages)
    rows = db.session.scalars(query.order_by(*order_by).offset((page - 1) * size).limit(size)).all()
    return Page(rows, total, page, pages)
