"""doseapp: patient radiation dose monitoring."""
from __future__ import annotations

from flask import Flask

__version__ = "0.1.0"


def create_app(config: dict | None = None) -> Flask:
    """Application factory: configuration, extensions, blueprints, access control."""
    from doseapp import config as config_module
    from doseapp.extensions import init_extensions
    from doseapp.blueprints import register_blueprints
    from doseapp.access import init_access
    from doseapp.security.request_limits import init_request_limits
    from doseapp.security.headers import init_security_headers
    from doseapp.display import i18n, sources, timefmt

    app = Flask(__name__, root_path=str(config_module.REPO_ROOT), template_folder="templates",
                static_folder="static")
    app.config.update(config_module.load(**(config or {})))
    init_extensions(app)
    register_blueprints(app)
    _plug_notifiers()
    timefmt.register(app)
    sources.register(app)
    i18n.init_app(app)
    init_access(app)
    init_request_limits(app)
    init_security_headers(app)
    return app


def _plug_notifiers() -> None:
    """New alerts are e-mailed (issue 18): the notifier is plugged into the alert evaluation here, the
    composition root, so neither package imports the other both ways."""
    from doseapp.alerts.evaluate import NOTIFIERS
    from doseapp.notify.alerts import alerts_raised

    if alerts_raised not in NOTIFIERS:
        NOTIFIERS.append(alerts_raised)
