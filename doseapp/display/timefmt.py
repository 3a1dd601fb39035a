"""Dates, times and counts as people read them, and the one place that knows the display time zone.

Two kinds of time are stored, and they are shown differently:
- times doseapp records itself (jobs, the DICOM transaction log, quarantine, audit, logins, query
  runs, nodes' last signs of life) are instants, stored as naive UTC (models.base.utcnow). They are
  shown in DOSEAPP_TIMEZONE.
- study, series and event dates and times come from the modality: its local wall-clock time, with no
  zone. They are shown as they are, never shifted.
Every page formats through the filters here (register() puts them on the app), so "3 Dec 2026" and
"3 Dec 2026 14:05" are the one format everywhere. Date inputs keep ISO yyyy-mm-dd.
"""
from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.timezone.utc


class TimeZoneError(ValueError):
    """DOSEAPP_TIMEZONE names no time zone."""


# --- the display zone -----------------------------------------------------------------------------

def machine_zone_name() -> str:
    """The machine's own IANA zone name (TZ, /etc/timezone or the /etc/localtime link), or UTC when
    none can be found: a name, so the setting means the same in every process."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    timezone_file = Path("/etc/timezone")
    if timezone_file.is_file():
        candidates.append(timezone_file.read_text().strip())
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "/zoneinfo/" in target:
            candidates.append(target.split("/zoneinfo/", 1)[1])
    for name in candidates:
        if name and _zone_or_none(name) is not None:
            return name
    return "UTC"


def _zone_or_none(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: a path-like or malformed key
        return None


def check_zone_name(name: str | None) -> str:
    """The zone name to use: `name`, or the machine's zone when blank. TimeZoneError, in words, for a
    name that is no IANA zone."""
    name = (name or "").strip()
    if not name:
        return machine_zone_name()
    if _zone_or_none(name) is None:
        raise TimeZoneError(f"DOSEAPP_TIMEZONE is {name!r}, which is not a time zone. Use an IANA name such as "
                            f"Europe/London, America/New_York or UTC (leave it unset for this machine's zone).")
    return name


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def display_zone() -> ZoneInfo:
    """The zone pages show times in: the app's TIMEZONE setting (the machine's zone outside an app)."""
    from flask import current_app, has_app_context

    name = current_app.config.get("TIMEZONE") if has_app_context() else None
    return _zone(name or machine_zone_name())


def zone_name() -> str:
    return display_zone().key


# --- instants recorded by doseapp ----------------------------------------------------------------

def _instant(value) -> dt.datetime | None:
    """A stored instant (naive = UTC, aware, or an ISO string) as an aware datetime in the display zone."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(display_zone())


def local_now() -> dt.datetime:
    return dt.datetime.now(display_zone())


def local_today() -> dt.date:
    """Today's date where the users are (the scanners' wall-clock day, for query ranges)."""
    return local_now().date()


def utc_start_of(day: dt.date) -> dt.datetime:
    """The naive UTC instant at which `day` begins in the display zone: to compare with stored instants."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=display_zone())
    return start.astimezone(UTC).replace(tzinfo=None)


# --- formats ---------------------------------------------------------------------------------------

def _day_text(value: dt.date) -> str:
    """'3 Dec 2026' on English pages; the page locale's own form on others (issue 22)."""
    from doseapp.display import i18n

    if i18n.page_locale() is not None:
        return i18n.date_text(value)
    return f"{value.day} {value:%b} {value.year}"


def _clock_text(value: dt.time | dt.datetime, seconds: bool) -> str:
    return value.strftime("%H:%M:%S" if seconds else "%H:%M")


def when(value, seconds: bool = False, empty: str = "—") -> str:
    """An instant doseapp recorded, in the display zone: '3 Dec 2026 14:05' (with seconds if asked)."""
    local = _instant(value)
    return empty if local is None else f"{_day_text(local)} {_clock_text(local, seconds)}"


def day(value, empty: str = "—") -> str:
    """A calendar date as it is ('3 Dec 2026'): a study date, or a datetime's own date, not shifted.
    Accepts ISO 'yyyy-mm-dd' text too."""
    if value is None or value == "":
        return empty
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return _day_text(value)


def clock(value, seconds: bool = False, empty: str = "") -> str:
    """A wall-clock time as it is ('14:05'): a study or event time from the modality, not shifted."""
    if value is None or value == "":
        return empty
    return _clock_text(value, seconds)


