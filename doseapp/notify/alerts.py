"""Alerts → e-mails. Each user chooses per rule (or "*" for every rule) to hear immediately, in a
daily digest, or not at all; a choice for one rule overrides the "*" choice.

Messages carry the rule, the value against the threshold, the modality, the system's display name,
the study date and a link to the study page: never a patient's name, ID, birth date or the
accession number (which can identify a patient too)."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale, gettext as _, ngettext
from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import selectinload

from doseapp.display.dashboard import MODALITY_NAMES, SLUGS
from doseapp.models import Alert, AlertSubscription, EmailMessage, EmailMessageAlert, Study, SystemSettings, User, db
from doseapp.models.base import utcnow
from doseapp.notify import outbox
from doseapp.notify.labels import ALL_RULES, rule_label

MODES = ("immediate", "digest", "off")


def modality_name(code: str | None) -> str:
    """The modality's name in the current language (the home page's names), else its code."""
    return str(MODALITY_NAMES.get(code, code or ""))
# A digest tells of the alerts since the user's last digest; this much earlier is looked at again
# (an alert committed just after the last digest's run), the ones already in a digest skipped.
DIGEST_OVERLAP = dt.timedelta(days=1)
UTC = ZoneInfo("UTC")


# --- who wants what --------------------------------------------------------------------------------

def mode_for(choices: dict[str, str], rule_key: str) -> str:
    """A user's choice for one rule: the rule's own, else their "*" choice, else off."""
    return choices.get(rule_key) or choices.get(ALL_RULES) or "off"


def recipients() -> list[tuple[User, dict[str, str]]]:
    """Active users with an e-mail address and at least one choice, with {rule_key: mode}."""
    rows = db.session.execute(
        select(User, AlertSubscription.rule_key, AlertSubscription.mode)
        .join(AlertSubscription, AlertSubscription.user_id == User.id)
        .where(User.active.is_(True), User.email.isnot(None), User.email != "")
        .order_by(User.id)).all()
    users: dict[int, tuple[User, dict[str, str]]] = {}
    for user, key, mode in rows:
        users.setdefault(user.id, (user, {}))[1][key] = mode
    return list(users.values())


# --- the message -----------------------------------------------------------------------------------

def _number(value) -> str:
    return _("not recorded") if value is None else f"{value:.4g}"


def study_link(study: Study | None) -> str:
    """The study page on DOSEAPP_BASE_URL (the home page for a modality without a list)."""
    base = current_app.config["BASE_URL"].rstrip("/")
    slug = SLUGS.get(study.modality if study else None)
    adapter = current_app.url_map.bind("localhost")
    if slug is None:
        return base + adapter.build("home.index")
    return base + adapter.build("studies.detail", {"modality": slug, "study_id": study.id})


def describe(alert: Alert) -> list[str]:
    """The lines that tell of one alert: nothing that identifies the patient."""
    study = alert.study
    unit = f" {alert.unit}" if alert.unit else ""
    equipment = study.equipment if study is not None else None
    return [_("Rule: %(rule)s", rule=rule_label(alert.rule_key)),
            _("Value: %(value)s (threshold %(threshold)s)", value=f"{_number(alert.value)}{unit}",
              threshold=f"{_number(alert.threshold)}{unit}"),
            _("Modality: %(modality)s", modality=modality_name(alert.modality)),
            _("System: %(system)s", system=equipment.display_name if equipment is not None else _("not recorded")),
            _("Study date: %(date)s", date=study.study_date.isoformat() if study is not None and study.study_date
              else _("not recorded")),
            _("Study: %(link)s", link=study_link(study))]


def render(alerts: list[Alert], kind: str) -> tuple[str, str]:
    """(subject, body) of an immediate message or a digest about `alerts`, in the site's default
    language (DOSEAPP_LANGUAGE): an e-mail has no reader's page to take a language from."""
    from doseapp.display.i18n import site_language

    with force_locale(site_language()):
        return _render(alerts, kind)


