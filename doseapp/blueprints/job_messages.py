"""A job's message (and a query-retrieve query's stage and message) in the reader's language.

Jobs write their progress and outcome in English (the words name what happened in logs and on the
command line, whoever reads them later). Pages show them through job_words(), which knows the shapes
the code gives these messages (each a pattern here, with the translated message it becomes) and
rebuilds the message in the page's language, counts grouped as the language writes them. English
pages, and a message of no known shape (free text from a remote system or an exception, a row from an
older version), show the message as stored; free text inside a known shape stays as it came.
"""
from __future__ import annotations

import re
from typing import Callable

from flask_babel import get_locale, gettext as _, ngettext

from doseapp.blueprints.job_titles import export_label
from doseapp.display import i18n
from doseapp.display.i18n import SOURCE_LANGUAGE
from doseapp.exports.run import TYPE_LABELS
from doseapp.ingest.toshiba import HELD_REASON
from doseapp.dicomnet.recorder import PENDING_MESSAGE
from doseapp.runtime.housekeeping import REQUEUED_MESSAGE
from doseapp.skin.display import surface_words

NUMBER = r"\d[\d,]*"  # timefmt.plural writes English thousands with commas


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _count(text: str) -> str:
    """A count from the English message, grouped as the page's language writes numbers."""
    return i18n.count(_int(text))


# A count and its noun, for each noun the messages count (timefmt.plural's English forms).
_NOUNS: dict[str, Callable[[int, str], str]] = {
    "study": lambda n, c: ngettext("%(count)s study", "%(count)s studies", n, count=c),
    "object": lambda n, c: ngettext("%(count)s object", "%(count)s objects", n, count=c),
    "request": lambda n, c: ngettext("%(count)s request", "%(count)s requests", n, count=c),
    "event": lambda n, c: ngettext("%(count)s event", "%(count)s events", n, count=c),
    "row": lambda n, c: ngettext("%(count)s row", "%(count)s rows", n, count=c),
    "table": lambda n, c: ngettext("%(count)s table", "%(count)s tables", n, count=c),
    "standard name": lambda n, c: ngettext("%(count)s standard name", "%(count)s standard names", n, count=c),
    "new alert": lambda n, c: ngettext("%(count)s new alert", "%(count)s new alerts", n, count=c),
    "study response": lambda n, c: ngettext("%(count)s study response", "%(count)s study responses", n, count=c),
    "patient": lambda n, c: ngettext("%(count)s patient", "%(count)s patients", n, count=c),
    "series": lambda n, c: ngettext("%(count)s series", "%(count)s series", n, count=c),
    "image": lambda n, c: ngettext("%(count)s image", "%(count)s images", n, count=c),
}
_ENGLISH_PLURALS = {"study": "studies", "series": "series"}


def _noun(word: str, text: str) -> str:
    n = _int(text)
    return _NOUNS[word](n, i18n.count(n))


def _noun_pattern(name: str, word: str) -> str:
    """The English `<count> <word or its plural>` as a pattern whose count group is `name`."""
    plural = _ENGLISH_PLURALS.get(word, word + "s")
    return rf"(?P<{name}>{NUMBER}) (?:{re.escape(word)}|{re.escape(plural)})"


def _status(word: str) -> str:
    """An import outcome (ingest.files.ImportResult.status)."""
    return {"imported": _("imported"), "duplicate": _("duplicate"), "rejected": _("rejected"), "failed": _("failed"),
            "held": _("held")}.get(word, word)


def _import_reason(text: str) -> str:
    """ingest.store's and ingest.images' duplicate reasons, and the Toshiba hold; others as they came."""
    if text == "this object (same SOP Instance UID) was imported before":
        return _("this object (same SOP Instance UID) was imported before")
    if text == "this image (same SOP Instance UID) was imported before":
        return _("this image (same SOP Instance UID) was imported before")
    if text == HELD_REASON:
        return _("Toshiba CT dose screen or image: held until the study's objects have arrived")
    m = re.fullmatch(r"every irradiation event is already in study (?P<id>\d+) of this StudyInstanceUID", text)
    if m:
        return _("every irradiation event is already in study %(id)s of this StudyInstanceUID", id=m["id"])
    m = re.fullmatch(r"study (?P<id>\d+) of this StudyInstanceUID holds a dose report \((?P<kind>[^)]+)\) "
                     r"that already has this study's exposures", text)
    if m:
        return _("study %(id)s of this StudyInstanceUID holds a dose report (%(kind)s) that already has this "
                 "study's exposures", id=m["id"], kind=m["kind"])
    m = re.fullmatch(r"study (?P<id>\d+) already has the exposure made at (?P<at>\S+) "
                     r"\(a For Processing / For Presentation copy of the same exposure\)", text)
    if m:
        return _("study %(id)s already has the exposure made at %(time)s (a For Processing / For Presentation copy "
                 "of the same exposure)", id=m["id"], time=m["at"])
    return text


