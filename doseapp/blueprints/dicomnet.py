"""DICOM Store SCP nodes (admin): add, edit, delete, Start/Stop, allowed calling AEs, a dashboard
per node, the transaction log, and GET /api/dicom/status. The web process never hosts a receiver:
Start and Stop set the node's desired state, which the SCP supervisor acts on within seconds."""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from doseapp import audit, listing
from doseapp.dicomnet import monitor, throughput
from doseapp.display import sparkline
from doseapp.dicomnet.config_audit import allowed_ae_target, settings
from doseapp.dicomnet.storage import node_folder_name
from doseapp.dicomnet.nodes import (ALL_STORAGE_CLASSES, DEFAULT_TRANSFER_SYNTAXES, NODE_FLAGS, TRANSFER_SYNTAXES,
                                    NodeError, apply_settings, check_address, check_aetitle)
from doseapp.models import DicomAllowedAe, DicomRemoteNode, DicomStoreScp, DicomTransaction, db
from doseapp.models.dicomnet import FILE_NAMINGS, STORAGE_STRUCTURES
from doseapp.security.safe_urls import same_site_or

bp = Blueprint("dicomnet", __name__)


@bp.app_template_filter("node_state")
def node_state(status: str | None) -> str:
    """A Store SCP node's status (dicomnet.supervisor; monitor's "not started") in the page's language."""
    return {"running": _("running"), "stopped": _("stopped"), "restarting": _("restarting"), "error": _("error"),
            "not started": _("not started")}.get(status or "", status or "")


PAGE_SIZE = 50
# CONNECT: a connection refused, or closed for sending no association request, before any association.
OPERATIONS = ("CONNECT", "ASSOCIATE", "C-ECHO", "C-STORE", "C-FIND", "C-MOVE", "C-GET")  # in, and out (query-retrieve)
FIELDS = ("name", "aetitle", "port", "bind_address", "max_associations", "acse_timeout", "dimse_timeout",
          "network_timeout", "max_pdu", "request_timeout", "connections_per_address", "storage_structure",
          "file_naming", "storage_limit_mb", "max_object_mb", "retention_days", "allowed_addresses")
OPTIONAL_FIELDS = ("cleanup_full_percent",)  # a form without them keeps the node's values


@bp.app_template_filter("sop_name")
def sop_name(uid: str) -> str:
    """A SOP class UID's name (the UID itself if pydicom does not know it)."""
    from pydicom.uid import UID

    return UID(uid).name


def _node_or_404(node_id: int) -> DicomStoreScp:
    node = db.session.get(DicomStoreScp, node_id)
    if node is None:
        abort(404)
    return node


def _sop_class_names() -> list[tuple[str, str]]:
    from pydicom.uid import UID

    return sorted(((uid, UID(uid).name) for uid in ALL_STORAGE_CLASSES), key=lambda p: p[1])


def _form_values() -> dict:
    form = {k: request.form.get(k, "") for k in FIELDS}
    form.update({k: request.form[k] for k in OPTIONAL_FIELDS if k in request.form})
    form.update({k: request.form.get(k) == "on" for k in NODE_FLAGS})
    form["sop_classes"] = request.form.getlist("sop_classes")
    form["transfer_syntaxes"] = request.form.getlist("transfer_syntaxes")
    return form


def _render_form(node: DicomStoreScp, error: str | None = None, status: int = 200):
    chosen_classes = set(node.sop_classes or ALL_STORAGE_CLASSES)
    chosen_syntaxes = set(node.transfer_syntaxes or DEFAULT_TRANSFER_SYNTAXES)
    folder = node_folder_name(node.aetitle) if node.aetitle else None
    return render_template("dicomnet/node_form.html", node=node, folder=folder, error=error,
                           structures=STORAGE_STRUCTURES, namings=FILE_NAMINGS, sop_classes=_sop_class_names(),
                           chosen_classes=chosen_classes, syntaxes=TRANSFER_SYNTAXES,
                           chosen_syntaxes=chosen_syntaxes), status


CHART_SIZE = (288, 64)  # a throughput bar chart on a node's dashboard, px
ROW_CHART_SIZE = (96, 22)  # the last 24 hours in the node list


def _throughput(node_id: int, size: tuple[int, int]) -> dict:
    tp = throughput.node_throughput(node_id)
    return {"tp": tp, "chart_size": size,
            "hour_bars": sparkline.bars([b.objects for b in tp.hours], *size),
            "day_bars": sparkline.bars([b.objects for b in tp.days], *size)}


@bp.route("/dicom/nodes")
def nodes():
    stats = monitor.all_stats()
    rates = {s["id"]: _throughput(s["id"], ROW_CHART_SIZE) for s in stats}
    template = "dicomnet/_node_rows.html" if request.headers.get("HX-Request") else "dicomnet/nodes.html"
    return render_template(template, stats=stats, monitor=monitor, rates=rates)


