"""The e-mail pages in headless Chromium against a real `doseapp web`: Config → E-mail, its outbox,
and a user's own alert e-mail choices. The outbox holds real messages: alert e-mails that a closed
port refused five times (so "failed, retrying", with the error smtplib gave), and a test e-mail that
a real SMTP server (aiosmtpd) took.

At 1366x768 and 1920x1080: no table clipped (the layout checks of test_layout_fit), and no hidden
control: every field, list and button of the page, scrolled to, is inside the window and inside
whatever frame holds it, and is the element a click on its middle reaches (nothing covers it).
Screenshots in the test's tmp folder (and in DOSEAPP_SCREENSHOTS). Then a user sets their address
and chooses a daily digest in the browser, and an admin retries a failed e-mail."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from doseapp.models import AlertSubscription, EmailMessage, User, db
from tests.browser.test_layout_fit import LAYOUT_PROBLEMS_JS, _save, _settle
from tests.browser.test_ui import chromium, login, screenshot_on_failure, wait_for, web_server
from tests.conftest import TESTDATA, _empty_all_tables, free_port, require
from tests.notify.support import QUIET, SmtpServer, _aiosmtpd, configure_smtp
from tests.web import studydata

pytestmark = QUIET
RF = sorted(TESTDATA.glob("RF-RDSR-*.dcm"))
SIZES = {"1366x768": (1366, 768), "1920x1080": (1920, 1080)}
PAGES = (("email-settings", "/config/email"), ("email-outbox", "/config/email/outbox"),
         ("alert-emails", "/account/alert-emails"))

# Each shown control of <main>, scrolled into view: in the window, in its frames, and not covered.
CONTROL_PROBLEMS_JS = r"""
const problems = [];
const vw = document.documentElement.clientWidth, vh = window.innerHeight;
const controls = Array.from(document.querySelectorAll('main input:not([type=hidden]), main select, main textarea, main button'))
  .filter(el => el.getClientRects().length > 0);
