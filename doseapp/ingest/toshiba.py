"""Toshiba CT dose screens and their images -> one CT study, once the study's objects have arrived.

A Toshiba/Canon dose screen and the CT images of its study come one object at a time (Store SCP,
query-retrieve, a folder import). They are held in `<instance>/toshiba_held/<study>/` (the screen,
and the first image of each series; more images of a series add nothing) until no object of the
study has arrived for DOSEAPP_TOSHIBA_SETTLE_SECONDS; then `build` runs PixelMed over them and
stores the record. A dose report (RDSR) of the same study wins over the screen. A screen PixelMed
cannot read goes to quarantine with its reason; nothing of the study is stored then.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

import pydicom
from flask import current_app
from pydicom.uid import generate_uid
from sqlalchemy import select

from doseapp.extract import Malformed, toshiba_ct

log = logging.getLogger(__name__)

HELD_REASON = "Toshiba CT dose screen or image: held until the study's objects have arrived"


def held_root() -> Path:
    return current_app.config["INSTANCE"] / "toshiba_held"


def is_toshiba(ds) -> bool:
    """An object this path takes: a Toshiba/Canon dose screen or CT image."""
    return toshiba_ct.is_dose_screen(ds) or toshiba_ct.is_ct_image(ds)


def _folder_name(study_uid: str) -> str:
    # UIDs are digits and dots, but a sender's header is not to be trusted with a path.
    return hashlib.sha1(study_uid.encode()).hexdigest()[:20]


def hold(path: Path, ds, *, owned: bool, source: str):
    """Hold a screen or image for its study's build. Returns the ImportResult to report."""
    from doseapp.ingest.files import ImportResult, _dispose_unmatched

    name = str(path)
    study_uid = str(ds.get("StudyInstanceUID", "") or "").strip()
    folder = held_root() / _folder_name(study_uid)
    folder.mkdir(parents=True, exist_ok=True)
    if toshiba_ct.is_dose_screen(ds):
        target = folder / f"screen-{_folder_name(str(ds.SOPInstanceUID))}.dcm"
    else:
        target = folder / f"image-{_folder_name(str(ds.get('SeriesInstanceUID', '')))}.dcm"
        if target.exists():  # the series is represented: this image adds nothing
            _dispose_unmatched(path, owned, ds)
            return ImportResult(name, "rejected", "Toshiba CT image: an image of its series is held already "
                                                  "(one per series is needed)")
    tmp = folder / f".{uuid.uuid4().hex}.part"
    if owned:
        shutil.move(str(path), tmp)
    else:
        shutil.copy2(path, tmp)
    os.replace(tmp, target)  # a build never sees half a file
    (folder / "source").write_text(f"{source}\n{int(owned)}\n")
    return ImportResult(name, "held", HELD_REASON, held_study=study_uid)


def settled(settle_seconds: float, only: set[str] | None = None) -> list[Path]:
    """Held study folders with no new object for `settle_seconds` (all of `only`'s study UIDs)."""
    root = held_root()
    if not root.exists():
        return []
    names = {_folder_name(u) for u in only} if only is not None else None
    now = time.time()
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.endswith(".building")):
        if names is not None and folder.name not in names:
            continue
        newest = max((f.stat().st_mtime for f in folder.iterdir()), default=folder.stat().st_mtime)
        if now - newest >= settle_seconds:
            out.append(folder)
    return out


STALE_CLAIM_SECONDS = 3600


def _release_stale_claims() -> None:
    """A study claimed by a worker that died mid-build (its folder still `.building` after an hour,
    far beyond PixelMed's time limit) is put back to be built again."""
    root = held_root()
    if not root.exists():
        return
    now = time.time()
    for folder in root.glob("*.building"):
        if now - folder.stat().st_mtime < max(STALE_CLAIM_SECONDS, 3 * current_app.config["TOSHIBA_TIMEOUT"]):
            continue
        original = root / folder.name.split(".", 1)[0]
        try:
            os.rename(folder, original)
        except OSError:
            continue  # released by another worker, or the study is held anew: left for the next run
        os.utime(original)


