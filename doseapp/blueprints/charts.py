"""Charts under each study list, and each user's chart options.

The list page asks for the chart panel by HTMX once the list is on screen (hx-trigger="load"); the
panel lays the charts out in a grid and asks for the first EAGER_CHARTS at once and each of the
others when it scrolls into view (hx-trigger="intersect once"), so the list never waits for a chart
and charts nobody scrolls to cost nothing. Every chart request carries the list's filter arguments
and reads them through doseapp/filters.py, so a chart shows exactly the list's studies; `scale=log`
draws its value axis logarithmic."""
from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

from bokeh.embed import components
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from doseapp import filters, roles
from doseapp.blueprints.studies import MODALITY_URL, NAMES, SLUGS
from doseapp.charts import catalog, figures
from doseapp.charts import options as chart_options
from doseapp.charts.data import ChartData, compute, drill_args
from doseapp.exports.csv_writer import cell
from doseapp.extract.units import significant
from doseapp.models import User, db
from doseapp.models.users import UserPreferences
from doseapp.security.safe_urls import same_site_or, same_site_path
from doseapp.security.headers import allow_bokeh

bp = Blueprint("charts", __name__)
BOKEH_SCRIPTS = ("bokeh.min.js", "bokeh-widgets.min.js")
EAGER_CHARTS = 2  # the first row of the grid loads with the panel; the rest as they scroll into view


def user_options(user_id: int | None = None) -> chart_options.ChartOptions:
    uid = user_id if user_id is not None else (current_user.id if current_user.is_authenticated else None)
    return chart_options.load(db.session.get(UserPreferences, uid) if uid is not None else None)


@bp.app_template_global()
def chart_panel_url(modality: str, values: dict) -> str | None:
    """Where the list page loads its charts from, or None when the user has charts off (or may not see them)."""
    if not roles.allowed(current_user, roles.ACCESS["charts.panel"]) or not user_options().enabled:
        return None
    args = {k: v for k, v in values.items() if k != "o"}
    return url_for("charts.panel", modality=modality) + ("?" + urlencode(args) if args else "")


@bp.app_template_global()
def bokeh_script_urls() -> list[str]:
    """The scripts of a page that draws charts: BokehJS and our chart controls (static/js/charts.js).
    Also relaxes the page's Content-Security-Policy for Bokeh."""
    allow_bokeh()
    return [url_for("bokehjs.file", filename=f) for f in BOKEH_SCRIPTS] + [url_for("static", filename="js/charts.js")]


def _filtered(modality: str):
    mod = SLUGS[modality]
    return mod, filters.study_query(mod, request.args, current_user)


def _chart_or_404(mod: str, key: str) -> catalog.Chart:
    chart = catalog.chart(mod, key)
    if chart is None:
        abort(404)
    return chart


def _list_link(modality: str, q: filters.StudyQuery):
    base = url_for("studies.study_list", modality=modality)

    def link(args: dict) -> str:
        merged = {k: v for k, v in q.values.items() if k != "o"}
        merged.update(args)
        return base + "?" + urlencode(merged)
    return link


@bp.route(f"/{MODALITY_URL}/charts")
def panel(modality: str):
    mod, q = _filtered(modality)
    opts = user_options()
    args = {k: v for k, v in q.values.items() if k != "o"}
    shown = [catalog.chart(mod, k) for k in opts.shows(mod)] if opts.enabled else []
    return render_template("charts/_panel.html", modality=modality, name=NAMES[mod], charts=shown, args=args,
                           opts=opts, list_url=_list_link(modality, q)({}), eager=EAGER_CHARTS)


@bp.route(f"/{MODALITY_URL}/charts/<chart>")
def chart(modality: str, chart: str):
    mod, q = _filtered(modality)
    spec = _chart_or_404(mod, chart)
    data = compute(spec, q.where, user_options())
    link = _list_link(modality, q)
    log = request.args.get("scale") == "log" and spec.kind in figures.LOG_KINDS
    drawn = figures.build(data, link, log=log)
    script, div = components(drawn.layout)
    args = {k: v for k, v in q.values.items() if k != "o"}
    query = "?" + urlencode(args) if args else ""
    here = url_for("charts.chart", modality=modality, chart=chart)
    toggled = args if log else {**args, "scale": "log"}  # the same chart with the other value axis
    scale_url = here + ("?" + urlencode(toggled) if toggled else "")
    return render_template("charts/_chart.html", data=data, script=script, div=div, drawn=drawn,
                           csv_url=url_for("charts.csv_download", modality=modality, chart=chart) + query,
                           scale_url=scale_url, can_log=spec.kind in figures.LOG_KINDS, drill=_drill_rows(data, link))


def _drill_rows(data: ChartData, link) -> list[str]:
    """Each table row's drill-down URL ("" where none): the same URLs the chart's taps open."""
    out = []
    for r in data.rows:
        args = drill_args(data.chart, r, data.options.case_insensitive) \
            if data.chart.kind in ("bar", "pie", "line") else None
        out.append(link(args) if args is not None else "")
    return out


@bp.app_template_filter("chartcell")
def chartcell(value) -> str:
    """A chart table cell: four significant figures, whole numbers for large values."""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)


def chart_csv_cell(value) -> str:
    """A chart CSV cell: as the exports write it (text neutralised, so a study description cannot be
    a formula), with averages to 12 significant digits: they are arithmetic on stored values scaled
    to display units, whose last bits are rounding noise (a DX DAP median printed 110.13000000000001,
    an MG mAs 34.300000000000004)."""
    return cell(significant(value) if value.__class__ is float else value)


@bp.route(f"/{MODALITY_URL}/charts/<chart>/csv")
def csv_download(modality: str, chart: str):
    mod, q = _filtered(modality)
    spec = _chart_or_404(mod, chart)
    data = compute(spec, q.where, user_options())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([heading for _, heading in data.columns])
    for r in data.rows:
        writer.writerow([chart_csv_cell(r.get(k)) for k, _ in data.columns])
    # A UTF-8 byte order mark, so spreadsheet programs read "cGy·cm²" and accented names correctly.
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{modality}-{chart}.csv"'})


# --- options -------------------------------------------------------------------------------------

def _options_page(user: User, endpoint_args: dict):
    prefs = db.session.get(UserPreferences, user.id)
    if request.method == "POST":
        opts, errors = chart_options.from_form(request.form)
        if errors:
            # Refused as a whole: nothing saved, the form shown again with what was typed and why.
            return render_template("charts/options.html", user=user, opts=opts, errors=errors,
                                   typed=request.form, catalog=catalog.CHARTS, names=NAMES, choices=chart_options,
                                   next=same_site_path(request.form.get("next")) or ""), 400
        if prefs is None:
            prefs = UserPreferences(user_id=user.id)
            db.session.add(prefs)
        chart_options.save(prefs, opts)
        db.session.commit()
        flash(_("Chart options of %(name)s saved.", name=user.username))
        return redirect(same_site_or(request.form.get("next"), url_for(request.endpoint, **endpoint_args)))
    return render_template("charts/options.html", user=user, opts=chart_options.load(prefs), errors={}, typed={},
                           catalog=catalog.CHARTS, names=NAMES, choices=chart_options,
                           next=same_site_path(request.args.get("next")) or "")


@bp.route("/charts/options", methods=["GET", "POST"])
def options():
    return _options_page(current_user, {})


@bp.route("/charts/options/<int:user_id>", methods=["GET", "POST"])
def options_for_user(user_id: int):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return _options_page(user, {"user_id": user_id})
