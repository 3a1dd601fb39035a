"""The home dashboard: per modality today / this week / this month and 12 weeks of studies, systems
gone quiet, failed imports and quarantine, what a viewer sees, and changes (rename, modality, delete,
import) showing on the next request. Studies are made at days counted back from today."""
from __future__ import annotations

import datetime as dt
import html as htmllib
import re
import time

import pytest
from sqlalchemy import delete, select

from doseapp.display import study_counts
from doseapp.display.timefmt import day, local_now
from doseapp.models import Equipment, Job, QuarantinedObject, Study, db
from doseapp.models.equipment import identity_hash
from tests.web.config_helpers import imp, login, post

# Today and this week's Monday as the app counts them, set when each test starts (not when the module
# is imported: a suite started before midnight runs this file after it).
TODAY: dt.date
MONDAY: dt.date
_uid = iter(range(1, 10**6))


@pytest.fixture(autouse=True)
def _today():
    """Set TODAY and MONDAY from the app's clock. In the last half minute of a day, wait for the next
    one first, so that the day cannot turn between making the studies and reading the page."""
    global TODAY, MONDAY
    now = local_now()
    if now.time() >= dt.time(23, 59, 30):
        time.sleep((dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(0, 0, 1), now.tzinfo)
                    - now).total_seconds())
    TODAY = local_now().date()
    MONDAY = TODAY - dt.timedelta(days=TODAY.weekday())


def _system(name: str, station: str) -> Equipment:
    values = {"manufacturer": "Test", "institution_name": "Test Hospital", "station_name": station, "model_name": "T1"}
    eq = Equipment(identity_hash=identity_hash(values), display_name=name, **values)
    db.session.add(eq)
    db.session.flush()
    return eq


def _studies(eq: Equipment, modality: str, days: list[dt.date]) -> None:
    for day in days:
        when = dt.datetime.combine(day, dt.time(0, 0, 1))  # in the past, whenever the test runs
        db.session.add(Study(study_instance_uid=f"1.2.826.0.1.3680043.9.{next(_uid)}", modality=modality,
                             equipment_id=eq.id, study_date=day, study_time=when.time(), study_datetime=when))


def _ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


# Studies per week (Monday to Sunday), this week last, each put on the Monday of its week (never after today).
CT_WEEKS = [4, 0, 0, 1, 0, 0, 5, 0, 2, 0, 0, 3]
CT_TODAY = 2  # two more today


def _fill() -> dict[str, list[dt.date]]:
    """CT, fluoroscopy and mammography studies at known days; returns the days per modality."""
    ct = _system("CT one", "CT1")
    days = {"CT": [MONDAY - dt.timedelta(weeks=11 - i) for i, n in enumerate(CT_WEEKS) for _ in range(n)]
            + [TODAY] * CT_TODAY + [_ago(200)]}  # and one long ago (in the totals only)
    _studies(ct, "CT", days["CT"])
    # Fluoroscopy: every day for the last 90 days, today included: a busy room, never quiet.
    busy = _system("Busy room", "RF1")
    days["RF"] = [_ago(n) for n in range(90, -1, -1)]
    _studies(busy, "RF", days["RF"])
    # Mammography: a room every other day from 90 to 20 days ago (its longest pause 2 days, quiet
    # for 20: listed); a van on days 80-70 and 40-30 ago (longest pause 30, quiet for 30: not more
    # than its pause, not listed); a room with its last study 300 days ago (retired).
    quiet, van, old = _system("Quiet room", "MG1"), _system("Van", "MG2"), _system("Old room", "MG3")
    quiet_days = [_ago(n) for n in range(90, 19, -2)]
    van_days = [_ago(n) for n in list(range(80, 69, -1)) + list(range(40, 29, -1))]
    _studies(quiet, "MG", quiet_days)
    _studies(van, "MG", van_days)
    _studies(old, "MG", [_ago(300)])
    days["MG"] = quiet_days + van_days + [_ago(300)]
    db.session.commit()
    return days


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def _section(html: str, section_id: str) -> str:
    return re.search(rf'<section [^>]*id="{section_id}"[^>]*>(.*?)</section>', html, re.S).group(1)


def _section_class(html: str, section_id: str) -> str:
    return re.search(rf'<section class="([^"]*)" id="{section_id}"', html).group(1)


def _card(html: str, mod: str) -> str:
    return html.split(f'id="card-{mod}"')[1].split("</article>")[0]


def _periods(card: str) -> list[tuple[str, int]]:
    """(link, number) of today, this week, this month."""
    return [(htmllib.unescape(href), int(n)) for href, n in
            re.findall(r'class="period" data-period="\d" href="([^"]+)"\s+title="[^"]*">(\d+)</a>', card)]


