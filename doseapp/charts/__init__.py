"""Charts: catalog (what each chart reads), options (per user), aggregate (SQL), data (display
units, sorting, drill-down filters) and figures (Bokeh). The web routes are in blueprints/charts.py."""
