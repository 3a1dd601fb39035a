"""Translations (issue 22): every template text is marked, every shipped catalogue has every message
with its placeholders, and messages.pot is what the code and templates say now."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from doseapp.display.i18n import LANGUAGES, SOURCE_LANGUAGE, TRANSLATIONS_DIR, check_language

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(set(LANGUAGES) - {SOURCE_LANGUAGE})
PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)s|%%")
# An English plural ending given as a value ("job%(value)s": "" or "s"): a translation may leave it out
# (it says the plural its own way); every other value must be in the translation.
PLURAL_ENDING = re.compile(r"\b(?:day|alert|event|job|object|system)(%\([a-z_0-9]+\)s)")


def _catalogue(path: Path, locale: str | None = None):
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def test_the_issue_languages_are_shipped():
    assert set(SHIPPED) >= {"de", "fr", "es", "it", "nl", "nb"}
    for code in SHIPPED:
        assert (TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po").is_file(), code


def test_no_template_text_is_left_unmarked():
    """tools/i18n_check.py over every template: new text that users read must be marked."""
    result = subprocess.run([sys.executable, str(REPO / "tools" / "i18n_check.py")], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, "unmarked template text (run tools/i18n_check.py --fix):\n" + result.stdout


def test_the_checker_finds_and_wraps_unmarked_text(tmp_path):
    i18n_check = _checker()
    page = tmp_path / "page.html"
    page.write_text('{% block title %}Studies{% endblock %}\n<h1 title="All studies">{{ n }} studies of {{ user.name }}</h1>\n'
                    "<p>{{ _('Marked') }} · {% trans %}Also marked{% endtrans %} <code>{{ value }}</code></p>\n"
                    "<script>var notText = 'x';</script><!-- a comment -->\n")
    found = [f.text for f in i18n_check.find(page)]
    assert found == ["Studies", "All studies", "{{ n }} studies of {{ user.name }}"]
    assert i18n_check.fix(page) == 3
    assert i18n_check.find(page) == []
    text = page.read_text()
    assert text.count("\n") == 4  # line-local: nothing moved
    assert "{% block title %}{{ _('Studies') }}{% endblock %}" in text
    assert 'title="{{ _(\'All studies\') }}"' in text
    assert "{% trans n=n, name=user.name %}{{ n }} studies of {{ name }}{% endtrans %}" in text


def _checker():
    """tools/i18n_check.py as a module."""
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import i18n_check
    finally:
        sys.path.remove(str(REPO / "tools"))
    return i18n_check


def test_the_checker_finds_text_in_jinja_expressions(tmp_path):
    """Labels passed to macros, conditional output and labels in {% set %} / {% for %} lists are text
    people read; endpoints, comparisons, data keys, class names and upper-case codes are not."""
    i18n_check = _checker()
    page = tmp_path / "page.html"
    page.write_text("{{ th('total', 'Total number of studies') }}{{ 'Yes' if x else 'No' }}{{ v or 'None' }}\n"
                    "{% for st, label in [('new', 'New'), ('all', 'All')] %}{{ label }}{% endfor %}\n"
                    "{% set formats = [('csv', 'CSV'), ('wide', 'CSV (one row per study)')] %}"
                    "{% for f, what in [((1, 0), 'with names')] %}{{ what }}{% endfor %}\n"
                    "{{ _('Marked') }}{{ url_for('home.index', tab='New things') }}{% if mod == 'CT scan' %}{% endif %}"
                    "{{ row['Study date'] }}{{ {'Some key': 1} }}{{ m(class_='a b') }}{{ x|default('—') }}"
                    "{% trans value='Left alone' if x %}{{ value }}{% endtrans %}{% include 'a b.html' %}\n")
    found = [(f.line, f.text) for f in i18n_check.find(page)]
    assert found == [(1, "'Total number of studies'"), (1, "'Yes'"), (1, "'No'"), (1, "'None'"), (2, "'New'"),
                     (2, "'All'"), (3, "'CSV (one row per study)'"), (3, "'with names'"), (4, "'New things'"),
                     (4, "'Left alone'")]
    assert i18n_check.fix(page) == 10
    assert i18n_check.find(page) == []
    text = page.read_text()
    assert "{{ th('total', _('Total number of studies')) }}{{ _('Yes') if x else _('No') }}{{ v or _('None') }}" in text
    assert "('new', _('New'))" in text and "('csv', 'CSV')" in text and "mod == 'CT scan'" in text
    assert "url_for('home.index'" in text and "row['Study date']" in text and "class_='a b'" in text


def test_the_checker_finds_lower_case_words_that_reach_the_page(tmp_path):
    """A single lower-case word is text when the Jinja AST carries it to the page: straight into the text
    or a title, through `or` / `if else`, a {% set %} name, a {% for %} target, a dict value, a macro
    parameter the macro shows, or as the word of an English plural filter; text chosen by comparing a count
    with 1 is reported as a whole (it wants ngettext). The same words are names, not
    text, in an href, a class, a value attribute, a comparison, a subscript, an endpoint's arguments or a
    macro parameter the macro only puts in a class."""
    i18n_check = _checker()
    page = tmp_path / "page.html"
    page.write_text("{% macro cell(value, kind) %}<td class=\"{{ kind }}\">{{ value }}</td>{% endmacro %}\n"
                    "{{ 'yes' if x else 'no' }}{{ when or 'never' }}<span class=\"{{ 'active' if on }}\" "
                    "title=\"{{ 'idle' if z }}\">{{ cell('sent', 'state') }}</span>\n"
                    "{% for key, label in [('new', 'fresh'), ('all', 'everything')] %}<a href=\"?tab={{ key }}\">"
                    "{{ label }}</a>{% endfor %}\n"
                    "{% set status = 'waiting' %}{{ status }}{{ {'queued': 'pending', 'sent': 'sent'}.get(s, s) }}"
                    "{{ {'b': 'beta'}[k] }}{{ n|plural('study') }}\n"
                    "{{ url_for('home.index', tab='new') }}{% if mode == 'exact' %}{% endif %}{{ row['count'] }}"
                    "<option {{ 'selected' if c }}>{{ _('marked') }}</option>\n"
                    "<input value=\"{{ 'hidden' }}\" name=\"{{ 'field' }}\">{% include 'part.html' %}"
                    "{{ x|default('none') }}{% trans value='' if n == 1 else 's' %}job{{ value }}{% endtrans %}\n")
    found = [(f.line, f.text) for f in i18n_check.find(page)]
    assert found == [(2, "'yes'"), (2, "'no'"), (2, "'never'"), (2, "'idle'"), (2, "'sent'"), (3, "'fresh'"),
                     (3, "'everything'"), (4, "'waiting'"), (4, "'pending'"), (4, "'sent'"), (4, "'beta'"),
                     (4, "'study'"), (6, "'none'"), (6, "if n == 1 else"), (6, "'s'")]
    # Not the English plurals (a plural filter's word, a choice made by comparing a count with 1): those
    # are rewritten with ngettext / {% pluralize %} by hand.
    assert i18n_check.fix(page) == 13
    assert [(f.line, f.text) for f in i18n_check.find(page)] == [(4, "'study'"), (6, "if n == 1 else")]
    text = page.read_text()
    assert "{{ _('yes') if x else _('no') }}{{ when or _('never') }}" in text
    assert "class=\"{{ 'active' if on }}\" title=\"{{ _('idle') if z }}\">{{ cell(_('sent'), 'state') }}" in text
    assert "[('new', _('fresh')), ('all', _('everything'))]" in text and "href=\"?tab={{ key }}\"" in text
    assert "{'queued': _('pending'), 'sent': _('sent')}.get(s, s)" in text
    assert "{% set status = _('waiting') %}" in text
    assert "{'b': _('beta')}[k]" in text
    assert "tab='new'" in text and "mode == 'exact'" in text and "row['count']" in text
    assert "{{ 'selected' if c }}" in text
    assert "value=\"{{ 'hidden' }}\" name=\"{{ 'field' }}\"" in text and "default(_('none'))" in text


def test_messages_pot_is_up_to_date():
    """What the code and templates mark now is what messages.pot holds (else run make translations)."""
    with (REPO / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    extracted = {message if isinstance(message, str) else message[0]
                 for _file, _line, message, _comments, _context in extract_from_dir(
                     str(REPO), method_map, options_map, keywords={"_": None, "gettext": None, "_l": None,
                                                                 "ngettext": (1, 2), "lazy_gettext": None,
                                                                 "Chart": (2,), "F": (1,), "D": (1,), "_mean": (1,),
                                                                 "_dap": (1,), "Filter": (2,), "RuleSpec": (2,)})}
    pot = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalogue(TRANSLATIONS_DIR / "messages.pot") if m.id}
    assert extracted - pot == set(), "marked but not in messages.pot: run make translations"
    assert pot - extracted == set(), "in messages.pot but no longer marked: run make translations"


@pytest.mark.parametrize("locale", SHIPPED)
def test_catalogue_is_complete_with_its_placeholders(locale):
    pot = [m for m in _catalogue(TRANSLATIONS_DIR / "messages.pot") if m.id]
    catalogue = _catalogue(TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po", locale)
    assert not catalogue.fuzzy
    missing, empty, broken = [], [], []
    for message in pot:
        translated = catalogue.get(message.id)
        if translated is None:
            missing.append(message.id)
            continue
        strings = translated.string if isinstance(translated.string, tuple) else (translated.string,)
        if not all(strings) or translated.fuzzy:
            empty.append(message.id)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        optional = set(PLURAL_ENDING.findall(ids[0]))
        needed = sorted(p for p in PLACEHOLDER.findall(ids[0]) if p not in optional)
        for s in strings:
            found = PLACEHOLDER.findall(s)
            if sorted(p for p in found if p not in optional) != needed or not set(found) <= set(PLACEHOLDER.findall(ids[0])):
                broken.append(message.id)
    assert missing == [] and empty == [] and broken == []
    # Babel's own checks, as `pybabel compile` (make translations) runs them: a failure stops the build.
    assert [(m.id, [str(e) for e in errors]) for m, errors in catalogue.check()] == []


def test_site_language_setting_is_checked():
    assert check_language("") == "" and check_language(" DE ") == "de" and check_language("nb") == "nb"
    with pytest.raises(ValueError, match="DOSEAPP_LANGUAGE is 'xx'"):
        check_language("xx")


GETTEXT_CALLS = {"_", "gettext", "ngettext", "lazy_gettext", "_l"}


def _unmarked_text(node: ast.AST, literals: bool = True) -> list[ast.AST]:
    """String literals and f-strings in the expression `node` that no gettext call wraps. A literal that
    is only the receiver of a method (", ".join), a subscript key (LABELS["x"]), a dict key (the
    placeholders of Markup(_(...)) % {...}), compared with, or an argument of a call other than
    Markup (url_for("config.audit_log")) is not text; an f-string anywhere is."""
    if isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else None
        if name in GETTEXT_CALLS:
            return []
        found = [] if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Constant) \
            else _unmarked_text(func, literals)
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            found += _unmarked_text(arg, literals and name == "Markup")
        return found
    if isinstance(node, ast.Compare):
        return []
    if isinstance(node, ast.JoinedStr) or (literals and isinstance(node, ast.Constant)
                                          and isinstance(node.value, str) and node.value.strip()):
        return [node]
    if isinstance(node, ast.Subscript):
        return _unmarked_text(node.value, literals)
    if isinstance(node, ast.Dict):  # keys name placeholders
        return [n for value in node.values for n in _unmarked_text(value, literals)]
    found = []
    for child in ast.iter_child_nodes(node):
        found += _unmarked_text(child, literals)
    return found


def _flash_problems(source: str) -> list[int]:
    """Line numbers of flash() calls in `source` whose message holds unmarked text."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "flash" and node.args:
            if _unmarked_text(node.args[0]):
                problems.append(node.lineno)
    return problems


