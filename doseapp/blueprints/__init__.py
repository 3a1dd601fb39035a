"""Web blueprints. Each module defines `bp`; register_blueprints() attaches them all."""
from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from doseapp.blueprints import api, auth, bokehjs, config, home, jobs

    for module in (api, auth, bokehjs, config, home, jobs):
        app.register_blueprint(module.bp)