def _weeks(card: str) -> list[tuple[str, str, int]]:
    return [(htmllib.unescape(href), week, int(n)) for href, week, n in
            re.findall(r'<a href="([^"]+)" data-week="([^"]+)" data-count="(\d+)">', card)]


def _list_count(client, url: str) -> int:
    page = client.get(url).get_data(as_text=True)
    return int(re.search(r'id="list-count">[^<]*<strong>([\d,]+)</strong>', page).group(1).replace(",", ""))


def test_periods_and_sparkline_per_modality(app, client):
    days = _fill()
    login(client, "vera", ["viewer"])
    html = client.get("/").get_data(as_text=True)
    first_of_month = TODAY.replace(day=1)
    for mod, slug in (("CT", "ct"), ("RF", "rf"), ("MG", "mg"), ("DX", "dx")):
        mine = days.get(mod, [])
        expected = [sum(d == TODAY for d in mine), sum(MONDAY <= d <= TODAY for d in mine),
                    sum(first_of_month <= d <= TODAY for d in mine)]
        found = _periods(_card(html, mod))
        assert [n for _, n in found] == expected, mod
        assert [u for u, _ in found] == [f"/{slug}/?date_from={a}&date_until={TODAY}"
                                         for a in (TODAY, MONDAY, first_of_month)]
        for url, n in found:  # each number is what its list holds
            assert _list_count(client, url) == n
    # CT's 12 weeks exactly as made (this week's Monday studies and today's together), in the
    # picture's label and on each point, each point a link to that week's list.
    weeks = _weeks(_card(html, "CT"))
    assert [n for _, _, n in weeks] == CT_WEEKS[:-1] + [CT_WEEKS[-1] + CT_TODAY]
    mondays = [MONDAY - dt.timedelta(weeks=11 - i) for i in range(12)]
    assert [w for _, w, _ in weeks] == [m.isoformat() for m in mondays]
    assert [u for u, _, _ in weeks] == [f"/ct/?date_from={m}&date_until={min(m + dt.timedelta(days=6), TODAY)}"
                                        for m in mondays]
    assert _list_count(client, weeks[6][0]) == 5
    label = re.search(r'<svg class="sparkline" role="img" aria-label="([^"]+)"', _card(html, "CT")).group(1)
    assert label.endswith(": " + ", ".join(str(n) for _, _, n in weeks))
    assert f"<title>{label}</title>" in _card(html, "CT")
    # Fluoroscopy: one study a day over the last 12 weeks: 7 a week, this week as many days as it has had.
    assert [n for _, _, n in _weeks(_card(html, "RF"))] == [7] * 11 + [TODAY.weekday() + 1]
    assert [n for _, _, n in _weeks(_card(html, "DX"))] == [0] * 12
    # All studies: 18 CT (one 200 days ago), 91 RF, 36 + 22 + 1 MG.
    assert len(days["CT"]) == 18 and re.search(r'id="total-studies">(\d+)<', html).group(1) == str(18 + 91 + 59)


def test_quiet_systems_by_their_own_history(app, client):
    _fill()
    login(client, "vera", ["viewer"])
    html = client.get("/").get_data(as_text=True)
    quiet = html.split('id="quiet-systems"')[1].split("</table>")[0]
    rows = [_text(r) for r in re.findall(r"<tr>\s*<td>.*?</tr>", quiet, re.S)]
    assert rows == [f"Quiet room Mammography {day(_ago(20))} 20 days 2 days"]
    assert 'href="/mg/?display_name=Quiet+room"' in quiet
    for name in ("Busy room", "Van", "CT one"):
        assert name not in quiet
    retired = html.split('id="retired"')[1].split("</details>")[0]
    assert "1 system with nothing for more than 90 days" in _text(retired)
    assert f"Old room (Mammography), last study {day(_ago(300))}" in _text(retired)
    assert 'href="/mg/?display_name=Old+room"' in retired
    # The rule, in words, on the page.
    assert "more than 7 days old and older than the longest pause between its days with studies in the last 90 days" \
        in _text(html.split('id="quiet-rule"')[1].split("</p>")[0])
    # The van one day later than its longest pause is listed too.
    with app.app_context():
        van = db.session.scalar(select(Equipment).where(Equipment.display_name == "Van"))
        db.session.execute(delete(Study).where(Study.equipment_id == van.id, Study.study_date == _ago(30)))
        db.session.commit()
    study_counts.clear()  # a delete behind doseapp's back (no audit entry)
    quiet = client.get("/").get_data(as_text=True).split('id="quiet-systems"')[1].split("</table>")[0]
    assert [_text(r) for r in re.findall(r"<tr>\s*<td>.*?</tr>", quiet, re.S)] == [
        f"Van Mammography {day(_ago(31))} 31 days 30 days", f"Quiet room Mammography {day(_ago(20))} 20 days 2 days"]


