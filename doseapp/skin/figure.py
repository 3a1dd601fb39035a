"""The 2D skin dose map on the study page: the unrolled phantom surface as a Bokeh image.

Pure: a dose array (Gy, rows from the top of the head to the feet, columns round the body from the
anterior midline towards the patient's left) and the phantom's surface names in, a Bokeh figure and
plain data out. The page's controls (static/js/skinmap.js) change the colour mapper named
``skin-colour-mapper`` (scheme, window) and show or hide the renderers named ``skin-overlay``; the 3D
view uses the same palettes (``PALETTES``) and window.
"""
from __future__ import annotations

from collections import deque

import numpy as np
from bokeh.models import (BasicTickFormatter, ColorBar, ColumnDataSource, CustomJSHover, HoverTool, LabelSet, LinearColorMapper,
                          Range1d)
from bokeh.palettes import Greys256, Turbo256, Viridis256
from bokeh.plotting import figure

from doseapp.skin.result import SURFACES

MAPPER_NAME = "skin-colour-mapper"
OVERLAY_NAME = "skin-overlay"
PLOT_NAME = "skin-map-2d"


def _hot256() -> tuple[str, ...]:
    """Black, red, yellow, white (matplotlib's "hot"): hot spots stand out on a dark skin."""
    out = []
    for i in range(256):
        x = i / 255
        r, g, b = min(1.0, x / 0.365), min(1.0, max(0.0, (x - 0.365) / 0.381)), min(1.0, max(0.0, (x - 0.746) / 0.254))
        out.append("#%02x%02x%02x" % (round(r * 255), round(g * 255), round(b * 255)))
    return tuple(out)


# key: (label for the menu, 256 colours from the lowest dose to the highest)
PALETTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "viridis": ("Viridis (colour-blind safe)", tuple(Viridis256)),
    "hot": ("Hot (black, red, yellow, white)", _hot256()),
    "grey": ("Greyscale (as openSkin)", tuple(Greys256)),
    "turbo": ("Rainbow", tuple(Turbo256)),
}
DEFAULT_PALETTE = "viridis"


def default_window(dose: np.ndarray) -> tuple[float, float]:
    """The first window: 0 Gy to the peak (or 1 mGy for a map with no dose at all)."""
    peak = float(np.nanmax(dose)) if dose.size else 0.0
    return 0.0, peak if peak > 0 else 0.001


def colour_index(value: float, low: float, high: float, n: int = 256) -> int:
    """The palette entry a dose gets in the window low..high: what Bokeh's LinearColorMapper and the
    3D view (skinmap.js, colourIndex) both do. Below low: 0; at or above high: n - 1."""
    if high <= low:
        return n - 1 if value >= high else 0
    if value >= high:
        return n - 1
    return max(0, min(n - 1, int((value - low) / (high - low) * n)))


def level_width(low: float, high: float) -> tuple[float, float]:
    """Window level (centre) and width of the window low..high."""
    return (low + high) / 2, high - low


def window_from(level: float, width: float) -> tuple[float, float]:
    """The window low..high of a level (centre) and width (never negative)."""
    width = max(0.0, width)
    return level - width / 2, level + width / 2


def _components(surface: np.ndarray, name: str) -> list[list[tuple[int, int]]]:
    """The connected pieces of the cells named `name`: 4-neighbours, and the first and last columns
    are neighbours too (the map is a surface cut open along one line round the body)."""
    rows, cols = surface.shape
    todo = surface == name
    pieces = []
    for start in zip(*np.nonzero(todo)):
        if not todo[start]:
            continue
        todo[start] = False
        piece, queue = [], deque([start])
        while queue:
            i, j = queue.popleft()
            piece.append((int(i), int(j)))
            for a, b in ((i - 1, j), (i + 1, j), (i, (j - 1) % cols), (i, (j + 1) % cols)):
                if 0 <= a < rows and todo[a, b]:
                    todo[a, b] = False
                    queue.append((a, b))
        pieces.append(piece)
    return pieces


def _label(piece: list[tuple[int, int]], text: str, rows: int, cols: int) -> dict:
    """Where a piece's label goes: the middle of its middle row; a piece cut by the map's edges is
    labelled on its larger side, and a piece at an edge gets its label inside that edge, a little
    lower, so that it does not run into the next label."""
    ii = np.array([p[0] for p in piece]) + 0.5
    jj = np.array([p[1] for p in piece]) + 0.5
    spans_all = len(set(jj.tolist())) == cols
    if not spans_all and jj.min() < 1 and jj.max() > cols - 1:
        left = jj < cols / 2
        keep = left if left.sum() >= (~left).sum() else ~left
        ii, jj = ii[keep], jj[keep]
    mid_i = float(np.median(ii))
    in_row = jj[np.abs(ii - mid_i) < 0.51]
    mid_j = float(np.median(in_row)) if in_row.size else float(np.median(jj))
    at_left, at_right = jj.min() < 1, jj.max() > cols - 1
    align = "left" if at_left and not at_right else "right" if at_right and not at_left else "center"
    x = 0.5 if align == "left" else cols - 0.5 if align == "right" else mid_j
    y = min(rows - 0.5, mid_i + 8) if align != "center" else mid_i
    return {"text": text, "x": x, "y": y, "align": align}


