"""Display names and user-defined modality: relabelling studies when an admin changes a system's
modality, and re-sorting the studies of Dual (or automatic) systems into DX and RF.

A stored study keeps no acquisition device type, so re-sorting applies the import's own rule
(extract.classify.projection_modality) to what is stored: the model, the accumulated planes and
the events' types.
"""
from __future__ import annotations

from sqlalchemy import and_, select, update

from doseapp import audit
from doseapp.extract.classify import projection_modality
from doseapp.models import Equipment, Study, XrayEvent, db
from doseapp.standards.names import assign_study
from doseapp.display.timefmt import plural

# What the edit form offers, in the seed's words; "" leaves the value unchanged.
MODALITY_CHOICES = (
    ("", "[Leave unchanged]"),
    ("DX", "DX (planar x-ray)"),
    ("RF", "RF (fluoroscopy)"),
    ("Dual", "Dual (planar x-ray and fluoroscopy)"),
    ("auto", "None (decide from each report)"),
)
# Only projection studies move: a CT or mammography study stays where it is (seed §3.2.4).
PROJECTION = ("DX", "RF")


def decide_stored_study(study: Study) -> str:
    """DX or RF for a stored projection study (its equipment's model, planes and events)."""
    model = study.equipment.model_name if study.equipment else None
    return projection_modality(model, study.planes, (e.event_type for e in study.xray_events))


def relabel(equipment_ids, modality: str) -> int:
    """Set every DX/RF study of these systems to `modality` (DX or RF); returns how many changed.
    Does not commit (the caller commits with its audit entry)."""
    if modality not in PROJECTION:
        raise ValueError(modality)
    moving = and_(Study.equipment_id.in_(list(equipment_ids)), Study.modality.in_(PROJECTION),
                  Study.modality != modality)
    # Standard names belong to one modality: the moved studies lose their old one (the next
    # "Apply standard names" names them by the new modality's rules).
    db.session.execute(update(XrayEvent).where(XrayEvent.study_id.in_(select(Study.id).where(moving)),
                                               XrayEvent.standard_name_id.isnot(None))
                       .values(standard_name_id=None).execution_options(synchronize_session=False))
    db.session.execute(update(Study).where(moving, Study.standard_name_id.isnot(None)).values(standard_name_id=None)
                       .execution_options(synchronize_session=False))
    result = db.session.execute(
        update(Study).where(Study.equipment_id.in_(list(equipment_ids)), Study.modality.in_(PROJECTION),
                            Study.modality != modality).values(modality=modality)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


def studies_to_resort(equipment_ids) -> list[int]:
    return list(db.session.scalars(select(Study.id).where(Study.equipment_id.in_(list(equipment_ids)),
                                                          Study.modality.in_(PROJECTION))
                                   .order_by(Study.id)))


def resort(ctx) -> dict:
    """The reprocess_dual job: re-decide DX or RF for each projection study of the given systems,
    in batches, reporting progress (and stopping if cancelled)."""
    ids = [int(i) for i in ctx.parameters["equipment_ids"]]
    study_ids = studies_to_resort(ids)
    total = len(study_ids)
    counts = {"DX": 0, "RF": 0, "changed": 0}
    ctx.progress(0, total, f"Re-sorting {plural(total, 'study')}")
    batch = 200
    for start in range(0, total, batch):
        chunk = study_ids[start:start + batch]
        for study in db.session.scalars(select(Study).where(Study.id.in_(chunk))):
            new = decide_stored_study(study)
            counts[new] += 1
            if study.modality != new:
                study.modality = new
                assign_study(study)  # standard names belong to one modality
                counts["changed"] += 1
        ctx.progress(min(total, start + batch), total,
                     f"{counts['DX']} DX, {counts['RF']} RF so far")
    names = db.session.scalars(select(Equipment.display_name).where(Equipment.id.in_(ids))).all()
    audit.record("equipment.reprocess", ", ".join(sorted(set(names))),
                 {"equipment_ids": ids, **counts}, user=ctx.row.user)
    ctx.row.message = (f"{plural(counts['DX'], 'study')} {'is' if counts['DX'] == 1 else 'are'} DX, {counts['RF']} RF "
                       f"({counts['changed']} moved).")
    db.session.commit()
    return counts