def _failures() -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    today_start = dt.datetime.combine(TODAY, dt.time())
    for when, kind, status in ((now, "import_file", "failed"),
                               (today_start - dt.timedelta(hours=3), "import_file", "failed"),
                               (today_start - dt.timedelta(days=3), "import_file", "failed"),
                               (now, "import_file", "finished"), (now, "export", "failed")):
        db.session.add(Job(kind=kind, queue="import", status=status, title=f"{kind} {status}", created_at=when,
                           ended_at=when))
    for i in range(3):
        db.session.add(QuarantinedObject(path=f"/tmp/nothing-{i}.dcm", reason="not a readable DICOM file"))
    db.session.commit()


def test_failed_imports_and_quarantine_for_an_admin(app, client):
    _fill()
    _failures()
    login(client, "ada", ["admin", "viewer"])
    html = client.get("/").get_data(as_text=True)
    attention = _section(html, "attention")
    assert _section_class(html, "attention") == "attention needs"
    today_link = re.search(r'id="failed-imports-today" href="([^"]+)">(.*?)</a>', attention, re.S)
    since_link = re.search(r'id="failed-imports-since" href="([^"]+)">(.*?)</a>', attention, re.S)
    assert _text(today_link.group(2)) == "1 failed import today"
    assert _text(since_link.group(2)) == "2 failed imports since yesterday"
    assert htmllib.unescape(today_link.group(1)) == f"/jobs/?kind=import_file&state=failed&from={TODAY}"
    yesterday = TODAY - dt.timedelta(days=1)
    assert htmllib.unescape(since_link.group(1)) == f"/jobs/?kind=import_file&state=failed&from={yesterday}"
    # Each link shows the jobs it counted.
    for link, n in ((today_link.group(1), 1), (since_link.group(1), 2)):
        jobs = client.get(htmllib.unescape(link)).get_data(as_text=True)
        assert f"<p>{n} job{'' if n == 1 else 's'}" in jobs
    assert re.search(r'id="home-quarantine">3<', attention)
    assert 'id="quarantine-link" href="/quarantine/"' in attention
    assert 'id="quarantine-count">3 objects.' in client.get("/quarantine/").get_data(as_text=True)
    # Every failed job since yesterday, of any kind: the two imports and the export.
    assert re.search(r'id="home-failed-jobs">3<', attention)


def test_nothing_failed_is_said_plainly(app, client):
    login(client, "ada", ["admin"])  # an admin without browsing: the failures, no study figures
    html = client.get("/").get_data(as_text=True)
    assert _text(_section(html, "attention")).startswith(
        "Failed imports and quarantine 0 failed imports today 0 failed imports since yesterday 0 objects in quarantine")
    assert _section_class(html, "attention") == "attention"
    assert 'id="dashboard"' not in html and "do not include browsing" in html


def test_a_viewer_sees_no_admin_links(app, client):
    _fill()
    _failures()
    login(client, "vera", ["viewer"])
    html = client.get("/").get_data(as_text=True)
    assert 'id="dashboard"' in html and 'id="quiet"' in html
    for admin_only in ("/quarantine/", 'id="failed-imports-today"', 'id="home-quarantine"', "/jobs/system-check",
                       "/config/display-names/edit", "/delete"):
        assert admin_only not in html, admin_only
    # The failed export is not theirs: nothing of others' failures either.
    assert 'id="attention"' not in html and 'id="home-failed-jobs"' not in html


def _systems_table(html: str, mod: str) -> list[str]:
    table = html.split(f'id="systems-{mod}"')[1].split("</table>")[0]
    return [_text(r) for r in re.findall(r'<tr class="clickable">.*?</tr>', table, re.S)]


