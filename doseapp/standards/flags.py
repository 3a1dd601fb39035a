"""Each study's DRL ratio (study.drl_ratio): its highest quantity / the DRL that applies, over the
quantities of its modality that have one (None when none applies). The lists mark a study whose ratio
reaches the flag factor (settings.drl_flag_factor).

refresh_all() and refresh_studies() are set-based: one UPDATE per standard name, the DRL chosen in
SQL by a CASE over the name's patient groups and systems (the same choice as drl.NameLevels), so
500,000 studies take seconds, not a loop. refresh_study() is for ingest, one study in Python.
"""
from __future__ import annotations

from sqlalchemy import and_, case, select, update

from doseapp.models import StandardName, Study, db
from doseapp.standards.comparison import ADULT, band_condition, greatest, value_column
from doseapp.standards.drl import QUANTITIES, applicable, levels_by_name
from doseapp.display.timefmt import plural

KIND = "drl_refresh"
QUEUE = "default"
CHUNK = 500


def study_ratio(study) -> float | None:
    """The ratio for one study, from its summary columns (nothing written)."""
    best = None
    for quantity in QUANTITIES.get(study.modality, ()):
        level = applicable(study, quantity)
        value = _study_value(study, quantity)
        if level is None or value is None:
            continue
        ratio = value / level.value
        best = ratio if best is None or ratio > best else best
    return best


def _study_value(study, quantity: str) -> float | None:
    if study.modality == "MG":
        vals = [v for v in (study.agd_left_mgy, study.agd_right_mgy) if v is not None]
        return max(vals) if vals else None
    return getattr(study, {"dlp": "total_dlp_mgycm", "ctdivol": "mean_ctdivol_mgy", "ssde": "mean_ssde_mgy",
                           "dap": "total_dap_gym2", "dose_rp": "total_dose_rp_gy",
                           "activity": "nm_activity_mbq", "activity_per_kg": "nm_activity_per_kg_mbq"}[quantity])


def refresh_study(study) -> float | None:
    """Set one study's drl_ratio (ingest calls this after the standard name is assigned); no commit."""
    study.drl_ratio = study_ratio(study)
    return study.drl_ratio


def _drl_case(name_levels):
    """SQL: the DRL value for a study of this standard name (bands before adult; per band, the
    system's local level, then the general local, then the national one)."""
    whens = []
    for band in sorted(name_levels.bands, key=lambda b: b == ADULT):
        cond = band_condition(band)
        for lv in name_levels.bands[band]:
            whens.append((and_(cond, Study.equipment_id == lv.equipment_id) if lv.equipment_id is not None
                          else cond, lv.value))
            if lv.equipment_id is None:
                break  # a general level ends this band: the later ones are never chosen
    return case(*whens, else_=None)


def _ratio_expr(modality: str, name: str, by_quantity: dict):
    expr = None
    for quantity, levels in by_quantity.items():
        found = levels.get(name.casefold())
        if found is None:
            continue
        ratio = value_column(modality, quantity) / _drl_case(found)
        expr = ratio if expr is None else greatest(expr, ratio)
    return expr


def _run(where: list, progress=None) -> int:
    """Update drl_ratio of the studies matching `where`; returns how many standard names were done."""
    names_q = select(StandardName.id, StandardName.modality, StandardName.name)
    if where:  # only the names these studies have: a batch of 500 studies needs a few UPDATEs, not one per name
        names_q = names_q.where(StandardName.id.in_(select(Study.standard_name_id).where(*where)))
    names = db.session.execute(names_q.order_by(StandardName.modality, StandardName.id)).all()
    by_modality = {m: {q: levels_by_name(m, q) for q in qs} for m, qs in QUANTITIES.items()}
    # Studies without a standard name have no DRL.
    db.session.execute(update(Study).where(Study.standard_name_id.is_(None), Study.drl_ratio.isnot(None), *where)
                       .values(drl_ratio=None).execution_options(synchronize_session=False))
    for done, (name_id, modality, name) in enumerate(names, start=1):
        expr = _ratio_expr(modality, name, by_modality.get(modality, {}))
        stmt = update(Study).where(Study.standard_name_id == name_id, *where)
        if expr is None:
            stmt = stmt.where(Study.drl_ratio.isnot(None)).values(drl_ratio=None)
        else:
            # Only rows whose ratio changes are written: a refresh after a small change touches few rows.
            stmt = stmt.where(Study.drl_ratio.is_distinct_from(expr)).values(drl_ratio=expr)
        db.session.execute(stmt.execution_options(synchronize_session=False))
        if progress:
            progress(done, len(names))
    return len(names)


def refresh_all(progress=None) -> int:
    """Every study's drl_ratio again (DRLs or settings changed). Commits."""
    n = _run([], progress)
    db.session.commit()
    return n


def refresh_modality(modality: str) -> None:
    """Every study of one modality (its standard names were applied again). Commits."""
    _run([Study.modality == modality])
    db.session.commit()


def refresh_studies(study_ids) -> None:
    """These studies' drl_ratio again (e.g. after their standard names were assigned). Commits."""
    ids = sorted(set(study_ids))
    for start in range(0, len(ids), CHUNK):
        _run([Study.id.in_(ids[start:start + CHUNK])])
    db.session.commit()


def refresh_job(ctx) -> dict:
    """The "drl_refresh" job: every study's DRL ratio, with progress per standard name."""
    ctx.progress(0, None, "Working out which DRL applies to each study")
    n = refresh_all(lambda done, total: ctx.progress(done, total, f"{done} of {total} standard names"))
    flagged = db.session.scalar(select(db.func.count()).where(Study.drl_ratio.isnot(None)))
    ctx.row.message = (f"{plural(n, 'standard name')}; {plural(flagged, 'study')} "
                       f"{'has' if flagged == 1 else 'have'} a DRL.")
    return {"standard_names": n, "studies_with_drl": flagged}


def enqueue_refresh(*, user_id: int | None = None):
    """Queue the refresh (after a DRL or a DRL setting changed). Raises redis.RedisError when Redis is down."""
    from doseapp.runtime.queues import enqueue

    return enqueue(KIND, queue=QUEUE, title="Refresh the DRL ratio of every study", user_id=user_id, parameters={})
