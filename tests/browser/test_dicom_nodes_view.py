"""The DICOM node pages in a real browser (headless Chromium, a real `doseapp web`) at 1366x768 and
1920x1080: the node form with its service switches and cleanup-when-full settings, the node's page
with Restart, the auto-refresh switch and the throughput charts, the node list, the remote node form
and the transaction log fit the window (the layout checks of test_layout_fit); a transaction row
opens to its details and closes again; Restart asks first; the auto-refresh switch stops the polling,
is remembered, and refreshes at once when switched on again. Screenshots in the test's tmp folder."""
from __future__ import annotations

import datetime as dt
import time

from selenium.webdriver.common.by import By
from sqlalchemy import insert

from doseapp.models import DicomRemoteNode, DicomStoreScp, DicomTransaction, db
from doseapp.models.base import utcnow
from doseapp.users import create_user
from tests.browser.test_layout_fit import LAYOUT_PROBLEMS_JS, _save, _settle
from tests.browser.test_ui import chromium, login, wait_for, web_server
from tests.web.studydata import PASSWORD

SIZES = ((1366, 768), (1920, 1080))


def _data() -> dict:
    node = DicomStoreScp(name="Main store", aetitle="DRAW_SCP", port=11112, bind_address="0.0.0.0", status="running",
                         desired_state="running", echo_status="alive", started_at=utcnow() - dt.timedelta(hours=3),
                         last_seen=utcnow(), storage_limit_mb=500, storage_used_bytes=123_000_000,
                         cleanup_when_full=True, move_enabled=False)
    remote = DicomRemoteNode(name="Hospital PACS", aetitle="ANY-SCP", port=104, hostname="pacs.example.org",
                             query_model="patient", max_pdu=0)
    db.session.add_all([node, remote])
    db.session.commit()
    now = utcnow()
    rows = [dict(at=now - dt.timedelta(minutes=7 * i), direction="in", operation="C-STORE", scp_id=node.id,
                 status="success", calling_aetitle="CT_ROOM-1", called_aetitle="DRAW_SCP", peer_address="10.1.2.3",
                 peer_port=40000 + i, sop_class_uid="1.2.840.10008.5.1.4.1.1.88.67",
                 sop_instance_uid=f"1.2.826.0.1.3680043.10.999.{i}", study_instance_uid="1.2.826.0.1.3680043.10.999",
                 size_bytes=15588 + i, duration_ms=3.2) for i in range(400)]
    rows += [dict(at=now - dt.timedelta(hours=h), direction="in", operation="ASSOCIATE", scp_id=node.id,
                  status="accepted", calling_aetitle="CT_ROOM-1") for h in range(0, 30, 2)]
    db.session.execute(insert(DicomTransaction), rows)
    db.session.commit()
    create_user("nodeviewer", PASSWORD, ["admin"])
    return {"node": node.id, "remote": remote.id}


def test_dicom_node_pages_fit_and_work(app, app_env, tmp_path):
    ids = _data()
    pages = [("node-form", f"/dicom/nodes/{ids['node']}"), ("node-new", "/dicom/nodes/new"),
             ("node-page", f"/dicom/nodes/{ids['node']}/dashboard"), ("node-list", "/dicom/nodes"),
             ("remote-form", f"/qr/admin/remotes/{ids['remote']}"), ("remotes", "/qr/admin/remotes"),
             ("transactions", "/dicom/transactions")]
    with web_server(app_env, tmp_path) as base:
        for width, height in SIZES:
            driver = chromium(tmp_path / f"profile-{width}", width, height)
            try:
                login(driver, base, "nodeviewer")
                found = {}
                for name, path in pages:
                    driver.get(base + path)
                    _settle(driver, path)
                    for problem in driver.execute_script(LAYOUT_PROBLEMS_JS):
                        found.setdefault(problem, []).append(path)
                    _save(driver, tmp_path / f"{name}-{width}x{height}.png")
                    for part in ("services", "remote-services", "throughput"):  # the new parts, below the fold
                        if driver.execute_script(f"const e = document.getElementById('{part}');"
                                                 "if (e) e.scrollIntoView(); return !!e"):
                            _save(driver, tmp_path / f"{name}-{part}-{width}x{height}.png")
                    # Every form control can be brought on screen and is not covered.
                    hidden = driver.execute_script("""
                        const out = [];
                        for (const el of document.querySelectorAll('main input:not([type=hidden]), main select, main button, main textarea')) {
                          if (el.closest('details:not([open])') || el.closest('[hidden]')) continue;
                          el.scrollIntoView({block: 'center', inline: 'nearest'});
                          const r = el.getBoundingClientRect();
                          const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                          if (r.width <= 0 || r.left < 0 || r.right > document.documentElement.clientWidth
                              || !(top === el || el.contains(top) || (top && top.closest('label') === el.closest('label'))))
                            out.push((el.name || el.textContent.trim() || el.tagName) + ' at ' + [r.left, r.top, r.right].map(Math.round));
                        }
                        window.scrollTo(0, 0);
                        return out;""")
                    assert not hidden, f"{path} at {width}x{height}: controls off screen or covered: {hidden}"
                assert not found, f"at {width}x{height}: " + "; ".join(f"{p} ({', '.join(w)})" for p, w in found.items())
                if width == 1366:
                    _behaviour(driver, base, ids, tmp_path)
            finally:
                driver.quit()


