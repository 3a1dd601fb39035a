"""`doseapp import`, `doseapp studies` and `doseapp study show`."""
from __future__ import annotations

import json
import os
import sys

from pathlib import Path

import click
from sqlalchemy import select

from doseapp.cli.common import app_for_command, main


def _expand(paths) -> list[str]:
    """Files and folders (recursively, in name order) to a list of files."""
    files = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(str(f) for f in sorted(p.rglob("*")) if f.is_file())
        else:
            files.append(str(p))
    return files


def report(result, as_json: bool) -> None:
    """One line (or JSON object) per file, as the import goes."""
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    click.echo(f"{result.status:<9} {result.file}" + (f"  ({result.reason})" if result.reason else ""))
    for w in result.warnings:
        click.echo(f"          warning: {w}")


@main.command("import")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file on standard output.")
@click.option("--queue", "use_queue", is_flag=True, help="Enqueue an import job per file instead.")
@click.option("--retry-quarantine", is_flag=True, help="Import again what is in quarantine (see doseapp quarantine).")
def import_(paths, as_json, use_queue, retry_quarantine):
    """Import dose objects from files and folders. Exit status 1 when any file failed; a path that is
    missing is reported and the others are imported."""
    from doseapp.ingest import ImportResult, import_file, retry_quarantine as retry
    from doseapp.ingest.files import unreadable

    if not paths and not retry_quarantine:
        raise click.UsageError("name files or folders to import, or --retry-quarantine")
    failed = 0
    with app_for_command().app_context():
        if retry_quarantine:
            for r in retry():
                failed += r.status == "failed"
                report(r, as_json)
            sys.exit(1 if failed else 0)
        files = _expand(paths)
        if use_queue:
            from redis import RedisError

            from doseapp.runtime.queues import enqueue

            for f in files:
                why = unreadable(Path(f))
                if why:  # said now: a job for a file that is not there could only fail
                    failed += 1
                    report(ImportResult(f, "failed", why), as_json)
                    continue
                try:
                    job = enqueue("import_file", queue="import", title=f"Import {f}", retries=3,
                                  parameters={"path": os.path.abspath(f), "source": "cli"})
                except RedisError as exc:
                    raise click.ClickException(f"could not queue {f}: the job queue (Redis) is not answering "
                                               f"({exc}); it and the files after it were not queued") from None
                click.echo(json.dumps({"file": f, "job": job.id}) if as_json else f"queued {f} as job {job.id}")
            sys.exit(1 if failed else 0)
        show_bar = not as_json and sys.stderr.isatty() and len(files) > 1
        results = []
        with click.progressbar(files, label="Importing", file=sys.stderr) if show_bar else _nullbar(files) as bar:
            for f in bar:
                results.append(import_file(f, source="cli"))
                failed += results[-1].status == "failed"
                if as_json:
                    report(results[-1], True)
        held = {r.held_study for r in results if r.status == "held"}
        if held:  # the whole folder is in: its Toshiba studies are complete
            from doseapp.ingest.toshiba import build_settled

            for r in build_settled(0, only=held):
                results.append(r)
                failed += r.status == "failed"
                if as_json:
                    report(r, True)
        if not as_json:  # after the progress bar, so lines and bar do not interleave
            for r in results:
                report(r, False)
        _skin_maps(results)
    sys.exit(1 if failed else 0)


def _skin_maps(results) -> None:
    """The skin dose maps of the fluoroscopy studies just imported, computed here (the command runs
    in-process; a worker's import queues them instead). Said on standard error, so that standard
    output keeps one line (or JSON object) per file."""
    from doseapp.skin.jobs import compute_imported

    outcome = compute_imported(results)
    if outcome is None:
        return
    click.echo(f"Skin dose maps of {outcome.total} fluoroscopy studies: {outcome.words()}.", err=True)
    for e in outcome.errors:
        click.echo(f"  skin dose map of study {e['study_id']} failed: {e['error']}", err=True)


class _nullbar:
    def __init__(self, items):
        self.items = items

    def __enter__(self):
        return self.items

    def __exit__(self, *exc):
        return False


@main.command("studies")
@click.option("--modality", type=click.Choice(["CT", "RF", "DX", "MG", "NM"]))
@click.option("--json", "as_json", is_flag=True)
def studies_cmd(modality, as_json):
    """List studies (summaries), newest first."""
    from doseapp.models import Study, db as database
    from doseapp.studies import study_summary

    with app_for_command().app_context():
        q = select(Study).order_by(Study.study_datetime.desc(), Study.id.desc())
        if modality:
            q = q.where(Study.modality == modality)
        for study in database.session.scalars(q):
            s = study_summary(study, patterns=True)  # the shell is trusted like an admin
            if as_json:
                click.echo(json.dumps(s, ensure_ascii=False))
            else:
                click.echo(f"{s['modality']:<3} {s['study_date'] or '':<10} {s['display_name'] or '':<30} "
                           f"{s['number_of_events']:>3} events  {s['study_instance_uid']}")


@main.group("study")
def study_group():
    """One study."""


@study_group.command("show")
@click.argument("study_instance_uid")
@click.option("--json", "as_json", is_flag=True)
def study_show(study_instance_uid, as_json):
    """A study's summary, the reports it came from (R1, R2…: a continued study has several) and its
    events. Studies stored before continued reports were joined into one exam may share a UID: each
    is shown."""
    from doseapp.models import Study, db as database
    from doseapp.studies import study_detail

    with app_for_command().app_context():
        rows = database.session.scalars(select(Study).where(Study.study_instance_uid == study_instance_uid)
                                        .order_by(Study.id)).all()
        if not rows:
            raise click.ClickException(f"There is no study {study_instance_uid}.")
        details = [study_detail(s, patterns=True) for s in rows]
    if as_json:
        click.echo(json.dumps(details if len(details) > 1 else details[0], ensure_ascii=False, default=str))
        return
    for d in details:
        for key, value in d.items():
            if key not in ("reports", "ct_events", "xray_events", "planes", "breast_doses", "nm_administrations",
                           "nm_series", "linked_studies") and value is not None:
                click.echo(f"{key:<24} {value}")
        label = {}
        for r in d["reports"]:
            label[r["sop_instance_uid"]] = r["label"]
            totals = [f"{r['event_count']} events" if r["event_count"] is not None else "events not recorded"]
            totals += [f"total {name} {r[key]:g} {unit}" for name, key, unit in (
                ("DLP", "total_dlp_mGy_cm", "mGy·cm"), ("DAP", "total_dap_Gy_m2", "Gy·m²")) if r[key] is not None]
            click.echo(f"report {r['label']} {r['sop_instance_uid']}: {', '.join(totals)}")
        for n, e in enumerate(d["ct_events"] or d["xray_events"] or d["nm_administrations"], start=1):
            keep = {k: v for k, v in e.items() if v not in (None, [], {}) and k != "report_sop_instance_uid"}
            origin = label.get(e["report_sop_instance_uid"])
            click.echo(f"event {n}{f' ({origin})' if origin else ''}: " + ", ".join(f"{k}={v}" for k, v in keep.items()))
