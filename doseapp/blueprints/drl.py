"""The DRL comparison page (/drl): per standard name and system, n, median, 75th percentile, the DRL
with its source and the ratio, a chart per standard name (medians per system as bars, the DRL as a
line, the 75th percentiles as markers), and the comparison as XLSX for the radiation protection
committee. The arguments are read by read_args(), which the API shares."""
from __future__ import annotations

import tempfile
from pathlib import Path

from bokeh.embed import components
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, HoverTool, Span
from bokeh.plotting import figure
from flask import Blueprint, after_this_request, g, render_template, request, send_file
from flask_babel import gettext as _


from doseapp.display.dashboard import MODALITY_NAMES as SHOWN_NAMES
from doseapp.exports.xlsx_writer import XlsxOut
from doseapp.lazy_text import lazy_gettext as _l
from doseapp.models import SystemSettings, db
from doseapp.security.headers import with_nonce
from doseapp.standards.comparison import BadArgs, Period, Row, compare, default_period, read_args  # noqa: F401
from doseapp.standards.drl import QUANTITIES, UNITS, shown_group

bp = Blueprint("drl", __name__)
bp.add_app_template_filter(shown_group, "patient_group")

MODALITY_NAMES = {"CT": "CT", "RF": "Fluoroscopy", "DX": "Radiography", "MG": "Mammography", "NM": "Nuclear medicine"}
# The quantity labels of doseapp.standards.drl.UNITS that are words (the others are the field's symbols,
# CTDIvol, DLP, …), for the catalogue: pages show quantity_label(), the XLSX keeps English.
_LABEL_WORDS = (_l("Dose at RP"), _l("Administered activity"), _l("Activity per kg"))


def quantity_label(quantity: str) -> str:
    """The quantity's label in the reader's language."""
    return _(UNITS[quantity][3])


@bp.app_template_global()
def drl_flag_factor() -> float:
    """The factor above which the lists mark a study (read once per request)."""
    if "drl_flag_factor" not in g:
        g.drl_flag_factor = SystemSettings.get().drl_flag_factor or 1.5
    return g.drl_flag_factor


@bp.app_template_global()
def study_drls(study) -> list[dict]:
    """For the study page: per quantity of the study's modality with a DRL that applies, the study's
    value, the DRL (display units), its source and the ratio."""
    from doseapp.standards.drl import applicable
    from doseapp.standards.flags import _study_value

    out = []
    for quantity in QUANTITIES.get(study.modality, ()):
        level = applicable(study, quantity)
        value = _study_value(study, quantity)
        if level is None:
            continue
        factor = UNITS[quantity][2]
        out.append({"label": quantity_label(quantity), "unit": UNITS[quantity][1], "drl": level.value * factor,
                    "value": None if value is None else value * factor, "source": level.source,
                    "origin": "local" if level.is_local else "national", "group": level.group,
                    "ratio": None if value is None else value / level.value})
    return out


def _fmt(value, quantity: str) -> str:
    return "" if value is None else f"{value * UNITS[quantity][2]:.3g}"


def _repeated_systems(rows: list[Row]) -> set[str]:
    """The display names that more than one system of the comparison has. Bar categories must differ
    (BokehJS draws nothing for a repeated factor), so such systems (both "REMOVED REMOVED" in
    anonymised files, say) are told apart by their id, on the charts and in the table."""
    ids: dict[str, set] = {}
    for r in rows:
        ids.setdefault(r.system, set()).add(r.equipment_id)
    return {system for system, found in ids.items() if len(found) > 1}


def _charts(rows: list[Row], quantity: str):
    """One figure per standard name and patient group that has a DRL: bars of the median per system,
    the DRL as a horizontal line, the 75th percentile as a marker over each bar."""
    factor, unit = UNITS[quantity][2], UNITS[quantity][1]
    repeated = _repeated_systems(rows)
    groups: dict[tuple, list[Row]] = {}
    for r in rows:
        groups.setdefault((r.standard_name, r.patient_group), []).append(r)
    figs = []
    for (name, group), members in groups.items():
        systems = [f"{r.system} (#{r.equipment_id})" if r.system in repeated else r.system for r in members]
        src = ColumnDataSource({"system": systems, "median": [(r.median or 0) * factor for r in members],
                                "p75": [(r.p75 or 0) * factor for r in members], "n": [r.n for r in members]})
        p = figure(x_range=systems, height=300, sizing_mode="stretch_width", tools="save,reset",
                   title=_("%(name)s (%(group)s): median %(quantity)s per system", name=name, group=shown_group(group),
                           quantity=quantity_label(quantity)), name="drl-chart")
        p.toolbar.logo = None
        p.vbar(x="system", top="median", width=0.6, source=src, color="#4477aa", legend_label=_("Median"))
        p.scatter(x="system", y="p75", source=src, size=10, marker="dash", color="#222222",
                  legend_label=_("75th percentile"))
        drl = next((r.drl for r in members if r.drl is not None), None)
        if drl is not None:
            p.add_layout(Span(location=drl.value * factor, dimension="width", line_color="#cc3311",
                              line_width=2, line_dash="dashed", name="drl-line"))
            p.line([], [], color="#cc3311", line_dash="dashed", legend_label=_("DRL %(value)s %(unit)s", value=f"{drl.value * factor:.3g}", unit=unit))
        p.add_tools(HoverTool(tooltips=[(_("System"), "@system"), (_("Median"), "@median{0.[000]}"),
                                        (_("75th percentile"), "@p75{0.[000]}"), (_("Studies"), "@n")]))
        p.yaxis.axis_label = f"{quantity_label(quantity)} ({unit})"
        p.y_range.start = 0
        # The axis reaches the DRL, so its line is drawn even when every median is far below it.
        top = max([(r.p75 or 0) * factor for r in members] + [(r.median or 0) * factor for r in members]
                  + ([drl.value * factor] if drl is not None else []))
        if top > 0:
            p.y_range.end = top * 1.12
        p.legend.location = "top_left"
        figs.append(p)
    return column(*figs, sizing_mode="stretch_width") if figs else None


