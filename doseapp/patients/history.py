"""One patient's dose history: finding the patient, their studies across modalities, and the
cumulative fluoroscopy totals. Plain queries and plain data; the web page and the export read them.

A patient is the stored value of their patient ID (or, for studies stored without an ID, of their
name) with its hashed flag: `PatientKey`. Stored values are compared, never decoded, so histories
work the same with identifiers in clear and with keyed hashes (the HMAC of doseapp.security.privacy,
the one import uses). A key in clear also finds the patient's studies imported after the settings
changed to hashing: the keyed hash of the clear value is what those studies hold."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select

from doseapp.security.privacy import keyed_hash
from doseapp.models import Study, SystemSettings, db
from doseapp.models.equipment import Equipment

DEFAULT_WEEKS = 12
MAX_WEEKS = 520
# A name search matching more patients than this lists the first ones and says so.
MAX_CANDIDATES = 200


@dataclass(frozen=True)
class PatientKey:
    """Which stored identifier says "same patient": field "id" or "name", its stored value, hashed or not."""
    field: str
    value: str
    hashed: bool

    def shown(self) -> str:
        """The identifier as stored, a hash shortened (the whole hash tells a person nothing more)."""
        return f"{self.value[:12]}… (hashed)" if self.hashed else self.value

    def clause(self):
        """The WHERE clause of this patient's studies."""
        column, flag = ((Study.patient_id, Study.patient_id_hashed) if self.field == "id"
                        else (Study.patient_name, Study.patient_name_hashed))
        if self.hashed:
            return and_(column == self.value, flag.is_(True))
        same = and_(column == self.value, flag.isnot(True))
        later = and_(column == keyed_hash(self.value), flag.is_(True))
        clause = or_(same, later)
        # Studies without an ID are matched by name only when they have no ID: a name is not unique.
        return clause if self.field == "id" else and_(clause, Study.patient_id.is_(None))


def identifiers_kept(settings: SystemSettings | None = None) -> bool:
    """Whether the system keeps any patient identifier (in clear or hashed) to build histories from."""
    s = settings or SystemSettings.get()
    return bool(s.id_stored or s.name_stored)


def key_of(study: Study) -> PatientKey | None:
    """The patient of a study: its stored ID, else its stored name; None when it has neither."""
    if study.patient_id:
        return PatientKey("id", study.patient_id, bool(study.patient_id_hashed))
    if study.patient_name:
        return PatientKey("name", study.patient_name, bool(study.patient_name_hashed))
    return None


@dataclass
class Candidate:
    """A patient a search found: their key, a study to reach the history by, how many studies match."""
    key: PatientKey
    study_id: int
    studies: int
    names: list[str] = field(default_factory=list)
    newest: dt.date | None = None


def _matching(term: str):
    """The studies whose stored ID or name is the search term: IDs exactly, names ignoring case;
    hashed ones through the keyed hash of the whole term."""
    digest = keyed_hash(term)
    by_id = or_(and_(Study.patient_id == term, Study.patient_id_hashed.isnot(True)),
                and_(Study.patient_id == digest, Study.patient_id_hashed.is_(True)))
    by_name = or_(and_(func.lower(Study.patient_name) == term.lower(), Study.patient_name_hashed.isnot(True)),
                  and_(Study.patient_name == digest, Study.patient_name_hashed.is_(True)))
    return by_id, by_name


