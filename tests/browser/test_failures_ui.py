"""The quarantine page and the Jobs page in a real browser (headless Chromium, a real `doseapp web` and
a real worker on the test database): filters in the address bar, retry and delete of one, the ticked
and all matching, the background retry's progress, failed jobs red; each page checked at 1366×768 and
1920×1080 for clipped tables and hidden controls (screenshots kept in the test's tmp folder)."""
from __future__ import annotations

import datetime as dt
import shutil
import urllib.parse
from pathlib import Path

import pytest
from sqlalchemy import select

from doseapp.ingest import import_file
from doseapp.models import AuditEntry, DicomStoreScp, Job, QuarantinedObject, Study, User, db
from doseapp.models.base import utcnow
from doseapp.users import create_user
from tests.browser.test_ui import (browser, login, running, screenshot_on_failure,  # noqa: F401 (browser: a fixture)
                                   wait_for, web_server)
from tests.conftest import TESTDATA
from tests.web.studydata import PASSWORD

FLASH = "CT-RDSR-Siemens_Flash-TAP-SS.dcm"
SIZES = ((1366, 768), (1920, 1080))


@pytest.fixture
def site(app, app_env, tmp_path):
    """A web server and a worker (for background retries) on the emptied test database."""
    with web_server(app_env, tmp_path) as base, running(["worker"], app_env, tmp_path / "worker.log"):
        yield base


def _query(driver) -> dict:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(driver.current_url).query, keep_blank_values=True))


def _check_layout(driver, tmp_path, name: str, box: str, controls: list[str]) -> None:
    """At each size: nothing wider than the window (no clipped table), `box` (the table or section the
    page is about) and every control inside it; a screenshot of each."""
    for width, height in SIZES:
        driver.set_window_size(width, height)
        seen = driver.execute_script(
            "const t = document.querySelector(arguments[0]).getBoundingClientRect();"
            "const c = Array.from(document.querySelectorAll(arguments[1].join(',')), e => e.getBoundingClientRect())"
            "  .map(r => [r.left, r.right, r.width]);"
            "return {table: [t.left, t.right], page: document.documentElement.scrollWidth,"
            "        inner: document.documentElement.clientWidth, controls: c};", box, controls)
        assert seen["page"] <= seen["inner"], (width, seen)
        assert 0 <= seen["table"][0] and seen["table"][1] <= seen["inner"], (width, seen)
        assert seen["controls"] and all(w > 0 and left >= 0 and right <= seen["inner"]
                                        for left, right, w in seen["controls"]), (width, seen)
        driver.save_screenshot(str(tmp_path / f"{name}-{width}x{height}.png"))
    driver.set_window_size(1400, 1000)


def _quarantine(tmp_path, name: str, content: bytes, source: str = "cli", calling_ae: str | None = None) -> int:
    path = tmp_path / name
    path.write_bytes(content)
    result = import_file(path, source=source, calling_ae=calling_ae)
    assert result.status == "failed", result
    return result.quarantine_id


def _rows(driver) -> list[int]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#quarantine tbody tr'), r => Number(r.dataset.objectId))")


def _left() -> list[int]:
    db.session.rollback()
    return list(db.session.scalars(select(QuarantinedObject.id).order_by(QuarantinedObject.id)))


