"""The home page's dashboard: per modality the studies of today, this week and this month with a
sparkline of the last 12 weeks; the systems that have gone quiet; and per modality a table of systems.

The counts of studies per system (all time, its latest study, per day over the last 90 days) come
from study_counts (kept between requests, checked against the database on each); the display names
are read on every request: a rename shows at once."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select

from doseapp.display import study_counts
from doseapp.display.timefmt import local_today
from doseapp.lazy_text import lazy_gettext as _l
from doseapp.models import Equipment, Study, db
from doseapp.models.study import MODALITIES

MODALITY_NAMES = {"CT": "CT", "RF": _l("Fluoroscopy"), "MG": _l("Mammography"), "DX": _l("Radiography"),
                  "NM": _l("Nuclear medicine")}  # issue 22
SLUGS = {"CT": "ct", "RF": "rf", "MG": "mg", "DX": "dx", "NM": "nm"}
# The order the modality cards are shown in.
CARD_ORDER = ("CT", "RF", "MG", "DX", "NM")
# Cards shown only once the modality has studies.
OPTIONAL_CARDS = ("NM",)

HISTORY_DAYS = 90    # what "usual" is learnt from, and the age past which a system counts as retired
QUIET_FLOOR_DAYS = 7  # a system is never called quiet before a week without studies
SPARK_WEEKS = 12
UNKNOWN_SYSTEM = "Unknown system"


@dataclass
class Period:
    label: str
    first: dt.date
    last: dt.date
    count: int = 0


@dataclass
class Card:
    """One modality: today, this week, this month, and studies per week (Monday to Sunday)."""
    modality: str
    name: str
    slug: str
    periods: list[Period]
    weeks: list[Period]


@dataclass
class SystemRow:
    """One display name within a modality (rows sharing a display name are one system to people)."""
    name: str
    total: int = 0
    latest: dt.datetime | None = None
    today: int = 0
    week: int = 0
    # Per equipment row of this name: (its days with studies in the last HISTORY_DAYS, oldest
    # first; the longest pause between them in days, None with fewer than two).
    history: list = field(default_factory=list)


@dataclass
class QuietSystem:
    modality: str
    name: str
    latest: dt.datetime
    silent_days: int
    usual_days: int | None  # the longest pause between study days in the history; None with one day


@dataclass
class Dashboard:
    today: dt.date
    cards: list[Card]
    tables: dict[str, list[SystemRow]]  # modality -> systems, in name order
    quiet: list[QuietSystem]
    retired: list[QuietSystem]
    counts: dict[str, int]              # modality -> all studies


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def periods(today: dt.date) -> list[Period]:
    return [Period(_l("Today"), today, today), Period(_l("This week"), week_start(today), today),
            Period(_l("This month"), today.replace(day=1), today)]


def spark_weeks(today: dt.date) -> list[Period]:
    """The last SPARK_WEEKS calendar weeks, oldest first; the last is this week, up to today."""
    monday = week_start(today)
    weeks = []
    for k in range(SPARK_WEEKS - 1, -1, -1):
        first = monday - dt.timedelta(weeks=k)
        weeks.append(Period(f"Week of {first.isoformat()}", first, min(first + dt.timedelta(days=6), today)))
    return weeks


def longest_pause(days: list[dt.date]) -> int | None:
    """The most days between one day with studies and the next (None for fewer than two days)."""
    return max(((b - a).days for a, b in zip(days, days[1:])), default=None)


def quiet_rule(mod: str, row: SystemRow, today: dt.date) -> QuietSystem | None:
    """Quiet: no study for more than QUIET_FLOOR_DAYS days and for longer than the longest pause
    between the system's study days in the last HISTORY_DAYS days. Retired (returned too, told
    apart by silent_days > HISTORY_DAYS): nothing for more than HISTORY_DAYS days."""
    if row.latest is None:
        return None
    silent = (today - row.latest.date()).days
    if len(row.history) == 1:
        usual = row.history[0][1]
    else:  # several equipment rows (e.g. before and after an upgrade) are one system
        usual = longest_pause(sorted(set().union(*(days for days, _ in row.history))))
    if silent > HISTORY_DAYS or silent > max(QUIET_FLOOR_DAYS, usual or 0):
        return QuietSystem(mod, row.name, row.latest, silent, usual)
    return None


def first_day(today: dt.date) -> dt.date:
    """The first day the daily counts need: the history, the 12 weeks and this month all start after it."""
    return min(today - dt.timedelta(days=HISTORY_DAYS), spark_weeks(today)[0].first, today.replace(day=1))


def modality_counts(today: dt.date | None = None) -> dict[str, int]:
    """All studies per modality."""
    today = today or local_today()
    totals = study_counts.counts(first_day(today), today).totals
    return {m: sum(n for (mod, _), n in totals.items() if mod == m) for m in MODALITIES}


@dataclass(frozen=True)
class _Summary:
    """What the page needs from the daily counts, per equipment row and per modality: worked out
    once per set of counts (thousands of (system, day) entries), not on every request."""
    systems: dict  # (modality, equipment_id) -> ((days with studies, longest pause), studies today, in the last 7 days)
    periods: dict  # modality -> studies in each of periods() then each of spark_weeks()


_last_summary: list = [None, None]  # [the Counts it was made from, the _Summary]


def _summary(counted: study_counts.Counts, today: dt.date) -> _Summary:
    if _last_summary[0] is counted:
        return _last_summary[1]
    seven_days = today - dt.timedelta(days=6)
    days: dict = {}
    recent: dict = {}
    per_day: dict[str, dict[dt.date, int]] = {m: {} for m in MODALITIES}
    for (mod, eq_id, day), n in counted.days.items():
        per_day[mod][day] = per_day[mod].get(day, 0) + n
        days.setdefault((mod, eq_id), []).append(day)
        n_today, n_week = recent.get((mod, eq_id), (0, 0))
        recent[(mod, eq_id)] = (n_today + n * (day == today), n_week + n * (day >= seven_days))
    systems = {}
    for k, found in days.items():
        found.sort()
        systems[k] = ((tuple(found), longest_pause(found)), *recent[k])
    spans = [(p.first, p.last) for p in periods(today) + spark_weeks(today)]
    found = _Summary(systems, {m: [sum(n for d, n in per_day[m].items() if a <= d <= b) for a, b in spans]
                               for m in MODALITIES})
    _last_summary[:] = [counted, found]
    return found


def build(today: dt.date | None = None) -> Dashboard:
    """Everything the home page shows about studies, as of `today` (default: today in the display zone)."""
    today = today or local_today()
    names = dict(db.session.execute(select(Equipment.id, Equipment.display_name)).all())
    counted = study_counts.counts(first_day(today), today)
    summary = _summary(counted, today)

    tables: dict[str, dict[str, SystemRow]] = {m: {} for m in MODALITIES}

    def row_for(mod: str, eq_id: int | None) -> SystemRow:
        name = names.get(eq_id, UNKNOWN_SYSTEM)
        return tables[mod].setdefault(name, SystemRow(name))

    for (mod, eq_id), n in counted.totals.items():
        if mod in tables:
            row_for(mod, eq_id).total += n
    for (mod, eq_id), when in counted.latest.items():
        row = row_for(mod, eq_id)
        row.latest = when if row.latest is None else max(row.latest, when)
    for (mod, eq_id), (history, n_today, n_week) in summary.systems.items():
        row = row_for(mod, eq_id)
        row.history.append(history)
        row.today += n_today
        row.week += n_week

    cards = []
    for mod in CARD_ORDER:
        if mod in OPTIONAL_CARDS and not tables[mod]:
            continue  # a department without nuclear medicine sees no empty NM card
        card = Card(mod, MODALITY_NAMES[mod], SLUGS[mod], periods(today), spark_weeks(today))
        for p, n in zip(card.periods + card.weeks, summary.periods[mod]):
            p.count = n
        cards.append(card)

    quiet, retired = [], []
    for mod in MODALITIES:
        for row in tables[mod].values():
            found = quiet_rule(mod, row, today)
            if found is not None:
                (retired if found.silent_days > HISTORY_DAYS else quiet).append(found)
    quiet.sort(key=lambda q: (-q.silent_days, q.name.lower()))
    retired.sort(key=lambda q: (q.modality, q.name.lower()))
    counts = {m: sum(r.total for r in tables[m].values()) for m in MODALITIES}
    return Dashboard(today, cards, {m: sorted(rows.values(), key=lambda r: r.name.lower())
                                    for m, rows in tables.items() if rows}, quiet, retired, counts)
