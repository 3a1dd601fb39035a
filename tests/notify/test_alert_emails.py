"""Alert e-mails end to end against a real SMTP server (aiosmtpd): what is sent to whom, that no
patient identifier is ever in it, retries while the server is down, and the daily digest."""
from __future__ import annotations

import datetime as dt
import email
import email.policy

from flask_babel import force_locale, gettext
from sqlalchemy import select, update

from doseapp.models import EmailMessage, User, db
from doseapp.models.base import utcnow
from doseapp.notify import outbox
from doseapp.notify.alerts import alert_email_status, alerts_raised, send_digests
from tests.conftest import free_port
from tests.notify.support import QUIET, SmtpServer, configure_smtp, make_alert, subscriber

pytestmark = QUIET


def _messages():
    db.session.expire_all()
    return list(db.session.scalars(select(EmailMessage).order_by(EmailMessage.id)))


def _identifiers(study) -> list[str]:
    name = str(study.patient_name)
    dob = study.patient_birth_date
    return [name, *name.replace("^", " ").split(), study.patient_id, study.accession_number,
            dob.isoformat(), dob.strftime("%Y%m%d"), dob.strftime("%d/%m/%Y"), dob.strftime("%d.%m.%Y")]


def test_the_alert_reaches_a_real_smtp_server_without_patient_identifiers(app, rf_study, smtp_server):
    configure_smtp(smtp_server.port)
    physicist = subscriber("physicist", "physicist@hospital.example", every="immediate")
    alert = make_alert(rf_study)
    ids = alerts_raised([alert.id], send_now=False)
    assert len(ids) == 1 and alert_email_status([alert.id]) == {alert.id: "not sent yet"}

    assert outbox.send_due() == {"sent": 1, "failed": 0, "waiting": 0}
    [received] = smtp_server.messages
    assert received.rcpt_tos == [physicist.email] and received.mail_from == "doseapp@hospital.example"
    raw = received.original_content
    text = email.message_from_bytes(raw, policy=email.policy.default)
    body = text.get_content()
    # What it says: the rule, value against threshold, modality, system, date and link.
    assert "Fluoroscopy study total DAP" in text["Subject"]  # the rule label of the alerts catalogue
    assert f"Value: {rf_study.total_dap_gym2:.4g} Gy·m² (threshold 0.001 Gy·m²)" in body
    assert f"System: {rf_study.equipment.display_name}" in body
    assert f"Study date: {rf_study.study_date.isoformat()}" in body
    assert f"Study: http://127.0.0.1:8000/rf/{rf_study.id}" in body
    # ...and nothing that identifies the patient, neither in the bytes on the wire nor decoded.
    for identifier in _identifiers(rf_study):
        assert identifier.encode() not in raw, identifier
        assert identifier not in body and identifier not in str(text["Subject"]), identifier
    msg = _messages()[0]
    assert (msg.status, msg.attempts, msg.last_error) == ("sent", 1, None) and msg.sent_at is not None
    assert alert_email_status([alert.id]) == {alert.id: "sent"}


def test_with_the_server_down_the_message_waits_and_goes_when_it_is_back(app, rf_study):
    port = free_port()  # nothing listens here yet
    configure_smtp(port)
    subscriber("physicist", "physicist@hospital.example", every="immediate")
    alert = make_alert(rf_study)
    alerts_raised([alert.id], send_now=False)

    before = utcnow()
    assert outbox.send_due()["failed"] == 1
    [msg] = _messages()
    assert msg.status == "queued" and msg.attempts == 1 and msg.sent_at is None
    assert "ConnectionRefusedError" in msg.last_error
    assert msg.next_attempt_at >= before + dt.timedelta(minutes=1)
    status = alert_email_status([alert.id])[alert.id]
    assert status.startswith("not sent yet (1 attempt failed: ConnectionRefusedError")
    assert outbox.send_due() == {"sent": 0, "failed": 0, "waiting": 0}  # not due again yet

    server = SmtpServer(port=port)
    try:
        assert outbox.send_due(now=utcnow() + dt.timedelta(minutes=2))["sent"] == 1
        assert len(server.messages) == 1
    finally:
        server.stop()
    [msg] = _messages()
    assert (msg.status, msg.attempts, msg.last_error, msg.next_attempt_at) == ("sent", 2, None, None)
    assert alert_email_status([alert.id]) == {alert.id: "sent"}