def _render(alerts: list[Alert], kind: str) -> tuple[str, str]:
    n = len(alerts)
    if kind == "digest":
        subject = ngettext("doseapp daily digest: %(num)d high-dose alert",
                           "doseapp daily digest: %(num)d high-dose alerts", n)
        intro = _("Alerts raised since your last digest (%(count)s):", count=n)
    elif n == 1:
        a = alerts[0]
        unit = f" {a.unit}" if a.unit else ""
        subject = _("doseapp alert: %(rule)s %(value)s (threshold %(threshold)s), %(modality)s",
                    rule=rule_label(a.rule_key), value=f"{_number(a.value)}{unit}",
                    threshold=f"{_number(a.threshold)}{unit}", modality=modality_name(a.modality))
        intro = _("A high-dose alert was raised:")
    else:
        subject = _("doseapp: %(count)s high-dose alerts (%(rules)s)", count=n,
                    rules=", ".join(sorted({rule_label(a.rule_key) for a in alerts})))
        intro = _("%(count)s high-dose alerts were raised:", count=n)
    blocks = ["\n".join(describe(a)) for a in alerts]
    base = current_app.config["BASE_URL"].rstrip("/")
    adapter = current_app.url_map.bind("localhost")
    footer = "\n".join((_("Patient identifiers are never sent by e-mail: open the study in doseapp to see the patient."),
                        _("Your alert e-mail choices: %(url)s", url=base + adapter.build("account.alert_emails"))))
    return subject, "\n\n".join([intro, *blocks, "-- ", footer]) + "\n"


def _load(alert_ids) -> list[Alert]:
    return list(db.session.scalars(
        select(Alert).where(Alert.id.in_(list(alert_ids))).order_by(Alert.id)
        .options(selectinload(Alert.study).selectinload(Study.equipment))))


# --- immediate messages ----------------------------------------------------------------------------

def alerts_raised(alert_ids, *, send_now: bool = True) -> list[int]:
    """Queue the immediate e-mails about newly raised (committed) alerts: one message per user telling
    of every alert of theirs in `alert_ids`; commit; and run the outbox soon. Returns message ids."""
    alert_ids = list(alert_ids)
    if not alert_ids:
        return []
    people = recipients()
    if not people:
        return []
    alerts = _load(alert_ids)
    messages = []
    for user, choices in people:
        mine = [a for a in alerts if mode_for(choices, a.rule_key) == "immediate"]
        if mine:
            subject, body = render(mine, "immediate")
            messages.append(outbox.queue(user.email, subject, body, "immediate", mine))
    db.session.commit()
    if messages and send_now:
        outbox.kick()
    return [m.id for m in messages]


# --- daily digests ---------------------------------------------------------------------------------

def digest_cutoff(now: dt.datetime, hour: int) -> dt.datetime | None:
    """Today's digest time (naive UTC) once it has come, in DOSEAPP_TIMEZONE; None before it."""
    from doseapp.display.timefmt import display_zone

    local = now.replace(tzinfo=UTC).astimezone(display_zone())
    at = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if local < at:
        return None
    return at.astimezone(UTC).replace(tzinfo=None)


def digest_time_after(moment: dt.datetime, hour: int) -> dt.datetime:
    """The first digest time (naive UTC) strictly after `moment` (naive UTC), in DOSEAPP_TIMEZONE."""
    from doseapp.display.timefmt import display_zone

    zone = display_zone()
    local = moment.replace(tzinfo=UTC).astimezone(zone)
    at = dt.datetime.combine(local.date(), dt.time(hour), tzinfo=zone)
    if at <= local:
        at = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(hour), tzinfo=zone)
    return at.astimezone(UTC).replace(tzinfo=None)


def _since(last: dt.datetime | None, cutoff: dt.datetime) -> dt.datetime:
    """How far back a digest made at `cutoff` looks, for a user whose last digest was made at `last`."""
    return (last or cutoff) - DIGEST_OVERLAP


def send_digests(now: dt.datetime | None = None) -> int:
    """Once the digest hour has come: queue for each digest user one message of the alerts raised
    before it that no digest to them has told of yet (since their last digest). Idempotent: run it as
    often as you like. Returns how many digests were queued."""
    now = now or utcnow()
    cutoff = digest_cutoff(now, SystemSettings.get().alert_digest_hour)
    if cutoff is None:
        return 0
    made = 0
    for user, choices in recipients():
        if "digest" not in choices.values():
            continue
        last = db.session.scalar(select(func.max(EmailMessage.created_at))
                                 .where(EmailMessage.kind == "digest", EmailMessage.recipient == user.email))
        since = _since(last, cutoff)
        told = exists().where(EmailMessageAlert.alert_id == Alert.id,
                              EmailMessageAlert.email_message_id == EmailMessage.id,
                              EmailMessage.kind == "digest", EmailMessage.recipient == user.email)
        ids = db.session.scalars(select(Alert.id).where(and_(Alert.created_at < cutoff, Alert.created_at >= since),
                                                        ~told)).all()
        mine = [a for a in _load(ids) if mode_for(choices, a.rule_key) == "digest"]
        if mine:
            subject, body = render(mine, "digest")
            outbox.queue(user.email, subject, body, "digest", mine)
            made += 1
    db.session.commit()
    return made


