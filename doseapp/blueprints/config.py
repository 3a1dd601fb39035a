"""System configuration pages (admin). Users and roles here; DICOM, privacy and display names
arrive with their issues."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from doseapp import roles
from doseapp.models import User, db
from doseapp.users import UserError, create_user

bp = Blueprint("config", __name__, url_prefix="/config")


@bp.route("/users")
def users():
    rows = db.session.scalars(select(User).order_by(User.username)).all()
    return render_template("config/users.html", users=rows, roles=roles.ROLES)


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    error = None
    if request.method == "POST":
        try:
            user = create_user(request.form.get("username", ""), request.form.get("password", ""),
                               request.form.getlist("roles"))
            flash(f"User {user.username} created.")
            return redirect(url_for("config.users"))
        except UserError as exc:
            error = str(exc)
    return render_template("config/user_new.html", roles=roles.ROLES, error=error), (400 if error else 200)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if request.method == "POST":
        chosen = [r for r in request.form.getlist("roles") if r in roles.ROLES]
        user.set_roles(chosen)
        user.active = request.form.get("active") == "on"
        db.session.commit()
        flash(f"Roles of {user.username}: {', '.join(sorted(chosen)) or 'none'}.")
        return redirect(url_for("config.users"))
    return render_template("config/user_edit.html", user=user, roles=roles.ROLES)