def build_settled(settle_seconds: float, only: set[str] | None = None) -> list:
    """Build every settled held study; returns their ImportResults."""
    _release_stale_claims()
    results = []
    for folder in settled(settle_seconds, only):
        claimed = folder.with_name(f"{folder.name}.{uuid.uuid4().hex[:8]}.building")
        try:
            os.rename(folder, claimed)  # one builder per study, however many workers look
        except OSError:
            continue
        try:
            results.append(build(claimed))
        finally:
            shutil.rmtree(claimed, ignore_errors=True)
    return results


def _tool() -> toshiba_ct.PixelMed:
    cfg = current_app.config
    return toshiba_ct.PixelMed(cfg["JAVA"], cfg["PIXELMED_JAR"], cfg["TOSHIBA_TIMEOUT"])


def build(folder: Path):
    """Make the CT study of one held folder (screen + images), or say why not."""
    from doseapp.alerts.evaluate import evaluate_study
    from doseapp.ingest.files import ImportResult, _dispose_processed, _dispose_unmatched, _quarantine
    from doseapp.ingest.store import store_report
    from doseapp.models import Study, db
    from doseapp.studies import study_summary

    source, owned = "cli", False
    if (folder / "source").exists():
        lines = (folder / "source").read_text().split("\n")
        source, owned = lines[0] or "cli", lines[1:2] == ["1"]
    screens = sorted(folder.glob("screen-*.dcm"))
    images = sorted(folder.glob("image-*.dcm"))

    def dispose(paths, processed: bool):
        for p in paths:
            if not owned:
                p.unlink(missing_ok=True)  # our copy of a user's file: theirs stays where it was
                continue
            ds = pydicom.dcmread(p, stop_before_pixels=True)
            if processed:
                _dispose_processed(p, True, toshiba_ct.SOURCE_KIND, ds)
            else:
                _dispose_unmatched(p, True, ds)

    if not screens:
        dispose(images, processed=False)
        return ImportResult(str(folder), "rejected", "Toshiba CT images without a dose screen: no dose data to read")
    screen_ds = pydicom.dcmread(screens[0], stop_before_pixels=True)
    study_uid = str(screen_ds.StudyInstanceUID)
    name = f"Toshiba dose screen of study {study_uid}"
    other = db.session.scalar(select(Study).where(Study.study_instance_uid == study_uid,
                                                  Study.source_kind != toshiba_ct.SOURCE_KIND))
    db.session.commit()
    if other is not None:
        dispose(screens + images, processed=True)
        return ImportResult(name, "duplicate", f"study {other.id} holds a dose report ({other.source_kind}) "
                                               "of this study: the dose screen is not needed")
    try:
        report = toshiba_ct.read_study(folder, _tool())
    except Malformed as exc:
        # The screen is kept with PixelMed's reason; the images are not dose objects of their own.
        row, _before = _quarantine(screens[0], name=name, reason=exc.reason, source=source, owned=True,
                                   ds=screen_ds)
        dispose(screens[1:] + images, processed=False)
        return ImportResult(name, "failed", exc.reason, [], None, row.id)
    # The processed object is the screen: importing it again is a duplicate, whatever PixelMed's UIDs.
    report.sop_instance_uid = str(screen_ds.SOPInstanceUID)
    report.sop_class_uid = str(screen_ds.SOPClassUID)
    for n, event in enumerate(report.ct_events):
        event.irradiation_event_uid = generate_uid(entropy_srcs=[report.sop_instance_uid, str(n)])
    try:
        outcome = store_report(report)
    except Exception as exc:  # a database fault: the screen is kept to be retried
        log.exception("storing %s failed", name)
        db.session.rollback()
        row, _before = _quarantine(screens[0], name=name, reason=f"could not be stored: {type(exc).__name__}: {exc}",
                                   source=source, owned=True, ds=screen_ds)
        dispose(images, processed=False)
        return ImportResult(name, "failed", row.reason, [], None, row.id)
    result = ImportResult(name, outcome.status, outcome.reason, outcome.warnings, study_summary(outcome.study))
    if outcome.status == "imported":
        evaluate_study(result.study["id"])
    dispose(screens + images, processed=True)
    return result


def settle_job(ctx) -> dict:
    """The job that builds the held Toshiba studies that have settled (periodic, and queued after
    each held object)."""
    results = build_settled(current_app.config["TOSHIBA_SETTLE_SECONDS"])
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    ctx.row.message = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no settled Toshiba study"
    return {"results": [r.as_dict() for r in results]}
