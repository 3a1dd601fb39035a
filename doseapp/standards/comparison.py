"""The DRL comparison: per standard name, system and patient group, over a period, the number of
studies, the median and 75th percentile of a study quantity, next to the DRL that applies, their
ratio (median / DRL), and whether the median exceeds the DRL with enough studies to say so.

Percentiles are PostgreSQL's percentile_cont (linear interpolation between the two nearest ranks of
the sorted values: position q × (n − 1)): in SQL on PostgreSQL, and the same arithmetic in a Python
aggregate on SQLite (doseapp.database.percentile_cont), so both databases give equal numbers.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, case, func, literal, or_, select

from doseapp.database import dialect, percentile_cont, tune_postgresql
from doseapp.models import Equipment, StandardName, Study, SystemSettings, db
from doseapp.standards.drl import (ADULT_AGE, MODALITIES, NO_GROUP_LABEL, QUANTITIES, UNITS, Level, group_label,
                                   levels_by_name)

ADULT = (None, None, None, None)
NO_GROUP = -1  # a child of a standard name with no DRL for children: compared with nothing


def greatest(a, b):
    """The larger of two nullable columns (either one when the other is NULL), on both databases."""
    a2, b2 = func.coalesce(a, b), func.coalesce(b, a)
    return func.greatest(a2, b2) if dialect() == "postgresql" else func.max(a2, b2)


def value_column(modality: str, quantity: str):
    """The study summary column compared for a quantity. MG: the AGD of the breast with the higher
    accumulated dose (a DRL for a mammography examination is set per breast)."""
    if quantity not in QUANTITIES.get(modality, ()):
        raise ValueError(f"{modality} has no quantity {quantity!r}; it has {', '.join(QUANTITIES.get(modality, ()))}")
    if modality == "MG":
        return greatest(Study.agd_left_mgy, Study.agd_right_mgy)
    return {"dlp": Study.total_dlp_mgycm, "ctdivol": Study.mean_ctdivol_mgy, "ssde": Study.mean_ssde_mgy,
            "dap": Study.total_dap_gym2, "dose_rp": Study.total_dose_rp_gy,
            "activity": Study.nm_activity_mbq, "activity_per_kg": Study.nm_activity_per_kg_mbq}[quantity]


def band_condition(band: tuple):
    """SQL: the study belongs to this patient group (drl.in_band)."""
    age_min, age_max, weight_min, weight_max = band
    if band == ADULT:
        return or_(Study.patient_age_years.is_(None), Study.patient_age_years >= ADULT_AGE)
    conds = []
    if age_min is not None:
        conds.append(Study.patient_age_years >= age_min)
    if age_max is not None:
        conds.append(Study.patient_age_years < age_max)
    if weight_min is not None:
        conds.append(Study.patient_weight_kg >= weight_min)
    if weight_max is not None:
        conds.append(Study.patient_weight_kg < weight_max)
    return and_(*conds)


@dataclass
class Row:
    standard_name: str
    standard_name_id: int
    system: str
    equipment_id: int | None
    patient_group: str
    quantity: str
    n: int
    median: float | None
    p75: float | None
    drl: Level | None
    min_sample: int

    @property
    def ratio(self) -> float | None:
        return self.median / self.drl.value if self.drl and self.median is not None else None

    @property
    def too_few(self) -> bool:
        return self.n < self.min_sample

    @property
    def exceeds(self) -> bool:
        return self.ratio is not None and self.ratio > 1 and not self.too_few

    def as_dict(self) -> dict:
        return {"system": self.system, "standard_name": self.standard_name, "patient_group": self.patient_group,
                "quantity": self.quantity, "unit": UNITS[self.quantity][0], "n": self.n, "median": self.median,
                "p75": self.p75, "drl": self.drl.value if self.drl else None,
                "drl_source": self.drl.source if self.drl else None,
                "drl_origin": (("local" if self.drl.is_local else "national") if self.drl else None),
                "ratio": self.ratio, "exceeds": self.exceeds, "too_few": self.too_few}


@dataclass
class Period:
    date_from: dt.date
    date_until: dt.date

    def words(self) -> str:
        return f"{self.date_from.isoformat()} to {self.date_until.isoformat()}"


def default_period(settings: SystemSettings | None = None, today: dt.date | None = None) -> Period:
    settings = settings or SystemSettings.get()
    today = today or dt.date.today()
    return Period(today - dt.timedelta(days=settings.drl_period_days or 365), today)


class BadArgs(ValueError):
    """Request arguments that do not make a comparison; the message says why, in plain words."""


def _date(args, name: str) -> dt.date | None:
    text = (args.get(name) or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadArgs(f"{name} must be a date as yyyy-mm-dd.") from None


def read_args(args, settings: SystemSettings) -> tuple[str, str, str | None, Period]:
    """(modality, quantity, standard name or None, period) from request arguments; BadArgs when wrong.
    Defaults: CT, the modality's first quantity, the last settings.drl_period_days days."""
    modality = (args.get("modality") or "CT").strip().upper()
    if modality not in MODALITIES:
        raise BadArgs(f"modality must be one of {', '.join(MODALITIES)}.")
    quantity = (args.get("quantity") or QUANTITIES[modality][0]).strip().lower()
    if quantity not in QUANTITIES[modality]:
        raise BadArgs(f"quantity for {modality} must be one of {', '.join(QUANTITIES[modality])}.")
    default = default_period(settings)
    start, end = _date(args, "date_from"), _date(args, "date_until")
    if start and not end:
        end = dt.date.today()
    if end and not start:
        start = end - dt.timedelta(days=settings.drl_period_days or 365)
    period = Period(start, end) if start else default
    if period.date_from > period.date_until:
        raise BadArgs("date_from must not be after date_until.")
    name = (args.get("standard_name") or "").strip() or None
    return modality, quantity, name, period