def _skin_outcome(m: re.Match) -> str:
    """skin.batch.Outcome.words(): '<maps> with a map, <no_map> without[, <gone> no longer there][, <failed> failed]'."""
    text = _("%(maps)s with a map, %(without)s without", maps=_count(m["maps"]), without=_count(m["nomap"]))
    if m["gone"]:
        text += ngettext(", %(count)s no longer there", ", %(count)s no longer there", _int(m["gone"]),
                         count=_count(m["gone"]))
    if m["failed"]:
        text += ngettext(", %(count)s failed", ", %(count)s failed", _int(m["failed"]), count=_count(m["failed"]))
    return text


SKIN_OUTCOME = (rf"(?P<maps>{NUMBER}) with a map, (?P<nomap>{NUMBER}) without(?:, (?P<gone>{NUMBER}) no longer there)?"
                rf"(?:, (?P<failed>{NUMBER}) failed)?")


def _outbox(m: re.Match) -> str:
    parts = [ngettext("%(count)s e-mail sent", "%(count)s e-mails sent", _int(m["sent"]), count=_count(m["sent"]))]
    if m["failed"]:
        parts.append(ngettext("%(count)s not sent (will be retried)", "%(count)s not sent (will be retried)",
                              _int(m["failed"]), count=_count(m["failed"])))
    if m["waiting"]:
        parts.append(ngettext("%(count)s waiting for an SMTP server to be configured",
                              "%(count)s waiting for an SMTP server to be configured", _int(m["waiting"]),
                              count=_count(m["waiting"])))
    if m["digests"]:
        parts.append(ngettext("%(count)s digest queued", "%(count)s digests queued", _int(m["digests"]),
                              count=_count(m["digests"])))
    return "; ".join(parts) + "."


def _found(m: re.Match) -> str:
    """qr.run_query's 'Found 2 patients, 3 studies' (qr_manual.COUNT_NOUNS)."""
    parts = []
    for part in m["counts"].split(", "):
        number, _space, word = part.partition(" ")
        singular = {"patients": "patient", "studies": "study", "images": "image"}.get(word, word)
        parts.append(_noun(singular, number) if singular in _NOUNS else part)
    return _("Found %(counts)s", counts=", ".join(parts))


def _selected(m: re.Match) -> str:
    """qr.run_query's '<kept> of <n> studies selected[: Mammography 2, CT 1]' (qr_filter.MODALITY_LABELS)."""
    labels = {"CT": "CT", "Mammography": _("Mammography"), "Fluoroscopy": _("Fluoroscopy"),
              "Radiography": _("Radiography"), "Nuclear medicine": _("Nuclear medicine"), "SR only": _("SR only")}
    text = ngettext("%(count)s of %(studies)s selected", "%(count)s of %(studies)s selected", _int(m["kept"]),
                    count=_count(m["kept"]), studies=_noun("study", m["total"]))
    if m["modalities"]:
        parts = []
        for part in m["modalities"].split(", "):
            label, _space, number = part.rpartition(" ")
            parts.append(f"{labels.get(label, label)} {_count(number) if re.fullmatch(NUMBER, number) else number}")
        text += ": " + ", ".join(parts)
    return text


def _import_status(m: re.Match) -> str:
    if not m["reason"]:
        return _status(m["status"])
    return _("%(status)s: %(reason)s", status=_status(m["status"]), reason=_import_reason(m["reason"]))


def _test_email_not_sent(m: re.Match) -> str:
    error = _("the message was deleted") if m["error"] == "the message was deleted" else m["error"]
    text = _("Test e-mail not sent: %(error)s", error=error)
    return text + (" " + _("It stays in the outbox and is retried.") if m["stays"] else "")


