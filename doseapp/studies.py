"""The study summary: a public contract, served by the command line and the JSON API.
Keys name their units; values are the stored (normalised) ones; null where a value does not apply.

`possible_test_data` says whether a not-patient pattern matched; which one (`not_patient_indicator`,
e.g. "name: smith*") is admin knowledge: the patterns hold parts of names and IDs that may be set
"not stored", so only those who may read the patterns (and the trusted command line) get it."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from doseapp import roles
from doseapp.models import Study, db


def sees_patterns(user) -> bool:
    """Whether `user` may know which not-patient pattern a study matched: whoever may read the
    patterns themselves (None: the command line, trusted like an admin)."""
    return user is None or roles.allowed(user, roles.ACCESS["config.patterns"])


def _iso(value):
    return value.isoformat() if isinstance(value, (dt.date, dt.time, dt.datetime)) else value


def study_summary(study: Study, *, patterns: bool = False) -> dict:
    """The summary; `patterns`: include the matched not-patient patterns."""
    eq = study.equipment
    summary = {
        "id": study.id,
        "study_instance_uid": study.study_instance_uid,
        "modality": study.modality,
        "study_date": _iso(study.study_date),
        "study_time": _iso(study.study_time),
        "accession_number": study.accession_number,
        "study_description": study.study_description,
        "requested_procedure": study.requested_procedure_code_meaning,
        "procedure": study.procedure_code_meaning,
        # The site's name for this kind of examination (doseapp.standards.names); null when none.
        "standard_name": study.standard_name.name if study.standard_name_id and study.standard_name else None,
        "display_name": eq.display_name if eq else None,
        "manufacturer": eq.manufacturer if eq else None,
        "model_name": eq.model_name if eq else None,
        "station_name": eq.station_name if eq else None,
        "institution_name": eq.institution_name if eq else None,
        "patient_age_years": study.patient_age_years,
        "patient_sex": study.patient_sex,
        "patient_height_m": study.patient_height_m,
        "patient_weight_kg": study.patient_weight_kg,
        "possible_test_data": study.not_patient_indicator is not None,
        "number_of_events": study.number_of_events,
        "total_dlp_mGy_cm": study.total_dlp_mgycm,
        # CT, over the scans (not localizers, not bolus tracking); the effective dose estimate is a
        # population estimate (DLP x a published coefficient), never this patient's dose.
        "mean_ctdivol_mGy": study.mean_ctdivol_mgy,
        "mean_ssde_mGy": study.mean_ssde_mgy,
        "ssde_method": study.ssde_method,
        "effective_dose_estimate_mSv": study.effective_dose_msv,
        "total_dap_Gy_m2": study.total_dap_gym2,
        "total_dap_a_Gy_m2": study.dap_a_gym2,
        "total_dap_b_Gy_m2": study.dap_b_gym2,
        "total_rp_dose_a_Gy": study.dose_rp_a_gy,
        "total_rp_dose_b_Gy": study.dose_rp_b_gy,
        "fluoro_dap_Gy_m2": study.fluoro_dap_total_gym2,
        "acquisition_dap_Gy_m2": study.acquisition_dap_total_gym2,
        "total_fluoro_time_s": study.fluoro_time_total_s,
        # Of the study's skin dose map (fluoroscopy); null when there is no map.
        "peak_skin_dose_Gy": study.peak_skin_dose_gy,
        "total_agd_left_mGy": study.agd_left_mgy,
        "total_agd_right_mGy": study.agd_right_mgy,
        "total_agd_both_mGy": study.agd_both_mgy,
        # NM: summed over the administrations (MBq as recorded, the stated effective dose).
        "administered_activity_MBq": study.nm_activity_mbq,
        "activity_per_kg_MBq": study.nm_activity_per_kg_mbq,
        "radiopharmaceutical": study.nm_radiopharmaceutical,
        "radionuclide": study.nm_radionuclide,
        "nm_effective_dose_mSv": study.nm_effective_dose_msv,
    }
    if patterns:
        summary["not_patient_indicator"] = study.not_patient_indicator
    return summary


def study_reports(study: Study) -> list[dict]:
    """The objects (dose reports, images) the study's data came from, in the order they arrived,
    labelled R1, R2…, with their own totals as sent (DAP: the sum of the report's planes)."""
    out = []
    for n, obj in enumerate(study.objects, start=1):
        daps = [p.dap_total_gym2 for p in study.planes if p.object_id == obj.id and p.dap_total_gym2 is not None]
        out.append({"label": f"R{n}", "id": obj.id, "sop_instance_uid": obj.sop_instance_uid,
                    "sop_class_uid": obj.sop_class_uid, "imported_at": _iso(obj.imported_at),
                    "event_count": obj.event_count, "total_dlp_mGy_cm": obj.total_dlp_mgycm,
                    "total_dap_Gy_m2": sum(daps) if daps else None})
    return out


def _columns(row, skip=("id", "study_id", "event_id", "object_id")) -> dict:
    return {c.key: _iso(getattr(row, c.key)) for c in sa_inspect(row).mapper.column_attrs if c.key not in skip}


def study_detail(study: Study, *, patterns: bool = False) -> dict:
    """The summary, the reports it came from (see study_reports), and every stored event (CT events
    with their X-ray sources), plane and breast dose, each naming the report that sent it."""
    detail = study_summary(study, patterns=patterns)
    reports = study_reports(study)
    sop = {r["id"]: r["sop_instance_uid"] for r in reports}

    def row(r, **extra) -> dict:
        return _columns(r) | {"report_sop_instance_uid": sop.get(r.object_id)} | extra

    detail["reports"] = [{k: v for k, v in r.items() if k != "id"} for r in reports]
    detail["ct_events"] = [row(e, sources=[_columns(s) for s in e.sources]) for e in study.ct_events]
    detail["xray_events"] = [row(e) for e in study.xray_events]
    detail["planes"] = [row(p) for p in study.planes]
    detail["breast_doses"] = [row(b) for b in study.breast_doses]
    detail["nm_administrations"] = [row(a) for a in study.nm_administrations]
    detail["nm_series"] = [row(s) for s in study.nm_series]
    # A hybrid exam (PET/CT, SPECT/CT): the other modality's part of the same StudyInstanceUID.
    detail["linked_studies"] = [{"id": o.id, "modality": o.modality} for o in linked_studies(study)]
    return detail


def linked_studies(study: Study) -> list[Study]:
    """The other parts of a hybrid exam: studies of the same StudyInstanceUID and another modality
    (the CT part of a PET/CT for its NM part, and the other way round)."""
    if not study.study_instance_uid or study.id is None:
        return []
    return list(db.session.scalars(select(Study).where(Study.study_instance_uid == study.study_instance_uid,
                                                       Study.id != study.id, Study.modality != study.modality)
                                   .order_by(Study.id)))
