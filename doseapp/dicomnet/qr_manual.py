"""A manual query (DRAW's query page): the remote's patients, studies, series or images that match
patient ID, patient name and accession number (with the * and ? wildcards), the date range, the
modalities and the description / station filters, shown at the level asked for. Unlike the dose
query (qr.run_query with qr_filter's rules) nothing is dropped for being an image or a duplicate:
what the remote holds is what is listed, and the user ticks what to retrieve.

Patient identifiers in the answers are kept as the privacy settings store a study's (in clear, as the
keyed hash, or not at all) and shown to the pid role only.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Callable

from flask_babel import gettext as _
from flask_babel import ngettext

from doseapp.dicomnet import qr_filter
from doseapp.dicomnet.qr_filter import QueryOptions, StudyRsp
from doseapp.lazy_text import lazy_gettext

LEVELS = {"PATIENT": "Patient", "STUDY": "Study", "SERIES": "Series", "IMAGE": "Image"}
# DICOM matching: * and ? are the wildcards; a backslash would make the value a list, and control
# characters are not allowed in the LO / PN / SH value representations.
_BAD = re.compile(r"[\\\x00-\x1f]")
LIMITS = {"patient_id": 64, "patient_name": 64, "accession_number": 16}
COUNT_NOUNS = {"patients": "patient", "studies": "study", "series": "series", "images": "image"}
# In the reader's language where there is a request (lazy: read when shown), English elsewhere.
WHAT = {"patient_id": lazy_gettext("patient ID"), "patient_name": lazy_gettext("patient name"),
        "accession_number": lazy_gettext("accession number")}


class CriteriaError(ValueError):
    pass


@dataclass
class Criteria:
    level: str = "STUDY"
    patient_id: str = ""
    patient_name: str = ""
    accession_number: str = ""
    # Patient criteria the privacy settings do not keep in clear, removed from the stored query once it
    # has run (forget_patient_criteria): named here so that pages say so and "Run again" refuses.
    removed: tuple[str, ...] = ()

    @classmethod
    def read(cls, level: str, **terms: str | None) -> "Criteria":
        """Checked criteria from a form or saved parameters. Raises CriteriaError."""
        level = (level or "").upper()
        if level not in LEVELS:
            raise CriteriaError(f"Choose the level to query at ({', '.join(LEVELS.values())}).")
        values = {}
        for key, limit in LIMITS.items():
            value = (terms.get(key) or "").strip()
            if _BAD.search(value):
                raise CriteriaError(_("The %(what)s may not hold a backslash or control characters.", what=WHAT[key]))
            if len(value) > limit:
                raise CriteriaError(_("The %(what)s is longer than DICOM allows (%(limit)s characters).",
                                      what=WHAT[key], limit=limit))
            values[key] = value
        return cls(level=level, **values)

    @classmethod
    def from_parameters(cls, parameters: dict | None) -> "Criteria | None":
        manual = (parameters or {}).get("manual")
        if not manual:
            return None
        criteria = cls.read(manual.get("level"), **{k: manual.get(k) for k in LIMITS})
        criteria.removed = tuple(k for k in PATIENT_TERMS if k in (manual.get("removed") or ()))
        return criteria

    def as_dict(self) -> dict:
        out = asdict(self)
        out["removed"] = list(self.removed)
        return out

    def describe(self, show_patient: bool) -> str:
        """The criteria in words; patient criteria only named for someone who may see them."""
        parts = []
        if self.removed:
            names = [str(WHAT[k]) for k in self.removed]
            what = names[0] if len(names) == 1 else _("%(first)s and %(second)s", first=names[0], second=names[1])
            parts.append(ngettext("%(what)s (not kept after the query ran: the privacy settings do not store it "
                                  "in clear)",
                                  "%(what)s (not kept after the query ran: the privacy settings do not store them "
                                  "in clear)", len(names), what=what))
        if self.patient_id or self.patient_name:
            if show_patient:
                parts += [f"{WHAT[k]} {getattr(self, k)}" for k in ("patient_id", "patient_name") if getattr(self, k)]
            else:
                parts.append(_("patient criteria (hidden: pid role only)"))
        if self.accession_number:
            parts.append(f"{WHAT['accession_number']} {self.accession_number}")
        return ", ".join(parts) or _("no patient or accession criteria")

    @property
    def needs_pid(self) -> bool:
        """Searching by patient, or listing patients, is for the pid role only."""
        return self.level == "PATIENT" or bool(self.patient_id or self.patient_name or self.removed)


PATIENT_TERMS = {"patient_id": ("id_stored", "id_hashed"), "patient_name": ("name_stored", "name_hashed")}


def forget_patient_criteria(query) -> bool:
    """Once a manual query has run, drop from its stored parameters the patient ID and name criteria
    that the privacy settings do not keep in clear (hashed or not stored): the database then holds
    no identifier the settings forbid, at the price of "Run again" for such a query. True when
    something was dropped."""
    from doseapp.models import SystemSettings

    manual = (query.parameters or {}).get("manual")
    if not manual:
        return False
    settings = SystemSettings.get()
    drop = [k for k, (stored, hashed) in PATIENT_TERMS.items()
            if manual.get(k) and not (getattr(settings, stored) and not getattr(settings, hashed))]
    if not drop:
        return False
    removed = sorted(set(manual.get("removed") or ()) | set(drop))
    query.parameters = {**query.parameters, "manual": {**manual, **{k: "" for k in drop}, "removed": removed}}
    return True


@dataclass
class Found:
    """What a manual query found: the studies (with series and images below the study level) and
    each study's patient identifiers as the remote answered them."""
    studies: list[StudyRsp]
    patients: dict[str, tuple[str | None, str | None]]


