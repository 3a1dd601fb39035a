"""Diagnostic reference levels: the shipped national sets (CSV files in doseapp/standards/data), the
site's local DRLs (ReferenceLevel rows), and which one applies to a study.

Which DRL applies, for a standard name and a quantity:
1. the patient group: a study belongs to an age band [min, max) by its decimal age, or to a weight
   band [min, max) by its weight; a DRL without bands is for adults, and applies to a study aged 18
   or more, or of unknown age (most adult examinations carry no age band). A study that fits a band
   takes the band's DRL before the adult one.
2. the origin: a local DRL for the study's system, else a local DRL for every system, else the
   national DRL of an enabled set (national rows match the site's standard name by name, case
   folded). A local DRL replaces the national one of the same name, quantity and patient group.
"""
from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import select

from doseapp.models import Equipment, ReferenceLevel, StandardName, SystemSettings, db
from doseapp.models.standards import DRL_QUANTITIES

DATA = Path(__file__).parent / "data" / "drl"  # one CSV per national set
MODALITIES = ("CT", "RF", "DX", "MG", "NM")
ADULT_AGE = 18.0
LOCAL = "local"
NO_GROUP_LABEL = "child, no DRL for the group"  # a comparison row of a child whose group has no DRL

# quantity -> (stored unit, display unit, display = stored × factor, label)
UNITS = {
    "ctdivol": ("mGy", "mGy", 1.0, "CTDIvol"),
    "dlp": ("mGy·cm", "mGy·cm", 1.0, "DLP"),
    "ssde": ("mGy", "mGy", 1.0, "SSDE"),
    "dap": ("Gy·m²", "Gy·cm²", 1e4, "DAP"),
    "dose_rp": ("Gy", "mGy", 1e3, "Dose at RP"),
    "agd": ("mGy", "mGy", 1.0, "AGD"),
    # NM: the study's administered activity (summed over its administrations; one for nearly every
    # study), and that activity per kg of the patient's weight (none when the weight is unknown).
    "activity": ("MBq", "MBq", 1.0, "Administered activity"),
    "activity_per_kg": ("MBq/kg", "MBq/kg", 1.0, "Activity per kg"),
}
# The quantities compared per modality (the study summary column each reads: see comparison.py).
QUANTITIES = {"CT": ("dlp", "ctdivol", "ssde"), "RF": ("dap", "dose_rp"), "DX": ("dap",), "MG": ("agd",),
              "NM": ("activity", "activity_per_kg")}


class DrlDataError(ValueError):
    """A shipped DRL file with a row that cannot be used."""


@dataclass(frozen=True)
class Level:
    """One reference level, national or local, in stored units."""
    modality: str
    standard_name: str
    quantity: str
    value: float
    source: str
    set_key: str = LOCAL
    age_min: float | None = None
    age_max: float | None = None
    weight_min: float | None = None
    weight_max: float | None = None
    equipment_id: int | None = None
    system: str | None = None
    examination: str | None = None
    published: str | None = None
    year: int | None = None
    local_id: int | None = None
    note: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_local(self) -> bool:
        return self.set_key == LOCAL

    @property
    def band(self) -> tuple:
        return (self.age_min, self.age_max, self.weight_min, self.weight_max)

    @property
    def is_adult(self) -> bool:
        return self.band == (None, None, None, None)

    @property
    def group(self) -> str:
        return group_label(*self.band)

    def display_value(self) -> float:
        return self.value * UNITS[self.quantity][2]

    def as_dict(self) -> dict:
        unit = UNITS[self.quantity]
        return {"origin": "local" if self.is_local else "national", "set": self.set_key, "modality": self.modality,
                "standard_name": self.standard_name, "quantity": self.quantity, "value": self.value,
                "unit": unit[0], "display_value": self.display_value(), "display_unit": unit[1],
                "patient_group": self.group, "age_min_years": self.age_min, "age_max_years": self.age_max,
                "weight_min_kg": self.weight_min, "weight_max_kg": self.weight_max, "system": self.system,
                "examination": self.examination, "published": self.published, "year": self.year,
                "source": self.source, "id": self.local_id}


def _num(text: str) -> str:
    return f"{text:g}"