def test_a_line_break_in_a_display_name_cannot_add_headers(app, rf_study, smtp_server):
    configure_smtp(smtp_server.port)
    rf_study.equipment.display_name = "Room 1\r\nBcc: someone@elsewhere.example"
    db.session.commit()
    subscriber("physicist", "physicist@hospital.example", rf_dap_study="immediate")
    alert = make_alert(rf_study)
    alerts_raised([alert.id], send_now=False)
    # The subject names the modality, not the system; a multi-alert subject names rules: force a
    # subject with the line break through the same path the outbox uses.
    msg = _messages()[0]
    msg.subject = "alert\r\nBcc: someone@elsewhere.example"
    db.session.commit()
    assert outbox.send_due()["sent"] == 1
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["physicist@hospital.example"]
    text = email.message_from_bytes(received.original_content, policy=email.policy.default)
    assert text["Bcc"] is None and text["Subject"] == "alert Bcc: someone@elsewhere.example"


def test_retries_back_off_for_ever_and_show_failed_after_five(app, rf_study):
    configure_smtp(free_port())
    subscriber("physicist", "physicist@hospital.example", every="immediate")
    alert = make_alert(rf_study)
    alerts_raised([alert.id], send_now=False)
    now = utcnow()
    pauses = []
    for _ in range(8):
        outbox.send_due(now=now)
        msg = _messages()[0]
        pauses.append(round((msg.next_attempt_at - now).total_seconds() / 60))
        now = msg.next_attempt_at
    assert pauses == [1, 5, 15, 60, 180, 360, 360, 360]
    assert msg.status == "failed" and msg.attempts == 8  # still there, still retried
    assert alert_email_status([alert.id])[alert.id].startswith("failed, retrying (8 attempts: ConnectionRefusedError")


def test_without_an_smtp_server_messages_wait_without_counting_attempts(app, rf_study):
    subscriber("physicist", "physicist@hospital.example", every="immediate")
    alert = make_alert(rf_study)
    alerts_raised([alert.id], send_now=False)
    assert outbox.send_due()["waiting"] == 1
    [msg] = _messages()
    assert msg.attempts == 0 and msg.status == "queued" and "No SMTP server" in msg.last_error
    assert alert_email_status([alert.id])[alert.id] == "not sent yet (No SMTP server is configured (Config → E-mail).)"


def test_who_gets_what(app, rf_study, smtp_server):
    configure_smtp(smtp_server.port)
    subscriber("everything", "all@hospital.example", every="immediate")
    subscriber("no-address", None, every="immediate")
    subscriber("not-this-rule", "notdap@hospital.example", every="immediate", rf_dap_study="off")
    subscriber("other-rule-only", "rp@hospital.example", rf_rp_study="immediate")
    subscriber("this-rule-only", "dap@hospital.example", rf_dap_study="immediate")
    subscriber("digest-only", "digest@hospital.example", every="digest")
    subscriber("nothing", "nothing@hospital.example")
    alert = make_alert(rf_study)
    alerts_raised([alert.id], send_now=False)
    outbox.send_due()
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == ["all@hospital.example", "dap@hospital.example"]


def test_alert_emails_are_in_the_site_language_without_patient_identifiers(app, rf_study, smtp_server):
    """An e-mail has no reader's page: it is written in DOSEAPP_LANGUAGE (English when unset), even when
    the alert is raised during a request of a user who reads another language."""
    configure_smtp(smtp_server.port)
    subscriber("physicist", "physicist@hospital.example", every="immediate")
    alert = make_alert(rf_study)
    app.config["LANGUAGE"] = "de"
    try:
        # A request whose page is French (as a French user's would be).
        with app.test_request_context("/"), force_locale("fr"):
            assert gettext("Not found") == "Introuvable"
            alerts_raised([alert.id], send_now=False)
        assert outbox.send_due() == {"sent": 1, "failed": 0, "waiting": 0}
    finally:
        app.config["LANGUAGE"] = ""
    [received] = smtp_server.messages
    text = email.message_from_bytes(received.original_content, policy=email.policy.default)
    body = text.get_content()
    assert text["Subject"].startswith("doseapp-Alarm: Durchleuchtung: Gesamt-DAP der Untersuchung")  # the rule label too
    assert "(Schwelle 0.001 Gy·m²), Durchleuchtung" in text["Subject"]
    assert "Ein Hochdosis-Alarm wurde ausgelöst:" in body and "Modalität: Durchleuchtung" in body
    assert f"Studiendatum: {rf_study.study_date.isoformat()}" in body
    assert f"Studie: http://127.0.0.1:8000/rf/{rf_study.id}" in body
    assert "Patientenkennungen werden nie per E-Mail gesendet" in body and "Modality:" not in body
    for identifier in _identifiers(rf_study):
        assert identifier not in body and identifier not in str(text["Subject"]), identifier


