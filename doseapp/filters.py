"""The study filters: the ONE place they are defined. Lists, the JSON API, charts and exports all
turn request arguments into a SELECT of Study through `study_query()`, so a filter means the same
thing everywhere.

Conventions (OpenREM's, seed §5.2): text filters are case-insensitive "contains", and two exact
forms (`text_match()`): `"AP"` in double quotes is the whole value ignoring case, `=AP` the whole
value exactly as written (chart drill-down links use it, so the "AP" bar does not also list "AP
Chest"); ranges are
`<name>_min` / `<name>_max` in the units shown on the form (converted here to stored units); dates
are `date_from` / `date_until` (yyyy-mm-dd, either or both); ordering is `o=<column>` or
`o=-<column>` for descending. Filters on events (acquisition protocol, mammography view, compressed
thickness, exposure control mode) are `study.id IN (study ids of matching events)`, so a study with
many matching events is still one row. Equipment filters are `equipment_id IN (small sub-query)`: the equipment table is tiny,
so no join is needed to filter.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Callable

from flask_babel import gettext as _
from sqlalchemy import and_, exists, func, or_, select

from doseapp import roles
from doseapp.lazy_text import lazy_gettext as _l
from doseapp.models import Study
from doseapp.models.ct import CtEvent
from doseapp.models.equipment import Equipment
from doseapp.models.projection import XrayEvent
from doseapp.models.study import MODALITIES

ALL = MODALITIES
# The modalities with irradiation events (NM has administrations): the acquisition protocol filter's.
XRAY = ("CT", "RF", "DX", "MG")
PID = roles.any_of("pid")
# Stored DAP is Gy·m²; lists and forms use cGy·cm² as OpenREM does. 1 Gy·m² = 100 cGy × 10⁴ cm².
DAP_DISPLAY_PER_STORED = 1e6


def contains(column, value: str):
    """Case-insensitive contains, with % and _ in the value taken literally. SQLite's LIKE already
    ignores case (ASCII letters), so the column is compared as it is, without a lower() per row;
    PostgreSQL says ILIKE."""
    from doseapp.models import db

    if db.engine.dialect.name == "sqlite":
        return column.contains(value, autoescape=True)
    return column.icontains(value, autoescape=True)


# The exact forms of a text filter: `=AP` (the whole value, same case) and `"AP"` (the whole value,
# ignoring case). Anything else is a contains-search.
CONTAINS, EXACT, EXACT_ANY_CASE = "contains", "exact", "exact-any-case"


def text_match(value: str) -> tuple[str, str]:
    """(how, term) for a text filter's value: `=AP` -> (EXACT, "AP"), `"AP"` -> (EXACT_ANY_CASE, "AP"),
    anything else (CONTAINS, value). A lone `=` or `""` is a contains-search for itself."""
    if value.startswith("=") and len(value) > 1:
        return EXACT, value[1:]
    if len(value) > 2 and value.startswith('"') and value.endswith('"'):
        return EXACT_ANY_CASE, value[1:-1]
    return CONTAINS, value


def exact_value(value: str) -> str:
    """The filter value that selects exactly `value` (same case): what drill-down links carry."""
    return "=" + value


def matches(column, value: str):
    """The WHERE clause of a text filter on `column` (contains, or one of the exact forms)."""
    how, term = text_match(value)
    if how == EXACT:
        return column == term
    if how == EXACT_ANY_CASE:
        return func.lower(column) == term.lower()
    return contains(column, term)


def _equipment(column) -> Callable[[str], object]:
    return lambda v: Study.equipment_id.in_(select(Equipment.id).where(matches(column, v)))


# Low-cardinality text (study descriptions, procedures, protocols: hundreds of values over millions
# of rows) is searched in two steps: read the distinct values from an index with a "loose index scan"
# (a recursive query that jumps from one value to the next, one index seek per value), pick those
# containing the term, then match them with IN on the same index. A contains-search over every row
# would read the whole table on both databases. Past DISTINCT_CAP values, the plain contains.
DISTINCT_CAP = 3000


def distinct_values(column, modality: str | None) -> list[str] | None:
    """The distinct non-empty values of `column` (of one modality's studies, for study columns),
    or None when there are more than DISTINCT_CAP."""
    from sqlalchemy import text

    from doseapp.models import db

    table, name = column.class_.__tablename__, column.key
    where = "modality = :m" if (table == "study" and modality) else "1 = 1"
    sql = text(f"""
        WITH RECURSIVE d(v, n) AS (
          SELECT (SELECT MIN({name}) FROM {table} WHERE {where} AND {name} IS NOT NULL), 0
          UNION ALL
          SELECT (SELECT MIN({name}) FROM {table} WHERE {where} AND {name} > d.v), n + 1
          FROM d WHERE d.v IS NOT NULL AND n <= :cap)
        SELECT v FROM d WHERE v IS NOT NULL""")
    values = db.session.scalars(sql, {"m": modality, "cap": DISTINCT_CAP}).all()
    return None if len(values) > DISTINCT_CAP else values


def _lookup_contains(column, value: str, modality: str | None):
    """A text filter on a low-cardinality column: the matching distinct values, then IN."""
    values = distinct_values(column, modality)
    if values is None:
        return matches(column, value)
    how, term = text_match(value)
    if how == EXACT:
        return column.in_([v for v in values if v == term])
    low = term.lower()
    if how == EXACT_ANY_CASE:
        return column.in_([v for v in values if v.lower() == low])
    return column.in_([v for v in values if low in v.lower()])


@dataclass(frozen=True)
class EventMatch:
    """The studies having an event (of `table`) that meets `condition`, in the two SQL forms a
    list needs. `study.id IN (study_ids of matching events)` reads the matching events once from an
    (event column, study_id) index: right for counting, and for finding the few matches of a rare
    value. `EXISTS (a matching event of this study)` probes one study at a time: right when a page
    is found by walking the ordering index, which stops after a page of matches, where building the
    IN list would read every matching event (hundreds of thousands for a common mammography view)."""
    table: type
    condition: object

    def ids_in(self):
        return Study.id.in_(select(self.table.study_id).where(self.condition))

    def exists(self):
        return exists().where(self.table.study_id == Study.id, self.condition)


@dataclass(frozen=True)
class AnyEvent:
    """Studies matching any of several EventMatch (one per event table, for all modalities)."""
    matches: tuple

    def ids_in(self):
        return or_(*(m.ids_in() for m in self.matches))

    def exists(self):
        return or_(*(m.exists() for m in self.matches))


def _protocol(value: str, modality: str | None) -> AnyEvent:
    """Acquisition protocol: the studies with an event whose protocol contains the term."""
    tables = [_event_table(modality)] if modality else [CtEvent, XrayEvent]
    return AnyEvent(tuple(EventMatch(t, _lookup_contains(t.acquisition_protocol, value, None)) for t in tables))


def _event_table(modality: str):
    return CtEvent if modality == "CT" else XrayEvent


def _standard_name(value: str, modality: str | None):
    """Studies with a standard name matching the term (contains, or the exact forms), at study level,
    or (CT, DX, MG) on one of their events (doseapp.standards.names)."""
    from doseapp.models.standards import StandardName

    names = select(StandardName.id).where(matches(StandardName.name, value))
    if modality:
        names = names.where(StandardName.modality == modality)
    ids = _scalars(names)
    if not ids:
        return Study.id.is_(None)
    clauses = [Study.standard_name_id.in_(ids)]
    # Fluoroscopy and NM events have no names (NM: doseapp.standards.names).
    tables = [] if modality in ("RF", "NM") else [_event_table(modality)] if modality else [CtEvent, XrayEvent]
    clauses += [EventMatch(t, t.standard_name_id.in_(ids)).ids_in() for t in tables]
    return or_(*clauses)


def _scalars(stmt) -> list:
    from doseapp.models import db

    return db.session.scalars(stmt).all()


def _identifier(column, hashed_flag) -> Callable[[str], object]:
    """Plain values: contains. Keyed-hash values: exact match on the hash of the whole search term."""
    def clause(v: str):
        from doseapp.security.privacy import keyed_hash

        return or_(and_(hashed_flag.is_(True), column == keyed_hash(v.strip())),
                   and_(hashed_flag.isnot(True), contains(column, v)))
    return clause


@dataclass(frozen=True)
class Filter:
    """One filter. `kind`: text, range, date, choice. `clause(value, modality)` gives the WHERE
    clause for text/choice; for range/date `column(modality)` is compared (scaled by `scale`, the
    stored value per form unit). `event=True` wraps the clause in EXISTS on the modality's events."""
    name: str
    label: str
    kind: str
    modalities: tuple = ALL
    clause: Callable | None = None
    column: Callable | None = None
    scale: float = 1.0
    event: bool = False
    needs: frozenset | None = None
    choices: tuple = ()  # (value, label): labels are lazy translations
    unit: str = ""

    def params(self) -> tuple[str, ...]:
        if self.kind == "range":
            return (f"{self.name}_min", f"{self.name}_max")
        if self.kind == "date":
            return ("date_from", "date_until")
        return (self.name,)


def _event_text(attr: str) -> Callable:
    return lambda v, m: _lookup_contains(getattr(_event_table(m), attr), v, None)


def _above_drl(v: str, _m):
    # "yes": studies whose DRL ratio (doseapp.standards.flags) reaches the flag factor of the settings.
    from doseapp.models import SystemSettings

    return Study.drl_ratio >= SystemSettings.get().drl_flag_factor if v == "yes" else None


def _test_data(v: str, _m):
    # "no": leave out studies whose patient name or ID matched a not-patient pattern.
    return Study.not_patient_indicator.is_(None) if v == "no" else None


def _alert(v: str, _m):
    # "yes": studies with a high-dose alert (any rule, any state); "no": those without.
    from doseapp.models.alerts import Alert

    has = exists().where(Alert.study_id == Study.id)
    return has if v == "yes" else ~has if v == "no" else None


# The choices of the yes/no filters: (value, label), labels in the page's language (kept out of the
# Filter(...) calls, whose second argument is what the message extraction reads).
ANY_YES = (("", _l("Any")), ("yes", _l("Yes")))
YES_DEFAULT_NO = (("", _l("Yes (default)")), ("no", _l("No")))
ANY_YES_NO = (("", _l("Any")), ("yes", _l("Yes")), ("no", _l("No")))

FILTERS: tuple[Filter, ...] = (
    Filter("date", "Date", "date"),
    Filter("study_description", "Study description", "text",
           clause=lambda v, m: _lookup_contains(Study.study_description, v, m)),
    Filter("procedure", "Procedure", "text",
           clause=lambda v, m: _lookup_contains(Study.procedure_code_meaning, v, m)),
    Filter("requested_procedure", "Requested procedure", "text",
           clause=lambda v, m: _lookup_contains(Study.requested_procedure_code_meaning, v, m)),
    Filter("acquisition_protocol", "Acquisition protocol", "text", XRAY, clause=_protocol),
    Filter("standard_name", "Standard name", "text", clause=_standard_name),
    Filter("age", "Age", "range", column=lambda m: Study.patient_age_years, unit=_l("years")),
    Filter("hospital", "Hospital", "text", clause=lambda v, m: _equipment(Equipment.institution_name)(v)),
    Filter("manufacturer", "Make", "text", clause=lambda v, m: _equipment(Equipment.manufacturer)(v)),
    Filter("model", "Model", "text", clause=lambda v, m: _equipment(Equipment.model_name)(v)),
    Filter("station_name", "Station name", "text", clause=lambda v, m: _equipment(Equipment.station_name)(v)),
    Filter("display_name", "Display name", "text", clause=lambda v, m: _equipment(Equipment.display_name)(v)),
    Filter("accession_number", "Accession number", "text",
           clause=lambda v, m: _identifier(Study.accession_number, Study.accession_hashed)(v)),
    Filter("dlp", "Study DLP", "range", ("CT",), column=lambda m: Study.total_dlp_mgycm, unit="mGy·cm"),
    Filter("ssde", "Study mean SSDE", "range", ("CT",), column=lambda m: Study.mean_ssde_mgy, unit="mGy"),
    Filter("dap", "Study DAP", "range", ("RF", "DX"), column=lambda m: Study.total_dap_gym2,
           scale=1 / DAP_DISPLAY_PER_STORED, unit="cGy·cm²"),
    Filter("dose_rp", "Study dose at reference point", "range", ("RF",), column=lambda m: Study.total_dose_rp_gy,
           unit="Gy"),
    # Peak skin dose of the study's skin dose map (doseapp.skin); studies without a map have none, so
    # any bound leaves them out.
    Filter("psd", "Peak skin dose", "range", ("RF",), column=lambda m: Study.peak_skin_dose_gy, unit="Gy"),
    Filter("agd", "Study AGD (both breasts)", "range", ("MG",), column=lambda m: Study.agd_both_mgy, unit="mGy"),
    Filter("weight", "Patient weight", "range", column=lambda m: Study.patient_weight_kg, unit="kg"),
    Filter("radiopharmaceutical", "Radiopharmaceutical", "text", ("NM",),
           clause=lambda v, m: _lookup_contains(Study.nm_radiopharmaceutical, v, m)),
    Filter("radionuclide", "Radionuclide", "text", ("NM",),
           clause=lambda v, m: _lookup_contains(Study.nm_radionuclide, v, m)),
    Filter("activity", "Administered activity", "range", ("NM",), column=lambda m: Study.nm_activity_mbq, unit="MBq"),
    Filter("view", "View", "text", ("MG",), clause=_event_text("image_view"), event=True),
    Filter("thickness", "Compressed thickness", "range", ("MG",),
           column=lambda m: XrayEvent.compression_thickness_mm, event=True, unit="mm"),
    Filter("exposure_control_mode", "Exposure control mode", "text", ("MG",),
           clause=_event_text("exposure_control_mode"), event=True),
    Filter("drl", "Above DRL flag factor", "choice", clause=_above_drl, choices=ANY_YES),
    Filter("test_data", "Include possible test data", "choice", clause=_test_data,
           choices=YES_DEFAULT_NO),
    Filter("alert", "High-dose alert", "choice", clause=_alert, choices=ANY_YES_NO),
    Filter("patient_name", "Patient name", "text", needs=PID,
           clause=lambda v, m: _identifier(Study.patient_name, Study.patient_name_hashed)(v)),
    Filter("patient_id", "Patient ID", "text", needs=PID,
           clause=lambda v, m: _identifier(Study.patient_id, Study.patient_id_hashed)(v)),
)
BY_NAME = {f.name: f for f in FILTERS}


def filters_for(modality: str | None, user=None) -> list[Filter]:
    """The filters a modality has that `user` may use (user None: all of them, e.g. for the command
    line). Modality None: all modalities together, so only the filters every modality has."""
    return [f for f in FILTERS if (modality in f.modalities if modality else f.modalities in (ALL, XRAY))
            and (f.needs is None or user is None or roles.allowed(user, f.needs))]


def param_names(modality: str, user=None) -> set[str]:
    return {p for f in filters_for(modality, user) for p in f.params()}


# --- ordering: the list columns that sort -------------------------------------------------------

SORTS: dict[str, Callable] = {
    "date": lambda: Study.study_datetime,
    "institution": lambda: Equipment.institution_name,
    "display_name": lambda: Equipment.display_name,
    "study_description": lambda: Study.study_description,
    "accession_number": lambda: Study.accession_number,
    "age": lambda: Study.patient_age_years,
    "events": lambda: Study.number_of_events,
    "dlp": lambda: Study.total_dlp_mgycm,
    "ssde": lambda: Study.mean_ssde_mgy,
    "dap": lambda: Study.total_dap_gym2,
    "dose_rp": lambda: Study.total_dose_rp_gy,
    "psd": lambda: Study.peak_skin_dose_gy,
    "agd": lambda: Study.agd_both_mgy,
    "activity": lambda: Study.nm_activity_mbq,
}
SORTS_FOR = {"CT": ("dlp", "ssde"), "RF": ("dap", "dose_rp", "psd"), "DX": ("dap",), "MG": ("agd",), "NM": ("activity",)}
DEFAULT_ORDER = "-date"


def sort_keys(modality: str | None) -> list[str]:
    other = {k for ks in SORTS_FOR.values() for k in ks}
    return [k for k in SORTS if k not in other or (modality and k in SORTS_FOR[modality])]


@dataclass
class StudyQuery:
    """The result of reading filter arguments: WHERE clauses, the ordering, and what was asked."""
    modality: str | None
    where: list = field(default_factory=list)
    values: dict = field(default_factory=dict)   # param -> value as given (for the form and links)
    errors: dict = field(default_factory=dict)   # param -> plain-words problem
    refused: list = field(default_factory=list)  # params the user's roles do not allow
    order: str = DEFAULT_ORDER
    # The same filters with event filters as EXISTS (see EventMatch), for walking an ordering index.
    walk_where: list = field(default_factory=list)

    def add(self, clause) -> None:
        if isinstance(clause, AnyEvent):
            self.where.append(clause.ids_in())
            self.walk_where.append(clause.exists())
        else:
            self.where.append(clause)
            self.walk_where.append(clause)

    def select(self, columns=None, dialect: str | None = None, few: bool = False):
        """SELECT Study (or `columns`) with the filters and the ordering, ties broken by id the same
        way round. Empty values sort last both ways. On SQLite a descending sort already puts NULLs
        last, so the plain form keeps the (modality, column) index usable for the default newest-first
        list; ascending needs the `IS NULL` key. PostgreSQL says NULLS LAST."""
        if dialect is None:
            from doseapp.models import db

            dialect = db.engine.dialect.name
        where = self.where if few else self.walk_where
        if few and dialect == "sqlite" and len(where) > 1:
            # Few rows match (the caller counted them). Walking the ordering index would test every
            # study of the modality, and SQLite, asked for the rows directly, may read them through
            # an index that does not cover the filter. The ids alone come from the same covering
            # index the count used; the few rows are then read by id and sorted.
            where = [Study.id.in_(select(Study.id).where(*where))]
        stmt = select(*(columns or (Study,))).where(*where)
        key = self.order.lstrip("-")
        col = SORTS[key]()
        if col.class_ is Equipment:
            stmt = stmt.outerjoin(Equipment, Study.equipment_id == Equipment.id)
        desc = self.order.startswith("-")
        tie = Study.id.desc() if desc else Study.id.asc()
        if few and dialect == "sqlite":
            # ... and wrapping the sort key in a function stops SQLite walking the ordering index
            # instead. (PostgreSQL judges all this by itself.)
            col = func.ifnull(col, None)
        if dialect == "postgresql":
            return stmt.order_by((col.desc() if desc else col.asc()).nulls_last(), tie)
        if desc:
            return stmt.order_by(col.desc(), tie)
        return stmt.order_by(col.is_(None), col.asc(), tie)

    def count(self):
        # count(*), not count(id): PostgreSQL may then answer from any index on the filtered columns
        # (an index-only scan) instead of reading the table for the ids.
        return select(func.count()).select_from(Study).where(*self.where)


# The dates a filter may name. No dose record predates X-rays (1895), and the last day must leave a
# next day to end on (date_until is compared as "before the next midnight"): 9999-12-31 has none, so
# without a bound it overflowed into an HTTP 500 on every list, chart, API and export.
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
PROBLEMS = {"date": f"a date as yyyy-mm-dd from {FIRST_DATE} to {LAST_DATE}", "range": "a number",
            "text": "text without NUL characters", "choice": "text without NUL characters"}


def problem(kind: str) -> str:
    """PROBLEMS[kind] in the current language (the page's; outside a request, the site's)."""
    if kind == "date":
        return _("a date as yyyy-mm-dd from %(first)s to %(last)s", first=FIRST_DATE, last=LAST_DATE)
    return {"range": _("a number"), "text": _("text without NUL characters"),
            "choice": _("text without NUL characters")}.get(kind, PROBLEMS.get(kind, kind))


def _number(text: str) -> float:
    # float() takes "inf", "nan" and "1e400" (inf): no filter bound means anything with them, and
    # NaN reaches SQLite as NULL, which silently matches nothing.
    value = float(text.strip().replace(",", "."))
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def _date(text: str) -> dt.date:
    day = dt.date.fromisoformat(text.strip())
    if not FIRST_DATE <= day <= LAST_DATE:
        raise ValueError(f"{day} is outside {FIRST_DATE} to {LAST_DATE}")
    return day


def study_query(modality: str | None, args, user=None) -> StudyQuery:
    """Read filter and ordering arguments (a dict or MultiDict) for one modality.

    Blank values are ignored; malformed ones are reported in `.errors` and ignored; filters the
    user's roles do not allow are listed in `.refused` and ignored."""
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}")
    q = StudyQuery(modality)
    if modality:
        q.add(Study.modality == modality)
    allowed = {f.name for f in filters_for(modality, user)}
    for f in filters_for(modality):
        given = {p: (args.get(p) or "").strip() for p in f.params()}
        given = {p: v for p, v in given.items() if v}
        if not given:
            continue
        if f.name not in allowed:
            q.refused.extend(given)
            continue
        q.values.update(given)
        try:
            clause = _clause(f, given, modality)
        except ValueError:
            for p in given:
                q.errors[p] = problem(f.kind)
                q.values.pop(p, None)
            continue
        if clause is not None:
            q.add(clause)
    order = (args.get("o") or "").strip()
    if order.lstrip("-") in sort_keys(modality):
        q.order = order
        if order != DEFAULT_ORDER:
            q.values["o"] = order
    return q