def overlay(surface: np.ndarray, min_cells: int = 20, names: dict[str, str] | None = None) -> dict:
    """The region overlay of the unrolled phantom: the boundary lines between differently named cells
    (``xs``/``ys`` for a multi-line, in cell units: x = column, y = row) and one label per surface,
    on its largest piece (of at least ``min_cells`` cells), not on every strip at the neck or the
    crown (``labels``: [{"text", "x", "y", "align"}]). ``names``: a label per surface name (the page's
    language); the surface's own name, capitalised, otherwise."""
    surface = np.asarray(surface)
    rows, cols = surface.shape
    xs: list[list[float]] = []
    ys: list[list[float]] = []
    # Vertical boundaries: between column j-1 and j, merged along runs of rows.
    diff_v = surface[:, 1:] != surface[:, :-1]
    for j in range(1, cols):
        i = 0
        while i < rows:
            if diff_v[i, j - 1]:
                start = i
                while i < rows and diff_v[i, j - 1]:
                    i += 1
                xs.append([j, j])
                ys.append([start, i])
            else:
                i += 1
    diff_h = surface[1:, :] != surface[:-1, :]
    for i in range(1, rows):
        j = 0
        while j < cols:
            if diff_h[i - 1, j]:
                start = j
                while j < cols and diff_h[i - 1, j]:
                    j += 1
                xs.append([start, j])
                ys.append([i, i])
            else:
                j += 1
    labels = []
    for name in SURFACES:
        pieces = _components(surface, name)
        if pieces and max(len(p) for p in pieces) >= min_cells:
            labels.append(_label(max(pieces, key=len), (names or {}).get(name, name.capitalize()), rows, cols))
    return {"xs": xs, "ys": ys, "labels": labels}


# The words on the figure (pages pass them in the reader's language; these are the English).
WORDS = {"across": "Round the body from the front, to the left (cm)", "down": "From the top of the head (cm)",
         "dose": "Dose", "from_head": "From the head", "round_body": "Round the body"}


def build(dose: np.ndarray, surface: np.ndarray | None = None, *, valid: np.ndarray | None = None,
          cell_size_cm: float = 1.0, palette: str = DEFAULT_PALETTE, height: int = 480,
          words: dict[str, str] | None = None, surface_names: dict[str, str] | None = None):
    """The Bokeh figure of the unrolled map: head at the top, columns round the body as the array has
    them. One image (the dose in Gy, one pixel per cell; cells that are not skin, ``valid`` False,
    left empty), a colour bar, the hover (dose in Gy and mGy, the cell's place) and, hidden until the
    page's toggle shows it, the region overlay. ``words`` replaces any of WORDS; ``surface_names`` labels
    the overlay's surfaces."""
    words = {**WORDS, **(words or {})}
    dose = np.asarray(dose, dtype=float)
    low, high = default_window(dose)
    if valid is not None and not np.all(valid):
        dose = np.where(valid, dose, np.nan)
    rows, cols = dose.shape
    w, h = cols * cell_size_cm, rows * cell_size_cm
    mapper = LinearColorMapper(palette=list(PALETTES[palette][1]), low=low, high=high, name=MAPPER_NAME,
                               low_color=PALETTES[palette][1][0], high_color=PALETTES[palette][1][-1],
                               nan_color="rgba(0, 0, 0, 0)")
    plot_w = max(260, min(560, int((height - 90) * w / h) + 150))
    p = figure(name=PLOT_NAME, width=plot_w, height=height, x_range=Range1d(0, w), y_range=Range1d(h, 0),
               tools="", toolbar_location=None, match_aspect=True,
               x_axis_label=words["across"], y_axis_label=words["down"])
    source = ColumnDataSource({"image": [dose], "x": [0.0], "y": [0.0], "dw": [w], "dh": [h]})
    img = p.image(image="image", x="x", y="y", dw="dw", dh="dh", source=source, color_mapper=mapper,
                  name="skin-dose")
    p.grid.visible = False
    p.axis.axis_label_text_font_size = "11px"
    p.axis.axis_label_text_font_style = "normal"
    dose_text = CustomJSHover(code=(
        "const v = Number(value); if (!isFinite(v)) return '—';"
        "return (v < 0.1 ? v.toFixed(4) : v.toFixed(3)) + ' Gy (' + (v * 1000).toFixed(1) + ' mGy)';"))
    place = CustomJSHover(code="return Math.floor(Number(value)) + ' cm';")
    p.add_tools(HoverTool(renderers=[img], tooltips=[(words["dose"], "@image{custom}"), (words["from_head"], "$y{custom}"),
                                                     (words["round_body"], "$x{custom}")],
                          formatters={"@image": dose_text, "$y": place, "$x": place}))
    p.add_layout(ColorBar(color_mapper=mapper, title="Gy", width=14, label_standoff=6, padding=4,
                          formatter=BasicTickFormatter(use_scientific=False)), "right")
    if surface is not None:
        ov = overlay(surface if valid is None else np.where(valid, surface, ""), names=surface_names)
        lines = p.multi_line(xs=[[x * cell_size_cm for x in s] for s in ov["xs"]],
                             ys=[[y * cell_size_cm for y in s] for s in ov["ys"]], line_color="white",
                             line_width=1.5, line_alpha=0.9, name=OVERLAY_NAME, visible=False)
        lines.nonselection_glyph = None
        lab = ColumnDataSource({"text": [lb["text"] for lb in ov["labels"]],
                                "x": [lb["x"] * cell_size_cm for lb in ov["labels"]],
                                "y": [lb["y"] * cell_size_cm for lb in ov["labels"]],
                                "align": [lb["align"] for lb in ov["labels"]]})
        p.add_layout(LabelSet(x="x", y="y", text="text", source=lab, text_color="white", text_font_size="12px",
                              text_align="align", text_baseline="middle", background_fill_color="black",
                              background_fill_alpha=0.55, name=OVERLAY_NAME, visible=False))
    return p