def test_several_alerts_at_once_make_one_message_per_user(app, rf_study, smtp_server):
    configure_smtp(smtp_server.port)
    subscriber("physicist", "physicist@hospital.example", every="immediate")
    a = make_alert(rf_study)
    b = make_alert(rf_study, rule_key="rf_rp_study")
    alerts_raised([a.id, b.id], send_now=False)
    outbox.send_due()
    [received] = smtp_server.messages
    body = email.message_from_bytes(received.original_content, policy=email.policy.default).get_content()
    assert "Rule: Fluoroscopy study total DAP" in body and "Rule: Fluoroscopy study total dose at RP" in body
    assert alert_email_status([a.id, b.id]) == {a.id: "sent", b.id: "sent"}


def test_digest_two_alerts_one_message_at_the_digest_hour_none_before(app, rf_study, smtp_server):
    from doseapp.display.timefmt import display_zone
    from doseapp.models import SystemSettings

    configure_smtp(smtp_server.port)
    SystemSettings.get().alert_digest_hour = 7
    db.session.commit()
    subscriber("digester", "digest@hospital.example", every="digest")
    a = make_alert(rf_study)
    b = make_alert(rf_study, rule_key="rf_rp_study")
    assert alerts_raised([a.id, b.id], send_now=False) == []  # nothing immediately
    outbox.send_due()
    assert smtp_server.messages == []

    zone = display_zone()
    # The day of the first 07:00 after both alerts were raised (today before 07:00, else tomorrow):
    # a later day's digest would be the second, and the first would have told of them.
    raised = b.created_at.replace(tzinfo=dt.timezone.utc).astimezone(zone)
    local_day = raised.date() + dt.timedelta(days=1 if raised.hour >= 7 else 0)

    def at(hour, minute=0):  # naive UTC of a local time that day
        return (dt.datetime.combine(local_day, dt.time(hour, minute), tzinfo=zone)
                .astimezone(dt.timezone.utc).replace(tzinfo=None))

    assert send_digests(at(6, 59)) == 0
    assert send_digests(at(7, 0)) == 1
    assert send_digests(at(7, 1)) == 0  # once
    outbox.send_due(now=at(7, 1))
    [received] = smtp_server.messages
    text = email.message_from_bytes(received.original_content, policy=email.policy.default)
    assert text["Subject"] == "doseapp daily digest: 2 high-dose alerts"
    assert "Rule: Fluoroscopy study total DAP" in text.get_content() and "Rule: Fluoroscopy study total dose at RP" in text.get_content()
    for identifier in _identifiers(rf_study):
        assert identifier.encode() not in received.original_content
    assert alert_email_status([a.id, b.id]) == {a.id: "sent", b.id: "sent"}
    # The next day: nothing new, no digest.
    assert send_digests(at(7, 0) + dt.timedelta(days=1)) == 0


