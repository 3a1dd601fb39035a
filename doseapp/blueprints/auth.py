"""Login, logout and changing one's own password."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from doseapp.models import db
from doseapp.models.base import utcnow
from doseapp.security import login_throttle
from doseapp.security.safe_urls import same_site_or
from doseapp.users import UserError, authenticate, check_password

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would let a link send users anywhere after login.
    return same_site_or(target, url_for("home.index"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        address = request.remote_addr or ""
        refused = login_throttle.refusal(username, address)
        if refused is not None:
            return (render_template("auth/login.html", error=refused.message), 429,
                    {"Retry-After": str(refused.retry_after_s)})
        user, why = authenticate(username, request.form.get("password") or "")
        if user is None:
            login_throttle.record_failure(username, address, why)
            db.session.commit()
            return render_template("auth/login.html", error=_("Wrong user name or password.")), 401
        login_throttle.forget(username)
        login_user(user)
        user.last_login = utcnow()
        db.session.commit()
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", error=None)


@bp.route("/logout", methods=["POST"])
def logout():
    # Ends this user's other sessions too: a copy of this session's cookie must not outlive it.
    current_user.end_sessions()
    db.session.commit()
    logout_user()
    flash(_("You are logged out."))
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def password():
    error = None
    if request.method == "POST":
        new = request.form.get("new_password") or ""
        try:
            if not current_user.check_password(request.form.get("current_password") or ""):
                raise UserError(_("Your current password is not right."))
            if new != request.form.get("confirm_password"):
                raise UserError(_("The two new passwords differ."))
            current_user.set_password(check_password(new))  # ends every session of this user...
            db.session.commit()
            login_user(current_user._get_current_object())  # ...but this one, which starts afresh
            flash(_("Your password is changed."))
            return redirect(url_for("home.index"))
        except UserError as exc:
            error = str(exc)
    return render_template("auth/password.html", error=error), (400 if error else 200)
