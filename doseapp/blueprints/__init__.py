"""Web blueprints. Each module defines `bp`; register_blueprints() attaches them all."""
from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from doseapp.blueprints import (alerts, api, api_v1, auth, bokehjs, charts, config, home, imports, jobs, studies,
                                    studies_admin, dicomnet, exports, qr, qr_admin, quarantine, site, skin_maps, unavailable)

    for module in (alerts, api, api_v1, auth, bokehjs, charts, config, home, imports, jobs, studies, studies_admin, dicomnet,
                   exports, qr, qr_admin, quarantine, site, skin_maps, unavailable):
        app.register_blueprint(module.bp)
