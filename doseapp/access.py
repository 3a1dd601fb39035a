"""Enforces roles.ACCESS on every request, and the first-run page for an instance with no users."""
from __future__ import annotations

from flask import Flask, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import exists, select

from doseapp import roles
from doseapp.models import User, db


def undeclared_endpoints(app: Flask) -> list[str]:
    return sorted({rule.endpoint for rule in app.url_map.iter_rules()} - set(roles.ACCESS))


def init_access(app: Flask) -> None:
    missing = undeclared_endpoints(app)
    if missing:
        raise RuntimeError(f"routes without a declared role in doseapp/roles.py ACCESS: {missing}")

    @app.before_request
    def _check_access():
        if request.endpoint is None:  # 404 / 405: let Flask answer
            return None
        requirement = roles.ACCESS[request.endpoint]
        if roles.allowed(current_user, requirement):
            return None
        if not current_user.is_authenticated:
            if not db.session.scalar(select(exists().where(User.id.isnot(None)))):
                return render_template("first_run.html"), 200
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(403, description=_("This page needs the %(role)s role.", role=roles.describe(requirement)))

    @app.errorhandler(403)
    def _forbidden(err):
        return render_template("error.html", code=403, title=_("Not allowed"),
                               message=err.description), 403

    @app.errorhandler(404)
    def _not_found(err):
        return render_template("error.html", code=404, title=_("Not found"),
                               message=_("There is no page at this address.")), 404

    @app.context_processor
    def _roles_in_templates():
        return {"can": lambda endpoint: roles.allowed(current_user, roles.ACCESS[endpoint])}
