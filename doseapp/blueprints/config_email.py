"""Config → E-mail (admin): the SMTP server alert e-mails go through, a test e-mail, and the outbox
(every message with its state; retry now). Changes are audited; the password never is, nor is it
ever shown again."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import force_locale, gettext as _, ngettext
from flask_login import current_user
from sqlalchemy import func, select

from doseapp import audit
from doseapp.blueprints.config import bp
from doseapp.lazy_text import lazy_gettext as _l
from doseapp.models import EmailMessage, SystemSettings, db
from doseapp.notify import outbox
from doseapp.display.i18n import site_language
from doseapp.notify.smtp import DEFAULT_PORTS, SECURITY, address_problem

FIELDS = ("smtp_host", "smtp_port", "smtp_security", "smtp_username", "smtp_sender", "alert_digest_hour")
OUTBOX_PAGE = 100
OUTBOX_STATES = {"": _l("All"), "queued": _l("Not sent yet"), "failed": _l("Failed (retrying)"), "sent": _l("Sent")}


def _snapshot(s: SystemSettings) -> dict:
    snap = {f: getattr(s, f) for f in FIELDS}
    snap["smtp_password"] = "set" if s.smtp_password else "not set"  # never the value
    return snap


def _read_form(s: SystemSettings) -> list[str]:
    """Apply the form to the settings row; returns the errors (nothing applied when there are any)."""
    form = request.form
    errors = []
    host = form.get("smtp_host", "").strip()
    port_text = form.get("smtp_port", "").strip()
    security = form.get("smtp_security", "starttls")
    sender = form.get("smtp_sender", "").strip()
    hour_text = form.get("alert_digest_hour", "7").strip()
    port = None
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            errors.append(_("The port is a number from 1 to 65535 (or empty for the usual one)."))
        else:
            port = int(port_text)
    if security not in SECURITY:
        errors.append(_("Choose the connection security."))
    if sender and ("@" not in sender or any(c in sender for c in "\r\n<>")):
        errors.append(_("The sender is an e-mail address, such as doseapp@hospital.example."))
    if host and not sender:
        errors.append(_("Give the sender address too: servers refuse mail without one."))
    if not hour_text.isdigit() or not 0 <= int(hour_text) <= 23:
        errors.append(_("The digest hour is a whole hour from 0 to 23."))
    if errors:
        return errors
    s.smtp_host, s.smtp_port, s.smtp_security = host or None, port, security
    s.smtp_username = form.get("smtp_username", "").strip() or None
    s.smtp_sender, s.alert_digest_hour = sender or None, int(hour_text)
    password = form.get("smtp_password", "")
    if form.get("clear_password") == "on":
        s.smtp_password = None
    elif password:
        s.smtp_password = password
    return []


@bp.route("/email", methods=["GET", "POST"])
def email_settings():
    s = SystemSettings.get()
    errors = []
    if request.method == "POST":
        before = _snapshot(s)
        old_password = s.smtp_password
        errors = _read_form(s)
        if not errors:
            after = _snapshot(s)
            if s.smtp_password != old_password and before["smtp_password"] == after["smtp_password"] == "set":
                after["smtp_password"] = "changed"
            audit.record_change("settings.email", "E-mail settings", before, after)
            db.session.commit()
            flash(_("E-mail settings saved."))
            return redirect(url_for("config.email_settings"))
        db.session.rollback()
        s = SystemSettings.get()
    db.session.commit()  # the settings row, if it was just created
    counts = dict(db.session.execute(select(EmailMessage.status, func.count()).group_by(EmailMessage.status)).all())
    return render_template("config/email.html", s=s, security=SECURITY, default_ports=DEFAULT_PORTS, errors=errors,
                           counts=counts, test_to=request.form.get("test_to") or current_user.email or ""), \
        (400 if errors else 200)


@bp.route("/email/test", methods=["POST"])
def email_test():
    """Queue a test message and send it at once in a job; the job's page shows the outcome."""
    from doseapp.runtime.queues import enqueue

    to = request.form.get("test_to", "").strip()
    if address_problem(to):
        flash(_("Give one e-mail address to send the test e-mail to."))
        return redirect(url_for("config.email_settings"))
    with force_locale(site_language()):  # e-mails are in the site's language, as the alert e-mails
        subject = _("doseapp test e-mail")
        body = "\n".join((_("This is a test e-mail from doseapp, sent by %(user)s from Config → E-mail.",
                            user=current_user.username),
                          _("If you can read it, doseapp can send alert e-mails through this server."))) + "\n"
    msg = outbox.queue(to, subject, body, "test")
    audit.record("email.test", to)
    db.session.commit()
    import redis

    try:
        job = enqueue(outbox.TEST_KIND, queue="default", title=f"Test e-mail to {to}", user_id=current_user.id,
                      parameters={"message_id": msg.id})
    except redis.RedisError:
        flash(_("The test e-mail is in the outbox; the job queue is not answering, so it goes when it is back."))
        return redirect(url_for("config.email_outbox"))
    return redirect(url_for("jobs.status", job_id=job.id))


@bp.route("/email/outbox")
def email_outbox():
    state = request.args.get("state", "")
    state = state if state in OUTBOX_STATES else ""
    q = select(EmailMessage)
    if state:
        q = q.where(EmailMessage.status == state)
    rows = db.session.scalars(q.order_by(EmailMessage.id.desc()).limit(OUTBOX_PAGE)).all()
    counts = dict(db.session.execute(select(EmailMessage.status, func.count()).group_by(EmailMessage.status)).all())
    return render_template("config/email_outbox.html", rows=rows, state=state, states=OUTBOX_STATES, counts=counts,
                           page_size=OUTBOX_PAGE)


@bp.route("/email/outbox/retry", methods=["POST"])
def email_retry():
    """Try one unsent message (message_id) or every one again now."""
    message_id = request.form.get("message_id", type=int)
    n = outbox.retry_now([message_id] if message_id else None)
    db.session.commit()
    if n:
        outbox.kick(current_user.id)
        flash(ngettext("%(num)d e-mail will be tried again now.", "%(num)d e-mails will be tried again now.", n))
    else:
        flash(_("Nothing to retry: every e-mail has been sent."))
    return redirect(url_for("config.email_outbox"))
