"""`doseapp import` going on past bad paths, a stray file quarantined once, and `doseapp quarantine`
list / retry / delete / export, all through the real command."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from sqlalchemy import select

from doseapp.models import AuditEntry, QuarantinedObject, db
from tests.conftest import TESTDATA, run_cli
from tests.ingest.conftest import study_count

FLASH = "CT-RDSR-Siemens_Flash-TAP-SS.dcm"
GOOD = ("RF-RDSR-GE.dcm", FLASH)


def _rows() -> list[QuarantinedObject]:
    db.session.rollback()
    return db.session.scalars(select(QuarantinedObject).order_by(QuarantinedObject.id)).all()


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_missing_path_is_reported_and_the_rest_imported(app, app_env, tmp_path):
    good = [tmp_path / name for name in GOOD]
    for path in good:
        shutil.copy(TESTDATA / path.name, path)
    missing = tmp_path / "gone" / "nothing-here.dcm"
    done = run_cli(["import", str(good[0]), str(missing), str(good[1])], app_env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    outcomes = [line for line in done.stdout.splitlines() if not line.startswith(" ")]  # not the warnings
    assert outcomes == [f"imported  {good[0]}", f"failed    {missing}  (no such file or folder)",
                                        f"imported  {good[1]}"]
    assert study_count() == 2
    assert _rows() == []  # nothing to keep of a file that is not there

    done = run_cli(["import", "--json", str(missing), str(good[0])], app_env)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    first, second = _json_lines(done.stdout)
    assert (first["file"], first["status"], first["reason"], first["quarantine_id"]) == (
        str(missing), "failed", "no such file or folder", None)
    assert second["status"] == "duplicate"

    queued = run_cli(["import", "--queue", "--json", str(missing), str(good[1])], app_env)
    assert queued.returncode == 1 and "Traceback" not in queued.stderr, queued.stderr
    first, second = _json_lines(queued.stdout)
    assert (first["status"], first["reason"]) == ("failed", "no such file or folder")
    assert second["file"] == str(good[1]) and isinstance(second["job"], int)


def test_a_stray_file_is_quarantined_once(app, app_env, tmp_path, instance):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(TESTDATA / "RF-RDSR-GE.dcm", folder / "a.dcm")
    (folder / "notes.txt").write_text("not a DICOM object\n" * 10)
    before = set((instance / "quarantine").iterdir())

    first = run_cli(["import", str(folder)], app_env)
    assert first.returncode == 1, first.stderr
    [row] = _rows()
    assert row.reason.startswith("not a readable DICOM file") and row.source == "cli"
    assert row.content_sha256 == __import__("hashlib").sha256((folder / "notes.txt").read_bytes()).hexdigest()

    again = run_cli(["import", str(folder)], app_env)
    assert again.returncode == 1, again.stderr
    assert f"failed    {folder / 'notes.txt'}  (already in quarantine (object {row.id}): not a readable DICOM" \
        in again.stdout
    assert [r.id for r in _rows()] == [row.id]
    assert set((instance / "quarantine").iterdir()) - before == {Path(row.path)}  # one copy, not two
    assert (folder / "notes.txt").exists()  # the user's file is theirs


def test_quarantine_commands(app, app_env, tmp_path):
    data = (TESTDATA / FLASH).read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[:300])
    stray = tmp_path / "stray.txt"
    stray.write_text("hello\n")
    assert run_cli(["import", str(cut), str(stray)], app_env).returncode == 1
    cut_row, stray_row = _rows()
    # Plain values: the rows go during the test.
    cut_id, cut_path, cut_reason = cut_row.id, cut_row.path, cut_row.reason
    stray_id, stray_path, stray_reason = stray_row.id, stray_row.path, stray_row.reason

    listed = run_cli(["quarantine", "list", "--json"], app_env)
    assert listed.returncode == 0, listed.stderr
    objects = _json_lines(listed.stdout)
    assert [(o["id"], o["file"], o["source"], o["retries"]) for o in objects] == [
        (cut_id, str(cut), "cli", 0), (stray_id, str(stray), "cli", 0)]
    assert objects[0]["reason"] == cut_reason and objects[0]["quarantined_at"].endswith("Z")
    text = run_cli(["quarantine", "list"], app_env)
    assert len(text.stdout.splitlines()) == 2 and "stray.txt" in text.stdout and "2 object(s)" in text.stderr
    assert run_cli(["quarantine", "list", "--json", "--source", "scp:ELSEWHERE"], app_env).stdout == ""
    by_reason = _json_lines(run_cli(["quarantine", "list", "--json", "--reason", "READABLE dicom"], app_env).stdout)
    assert {o["id"] for o in by_reason} <= {cut_id, stray_id} and stray_id in {o["id"] for o in by_reason}
    bad_date = run_cli(["quarantine", "list", "--from", "yesterday"], app_env)
    assert bad_date.returncode == 2 and "From must be a date such as 2024-03-31" in bad_date.stderr

    out = tmp_path / "exported.dcm"
    exported = run_cli(["quarantine", "export", str(cut_id), "--out", str(out)], app_env)
    assert exported.returncode == 0, exported.stderr
    assert out.read_bytes() == data[:300]
    assert run_cli(["quarantine", "export", "99999", "--out", str(out)], app_env).returncode == 1

    # Still broken: it stays, one more retry counted, exit status 1.
    again = run_cli(["quarantine", "retry", str(cut_id)], app_env)
    assert again.returncode == 1 and again.stdout.startswith(f"failed    {cut}"), again.stdout + again.stderr
    assert [r.retry_count for r in _rows()] == [1, 0]
    # Repaired in place: --all retries both; the repaired one imports and leaves.
    shutil.copy(TESTDATA / FLASH, cut_path)
    both = run_cli(["quarantine", "retry", "--all", "--json"], app_env)
    assert [(r["file"], r["status"]) for r in _json_lines(both.stdout)] == [(str(cut), "imported"),
                                                                              (str(stray), "failed")]
    assert both.returncode == 1
    assert [r.id for r in _rows()] == [stray_id] and study_count() == 1
    assert not Path(cut_path).exists()

    assert run_cli(["quarantine", "delete"], app_env).returncode == 2  # neither IDs nor --all
    missing = run_cli(["quarantine", "delete", "99999"], app_env)
    assert missing.returncode == 1 and "There is no object 99999" in missing.stderr
    gone = run_cli(["quarantine", "delete", str(stray_id)], app_env)
    assert gone.returncode == 0 and "Deleted 1 object(s)." in gone.stdout, gone.stderr
    assert _rows() == [] and not Path(stray_path).exists()
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "quarantine.delete"))
    assert entry.username.startswith("command line")
    assert [(o["id"], o["file"], o["reason"]) for o in entry.details["objects"]] == [
        (stray_id, str(stray), stray_reason)]


def test_delete_all_matching_a_source(app, app_env, tmp_path):
    files = []
    for n in range(3):
        files.append(tmp_path / f"junk{n}.txt")
        files[-1].write_text(f"junk {n}\n")
    assert run_cli(["import", *map(str, files)], app_env).returncode == 1
    rows = _rows()
    # One came from elsewhere: --all with a filter leaves it.
    rows[0].source = "scp:OTHER"
    db.session.commit()
    refused = run_cli(["quarantine", "delete", "--all", "--source", "cli"], app_env, input_text="n\n")
    assert refused.returncode == 1 and len(_rows()) == 3  # asked, and told no
    done = run_cli(["quarantine", "delete", "--all", "--source", "cli", "--yes"], app_env)
    assert done.returncode == 0 and "Deleted 2 object(s)." in done.stdout, done.stderr
    assert [r.source for r in _rows()] == ["scp:OTHER"]
