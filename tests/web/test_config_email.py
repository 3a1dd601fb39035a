"""Config → E-mail (SMTP settings, audited without the password; the test e-mail against a real SMTP
server), the outbox page with Retry now, and each user's alert e-mail choices."""
from __future__ import annotations

from sqlalchemy import select

from doseapp.models import AlertRule, AlertSubscription, EmailMessage, Job, SystemSettings, User, db
from doseapp.runtime.jobs import execute
from tests.notify.support import QUIET, SMTP_PASSWORD, SMTP_USER, smtp_server  # noqa: F401  (fixture)
from tests.web.config_helpers import audit_rows, login, post

pytestmark = QUIET


def _settings_form(port, **changes) -> dict:
    form = {"smtp_host": "127.0.0.1", "smtp_port": str(port), "smtp_security": "none", "smtp_username": SMTP_USER,
            "smtp_password": SMTP_PASSWORD, "smtp_sender": "doseapp@hospital.example", "alert_digest_hour": "7"}
    form.update(changes)
    return form


def test_smtp_settings_are_saved_and_audited_without_the_password(app, client, smtp_server):
    login(client, "ada")
    resp = post(client, "/config/email", _settings_form(smtp_server.port))
    assert resp.status_code == 302
    db.session.expire_all()
    s = SystemSettings.get()
    assert (s.smtp_host, s.smtp_port, s.smtp_security, s.smtp_username, s.smtp_password, s.smtp_sender) == (
        "127.0.0.1", smtp_server.port, "none", SMTP_USER, SMTP_PASSWORD, "doseapp@hospital.example")
    [entry] = audit_rows("settings.email")
    assert entry.username == "ada" and entry.details["smtp_password"] == ["not set", "set"]
    assert entry.details["smtp_host"] == [None, "127.0.0.1"]
    # The page never shows the password; an empty field keeps it.
    page = client.get("/config/email").get_data(as_text=True)
    assert SMTP_PASSWORD not in page and 'placeholder="unchanged"' in page
    post(client, "/config/email", _settings_form(smtp_server.port, smtp_password="", alert_digest_hour="18"))
    db.session.expire_all()
    assert SystemSettings.get().smtp_password == SMTP_PASSWORD and SystemSettings.get().alert_digest_hour == 18
    assert audit_rows("settings.email")[-1].details == {"alert_digest_hour": [7, 18]}
    # A new password is recorded as changed, never its value.
    post(client, "/config/email", _settings_form(smtp_server.port, smtp_password="another-secret", alert_digest_hour="18"))
    assert audit_rows("settings.email")[-1].details == {"smtp_password": ["set", "changed"]}
    for row in audit_rows():
        assert SMTP_PASSWORD not in str(row.details) and "another-secret" not in str(row.details)
    # Bad values are refused, nothing saved.
    resp = post(client, "/config/email", _settings_form(smtp_server.port, smtp_port="99999", alert_digest_hour="25"))
    assert resp.status_code == 400 and b"1 to 65535" in resp.data and b"0 to 23" in resp.data
    db.session.expire_all()
    assert SystemSettings.get().smtp_port == smtp_server.port


def test_the_test_email_button_sends_through_the_server(app, client, smtp_server):
    login(client, "ada")
    post(client, "/config/email", _settings_form(smtp_server.port))
    resp = post(client, "/config/email/test", {"test_to": "ada@hospital.example"}, form_page="/config/email")
    assert resp.status_code == 302 and "/jobs/" in resp.location
    job = db.session.scalar(select(Job).where(Job.kind == "email_test"))
    execute(job.id)  # what the worker does
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.status == "finished" and job.message == "Test e-mail sent to ada@hospital.example."
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["ada@hospital.example"] and b"doseapp test e-mail" in received.original_content
    assert "Test e-mail sent" in client.get(resp.location).get_data(as_text=True)


def test_a_failed_test_email_says_why_and_stays_in_the_outbox(app, client):
    from tests.conftest import free_port

    login(client, "ada")
    post(client, "/config/email", _settings_form(free_port()))
    resp = post(client, "/config/email/test", {"test_to": "ada@hospital.example"}, form_page="/config/email")
    job = db.session.scalar(select(Job).where(Job.kind == "email_test"))
    execute(job.id)
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.status == "failed" and "ConnectionRefusedError" in job.message and "retried" in job.message
    page = client.get("/config/email/outbox").get_data(as_text=True)
    assert "ConnectionRefusedError" in page and "not sent yet" in page and "Retry now" in page
    msg = db.session.scalar(select(EmailMessage))
    assert msg.next_attempt_at is not None
    resp = post(client, "/config/email/outbox/retry", {"message_id": msg.id}, form_page="/config/email/outbox")
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(EmailMessage, msg.id).next_attempt_at is None
    assert db.session.scalar(select(Job).where(Job.kind == "email_outbox")) is not None


def test_each_user_chooses_their_alert_emails(app, client):
    db.session.add_all([AlertRule(key="rf_dap_study", enabled=True, threshold=1.0),
                        AlertRule(key="ct_dose_check", enabled=True)])
    db.session.commit()
    login(client, "vera", roles=("viewer",))
    page = client.get("/account/alert-emails").get_data(as_text=True)
    assert "Fluoroscopy study total DAP" in page and "CT Dose Check alert or notification" in page \
        and "Every rule" in page
    resp = post(client, "/account/alert-emails", {"email": "not an address"})
    assert resp.status_code == 400
    resp = post(client, "/account/alert-emails", {"email": "vera@hospital.example", "rule:*": "digest",
                                                  "rule:rf_dap_study": "immediate", "rule:ct_dose_check": ""})
    assert resp.status_code == 302
    vera = db.session.scalar(select(User).where(User.username == "vera"))
    db.session.refresh(vera)
    assert vera.email == "vera@hospital.example"
    choices = dict(db.session.execute(select(AlertSubscription.rule_key, AlertSubscription.mode)
                                      .where(AlertSubscription.user_id == vera.id)).all())
    assert choices == {"*": "digest", "rf_dap_study": "immediate"}
    entry = audit_rows("account.alert_emails")[-1]
    assert entry.username == "vera" and entry.details["email"] == [None, "vera@hospital.example"]
    # Off for one rule, everything else immediately.
    post(client, "/account/alert-emails", {"email": "vera@hospital.example", "rule:*": "immediate",
                                           "rule:rf_dap_study": "off", "rule:ct_dose_check": "immediate"})
    choices = dict(db.session.execute(select(AlertSubscription.rule_key, AlertSubscription.mode)
                                      .where(AlertSubscription.user_id == vera.id)).all())
    assert choices == {"*": "immediate", "rf_dap_study": "off"}


def test_an_admin_sets_a_users_address_on_the_user_page(app, client):
    from doseapp.users import create_user

    login(client, "ada")
    bob = create_user("bob", "bobs-password-1", ["viewer"])
    url = f"/config/users/{bob.id}"
    resp = post(client, url, {"roles": ["viewer"], "active": "on", "email": "bob@"})
    assert resp.status_code == 400 and b"Give one e-mail address" in resp.data
    resp = post(client, url, {"roles": ["viewer"], "active": "on", "email": "bob@hospital.example"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, bob.id).email == "bob@hospital.example"
    assert [(r.username, r.target, r.details) for r in audit_rows("user.email")] == [
        ("ada", "bob", {"email": [None, "bob@hospital.example"]})]
    assert 'value="bob@hospital.example"' in client.get(url).get_data(as_text=True)