def find_patients(term: str) -> tuple[list[Candidate], bool]:
    """The patients whose ID or name is `term`, most studies first, and whether there were more than
    MAX_CANDIDATES. Each patient's studies are counted by their key (all of them, not only the ones
    the search matched)."""
    term = term.strip()
    if not term or "\x00" in term:
        return [], False
    cols = (Study.id, Study.patient_id, Study.patient_id_hashed, Study.patient_name, Study.patient_name_hashed)
    keys: dict[PatientKey, int] = {}
    for where in _matching(term):  # two queries: the ID one reads ix_study_patient_id alone
        for sid, pid, pid_h, name, name_h in db.session.execute(select(*cols).where(where).limit(10 * MAX_CANDIDATES)):
            key = (PatientKey("id", pid, bool(pid_h)) if pid else
                   PatientKey("name", name, bool(name_h)) if name else None)
            if key is not None:
                keys[key] = max(keys.get(key, 0), sid)
    # A clear key's history holds the studies stored as its keyed hash (after a settings change):
    # those are the same patient, not a second one to choose.
    covered = {PatientKey(k.field, keyed_hash(k.value), True) for k in keys if not k.hashed}
    keys = {k: sid for k, sid in keys.items() if k not in covered}
    more = len(keys) > MAX_CANDIDATES
    out = []
    for key, sid in list(keys.items())[:MAX_CANDIDATES]:
        count, newest = db.session.execute(select(func.count(), func.max(Study.study_date)).where(key.clause())).one()
        names = db.session.execute(select(Study.patient_name, Study.patient_name_hashed).where(key.clause())
                                   .where(Study.patient_name.isnot(None)).distinct().limit(5)).all()
        out.append(Candidate(key, sid, count, [PatientKey("name", n, bool(h)).shown() for n, h in names], newest))
    out.sort(key=lambda c: (-c.studies, c.key.shown()))
    return out, more


@dataclass
class Row:
    """One study of a history, with its dose summary in stored units (NM: administered activity in MBq)."""
    id: int
    modality: str
    study_date: dt.date | None
    study_time: dt.time | None
    study_datetime: dt.datetime | None
    system: str | None
    description: str | None
    accession_number: str | None
    accession_hashed: bool
    study_instance_uid: str
    not_patient: str | None
    dlp_mgycm: float | None
    dap_gym2: float | None
    dose_rp_gy: float | None
    psd_gy: float | None
    agd_mgy: float | None
    patient_id: str | None = None
    patient_id_hashed: bool = False
    patient_name: str | None = None
    patient_name_hashed: bool = False
    activity_mbq: float | None = None  # NM: the administered activity (sum of the study's administrations)
    radiopharmaceutical: str | None = None  # NM: its radiopharmaceutical(s)
    effective_dose_msv: float | None = None  # CT: the population estimate (DLP x coefficient); NM: as stated


_COLUMNS = (Study.id, Study.modality, Study.study_date, Study.study_time, Study.study_datetime,
            Equipment.display_name, Study.study_description, Study.accession_number, Study.accession_hashed,
            Study.study_instance_uid, Study.not_patient_indicator, Study.total_dlp_mgycm, Study.total_dap_gym2,
            Study.total_dose_rp_gy, Study.peak_skin_dose_gy, Study.agd_both_mgy, Study.patient_id,
            Study.patient_id_hashed, Study.patient_name, Study.patient_name_hashed, Study.nm_activity_mbq,
            Study.nm_radiopharmaceutical, Study.effective_dose_msv, Study.nm_effective_dose_msv)


def studies(key: PatientKey) -> list[Row]:
    """Every study of the patient, newest first; studies without a date last."""
    stmt = (select(*_COLUMNS).outerjoin(Equipment, Equipment.id == Study.equipment_id).where(key.clause())
            .order_by(Study.study_datetime.is_(None), Study.study_datetime.desc(), Study.id.desc()))
    rows = []
    for r in db.session.execute(stmt):
        row = Row(*r[:16], patient_id=r[16], patient_id_hashed=bool(r[17]), patient_name=r[18],
                  patient_name_hashed=bool(r[19]), activity_mbq=r[20], radiopharmaceutical=r[21],
                  effective_dose_msv=r[23] if r[1] == "NM" else r[22])
        row.accession_hashed = bool(row.accession_hashed)
        rows.append(row)
    return rows


