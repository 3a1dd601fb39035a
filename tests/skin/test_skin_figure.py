"""The 2D skin dose map figure (doseapp/skin/figure.py): the image holds the array cell for cell, the
colour mapping and window arithmetic the page and the 3D view share, the palettes, and the region
overlay drawn from the phantom's surface names."""
from __future__ import annotations

import numpy as np
import pytest
from bokeh.models import ColorBar, HoverTool, LabelSet, LinearColorMapper

from doseapp.skin import figure


def synthetic(rows=40, cols=24):
    """A map with a known peak and a surface of four bands round the body, head and feet rows."""
    dose = np.zeros((rows, cols), dtype=np.float32)
    dose[10, 12] = 2.5
    dose[11, 12] = 1.25
    dose[30, 3] = 0.004
    surface = np.empty((rows, cols), dtype=object)
    surface[:, 0:3] = "anterior"
    surface[:, 3:9] = "left"
    surface[:, 9:15] = "posterior"
    surface[:, 15:21] = "right"
    surface[:, 21:] = "anterior"
    surface[0:2, :] = "superior"
    surface[-2:, :] = "inferior"
    return dose, surface


def _models(p, kind):
    return [m for m in p.references() if isinstance(m, kind)]


def test_the_image_holds_every_cell_of_the_array():
    dose, surface = synthetic()
    p = figure.build(dose, surface, cell_size_cm=1.0)
    image = next(r for r in p.renderers if getattr(r, "name", None) == "skin-dose")
    data = image.data_source.data
    shown = np.asarray(data["image"][0])
    assert shown.shape == (40, 24)
    np.testing.assert_array_equal(shown, dose.astype(float))
    assert (data["x"], data["y"], data["dw"], data["dh"]) == ([0.0], [0.0], [24.0], [40.0])
    # Head (row 0) at the top: the y axis runs from the feet end (40 cm) at the bottom to 0 at the top.
    assert (p.y_range.start, p.y_range.end) == (40.0, 0.0) and (p.x_range.start, p.x_range.end) == (0.0, 24.0)
    # 2 cm cells: the same array, twice the size in cm.
    p2 = figure.build(dose, surface, cell_size_cm=2.0)
    d2 = next(r for r in p2.renderers if getattr(r, "name", None) == "skin-dose").data_source.data
    assert (d2["dw"], d2["dh"]) == ([48.0], [80.0])


def test_the_colour_mapper_starts_at_zero_to_the_peak_with_the_chosen_palette():
    dose, surface = synthetic()
    p = figure.build(dose, surface, palette="hot")
    mapper = next(m for m in _models(p, LinearColorMapper) if m.name == figure.MAPPER_NAME)
    assert (mapper.low, mapper.high) == (0.0, 2.5)
    assert list(mapper.palette) == list(figure.PALETTES["hot"][1])
    bar = _models(p, ColorBar)[0]
    assert bar.color_mapper is mapper and bar.title == "Gy"
    # A map with no dose gets a window of 0 to 1 mGy, never a zero-width one.
    assert figure.default_window(np.zeros((3, 3))) == (0.0, 0.001)


def test_palettes_are_256_colours_from_low_to_high():
    assert len(figure.PALETTES) >= 3
    for key, (label, colours) in figure.PALETTES.items():
        assert len(colours) == 256 and all(c.startswith("#") and len(c) == 7 for c in colours), key
        assert label
    assert figure.PALETTES["grey"][1][0] == "#000000" and figure.PALETTES["grey"][1][-1] == "#ffffff"
    hot = figure.PALETTES["hot"][1]
    assert hot[0] == "#000000" and hot[-1] == "#ffffff" and hot[93] == "#ff0000"


@pytest.mark.parametrize("value, low, high, index", [
    (0.0, 0.0, 2.5, 0), (2.5, 0.0, 2.5, 255), (3.0, 0.0, 2.5, 255), (-1.0, 0.0, 2.5, 0),
    (1.25, 0.0, 2.5, 128), (1.0, 0.0, 2.5, 102), (1.0, 1.0, 2.0, 0), (1.5, 1.0, 2.0, 128),
    (1.999, 1.0, 2.0, 255), (0.5, 1.0, 1.0, 0), (1.0, 1.0, 1.0, 255),
])
def test_colour_index_is_what_the_mapper_does(value, low, high, index):
    assert figure.colour_index(value, low, high) == index