def group_label(age_min=None, age_max=None, weight_min=None, weight_max=None) -> str:
    """"adult", "age 1–5 y", "weight 15–30 kg", "age ≥ 10 y", "age 3–12 months" (a band within the first
    year is shown in months)..."""
    parts = []
    age_unit = "y"
    if age_max is not None and age_max <= 1:
        age_min = None if age_min is None else age_min * 12
        age_max, age_unit = age_max * 12, "months"
    for lo, hi, what, unit in ((age_min, age_max, "age", age_unit), (weight_min, weight_max, "weight", "kg")):
        if lo is None and hi is None:
            continue
        if lo is not None and hi is not None:
            parts.append(f"{what} {_num(lo)}–{_num(hi)} {unit}")
        elif lo is not None:
            parts.append(f"{what} ≥ {_num(lo)} {unit}")
        else:
            parts.append(f"{what} < {_num(hi)} {unit}")
    return ", ".join(parts) or "adult"


_BAND = re.compile(r"(?P<what>age|weight) (?:(?P<low>[\d.]+)–(?P<high>[\d.]+)|≥ (?P<min>[\d.]+)|< (?P<max>[\d.]+)) "
                   r"(?P<unit>y|months|kg)")
# One band of a group_label, in the page's language, per (what, unit, form); form: between, from or below.
_BAND_WORDS = {
    ("age", "y", "between"): lambda lo, hi: _("age %(low)s–%(high)s y", low=lo, high=hi),
    ("age", "y", "from"): lambda lo, hi: _("age ≥ %(low)s y", low=lo),
    ("age", "y", "below"): lambda lo, hi: _("age < %(high)s y", high=hi),
    ("age", "months", "between"): lambda lo, hi: _("age %(low)s–%(high)s months", low=lo, high=hi),
    ("age", "months", "from"): lambda lo, hi: _("age ≥ %(low)s months", low=lo),
    ("age", "months", "below"): lambda lo, hi: _("age < %(high)s months", high=hi),
    ("weight", "kg", "between"): lambda lo, hi: _("weight %(low)s–%(high)s kg", low=lo, high=hi),
    ("weight", "kg", "from"): lambda lo, hi: _("weight ≥ %(low)s kg", low=lo),
    ("weight", "kg", "below"): lambda lo, hi: _("weight < %(high)s kg", high=hi),
}


def shown_group(label: str) -> str:
    """A patient group label (group_label's English, kept as it is in the API, the CLI and the data) in the
    page's language; a label of another shape as it is."""
    if label == "adult":
        return _("adult")
    if label == NO_GROUP_LABEL:
        return _("child, no DRL for the group")
    parts = []
    for part in label.split(", "):
        match = _BAND.fullmatch(part)
        if match is None:
            return label
        form = "between" if match["low"] else "from" if match["min"] else "below"
        words = _BAND_WORDS.get((match["what"], match["unit"], form))
        if words is None:
            return label
        parts.append(words(match["low"] or match["min"], match["high"] or match["max"]))
    return ", ".join(parts)


def in_band(band: tuple, age: float | None, weight: float | None) -> bool:
    """Whether a study of this age (years) and weight (kg) belongs to the patient group `band`."""
    age_min, age_max, weight_min, weight_max = band
    if band == (None, None, None, None):
        return age is None or age >= ADULT_AGE
    if age_min is not None or age_max is not None:
        if age is None or (age_min is not None and age < age_min) or (age_max is not None and age >= age_max):
            return False
    if weight_min is not None or weight_max is not None:
        if weight is None or (weight_min is not None and weight < weight_min) or \
                (weight_max is not None and weight >= weight_max):
            return False
    return True


# --- the shipped sets ----------------------------------------------------------------------------

def _opt(text: str) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