class _GroupStats:
    """SQLite `doseapp_drl_groups(group, x)`: per patient group of one standard name and system, the
    count, median and 75th percentile (percentile_cont) of x, as text "group n median p75;...". The
    patient group is collected here rather than grouped by in SQL (one sort key fewer)."""
    def __init__(self):
        self.values: dict[int, list[float]] = {}

    def step(self, group, value):
        # Called once per study (200,000 for eight years of CT): kept to one dict lookup. The query's
        # WHERE has the value NOT NULL already.
        found = self.values.get(group)
        if found is None:
            self.values[group] = [value]
        else:
            found.append(value)

    def finalize(self):
        return ";".join(f"{g} {len(v)} {percentile_cont(v, 0.5)!r} {percentile_cont(v, 0.75)!r}"
                        for g, v in self.values.items())


def _register_sqlite() -> None:
    raw = db.session.connection().connection.driver_connection
    raw.create_aggregate("doseapp_drl_groups", 2, _GroupStats)


def _sqlite_rows(group, value, where: list) -> list[tuple]:
    """(standard_name_id, equipment_id, group, n, median, p75) on SQLite."""
    _register_sqlite()
    stmt = (select(Study.standard_name_id, Study.equipment_id, func.doseapp_drl_groups(group, value))
            .where(*where).group_by(Study.standard_name_id, Study.equipment_id))
    out = []
    for name_id, equipment_id, packed in db.session.execute(stmt):
        for part in (packed or "").split(";"):
            if part:
                g, n, median, p75 = part.split()
                out.append((name_id, equipment_id, int(g), int(n), float(median), float(p75)))
    return out


def compare(modality: str, quantity: str, *, standard_name: str | None = None, period: Period | None = None,
            settings: SystemSettings | None = None) -> list[Row]:
    """The comparison rows of one modality and quantity (all standard names, or one by name, case
    folded), sorted by standard name, system and patient group."""
    settings = settings or SystemSettings.get()
    period = period or default_period(settings)
    value = value_column(modality, quantity)
    names_q = select(StandardName.id, StandardName.name).where(StandardName.modality == modality)
    if standard_name:
        names_q = names_q.where(func.lower(StandardName.name) == standard_name.lower())
    names = dict(db.session.execute(names_q).all())
    if not names:
        return []
    levels = levels_by_name(modality, quantity)
    # Patient groups: 0 adult, then each band some DRL of these names is set for.
    bands: list[tuple] = [ADULT]
    whens = []
    for name_id, name in names.items():
        found = levels.get(name.casefold())
        for band in (found.bands if found else {}):
            if band == ADULT:
                continue
            if band not in bands:
                bands.append(band)
            whens.append((and_(Study.standard_name_id == name_id, band_condition(band)), bands.index(band)))
    whens.append((band_condition(ADULT), 0))
    group = case(*whens, else_=literal(NO_GROUP))
    where = [Study.modality == modality, Study.standard_name_id.in_(list(names)), value.isnot(None),
             Study.study_datetime >= dt.datetime.combine(period.date_from, dt.time()),
             Study.study_datetime < dt.datetime.combine(period.date_until + dt.timedelta(days=1), dt.time())]
    if dialect() == "postgresql":
        tune_postgresql()
        keys = [Study.standard_name_id, Study.equipment_id, group]
        stmt = (select(*keys, func.count(), func.percentile_cont(0.5).within_group(value),
                       func.percentile_cont(0.75).within_group(value)).where(*where).group_by(*keys))
        found_rows = [tuple(r) for r in db.session.execute(stmt)]
    else:
        found_rows = _sqlite_rows(group, value, where)
    systems = dict(db.session.execute(select(Equipment.id, Equipment.display_name).where(
        Equipment.id.in_({r[1] for r in found_rows if r[1] is not None}))).all())
    out = []
    for name_id, equipment_id, grp, n, median, p75 in found_rows:
        name = names[name_id]
        found = levels.get(name.casefold())
        band = bands[grp] if grp != NO_GROUP else None
        drl = found.for_group(band, equipment_id) if found and band is not None else None
        out.append(Row(standard_name=name, standard_name_id=name_id,
                       system=systems.get(equipment_id, "(unknown system)"), equipment_id=equipment_id,
                       patient_group=group_label(*band) if band is not None else NO_GROUP_LABEL,
                       quantity=quantity, n=n, median=median, p75=p75, drl=drl,
                       min_sample=settings.drl_min_sample or 1))
    out.sort(key=lambda row: (row.standard_name.casefold(), row.patient_group != "adult", row.patient_group,
                              row.system.casefold()))
    return out
