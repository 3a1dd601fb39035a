"""The alert e-mail from end to end, as the parts are wired in the app: importing a real fluoroscopy
RDSR with the study-DAP rule on raises the alert (doseapp.alerts), the app's notifier queues the
subscriber's e-mail (doseapp.notify), the outbox delivers it to a real SMTP server (aiosmtpd), and the
alerts list shows it sent; with the server down it shows "not sent yet"."""
from __future__ import annotations

from sqlalchemy import select

from tests.conftest import TESTDATA, free_port
from tests.notify.support import RF_FILE, configure_smtp, subscriber
from tests.web.config_helpers import login


def _import_with_rule(app):
    from doseapp.alerts.settings import set_rule
    from doseapp.ingest import import_file
    from doseapp.models import Alert, Study, db

    set_rule("rf_dap_study", threshold=1.0, weeks=None, enabled=True)  # 1 cGy·cm²: every RF study is above it
    import_file(TESTDATA / RF_FILE)
    study = db.session.scalar(select(Study).where(Study.modality == "RF"))
    [alert] = db.session.scalars(select(Alert)).all()
    assert (alert.rule_key, alert.study_id, alert.value) == ("rf_dap_study", study.id, study.total_dap_gym2)
    return alert


def _email_cell(client, alert_id: int) -> str:
    import re

    login(client, "reviewer", roles=("viewer", "admin"))
    page = client.get("/alerts?state=all").get_data(as_text=True)
    found = re.search(rf'<td class="alert-email" data-alert-id="{alert_id}">([^<]*)</td>', page)
    assert found, page[:2000]
    return found.group(1)


def test_an_imported_study_over_a_rule_is_emailed_and_listed_as_sent(app, smtp_server):
    from doseapp.models import EmailMessage, db
    from doseapp.notify import outbox

    configure_smtp(smtp_server.port)
    subscriber("physicist", "physicist@hospital.example", every="immediate")
    alert = _import_with_rule(app)
    [msg] = db.session.scalars(select(EmailMessage)).all()  # queued by the import, through the app's notifier
    assert msg.recipient == "physicist@hospital.example" and [a.id for a in msg.alerts] == [alert.id]
    assert outbox.send_due()["sent"] == 1
    [received] = smtp_server.messages
    assert b"Fluoroscopy study total DAP" in received.original_content
    assert _email_cell(app.test_client(), alert.id) == "sent"


def test_with_the_server_down_the_list_says_not_sent_yet(app):
    from doseapp.notify import outbox

    configure_smtp(free_port())  # nothing listens there
    subscriber("physicist", "physicist@hospital.example", every="immediate")
    alert = _import_with_rule(app)
    assert outbox.send_due()["failed"] == 1
    assert _email_cell(app.test_client(), alert.id).startswith("not sent yet (1 attempt failed: ConnectionRefusedError")