def test_every_flash_message_is_marked():
    """flash() text in doseapp/ is marked for translation: _("...") / ngettext, with named placeholders,
    not a literal, an f-string or text joined to a marked message."""
    unmarked = [f"{path.relative_to(REPO)}:{line}" for path in sorted((REPO / "doseapp").rglob("*.py"))
                for line in _flash_problems(path.read_text(encoding="utf-8"))]
    assert unmarked == []


def test_the_flash_scan_finds_unmarked_messages():
    source = '''
flash("Saved.")
flash(f"User {name} created.")
flash("Fix the filter first: " + ", ".join(errors))
flash(_("Saved.") if ok else "Nothing changed.")
flash(Markup("{} <a>here</a>").format(x))
flash(_("Saved %(n)s.", n=n) + " More.")
flash(_("Saved."))
flash(ngettext("%(num)d export deleted.", "%(num)d exports deleted.", n) if n else _("Tick first."))
flash(Markup(_("%(name)s: <a href=\\"%(url)s\\">page</a>")) % {"name": n, "url": u})
flash(" ".join((_("One."), _("Two."))))
flash(_("%(a)s", a=LABELS["x"]))
flash(message)
flash(_("Alert: reviewed.") if state == "reviewed" else _("Alert: reported."))
flash(Markup(_('<a href="%(url)s">log</a>')) % {"url": url_for("config.audit_log")})
flash(Markup(_('<a href="%(url)s">log</a>')) % {"url": url_for(f"config.{page}")} + "!")
flash(f"{plural(n, 'study')} deleted.")
'''
    assert _flash_problems(source) == [2, 3, 4, 5, 6, 7, 16, 17]
