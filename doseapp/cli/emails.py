"""`doseapp email test ADDRESS|send-due|outbox`: the alert e-mail outbox from the command line."""
from __future__ import annotations

import json

import click
from flask_babel import gettext as _

from doseapp.cli.common import app_for_command, main


@main.group()
def email():
    """Alert e-mails: send a test, send what is due, list the outbox."""


@email.command("test")
@click.argument("address")
def test(address):
    """Send a test e-mail to ADDRESS now with the SMTP settings (Config → E-mail); exit 1 if not sent."""
    from doseapp import audit
    from doseapp.models import EmailMessage, db
    from doseapp.notify import outbox

    with app_for_command().app_context():
        # The e-mail in the site's language (no request: gettext takes DOSEAPP_LANGUAGE); what the
        # command prints stays English.
        msg = outbox.queue(address, _("doseapp test e-mail"),
                           _("This is a test e-mail from doseapp, sent with `doseapp email test`.") + "\n", "test")
        audit.record("email.test", address)
        db.session.commit()
        outbox.send_due(ids=[msg.id])
        msg = db.session.get(EmailMessage, msg.id)
        if msg.status != "sent":
            raise click.ClickException(f"not sent: {msg.last_error} (it stays in the outbox and is retried)")
        click.echo(f"Sent to {address}.")


@email.command("send-due")
def send_due():
    """Queue the daily digests if their hour has come, and send every message that is due."""
    from doseapp.notify import outbox
    from doseapp.notify.alerts import send_digests

    with app_for_command().app_context():
        digests = send_digests()
        counts = outbox.send_due()
        click.echo(json.dumps({**counts, "digests": digests}))


@email.command("outbox")
@click.option("--unsent", is_flag=True, help="Only messages not sent yet.")
def list_outbox(unsent):
    """The outbox, newest first, one JSON object per message (no body)."""
    from sqlalchemy import select

    from doseapp.models import EmailMessage, db

    with app_for_command().app_context():
        q = select(EmailMessage).order_by(EmailMessage.id.desc())
        if unsent:
            q = q.where(EmailMessage.status != "sent")
        for m in db.session.scalars(q):
            click.echo(json.dumps({"id": m.id, "recipient": m.recipient, "subject": m.subject, "kind": m.kind,
                                   "status": m.status, "attempts": m.attempts, "last_error": m.last_error,
                                   "next_attempt_at": m.next_attempt_at, "sent_at": m.sent_at}, default=str,
                                  ensure_ascii=False))