def _quarantine(m: re.Match) -> str:
    text = ngettext("%(count)s of %(total)s left the quarantine", "%(count)s of %(total)s left the quarantine",
                    _int(m["left"]), count=_count(m["left"]), total=_count(m["total"]))
    if m["failed"]:
        return text + "; " + ngettext("%(count)s failed again and stays.", "%(count)s failed again and stay.",
                                      _int(m["failed"]), count=_count(m["failed"]))
    return text + "."


def _upkeep(m: re.Match) -> str:
    text = ngettext("%(count)s kept object past retention removed", "%(count)s kept objects past retention removed",
                    _int(m["removed"]), count=_count(m["removed"]))
    if m["full"]:
        return text + ", " + ngettext("%(count)s oldest kept object removed from full storage.",
                                      "%(count)s oldest kept objects removed from full storage.", _int(m["full"]),
                                      count=_count(m["full"]))
    return text + "."


def _retrieved(m: re.Match) -> str:
    text = ngettext("%(count)s of %(objects)s received by C-%(method)s", "%(count)s of %(objects)s received by C-%(method)s",
                    _int(m["received"]), count=_count(m["received"]), objects=_noun("object", m["requested"]),
                    method=m["method"])
    if m["failed"]:
        text += "; " + ngettext("%(count)s request failed", "%(count)s requests failed", _int(m["failed"]),
                                count=_count(m["failed"]))
    return text


def _querying(m: re.Match) -> str:
    if m["modality"] == "all":
        return _("Querying for all studies")
    return _("Querying for %(modality)s studies", modality=m["modality"])


Shape = tuple[re.Pattern, Callable[[re.Match], str]]