def _load_file(path: Path) -> list[Level]:
    out = []
    with path.open(newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f), start=2):
            where = f"{path.name} line {n}"
            if not (row.get("source") or "").strip():
                raise DrlDataError(f"{where}: no source")
            if row["modality"] not in MODALITIES or row["quantity"] not in DRL_QUANTITIES:
                raise DrlDataError(f"{where}: unknown modality {row['modality']!r} or quantity {row['quantity']!r}")
            try:
                value = float(row["value"])
            except ValueError:
                raise DrlDataError(f"{where}: value {row['value']!r} is not a number") from None
            if not value > 0:
                raise DrlDataError(f"{where}: value must be positive")
            if not row["standard_name"].strip() or row["set_key"] != path.stem:
                raise DrlDataError(f"{where}: no standard name, or a set key other than the file's name")
            out.append(Level(modality=row["modality"], standard_name=row["standard_name"].strip(),
                             quantity=row["quantity"], value=value, source=row["source"].strip(),
                             set_key=row["set_key"], age_min=_opt(row["age_min_years"]),
                             age_max=_opt(row["age_max_years"]), weight_min=_opt(row["weight_min_kg"]),
                             weight_max=_opt(row["weight_max_kg"]), examination=row["examination"],
                             published=f"{row['published_value']} {row['published_unit']}",
                             year=int(row["year"]) if row["year"] else None,
                             note=row.get("clinical_indication") or None))
    return out


@functools.cache
def national_sets() -> dict[str, tuple[Level, ...]]:
    """Every shipped set, by key (loaded and checked once per process)."""
    return {p.stem: tuple(_load_file(p)) for p in sorted(DATA.glob("*.csv"))}


def enabled_set_keys(settings: SystemSettings | None = None) -> list[str]:
    settings = settings or SystemSettings.get()
    shipped = list(national_sets())
    return shipped if settings.drl_sets is None else [k for k in shipped if k in settings.drl_sets]


def national_levels(settings: SystemSettings | None = None) -> list[Level]:
    return [lv for key in enabled_set_keys(settings) for lv in national_sets()[key]]


def local_levels(modality: str | None = None) -> list[Level]:
    stmt = (select(ReferenceLevel, StandardName.modality, StandardName.name, Equipment.display_name)
            .join(StandardName, StandardName.id == ReferenceLevel.standard_name_id)
            .outerjoin(Equipment, Equipment.id == ReferenceLevel.equipment_id)
            .order_by(StandardName.modality, StandardName.name, ReferenceLevel.quantity, ReferenceLevel.id))
    if modality:
        stmt = stmt.where(StandardName.modality == modality)
    return [Level(modality=mod, standard_name=name, quantity=r.quantity, value=r.value,
                  source=r.source or "local DRL", age_min=r.age_min_years, age_max=r.age_max_years,
                  weight_min=r.weight_min_kg, weight_max=r.weight_max_kg, equipment_id=r.equipment_id,
                  system=system, local_id=r.id, note=r.note)
            for r, mod, name, system in db.session.execute(stmt)]


def all_levels(modality: str | None = None) -> list[Level]:
    """The enabled national levels and the local ones (`doseapp drl list`)."""
    national = [lv for lv in national_levels() if modality in (None, lv.modality)]
    return national + local_levels(modality)


def _rank(level: Level) -> int:
    return 0 if level.is_local and level.equipment_id is not None else 1 if level.is_local else 2


@dataclass
class NameLevels:
    """The levels of one standard name and quantity, by patient group: {band: [levels, best first]}."""
    bands: dict[tuple, list[Level]]

    def for_study(self, equipment_id: int | None, age: float | None, weight: float | None) -> Level | None:
        """The level for a study of this system, age and weight (banded groups before adult)."""
        for band in sorted(self.bands, key=lambda b: b == (None, None, None, None)):
            if in_band(band, age, weight):
                return self.for_group(band, equipment_id)
        return None

    def for_group(self, band: tuple, equipment_id: int | None) -> Level | None:
        for lv in self.bands.get(band, []):
            if lv.equipment_id is None or lv.equipment_id == equipment_id:
                return lv
        return None


def levels_by_name(modality: str, quantity: str) -> dict[str, NameLevels]:
    """{standard name case folded: NameLevels} of one modality and quantity, local before national."""
    out: dict[str, NameLevels] = {}
    for lv in sorted((lv for lv in all_levels(modality) if lv.quantity == quantity), key=_rank):
        out.setdefault(lv.standard_name.casefold(), NameLevels({})).bands.setdefault(lv.band, []).append(lv)
    return out


def applicable(study, quantity: str) -> Level | None:
    """The DRL that applies to one study (its standard name, system, age and weight) for `quantity`."""
    if study.standard_name_id is None:
        return None
    name = db.session.get(StandardName, study.standard_name_id)
    found = levels_by_name(study.modality, quantity).get(name.name.casefold()) if name else None
    return found.for_study(study.equipment_id, study.patient_age_years, study.patient_weight_kg) if found else None