def test_quarantine_page(site, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    create_user("boss", PASSWORD, ["admin", "pid"])
    cut = (TESTDATA / FLASH).read_bytes()[:400]
    first = _quarantine(tmp_path, "cut.dcm", cut)
    second = _quarantine(tmp_path, "notes.txt", b"a note, not DICOM\n", "scp:STORE1", "MODALITY1")
    third = _quarantine(tmp_path, "list.txt", b"another stray file\n", "scp:STORE1", "MODALITY2")
    with screenshot_on_failure(browser, tmp_path, "quarantine"):
        login(browser, site, "boss")
        assert browser.find_element(By.ID, "quarantine-badge").text == "3 in quarantine"
        browser.find_element(By.ID, "quarantine-badge").click()
        wait_for(browser, lambda d: _rows(d) == [third, second, first], "the three objects, newest first")
        assert browser.find_element(By.ID, "quarantine-count").text == "3 objects."
        row = browser.find_element(By.ID, f"object-{second}").text
        assert "scp:STORE1" in row and "MODALITY1" in row and "notes.txt" in row and "not a readable DICOM file" in row
        _check_layout(browser, tmp_path, "quarantine", "#quarantine",
                      ["#retry-picked", "#delete-picked", "#retry-all", "#delete-all", ".retry-one", ".delete-one"])
        # The home page says so too, and the dashboard of the node they came from.
        browser.get(f"{site}/")
        assert browser.find_element(By.ID, "home-quarantine").text == "3"
        _check_layout(browser, tmp_path, "home", "#attention", ["#attention a", "#quarantine-badge"])
        node = DicomStoreScp(name="Store one", aetitle="STORE1", port=11112, status="stopped")
        db.session.add(node)
        db.session.commit()
        browser.get(f"{site}/dicom/nodes/{node.id}/dashboard")
        assert "2 objects of this node in quarantine" in browser.find_element(By.ID, "failed-imports").text
        _check_layout(browser, tmp_path, "dashboard", "table.scp-dash", ["#failed-imports a"])
        browser.get(f"{site}/quarantine/")

        # The download is the object as it arrived (this user has pid as well as admin).
        link = browser.find_element(By.CSS_SELECTOR, f"#object-{first} a").get_attribute("href")
        got = browser.execute_async_script(
            "fetch(arguments[0]).then(r => r.arrayBuffer()).then(b => arguments[1](Array.from(new Uint8Array(b))))",
            link)
        assert bytes(got) == cut

        # Filter by source: in the address bar, so the view can be bookmarked.
        Select(browser.find_element(By.NAME, "source")).select_by_visible_text("scp:STORE1")
        browser.find_element(By.CSS_SELECTOR, "#quarantine-filters button[type=submit]").click()
        wait_for(browser, lambda d: _rows(d) == [third, second], "the two objects from STORE1")
        assert _query(browser) == {"source": "scp:STORE1", "reason": "", "from": "", "to": ""}
        browser.get(f"{site}/quarantine/?reason=READABLE&from={dt.date.today()}&to={dt.date.today()}")
        wait_for(browser, lambda d: _rows(d) == [third, second], "the two unreadable files, by their reason")
        browser.get(f"{site}/quarantine/?to=2001-01-01")
        wait_for(browser, lambda d: "Nothing matches" in d.page_source, "nothing quarantined by 2001")
        browser.get(f"{site}/quarantine/?from=soon")
        assert "From must be a date such as 2024-03-31" in browser.page_source

        # Retry one, repaired in place meanwhile: it imports (in the request) and leaves.
        shutil.copy(TESTDATA / FLASH, db.session.get(QuarantinedObject, first).path)
        browser.get(f"{site}/quarantine/")
        browser.find_element(By.CSS_SELECTOR, f"#object-{first} .retry-one").click()
        wait_for(browser, lambda d: f"Object {first}: imported" in d.page_source, "the retry's outcome")
        assert _rows(browser) == [third, second] and _left() == [second, third]
        db.session.rollback()
        assert db.session.query(Study).count() == 1

        # Retry the ticked two: a background job, its progress on the page, both fail again and stay.
        for object_id in (second, third):
            browser.find_element(By.CSS_SELECTOR, f"#object-{object_id} input.pick").click()
        browser.find_element(By.ID, "retry-picked").click()
        wait_for(browser, lambda d: "Retrying 2 objects in the background" in d.page_source, "the retry job")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.job-finished"), "the retry job finished")
        assert "0 of 2 left the quarantine; 2 failed again and stay." in browser.find_element(
            By.CSS_SELECTOR, "tr.job-finished").text
        db.session.rollback()
        assert [r.retry_count for r in db.session.scalars(select(QuarantinedObject).order_by(QuarantinedObject.id))] \
            == [1, 1]

        # Delete the ticked one (asked first), then all that match the filter: rows and files.
        files = [Path(db.session.get(QuarantinedObject, i).path) for i in (second, third)]
        browser.get(f"{site}/quarantine/?source=scp:STORE1")
        browser.find_element(By.CSS_SELECTOR, f"#object-{second} input.pick").click()
        browser.find_element(By.ID, "delete-picked").click()
        browser.switch_to.alert.accept()
        wait_for(browser, lambda d: "Deleted 1 object from the quarantine" in d.page_source, "one deleted")
        assert _left() == [third] and _query(browser) == {"source": "scp:STORE1"}
        browser.find_element(By.ID, "delete-all").click()
        browser.switch_to.alert.accept()
        wait_for(browser, lambda d: "Deleted 1 object from the quarantine" in d.page_source and "Nothing matches" in d.page_source,
                 "all matching deleted")
        assert _left() == [] and not any(f.exists() for f in files)
        db.session.rollback()
        deleted = [o["id"] for e in db.session.scalars(select(AuditEntry).where(AuditEntry.action == "quarantine.delete")
                                                       .order_by(AuditEntry.id)) for o in e.details["objects"]]
        assert deleted == [second, third]
        assert not browser.find_elements(By.ID, "quarantine-badge")


def test_quarantine_download_needs_pid(site, browser, tmp_path):
    from selenium.webdriver.common.by import By

    create_user("plainadmin", PASSWORD, ["admin"])
    object_id = _quarantine(tmp_path, "stray.txt", b"stray\n")
    with screenshot_on_failure(browser, tmp_path, "quarantine-no-pid"):
        login(browser, site, "plainadmin")
        browser.get(f"{site}/quarantine/")
        wait_for(browser, lambda d: _rows(d) == [object_id], "the object")
        assert not browser.find_elements(By.CSS_SELECTOR, f"#object-{object_id} a")
        assert "Downloading an object needs the pid role as well" in browser.page_source
        browser.get(f"{site}/quarantine/{object_id}/file")
        assert "needs the admin and pid role" in browser.page_source


def _job(kind: str, status: str, title: str, minutes_ago: float, user: User | None = None, message: str = "") -> Job:
    at = utcnow() - dt.timedelta(minutes=minutes_ago)
    return Job(kind=kind, queue="default", status=status, title=title, message=message or None,
               user_id=user.id if user else None, rq_id=f"ui-{kind}-{minutes_ago}-{status}", created_at=at,
               started_at=at, ended_at=at + dt.timedelta(seconds=2) if status != "started" else None,
               progress=1.0 if status == "finished" else 0.3)


def _job_ids(driver) -> list[int]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('table.jobs tbody tr'), r => Number(r.id.split('-')[1]))")