@bp.route("/drl")
def page():
    settings = SystemSettings.get()
    error = None
    given = request.args.to_dict()
    # The form keeps the quantity chosen when the modality is changed: one the new modality does not
    # have gives way to its first (the API and the XLSX link still refuse it).
    if given.get("quantity") and given["quantity"].lower() not in QUANTITIES.get(
            (given.get("modality") or "CT").strip().upper(), (given["quantity"].lower(),)):
        given.pop("quantity")
    try:
        modality, quantity, name, period = read_args(given, settings)
    except BadArgs as exc:
        error = str(exc)
        modality, quantity, name, period = "CT", "dlp", None, default_period(settings)
    rows = compare(modality, quantity, standard_name=name, period=period, settings=settings)
    db.session.commit()
    layout = _charts(rows, quantity)
    script, div = components(layout) if layout is not None else ("", "")
    # A full page (not an htmx swap): the inline script needs this request's nonce to run.
    script = with_nonce(script)
    args = {"modality": modality, "quantity": quantity, "date_from": period.date_from.isoformat(),
            "date_until": period.date_until.isoformat(), **({"standard_name": name} if name else {})}
    return render_template("drl/page.html", rows=rows, modality=modality, quantity=quantity, period=period,
                           name=name, error=error, settings=settings,
                           modalities={m: SHOWN_NAMES.get(m, m) for m in MODALITY_NAMES}, quantity_label=quantity_label,
                           repeated=_repeated_systems(rows), quantities=QUANTITIES, units=UNITS, fmt=_fmt, script=script, div=div, args=args)


HEADERS = ["Standard name", "Patient group", "System", "Quantity", "Unit", "Studies (n)", "Median",
           "75th percentile", "DRL", "DRL source", "Median / DRL", "Above the DRL", "Note"]


def write_xlsx(path: Path, rows: list[Row], modality: str, quantity: str, period: Period, min_sample: int) -> None:
    """The comparison as a workbook (constant memory; every text cell is an inline string, so a value
    starting with "=" is shown as text, never run as a formula)."""
    out = XlsxOut(path)
    ws = out.sheet("DRL comparison")
    factor, unit = UNITS[quantity][2], UNITS[quantity][1]
    out.row(ws, [f"{MODALITY_NAMES[modality]} {UNITS[quantity][3]} compared with diagnostic reference levels, "
                 f"{period.words()}; minimum sample {min_sample} studies"], ["text"])
    out.header(ws, HEADERS)
    for r in rows:
        scale = (lambda v: None if v is None else v * factor)
        out.row(ws, [r.standard_name, r.patient_group, r.system, UNITS[quantity][3], unit, r.n, scale(r.median),
                     scale(r.p75), scale(r.drl.value) if r.drl else None, r.drl.source if r.drl else "no DRL",
                     r.ratio, "yes" if r.exceeds else "no",
                     f"too few studies (under {r.min_sample})" if r.too_few else ""],
               ["text", "text", "text", "text", "text", "num", "num", "num", "num", "text", "num", "text", "text"])
    out.close()


@bp.route("/drl/comparison.xlsx")
def xlsx():
    settings = SystemSettings.get()
    try:
        modality, quantity, name, period = read_args(request.args, settings)
    except BadArgs as exc:
        return render_template("error.html", code=400, title="Not understood", message=str(exc)), 400
    rows = compare(modality, quantity, standard_name=name, period=period, settings=settings)
    tmp = Path(tempfile.mkstemp(suffix=".xlsx")[1])
    write_xlsx(tmp, rows, modality, quantity, period, settings.drl_min_sample)
    db.session.commit()

    @after_this_request
    def _remove(resp):
        resp.call_on_close(lambda: tmp.unlink(missing_ok=True))
        return resp
    return send_file(tmp, as_attachment=True, download_name=f"drl-{modality.lower()}-{quantity}-"
                     f"{period.date_from.isoformat()}-{period.date_until.isoformat()}.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
