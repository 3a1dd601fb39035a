"""`doseapp standard-name add|list|export|import`: the standard name mapping at the shell."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from doseapp.cli.common import app_for_command, main

BAD_INPUT = 2


@main.group("standard-name")
def standard_name():
    """Standard names: map study descriptions, procedures and protocols to one site vocabulary."""


def _apply_and_report() -> None:
    from doseapp.standards.names import apply_all

    outcome = apply_all()
    for modality in sorted(outcome.studies):
        events = outcome.events.get(modality)
        click.echo(f"{modality}: {outcome.studies[modality]} studies"
                   + (f", {events} events" if events is not None and modality != "RF" else "") + " with a standard name")


@standard_name.command("add")
@click.argument("modality")
@click.argument("name")
@click.option("--field", "field_name", required=True,
              help="study_description, requested_procedure, procedure, acquisition_protocol (CT, DX, MG) "
                   "or radiopharmaceutical (NM).")
@click.option("--pattern", help="A case-insensitive wildcard (* and ?) the value must match.")
@click.option("--value", help="The exact value (same case).")
def add_cmd(modality, name, field_name, pattern, value):
    """Map a value (--value) or a pattern (--pattern) of FIELD to the standard NAME of MODALITY (the
    name is made when new), then name the stored studies by the rules. Exit 2 for a bad modality,
    field or a conflicting rule."""
    from doseapp.models import db
    from doseapp.standards.names import RuleError, add_rule

    if (pattern is None) == (value is None):
        click.echo("Error: give one of --pattern or --value.", err=True)
        sys.exit(BAD_INPUT)
    with app_for_command().app_context():
        try:
            add_rule(modality.upper(), name, field_name, "pattern" if pattern is not None else "exact",
                     pattern if pattern is not None else value)
        except RuleError as exc:
            db.session.rollback()
            click.echo(f"Error: {exc}", err=True)
            sys.exit(BAD_INPUT)
        db.session.commit()
        click.echo(f"Added: {modality.upper()} {name!r} <- {field_name} "
                   + (f"pattern {pattern!r}" if pattern is not None else f"exact {value!r}"))
        _apply_and_report()


@standard_name.command("list")
@click.option("--json", "as_json", is_flag=True, help="As JSON: a list of {modality, name, studies, rules}.")
def list_cmd(as_json):
    """The standard names with their rules and study counts."""
    from doseapp.models.study import MODALITIES
    from doseapp.standards.names import names_with_counts

    with app_for_command().app_context():
        data = [{"modality": m, "name": n["name"].name, "studies": n["studies"],
                 "rules": [{"field": r.field, "match": r.match, "value": r.value} for r in n["rules"]]}
                for m in MODALITIES for n in names_with_counts(m)]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    for d in data:
        click.echo(f"{d['modality']}\t{d['name']}\t{d['studies']} studies")
        for r in d["rules"]:
            click.echo(f"\t{r['field']} {r['match']} {r['value']}")


@standard_name.command("export")
@click.argument("path", type=click.Path(dir_okay=False))
def export_cmd(path):
    """Write the mapping to a CSV file (modality, standard_name, field, match, value)."""
    from doseapp.exports.standard_names_csv import export_text

    with app_for_command().app_context():
        text = export_text()
    Path(path).write_text(text, encoding="utf-8", newline="")
    click.echo(f"Wrote {text.count(chr(10)) - 1} rules to {path}")


@standard_name.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_cmd(path):
    """Add the rules of a mapping CSV file, then name the stored studies. Nothing is applied when any
    row is wrong (exit 2, the rows listed)."""
    from doseapp import audit
    from doseapp.models import db
    from doseapp.exports.standard_names_csv import ImportErrors, import_rows, parse

    with app_for_command().app_context():
        try:
            result = import_rows(parse(Path(path).read_bytes()))
        except ImportErrors as exc:
            for p in exc.problems:
                click.echo(f"Error: {p}", err=True)
            click.echo("Nothing was imported.", err=True)
            sys.exit(BAD_INPUT)
        audit.record("standard_name.import", Path(path).name, result)
        db.session.commit()
        click.echo(f"{result['added']} rules added, {result['already']} already there.")
        _apply_and_report()
