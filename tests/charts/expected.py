"""Chart numbers worked out by hand in Python from the stored studies and events, to check the SQL
of doseapp/charts/aggregate.py against: plain loops, statistics.mean/median/quantiles."""
from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import Counter, defaultdict

from doseapp.models import Study

# Standard names by id, filled in by the tests that give the studies names (add_standard_names).
STANDARD_NAMES: dict[int, str] = {}
CATEGORY = {
    "standard_name": lambda s, e: STANDARD_NAMES.get(s.standard_name_id),
    "study_description": lambda s, e: s.study_description,
    "requested_procedure": lambda s, e: s.requested_procedure_code_meaning,
    "acquisition_protocol": lambda s, e: e.acquisition_protocol,
}


def add_standard_names(app) -> None:
    """A few standard names on the test files (one per modality that matches several studies, and
    studies left without one), named as the job names them."""
    from doseapp.models import StandardName, db
    from doseapp.standards import names

    with app.app_context():
        for modality, name, field, match, value in (
                ("CT", "CT Thorax", "study_description", "pattern", "thorax^*"),
                ("CT", "CT Localiser", "acquisition_protocol", "exact", "Topogram"),
                ("DX", "Exposure control test", "study_description", "exact", "AEC"),
                ("RF", "Cardiac", "study_description", "pattern", "cardiac*"),
                ("MG", "Mammography", "study_description", "pattern", "*mammography*")):
            names.add_rule(modality, name, field, match, value)
        db.session.commit()
        names.apply_all()
        STANDARD_NAMES.clear()
        STANDARD_NAMES.update({sn.id: sn.name for sn in db.session.scalars(db.select(StandardName))})
        db.session.remove()


def studies(app, modality: str, keep=lambda s: True) -> list[Study]:
    """The modality's studies with their events and equipment (the list tests' loader)."""
    from tests.web.test_lists import _all_studies

    return [s for s in _all_studies(app, modality) if keep(s)]


def category(chart, s, e, case_insensitive=False) -> str:
    name = CATEGORY[chart.category](s, e)
    if name and case_insensitive:
        name = name.lower()
    return name or "Blank"


def items(chart, study_list):
    """(study, event or None) for each row the chart reads."""
    for s in study_list:
        if chart.table == "study":
            yield s, None
        else:
            for e in (s.ct_events if chart.table == "ct_event" else s.xray_events):
                yield s, e


def values(chart, study_list, case_insensitive=False, system=False) -> dict:
    """(category[, system]) -> the non-zero, non-null values, in stored units."""
    out = defaultdict(list)
    for s, e in items(chart, study_list):
        v = getattr(e if e is not None else s, chart.value)
        if v is None or v <= 0:
            continue
        key = (category(chart, s, e, case_insensitive),)
        if system:
            key += (s.equipment.display_name if s.equipment else "Blank",)
        out[key].append(float(v))
    return dict(out)


def percentile(vals: list[float], q: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    vals = sorted(vals)
    if len(vals) == 1:
        return vals[0]
    if q == 0.5:
        return statistics.median(vals)
    return statistics.quantiles(vals, n=4, method="inclusive")[0 if q == 0.25 else 2]


def histogram(vals: list[float], bins: int) -> list[int]:
    lo, hi = min(vals), max(vals)
    counts = [0] * bins
    for v in vals:
        b = 0 if hi == lo else min(bins - 1, math.floor((v - lo) / (hi - lo) * bins))
        counts[b] += 1
    return counts


def weekday_hour(study_list) -> Counter:
    """(weekday with Sunday = 0, hour) -> studies."""
    return Counter(((s.study_datetime.weekday() + 1) % 7, s.study_datetime.hour)
                   for s in study_list if s.study_datetime is not None)


def period_start(when: dt.datetime, period: str) -> str:
    d = when.date()
    if period == "week":
        d -= dt.timedelta(days=d.weekday())
    elif period == "month":
        d = d.replace(day=1)
    elif period == "year":
        d = d.replace(month=1, day=1)
    return d.isoformat()


def over_time(chart, study_list, period: str) -> dict:
    out = defaultdict(list)
    for s, e in items(chart, study_list):
        v = getattr(e if e is not None else s, chart.value)
        if v is None or v <= 0 or s.study_datetime is None:
            continue
        out[(category(chart, s, e), period_start(s.study_datetime, period))].append(float(v))
    return dict(out)


def scatter_points(chart, study_list) -> Counter:
    return Counter((e.compression_thickness_mm, float(getattr(e, chart.value)))
                   for s, e in items(chart, study_list)
                   if getattr(e, chart.value) is not None and getattr(e, chart.value) > 0
                   and e.compression_thickness_mm is not None)
