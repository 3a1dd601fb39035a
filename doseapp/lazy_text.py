"""Lazy translations for text kept in module-level tables (labels, choices, kinds): translated when shown,
in the language of the page showing it, and escaped in pages like any other text (flask_babel's own
lazy string hands its text to Jinja as markup, unescaped). A module of its own, importing nothing of
doseapp's, so that any package may use it without an import cycle."""
from __future__ import annotations

from flask_babel import gettext
from flask_babel.speaklater import LazyString
from markupsafe import Markup, escape


class _LazyText(LazyString):
    def __html__(self) -> Markup:
        return escape(str(self))


def lazy_gettext(string: str, **variables) -> LazyString:
    """`string` translated when it is used as text."""
    return _LazyText(gettext, string, **variables)
