"""Reading an HTML table of a page as a person reads it: each body row as {column heading: cell},
a two-row heading (group headings over some columns) resolved to the columns' own headings, and
the hover text (title attributes) of each cell kept beside its text."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Cell:
    text: str
    titles: list[str] = field(default_factory=list)
    colspan: int = 1
    rowspan: int = 1


@dataclass
class Table:
    headings: list[str]
    rows: list[dict[str, Cell]]  # one per <tr class="event">-like body row with a cell per column

    def column(self, heading: str) -> list[str]:
        return [r[heading].text for r in self.rows]


class _Reader(HTMLParser):
    def __init__(self, table_id: str):
        super().__init__(convert_charrefs=True)
        self.table_id, self.depth, self.section = table_id, 0, None
        self.head: list[list[Cell]] = []
        self.body: list[tuple[str, list[Cell]]] = []
        self.cell: Cell | None = None
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            if self.depth or a.get("id") == self.table_id:
                self.depth += 1
            return
        if not self.depth:
            return
        if tag in ("thead", "tbody"):
            self.section = tag
        elif tag == "tr":
            if self.section == "thead":
                self.head.append([])
            else:
                self.body.append((a.get("class") or "", []))
        elif tag in ("td", "th"):
            self.cell = Cell("", [], int(a.get("colspan", 1)), int(a.get("rowspan", 1)))
            self.parts = []
        elif tag == "br" and self.cell is not None:
            self.parts.append(" ")
        if self.cell is not None and a.get("title"):
            self.cell.titles.append(a["title"])

    def handle_endtag(self, tag):
        if not self.depth:
            return
        if tag == "table":
            self.depth -= 1
        elif tag in ("td", "th") and self.cell is not None:
            self.cell.text = re.sub(r"\s+", " ", "".join(self.parts)).strip()
            (self.head[-1] if self.section == "thead" else self.body[-1][1]).append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.parts.append(data)


def read_table(html: str, table_id: str, row_class: str = "event") -> Table:
    """The table with id `table_id`; rows are the body rows of class `row_class`."""
    reader = _Reader(table_id)
    reader.feed(html)
    assert reader.head, f"no table #{table_id} with a heading"
    first = reader.head[0]
    second = iter(reader.head[1] if len(reader.head) > 1 else [])
    headings = []
    for th in first:
        if th.colspan > 1 or (len(reader.head) > 1 and th.rowspan == 1):
            headings += [next(second).text for _ in range(th.colspan)]
        else:
            headings.append(th.text)
    rows = []
    for cls, cells in reader.body:
        if row_class in cls.split():
            assert len(cells) == len(headings), (headings, [c.text for c in cells])
            rows.append(dict(zip(headings, cells)))
    return Table(headings, rows)
