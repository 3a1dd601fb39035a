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
A single lower-case word ('yes', 'never', 'sent') is checked by where it goes: the value is followed
through the Jinja AST from each {{ }} that shows text (between tags, or in a title, placeholder,
aria-label, alt, data-confirm or hx-confirm attribute, or the value of a button input; not class, href,
value, name or hx-* attributes, nor scripts) back through `or`, `if else`, `~`, filters (not their
arguments, but default's), {% set %} names, {% for %} targets (tuple positions, .items()), dict values
(.get, [key]), trans variables and macro parameters that the macro shows (across templates, with includes
and parents). The word argument of doseapp's English plural filters (n|plural('study'), n|noun('study'))
and n|is_are are reported too, for rewriting with ngettext / {% pluralize %} by hand.
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
ATTRIBUTE = re.compile(r"""\s(title|placeholder|aria-label|alt|data-confirm|hx-confirm)=(["'])(.*?)\2""", re.S | re.I)
ENTITY = re.compile(r"&(#\d+|#x[0-9a-f]+|\w+);", re.I)
EXPR, BLOCK = "\x01", "\x02"  # mask characters for {{ }} and for {% %} / {# #}
# Words that are the same in every language and need no catalogue entry.
NOT_TEXT = {"doseapp", "k"}  # k: the symbol of a dose coefficient
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
    by_hand: bool = False  # not for --fix: an English plural (n|plural('study'), n|is_are) wants ngettext


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


# --- Where literals go (issue 22): single lower-case words ('yes', 'never', 'sent') are text only when they
# reach the page, so for them the checker follows the value from the literal to the output through the Jinja
# AST: {{ }} in text or in a text attribute, {% set %} names, {% for %} targets (tuple positions, .items()),
# dict values (.get, [key]), macro parameters (across templates), filters (not their arguments, except
# default), `or` / `and` / `if else` / `~` and trans variables.

WORD = re.compile(r"[a-z][a-z'’-]*")
TEXT_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "data-confirm", "hx-confirm"}
EXPRESSION = re.compile(r"\{\{([-+]?)(.*?)([-+]?)\}\}", re.S)
TAG_ATTRIBUTE = re.compile(r"""\s([\w:.-]+)\s*=\s*(["'])(.*?)\2""", re.S)
HIDDEN = "__notext__"  # wraps the {{ }} that do not show text (attributes such as class, href, value; scripts)
# Filters whose result is not the text of their value (the value passes through all others).
NOT_TEXT_FILTERS = {"length", "count", "int", "float", "round", "abs", "tojson", "urlencode", "wordcount",
                    "filesizeformat", "sum", "min", "max", "batch", "slice", "upper"}  # upper: 'move' -> MOVE, a code
# doseapp's English plural filters (doseapp/display/timefmt.py): n|plural('study') shows its argument, and
# n|is_are an English word; a count that decides the form is a case for ngettext / {% pluralize %}.
WORD_FILTERS = {"plural", "noun"}
ENGLISH_FILTERS = {"is_are"}
COUNT_CHOICE = "… if n == 1 else …"  # text chosen by comparing a count with 1: ngettext / {% pluralize %}


def _counts_one(test) -> bool:
    """`test` compares something with the number 1 (n == 1, n != 1, n > 1): a count decides the form."""
    return isinstance(test, nodes.Compare) and any(
        isinstance(n, nodes.Const) and n.value == 1 and not isinstance(n.value, bool)
        for n in [test.expr] + [o.expr for o in test.ops])
DEPTH = 4  # how deep a path into nested lists/dicts is followed


def _shown_positions(source: str, masked: str) -> list[tuple[int, int, bool]]:
    """(start, end, shown) for each {{ }} outside trans blocks: shown when it is in the text between tags or
    in a text attribute (title, placeholder, aria-label, alt, data-confirm; value of a button input)."""
    tags = []  # (start, end, kind, attribute spans shown)
    for tag in MARKUP.finditer(masked):
        if tag.group(1) or tag.group(0).startswith("<!--"):
            tags.append((tag.start(), tag.end(), []))
            continue
        button = re.match(r"<input\b", tag.group(0), re.I) and re.search(
            r"""\stype\s*=\s*["']?(submit|button|reset)\b""", tag.group(0), re.I)
        spans = [(tag.start() + a.start(3), tag.start() + a.end(3)) for a in TAG_ATTRIBUTE.finditer(tag.group(0))
                 if a.group(1).lower() in TEXT_ATTRIBUTES or (button and a.group(1).lower() == "value")]
        tags.append((tag.start(), tag.end(), spans))
    out = []
    for m in EXPRESSION.finditer(source):
        if masked[m.start()] != EXPR:
            continue  # in a trans block or a comment
        shown = True
        for start, end, spans in tags:
            if start <= m.start() < end:
                shown = any(a <= m.start() < b for a, b in spans)
                break
        out.append((m.start(), m.end(), shown))
    return out


