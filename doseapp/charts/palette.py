"""Colours for a chart's series that do not repeat within the chart, however many there are.

Up to 10 series: Bokeh's Category10; up to 20: Category20 (both well-tested qualitative palettes).
Past 20, colours are generated: hues a golden angle (137.5°) apart, so each new hue falls in the
largest gap left, with three lightness steps and two saturations, so neighbours in the sequence
also differ in lightness. Sixty colours stay at least ~6 CIELAB units apart (clearly different
side by side); tests/charts/test_figures.py checks it."""
from __future__ import annotations

import colorsys

from bokeh.palettes import Category10_10, Category20_20

GOLDEN_ANGLE = 137.50776405003785
LIGHTNESS = (0.45, 0.62, 0.32)
SATURATION = (0.75, 0.55)


def palette(n: int) -> list[str]:
    """`n` distinct colours as #rrggbb (at least one)."""
    n = max(n, 1)
    if n <= 10:
        return list(Category10_10[:n])
    if n <= 20:
        return list(Category20_20[:n])
    return [_generated(i) for i in range(n)]


def _generated(i: int) -> str:
    hue = (i * GOLDEN_ANGLE) % 360 / 360
    light = LIGHTNESS[i % len(LIGHTNESS)]
    sat = SATURATION[(i // len(LIGHTNESS)) % len(SATURATION)]
    r, g, b = colorsys.hls_to_rgb(hue, light, sat)
    return "#{:02x}{:02x}{:02x}".format(round(r * 255), round(g * 255), round(b * 255))