def wall(value, seconds: bool = False, empty: str = "—") -> str:
    """A modality's wall-clock date and time as it is: '3 Dec 2026 14:05'."""
    if value is None:
        return empty
    return f"{_day_text(value)} {_clock_text(value, seconds)}"


def study_when(study_date, study_time, empty: str = "—") -> str:
    """A study's date and time as the modality gave them ('3 Dec 2026 14:05', or the date alone)."""
    if study_date is None:
        return empty
    return _day_text(study_date) + (f" {_clock_text(study_time, False)}" if study_time else "")


# --- DICOM DA / TM / DT values, for pages that show what a remote sent -----------------------------

def _parse_da(text: str) -> dt.date | None:
    text = text.strip().replace("-", "").replace(".", "")  # old ACR-NEMA style yyyy.mm.dd too
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def dicom_date(value, empty: str = "") -> str:
    """A DICOM DA value or range ('19900101', '19900101-20251231', '-20251231') in words:
    '1 Jan 1990', '1 Jan 1990 to 31 Dec 2025'. Text that is no date is shown as it is."""
    if value is None or str(value).strip() == "":
        return empty
    if isinstance(value, dt.date):
        return _day_text(value)
    text = str(value).strip()
    if "-" in text and len(text.replace("-", "")) in (8, 16):
        first, _, last = text.partition("-")
        if len(first) in (0, 8) and len(last) in (0, 8) and (first or last):
            a, b = _parse_da(first) if first else None, _parse_da(last) if last else None
            if (a or not first) and (b or not last):
                if a and b:
                    return f"{_day_text(a)} to {_day_text(b)}"
                return f"from {_day_text(a)}" if a else f"until {_day_text(b)}"
    parsed = _parse_da(text)
    return _day_text(parsed) if parsed else text


def dicom_time(value, empty: str = "") -> str:
    """A DICOM TM value ('001127.625', '0011', '14') as a clock time: '00:11:27', '00:11', '14:00'.
    Fractions of a second are dropped. Text that is no time is shown as it is."""
    if value is None or str(value).strip() == "":
        return empty
    if isinstance(value, dt.time):
        return _clock_text(value, bool(value.second))
    text = str(value).strip()
    whole = text.split(".", 1)[0].replace(":", "")  # ACR-NEMA hh:mm:ss too
    if not whole.isdigit() or len(whole) not in (2, 4, 6):
        return text
    hh, mm, ss = whole[:2], whole[2:4] or "00", whole[4:6]
    if int(hh) > 23 or int(mm) > 59 or (ss and int(ss) > 60):
        return text
    return f"{hh}:{mm}:{ss}" if ss else f"{hh}:{mm}"


# --- counts ----------------------------------------------------------------------------------------

IRREGULAR = {"study": "studies", "series": "series", "entry": "entries", "query": "queries",
             "copy": "copies", "is": "are", "was": "were", "has": "have", "this": "these"}


def noun(count, singular: str, plural: str | None = None) -> str:
    """The word for `count` things: noun(1, 'study') = 'study', noun(2, 'study') = 'studies'."""
    if count == 1:
        return singular
    return plural or IRREGULAR.get(singular) or singular + "s"


def plural(count, singular: str, plural: str | None = None) -> str:
    """A count and its word: '0 studies', '1 study', '2 studies', '1,250 objects'."""
    from doseapp.display import i18n

    if isinstance(count, int):
        number = i18n.count(count) if i18n.page_locale() is not None else f"{count:,}"
    else:
        number = str(count)
    return f"{number} {noun(count, singular, plural)}"


def grouped(count) -> str:
    """A whole count with thousands grouped as the page's language writes them: '1,250' in English,
    '1.250' in German, '1 250' in French; '—' for None."""
    from doseapp.display import i18n

    if count is None:
        return "—"
    count = int(count)
    return i18n.count(count) if i18n.page_locale() is not None else f"{count:,}"


def is_are(count) -> str:
    return "is" if count == 1 else "are"


FILTERS = {"when": when, "day": day, "clock": clock, "wall": wall, "dicom_date": dicom_date,
           "dicom_time": dicom_time, "plural": plural, "noun": noun, "is_are": is_are, "grouped": grouped}


def register(app) -> None:
    """Put the filters on the app's templates, and the display zone's name as `time_zone`."""
    for name, function in FILTERS.items():
        app.add_template_filter(function, name)
    app.add_template_global(study_when, "study_when")
    app.add_template_global(zone_name, "time_zone")