def _marked_source(source: str) -> str:
    """`source` with every {{ }} that shows no text wrapped in __notext__(...) (lines kept)."""
    masked = mask(source)
    parts, position = [], 0
    for start, end, shown in _shown_positions(source, masked):
        if shown:
            continue
        m = EXPRESSION.match(source, start)
        parts.append(source[position:start] + "{{" + m.group(1) + " " + HIDDEN + "(" + m.group(2) + ") "
                     + m.group(3) + "}}")
        position = end
    parts.append(source[position:])
    return "".join(parts)


class Flow:
    """Which string literals of a set of templates reach the page, found by following values backwards
    from the output: `paths[scope][name]` holds the paths ((), ('*', 1), ('dv',) ...) under which the value
    of `name` is shown; a scope is (template, macro name or None)."""

    def __init__(self, sources: dict[str, str]):
        self.trees = {}
        for name, source in sources.items():
            try:
                self.trees[name] = PARSER.parse(_marked_source(source))
            except TemplateSyntaxError:
                continue
        self.paths: dict[tuple, dict[str, set]] = {}
        self.macros: dict[str, list] = {}  # macro name -> [(template, Macro node)]
        self.family: dict[str, set] = {}
        for name, tree in self.trees.items():
            for macro in tree.find_all(nodes.Macro):
                self.macros.setdefault(macro.name, []).append((name, macro))
            linked = {n.template.value for n in tree.find_all((nodes.Include, nodes.Extends))
                      if isinstance(n.template, nodes.Const)}
            self.family[name] = linked
        self.found: dict[str, list] = {}

    def _family(self, template: str) -> set:
        seen, todo = set(), [template]
        while todo:
            t = todo.pop()
            if t not in seen:
                seen.add(t)
                todo.extend(self.family.get(t, ()))
        return seen

    def lookup(self, scope, name) -> set:
        if scope[1] is not None:
            return set(self.paths.get(scope, {}).get(name, ()))
        out = set()
        for t in self._family(scope[0]):
            out |= self.paths.get((t, None), {}).get(name, set())
        return out

    def _add(self, scope, name, paths) -> None:
        known = self.paths.setdefault(scope, {}).setdefault(name, set())
        new = {p for p in paths if len(p) <= DEPTH} - known
        if new:
            known |= new
            self.changed = True

    def run(self) -> dict[str, list[tuple[int, str]]]:
        self.changed = True
        while self.changed:
            self.changed = False
            self.found = {}
            for name, tree in self.trees.items():
                self._template = name
                self.found[name] = {}
                self._statements(tree.body, (name, None))
        return self.found

    # statements
    def _statements(self, body, scope) -> None:
        for node in body:
            self._statement(node, scope)

    def _statement(self, node, scope) -> None:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    continue
                if isinstance(child, nodes.Call) and isinstance(child.node, nodes.Name) and child.node.name == HIDDEN:
                    continue
                self.flow(child, {()}, scope)
            return
        if isinstance(node, nodes.Macro):
            inner = (scope[0], node.name)
            self._statements(node.body, inner)
            params = [a.name for a in node.args]
            for param, default in zip(params[len(params) - len(node.defaults):], node.defaults):
                self.flow(default, self.lookup(inner, param), inner)
            return
        if isinstance(node, nodes.Assign):
            self._assign(node.target, node.node, scope)
            return
        if isinstance(node, nodes.AssignBlock):
            self._statements(node.body, scope)
            return
        if isinstance(node, nodes.For):
            self._statements(node.body, scope)
            self._statements(node.else_, scope)
            self._assign(node.target, node.iter, scope, loop=True)
            return
        if isinstance(node, nodes.CallBlock):
            self._call_arguments(node.call, scope)
            self._statements(node.body, scope)
            return
        if isinstance(node, nodes.With):
            self._statements(node.body, scope)
            for target, value in zip(node.targets, node.values):
                self._assign(target, value, scope)
            return
        if isinstance(node, nodes.ExprStmt):
            if isinstance(node.node, nodes.Call):
                self._call_arguments(node.node, scope)
            return
        for field in ("body", "else_", "elif_"):
            for child in getattr(node, field, None) or ():
                self._statement(child, scope)

    def _target_paths(self, target, scope) -> set:
        if isinstance(target, nodes.Name):
            return self.lookup(scope, target.name)
        if isinstance(target, nodes.Tuple):
            return {(i,) + p for i, item in enumerate(target.items) for p in self._target_paths(item, scope)}
        return set()

    def _assign(self, target, value, scope, loop=False) -> None:
        paths = self._target_paths(target, scope)
        if loop:
            if (isinstance(value, nodes.Call) and isinstance(value.node, nodes.Getattr)
                    and value.node.attr == "items" and not value.args):
                self.flow(value.node.node, {({0: "dk", 1: "dv"}[p[0]],) + p[1:] for p in paths
                                            if p and p[0] in (0, 1)}, scope)
                return
            paths = {("*",) + p for p in paths}
        self.flow(value, paths, scope)

    def _callees(self, call):
        callee = call.node
        name = callee.name if isinstance(callee, nodes.Name) else getattr(callee, "attr", None)
        found = self.macros.get(name, [])
        here = [m for m in found if m[0] == self._template]
        return here or found

    def _call_arguments(self, call, scope) -> None:
        for template, macro in self._callees(call):
            params = [a.name for a in macro.args]
            inner = (template, macro.name)
            for param, argument in zip(params, call.args):
                self.flow(argument, self.lookup(inner, param), scope)
            for keyword in call.kwargs:
                if keyword.key in params:
                    self.flow(keyword.value, self.lookup(inner, keyword.key), scope)

    # expressions: `paths` are the ways in which the value of `node` is shown
    def flow(self, node, paths: set, scope) -> None:
        if isinstance(node, nodes.Call):
            callee = node.node
            name = callee.name if isinstance(callee, nodes.Name) else getattr(callee, "attr", None)
            if name in GETTEXT:
                return
            self._call_arguments(node, scope)
            if not paths:
                return
            if isinstance(callee, nodes.Getattr) and name == "get" and node.args:
                self.flow(callee.node, {("dv",) + p for p in paths}, scope)
                if len(node.args) > 1:
                    self.flow(node.args[1], paths, scope)
            elif isinstance(callee, nodes.Getattr) and name in ("values", "keys", "items") and not node.args:
                kind = {"values": "dv", "keys": "dk"}.get(name)
                if kind:
                    self.flow(callee.node, {(kind,) + p[1:] for p in paths if p and p[0] == "*"}, scope)
            return
        if not paths:
            return
        if isinstance(node, nodes.Const):
            if isinstance(node.value, str) and () in paths:
                self.found[self._template][id(node)] = (node.lineno, node.value, False)
            return
        if isinstance(node, nodes.Name):
            self._add(scope, node.name, paths)
        elif isinstance(node, nodes.CondExpr):
            if () in paths and _counts_one(node.test):  # 'study' if n == 1 else 'studies': a plural by hand
                self.found[self._template][id(node)] = (node.lineno, COUNT_CHOICE, True)
            self.flow(node.expr1, paths, scope)
            if node.expr2 is not None:
                self.flow(node.expr2, paths, scope)
        elif isinstance(node, (nodes.And, nodes.Or)):
            self.flow(node.left, paths, scope)
            self.flow(node.right, paths, scope)
        elif isinstance(node, nodes.Concat):
            for child in node.nodes:
                self.flow(child, {()} & paths, scope)
        elif isinstance(node, nodes.Add):  # list + list
            self.flow(node.left, paths, scope)
            self.flow(node.right, paths, scope)
        elif isinstance(node, nodes.Mod):  # '...' % values, as trans blocks are built
            right = node.right
            if isinstance(right, nodes.Dict):
                for pair in right.items:
                    self.flow(pair.value, {()} & paths, scope)
            elif isinstance(right, nodes.Tuple):
                for item in right.items:
                    self.flow(item, {()} & paths, scope)
            else:
                self.flow(right, {()} & paths, scope)
        elif isinstance(node, nodes.MarkSafe) or type(node).__name__ == "MarkSafeIfAutoescape":
            self.flow(node.expr, paths, scope)
        elif isinstance(node, nodes.Filter):
            if node.name in ENGLISH_FILTERS and () in paths:
                self.found[self._template][id(node)] = (node.lineno, "|" + node.name, True)
            if node.name in WORD_FILTERS and () in paths:  # to be rewritten with ngettext, by hand
                for argument in node.args:
                    if isinstance(argument, nodes.Const) and isinstance(argument.value, str):
                        self.found[self._template][id(argument)] = (argument.lineno, argument.value, True)
            if node.name in ("default", "d") and node.args:
                self.flow(node.args[0], paths, scope)
            if node.name == "join":
                self.flow(node.node, {("*",) + p for p in paths if p == ()}, scope)
            elif node.name == "first" or node.name == "last" or node.name == "random":
                self.flow(node.node, {("*",) + p for p in paths}, scope)
            elif node.name not in NOT_TEXT_FILTERS and node.node is not None:
                self.flow(node.node, paths, scope)
        elif isinstance(node, nodes.Getattr):
            self.flow(node.node, {("." + node.attr,) + p for p in paths}, scope)
        elif isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const):
                self.flow(node.node, {("." + str(node.arg.value),) + p for p in paths}, scope)
            else:
                self.flow(node.node, {("[]",) + p for p in paths}, scope)  # an element or a dict value
        elif isinstance(node, (nodes.List, nodes.Tuple)):
            for i, item in enumerate(node.items):
                self.flow(item, {p[1:] for p in paths if p and p[0] in ("*", "[]", i, "." + str(i))}, scope)
        elif isinstance(node, nodes.Dict):
            for pair in node.items:
                key = "." + str(pair.key.value) if isinstance(pair.key, nodes.Const) else None
                self.flow(pair.key, {p[1:] for p in paths if p and p[0] in ("*", "dk")}, scope)
                self.flow(pair.value, {p[1:] for p in paths if p and p[0] in ("dv", "[]", key)}, scope)


