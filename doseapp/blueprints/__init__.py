"""Web blueprints. Each module defines `bp`; register_blueprints() attaches them all."""
from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from doseapp.blueprints import (account, alerts, api, api_v1, auth, bokehjs, charts, config, drl, home, imports,
                                    jobs, studies, studies_admin, dicomnet, exports, patients, qr, qr_admin,
                                    quarantine, site, skin_maps, unavailable)

    for module in (account, alerts, api, api_v1, auth, bokehjs, charts, config, drl, home, imports, jobs, studies,
                   studies_admin, dicomnet, exports, patients, qr, qr_admin, quarantine, site, skin_maps, unavailable):
        app.register_blueprint(module.bp)