def test_window_level_and_width_convert_both_ways():
    assert figure.level_width(0.0, 2.5) == (1.25, 2.5)
    assert figure.window_from(1.25, 2.5) == (0.0, 2.5)
    assert figure.window_from(3.0, 2.0) == (2.0, 4.0)
    assert figure.window_from(1.0, -5.0) == (1.0, 1.0)  # a negative width is no width


def test_the_hover_shows_the_dose_in_gy_and_mgy():
    dose, surface = synthetic()
    p = figure.build(dose, surface)
    hover = _models(p, HoverTool)[0]
    assert dict(hover.tooltips)["Dose"] == "@image{custom}"
    code = hover.formatters["@image"].code
    assert "' Gy ('" in code and "* 1000" in code and "' mGy)'" in code


def test_the_overlay_follows_the_surface_and_starts_hidden():
    dose, surface = synthetic()
    ov = figure.overlay(surface)
    labels = {lb["text"]: (lb["x"], lb["y"], lb["align"]) for lb in ov["labels"]}
    assert len(ov["labels"]) == len(labels) == 6  # each surface named once
    assert labels["Posterior"] == (12.0, 20.0, "center")
    assert labels["Left"][::2] == (6.0, "center") and labels["Right"][::2] == (18.0, "center")
    # The front is cut open at the map's edges (3 columns at the left, 3 at the right): one piece,
    # labelled on its larger side (a tie: the left), inside the edge and a little lower.
    assert labels["Anterior"] == (0.5, 28.0, "left")
    assert labels["Superior"][1] == 1.0 and labels["Inferior"][1] == 39.0
    # Boundary lines: the four side boundaries (columns 3, 9, 15, 21) between rows 2 and 38, and the
    # head and feet rows across the whole width.
    segs = sorted(zip(map(tuple, ov["xs"]), map(tuple, ov["ys"])))
    assert segs == sorted([((j, j), (2, 38)) for j in (3, 9, 15, 21)] + [((0, 24), (2, 2)), ((0, 24), (38, 38))])
    p = figure.build(dose, surface)
    parts = [m for m in p.references() if getattr(m, "name", None) == figure.OVERLAY_NAME]
    assert len(parts) == 2 and not any(m.visible for m in parts)
    label_set = next(m for m in parts if isinstance(m, LabelSet))
    assert sorted(label_set.source.data["text"]) == sorted(labels)
    # Without a phantom there is no overlay (and the page shows no toggle).
    assert not [m for m in figure.build(dose).references() if getattr(m, "name", None) == figure.OVERLAY_NAME]


def test_cells_that_are_not_skin_are_left_empty():
    dose, surface = synthetic()
    valid = np.ones(dose.shape, bool)
    valid[0:2, 12:] = False  # e.g. openSkin's unused head cells
    p = figure.build(dose, surface, valid=valid)
    shown = np.asarray(next(r for r in p.renderers if getattr(r, "name", None) == "skin-dose").data_source.data["image"][0])
    assert np.isnan(shown[~valid]).all()
    np.testing.assert_array_equal(shown[valid], dose[valid].astype(float))
    mapper = next(m for m in _models(p, LinearColorMapper) if m.name == figure.MAPPER_NAME)
    assert mapper.nan_color == "rgba(0, 0, 0, 0)" and (mapper.low, mapper.high) == (0.0, 2.5)


@pytest.mark.parametrize("kind", ["doseapp", "openskin"])
def test_the_overlay_of_the_real_phantoms_names_each_surface_where_it_is(kind):
    from doseapp.skin import phantom

    ph = phantom.build(kind, 1.786, 73.2, "HFS")
    surface = np.where(ph.valid, ph.surface, "")
    ov = figure.overlay(surface)
    texts = [lb["text"] for lb in ov["labels"]]
    assert {"Anterior", "Posterior", "Left", "Right"} <= set(texts)
    assert len(texts) == len(set(texts)), texts  # one label each, not one on every strip
    for lb in ov["labels"]:
        if lb["align"] == "center":  # a centred label sits on a cell of its own surface
            assert surface[int(lb["y"]), int(lb["x"])] == lb["text"].lower(), lb
    assert ov["xs"] and len(ov["xs"]) == len(ov["ys"])