_FLOW_CACHE: dict = {}


def shown_words(path: Path) -> list[tuple[int, str, bool]]:
    """(line, word, by hand) of the unmarked single lower-case word literals in `path` that reach the page
    (by hand: an argument of an English plural filter, or such a filter, that --fix leaves alone); the
    templates under the same root (templates/, else the file's folder) are read for the macros, includes
    and parents."""
    path = path.resolve()
    root = TEMPLATES.resolve() if path.is_relative_to(TEMPLATES.resolve()) else path.parent
    sources = {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*.html"))}
    if _FLOW_CACHE.get("sources") != sources:
        _FLOW_CACHE["sources"] = sources
        _FLOW_CACHE["found"] = {name: sorted(found.values()) for name, found in Flow(sources).run().items()}
    found = _FLOW_CACHE["found"].get(path.relative_to(root).as_posix(), [])
    return [(line, value, by_hand) for line, value, by_hand in found
            if (WORD.fullmatch(value.strip()) and value.strip() not in NOT_TEXT) or by_hand]


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
    for line, value, by_hand in sorted([(line, value, False) for line, value in expression_literals(source)]
                                       + shown_words(path)):
        at = None
        text = lines[line - 1]
        if value.startswith("|") and value[1:] in ENGLISH_FILTERS:  # a filter, not a literal: by hand
            m = re.search(r"\|\s*" + value[1:] + r"\b", text)
            if m:
                at = (line_starts[line - 1] + m.start(), line_starts[line - 1] + m.end())
        elif value == COUNT_CHOICE:
            m = re.search(r"\bif\b[^%}]*?(==|!=|>=|<=|>|<)\s*1\b[^%}]*?\belse\b", text)
            if m:
                at = (line_starts[line - 1] + m.start(), line_starts[line - 1] + m.end())
        for quoted in ("'" + value.replace("'", "\\'") + "'", '"' + value + '"', "'" + value + "'"):
            # the same word can be on the line as a name too (a dict key, a comparison): the value first
            places = sorted(re.finditer(re.escape(quoted), text), key=lambda m: bool(
                re.match(r"\s*(:|==|!=|in\b|\])", text[m.end():]) or re.search(r"(==|!=|\[)\s*$", text[:m.start()])))
            for m in places:
                start = line_starts[line - 1] + m.start()
                if at is None and start not in done and not text[:m.start()].endswith("_("):
                    at = (start, start + len(quoted))
                    break
            if at:
                break
        if at is None:  # written over several lines: reported at its line, not fixable
            at = (line_starts[line - 1], line_starts[line - 1])
        done.add(at[0])
        findings.append(Finding(path, at[0], at[1], source[at[0]:at[1]] or repr(value), line, expression=True,
                                by_hand=by_hand))
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
        if finding.by_hand or finding.expression and not re.fullmatch(r"'[^'\\]*'" + '|' + r'"[^"\\]*"', finding.text):
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