@bp.route("/dicom/nodes/new", methods=["GET", "POST"])
def node_new():
    node = DicomStoreScp(name="", aetitle="", port=8104, bind_address="0.0.0.0", enabled=True, auto_start=True,
                         desired_state="running", max_associations=10, acse_timeout=30, dimse_timeout=30,
                         network_timeout=60, max_pdu=16384, request_timeout=10, connections_per_address=8,
                         storage_structure="date", file_naming="sop_uid",
                         retention_days=30, require_calling_ae=False, cleanup_enabled=False, cleanup_when_full=False,
                         cleanup_full_percent=90, find_enabled=True, move_enabled=True, get_enabled=True)
    if request.method == "POST":
        try:
            apply_settings(node, _form_values())
        except NodeError as exc:
            db.session.rollback()
            return _render_form(node, str(exc), 400)
        db.session.add(node)
        audit.record_change("dicom.node_add", node.name, {}, settings(node))
        db.session.commit()
        flash(_("Store SCP node %(name)s added; the SCP supervisor starts it within seconds.", name=node.name))
        return redirect(url_for("dicomnet.dashboard", node_id=node.id))
    return _render_form(node)


@bp.route("/dicom/nodes/<int:node_id>", methods=["GET", "POST"])
def node_edit(node_id: int):
    node = _node_or_404(node_id)
    if request.method == "POST":
        before = settings(node)
        try:
            apply_settings(node, _form_values())
        except NodeError as exc:
            db.session.rollback()
            return _render_form(_node_or_404(node_id), str(exc), 400)
        audit.record_change("dicom.node_edit", node.name, before, settings(node))
        db.session.commit()
        flash(_("Settings of %(name)s saved. Network changes restart the node; others apply within seconds.",
                name=node.name))
        return redirect(url_for("dicomnet.dashboard", node_id=node.id))
    return _render_form(node)


@bp.route("/dicom/nodes/<int:node_id>/dashboard")
def dashboard(node_id: int):
    node = _node_or_404(node_id)
    stats = monitor.node_stats(node)
    live = {"node": node, "s": stats, "monitor": monitor, **_throughput(node.id, CHART_SIZE)}
    if request.headers.get("HX-Request"):
        return render_template("dicomnet/_live.html", **live)
    recent = db.session.scalars(select(DicomTransaction).where(DicomTransaction.scp_id == node.id)
                                .order_by(DicomTransaction.id.desc()).limit(20)).all()
    return render_template("dicomnet/dashboard.html", recent=recent, **live)


@bp.route("/dicom/nodes/<int:node_id>/state", methods=["POST"])
def node_state(node_id: int):
    """Start, Stop or Restart: sets the desired state the SCP supervisor acts on ("restart": it
    stops the node's process and starts a new one, which reads the node's settings afresh)."""
    node = _node_or_404(node_id)
    wanted = request.form.get("state")
    if wanted not in ("running", "stopped", "restart"):
        abort(400)
    if wanted == "restart":  # always recorded: the same state before and after, but an action taken
        audit.record("dicom.node_restart", node.name, {"desired_state": [node.desired_state, wanted]})
    else:
        audit.record_change("dicom.node_state", node.name, {"desired_state": node.desired_state},
                            {"desired_state": wanted})
    node.desired_state = wanted
    db.session.commit()
    said = {"running": _("%(name)s: start requested; the SCP supervisor acts within seconds.", name=node.name),
            "stopped": _("%(name)s: stop requested; the SCP supervisor acts within seconds.", name=node.name),
            "restart": _("%(name)s: restart requested; the SCP supervisor acts within seconds.", name=node.name)}[wanted]
    # Two whole sentences, the second only for a disabled node.
    flash(said if node.enabled else " ".join((said, _("The node is disabled: enable it to run it."))))
    return redirect(same_site_or(request.form.get("next"), url_for("dicomnet.dashboard", node_id=node.id)))


@bp.route("/dicom/nodes/<int:node_id>/allowed", methods=["GET", "POST"])
def allowed_aes(node_id: int):
    node = _node_or_404(node_id)
    error = None
    if request.method == "POST":
        try:
            row = _apply_allowed(DicomAllowedAe(scp_id=node.id), node)
            db.session.add(row)
            audit.record_change("dicom.allowed_ae_add", allowed_ae_target(row, node), {}, settings(row))
            db.session.commit()
            flash(_("%(ae)s may now send to %(name)s.", ae=row.aetitle, name=node.name) if node.require_calling_ae
                  else _("%(ae)s may now send to %(name)s (once calling AE validation is switched on for the node).",
                         ae=row.aetitle, name=node.name))
            return redirect(url_for("dicomnet.allowed_aes", node_id=node.id))
        except NodeError as exc:
            db.session.rollback()
            error = str(exc)
    return render_template("dicomnet/allowed_aes.html", node=node, error=error), (400 if error else 200)


