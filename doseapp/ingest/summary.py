"""Study-level summary columns, computed at ingest from what was stored, so that lists, filters,
charts and exports never aggregate events at read time."""
from __future__ import annotations

from doseapp.models import Study

CT_TYPE_COLUMNS = {
    "sequenced acquisition": "ct_sequenced_count",
    "spiral acquisition": "ct_spiral_count",
    "constant angle acquisition": "ct_constant_angle_count",
    "stationary acquisition": "ct_stationary_count",
    "free acquisition": "ct_free_count",
    "cone beam acquisition": "ct_cone_beam_count",
}


def _sum(values) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _plane_letter(plane: str | None) -> str:
    return "b" if plane and plane.strip().lower() == "plane b" else "a"


def summarise(study: Study, reported_total_dlp: float | None = None) -> None:
    """Fill the study's summary columns from its events, planes and breast doses.

    Totals are the system's own accumulated values where it reported them (the CT DLP total, the
    per-plane accumulated containers, the per-breast AGD); sums of events otherwise."""
    if study.modality == "CT" or study.ct_events:
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


def _summarise_projection(study: Study) -> None:
    events = study.xray_events
    study.number_of_events = len(events)
    fluoro = [e for e in events if (e.event_type or "").strip().lower() == "fluoroscopy"]
    study.fluoro_event_count = len(fluoro)
    study.acquisition_count = len(events) - len(fluoro)
    per_plane: dict[str, dict] = {"a": {}, "b": {}}
    if study.planes:
        for p in study.planes:
            slot = per_plane[_plane_letter(p.acquisition_plane)]
            for key, value in (("dap", p.dap_total_gym2), ("rp", p.dose_rp_total_gy),
                               ("fluoro_dap", p.fluoro_dap_total_gym2), ("fluoro_rp", p.fluoro_dose_rp_total_gy),
                               ("fluoro_time", p.total_fluoro_time_s), ("acq_dap", p.acquisition_dap_total_gym2),
                               ("acq_rp", p.acquisition_dose_rp_total_gy), ("acq_time", p.total_acquisition_time_s)):
                slot[key] = _sum([slot.get(key), value])
    else:
        for letter in ("a", "b"):
            mine = [e for e in events if _plane_letter(e.acquisition_plane) == letter]
            if mine:
                per_plane[letter] = {"dap": _sum(e.dap_gym2 for e in mine), "rp": _sum(e.dose_rp_gy for e in mine)}
    a, b = per_plane["a"], per_plane["b"]
    study.dap_a_gym2, study.dap_b_gym2 = a.get("dap"), b.get("dap")
    study.dose_rp_a_gy, study.dose_rp_b_gy = a.get("rp"), b.get("rp")
    study.total_dap_gym2 = _sum([a.get("dap"), b.get("dap")])
    study.total_dose_rp_gy = _sum([a.get("rp"), b.get("rp")])
    study.fluoro_dap_total_gym2 = _sum([a.get("fluoro_dap"), b.get("fluoro_dap")])
    study.fluoro_dose_rp_total_gy = _sum([a.get("fluoro_rp"), b.get("fluoro_rp")])
    study.fluoro_time_total_s = _sum([a.get("fluoro_time"), b.get("fluoro_time")])
    study.acquisition_dap_total_gym2 = _sum([a.get("acq_dap"), b.get("acq_dap")])
    study.acquisition_dose_rp_total_gy = _sum([a.get("acq_rp"), b.get("acq_rp")])
    study.acquisition_time_total_s = _sum([a.get("acq_time"), b.get("acq_time")])
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
