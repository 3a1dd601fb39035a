"""Study-level summary columns, computed at ingest from what was stored, so that lists, filters,
charts and exports never aggregate events at read time."""
from __future__ import annotations

import math

from doseapp.extract.units import significant
from doseapp.models import Study
from doseapp.standards import effective_dose, ssde

CT_TYPE_COLUMNS = {
    "sequenced acquisition": "ct_sequenced_count",
    "spiral acquisition": "ct_spiral_count",
    "constant angle acquisition": "ct_constant_angle_count",
    "stationary acquisition": "ct_stationary_count",
    "free acquisition": "ct_free_count",
    "cone beam acquisition": "ct_cone_beam_count",
}


def _sum(values) -> float | None:
    """The sum of the values given, as the decimal it means: summing 100.03 and 16.58 in binary gives
    116.60999999999999, which lists and exports would print; rounding to twelve significant digits
    drops that noise and nothing a dose report measures."""
    present = [v for v in values if v is not None]
    return significant(math.fsum(present)) if present else None


def _plane_letter(plane: str | None) -> str:
    return "b" if plane and plane.strip().lower() == "plane b" else "a"


def summarise(study: Study, reported_total_dlp: float | None = None) -> None:
    """Fill the study's summary columns from its events, planes and breast doses.

    Totals are the system's own accumulated values where it reported them (the CT DLP total, the
    per-plane accumulated containers, the per-breast AGD); sums of events otherwise."""
    if study.modality == "NM":
        summarise_nm(study)
    elif study.modality == "CT" or study.ct_events:
        _summarise_ct(study, reported_total_dlp)
    else:
        _summarise_projection(study)


def _summarise_ct(study: Study, reported_total_dlp: float | None) -> None:
    events = study.ct_events
    study.number_of_events = len(events)
    study.total_dlp_mgycm = reported_total_dlp if reported_total_dlp is not None else _sum(e.dlp_mgycm for e in events)
    counts = dict.fromkeys(CT_TYPE_COLUMNS.values(), 0)
    for e in events:
        column = CT_TYPE_COLUMNS.get((e.acquisition_type or "").strip().lower())
        if column:
            counts[column] += 1
    for column, n in counts.items():
        setattr(study, column, n)
    summarise_ct_estimates(study)


# The scans that the study's mean CTDIvol and SSDE are over: not the localizers (constant angle),
# the bolus-tracking monitoring (stationary) nor free acquisitions.
SCAN_TYPES = ("spiral acquisition", "sequenced acquisition", "cone beam acquisition")


def _is_scan(event) -> bool:
    return (event.acquisition_type or "").strip().lower() in SCAN_TYPES


def _mean(values) -> float | None:
    present = [v for v in values if v is not None]
    return significant(math.fsum(present) / len(present)) if present else None


def _rounded(value: float | None) -> float | None:
    return significant(value) if value is not None else None


def event_estimates(event, age_years: float | None, study_description: str | None) -> None:
    """The event's SSDE (with its method) and effective dose estimate, from its stored values only:
    computing twice gives the same row (a reported SSDE is recognised by its method text)."""
    reported, reported_method = ssde.reported_part(event.ssde_mgy, event.ssde_method)
    s = ssde.estimate(ctdivol_mgy=event.ctdivol_mgy, phantom_type=event.ctdiw_phantom_type,
                      acquisition_type=event.acquisition_type, reported_ssde_mgy=reported,
                      reported_method=reported_method, wed_mm=event.water_equivalent_diameter_mm,
                      age_years=age_years)
    event.ssde_mgy, event.ssde_method = _rounded(s.mgy), s.method
    e = effective_dose.estimate(dlp_mgycm=event.dlp_mgycm, target_region=event.target_region,
                                age_years=age_years, phantom_type=event.ctdiw_phantom_type,
                                study_description=study_description)
    event.effective_dose_estimate_msv, event.effective_dose_coefficient = _rounded(e.msv), e.coefficient
    event.effective_dose_region = e.region


def summarise_ct_estimates(study: Study) -> None:
    """Per event SSDE and effective dose estimate; per study the mean CTDIvol and SSDE over the scans,
    the SSDE methods used (or why there is none) and the summed effective dose estimate."""
    events = study.ct_events
    for e in events:
        event_estimates(e, study.patient_age_years, study.study_description)
    scans = [e for e in events if _is_scan(e)]
    study.mean_ctdivol_mgy = _mean(e.ctdivol_mgy for e in scans)
    study.mean_ssde_mgy = _mean(e.ssde_mgy for e in scans)
    with_ssde = [e.ssde_method for e in scans if e.ssde_mgy is not None]
    if with_ssde:
        methods = list(dict.fromkeys(with_ssde))
        missing = len(scans) - len(with_ssde)
        study.ssde_method = "; ".join(methods) + (f" ({missing} of {len(scans)} scans without SSDE)" if missing else "")
    elif scans:
        study.ssde_method = "; ".join(dict.fromkeys(e.ssde_method for e in scans))
    else:
        study.ssde_method = "no SSDE: the study has no scans (spiral, sequenced or cone beam)"
    study.effective_dose_msv = _sum(e.effective_dose_estimate_msv for e in events)


# Per plane: summary key -> (the accumulated plane's column, the event column summed when the plane
# does not report it, which events: None all, else the kind of _event_kind).
PLANE_TOTALS = {
    "dap": ("dap_total_gym2", "dap_gym2", None),
    "rp": ("dose_rp_total_gy", "dose_rp_gy", None),
    "fluoro_dap": ("fluoro_dap_total_gym2", "dap_gym2", "fluoroscopy"),
    "fluoro_rp": ("fluoro_dose_rp_total_gy", "dose_rp_gy", "fluoroscopy"),
    "fluoro_time": ("total_fluoro_time_s", "irradiation_duration_s", "fluoroscopy"),
    "acq_dap": ("acquisition_dap_total_gym2", "dap_gym2", "acquisition"),
    "acq_rp": ("acquisition_dose_rp_total_gy", "dose_rp_gy", "acquisition"),
    "acq_time": ("total_acquisition_time_s", "irradiation_duration_s", "acquisition"),
}