def _shapes() -> list[Shape]:
    """Every known message shape, in the order tried (the whole message must match)."""
    N = NUMBER
    exports = "|".join(re.escape(label) for label in sorted(TYPE_LABELS.values(), key=len, reverse=True))
    fixed = {
        # runtime: any job
        "Done.": lambda: _("Done."),
        "Starting": lambda: _("Starting"),
        "Cancelled before it started.": lambda: _("Cancelled before it started."),
        "Cancelled by a user.": lambda: _("Cancelled by a user."),
        "The worker running this job stopped before it finished.":
            lambda: _("The worker running this job stopped before it finished."),
        "The job was lost from the queue (Redis restarted?).":
            lambda: _("The job was lost from the queue (Redis restarted?)."),
        REQUEUED_MESSAGE: lambda: _("Put on the queue again: it was lost from the queue before it ran."),
        PENDING_MESSAGE: lambda: _("Received; import queued later (the job queue was unavailable)."),
        "Counting rows": lambda: _("Counting rows"),
        # standards, alerts, skin, Toshiba
        "Working out which DRL applies to each study": lambda: _("Working out which DRL applies to each study"),
        "Reading the rules": lambda: _("Reading the rules"),
        "Evaluating the alert rules over every study": lambda: _("Evaluating the alert rules over every study"),
        "Choosing the studies": lambda: _("Choosing the studies"),
        "no settled Toshiba study": lambda: _("no settled Toshiba study"),
        # query-retrieve stages and messages
        "Queued": lambda: _("Queued"),
        "Querying for patients": lambda: _("Querying for patients"),
        "Removing objects already imported": lambda: _("Removing objects already imported"),
        "Query failed": lambda: _("Query failed"),
        "Query aborted": lambda: _("Query aborted"),
        "Query complete": lambda: _("Query complete"),
        "Retrieve queued": lambda: _("Retrieve queued"),
        "Retrieve failed": lambda: _("Retrieve failed"),
        "Retrieve aborted": lambda: _("Retrieve aborted"),
        "Retrieve complete": lambda: _("Retrieve complete"),
        "Retrieve finished with failures": lambda: _("Retrieve finished with failures"),
        "Aborted by a user; nothing was stored.": lambda: _("Aborted by a user; nothing was stored."),
        # a Store SCP node's status message (dicomnet.supervisor)
        "Supervisor stopped.": lambda: _("Supervisor stopped."),
        "Stopped by an administrator.": lambda: _("Stopped by an administrator."),
        "Restarted by an administrator.": lambda: _("Restarted by an administrator."),
        "Settings changed; restarting.": lambda: _("Settings changed; restarting."),
    }
    shapes: list[tuple[str, Callable[[re.Match], str]]] = [
        (re.escape(text), lambda m, build=build: build()) for text, build in fixed.items()]
    shapes += [
        (r"Failed: (?P<reason>.+)", lambda m: _("Failed: %(reason)s", reason=job_words(m["reason"]))),
        # ingest
        (r"(?P<status>imported|duplicate|rejected|held)(?:: (?P<reason>.+))?", _import_status),
        (rf"(?P<pairs>{N} (?:imported|duplicate|rejected|failed|held)(?:, {N} (?:imported|duplicate|rejected|failed|held))*)",
         lambda m: ", ".join(_("%(status)s: %(count)s", status=_status(word), count=_count(n))
                             for n, word in (p.split(" ") for p in m["pairs"].split(", ")))),
        (rf"Retrying {_noun_pattern('n', 'object')}", lambda m: _("Retrying %(objects)s", objects=_noun("object", m["n"]))),
        (rf"Retried (?P<done>{N}) of (?P<total>{N})",
         lambda m: ngettext("Retried %(count)s of %(total)s", "Retried %(count)s of %(total)s", _int(m["done"]),
                            count=_count(m["done"]), total=_count(m["total"]))),
        (rf"(?P<left>{N}) of (?P<total>{N}) left the quarantine(?:; (?P<failed>{N}) failed again and stays?)?\.", _quarantine),
        (rf"Processing row (?P<n>{N}) of (?P<total>{N})",
         lambda m: _("Processing row %(row)s of %(rows)s", row=_count(m["n"]), rows=_count(m["total"]))),
        (rf"Processed (?P<n>{N}) rows", lambda m: _("Processed %(count)s rows", count=_count(m["n"]))),
        (rf"(?P<rows>{N}) rows: (?P<h>{N}) heights, (?P<w>{N}) weights inserted; (?P<u>{N}) unmatched, (?P<b>{N}) bad rows\.",
         lambda m: _("%(rows)s rows: %(heights)s heights, %(weights)s weights inserted; %(unmatched)s unmatched, "
                     "%(bad)s bad rows.", rows=_count(m["rows"]), heights=_count(m["h"]), weights=_count(m["w"]),
                     unmatched=_count(m["u"]), bad=_count(m["b"]))),
        (rf"(?P<done>{N}) of {_noun_pattern('total', 'study')}: (?P<ssde>{N}) with an SSDE, (?P<est>{N}) with an "
         rf"effective dose estimate(?P<dot>\.?)",
         lambda m: _("%(done)s of %(studies)s: %(ssde)s with an SSDE, %(estimate)s with an effective dose estimate",
                     done=_count(m["done"]), studies=_noun("study", m["total"]), ssde=_count(m["ssde"]),
                     estimate=_count(m["est"])) + m["dot"]),
        (rf"Re-sorting {_noun_pattern('n', 'study')}", lambda m: _("Re-sorting %(studies)s", studies=_noun("study", m["n"]))),
        (rf"(?P<n>{N}) (?:study is|studies are) DX, (?P<rf>{N}) RF \((?P<moved>{N}) moved\)\.",
         lambda m: ngettext("%(count)s study is DX, %(rf)s RF (%(moved)s moved).",
                            "%(count)s studies are DX, %(rf)s RF (%(moved)s moved).", _int(m["n"]),
                            count=_count(m["n"]), rf=_count(m["rf"]), moved=_count(m["moved"]))),
        # runtime
        (rf"Counted (?P<table>\w+)", lambda m: _("Counted %(table)s", table=m["table"])),
        (rf"{_noun_pattern('rows', 'row')} in {_noun_pattern('tables', 'table')}\.",
         lambda m: _("%(rows)s in %(tables)s.", rows=_noun("row", m["rows"]), tables=_noun("table", m["tables"]))),
        (rf"{_noun_pattern('stale', 'stale job')} marked failed or queued again; {_noun_pattern('old', 'old job')} "
         r"removed from the list\.",
         lambda m: ngettext("%(count)s stale job marked failed or queued again", "%(count)s stale jobs marked failed or "
                            "queued again", _int(m["stale"]), count=_count(m["stale"])) + "; "
         + ngettext("%(count)s old job removed from the list.", "%(count)s old jobs removed from the list.",
                    _int(m["old"]), count=_count(m["old"]))),
        # exports
        (rf"{_noun_pattern('n', 'study')} exported \((?P<type>{exports})\)\.",
         lambda m: ngettext("%(count)s study exported (%(export)s).", "%(count)s studies exported (%(export)s).",
                            _int(m["n"]), count=_count(m["n"]),
                            export=export_label(next(k for k, v in TYPE_LABELS.items() if v == m["type"])))),
        (rf"(?P<done>{N}) of {_noun_pattern('total', 'study')}",
         lambda m: _("%(done)s of %(studies)s", done=_count(m["done"]), studies=_noun("study", m["total"]))),
        # standards
        (rf"(?P<done>{N}) of (?P<total>{N}) standard names",
         lambda m: _("%(done)s of %(total)s standard names", done=_count(m["done"]), total=_count(m["total"]))),
        (rf"{_noun_pattern('names', 'standard name')}; (?P<n>{N}) (?:study has|studies have) a DRL\.",
         lambda m: ngettext("%(names)s; %(count)s study has a DRL.", "%(names)s; %(count)s studies have a DRL.",
                            _int(m["n"]), names=_noun("standard name", m["names"]), count=_count(m["n"]))),
        (r"Naming (?P<modality>\w+) studies", lambda m: _("Naming %(modality)s studies", modality=m["modality"])),
        (rf"{_noun_pattern('studies', 'study')} and {_noun_pattern('events', 'event')} have a standard name(?P<dot>\.?)",
         lambda m: _("%(studies)s and %(events)s have a standard name", studies=_noun("study", m["studies"]),
                     events=_noun("event", m["events"])) + m["dot"]),
        # skin dose maps
        (r"Study (?P<id>\d+) is no longer there; nothing to do\.",
         lambda m: _("Study %(id)s is no longer there; nothing to do.", id=m["id"])),
        (r"Peak skin dose (?P<value>[0-9.e+-]+) Gy \((?P<surface>\w+)\)",
         lambda m: _("Peak skin dose %(value)s Gy (%(surface)s)", value=i18n.decimal_words(m["value"]),
                     surface=surface_words(m["surface"]))),
        (r"No map: (?P<reason>.+)", lambda m: _("No map: %(reason)s", reason=m["reason"])),
        (rf"(?P<done>{N}) of {_noun_pattern('total', 'study')}: {SKIN_OUTCOME}",
         lambda m: _("%(done)s of %(studies)s: %(outcome)s", done=_count(m["done"]), studies=_noun("study", m["total"]),
                     outcome=_skin_outcome(m))),
        (rf"{_noun_pattern('total', 'study')}: {SKIN_OUTCOME}\.",
         lambda m: _("%(studies)s: %(outcome)s.", studies=_noun("study", m["total"]), outcome=_skin_outcome(m))),
        (rf"(?P<bad>{N}) of (?P<total>{N}) studies failed \(study (?P<id>\d+): (?P<error>.+)\); {SKIN_OUTCOME}\.",
         lambda m: ngettext("%(count)s of %(total)s studies failed (study %(id)s: %(error)s); %(outcome)s.",
                            "%(count)s of %(total)s studies failed (study %(id)s: %(error)s); %(outcome)s.",
                            _int(m["bad"]), count=_count(m["bad"]), total=_count(m["total"]), id=m["id"],
                            error=m["error"], outcome=_skin_outcome(m))),
        # alerts
        (rf"(?P<done>{N}) of (?P<total>{N}) rules \((?P<key>.+)\)",
         lambda m: _("%(done)s of %(total)s rules (%(rule)s)", done=_count(m["done"]), total=_count(m["total"]),
                     rule=m["key"])),
        (rf"{_noun_pattern('alerts', 'new alert')} over {_noun_pattern('studies', 'study')} in (?P<s>[0-9.]+) s\.",
         lambda m: _("%(alerts)s over %(studies)s in %(seconds)s s.", alerts=_noun("new alert", m["alerts"]),
                     studies=_noun("study", m["studies"]), seconds=i18n.decimal_words(m["s"]))),
        # e-mail
        (rf"(?P<sent>{N}) e-mails? sent(?:; (?P<failed>{N}) not sent \(will be retried\))?"
         rf"(?:; (?P<waiting>{N}) waiting for an SMTP server to be configured)?(?:; (?P<digests>{N}) digests? queued)?\.",
         _outbox),
        (r"Test e-mail sent to (?P<to>.+)\.", lambda m: _("Test e-mail sent to %(address)s.", address=m["to"])),
        (r"Test e-mail not sent: (?P<error>.+?)(?P<stays> It stays in the outbox and is retried\.)?", _test_email_not_sent),
        # DICOM: scheduled queries, storage upkeep, query-retrieve
        (rf"{_noun_pattern('n', 'scheduled query run')} started\.",
         lambda m: ngettext("%(count)s scheduled query run started.", "%(count)s scheduled query runs started.",
                            _int(m["n"]), count=_count(m["n"]))),
        (rf"{_noun_pattern('removed', 'kept object')} past retention removed"
         rf"(?:, {_noun_pattern('full', 'oldest kept object')} removed from full storage)?\.", _upkeep),
        (r"Querying for (?P<modality>\S+) studies", _querying),
        (r"Querying (?P<remote>.+) for (?P<modality>\S+) studies",
         lambda m: _("Querying %(remote)s for %(modality)s studies", remote=m["remote"], modality=m["modality"])),
        (rf"{_noun_pattern('n', 'study response')}; filtering",
         lambda m: _("%(responses)s; filtering", responses=_noun("study response", m["n"]))),
        (rf"Series query (?P<n>{N}) of (?P<total>{N})",
         lambda m: _("Series query %(done)s of %(total)s", done=_count(m["n"]), total=_count(m["total"]))),
        (rf"Choosing the dose objects of study (?P<n>{N})",
         lambda m: _("Choosing the dose objects of study %(number)s", number=_count(m["n"]))),
        (rf"Retrieving {_noun_pattern('n', 'request')} by C-(?P<method>MOVE|GET)",
         lambda m: _("Retrieving %(requests)s by C-%(method)s", requests=_noun("request", m["n"]), method=m["method"])),
        (rf"Retrieved (?P<received>{N}) of {_noun_pattern('requested', 'object')}",
         lambda m: ngettext("Retrieved %(count)s of %(objects)s", "Retrieved %(count)s of %(objects)s",
                            _int(m["received"]), count=_count(m["received"]), objects=_noun("object", m["requested"]))),
        (rf"C-(?P<method>MOVE|GET) (?P<n>{N}) of (?P<total>{N})",
         lambda m: _("C-%(method)s %(done)s of %(total)s", method=m["method"], done=_count(m["n"]),
                     total=_count(m["total"]))),
        (rf"(?P<received>{N}) of {_noun_pattern('requested', 'object')} received by C-(?P<method>MOVE|GET)"
         rf"(?:; {_noun_pattern('failed', 'request')} failed)?", _retrieved),
        (rf"Aborted by a user after (?P<received>{N}) of {_noun_pattern('requested', 'object')} had been received\.",
         lambda m: ngettext("Aborted by a user after %(count)s of %(objects)s had been received.",
                            "Aborted by a user after %(count)s of %(objects)s had been received.", _int(m["received"]),
                            count=_count(m["received"]), objects=_noun("object", m["requested"]))),
        (r"(?P<remote>.+) did not accept the association\.",
         lambda m: _("%(remote)s did not accept the association.", remote=m["remote"])),
        (rf"Found (?P<counts>{N} \w+(?:, {N} \w+)*)", _found),
        (r"Listening as (?P<ae>\S+) on port (?P<port>\d+)\.",
         lambda m: _("Listening as %(aetitle)s on port %(port)s.", aetitle=m["ae"], port=m["port"])),
        (r"Stopped unexpectedly \(exit status (?P<code>-?\d+)\); restarting in (?P<s>\d+) s\.",
         lambda m: _("Stopped unexpectedly (exit status %(code)s); restarting in %(seconds)s s.", code=m["code"],
                     seconds=m["s"])),
        (rf"(?P<kept>{N}) of {_noun_pattern('total', 'study')} selected(?:: (?P<modalities>.+))?", _selected),
    ]
    return [(re.compile(pattern), build) for pattern, build in shapes]


_SHAPES: list[Shape] | None = None


def job_words(text: str | None) -> str:
    """A job's message, or a query's stage or message, in the page's language (see the module's words)."""
    global _SHAPES
    if not text:
        return text or ""
    locale = get_locale()
    if locale is None or locale.language == SOURCE_LANGUAGE:
        return text
    if _SHAPES is None:
        _SHAPES = _shapes()
    for pattern, build in _SHAPES:
        match = pattern.fullmatch(text)
        if match:
            return build(match)
    return text
