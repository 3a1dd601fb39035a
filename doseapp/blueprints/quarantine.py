"""The quarantine page (admin): objects that could not be imported, with their reason, source and
sender; filter and page them, download one (with pid: the file holds patient identifiers), retry or
delete one, the ticked ones, or all that match the filter. One retry runs in the request; more run
as a background job whose progress the page shows."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _, ngettext
from markupsafe import Markup, escape
from flask_login import current_user
from sqlalchemy import or_, select

from doseapp import listing
from doseapp.ingest import quarantine
from doseapp.models import Job, QuarantinedObject, db
from doseapp.models.base import utcnow
from doseapp.runtime import queues

bp = Blueprint("quarantine", __name__, url_prefix="/quarantine")

PAGE_SIZE = 50
RECENT_RETRIES = 3  # retry jobs running or ended in the last day, shown at the top of the page


@bp.route("/")
def index():
    selection, errors = quarantine.Selection.parse(request.args)
    found = listing.paginate(selection.query(), [QuarantinedObject.id.desc()], request.args.get("page", 1, type=int),
                             PAGE_SIZE)
    recent = utcnow() - dt.timedelta(days=1)
    retries = db.session.scalars(select(Job).where(
        Job.kind == quarantine.KIND, or_(Job.status.in_(("queued", "started")), Job.ended_at >= recent))
        .order_by(Job.id.desc()).limit(RECENT_RETRIES)).all()
    return render_template("quarantine/index.html", rows=found.rows, total=found.total, page=found.page,
                           pages=found.pages, selection=selection, keep=selection.as_values(), errors=errors,
                           sources=quarantine.sources(), retries=retries, everything=quarantine.count(),
                           may_download=current_user.has_role("pid"))


@bp.route("/<int:quarantined_id>/file")
def download(quarantined_id: int):
    row = db.session.get(QuarantinedObject, quarantined_id)
    path = Path(row.path) if row is not None else None
    # Only files of the quarantine folder are ever sent.
    if path is None or not path.is_file() or path.resolve().parent != quarantine.folder().resolve():
        abort(404)
    name = Path(row.original_name or path.name).name
    return send_file(path, mimetype="application/dicom", as_attachment=True, download_name=name)


def _chosen() -> tuple[list[int], quarantine.Selection]:
    """The objects a form names: the ticked ones (pick), or with all=1 every one matching its filter."""
    selection = quarantine.Selection.parse(request.form)[0]
    if request.form.get("all") == "1":
        return quarantine.ids_of(selection), selection
    picked = tuple(int(v) for v in request.form.getlist("pick") if v.isdigit())
    return (quarantine.ids_of(quarantine.Selection(ids=picked)) if picked else []), selection


def _back(selection: quarantine.Selection):
    return redirect(url_for("quarantine.index", **selection.as_values()))


@bp.route("/retry", methods=["POST"])
def retry():
    ids, selection = _chosen()
    if not ids:
        flash(_("Tick the objects to retry first."))
    elif len(ids) == 1:
        result = quarantine.retry(db.session.get(QuarantinedObject, ids[0]))
        if result.status == "failed":
            flash(_("Object %(id)s: failed again, and stays: %(reason)s", id=ids[0], reason=result.reason))
        elif result.reason:
            flash(_("Object %(id)s: %(status)s (%(reason)s); it has left the quarantine.", id=ids[0],
                    status=result.status, reason=result.reason))
        else:
            flash(_("Object %(id)s: %(status)s; it has left the quarantine.", id=ids[0], status=result.status))
    else:
        job = queues.enqueue(quarantine.KIND, title=f"Retry {len(ids)} quarantined objects", user_id=current_user.id,
                             parameters={"ids": ids})
        flash(ngettext("Retrying %(num)d object in the background (job %(job)s); its progress is below.",
                       "Retrying %(num)d objects in the background (job %(job)s); its progress is below.",
                       len(ids), job=job.id))
    return _back(selection)


@bp.route("/delete", methods=["POST"])
def delete():
    ids, selection = _chosen()
    if not ids:
        flash(_("Tick the objects to delete first."))
    else:
        deleted = quarantine.delete(ids)
        flash(Markup(ngettext('Deleted %(num)d object from the quarantine (recorded in the <a href="%(url)s">audit '
                              'log</a>).', 'Deleted %(num)d objects from the quarantine (recorded in the '
                              '<a href="%(url)s">audit log</a>).', deleted, url=escape(url_for("config.audit_log")))))
    return _back(selection)
