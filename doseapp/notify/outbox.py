"""The e-mail outbox: every message is a row, kept until the SMTP server takes it. A failed send is
recorded (attempts, the error) and tried again after a growing pause, for ever: never dropped.

Sending claims a message first (attempts + 1 and the next try moved on, committed), so two runs at
once never send one message twice, and a worker that dies mid-send leaves a message that is simply
tried again later."""
from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl

import redis
from sqlalchemy import exists, or_, select, update

from doseapp.models import EmailMessage, Job, SystemSettings, db
from doseapp.models.base import utcnow
from doseapp.notify import smtp

log = logging.getLogger(__name__)

# Minutes before the next try after the 1st, 2nd, ... failed attempt; then every 6 hours, for ever.
BACKOFF_MINUTES = (1, 5, 15, 60, 180, 360)
# After this many failed attempts a message shows as "failed" (still retried): someone should look.
FAILED_AFTER = 5
BATCH = 200
OUTBOX_KIND = "email_outbox"
TEST_KIND = "email_test"
# Errors of one message (the server refused it or its recipient); others mean the connection is gone.
MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError,
                  smtplib.SMTPNotSupportedError, UnicodeError, ValueError)


def backoff(attempts: int) -> dt.timedelta:
    """The pause after `attempts` failed attempts (1 → 1 minute ... capped at 6 hours)."""
    return dt.timedelta(minutes=BACKOFF_MINUTES[min(max(attempts, 1), len(BACKOFF_MINUTES)) - 1])


def queue(recipient: str, subject: str, body: str, kind: str, alerts=()) -> EmailMessage:
    """Add a message to the outbox (in the session; the caller commits), telling of `alerts`."""
    msg = EmailMessage(recipient=recipient, subject=subject, body=body, kind=kind, status="queued", attempts=0)
    msg.alerts = list(alerts)
    db.session.add(msg)
    return msg


def _claim(message_id: int, attempts_seen: int, now: dt.datetime) -> bool:
    done = db.session.execute(
        update(EmailMessage).where(EmailMessage.id == message_id, EmailMessage.attempts == attempts_seen,
                                   EmailMessage.status != "sent")
        .values(attempts=attempts_seen + 1, next_attempt_at=now + backoff(attempts_seen + 1))).rowcount
    db.session.commit()
    return done == 1


def _sent(message_id: int) -> None:
    db.session.execute(update(EmailMessage).where(EmailMessage.id == message_id)
                       .values(status="sent", sent_at=utcnow(), last_error=None, next_attempt_at=None))
    db.session.commit()


def _failed(message_id: int, attempts: int, error: str) -> None:
    log.warning("e-mail %s not sent (attempt %s): %s", message_id, attempts, error)
    db.session.execute(update(EmailMessage).where(EmailMessage.id == message_id, EmailMessage.status != "sent")
                       .values(status="failed" if attempts >= FAILED_AFTER else "queued", last_error=error))
    db.session.commit()


def send_due(now: dt.datetime | None = None, ids: list[int] | None = None) -> dict:
    """Send the messages whose time has come (or exactly `ids`, whenever their next try is), over one
    connection. Returns counts: sent, failed, waiting (not configured)."""
    now = now or utcnow()
    q = select(EmailMessage.id, EmailMessage.attempts, EmailMessage.recipient, EmailMessage.subject,
               EmailMessage.body).where(EmailMessage.status != "sent")
    if ids is not None:
        q = q.where(EmailMessage.id.in_(ids))
    else:
        q = q.where(or_(EmailMessage.next_attempt_at.is_(None), EmailMessage.next_attempt_at <= now))
    due = db.session.execute(q.order_by(EmailMessage.id).limit(BATCH)).all()
    counts = {"sent": 0, "failed": 0, "waiting": 0}
    if not due:
        db.session.commit()
        return counts
    try:
        cfg = smtp.config_from(SystemSettings.get())
    except smtp.NotConfigured as exc:
        # Not an attempt: they go as soon as a server is set.
        db.session.execute(update(EmailMessage).where(EmailMessage.id.in_([m.id for m in due]))
                           .values(last_error=str(exc)))
        db.session.commit()
        counts["waiting"] = len(due)
        return counts
    claimed = [m for m in due if _claim(m.id, m.attempts, now)]
    if not claimed:
        return counts
    try:
        conn = smtp.Connection(cfg)
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        error = smtp.describe_error(exc)
        for m in claimed:
            _failed(m.id, m.attempts + 1, error)
        counts["failed"] = len(claimed)
        return counts
    with conn:
        for n, m in enumerate(claimed):
            try:
                conn.send(m.recipient, m.subject, m.body)
            except MESSAGE_ERRORS as exc:
                _failed(m.id, m.attempts + 1, smtp.describe_error(exc))
                counts["failed"] += 1
                continue
            except (smtplib.SMTPException, OSError) as exc:  # the connection broke: the rest wait too
                error = smtp.describe_error(exc)
                for rest in claimed[n:]:
                    _failed(rest.id, rest.attempts + 1, error)
                counts["failed"] += len(claimed) - n
                break
            _sent(m.id)
            counts["sent"] += 1
    return counts


def retry_now(message_ids: list[int] | None = None) -> int:
    """Make unsent messages (these, or all) due at once; the caller commits. Returns how many."""
    q = update(EmailMessage).where(EmailMessage.status != "sent")
    if message_ids is not None:
        q = q.where(EmailMessage.id.in_(message_ids))
    return db.session.execute(q.values(next_attempt_at=None)).rowcount


def kick(user_id: int | None = None) -> Job | None:
    """Run the outbox soon: enqueue its job unless one is waiting already. Without Redis nothing is
    lost: the scheduler runs the outbox every minute anyway."""
    from doseapp.runtime.queues import enqueue

    waiting = db.session.scalar(select(exists().where(Job.kind == OUTBOX_KIND, Job.status == "queued")))
    if waiting:
        return None
    try:
        return enqueue(OUTBOX_KIND, queue="default", title="Send e-mail", user_id=user_id)
    except redis.RedisError:
        log.warning("could not queue the outbox job (Redis down); the scheduler will run it")
        return None


def outbox_job(ctx) -> dict:
    """The periodic job: queue the daily digests when their hour has come, then send what is due."""
    from doseapp.display.timefmt import plural
    from doseapp.notify.alerts import send_digests

    digests = send_digests()
    counts = send_due()
    parts = [f"{plural(counts['sent'], 'e-mail')} sent"]
    if counts["failed"]:
        parts.append(f"{counts['failed']} not sent (will be retried)")
    if counts["waiting"]:
        parts.append(f"{counts['waiting']} waiting for an SMTP server to be configured")
    if digests:
        parts.append(f"{plural(digests, 'digest')} queued")
    ctx.row.message = "; ".join(parts) + "."
    return {**counts, "digests": digests}


def test_job(ctx) -> dict:
    """Send one test message now (Config → E-mail → Send a test e-mail) and report the outcome."""
    message_id = ctx.parameters["message_id"]
    counts = send_due(ids=[message_id])
    msg = db.session.get(EmailMessage, message_id)
    if msg is not None and msg.status == "sent":
        ctx.row.message = f"Test e-mail sent to {msg.recipient}."
    else:
        error = msg.last_error if msg is not None else "the message was deleted"
        ctx.fail(f"Test e-mail not sent: {error}" + (" It stays in the outbox and is retried." if msg else ""))
    return counts
