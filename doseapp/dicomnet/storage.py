"""Where a Store SCP node keeps objects: its spool (objects received, waiting for import) and its
share of <instance>/objects (objects the delete policy keeps), laid out by DRAW's structure and
naming settings; how much room they take; and the cleanups (by age, and oldest first when full).

Each node has folders of its own (spool/<AET>/, objects/<AET>/), so its storage limit and retention
apply to what it received and nothing else.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import string
import time
from pathlib import Path

TMP_PREFIX = ".incoming-"  # a spool file being written; never acknowledged, never imported
INCOMING = ".incoming"  # the node process's folder for objects still arriving (pynetdicom streams them here)
SAFE_CHARS = frozenset(string.ascii_letters + string.digits + "_-.")
MAX_PART = 64


def node_folder_name(aetitle: str) -> str:
    """A node's folder name: its AE title made safe (AE titles may hold spaces and punctuation)."""
    return safe_part(aetitle, "SCP")


def spool_dir(instance: Path, aetitle: str) -> Path:
    return Path(instance) / "spool" / node_folder_name(aetitle)


def objects_dir(instance: Path, aetitle: str) -> Path:
    return Path(instance) / "objects" / node_folder_name(aetitle)


def safe_part(part, fallback: str) -> str:
    """A value from a DICOM object or setting as one path component (`fallback` when empty).

    Letters, digits, '_', '-' and '.' stay; every other character, and a leading '.', becomes %XX
    of its UTF-8 bytes. So a name is never a separator, '.', '..' or hidden, and two different
    values never share a folder (mapping '/' and '_' both to '_' put two patients in one). Past
    MAX_PART characters a name is cut and ends in '~' and 16 hex digits of the value's SHA-256
    (a '~' in a value is always escaped, so a cut name cannot equal a whole one)."""
    text = str(part).strip() if part not in (None, "") else ""
    if not text:
        return fallback
    out = "".join(ch if ch in SAFE_CHARS else "".join(f"%{b:02X}" for b in ch.encode("utf-8")) for ch in text)
    if out.startswith("."):
        out = "%2E" + out[1:]
    if len(out) > MAX_PART:
        out = out[:MAX_PART - 17] + "~" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return out


def relative_folder(ds, structure: str, received: dt.datetime, patient: str | None) -> Path:
    """The folder (relative to the node's objects folder) for a kept object, by DRAW's structure.
    `patient` names the patient level: what the privacy settings allow (security/privacy.py
    folder_name), never the object's raw Patient ID unless IDs are stored in clear."""
    patient = safe_part(patient, "NO_PATIENT_ID")
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


def kept_path(objects_root: Path, ds, layout: dict, *, patient: str | None, received: dt.datetime | None = None,
              unmatched: bool = False) -> Path:
    """Where to keep an object received by a node: objects/<AET>/[unmatched/]<structure>/<name>.
    `layout` is the job's {"node": AET folder, "structure": ..., "naming": ...}; `patient` names
    the patient level (see relative_folder). Creates the folder."""
    received = received or dt.datetime.now()
    base = Path(objects_root) / layout.get("node", "SCP")
    if unmatched:
        base = base / "unmatched"
    folder = base / relative_folder(ds, layout.get("structure", "date"), received, patient)
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


def remove_older_than(folder: Path, days: float, now: float | None = None,
                      removed_paths: list[str] | None = None) -> tuple[int, int]:
    """Delete files under `folder` last modified more than `days` ago, then empty folders.
    Returns (files removed, bytes freed); the paths removed are added to `removed_paths` if given."""
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
                    if removed_paths is not None:
                        removed_paths.append(path)
            except FileNotFoundError:
                continue
        if root != str(folder):
            _remove_if_empty(root)
    return removed, freed


def remove_oldest(folder: Path, bytes_to_free: int) -> tuple[list[str], int]:
    """Delete the least recently modified files under `folder` until `bytes_to_free` bytes are freed
    (or nothing is left), then the folders that emptied. Returns (paths removed, bytes freed)."""
    files = []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            try:
                st = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                continue
            files.append((st.st_mtime, path, st.st_size))
    files.sort()
    removed, freed = [], 0
    for _mtime, path, size in files:
        if freed >= bytes_to_free:
            break
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        removed.append(path)
        freed += size
    for parent in sorted({os.path.dirname(p) for p in removed}, key=len, reverse=True):
        while parent != str(folder) and parent.startswith(str(folder)) and _remove_if_empty(parent):
            parent = os.path.dirname(parent)
    return removed, freed


def _remove_if_empty(folder: str) -> bool:
    try:
        os.rmdir(folder)  # only succeeds when empty
        return True
    except OSError:
        return False