def test_starttls_with_login(app, rf_study, trust):
    server = SmtpServer(tls="starttls", certs=trust)
    try:
        configure_smtp(server.port, "starttls")
        subscriber("physicist", "physicist@hospital.example", every="immediate")
        alerts_raised([make_alert(rf_study).id], send_now=False)
        assert outbox.send_due()["sent"] == 1
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_implicit_tls_with_login(app, rf_study, trust):
    server = SmtpServer(tls="tls", certs=trust)
    try:
        configure_smtp(server.port, "tls")
        subscriber("physicist", "physicist@hospital.example", every="immediate")
        alerts_raised([make_alert(rf_study).id], send_now=False)
        assert outbox.send_due()["sent"] == 1
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_an_untrusted_certificate_or_wrong_password_is_a_recorded_failure(app, rf_study, certs):
    server = SmtpServer(tls="starttls", certs=certs)  # the client does not trust this certificate
    try:
        configure_smtp(server.port, "starttls")
        subscriber("physicist", "physicist@hospital.example", every="immediate")
        alerts_raised([make_alert(rf_study).id], send_now=False)
        assert outbox.send_due()["failed"] == 1
        assert "CERTIFICATE_VERIFY_FAILED" in _messages()[0].last_error
    finally:
        server.stop()


def test_a_wrong_password_is_a_recorded_failure(app, rf_study, smtp_server):
    from doseapp.models import SystemSettings

    configure_smtp(smtp_server.port)
    SystemSettings.get().smtp_password = "wrong"
    db.session.commit()
    subscriber("physicist", "physicist@hospital.example", every="immediate")
    alerts_raised([make_alert(rf_study).id], send_now=False)
    assert outbox.send_due()["failed"] == 1
    assert "SMTPAuthenticationError: 535" in _messages()[0].last_error and smtp_server.messages == []


def test_alerts_raised_runs_the_outbox_job_soon(app, rf_study, smtp_server):
    from doseapp.models import Job
    from doseapp.runtime.jobs import execute

    configure_smtp(smtp_server.port)
    subscriber("physicist", "physicist@hospital.example", every="immediate")
    alerts_raised([make_alert(rf_study).id])
    alerts_raised([make_alert(rf_study, rule_key="rf_rp_study").id])
    jobs = db.session.scalars(select(Job).where(Job.kind == outbox.OUTBOX_KIND)).all()
    assert len(jobs) == 1 and jobs[0].status == "queued"  # one waiting job is enough
    execute(jobs[0].id)  # as the worker runs it
    db.session.expire_all()
    job = db.session.get(Job, jobs[0].id)
    assert job.status == "finished" and job.message == "2 e-mails sent." and len(smtp_server.messages) == 2


