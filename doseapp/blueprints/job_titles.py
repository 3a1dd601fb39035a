"""A job's title in the reader's language.

A job's title is stored in English when it is queued (it names the job in logs, the audit trail and
the command line, whoever reads them later). Pages show it through job_title(), which knows the shapes
the code gives titles (each a pattern here, with the translated message it becomes) and rebuilds the
title in the page's language. English pages, and a title of no known shape (a row from an older
version), show the title as stored.
"""
from __future__ import annotations

import re
from typing import Callable

from flask_babel import get_locale, gettext as _, ngettext

from doseapp.display.i18n import SOURCE_LANGUAGE
from doseapp.exports.run import TYPE_LABELS
from doseapp.runtime.kinds import KIND_NAMES


def export_label(fmt: str) -> str:
    """An export type's name (exports.run.TYPE_LABELS, English) in the page's language."""
    return {"csv": _("CSV export"), "csv-wide": _("CSV export (one row per study)"), "xlsx": _("XLSX export"),
            "nhsbsp": _("NHSBSP CSV export")}.get(fmt, TYPE_LABELS.get(fmt, fmt))


def _export(m: re.Match) -> str:
    fmt = next(key for key, label in TYPE_LABELS.items() if label == m["type"])
    values = {"modality": m["modality"], "export": export_label(fmt)}
    return {"": _("%(modality)s %(export)s", **values),
            " with names": _("%(modality)s %(export)s with names", **values),
            " with ID": _("%(modality)s %(export)s with ID", **values),
            " with names and ID": _("%(modality)s %(export)s with names and ID", **values)}[m["which"] or ""]


def _selected(words: str) -> str:
    """'2 studies, 1 series' (qr_jobs.enqueue_retrieve's English) in the page's language."""
    parts = []
    for number, noun in re.findall(r"(\d+) (study|studies|series)\b", words):
        n = int(number)
        parts.append(ngettext("%(num)s study", "%(num)s studies", n) if noun.startswith("stud")
                     else ngettext("%(num)s series", "%(num)s series", n))
    return ", ".join(parts)


def _retrieve(m: re.Match) -> str:
    if m["selected"]:
        return _("Retrieve for query #%(id)s (C-%(method)s, selected: %(what)s)", id=m["id"], method=m["method"],
                 what=_selected(m["selected"]))
    return _("Retrieve for query #%(id)s (C-%(method)s)", id=m["id"], method=m["method"])


def _level(word: str) -> str:
    return {"patient": _("Patient"), "study": _("Study"), "series": _("Series"), "image": _("Image")}.get(word, word)


# Per kind, the shapes its titles take (the whole title must match) and what each becomes.
Shape = tuple[re.Pattern, Callable[[re.Match], str]]
_EXPORT_TYPES = "|".join(re.escape(label) for label in sorted(TYPE_LABELS.values(), key=len, reverse=True))
SHAPES: dict[str, list[Shape]] = {
    "import_file": [(re.compile(r"Import received (?P<file>.+)"), lambda m: _("Import received %(file)s", file=m["file"])),
                    (re.compile(r"Import (?P<file>.+)"), lambda m: _("Import %(file)s", file=m["file"]))],
    "export": [(re.compile(rf"(?P<modality>[A-Z]{{2}}) (?P<type>{_EXPORT_TYPES})(?P<which> with names and ID| with names| with ID)?"),
                _export)],
    "size_import": [(re.compile(r"Patient size import: (?P<name>.+)"),
                     lambda m: _("Patient size import: %(name)s", name=m["name"]))],
    "system_check": [(re.compile(r"System check: count every table"), lambda m: _("System check: count every table"))],
    "toshiba_settle": [(re.compile(r"Build settled Toshiba CT studies"), lambda m: _("Build settled Toshiba CT studies"))],
    "reprocess_dual": [(re.compile(r"Re-sort DX/RF studies of (?P<n>\d+) system\(s\)"),
                        lambda m: ngettext("Re-sort DX/RF studies of %(num)s system", "Re-sort DX/RF studies of %(num)s systems",
                                           int(m["n"])))],
    "qr_query": [(re.compile(r"Query #(?P<id>\d+) \((?P<level>\w+) level\)"),
                  lambda m: _("Query #%(id)s (%(level)s level)", id=m["id"], level=_level(m["level"]))),
                 (re.compile(r"Query-retrieve #(?P<id>\d+)"), lambda m: _("Query-retrieve #%(id)s", id=m["id"]))],
    "qr_retrieve": [(re.compile(r"Retrieve for query #(?P<id>\d+) \(C-(?P<method>[A-Z]+)(?:, selected: (?P<selected>.+))?\)"),
                     _retrieve)],
    "quarantine_retry": [(re.compile(r"Retry (?P<n>\d+) quarantined objects"),
                          lambda m: ngettext("Retry %(num)s quarantined object", "Retry %(num)s quarantined objects",
                                             int(m["n"])))],
    "skin_map": [(re.compile(r"Skin dose map of study (?P<id>\d+)"), lambda m: _("Skin dose map of study %(id)s", id=m["id"]))],
    "skin_map_batch": [
        (re.compile(r"Recalculate all skin dose maps"), lambda m: _("Recalculate all skin dose maps")),
        (re.compile(r"Calculate missing and out-of-date skin dose maps"),
         lambda m: _("Calculate missing and out-of-date skin dose maps")),
        (re.compile(r"Skin dose maps of (?P<n>\d+) studies with a new patient size"),
         lambda m: ngettext("Skin dose map of %(num)s study with a new patient size",
                            "Skin dose maps of %(num)s studies with a new patient size", int(m["n"]))),
        (re.compile(r"Skin dose maps of (?P<n>\d+) system\(s\) after a trust change"),
         lambda m: ngettext("Skin dose maps of %(num)s system after a trust change",
                            "Skin dose maps of %(num)s systems after a trust change", int(m["n"])))],
    "standard_names_apply": [(re.compile(r"Apply standard names"), lambda m: _("Apply standard names")),
                             (re.compile(r"Apply standard names \((?P<why>.+)\)"),
                              lambda m: _("Apply standard names (%(why)s)", why=m["why"]))],
    "drl_refresh": [(re.compile(r"Refresh the DRL ratio of every study"), lambda m: _("Refresh the DRL ratio of every study"))],
    "ct_estimates": [(re.compile(r"CT SSDE and effective dose estimates"), lambda m: _("CT SSDE and effective dose estimates"))],
    "email_outbox": [(re.compile(r"Send e-mail"), lambda m: _("Send e-mail"))],
    "email_test": [(re.compile(r"Test e-mail to (?P<to>.+)"), lambda m: _("Test e-mail to %(address)s", address=m["to"]))],
    "alerts_reevaluate": [(re.compile(r"Re-evaluate alert rules"), lambda m: _("Re-evaluate alert rules"))],
}
PERIODIC = re.compile(r"Periodic (?P<kind>\w+)")  # runtime.scheduler's title for every periodic kind


def job_title(job) -> str:
    """`job.title` in the page's language (see the module's words)."""
    title = job.title or ""
    locale = get_locale()
    if locale is None or locale.language == SOURCE_LANGUAGE:
        return title
    periodic = PERIODIC.fullmatch(title)
    if periodic and periodic["kind"] == job.kind and job.kind in KIND_NAMES:
        return _("Periodic: %(job)s", job=KIND_NAMES[job.kind])
    for pattern, build in SHAPES.get(job.kind, ()):
        match = pattern.fullmatch(title)
        if match:
            return build(match)
    return title