def test_rename_modality_change_delete_and_import_show_at_once(app, client):
    _fill()
    login(client, "ada", ["admin", "viewer"])
    assert _systems_table(client.get("/").get_data(as_text=True), "CT")[0].startswith("CT one 18 ")
    # Rename: the next request shows the new name everywhere on the page, the old one nowhere.
    ct = db.session.scalar(select(Equipment).where(Equipment.display_name == "CT one"))
    quiet = db.session.scalar(select(Equipment).where(Equipment.display_name == "Quiet room"))
    resp = post(client, "/config/display-names/edit",
                {"ids": [ct.id], "display_name": "Scanner A", "user_defined_modality": ""},
                form_page=f"/config/display-names/edit?ids={ct.id}")
    assert resp.status_code == 302
    html = client.get("/").get_data(as_text=True)
    assert _systems_table(html, "CT")[0].startswith("Scanner A 18 ")
    assert "CT one" not in html and 'href="/ct/?display_name=Scanner+A"' in html
    post(client, "/config/display-names/edit",
         {"ids": [quiet.id], "display_name": "Room Q", "user_defined_modality": ""},
         form_page=f"/config/display-names/edit?ids={quiet.id}")
    html = client.get("/").get_data(as_text=True)
    assert "Room Q Mammography" in _text(html.split('id="quiet-systems"')[1].split("</table>")[0])

    # A modality change: the busy fluoroscopy room's 91 studies become radiography at once.
    busy = db.session.scalar(select(Equipment).where(Equipment.display_name == "Busy room"))
    post(client, "/config/display-names/edit", {"ids": [busy.id], "display_name": "", "user_defined_modality": "DX"},
         form_page=f"/config/display-names/edit?ids={busy.id}")
    html = client.get("/").get_data(as_text=True)
    assert 'id="systems-RF"' not in html and _systems_table(html, "DX")[0].startswith("Busy room 91 ")
    assert _periods(_card(html, "DX"))[0][1] == 1 and _periods(_card(html, "RF"))[0][1] == 0

    # A study deleted: one fewer, at once.
    one = db.session.scalar(select(Study.id).where(Study.equipment_id == ct.id, Study.study_date == TODAY))
    post(client, f"/studies/{one}/delete", {"confirm": "yes"})
    html = client.get("/").get_data(as_text=True)
    assert _systems_table(html, "CT")[0].startswith("Scanner A 17 ")
    assert _periods(_card(html, "CT"))[0][1] == CT_TODAY - 1

    # An import: the new study is counted on the next request, added to the kept counts (no recount).
    before = study_counts._kept[str(db.engine.url)]
    total = int(re.search(r'id="total-studies">(\d+)<', html).group(1))
    imp("CT-RDSR-GEPixelMed.dcm")
    html = client.get("/").get_data(as_text=True)
    assert int(re.search(r'id="total-studies">(\d+)<', html).group(1)) == total + 1
    after = study_counts._kept[str(db.engine.url)]
    assert after.at == before.at and after.marks.study_id > before.marks.study_id
    assert len(_systems_table(html, "CT")) == 2


def test_kept_counts_follow_changes_made_without_an_audit_entry(app):
    """An import that replaces a study deletes one and adds one: the count check finds it."""
    eq = _system("Room", "R1")
    _studies(eq, "DX", [_ago(1), _ago(2)])
    db.session.commit()
    first, last = _ago(90), TODAY
    assert study_counts.counts(first, last).totals == {("DX", eq.id): 2}
    other = _system("Room 2", "R2")
    # Not the newest study (the kept counts also check that it is still there), the other one.
    db.session.execute(delete(Study).where(Study.study_date == _ago(1)))
    _studies(other, "RF", [_ago(3)])
    db.session.commit()
    found = study_counts.counts(first, last)
    assert found.totals == {("DX", eq.id): 1, ("RF", other.id): 1}
    assert found.days == {("DX", eq.id, _ago(2)): 1, ("RF", other.id, _ago(3)): 1}
    # Added only: kept and added to.
    at = study_counts._kept[str(db.engine.url)].at
    _studies(other, "RF", [_ago(3), TODAY])
    db.session.commit()
    found = study_counts.counts(first, last)
    assert found.totals == {("DX", eq.id): 1, ("RF", other.id): 3}
    assert found.days == {("DX", eq.id, _ago(2)): 1, ("RF", other.id, _ago(3)): 2, ("RF", other.id, TODAY): 1}
    assert study_counts._kept[str(db.engine.url)].at == at
    # Another window (the next day): the same totals, the days counted again for it.
    assert study_counts.counts(_ago(89), TODAY + dt.timedelta(days=1)).days == {
        ("DX", eq.id, _ago(2)): 1, ("RF", other.id, _ago(3)): 2, ("RF", other.id, TODAY): 1}
    # The newest study deleted: counted again.
    db.session.execute(delete(Study).where(Study.id == study_counts._kept[str(db.engine.url)].marks.study_id))
    db.session.commit()
    assert study_counts.counts(first, last).totals == {("DX", eq.id): 1, ("RF", other.id): 2}
