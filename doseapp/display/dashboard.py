"""The home page's dashboard: per modality the studies of today, this week and this month with a
sparkline of the last 12 weeks; the systems that have gone quiet; and per modality a table of systems.

Three queries, each answered from an index, whatever the number of studies:
- activity: studies per (modality, equipment row, day) over the last 90 days, one GROUP BY over a
  range of ix_study_modality_equipment_datetime per system (the equipment ids are a small list);
- latest: each equipment row's latest study per modality, a max() that reads one index entry each;
- totals: the all-time count per (modality, equipment row), kept between requests (study_totals).
Display names are read with the latest studies, on every request: a rename shows at once."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select

from doseapp.display import study_totals
from doseapp.models import Equipment, Study, db
from doseapp.models.study import MODALITIES

MODALITY_NAMES = {"CT": "CT", "RF": "Fluoroscopy", "MG": "Mammography", "DX": "Radiography"}
SLUGS = {"CT": "ct", "RF": "rf", "MG": "mg", "DX": "dx"}
# The order the modality cards are shown in.
CARD_ORDER = ("CT", "RF", "MG", "DX")

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
    days: set = field(default_factory=set)  # days with studies in the last HISTORY_DAYS


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


def _day(value) -> dt.date:
    # date() gives a date on PostgreSQL and 'yyyy-mm-dd' text on SQLite.
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def activity(first: dt.date, today: dt.date) -> list[tuple[str, int | None, dt.date, int]]:
    """(modality, equipment_id, day, studies) from `first` to `today`, both included."""
    start = dt.datetime.combine(first, dt.time())
    end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time())
    day = func.date(Study.study_datetime)
    # `equipment_id IN (every equipment id)` turns one range over all systems into a range per
    # system on the (modality, equipment_id, study_datetime) index, which holds every column read
    # here; studies without equipment (none are made so, but the column allows it) are added apart.
    known = select(Equipment.id).scalar_subquery()
    rows = []
    for where in (Study.equipment_id.in_(known), Study.equipment_id.is_(None)):
        rows += db.session.execute(
            select(Study.modality, Study.equipment_id, day, func.count())
            .where(Study.modality.in_(MODALITIES), where, Study.study_datetime >= start, Study.study_datetime < end)
            .group_by(Study.modality, Study.equipment_id, day)).all()
    return [(m, e, _day(d), n) for m, e, d, n in rows]


def latest_and_names() -> tuple[dict[int, str], dict[tuple[str, int | None], dt.datetime]]:
    """Every equipment row's display name, and its latest study per modality: one max() per row and
    modality, each read from the end of a (modality, equipment_id) range of the index."""
    def latest(mod):
        return (select(func.max(Study.study_datetime)).where(Study.modality == mod, Study.equipment_id == Equipment.id)
                .correlate(Equipment).scalar_subquery())
    names, found = {}, {}
    for eq_id, name, *per_mod in db.session.execute(select(Equipment.id, Equipment.display_name,
                                                           *(latest(m) for m in MODALITIES))):
        names[eq_id] = name
        for mod, when in zip(MODALITIES, per_mod):
            if when is not None:
                found[(mod, eq_id)] = when
    for mod, when in db.session.execute(select(Study.modality, func.max(Study.study_datetime))
                                        .where(Study.equipment_id.is_(None)).group_by(Study.modality)):
        if when is not None:
            found[(mod, None)] = when
    return names, found


def periods(today: dt.date) -> list[Period]:
    return [Period("Today", today, today), Period("This week", week_start(today), today),
            Period("This month", today.replace(day=1), today)]


def spark_weeks(today: dt.date) -> list[Period]:
    """The last SPARK_WEEKS calendar weeks, oldest first; the last is this week, up to today."""
    monday = week_start(today)
    weeks = []
    for k in range(SPARK_WEEKS - 1, -1, -1):
        first = monday - dt.timedelta(weeks=k)
        weeks.append(Period(f"Week of {first.isoformat()}", first, min(first + dt.timedelta(days=6), today)))
    return weeks


def quiet_rule(mod: str, row: SystemRow, today: dt.date) -> QuietSystem | None:
    """Quiet: no study for more than QUIET_FLOOR_DAYS days and for longer than the longest pause
    between the system's study days in the last HISTORY_DAYS days. Retired (returned too, told
    apart by silent_days > HISTORY_DAYS): nothing for more than HISTORY_DAYS days."""
    if row.latest is None:
        return None
    silent = (today - row.latest.date()).days
    days = sorted(d for d in row.days if d <= today)
    gaps = [(b - a).days for a, b in zip(days, days[1:])]
    usual = max(gaps) if gaps else None
    if silent > HISTORY_DAYS or silent > max(QUIET_FLOOR_DAYS, usual or 0):
        return QuietSystem(mod, row.name, row.latest, silent, usual)
    return None


def build(today: dt.date | None = None) -> Dashboard:
    """Everything the home page shows about studies, as of `today` (default: the server's date)."""
    today = today or dt.date.today()
    first = min(today - dt.timedelta(days=HISTORY_DAYS), spark_weeks(today)[0].first, today.replace(day=1))
    names, latest = latest_and_names()
    totals = study_totals.counts()

    tables: dict[str, dict[str, SystemRow]] = {m: {} for m in MODALITIES}

    def row_for(mod: str, eq_id: int | None) -> SystemRow:
        name = names.get(eq_id, UNKNOWN_SYSTEM)
        return tables[mod].setdefault(name, SystemRow(name))

    for (mod, eq_id), n in totals.items():
        if mod in tables:
            row_for(mod, eq_id).total += n
    for (mod, eq_id), when in latest.items():
        row = row_for(mod, eq_id)
        row.latest = when if row.latest is None else max(row.latest, when)

    per_day: dict[str, dict[dt.date, int]] = {m: {} for m in MODALITIES}
    seven_days = today - dt.timedelta(days=6)
    for mod, eq_id, day, n in activity(first, today):
        per_day[mod][day] = per_day[mod].get(day, 0) + n
        row = row_for(mod, eq_id)
        row.days.add(day)
        row.today += n if day == today else 0
        row.week += n if day >= seven_days else 0

    cards = []
    for mod in CARD_ORDER:
        days = per_day[mod]
        card = Card(mod, MODALITY_NAMES[mod], SLUGS[mod], periods(today), spark_weeks(today))
        for p in card.periods + card.weeks:
            p.count = sum(n for d, n in days.items() if p.first <= d <= p.last)
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