def _value(ds, keyword: str) -> str | None:
    value = str(ds.get(keyword) or "").strip()
    return value or None


def dicom_range(low: str | None, high: str | None) -> str:
    """A DICOM date or time range ("low-high", open at either end), or "" (any)."""
    return f"{low or ''}-{high or ''}" if (low or high) else ""


def _study_keys(options: QueryOptions, criteria: Criteria, modality: str, patient_id: str | None) -> dict:
    return dict(PatientID=patient_id if patient_id is not None else criteria.patient_id,
                PatientName=criteria.patient_name, StudyInstanceUID="",
                StudyDate=dicom_range(options.date_from, options.date_until),
                StudyTime=dicom_range(options.time_from, options.time_until), ModalitiesInStudy=modality,
                StudyDescription="", AccessionNumber=criteria.accession_number, StationName="",
                NumberOfStudyRelatedSeries="", NumberOfStudyRelatedInstances="")


def find(client, options: QueryOptions, criteria: Criteria, stage: Callable[[str], None]) -> Found:
    """Run the manual query on an open QrClient."""
    from doseapp.dicomnet.qr import find_identifier, study_response

    patient_ids: list[str | None] = [None]  # None: match on the criteria at study level
    if criteria.level == "PATIENT" and client.patient_root:
        stage("Querying for patients")
        answers = client.find(find_identifier("PATIENT", PatientID=criteria.patient_id, PatientName=criteria.patient_name,
                                          NumberOfPatientRelatedStudies=""), "PATIENT")
        patient_ids = list(dict.fromkeys(_value(r, "PatientID") or "" for r in answers))
    modalities = [m for choice in options.modalities for m in qr_filter.MODALITY_CHOICES[choice]] or [""]
    studies: list[StudyRsp] = []
    patients: dict[str, tuple[str | None, str | None]] = {}
    for patient_id in patient_ids:
        for modality in modalities:
            stage(f"Querying for {modality or 'all'} studies")
            for r in client.find(find_identifier("STUDY", **_study_keys(options, criteria, modality, patient_id)),
                                 "STUDY"):
                study = study_response(r, modality or None)
                if study is None:
                    continue
                patients.setdefault(study.study_instance_uid, (_value(r, "PatientID"), _value(r, "PatientName")))
                studies.append(study)
    qr_filter.merge_duplicates(studies)
    qr_filter.filter_study_text(studies, options)
    if criteria.level in ("SERIES", "IMAGE"):
        wanted = {m for m in modalities if m}
        kept = [s for s in studies if s.excluded_reason is None]
        for n, study in enumerate(kept, 1):
            stage(f"Series query {n} of {len(kept)}")
            study.series = client.find_series(study)
            for series in study.series:
                if wanted and (series.modality or "") not in wanted:
                    series.excluded_reason = f"modality {series.modality or '(none)'} was not asked for"
                elif criteria.level == "IMAGE":
                    series.images = client.find_images(study, series)
    return Found(studies, patients)


def counts(found: Found, level: str) -> dict[str, int]:
    """How many patients, studies, series and images were found (kept), for the query's summary."""
    kept = [s for s in found.studies if s.excluded_reason is None]
    series = [se for s in kept for se in s.kept_series]
    out = {"patients": len({found.patients.get(s.study_instance_uid) for s in kept}), "studies": len(kept)}
    if level in ("SERIES", "IMAGE"):
        out["series"] = len(series)
    if level == "IMAGE":
        out["images"] = sum(len(se.kept_images) for se in series)
    return out


def summary(found: Found, level: str) -> dict:
    """The query row's summary: counts, and the identifiers as the privacy settings store them."""
    from doseapp.security.privacy import apply
    from doseapp.models import SystemSettings

    settings = SystemSettings.get()
    kept = {s.study_instance_uid for s in found.studies if s.excluded_reason is None}
    patients = {}
    for uid in kept:
        pid, name = found.patients.get(uid, (None, None))
        protected = apply({"patient_id": pid, "patient_name": name}, settings)
        patients[uid] = [protected["patient_id"], protected["patient_name"]]
    return {"manual": True, "level": level, "counts": counts(found, level), "patients": patients,
            "ids_protected": bool(settings.id_hashed or not settings.id_stored)}


def by_patient(query) -> list[tuple[tuple[str | None, str | None], list]]:
    """A manual query's study rows grouped by patient (the identifiers as stored), in answer order."""
    ids = (query.summary or {}).get("patients") or {}
    groups: dict[tuple, list] = {}
    for study in query.studies:
        groups.setdefault(tuple(ids.get(study.study_instance_uid) or (None, None)), []).append(study)
    return list(groups.items())
