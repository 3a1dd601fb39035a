"""The history's chart: cumulative fluoroscopy DAP and dose at RP as step lines over time, and each
CT study's DLP as a second panel on the same time axis. Nothing here reads the database."""
from __future__ import annotations

from bokeh.layouts import column
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure

from doseapp.filters import DAP_DISPLAY_PER_STORED
from doseapp.patients.history import Row, running_totals

TOOLS = "pan,xbox_zoom,box_zoom,wheel_zoom,reset,save"
DAP_COLOUR, RP_COLOUR, DLP_COLOUR = "#1f77b4", "#d62728", "#2ca02c"


def has_points(rows: list[Row]) -> bool:
    """Whether there is anything to draw: a dated fluoroscopy or CT study."""
    return any(r.study_datetime is not None and r.modality in ("RF", "CT") for r in rows)


def build(rows: list[Row]):
    """The Bokeh layout for a history's rows (any order)."""
    steps = running_totals(rows)
    fluoro = ColumnDataSource({
        "when": [r.study_datetime for r, _, _ in steps],
        "dap": [dap * DAP_DISPLAY_PER_STORED for _, dap, _ in steps],
        "rp": [rp for _, _, rp in steps],
        "study_dap": [(r.dap_gym2 or 0.0) * DAP_DISPLAY_PER_STORED for r, _, _ in steps],
        "study_rp": [r.dose_rp_gy or 0.0 for r, _, _ in steps],
        "label": [r.description or "" for r, _, _ in steps],
    })
    cts = [r for r in rows if r.modality == "CT" and r.study_datetime is not None and r.dlp_mgycm is not None]
    ct = ColumnDataSource({"when": [r.study_datetime for r in cts], "dlp": [r.dlp_mgycm for r in cts],
                           "label": [r.description or "" for r in cts]})

    dap = figure(title="Cumulative fluoroscopy DAP (cGy·cm²)", x_axis_type="datetime", height=230,
                 sizing_mode="stretch_width", tools=TOOLS, name="history-dap")
    dap.step("when", "dap", source=fluoro, mode="after", line_width=2, color=DAP_COLOUR)
    dap.scatter("when", "dap", source=fluoro, size=7, color=DAP_COLOUR)
    dap.add_tools(HoverTool(tooltips=[("Study", "@label"), ("Date", "@when{%F}"), ("Study DAP", "@study_dap{0.00}"),
                                      ("Cumulative DAP", "@dap{0.00}")], formatters={"@when": "datetime"}))
    rp = figure(title="Cumulative fluoroscopy dose at RP (Gy)", x_axis_type="datetime", height=230,
                sizing_mode="stretch_width", tools=TOOLS, x_range=dap.x_range, name="history-rp")
    rp.step("when", "rp", source=fluoro, mode="after", line_width=2, color=RP_COLOUR)
    rp.scatter("when", "rp", source=fluoro, size=7, color=RP_COLOUR)
    rp.add_tools(HoverTool(tooltips=[("Study", "@label"), ("Date", "@when{%F}"), ("Study dose at RP", "@study_rp{0.0000}"),
                                     ("Cumulative dose at RP", "@rp{0.0000}")], formatters={"@when": "datetime"}))
    dlp = figure(title="CT DLP per study (mGy·cm)", x_axis_type="datetime", height=200,
                 sizing_mode="stretch_width", tools=TOOLS, x_range=dap.x_range, name="history-dlp")
    dlp.scatter("when", "dlp", source=ct, size=9, marker="diamond", color=DLP_COLOUR)
    dlp.segment(x0="when", y0=0, x1="when", y1="dlp", source=ct, color=DLP_COLOUR, line_width=2)
    dlp.add_tools(HoverTool(tooltips=[("Study", "@label"), ("Date", "@when{%F}"), ("DLP", "@dlp{0.0}")],
                            formatters={"@when": "datetime"}))
    for f in (dap, rp, dlp):
        f.y_range.start = 0
        f.toolbar.logo = None
    return column(dap, rp, dlp, sizing_mode="stretch_width", name="history-chart")