def _behaviour(driver, base, ids, tmp_path) -> None:
    # The node form: the three services, C-MOVE off as saved.
    driver.get(base + f"/dicom/nodes/{ids['node']}")
    boxes = {n: driver.find_element(By.NAME, n).is_selected() for n in ("find_enabled", "move_enabled", "get_enabled",
                                                                         "cleanup_when_full")}
    assert boxes == {"find_enabled": True, "move_enabled": False, "get_enabled": True, "cleanup_when_full": True}

    # A transaction row opens to its details on a click, and closes on another.
    driver.get(base + "/dicom/transactions?operation=C-STORE&page=8")  # 50 a page: the last has the first sent
    row = driver.find_elements(By.CSS_SELECTOR, "tr.tx-row")[-1]
    details = driver.find_element(By.ID, row.get_attribute("data-details"))
    assert not details.is_displayed()
    row.find_elements(By.TAG_NAME, "td")[3].click()
    wait_for(driver, lambda d: details.is_displayed(), "the row's details")
    text = details.text
    assert "10.1.2.3 port 40000" in text and "CT_ROOM-1" in text and "X-Ray Radiation Dose SR Storage" in text
    assert "1.2.826.0.1.3680043.10.999.0" in text and "15588 bytes" in text and "3.2 ms" in text
    driver.execute_script("arguments[0].scrollIntoView({block: 'end'})", details)
    _save(driver, tmp_path / "transactions-open-1366x768.png")
    row.find_element(By.CSS_SELECTOR, "button.tx-toggle").click()
    wait_for(driver, lambda d: not details.is_displayed(), "the details closed")

    # Restart asks first: dismissed, nothing happens; accepted, the supervisor is asked.
    driver.get(base + f"/dicom/nodes/{ids['node']}/dashboard")
    restart = driver.find_element(By.CSS_SELECTOR, "button[value=restart]")
    restart.click()
    alert = wait_for(driver, lambda d: d.switch_to.alert, "the confirmation")
    assert "Restart Main store?" in alert.text
    alert.dismiss()
    db.session.expire_all()
    assert db.session.get(DicomStoreScp, ids["node"]).desired_state == "running"
    driver.find_element(By.CSS_SELECTOR, "button[value=restart]").click()
    wait_for(driver, lambda d: d.switch_to.alert, "the confirmation").accept()
    wait_for(driver, lambda d: "restart requested" in d.find_element(By.TAG_NAME, "main").text, "the flash")
    db.session.expire_all()
    assert db.session.get(DicomStoreScp, ids["node"]).desired_state == "restart"

    # The throughput charts: 400 objects 7 minutes apart (46 hours), so each full hour has 8 or 9, and
    # the hour under way at least the latest one.
    bars = driver.execute_script(
        "return Array.from(document.querySelectorAll('#per-hour g'), g => Number(g.dataset.objects))")
    assert len(bars) == 24 and all(n in (8, 9) for n in bars[:-1]) and bars[-1] >= 1, bars

    # Auto-refresh: off, the page asks nothing; remembered after a reload; on again, it refreshes at once.
    count = "window.__sent = 0; document.body.addEventListener('htmx:afterRequest', () => window.__sent++);"
    driver.execute_script(count)
    wait_for(driver, lambda d: d.execute_script("return window.__sent") >= 1, "a refresh every 5 s")
    box = driver.find_element(By.ID, "autorefresh")
    assert box.is_selected()
    box.click()
    driver.execute_script("window.__sent = 0")
    time.sleep(11)
    assert driver.execute_script("return window.__sent") == 0
    driver.refresh()
    box = wait_for(driver, lambda d: d.find_element(By.ID, "autorefresh"), "the switch")
    assert not box.is_selected()
    driver.execute_script(count)
    box.click()
    wait_for(driver, lambda d: d.execute_script("return window.__sent") >= 1, "a refresh at once")
    assert driver.execute_script("return window.localStorage.getItem(document.getElementById('autorefresh')"
                                 ".dataset.autorefreshKey)") == "on"
