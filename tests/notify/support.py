"""A real SMTP server (aiosmtpd) on a free local port, with AUTH and optionally STARTTLS or TLS, and
alert rows on a real imported fluoroscopy study (identifiers stored in clear, to prove none leaks)."""
from __future__ import annotations

import ssl
import subprocess

import pytest

from tests.conftest import TESTDATA, free_port, require

SMTP_USER, SMTP_PASSWORD = "doseapp", "s3cret-pw"
RF_FILE = "RF-RDSR-Philips_Allura.dcm"
# AUTH over plain SMTP is what some tests are about (aiosmtpd warns about it).
QUIET = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


class Recorder:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self, port: int | None = None, tls: str = "none", certs=None, auth: bool = True):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode()
                  and auth_data.password == SMTP_PASSWORD.encode())
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

        self.port = port or free_port()
        self.recorder = Recorder()
        kwargs = {}
        if auth:
            # aiosmtpd counts only STARTTLS as TLS (not a connection that starts with TLS).
            kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=tls == "starttls",
                          # PLAIN only: smtplib then reports a refused password at once, not after LOGIN stalls
                          auth_exclude_mechanism=["LOGIN"])
        if tls in ("starttls", "tls"):
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(certs["cert"], certs["key"])
            kwargs["tls_context" if tls == "starttls" else "ssl_context"] = ctx
            if tls == "starttls":
                kwargs["require_starttls"] = True
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    @property
    def messages(self):
        return self.recorder.messages

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server():
    require(_aiosmtpd(), "aiosmtpd is not installed (pip install -e '.[test]')")
    server = SmtpServer()
    yield server
    server.stop()


def _aiosmtpd() -> bool:
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def certs(tmp_path):
    """A self-signed certificate for 127.0.0.1 (openssl), trusted by doseapp's client for the test."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return {"cert": str(cert), "key": str(key)}


@pytest.fixture
def trust(certs, monkeypatch):
    from doseapp.notify import smtp

    monkeypatch.setattr(smtp, "tls_context", lambda: ssl.create_default_context(cafile=certs["cert"]))
    return certs


def configure_smtp(port: int, security: str = "none", auth: bool = True) -> None:
    from doseapp.models import SystemSettings, db

    s = SystemSettings.get()
    s.smtp_host, s.smtp_port, s.smtp_security, s.smtp_sender = "127.0.0.1", port, security, "doseapp@hospital.example"
    s.smtp_username, s.smtp_password = (SMTP_USER, SMTP_PASSWORD) if auth else (None, None)
    db.session.commit()


@pytest.fixture
def rf_study(app):
    """The Philips Allura study, imported with name, ID and birth date stored in clear."""
    from doseapp.ingest import import_file
    from doseapp.models import Study, SystemSettings, db

    s = SystemSettings.get()
    s.name_stored, s.name_hashed, s.id_stored, s.id_hashed, s.dob_stored, s.accession_hashed = (
        True, False, True, False, True, False)
    db.session.commit()
    import_file(TESTDATA / RF_FILE)
    study = db.session.scalar(db.select(Study).where(Study.modality == "RF"))
    assert study.patient_name and study.patient_id and study.patient_birth_date and study.accession_number
    return study


def make_alert(study, rule_key: str = "rf_dap_study", threshold: float = 0.001, **kw):
    from doseapp.models import Alert, AlertRule, db

    if db.session.scalar(db.select(AlertRule).where(AlertRule.key == rule_key)) is None:
        db.session.add(AlertRule(key=rule_key, enabled=True, threshold=threshold))
    fields = dict(rule_key=rule_key, study_id=study.id, modality=study.modality, value=study.total_dap_gym2,
                  threshold=threshold, unit="Gy·m²", state="new")
    alert = Alert(**{**fields, **kw})
    db.session.add(alert)
    db.session.commit()
    return alert


def subscriber(name: str, email: str | None, **choices):
    """A user with an e-mail address (or none) and rule choices ({"*": "immediate", ...}; keyword
    `every` stands for "*")."""
    from doseapp.models import AlertSubscription, db
    from doseapp.users import create_user

    user = create_user(name, "password-123", ["viewer"])
    user.email = email
    for key, mode in choices.items():
        db.session.add(AlertSubscription(user_id=user.id, rule_key="*" if key == "every" else key, mode=mode))
    db.session.commit()
    return user