# --- what the alerts list shows --------------------------------------------------------------------

def pending_digests(alerts, now: dt.datetime | None = None) -> dict[int, dt.datetime]:
    """Per alert that a coming digest will tell of (a user has its rule as a digest, and no digest to
    them has told of it yet): the earliest time such a digest is due (naive UTC), as send_digests
    will choose its alerts. Alerts no digest will tell of are left out."""
    now = now or utcnow()
    alerts = list(alerts)
    people = [(u, c) for u, c in recipients() if "digest" in c.values()]
    if not alerts or not people:
        return {}
    ids = [a.id for a in alerts]
    told = set(db.session.execute(
        select(EmailMessageAlert.alert_id, EmailMessage.recipient)
        .join(EmailMessage, EmailMessage.id == EmailMessageAlert.email_message_id)
        .where(EmailMessage.kind == "digest", EmailMessageAlert.alert_id.in_(ids))).all())
    last_of = dict(db.session.execute(
        select(EmailMessage.recipient, func.max(EmailMessage.created_at))
        .where(EmailMessage.kind == "digest", EmailMessage.recipient.in_({u.email for u, _ in people}))
        .group_by(EmailMessage.recipient)).all())
    hour = SystemSettings.get().alert_digest_hour
    today = digest_cutoff(now, hour)
    out: dict[int, dt.datetime] = {}
    for user, choices in people:
        last = last_of.get(user.email)
        # Today's digest when its hour has come and it is not made yet (the outbox job, run every
        # minute, makes it), else the next one.
        due = today if today is not None and (last is None or last < today) else digest_time_after(now, hour)
        for a in alerts:
            if mode_for(choices, a.rule_key) != "digest" or (a.id, user.email) in told:
                continue
            if a.created_at >= due:  # raised after today's digest time: tomorrow's
                at = digest_time_after(a.created_at, hour)
            elif a.created_at >= _since(last, due):
                at = due
            else:
                continue  # older than this user's digests look back: none will tell of it
            out[a.id] = min(at, out.get(a.id, at))
    return out


def alert_email_status(alert_ids, now: dt.datetime | None = None) -> dict[int, str]:
    """Per alert that e-mails tell of: "sent", "not sent yet" (with the failed attempts so far), or
    "failed, retrying (n attempts: last error)"; and "in next digest (its time)" for an alert a
    coming digest will tell of. Alerts no message tells of and no digest will are left out."""
    from doseapp.display.timefmt import when

    alert_ids = list(alert_ids)
    rows = db.session.execute(
        select(EmailMessageAlert.alert_id, EmailMessage.status, EmailMessage.attempts, EmailMessage.last_error)
        .join(EmailMessage, EmailMessage.id == EmailMessageAlert.email_message_id)
        .where(EmailMessageAlert.alert_id.in_(list(alert_ids)))).all()
    by_alert = defaultdict(list)
    for alert_id, status, attempts, error in rows:
        by_alert[alert_id].append((status, attempts, error))
    out = {}
    for alert_id, messages in by_alert.items():
        unsent = [m for m in messages if m[0] != "sent"]
        if not unsent:
            out[alert_id] = _("sent")
            continue
        status, attempts, error = max(unsent, key=lambda m: m[1])
        if status == "failed":
            text = ngettext("failed, retrying (%(num)d attempt: %(error)s)",
                            "failed, retrying (%(num)d attempts: %(error)s)", attempts, error=error)
        elif attempts:
            text = ngettext("not sent yet (%(num)d attempt failed: %(error)s)",
                            "not sent yet (%(num)d attempts failed: %(error)s)", attempts, error=error)
        elif error:
            text = _("not sent yet (%(error)s)", error=error)
        else:
            text = _("not sent yet")
        if len(unsent) < len(messages):
            text = _("%(status)s; %(sent)s of %(count)s sent", status=text, sent=len(messages) - len(unsent),
                     count=len(messages))
        out[alert_id] = text
    alerts = db.session.scalars(select(Alert).where(Alert.id.in_(alert_ids))).all() if alert_ids else []
    for alert_id, at in pending_digests(alerts, now).items():
        words = _("in next digest (%(time)s)", time=when(at))
        out[alert_id] = _("%(status)s; %(digest)s", status=out[alert_id], digest=words) if alert_id in out else words
    return out
