"""Query-retrieve configuration (admin): remote nodes, and scheduled queries with their history."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from doseapp import audit
from doseapp.blueprints.qr import FormError, option_values, options_from_form
from doseapp.dicomnet.config_audit import settings
from doseapp.dicomnet.nodes import NodeError, check_int
from doseapp.dicomnet.qr_filter import MODALITY_CHOICES, MODALITY_LABELS
from doseapp.dicomnet.remotes import QUERY_MODELS, REMOTE_FLAGS, apply_remote_settings, new_remote
from doseapp.models import DicomRemoteNode, DicomScheduledQuery, DicomStoreScp, db

bp = Blueprint("qradmin", __name__, url_prefix="/qr/admin")

REMOTE_FIELDS = ("name", "aetitle", "calling_aetitle", "port", "ip", "hostname", "acse_timeout", "dimse_timeout",
                 "network_timeout")
REMOTE_CHOICES = ("query_model", "max_pdu")  # a form without them keeps the node's values


def _remote_or_404(remote_id: int) -> DicomRemoteNode:
    remote = db.session.get(DicomRemoteNode, remote_id)
    if remote is None:
        abort(404)
    return remote


def _remote_form() -> dict:
    form = {k: request.form.get(k, "") for k in REMOTE_FIELDS}
    form.update({k: request.form.get(k) == "on" for k in REMOTE_FLAGS})
    form.update({k: request.form[k] for k in REMOTE_CHOICES if k in request.form})
    return form


@bp.route("/remotes")
def remotes():
    rows = db.session.scalars(select(DicomRemoteNode).order_by(DicomRemoteNode.name)).all()
    return render_template("qr/remotes.html", remotes=rows, models=QUERY_MODELS)


def _save_remote(remote: DicomRemoteNode, is_new: bool):
    if request.method == "POST":
        before = {} if is_new else settings(remote)
        try:
            apply_remote_settings(remote, _remote_form())
        except NodeError as exc:
            db.session.rollback()
            return render_template("qr/remote_form.html", remote=remote, error=str(exc), models=QUERY_MODELS), 400
        if is_new:
            db.session.add(remote)
        audit.record_change("qr.remote_save", remote.name, before, settings(remote))
        db.session.commit()
        flash(_("Remote node %(name)s saved.", name=remote.name))
        return redirect(url_for("qradmin.remotes"))
    return render_template("qr/remote_form.html", remote=remote, error=None, models=QUERY_MODELS)


@bp.route("/remotes/new", methods=["GET", "POST"])
def remote_new():
    return _save_remote(new_remote(), True)


@bp.route("/remotes/<int:remote_id>", methods=["GET", "POST"])
def remote_edit(remote_id: int):
    return _save_remote(_remote_or_404(remote_id), False)


@bp.route("/remotes/<int:remote_id>/delete", methods=["POST"])
def remote_delete(remote_id: int):
    remote = _remote_or_404(remote_id)
    scheduled = db.session.scalars(select(DicomScheduledQuery.name)
                                   .where(DicomScheduledQuery.remote_node_id == remote.id)).all()
    if scheduled:  # a schedule silently vanishing with its node would be a surprise
        # Markup: the message links the page it names (the escaped names stay plain text).
        flash(Markup(_('%(name)s is used by scheduled queries (%(queries)s): delete or change those first on the '
                       '<a href="%(url)s">Scheduled queries</a> page.'))
              % {"name": remote.name, "queries": ", ".join(scheduled), "url": url_for("qradmin.schedules")})
        return redirect(url_for("qradmin.remotes"))
    audit.record_change("qr.remote_delete", remote.name, settings(remote), {})
    db.session.delete(remote)  # its queries stay in the history, without their node
    db.session.commit()
    flash(_("Remote node %(name)s deleted.", name=remote.name))
    return redirect(url_for("qradmin.remotes"))


# --- scheduled queries ---------------------------------------------------------------------------

def _schedule_or_404(schedule_id: int) -> DicomScheduledQuery:
    row = db.session.get(DicomScheduledQuery, schedule_id)
    if row is None:
        abort(404)
    return row


def _apply_schedule(row: DicomScheduledQuery) -> None:
    import dataclasses

    form = request.form
    row.name = (form.get("name") or "").strip()[:64]
    if not row.name:
        raise FormError(_("The scheduled query needs a name."))
    remote = db.session.get(DicomRemoteNode, int(form.get("remote_id") or 0))
    store = db.session.get(DicomStoreScp, int(form.get("store_id") or 0))
    if remote is None or store is None:
        raise FormError(_("Choose the remote node to query and the Store node to retrieve to."))
    method = form.get("method", "move")
    if method not in ("move", "get"):
        raise FormError(_("Retrieve by C-MOVE or C-GET."))
    try:
        row.interval_minutes = check_int(form.get("interval_minutes"), _("The interval (minutes)"), 5, 7 * 24 * 60)
        row.days_back = check_int(form.get("days_back"), _("Days back"), 0, 365)
    except NodeError as exc:
        raise FormError(str(exc))
    options = options_from_form(form)
    options.date_from = options.date_until = None  # each run queries its own last days_back days
    row.parameters = dataclasses.asdict(options) | {"method": method}
    row.remote_node_id, row.store_scp_id = remote.id, store.id
    row.retrieve = form.get("retrieve") == "on"
    row.enabled = form.get("enabled") == "on"
    row.next_run_at = None  # due at the scheduler's next pass


def _render_schedule(template: str, row, error=None, status=200, **extra):
    remotes = db.session.scalars(select(DicomRemoteNode).order_by(DicomRemoteNode.name)).all()
    stores = db.session.scalars(select(DicomStoreScp).order_by(DicomStoreScp.name)).all()
    return render_template(template, row=row, remotes=remotes, stores=stores, error=error, choices=MODALITY_CHOICES,
                           labels=MODALITY_LABELS, option_values=option_values, **extra), status


@bp.route("/scheduled", methods=["GET", "POST"])
def schedules():
    rows = db.session.scalars(select(DicomScheduledQuery).order_by(DicomScheduledQuery.name)).all()
    new = DicomScheduledQuery(name="", interval_minutes=60, days_back=1, retrieve=True, enabled=True,
                              parameters={"modalities": ["CT"], "remove_duplicates": True, "method": "move"})
    if request.method == "POST":
        try:
            _apply_schedule(new)
        except FormError as exc:
            return _render_schedule("qr/schedules.html", new, str(exc), 400, schedules=rows)
        db.session.add(new)
        audit.record_change("qr.schedule_save", new.name, {}, settings(new))
        db.session.commit()
        flash(_("Scheduled query %(name)s saved; the scheduler starts it within a minute.", name=new.name))
        return redirect(url_for("qradmin.schedules"))
    return _render_schedule("qr/schedules.html", new, schedules=rows)


@bp.route("/scheduled/<int:schedule_id>", methods=["GET", "POST"])
def schedule_edit(schedule_id: int):
    row = _schedule_or_404(schedule_id)
    if request.method == "POST":
        before = settings(row)
        try:
            _apply_schedule(row)
        except FormError as exc:
            db.session.rollback()
            return _render_schedule("qr/schedule_edit.html", _schedule_or_404(schedule_id), str(exc), 400)
        audit.record_change("qr.schedule_save", row.name, before, settings(row))
        db.session.commit()
        flash(_("Scheduled query %(name)s saved.", name=row.name))
        return redirect(url_for("qradmin.schedule_edit", schedule_id=row.id))
    return _render_schedule("qr/schedule_edit.html", row)


@bp.route("/scheduled/<int:schedule_id>/delete", methods=["POST"])
def schedule_delete(schedule_id: int):
    row = _schedule_or_404(schedule_id)
    audit.record_change("qr.schedule_delete", row.name, settings(row), {})
    db.session.delete(row)  # its runs stay in the query history
    db.session.commit()
    flash(_("Scheduled query %(name)s deleted.", name=row.name))
    return redirect(url_for("qradmin.schedules"))