def _clause(f: Filter, given: dict, modality: str):
    if f.kind in ("text", "choice"):
        if "\x00" in given[f.name]:
            # PostgreSQL text cannot hold NUL: the query would fail (HTTP 500), not match nothing.
            raise ValueError("NUL in a text filter")
        clause = f.clause(given[f.name], modality)
    elif f.kind == "date":
        # On study_datetime (date + time, midnight when the time is unknown, None only without a
        # date), so the (modality, study_datetime) index serves both the filter and the ordering.
        parts = []
        if "date_from" in given:
            parts.append(Study.study_datetime >= dt.datetime.combine(_date(given["date_from"]), dt.time()))
        if "date_until" in given:
            end = dt.datetime.combine(_date(given["date_until"]) + dt.timedelta(days=1), dt.time())
            parts.append(Study.study_datetime < end)
        clause = and_(*parts)
    else:
        col = f.column(modality)
        parts = []
        lo, hi = given.get(f"{f.name}_min"), given.get(f"{f.name}_max")
        if lo is not None:
            parts.append(col >= _number(lo) * f.scale)
        if hi is not None:
            parts.append(col <= _number(hi) * f.scale)
        clause = and_(*parts)
    if clause is None:
        return None
    if f.event:
        if modality is None:  # all modalities: a matching CT event or a matching projection event
            return AnyEvent(tuple(m for mod in ("CT", "DX") for m in _clause(f, given, mod).matches))
        return AnyEvent((EventMatch(_event_table(modality), clause),))
    return clause