@dataclass
class Totals:
    """Fluoroscopy totals over some studies: DAP (Gy·m²), dose at RP (Gy), sum and max of peak skin dose."""
    studies: int = 0
    dap_gym2: float = 0.0
    dose_rp_gy: float = 0.0
    psd_sum_gy: float | None = None
    psd_max_gy: float | None = None
    psd_studies: int = 0

    def add(self, row: Row) -> None:
        self.studies += 1
        self.dap_gym2 += row.dap_gym2 or 0.0
        self.dose_rp_gy += row.dose_rp_gy or 0.0
        if row.psd_gy is not None:
            self.psd_studies += 1
            self.psd_sum_gy = (self.psd_sum_gy or 0.0) + row.psd_gy
            self.psd_max_gy = row.psd_gy if self.psd_max_gy is None else max(self.psd_max_gy, row.psd_gy)


@dataclass(frozen=True)
class Period:
    """The `weeks` weeks up to and including `until`."""
    weeks: int
    until: dt.date

    @property
    def start(self) -> dt.date:
        return self.until - dt.timedelta(weeks=self.weeks) + dt.timedelta(days=1)

    def holds(self, day: dt.date | None) -> bool:
        return day is not None and self.start <= day <= self.until


def period_from(weeks: str | None, until: str | None, today: dt.date | None = None) -> tuple[Period, list[str]]:
    """The period a page or an export asked for, and what in the request was not understood (the
    default used instead): weeks 1..MAX_WEEKS (default DEFAULT_WEEKS), until a yyyy-mm-dd date (default today)."""
    problems = []
    n = DEFAULT_WEEKS
    if weeks not in (None, ""):
        try:
            n = int(weeks)
            if not 1 <= n <= MAX_WEEKS:
                raise ValueError
        except ValueError:
            problems.append(_("weeks (a whole number from 1 to %(most)s)", most=MAX_WEEKS))
            n = DEFAULT_WEEKS
    end = today or dt.date.today()
    if until not in (None, ""):
        try:
            end = dt.date.fromisoformat(until)
        except ValueError:
            problems.append(_("until (a date, yyyy-mm-dd)"))
    return Period(n, end), problems


def fluoro_totals(rows: list[Row], period: Period | None = None) -> Totals:
    """Fluoroscopy totals over all the rows, or over those in `period`."""
    t = Totals()
    for r in rows:
        if r.modality == "RF" and (period is None or period.holds(r.study_date)):
            t.add(r)
    return t


@dataclass
class DoseTotals:
    """CT or NM totals over some studies: the summed dose (CT DLP mGy·cm, NM administered activity MBq) and
    the summed effective doses of the studies that have one (CT: population estimates from DLP; NM: as
    the report states), with how many studies had each."""
    studies: int = 0
    dose: float | None = None
    dose_studies: int = 0
    effective_msv: float | None = None
    effective_studies: int = 0


def dose_totals(rows: list[Row], modality: str, period: Period | None = None) -> DoseTotals:
    """CT (total DLP) or NM (administered activity) totals over all the rows of `modality`, or over those
    in `period`."""
    t = DoseTotals()
    for r in rows:
        if r.modality != modality or (period is not None and not period.holds(r.study_date)):
            continue
        t.studies += 1
        dose = r.dlp_mgycm if modality == "CT" else r.activity_mbq
        if dose is not None:
            t.dose, t.dose_studies = (t.dose or 0.0) + dose, t.dose_studies + 1
        if r.effective_dose_msv is not None:
            t.effective_msv = (t.effective_msv or 0.0) + r.effective_dose_msv
            t.effective_studies += 1
    return t


def running_totals(rows: list[Row]) -> list[tuple[Row, float, float]]:
    """The dated fluoroscopy rows oldest first, each with the cumulative DAP (Gy·m²) and dose at RP
    (Gy) up to and including it: the chart's steps and the export's running columns."""
    dated = sorted((r for r in rows if r.modality == "RF" and r.study_datetime is not None),
                   key=lambda r: (r.study_datetime, r.id))
    out, dap, rp = [], 0.0, 0.0
    for r in dated:
        dap += r.dap_gym2 or 0.0
        rp += r.dose_rp_gy or 0.0
        out.append((r, dap, rp))
    return out
