"""A sparkline as the numbers an inline SVG needs: a line through the values, a dot on each, and a
column per value to hover and click. Drawn by the server: no script, nothing to fetch."""
from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 132, 36, 3


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    column_x: float  # the clickable column around the point
    column_width: float


@dataclass(frozen=True)
class Sparkline:
    width: int
    height: int
    points: list[Point]
    baseline: float  # the y of zero

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:g},{p.y:g}" for p in self.points)


def sparkline(values: list[int], width: int = WIDTH, height: int = HEIGHT, pad: int = PAD) -> Sparkline:
    """Points for `values` from left to right, scaled so the largest touches the top and zero the
    bottom (a flat line of zeros lies on the bottom)."""
    n = len(values)
    top = max(values, default=0) or 1
    step = (width - 2 * pad) / max(n - 1, 1)
    span = height - 2 * pad
    points = []
    for i, v in enumerate(values):
        x = round(pad + i * step, 1)
        y = round(pad + span * (1 - v / top), 1)
        points.append(Point(x, y, round(max(x - step / 2, 0), 1), round(step if n > 1 else width, 1)))
    return Sparkline(width, height, points, float(height - pad))


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float


def bars(values: list[float], width: int = WIDTH, height: int = HEIGHT, pad: int = PAD, gap: float = 1) -> list[Bar]:
    """A bar per value from left to right, scaled so the largest reaches the top; a zero is no bar
    (height 0) but keeps its place."""
    n = len(values)
    top = max(values, default=0) or 1
    step = (width - 2 * pad) / max(n, 1)
    span = height - 2 * pad
    out = []
    for i, v in enumerate(values):
        h = round(span * max(v, 0) / top, 1)
        out.append(Bar(round(pad + i * step, 1), round(height - pad - h, 1), round(max(step - gap, 1), 1), h))
    return out
