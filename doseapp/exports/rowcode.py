"""Generated row code, shared by the CSV and XLSX writers.

An export writes millions of cells. Dispatching on each cell's kind in a loop cost more than the
formatting itself, so each writer turns a list of columns into one Python function per layout:
it unpacks a record (a tuple) into locals and returns a tuple with one expression per column,
written by the writer for the column's kind (`cell(col, value_source) -> expression`).
"""
from __future__ import annotations

from typing import Callable

_MISSING = object()


def memo(fn: Callable, limit: int = 10000) -> Callable:
    """fn of one argument, remembering its results for one export: computed columns (filter
    materials and thickness, target) take a few microseconds a call, and their inputs repeat for
    every exposure of a system. Lists and dicts are remembered by identity (the reader hands out
    one object per distinct JSON text), numbers not at all (measurements rarely repeat), anything
    else by value."""
    by_value: dict = {}
    by_id: dict = {}

    def get(v):
        if v is None or v.__class__ is float or v.__class__ is int:
            return fn(v)
        if v.__class__ is list or v.__class__ is dict:
            hit = by_id.get(id(v))
            if hit is not None and hit[0] is v:
                return hit[1]
            got = fn(v)
            if len(by_id) >= limit:
                by_id.clear()
            by_id[id(v)] = (v, got)  # holding v keeps its id from being reused
            return got
        got = by_value.get(v, _MISSING)
        if got is _MISSING:
            got = fn(v)
            if len(by_value) >= limit:
                by_value.clear()
            by_value[v] = got
        return got
    return get


def compile_row(cols, fields, cell: Callable, ns: dict, name: str) -> Callable:
    """fn(record) -> tuple of `cell(col, local)` for each column (columns.Col), where local names the
    column's value: the record's field for a stored attribute (`field`), else the result of its
    `fn` on the fields it reads (remembered by memo() when it reads one). `ns` names what the
    expressions use."""
    at = {f: i for i, f in enumerate(fields)}
    ns = dict(ns)
    computed, parts = [], []
    for k, c in enumerate(cols):
        if c.field is not None:
            local = f"x{at[c.field]}"
        else:
            ns[f"f{k}"] = memo(c.fn) if len(c.reads) == 1 else c.fn
            local = f"d{k}"
            computed.append(f"    {local} = f{k}({', '.join(f'x{at[a]}' for a in c.reads)})\n")
        parts.append(cell(c, local))
    src = (f"def {name}(r):\n    " + "".join(f"x{i}, " for i in range(len(fields))) + "= r\n" + "".join(computed)
           + "    return (\n" + "".join(f"        {p},\n" for p in parts) + "    )\n")
    exec(compile(src, f"<{name}>", "exec"), ns)
    return ns[name]