def _event_kind(event) -> str | None:
    """"fluoroscopy" or "acquisition" (stationary, stepping, rotational) by the event's own type;
    None for an event without one."""
    kind = (event.event_type or "").strip().lower()
    if kind == "fluoroscopy":
        return "fluoroscopy"
    return "acquisition" if "acquisition" in kind else None


def _plane_total(planes: list, events: list, columns: tuple) -> float | None:
    """One report's total in one plane: what its accumulated planes say, else its events' sum."""
    plane_column, event_column, kind = columns
    reported = _sum(getattr(p, plane_column) for p in planes)
    if reported is not None:
        return reported
    return _sum(getattr(e, event_column) for e, k in events if kind is None or k == kind)


def _summarise_projection(study: Study) -> None:
    """Each plane's totals, per report, as the system accumulated them (TID 10002/10004) where it
    reported them, else summed over that report's events in the plane, the fluoroscopy and
    acquisition totals over the events of that type (a system that sends only a plane's DAP total
    still gets its split, by event type); then summed over the reports of the study."""
    events = study.xray_events
    kinds = [_event_kind(e) for e in events]
    study.number_of_events = len(events)
    study.fluoro_event_count = kinds.count("fluoroscopy")
    study.acquisition_count = kinds.count("acquisition")
    per_plane: dict[str, dict] = {}
    for letter in ("a", "b"):
        # report (object id; None for rows stored before reports were recorded) -> (planes, events)
        sent: dict[int | None, tuple[list, list]] = {}
        for p in study.planes:
            if _plane_letter(p.acquisition_plane) == letter:
                sent.setdefault(p.object_id, ([], []))[0].append(p)
        for e, k in zip(events, kinds):
            if _plane_letter(e.acquisition_plane) == letter:
                sent.setdefault(e.object_id, ([], []))[1].append((e, k))
        per_plane[letter] = {key: _sum(_plane_total(planes, mine, columns) for planes, mine in sent.values())
                             for key, columns in PLANE_TOTALS.items()}
    a, b = per_plane["a"], per_plane["b"]
    study.dap_a_gym2, study.dap_b_gym2 = a["dap"], b["dap"]
    study.dose_rp_a_gy, study.dose_rp_b_gy = a["rp"], b["rp"]
    study.total_dap_gym2 = _sum([a["dap"], b["dap"]])
    study.total_dose_rp_gy = _sum([a["rp"], b["rp"]])
    study.fluoro_dap_total_gym2 = _sum([a["fluoro_dap"], b["fluoro_dap"]])
    study.fluoro_dose_rp_total_gy = _sum([a["fluoro_rp"], b["fluoro_rp"]])
    study.fluoro_time_total_s = _sum([a["fluoro_time"], b["fluoro_time"]])
    study.acquisition_dap_total_gym2 = _sum([a["acq_dap"], b["acq_dap"]])
    study.acquisition_dose_rp_total_gy = _sum([a["acq_rp"], b["acq_rp"]])
    study.acquisition_time_total_s = _sum([a["acq_time"], b["acq_time"]])
    _summarise_breasts(study)


def _breast(laterality: str | None) -> str | None:
    text = (laterality or "").strip().lower()
    if text.startswith("left"):
        return "left"
    if text.startswith("right"):
        return "right"
    if text.startswith("both") or text.startswith("bilateral"):
        return "both"
    return None


def _summarise_breasts(study: Study) -> None:
    """AGD per breast from the reported accumulation (TID 10005), else the sum of the events'."""
    totals: dict[str, float | None] = {"left": None, "right": None, "both": None}
    if study.breast_doses:
        for row in study.breast_doses:
            side = _breast(row.laterality)
            if side:
                totals[side] = _sum([totals[side], row.agd_mgy])
    else:
        for e in study.xray_events:
            side = _breast(e.laterality)
            if side and e.agd_mgy is not None:
                totals[side] = _sum([totals[side], e.agd_mgy])
    study.agd_left_mgy, study.agd_right_mgy = totals["left"], totals["right"]
    # "Both": the whole study's AGD, i.e. left + right (+ any dose reported for both breasts at once).
    study.agd_both_mgy = _sum([totals["left"], totals["right"], totals["both"]])


def _distinct(values) -> str | None:
    seen = []
    for v in values:
        if v and v not in seen:
            seen.append(v)
    return ", ".join(seen) or None


def summarise_nm(study: Study) -> None:
    """NM: the administrations' activity (MBq) and stated effective dose summed, their
    radiopharmaceuticals and radionuclides, the activity per kg of the patient's weight; the number
    of events is the number of administrations."""
    admins = study.nm_administrations
    study.number_of_events = len(admins)
    study.nm_activity_mbq = _sum(a.administered_activity_mbq for a in admins)
    study.nm_effective_dose_msv = _sum(a.effective_dose_msv for a in admins)
    study.nm_radiopharmaceutical = _distinct(a.radiopharmaceutical for a in admins)
    study.nm_radionuclide = _distinct(a.radionuclide for a in admins)
    weight = study.patient_weight_kg
    study.nm_activity_per_kg_mbq = (significant(study.nm_activity_mbq / weight)
                                    if study.nm_activity_mbq is not None and weight else None)