def test_cli_test_email_and_send_due(app, app_env, rf_study, smtp_server):
    import json

    from tests.conftest import run_cli

    configure_smtp(smtp_server.port)
    done = run_cli(["email", "test", "ada@hospital.example"], app_env)
    assert done.returncode == 0, done.stderr
    assert "Sent to ada@hospital.example." in done.stdout and len(smtp_server.messages) == 1
    subscriber("physicist", "physicist@hospital.example", every="immediate")
    alerts_raised([make_alert(rf_study).id], send_now=False)
    done = run_cli(["email", "send-due"], app_env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sent"] == 1 and len(smtp_server.messages) == 2
    smtp_server.stop()
    done = run_cli(["email", "test", "ada@hospital.example"], app_env)
    assert done.returncode == 1 and "not sent: ConnectionRefusedError" in done.stderr
    lines = [json.loads(x) for x in run_cli(["email", "outbox", "--unsent"], app_env).stdout.splitlines()]
    assert [(m["kind"], m["status"], m["attempts"]) for m in lines] == [("test", "queued", 1)]


def test_an_alert_for_digest_users_shows_in_next_digest_with_its_time(app, rf_study, smtp_server, monkeypatch):
    """Digest hour 7 in Europe/Berlin, across the change to summer time (29 Mar 2026: 07:00 CEST is
    05:00 UTC; the day before, 07:00 CET was 06:00 UTC)."""
    from zoneinfo import ZoneInfo

    from doseapp.models import SystemSettings

    monkeypatch.setitem(app.config, "TIMEZONE", "Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")

    def utc(day, hour, minute=0):  # naive UTC of a Berlin wall time in March 2026
        return (dt.datetime(2026, 3, day, hour, minute, tzinfo=berlin).astimezone(dt.timezone.utc)
                .replace(tzinfo=None))

    assert (utc(28, 7), utc(29, 7)) == (dt.datetime(2026, 3, 28, 6), dt.datetime(2026, 3, 29, 5))
    configure_smtp(smtp_server.port)
    SystemSettings.get().alert_digest_hour = 7
    db.session.commit()
    subscriber("digester", "digest@hospital.example", every="digest")
    a = make_alert(rf_study, created_at=utc(28, 10))
    old = make_alert(rf_study, rule_key="rf_rp_study", created_at=utc(20, 10))
    assert alerts_raised([a.id], send_now=False) == []

    status = lambda now, *ids: alert_email_status(ids or [a.id], now=now)  # noqa: E731
    assert status(utc(28, 12)) == {a.id: "in next digest (29 Mar 2026 07:00)"}
    assert status(utc(29, 6, 59)) == {a.id: "in next digest (29 Mar 2026 07:00)"}
    # The hour has come, the outbox job has not made the digest yet: still this one (due now).
    assert status(utc(29, 7, 0)) == {a.id: "in next digest (29 Mar 2026 07:00)"}
    # Eight days old and this user never had a digest: no digest looks that far back.
    assert status(utc(28, 12), old.id) == {}

    assert send_digests(utc(29, 7, 0)) == 1
    # made at that (simulated) time, as the outbox job would have
    db.session.execute(update(EmailMessage).where(EmailMessage.kind == "digest").values(created_at=utc(29, 7, 0)))
    db.session.commit()
    assert status(utc(29, 7, 0)) == {a.id: "not sent yet"}  # the digest message itself now
    outbox.send_due(now=utc(29, 7, 0))
    assert status(utc(29, 7, 1)) == {a.id: "sent"}
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["digest@hospital.example"]

    # Raised after today's digest: tomorrow's. With an immediate subscriber too, both are said.
    later = make_alert(rf_study, rule_key="rf_psd_study", created_at=utc(29, 7, 30))
    assert status(utc(29, 8), later.id) == {later.id: "in next digest (30 Mar 2026 07:00)"}
    subscriber("at-once", "now@hospital.example", every="immediate")
    alerts_raised([later.id], send_now=False)
    assert status(utc(29, 8), later.id) == {later.id: "not sent yet; in next digest (30 Mar 2026 07:00)"}


def test_the_alerts_list_shows_in_next_digest(app, rf_study):
    """The page, at the real time now: the next 07:00 (UTC here) after the alert was raised."""
    from doseapp.display.timefmt import display_zone
    from doseapp.models import SystemSettings
    from tests.web.studydata import client_for

    SystemSettings.get().alert_digest_hour = 7
    db.session.commit()
    subscriber("digester", "digest@hospital.example", every="digest")
    subscriber("viewer", None)
    alert = make_alert(rf_study)
    raised = alert.created_at.replace(tzinfo=dt.timezone.utc).astimezone(display_zone())
    digest_day = raised.date() + dt.timedelta(days=1 if raised.hour >= 7 else 0)
    expected = f"in next digest ({digest_day.day} {digest_day:%b} {digest_day.year} 07:00)"
    app.config["TEST_USER_IDS"] = {"viewer": db.session.scalar(select(User.id).where(User.username == "viewer"))}
    html = client_for(app, "viewer").get("/alerts").get_data(as_text=True)
    assert f'data-alert-id="{alert.id}">{expected}</td>' in html


def test_an_nm_alert_links_to_its_nm_study_page_and_names_the_modality(app, smtp_server):
    """The DRL rule raised on a nuclear medicine study: the e-mail's link is the NM study page (not the
    home page) and the modality is named."""
    from doseapp.ingest import import_file
    from doseapp.models import Study
    from tests.conftest import TESTDATA

    configure_smtp(smtp_server.port)
    subscriber("physicist", "physicist@hospital.example", every="immediate")
    import_file(TESTDATA / "NM-RRDSR-Siemens.dcm")
    nm = db.session.scalar(select(Study).where(Study.modality == "NM"))
    alert = make_alert(nm, rule_key="drl_factor", threshold=2.0, value=2.63, unit="×")
    alerts_raised([alert.id], send_now=False)
    assert outbox.send_due() == {"sent": 1, "failed": 0, "waiting": 0}
    [received] = smtp_server.messages
    body = email.message_from_bytes(received.original_content, policy=email.policy.default).get_content()
    assert f"Study: http://127.0.0.1:8000/nm/{nm.id}" in body and "Modality: Nuclear medicine" in body
