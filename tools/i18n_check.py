"""Find text in the templates that users read but that is not marked for translation (issue 22).

    python tools/i18n_check.py            list unmarked text (file:line: text); exit 1 if there is any
    python tools/i18n_check.py --fix      wrap what can be wrapped in place, then list what is left

Marked text is inside {{ _('...') }} / {{ _("...") }} or a {% trans %}...{% endtrans %} block.
Checked: the text between HTML tags (also inside {% block %} tags, such as page titles) and the
title, placeholder, aria-label and alt attributes, and string literals inside Jinja expressions and
statements that read as text (a capitalised word, or words with a space: labels passed to macros such as
th('total', 'Total'), tab and button labels in {% set %} / {% for %} lists, 'Yes' if ... else 'No',
value or 'None'), unless inside _() / gettext / ngettext / a trans block. Literals that are not text are
left alone: url_for endpoints, tests and comparisons (mod == 'CT', x in ('a', 'b')), subscripts and dict
keys (data keys), class/id keywords, template names, and strings without a lower-case letter (CSV, CT).
Not checked: scripts, styles and comments.

--fix edits line-locally: a text piece without Jinja becomes {{ _('text') }}; one with {{ values }}
in it becomes {% trans name=value %}text {{ name }}{% endtrans %}; a literal in an expression becomes
_('literal') (not when it starts or ends with a space or holds %, & or <: text pieced together with ~
is rewritten by hand as one message); nothing is moved or re-indented.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, TemplateSyntaxError, nodes

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"

JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
TRANS_BLOCK = re.compile(r"\{%-?\s*trans\b.*?%\}.*?\{%-?\s*endtrans\s*-?%\}", re.S)
# In masked text: comments, scripts and styles (whole), else any tag.
MARKUP = re.compile(r"<!--.*?-->|<(script|style)\b[^>]*>.*?</\1\s*>|<[^>]*>", re.S | re.I)
ATTRIBUTE = re.compile(r"""\s(title|placeholder|aria-label|alt)=(["'])(.*?)\2""", re.S | re.I)
ENTITY = re.compile(r"&(#\d+|#x[0-9a-f]+|\w+);", re.I)
EXPR, BLOCK = "\x01", "\x02"  # mask characters for {{ }} and for {% %} / {# #}
# Words that are the same in every language and need no catalogue entry.
NOT_TEXT = {"doseapp"}
# Literals in expressions that look like words but are not text people read (HTMX trigger values).
NOT_TEXT_LITERALS = {"intersect once"}
GETTEXT = {"_", "gettext", "ngettext", "pgettext", "npgettext", "_l"}
NOT_TEXT_CALLS = {"url_for", "can", "has_role"}  # their first argument is a name, not text
NOT_TEXT_KEYWORDS = {"class_", "cls", "klass", "css", "id"}
PARSER = Environment(extensions=["jinja2.ext.i18n", "jinja2.ext.do", "jinja2.ext.loopcontrols"])


@dataclass
class Finding:
    path: Path
    start: int  # offsets in the file's text
    end: int
    text: str
    line: int
    attribute: bool = False
    expression: bool = False  # a string literal in a Jinja expression (text is the literal, quotes included)


def mask(source: str) -> str:
    """`source` with each Jinja construct replaced by as many mask characters (positions kept); a whole
    trans block counts as a statement (it is marked)."""
    def blank(kind):
        return lambda m: "".join(c if c == "\n" else kind for c in m.group(0))
    masked = TRANS_BLOCK.sub(blank(BLOCK), source)
    return JINJA.sub(lambda m: blank(EXPR if m.group(0).startswith("{{") else BLOCK)(m), masked)


def _is_text(masked_piece: str) -> bool:
    words = ENTITY.sub(" ", masked_piece.replace(EXPR, " "))
    return any(w.lower() not in NOT_TEXT for w in re.findall(r"[^\W\d_][\w'’-]*", words))


def _pieces(masked: str, start: int, end: int):
    """The stretches of masked[start:end] between statements, stripped, as (start, end)."""
    for m in re.finditer(r"[^" + BLOCK + r"]+", masked[start:end]):
        a, b = start + m.start(), start + m.end()
        while a < b and masked[a].isspace():
            a += 1
        while b > a and masked[b - 1].isspace():
            b -= 1
        if a < b:
            yield a, b


def literal_is_text(value: str) -> bool:
    if value.strip() in NOT_TEXT_LITERALS or not re.search(r"[a-z]", value):
        return False
    if re.search(r"[{}<>=/\\#@]|^\s*[.#]|^hx-|^data-|\.html$|^https?:", value):
        return False
    return bool(re.match(r"\s*[A-Z][\w-]*[a-z]", value) or re.search(r"[^\W\d_]\S*\s+\S*[^\W\d_]", value))


def _literals(node, out: list, skip: bool = False) -> None:
    """The string constants under `node` that read as text, as (line, value); `skip` below a place whose
    literals are names or data (a test, a subscript, a dict key, an endpoint)."""
    if isinstance(node, nodes.Const):
        if isinstance(node.value, str) and not skip and literal_is_text(node.value):
            out.append((node.lineno, node.value))
        return
    if isinstance(node, (nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        return
    if isinstance(node, nodes.Call):
        callee = node.node
        name = callee.name if isinstance(callee, nodes.Name) else getattr(callee, "attr", None)
        if name in GETTEXT:
            return
        _literals(callee, out, skip)
        for i, argument in enumerate(node.args):
            _literals(argument, out, skip or (i == 0 and name in NOT_TEXT_CALLS))
        for keyword in node.kwargs:
            _literals(keyword, out, skip)
        for extra in (node.dyn_args, node.dyn_kwargs):
            if extra is not None:
                _literals(extra, out, skip)
        return
    if isinstance(node, (nodes.Compare, nodes.Test)):
        skip = True
    elif isinstance(node, nodes.Keyword) and node.key in NOT_TEXT_KEYWORDS:
        return
    elif isinstance(node, (nodes.CondExpr, nodes.If)):
        _literals(node.test, out, True)
        for child in node.iter_child_nodes():
            if child is not node.test:
                _literals(child, out, skip)
        return
    elif isinstance(node, nodes.Getitem):
        _literals(node.node, out, skip)
        _literals(node.arg, out, True)
        return
    elif isinstance(node, nodes.Pair):
        _literals(node.key, out, True)
        _literals(node.value, out, skip)
        return
    for child in node.iter_child_nodes():
        _literals(child, out, skip)


def expression_literals(source: str) -> list[tuple[int, str]]:
    """(line, value) of the unmarked text literals in the template's expressions and statements."""
    try:
        tree = PARSER.parse(source)
    except TemplateSyntaxError:
        return []
    out: list[tuple[int, str]] = []
    _literals(tree, out)
    return out


def find(path: Path) -> list[Finding]:
    source = path.read_text()
    masked = mask(source)
    findings = []

    def add(a, b, attribute=False):
        if _is_text(masked[a:b]):
            findings.append(Finding(path, a, b, source[a:b], source.count("\n", 0, a) + 1, attribute))

    position = 0
    for tag in MARKUP.finditer(masked):
        for a, b in _pieces(masked, position, tag.start()):
            add(a, b)
        if not tag.group(1) and not tag.group(0).startswith("<!--"):
            for attr in ATTRIBUTE.finditer(tag.group(0)):
                for a, b in _pieces(masked, tag.start() + attr.start(3), tag.start() + attr.end(3)):
                    add(a, b, attribute=True)
        position = tag.end()
    for a, b in _pieces(masked, position, len(masked)):
        add(a, b)
    lines = source.split("\n")
    line_starts = [0]
    for line in lines:
        line_starts.append(line_starts[-1] + len(line) + 1)
    done: set[int] = set()
    for line, value in expression_literals(source):
        at = None
        for quoted in ("'" + value.replace("'", "\\'") + "'", '"' + value + '"', "'" + value + "'"):
            for m in re.finditer(re.escape(quoted), lines[line - 1]):
                start = line_starts[line - 1] + m.start()
                if start not in done and not lines[line - 1][:m.start()].endswith("_("):
                    at = (start, start + len(quoted))
                    break
            if at:
                break
        if at is None:  # written over several lines: reported at its line, not fixable
            at = (line_starts[line - 1], line_starts[line - 1])
        done.add(at[0])
        findings.append(Finding(path, at[0], at[1], source[at[0]:at[1]] or repr(value), line, expression=True))
    findings.sort(key=lambda f: (f.start, f.end))
    return findings


def _name_for(expression: str, taken: dict[str, str]) -> str:
    dotted = re.fullmatch(r"[A-Za-z_][\w.]*", expression)
    name = expression.rsplit(".", 1)[-1] if dotted else "value"
    if name in ("_", "count", "trans", "pluralize", "loop"):
        name = "value"
    base, n = name, 1
    while name in taken and taken[name] != expression:
        n += 1
        name = f"{base}{n}"
    taken[name] = expression
    return name


def wrapped(text: str) -> str | None:
    """`text` marked for translation, or None when it cannot be done safely by machine."""
    if re.fullmatch(r"'[^'\\]*'" + '|' + r'"[^"\\]*"', text):  # a literal in an expression
        value = text[1:-1]
        if value != value.strip() or re.search(r"[%&<]", value):
            return None
        return "_(" + text + ")"
    parts = re.split(r"(\{\{.*?\}\})", text, flags=re.S)
    if len(parts) == 1:
        if "\n" not in text and not ENTITY.search(text):  # _() output is escaped: entities need trans
            quote = "'" if "'" not in text else '"'
            if quote in text:
                return None
            return "{{ _(" + quote + text.replace("%", "%%") + quote + ") }}"
        return "{% trans %}" + text + "{% endtrans %}"
    if re.search(r"\{%|\{#", text):
        return None
    taken: dict[str, str] = {}
    body = []
    for i, part in enumerate(parts):
        if i % 2:
            expression = part[2:-2].strip()
            body.append("{{ " + _name_for(expression, taken) + " }}")
        else:
            body.append(part)
    arguments = ", ".join(f"{name}={expression}" for name, expression in taken.items())
    return "{% trans " + arguments + " %}" + "".join(body) + "{% endtrans %}"


def fix(path: Path) -> int:
    source = path.read_text()
    changed = 0
    for finding in sorted(find(path), key=lambda f: f.start, reverse=True):
        if finding.expression and not re.fullmatch(r"'[^'\\]*'" + '|' + r'"[^"\\]*"', finding.text):
            continue  # an escaped quote, or written over several lines: by hand
        replacement = wrapped(finding.text)
        if replacement is None:
            continue
        source = source[:finding.start] + replacement + source[finding.end:]
        changed += 1
    if changed:
        path.write_text(source)
    return changed


def templates(root: Path = TEMPLATES) -> list[Path]:
    return sorted(root.rglob("*.html"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fix", action="store_true", help="wrap the simple cases in place")
    parser.add_argument("paths", nargs="*", type=Path, help="templates (default: all under templates/)")
    args = parser.parse_args(argv)
    paths = args.paths or templates()
    if args.fix:
        total = sum(fix(p) for p in paths)
        print(f"wrapped {total} pieces of text", file=sys.stderr)
    left = [f for p in paths for f in find(p)]
    for f in left:
        where = f.path.relative_to(ROOT) if f.path.is_relative_to(ROOT) else f.path
        print(f"{where}:{f.line}: {' '.join(f.text.split())}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
