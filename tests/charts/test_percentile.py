"""Medians and quartiles: PostgreSQL's percentile_cont and the SQLite aggregate that stands in for it
(doseapp/charts/aggregate.py) give the same numbers, to the last bit, as the interpolation worked out
by hand here: sorted values, position q * (n - 1), lo + (hi - lo) * fraction. Each case runs through
the chart SQL on the test database (SQLite in the first pass, PostgreSQL in the second), so both
databases are held to the same exact values."""
from __future__ import annotations

import pytest
from sqlalchemy import Float, String, cast, literal, select, union_all

from doseapp.charts import aggregate

# Values chosen so that the order of the arithmetic shows: (0.1 + 0.7) / 2 is 0.39999999999999997,
# 0.1 + (0.7 - 0.1) * 0.5 is 0.4 (PostgreSQL's float8_lerp).
GROUPS = {
    "one": [42.5],
    "two": [0.7, 0.1],                      # even: median between the two
    "odd": [3.3, 1.1, 2.2, 5.5, 4.4],       # odd: the middle value itself
    "even": [0.3, 0.1, 0.7, 0.2],
    "ties": [2.0, 7.0, 2.0, 2.0, 9.0, 7.0],  # repeated values, the middle pair tied
    "tiny": [1e-05, 3e-05, 2.5e-05],        # DAP in Gy·m², as stored
}


def by_hand(values: list[float], q: float) -> float:
    s = sorted(values)
    pos = q * (len(s) - 1)
    i = int(pos)
    if pos == i:
        return s[i]
    return s[i] + (s[i + 1] - s[i]) * (pos - i)


@pytest.mark.parametrize("values,q,want", [
    ([42.5], 0.5, 42.5), ([42.5], 0.25, 42.5),
    ([0.7, 0.1], 0.5, 0.4), ([0.3, 0.1, 0.7, 0.2], 0.5, 0.25),
    ([3.3, 1.1, 2.2, 5.5, 4.4], 0.5, 3.3), ([3.3, 1.1, 2.2, 5.5, 4.4], 0.25, 2.2),
    ([1.0, 2.0, 3.0, 4.0], 0.25, 1.75), ([1.0, 2.0, 3.0, 4.0], 0.75, 3.25),
    ([2.0, 7.0, 2.0, 2.0, 9.0, 7.0], 0.5, 4.5), ([2.0, 2.0, 2.0], 0.75, 2.0),
])
def test_percentile_cont_in_python(values, q, want):
    assert aggregate.percentile_cont(list(values), q) == want
    assert aggregate.percentile_cont([], q) is None


def _values_query():
    """A SELECT of (val, cat) rows, the shape aggregate.rows() gives, from literals."""
    parts = [select(cast(literal(v), Float).label("val"), cast(literal(cat), String).label("cat"))
             for cat, vals in GROUPS.items() for v in vals]
    return select(union_all(*parts).subquery("lit"))


def test_median_and_quartiles_match_percentile_cont_exactly(app):
    got = {r["cat"]: r for r in aggregate.averages(_values_query(), ["cat"], quartiles=True)}
    assert set(got) == set(GROUPS)
    for cat, vals in GROUPS.items():
        r = got[cat]
        assert r["n"] == len(vals)
        # Exact equality: the SQL's interpolation is PostgreSQL's, step by step.
        assert (r["median"], r["q1"], r["q3"]) == (by_hand(vals, 0.5), by_hand(vals, 0.25), by_hand(vals, 0.75)), cat
        assert (r["min"], r["max"]) == (min(vals), max(vals))
    assert got["two"]["median"] == 0.4 and (0.1 + 0.7) / 2 != 0.4


def test_median_over_the_whole_selection(app):
    """No group keys: one row over every value (the shape a chart with one series asks for)."""
    every = [v for vals in GROUPS.values() for v in vals]
    (row,) = aggregate.averages(_values_query(), [], median=True)
    assert (row["n"], row["median"]) == (len(every), by_hand(every, 0.5))