for (const el of controls) {
  el.scrollIntoView({block: 'center', inline: 'center'});
  const r = el.getBoundingClientRect();
  const label = `${el.tagName.toLowerCase()}[name=${el.name || ''}] "${(el.textContent || el.placeholder || '').trim().slice(0, 30)}"`;
  if (r.width < 4 || r.height < 4) { problems.push(`${label}: ${r.width}x${r.height} px`); continue; }
  if (r.left < -1 || r.right > vw + 1 || r.top < -1 || r.bottom > vh + 1)
    problems.push(`${label}: not in the window (${r.left},${r.top}..${r.right},${r.bottom} of ${vw}x${vh})`);
  for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
    const s = getComputedStyle(p);
    if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
    const f = p.getBoundingClientRect();
    if (r.left < f.left - 1 || r.right > f.right + 1 || r.top < f.top - 1 || r.bottom > f.bottom + 1)
      problems.push(`${label}: cut by its frame ${p.tagName.toLowerCase()}.${p.className}`);
  }
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  if (!hit || !(hit === el || el.contains(hit)))
    problems.push(`${label}: covered by ${hit ? hit.tagName.toLowerCase() + '.' + hit.className : 'nothing'}`);
}
for (const p of document.querySelectorAll('main *')) if (p.scrollLeft || p.scrollTop) { p.scrollLeft = 0; p.scrollTop = 0; }
window.scrollTo(0, 0);
return problems;
"""


@pytest.fixture(scope="module")
def email_site(_session_app, app_env, tmp_path_factory):
    """The fluoroscopy files with two rules on (five alerts); adminviewer hears of them at once, so the
    outbox has their e-mail, refused five times by a closed port; a test e-mail sent to aiosmtpd; a
    web server. Yields (base address, the SMTP server)."""
    require(_aiosmtpd(), "aiosmtpd is not installed (pip install -e '.[test]')")
    from doseapp.alerts.evaluate import evaluate
    from doseapp.alerts.settings import set_rule
    from doseapp.notify import outbox
    from doseapp.notify.alerts import alerts_raised

    studydata.load_testdata(_session_app, RF)
    server = SmtpServer()
    with _session_app.app_context():
        set_rule("rf_dap_study", threshold=100, enabled=True)
        set_rule("rf_rp_study", threshold=0.005, enabled=True)
        raised = [i for ids in evaluate().values() for i in ids]
        assert len(raised) == 5
        admin = db.session.scalar(select(User).where(User.username == "adminviewer"))
        admin.email = "physicist.with.a.long.address@radiology.hospital.example.org"
        db.session.add(AlertSubscription(user_id=admin.id, rule_key="*", mode="immediate"))
        db.session.commit()
        [alert_mail] = alerts_raised(raised, send_now=False)
        configure_smtp(free_port())  # nothing listens there
        when = dt.datetime.utcnow()
        for attempt in range(1, 6):  # each try when the back-off of the one before has passed
            counts = outbox.send_due(when)
            assert counts["failed"] == 1, counts
            when += outbox.backoff(attempt)
        configure_smtp(server.port)
        test_mail = outbox.queue("physicist@hospital.example", "doseapp test e-mail", "A test.\n", "test")
        db.session.commit()
        assert outbox.send_due(ids=[test_mail.id])["sent"] == 1
        failed = db.session.get(EmailMessage, alert_mail)
        assert (failed.status, failed.attempts) == ("failed", 5)
        assert "ConnectionRefusedError" in failed.last_error
        db.session.remove()
    try:
        with web_server(app_env, tmp_path_factory.mktemp("web")) as base:
            yield base, server
    finally:
        server.stop()
        _empty_all_tables(_session_app)


@pytest.mark.parametrize("size", SIZES)
def test_email_pages_fit_with_every_control_reachable(email_site, tmp_path, size):
    base, _ = email_site
    driver = chromium(tmp_path / "profile", *SIZES[size])
    try:
        login(driver, base, "adminviewer")
        found = {}
        for name, path in PAGES:
            driver.get(base + path)
            _settle(driver, path)
            assert not driver.title.startswith(("Not allowed", "Not found")), f"{path}: {driver.title}"
            _save(driver, tmp_path / f"{name}-{size}.png")  # as it opens, before the checks scroll
            problems = driver.execute_script(LAYOUT_PROBLEMS_JS) + driver.execute_script(CONTROL_PROBLEMS_JS)
            if problems:
                found[path] = problems
        assert not found, f"at {size}: {found}"
        # What the pages are checked with: the outbox shows both messages, each state as words.
        driver.get(base + "/config/email/outbox")
        states = driver.execute_script(
            "return Array.from(document.querySelectorAll('#outbox tbody tr[data-id]'), r => [r.dataset.status, r.cells[4].querySelector('span').textContent])")
        assert sorted(states) == [["failed", "failed, retrying"], ["sent", "sent"]]
        # Long addresses, subjects and errors wrap: the outbox needs no sideways scrolling at either size.
        widths = driver.execute_script(
            "const t = document.getElementById('outbox'); return [t.getBoundingClientRect().width, t.parentElement.clientWidth]")
        assert widths[0] <= widths[1] + 1, widths
    finally:
        driver.quit()


def test_user_chooses_a_daily_digest_and_an_admin_retries_a_failed_email(email_site, tmp_path, _session_app):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, _ = email_site
    driver = chromium(tmp_path / "profile", 1366, 768)
    try:
        with screenshot_on_failure(driver, tmp_path, "email-choices"):
            login(driver, base, "viewer")
            driver.get(base + "/account/alert-emails")
            form = driver.find_element(By.ID, "alert-emails")
            form.find_element(By.NAME, "email").send_keys("viewer@hospital.example")
            Select(form.find_element(By.NAME, "rule:*")).select_by_visible_text("Daily digest")
            Select(form.find_element(By.NAME, "rule:rf_rp_study")).select_by_visible_text("Off")
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            wait_for(driver, lambda d: "saved" in d.find_element(By.CSS_SELECTOR, ".flash").text, "the flash")
            assert Select(driver.find_element(By.NAME, "rule:*")).first_selected_option.text == "Daily digest"
            assert Select(driver.find_element(By.NAME, "rule:rf_dap_study")).first_selected_option.text == \
                "As for every rule"
        driver.delete_all_cookies()
        with screenshot_on_failure(driver, tmp_path, "outbox-retry"):
            login(driver, base, "adminviewer")
            driver.get(base + "/config/email/outbox?state=failed")
            [row] = driver.find_elements(By.CSS_SELECTOR, "#outbox tr[data-id]")
            message_id = int(row.get_attribute("data-id"))
            row.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            wait_for(driver, lambda d: "1 e-mail will be tried again now" in d.find_element(By.CSS_SELECTOR, ".flash").text,
                     "the flash")
    finally:
        driver.quit()
    with _session_app.app_context():
        viewer = db.session.scalar(select(User).where(User.username == "viewer"))
        assert viewer.email == "viewer@hospital.example"
        choices = dict(db.session.execute(select(AlertSubscription.rule_key, AlertSubscription.mode)
                                          .where(AlertSubscription.user_id == viewer.id)).all())
        assert choices == {"*": "digest", "rf_rp_study": "off"}
        msg = db.session.get(EmailMessage, message_id)
        assert msg.status == "failed" and msg.next_attempt_at is None  # due at once, still kept
        db.session.remove()
