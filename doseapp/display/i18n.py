"""Translations (issue 22): which language a page is shown in, and the catalogues that say it.

The language of a request is, in this order: the user's own choice (Language page, saved on the user),
else the site's DOSEAPP_LANGUAGE, else the best of the browser's Accept-Language among the languages
doseapp ships, else English. English is the source language: its text is the text in the templates
and code, so English pages read exactly as they did before translations.

Catalogues live in translations/<locale>/LC_MESSAGES/messages.po (extracted into messages.pot by
`make translations`, babel.cfg says from where). The compiled .mo files are not kept in git: they are
built from the .po by `make translations`, `make install` and `make test`, and, so that any way of
starting doseapp from a fresh clone works (pytest alone, a Docker build, `doseapp run`), create_app
compiles any .mo that is missing or older than its .po when the directory can be written.
"""
from __future__ import annotations

import logging
from pathlib import Path

from flask import current_app, has_request_context, request
from flask_babel import Babel
from flask_login import current_user

log = logging.getLogger(__name__)

TRANSLATIONS_DIR = Path(__file__).resolve().parents[2] / "translations"
SOURCE_LANGUAGE = "en"
# The languages doseapp ships, each in its own name (what a user looks for in the menu).
LANGUAGES = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "it": "Italiano",
    "nl": "Nederlands",
    "nb": "Norsk bokmål",
}

babel = Babel()


class LanguageError(ValueError):
    """DOSEAPP_LANGUAGE names no language doseapp ships."""


def check_language(code: str | None) -> str:
    """The site language setting as stored: '' (none: the browser's choice) or a shipped locale code."""
    code = (code or "").strip().replace("-", "_")
    if not code:
        return ""
    for known in LANGUAGES:
        if known.lower() == code.lower():
            return known
    raise LanguageError(f"DOSEAPP_LANGUAGE is {code!r}, which is not a language doseapp ships. Use one of "
                        f"{', '.join(sorted(LANGUAGES))}, or leave it unset to follow each browser.")


def user_language() -> str | None:
    """The logged-in user's saved language, if they chose one."""
    try:
        if current_user and current_user.is_authenticated:
            code = getattr(current_user, "locale", None)
            return code if code in LANGUAGES else None
    except Exception:  # no user loader context (an error page very early): no user choice
        return None
    return None


def select_locale() -> str:
    """The language of this request (see the module text for the order)."""
    if not has_request_context():
        return current_app.config.get("LANGUAGE") or SOURCE_LANGUAGE
    return (user_language() or current_app.config.get("LANGUAGE")
            or request.accept_languages.best_match(list(LANGUAGES)) or SOURCE_LANGUAGE)


def site_language() -> str:
    """The site's default language (DOSEAPP_LANGUAGE, else English): what e-mails and other text with
    no reader's request (the CLI) are written in."""
    return current_app.config.get("LANGUAGE") or SOURCE_LANGUAGE


def compile_catalogues(directory: Path = TRANSLATIONS_DIR, force: bool = False) -> list[Path]:
    """Compile every messages.po under `directory` whose .mo is missing or older (all when `force`).
    Returns the .mo files written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as handle:
            catalogue = read_po(handle, locale=po.parent.parent.name)
        with mo.open("wb") as handle:
            write_mo(handle, catalogue)
        written.append(mo)
    return written


def init_app(app) -> None:
    """Put Flask-Babel on the app, with the locale selection above, and make sure the catalogues are
    compiled."""
    try:
        compile_catalogues()
    except OSError as error:  # a read-only install: the .mo files must have been built with it
        log.warning("translations not compiled (%s); run make translations", error)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", SOURCE_LANGUAGE)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS_DIR)
    babel.init_app(app, locale_selector=select_locale)
    # {% trans %} text is one message however the template wraps its lines (babel.cfg: trimmed = true).
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.add_template_global(LANGUAGES, "languages")
    app.add_template_global(current_language, "current_language")


def page_locale():
    """The Babel locale this request's numbers and dates are written in, or None for English (whose
    formats stay doseapp's own: '3 Dec 2026', '1234.50'), and outside a request."""
    if not has_request_context():
        return None
    from flask_babel import get_locale

    locale = get_locale()
    return None if locale is None or locale.language == SOURCE_LANGUAGE else locale


def number(value: float, digits: int) -> str:
    """`value` with `digits` decimals as the page's locale writes it ('1.234,50' in German)."""
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(value, format=pattern, locale=page_locale())


def decimal_words(text: str) -> str:
    """A decimal as stored words write it in English ('24.3', '0.0123'), as the page's language writes it,
    with as many decimals; unchanged in English, and when it is not a number."""
    if page_locale() is None:
        return text
    try:
        value = float(text)
    except ValueError:
        return text
    return number(value, len(text.partition(".")[2]) if "e" not in text.lower() else 6)


def count(value: int) -> str:
    """A whole count with the locale's grouping ('12 345' in French)."""
    from babel.numbers import format_decimal

    return format_decimal(value, locale=page_locale())


def date_text(value) -> str:
    """A calendar date in the locale's medium form ('03.12.2026', '3 déc. 2026')."""
    from babel.dates import format_date

    return format_date(value, format="medium", locale=page_locale())


def headings_translator(code: str | None):
    """A function putting an export's English column headings into language `code` (English, the
    default, leaves them as they are): works without a request, in the export worker."""
    if not code or code == SOURCE_LANGUAGE or code not in LANGUAGES:
        return lambda heading: heading
    from babel.support import Translations

    compile_catalogues()
    return Translations.load(str(TRANSLATIONS_DIR), [code]).gettext


def export_headings_language(user) -> str:
    """The headings language of an export `user` starts now: the page's language if they chose
    translated headings, else English."""
    if user is None or not getattr(user, "export_headings_translated", False):
        return SOURCE_LANGUAGE
    locale = page_locale()
    return str(locale) if locale is not None else SOURCE_LANGUAGE


def current_language() -> str:
    """The code of the language this request is shown in ('en', 'de', ...), for <html lang>."""
    from flask_babel import get_locale

    locale = get_locale()
    return str(locale).replace("_", "-") if locale else SOURCE_LANGUAGE
