"""Per-user chart options (seed §6.3), kept in UserPreferences.charts_enabled and .chart_options.

The JSON holds the options by name and `load()` fills in defaults for names it lacks, so a new
option or chart needs no migration and no rewrite of stored rows."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _


from doseapp.charts.catalog import CHARTS
from doseapp.lazy_text import lazy_gettext as _l

AVERAGES = (("mean", _l("Mean")), ("median", _l("Median")), ("both", _l("Mean and median")), ("boxplot", _l("Box plot")))
SORTS = (("frequency", _l("Frequency")), ("value", _l("Value")), ("name", _l("Name")))
DIRECTIONS = (("desc", _l("Descending")), ("asc", _l("Ascending")))
PERIODS = (("day", _l("Days")), ("week", _l("Weeks")), ("month", _l("Months")), ("year", _l("Years")))
BINS_RANGE = (2, 40)


@dataclass
class ChartOptions:
    enabled: bool = True
    average: str = "mean"
    sort: str = "frequency"
    direction: str = "desc"
    series_per_system: bool = False
    # Off by default: histograms cost a second pass over the rows (seed §6.8.2 says the same).
    histograms: bool = False
    bins: int = 20
    case_insensitive: bool = False
    period: str = "month"
    # modality -> the chart keys shown
    charts: dict[str, list[str]] = field(default_factory=lambda: {
        m: [c.key for c in cs if c.default] for m, cs in CHARTS.items()})

    def shows(self, modality: str) -> list[str]:
        return [c.key for c in CHARTS[modality] if c.key in self.charts.get(modality, ())]

    @property
    def wants_median(self) -> bool:
        return self.average in ("median", "both", "boxplot")

    @property
    def wants_mean(self) -> bool:
        return self.average in ("mean", "both")


DEFAULTS = ChartOptions()
FIELDS = ("average", "sort", "direction", "series_per_system", "histograms", "bins", "case_insensitive",
          "period", "charts")


def load(prefs) -> ChartOptions:
    """The options of one UserPreferences row (None: a user with no row yet gets the defaults)."""
    opts = ChartOptions()
    if prefs is None:
        return opts
    opts.enabled = prefs.charts_enabled is not False
    stored = prefs.chart_options or {}
    for name in FIELDS:
        if name in stored:
            setattr(opts, name, stored[name])
    return validated(opts)


def validated(opts: ChartOptions) -> ChartOptions:
    """Values outside the choices fall back to the defaults (stored JSON may be old or hand-edited)."""
    def pick(value, choices, default):
        return value if value in {c for c, _ in choices} else default
    opts.average = pick(opts.average, AVERAGES, DEFAULTS.average)
    opts.sort = pick(opts.sort, SORTS, DEFAULTS.sort)
    opts.direction = pick(opts.direction, DIRECTIONS, DEFAULTS.direction)
    opts.period = pick(opts.period, PERIODS, DEFAULTS.period)
    try:
        opts.bins = min(BINS_RANGE[1], max(BINS_RANGE[0], int(opts.bins)))
    except (TypeError, ValueError):
        opts.bins = DEFAULTS.bins
    opts.series_per_system, opts.histograms = bool(opts.series_per_system), bool(opts.histograms)
    opts.case_insensitive = bool(opts.case_insensitive)
    charts = opts.charts if isinstance(opts.charts, dict) else {}
    opts.charts = {m: [c.key for c in cs if c.key in (charts.get(m) or ())] if m in charts
                   else list(DEFAULTS.charts[m]) for m, cs in CHARTS.items()}
    return opts


LABELS = {"average": "Average to use", "sort": "Sort by", "direction": "Sorting direction",
          "period": "Time period", "bins": "Number of histogram bins"}


def from_form(form) -> tuple[ChartOptions, dict[str, str]]:
    """Options from the chart options form (checkbox names: `<modality>-<chart key>`) and the
    problems found, field name -> plain-words message. A value the form did not send takes the
    default; a value sent but out of range or not among the choices is a problem, never replaced
    silently (bins = 5000 is refused, not saved as 40). With problems, nothing may be saved."""
    errors: dict[str, str] = {}
    choices = {"average": AVERAGES, "sort": SORTS, "direction": DIRECTIONS, "period": PERIODS}
    picked = {}
    for name, allowed in choices.items():
        value = form.get(name)
        if value is None:
            picked[name] = getattr(DEFAULTS, name)
        elif value in {c for c, _ in allowed}:
            picked[name] = value
        else:
            picked[name] = value
            errors[name] = _("Choose one of: %(choices)s.", choices=", ".join(str(t) for _c, t in allowed))
    bins, problem = parse_bins(form.get("bins"))
    if problem:
        errors["bins"] = problem
    opts = ChartOptions(
        enabled=form.get("enabled") == "on", series_per_system=form.get("series_per_system") == "on",
        histograms=form.get("histograms") == "on", bins=bins,
        case_insensitive=form.get("case_insensitive") == "on", **picked,
        charts={m: [c.key for c in cs if form.get(f"{m}-{c.key}") == "on"] for m, cs in CHARTS.items()})
    return opts, errors


def parse_bins(text) -> tuple[int, str | None]:
    """(bins, problem): a whole number from BINS_RANGE[0] to BINS_RANGE[1]; not sent: the default."""
    lo, hi = BINS_RANGE
    if text is None:
        return DEFAULTS.bins, None
    text = str(text).strip()
    try:
        bins = int(text)
    except ValueError:
        return DEFAULTS.bins, (_("Needs a whole number from %(low)s to %(high)s; “%(text)s” is not one.",
                                 low=lo, high=hi, text=text) if text else
                               _("Needs a whole number from %(low)s to %(high)s.", low=lo, high=hi))
    if not lo <= bins <= hi:
        return bins, (_("Needs a whole number from %(low)s to %(high)s; %(bins)s is too many.",
                        low=lo, high=hi, bins=bins) if bins > hi else
                      _("Needs a whole number from %(low)s to %(high)s; %(bins)s is too few.",
                        low=lo, high=hi, bins=bins))
    return bins, None


def save(prefs, opts: ChartOptions) -> None:
    prefs.charts_enabled = opts.enabled
    prefs.chart_options = {name: getattr(opts, name) for name in FIELDS}
