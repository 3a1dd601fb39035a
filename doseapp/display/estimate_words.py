"""How a CT event's SSDE and effective dose estimate were had, or why there is none, in the reader's
language. doseapp.standards.ssde and .effective_dose store these words in English with the event (and
ingest.summary joins them for the study); exports, the API and the command line read them so. Pages show
them through ssde_words() and estimate_words(), which know the shapes those modules write; free text
inside (a method the RDSR names, a target region the report sent) stays as it came, and a text of no
known shape is shown as stored."""
from __future__ import annotations

import re

from flask_babel import gettext as _, ngettext

from doseapp.display import i18n

DECIMAL = r"\d+(?:\.\d+)?"


def _age(text: str) -> str:
    return _("%(age)s y", age=i18n.decimal_words(text))


def _who(text: str) -> str:
    if text == "the patient's age is not known":
        return _("the patient's age is not known")
    m = re.fullmatch(rf"the patient is an adult \(age (?P<age>{DECIMAL}) y\)", text)
    if m:
        return _("the patient is an adult (age %(age)s)", age=_age(m["age"]))
    m = re.fullmatch(rf"the patient is a child \(age (?P<age>{DECIMAL}) y\), and the TG-204 effective diameter by "
                     r"age is not used \(table not verified\)", text)
    if m:
        return _("the patient is a child (age %(age)s), and the TG-204 effective diameter by age is not used (table "
                 "not verified)", age=_age(m["age"]))
    return text


def _one_ssde(text: str) -> str:
    fixed = {"no SSDE: a localizer (constant angle acquisition) is not a scan":
             _("no SSDE: a localizer (constant angle acquisition) is not a scan"),
             "no SSDE: the report gives no CTDIvol": _("no SSDE: the report gives no CTDIvol"),
             "no SSDE: the study has no scans (spiral, sequenced or cone beam)":
             _("no SSDE: the study has no scans (spiral, sequenced or cone beam)")}
    if text in fixed:
        return fixed[text]
    m = re.fullmatch(r"reported by the scanner \((?P<method>.*)\)", text)
    if m:
        method = _("method not named") if m["method"] == "method not named" else m["method"]
        return _("reported by the scanner (%(method)s)", method=method)
    m = re.fullmatch(rf"TG-220 from reported water-equivalent diameter (?P<dw>{DECIMAL}) cm, (?P<p>16|32) cm phantom", text)
    if m:
        return _("TG-220 from reported water-equivalent diameter %(diameter)s cm, %(phantom)s cm phantom",
                 diameter=i18n.decimal_words(m["dw"]), phantom=m["p"])
    m = re.fullmatch(rf"no SSDE: water-equivalent diameter (?P<dw>{DECIMAL}) cm, but the CTDIvol phantom \(16 or 32 cm\) "
                     r"is not reported \((?P<sent>.*)\)", text)
    if m:
        return _("no SSDE: water-equivalent diameter %(diameter)s cm, but the CTDIvol phantom (16 or 32 cm) is not "
                 "reported (%(sent)s)", diameter=i18n.decimal_words(m["dw"]), sent=m["sent"])
    m = re.fullmatch(rf"no SSDE: water-equivalent diameter (?P<dw>{DECIMAL}) cm is outside the (?P<lo>\d+)–(?P<hi>\d+) cm "
                     r"of the TG-204 factors", text)
    if m:
        return _("no SSDE: water-equivalent diameter %(diameter)s cm is outside the %(low)s–%(high)s cm of the TG-204 "
                 "factors", diameter=i18n.decimal_words(m["dw"]), low=m["lo"], high=m["hi"])
    m = re.fullmatch(r"no SSDE: the report gives no water-equivalent diameter and (?P<who>.+)", text)
    if m:
        return _("no SSDE: the report gives no water-equivalent diameter and %(why)s", why=_who(m["who"]))
    return text


def ssde_words(text: str | None) -> str | None:
    """An event's or a study's SSDE method (the study's: the methods joined by '; ', and how many scans
    have none) in the page's language."""
    if not text or i18n.page_locale() is None:
        return text
    tail = ""
    m = re.fullmatch(r"(?P<methods>.+) \((?P<n>\d+) of (?P<total>\d+) scans without SSDE\)", text)
    if m:
        text = m["methods"]
        tail = " " + ngettext("(%(count)s of %(total)s scan without SSDE)", "(%(count)s of %(total)s scans without SSDE)",
                              int(m["total"]), count=m["n"], total=m["total"])
    return "; ".join(_one_ssde(part) for part in text.split("; ")) + tail


def _region(text: str) -> str:
    """A region of the effective dose table (standards.effective_dose.REGIONS' values)."""
    return {"head": _("head"), "chest": _("chest"), "abdomen and pelvis": _("abdomen and pelvis"),
            "trunk": _("trunk")}.get(text, text)


def estimate_words(text: str | None) -> str | None:
    """An event's effective dose basis (the region and age band used, or why there is no estimate)."""
    if not text or i18n.page_locale() is None:
        return text
    m = re.fullmatch(r"no estimate: target region '(?P<named>.*)' has no coefficient", text)
    if m:
        named = m["named"]
        d = re.fullmatch(r"none; study description '(?P<description>.*)'", named)
        if named == "none":
            named = _("none")
        elif d:
            named = _("none; study description '%(description)s'", description=d["description"])
        return _("no estimate: target region '%(region)s' has no coefficient", region=named)
    m = re.fullmatch(r"no estimate: (?P<region>.+), but the report gives no DLP", text)
    if m:
        return _("no estimate: %(region)s, but the report gives no DLP", region=_region(m["region"]))
    m = re.fullmatch(r"no estimate: (?P<region>.+) coefficients assume the (?P<p>\d+) cm phantom, CTDIvol was given for "
                     r"the (?P<r>\d+) cm one", text)
    if m:
        return _("no estimate: %(region)s coefficients assume the %(phantom)s cm phantom, CTDIvol was given for the "
                 "%(reported)s cm one", region=_region(m["region"]), phantom=m["p"], reported=m["r"])
    m = re.fullmatch(r"(?P<region>[a-z ]+), (?:(?P<adult>adult)|(?P<band>\d+) y)(?P<unknown> \(age not known: adult "
                     r"coefficient\))?(?P<described> \(from the study description\))?", text)
    if m:
        band = _("adult") if m["adult"] else _("%(age)s y", age=m["band"])
        words = f"{_region(m['region'])}, {band}"
        if m["unknown"]:
            words += " " + _("(age not known: adult coefficient)")
        if m["described"]:
            words += " " + _("(from the study description)")
        return words
    return text