@bp.route("/dicom/allowed/<int:ae_id>", methods=["GET", "POST"])
def allowed_ae_edit(ae_id: int):
    row = db.session.get(DicomAllowedAe, ae_id)
    if row is None:
        abort(404)
    error = None
    if request.method == "POST":
        before = settings(row)
        try:
            _apply_allowed(row, row.scp)
            audit.record_change("dicom.allowed_ae_edit", allowed_ae_target(row, row.scp), before, settings(row))
            db.session.commit()
            flash(_("%(ae)s saved.", ae=row.aetitle))
            return redirect(url_for("dicomnet.allowed_aes", node_id=row.scp_id))
        except NodeError as exc:
            db.session.rollback()
            error = str(exc)
    return render_template("dicomnet/allowed_ae_form.html", row=row, error=error), (400 if error else 200)


def _apply_allowed(row: DicomAllowedAe, node: DicomStoreScp) -> DicomAllowedAe:
    row.aetitle = check_aetitle(request.form.get("aetitle", ""))
    ip = request.form.get("expected_ip", "").strip()
    row.expected_ip = check_address(ip, _("expected IP address")) if ip else None
    row.description = request.form.get("description", "").strip() or None
    row.active = request.form.get("active") == "on"
    clash = db.session.scalar(select(DicomAllowedAe).where(DicomAllowedAe.scp_id == node.id,
                                                           DicomAllowedAe.aetitle == row.aetitle,
                                                           DicomAllowedAe.id != (row.id or 0)))
    if clash is not None:
        raise NodeError(f"{row.aetitle} is already on the list of {node.name}.")
    return row


@bp.route("/dicom/transactions")
def transactions():
    args = request.args
    query = select(DicomTransaction)
    if args.get("node", "").isdigit():
        query = query.where(DicomTransaction.scp_id == int(args["node"]))
    if args.get("operation") in OPERATIONS:
        query = query.where(DicomTransaction.operation == args["operation"])
    status = args.get("status", "")
    if status == "ok":
        query = query.where(DicomTransaction.status.in_(monitor.OK_STATUSES))
    elif status == "problem":
        query = query.where(DicomTransaction.status.notin_(monitor.OK_STATUSES))
    if args.get("calling"):
        query = query.where(DicomTransaction.calling_aetitle == args["calling"].strip())
    first, last = listing.days_asked(args)[:2]  # a half-typed date filters nothing
    query = query.where(*listing.day_range(DicomTransaction.at, first, last))
    found = listing.paginate(query, [DicomTransaction.id.desc()], args.get("page", 1, type=int), PAGE_SIZE)
    names = dict(db.session.execute(select(DicomStoreScp.id, DicomStoreScp.name)).all())
    remotes = dict(db.session.execute(select(DicomRemoteNode.id, DicomRemoteNode.name)).all())
    keep = {k: v for k, v in args.items() if k != "page" and v}
    return render_template("dicomnet/transactions.html", rows=found.rows, total=found.total, page=found.page,
                           pages=found.pages, names=names, remotes=remotes, args=args, keep=keep,
                           operations=OPERATIONS)


@bp.route("/api/dicom/status")
def api_status():
    """Every node's status and counts as JSON (admin: it names addresses and errors)."""
    return jsonify(nodes=monitor.all_stats())


# Deleting routes last: the route-table test visits routes in this order with one sample row.
@bp.route("/dicom/allowed/<int:ae_id>/delete", methods=["POST"])
def allowed_ae_delete(ae_id: int):
    row = db.session.get(DicomAllowedAe, ae_id)
    if row is None:
        abort(404)
    node_id, title = row.scp_id, row.aetitle
    audit.record_change("dicom.allowed_ae_delete", allowed_ae_target(row, row.scp), settings(row), {})
    db.session.delete(row)
    db.session.commit()
    flash(_("%(ae)s removed from the allowed list.", ae=title))
    return redirect(url_for("dicomnet.allowed_aes", node_id=node_id))


@bp.route("/dicom/nodes/<int:node_id>/delete", methods=["POST"])
def node_delete(node_id: int):
    node = _node_or_404(node_id)
    if node.status == "running":
        flash(_("Stop %(name)s before deleting it.", name=node.name))
        return redirect(url_for("dicomnet.dashboard", node_id=node.id))
    audit.record_change("dicom.node_delete", node.name, settings(node), {})
    db.session.delete(node)
    db.session.commit()
    flash(_("Store SCP node %(name)s deleted. Its transaction log and received files are kept.", name=node.name))
    return redirect(url_for("dicomnet.nodes"))
