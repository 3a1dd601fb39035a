"""Send e-mail through the instance's SMTP server (Config → E-mail), honouring its security mode
(none, STARTTLS, TLS) and credentials. One connection can carry several messages."""
from __future__ import annotations

import email.utils
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage as MimeMessage

from flask_babel import gettext as _

from doseapp.lazy_text import lazy_gettext as _l

SECURITY = {"none": _l("None (plain SMTP, port 25)"), "starttls": _l("STARTTLS (port 587)"), "tls": _l("TLS (SMTPS, port 465)")}
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
TIMEOUT_SECONDS = 20


class NotConfigured(Exception):
    """No SMTP server or no sender address is set."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str
    username: str | None
    password: str | None
    sender: str
    timeout: float = TIMEOUT_SECONDS


def address_problem(address: str) -> str | None:
    """Why `address` is not one plain e-mail address (None when it is)."""
    local, _at, domain = address.rpartition("@")
    if not local or not domain or any(c in address for c in "\r\n<>,; \t\"") or len(address) > 254:
        return _("Give one e-mail address, such as name@hospital.example.")
    return None


def config_from(settings) -> SmtpConfig:
    """The SMTP settings of a SystemSettings row; raises NotConfigured without a host or sender."""
    if not (settings.smtp_host or "").strip() or not (settings.smtp_sender or "").strip():
        raise NotConfigured("No SMTP server is configured (Config → E-mail).")
    security = settings.smtp_security if settings.smtp_security in SECURITY else "starttls"
    return SmtpConfig(host=settings.smtp_host.strip(), port=settings.smtp_port or DEFAULT_PORTS[security],
                      security=security, username=(settings.smtp_username or None),
                      password=(settings.smtp_password or None), sender=settings.smtp_sender.strip())


def tls_context() -> ssl.SSLContext:
    """Certificates are checked against the system's trust store (a hospital's own CA belongs there)."""
    return ssl.create_default_context()


def build(sender: str, recipient: str, subject: str, body: str, message_id: str | None = None) -> MimeMessage:
    msg = MimeMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = " ".join(subject.split())  # a display name with a line break must not end the header
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = message_id or email.utils.make_msgid(domain=sender.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    msg.set_content(body)
    return msg


class Connection:
    """An open, logged-in SMTP connection (a context manager)."""

    def __init__(self, cfg: SmtpConfig):
        self.cfg = cfg
        if cfg.security == "tls":
            self.smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=tls_context())
        else:
            self.smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        try:
            self.smtp.ehlo()
            if cfg.security == "starttls":
                self.smtp.starttls(context=tls_context())
                self.smtp.ehlo()
            if cfg.username:
                self.smtp.login(cfg.username, cfg.password or "")
        except BaseException:
            self.close()
            raise

    def send(self, recipient: str, subject: str, body: str, message_id: str | None = None) -> None:
        self.smtp.send_message(build(self.cfg.sender, recipient, subject, body, message_id))

    def close(self) -> None:
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def describe_error(exc: BaseException) -> str:
    """A failure in words for the outbox list (the server's own reply where there is one)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{type(exc).__name__}: {exc.smtp_code} {reply}"[:1000]
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "Recipient refused: " + "; ".join(f"{r} ({c} {m.decode('utf-8', 'replace') if isinstance(m, bytes) else m})"
                                                 for r, (c, m) in exc.recipients.items())[:1000]
    return f"{type(exc).__name__}: {exc}"[:1000] if str(exc) else type(exc).__name__