def test_jobs_page(site, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    boss = create_user("boss", PASSWORD, ["admin"])
    ann = create_user("ann", PASSWORD, ["exporter"])
    # Two hours of a scheduler's periodic jobs, which would bury everything else on a 100-row page ...
    periodic = [_job("housekeeping" if n % 5 == 0 else "qr_schedule", "finished", "Periodic", n) for n in range(1, 121)]
    # ... and among them what people care about.
    failed_import = _job("import_file", "failed", "Import received broken.dcm", 30,
                         message="Failed: not a readable DICOM file: InvalidDicomError")
    failed_import.result = {"file": "broken.dcm", "status": "failed", "reason": "not a readable DICOM file",
                            "warnings": [], "study": None, "quarantine_id": 7}
    imports = [_job("import_file", "finished", f"Import received ok{n}.dcm", 40 + n, message="imported")
               for n in range(60)]
    export = _job("export", "failed", "CT CSV export", 50, user=ann, message="Failed: disk full")
    old = _job("export", "finished", "MG XLSX export", 60 * 24 * 10, user=ann)
    for job in sorted([*periodic, failed_import, *imports, export, old], key=lambda j: j.created_at):
        db.session.add(job)  # in time order, as the ids of real jobs are
        db.session.flush()
    db.session.commit()
    with screenshot_on_failure(browser, tmp_path, "jobs"):
        login(browser, site, "boss")
        assert browser.find_element(By.ID, "failed-jobs-badge").text == "2 failed"
        browser.find_element(By.LINK_TEXT, "Jobs").click()
        wait_for(browser, lambda d: len(_job_ids(d)) == 50, "a page of 50 jobs")
        shown = _job_ids(browser)
        assert failed_import.id in shown and not set(shown) & {j.id for j in periodic}  # periodic ones hidden
        assert "63 jobs, page 1 of 2" in browser.page_source
        counts = {e.get_attribute("data-state"): e.text for e in browser.find_elements(By.CSS_SELECTOR, "#state-counts a")}
        assert counts == {"queued": "waiting: 0", "started": "running: 0", "finished": "finished: 61",
                          "failed": "failed: 2", "cancelled": "cancelled: 0"}
        red = browser.find_element(By.ID, f"job-{failed_import.id}")
        assert "not a readable DICOM file" in red.text and "failed" in red.text and "Import" in red.text
        def shade(job_id):
            return browser.find_element(By.CSS_SELECTOR, f"#job-{job_id} td").value_of_css_property("background-color")
        assert shade(failed_import.id) == "rgba(253, 236, 234, 1)" != shade(imports[0].id)
        _check_layout(browser, tmp_path, "jobs", "table.jobs", ["#job-filters button", "#state-counts a", ".pager a"])
        browser.find_element(By.LINK_TEXT, "Older").click()
        wait_for(browser, lambda d: len(_job_ids(d)) == 13, "the second page")
        assert _query(browser)["page"] == "2"

        # Filters in the address bar: failed imports.
        browser.get(f"{site}/jobs/")
        Select(browser.find_element(By.NAME, "kind")).select_by_visible_text("Import")
        Select(browser.find_element(By.NAME, "state")).select_by_visible_text("failed")
        browser.find_element(By.CSS_SELECTOR, "#job-filters button[type=submit]").click()
        wait_for(browser, lambda d: _job_ids(d) == [failed_import.id], "the failed import")
        assert _query(browser) == {"kind": "import_file", "state": "failed", "from": "", "to": ""}
        # The periodic ones on request; a date range.
        browser.get(f"{site}/jobs/?periodic=1&kind=")
        wait_for(browser, lambda d: "183 jobs" in d.page_source, "every job, periodic ones too")
        browser.get(f"{site}/jobs/?kind=export&from={(dt.date.today() - dt.timedelta(days=12)).isoformat()}"
                    f"&to={(dt.date.today() - dt.timedelta(days=5)).isoformat()}")
        wait_for(browser, lambda d: _job_ids(d) == [old.id], "the export of ten days ago")
        # The top bar's count leads to the failures; a failed import's page to its object in quarantine.
        browser.find_element(By.ID, "failed-jobs-badge").click()
        wait_for(browser, lambda d: set(_job_ids(d)) == {failed_import.id, export.id}, "both failures")
        browser.find_element(By.LINK_TEXT, str(failed_import.id)).click()
        wait_for(browser, lambda d: d.find_elements(By.LINK_TEXT, "quarantined object 7"), "the quarantine link")
        _check_layout(browser, tmp_path, "job", "table.jobs", ["a[href='/quarantine/?id=7']"])

        # Others see their own jobs only.
        browser.delete_all_cookies()
        login(browser, site, "ann")
        browser.get(f"{site}/jobs/")
        wait_for(browser, lambda d: _job_ids(d) == [export.id, old.id], "ann's two exports")
        assert browser.find_element(By.ID, "failed-jobs-badge").text == "1 failed"
        _check_layout(browser, tmp_path, "jobs-own", "table.jobs", ["#job-filters button", "#state-counts a"])
    assert boss.id != ann.id
