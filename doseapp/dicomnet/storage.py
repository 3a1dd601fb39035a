"""Where a Store SCP node keeps objects: its spool (objects received, waiting for import) and its
share of <instance>/objects (objects the delete policy keeps), laid out by DRAW's structure and
naming settings; how much room they take; and the retention cleanup.

Each node has folders of its own (spool/<AET>/, objects/<AET>/), so its storage limit and retention
apply to what it received and nothing else.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import time
from pathlib import Path

TMP_PREFIX = ".incoming-"  # a spool file being written; never acknowledged, never imported


def node_folder_name(aetitle: str) -> str:
    """A file-system-safe folder name for a node (AE titles are letters and digits, but be safe)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", aetitle.strip()) or "SCP"


def spool_dir(instance: Path, aetitle: str) -> Path:
    return Path(instance) / "spool" / node_folder_name(aetitle)


def objects_dir(instance: Path, aetitle: str) -> Path:
    return Path(instance) / "objects" / node_folder_name(aetitle)


def safe_part(part, fallback: str) -> str:
    """A DICOM value made safe as one path component (or `fallback` when empty)."""
    text = str(part).strip() if part not in (None, "") else ""
    text = re.sub(r"[^A-Za-z0-9_.^-]", "_", text)[:64].strip(".")
    return text or fallback


def relative_folder(ds, structure: str, received: dt.datetime) -> Path:
    """The folder (relative to the node's objects folder) for a kept object, by DRAW's structure."""
    patient = safe_part(ds.get("PatientID"), "NO_PATIENT_ID")
    study = safe_part(ds.get("StudyInstanceUID"), "NO_STUDY_UID")
    series = safe_part(ds.get("SeriesInstanceUID"), "NO_SERIES_UID")
    if structure == "flat":
        return Path()
    if structure == "patient":
        return Path(patient)
    if structure == "study":
        return Path(study)
    if structure == "series":
        return Path(patient, study, series)
    return Path(f"{received:%Y}", f"{received:%m}", f"{received:%d}")  # "date", the default


def file_name(ds, naming: str, folder: Path, received: dt.datetime) -> str:
    """A file name for a kept object in `folder` (which must exist), by DRAW's naming setting. Never
    overwrites: a taken name gets a numeric suffix."""
    if naming == "instance_number":
        number = ds.get("InstanceNumber")
        stem = f"{int(number):04d}" if str(number or "").strip().lstrip("-").isdigit() else "0000"
    elif naming == "timestamp":
        stem = f"{received:%Y%m%d_%H%M%S_%f}"
    elif naming == "sequential":
        stem = f"{_next_sequence(folder):06d}"
    else:
        stem = safe_part(ds.get("SOPInstanceUID"), "NO_SOP_UID")
    name, n = f"{stem}.dcm", 1
    while (folder / name).exists():
        n += 1
        name = f"{stem}_{n}.dcm"
    return name


def _next_sequence(folder: Path) -> int:
    numbers = [int(p.stem) for p in folder.glob("*.dcm") if p.stem.isdigit()]
    return max(numbers, default=0) + 1


def kept_path(objects_root: Path, ds, layout: dict, received: dt.datetime | None = None,
              unmatched: bool = False) -> Path:
    """Where to keep an object received by a node: objects/<AET>/[unmatched/]<structure>/<name>.
    `layout` is the job's {"node": AET folder, "structure": ..., "naming": ...}. Creates the folder."""
    received = received or dt.datetime.now()
    base = Path(objects_root) / layout.get("node", "SCP")
    if unmatched:
        base = base / "unmatched"
    folder = base / relative_folder(ds, layout.get("structure", "date"), received)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / file_name(ds, layout.get("naming", "sop_uid"), folder, received)


def tree_size(*folders: Path) -> int:
    """Bytes in files under the folders (missing folders count as empty)."""
    total = 0
    stack = [str(f) for f in folders]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:
                        continue  # moved or deleted while we looked
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total


def remove_older_than(folder: Path, days: int, now: float | None = None) -> tuple[int, int]:
    """Delete files under `folder` last modified more than `days` ago, then empty folders.
    Returns (files removed, bytes freed)."""
    cutoff = (now or time.time()) - days * 86400
    removed = freed = 0
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
                if st.st_mtime < cutoff:
                    os.unlink(path)
                    removed += 1
                    freed += st.st_size
            except FileNotFoundError:
                continue
        if root != str(folder):
            try:
                os.rmdir(root)  # only succeeds when empty
            except OSError:
                pass
    return removed, freed
