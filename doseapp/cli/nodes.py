"""`doseapp node ...` and `doseapp echo NAME`: Store SCP nodes from the command line."""
from __future__ import annotations

import json
import sys

import click


def _app():
    from doseapp.cli.common import app_for_command as app

    return app()


@click.group()
def node():
    """DICOM Store SCP nodes."""


@node.command("add-store")
@click.argument("name")
@click.option("--aet", required=True, help="AE title: 1 to 16 characters, no backslash.")
@click.option("--port", required=True, type=int)
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--storage-limit-mb", type=int, default=None, help="Refuse objects beyond this (A700).")
@click.option("--no-auto-start", is_flag=True, help="Start only when an administrator presses Start.")
@click.option("--find/--no-find", default=True, show_default=True, help="Answer C-FIND over the objects doseapp keeps.")
@click.option("--move/--no-move", default=True, show_default=True, help="Answer C-MOVE to remote nodes.")
@click.option("--get/--no-get", default=True, show_default=True, help="Answer C-GET.")
def add_store(name, aet, port, host, storage_limit_mb, no_auto_start, find, move, get):
    """Add a Store SCP node; `doseapp scp` (or `doseapp run`) starts it within seconds. Besides C-ECHO
    and C-STORE it answers C-FIND, C-MOVE and C-GET unless switched off."""
    from doseapp import audit
    from doseapp.dicomnet.config_audit import settings
    from doseapp.dicomnet.nodes import NodeError, apply_settings
    from doseapp.models import DicomStoreScp, db

    with _app().app_context():
        row = DicomStoreScp(enabled=True, auto_start=not no_auto_start, desired_state="running",
                            find_enabled=find, move_enabled=move, get_enabled=get)
        try:
            apply_settings(row, {"name": name, "aetitle": aet, "port": str(port), "bind_address": host,
                                 "storage_limit_mb": str(storage_limit_mb or "")})
        except NodeError as exc:
            raise click.ClickException(str(exc))
        db.session.add(row)
        db.session.flush()  # the column defaults, for the audit log
        audit.record_change("dicom.node_add", row.name, {}, settings(row))
        db.session.commit()
        services = ", ".join(s for s, on in (("C-FIND", find), ("C-MOVE", move), ("C-GET", get)) if on) or "none"
        click.echo(f"Added Store SCP node {row.name} (id {row.id}): {row.aetitle} on {row.bind_address}:{row.port}; "
                   f"query/retrieve: {services}.")


@node.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_nodes(as_json):
    """List Store SCP nodes with their state."""
    from sqlalchemy import select

    from doseapp.models import DicomStoreScp, db

    with _app().app_context():
        rows = db.session.scalars(select(DicomStoreScp).order_by(DicomStoreScp.name)).all()
        data = [{"id": n.id, "name": n.name, "aetitle": n.aetitle, "host": n.bind_address, "port": n.port,
                 "enabled": n.enabled, "desired_state": n.desired_state, "status": n.status,
                 "echo_status": n.echo_status, "last_error": n.last_error} for n in rows]
    if as_json:
        click.echo(json.dumps(data))
        return
    for d in data:
        click.echo(f"{d['id']:>3} {d['name']:<24} {d['aetitle']:<16} {d['host']}:{d['port']:<6} "
                   f"{d['status'] or 'not started':<11} {d['echo_status'] or ''}")


@click.command("echo")
@click.argument("name")
@click.option("--aet", "calling", default="DOSEAPPECHO", show_default=True, help="Calling AE title.")
def echo(name, calling):
    """C-ECHO a Store SCP node (by name, AE title or id). Exit status 1 if it does not answer."""
    from doseapp.dicomnet.nodes import echo as do_echo, echo_address, find_node

    with _app().app_context():
        target = find_node(name)
        if target is None:
            raise click.ClickException(f"There is no Store SCP node {name}.")
        address, port, aetitle = echo_address(target), target.port, target.aetitle
    answered, words = do_echo(address, port, aetitle, calling=calling)
    click.echo(f"{aetitle} at {address}:{port}: {words}")
    sys.exit(0 if answered and "refused" not in words else 1)


@node.command("add-remote")
@click.argument("name")
@click.option("--aet", required=True, help="The remote node's AE title.")
@click.option("--host", required=True, help="Its IP address or hostname.")
@click.option("--port", required=True, type=int)
@click.option("--our-aet", default=None, help="The AE title we call from (default DOSEAPPQR).")
@click.option("--use-modality-tag", is_flag=True,
              help="Put Modality in study-level queries (PACS such as Impax 6.6 need it; others return nothing).")
@click.option("--no-move", is_flag=True, help="The remote does not support C-MOVE.")
@click.option("--no-get", is_flag=True, help="The remote does not support C-GET.")
def add_remote(name, aet, host, port, our_aet, use_modality_tag, no_move, no_get):
    """Add a remote node (a PACS) to query and retrieve from."""
    import ipaddress

    from doseapp import audit
    from doseapp.dicomnet.config_audit import settings
    from doseapp.dicomnet.nodes import NodeError
    from doseapp.dicomnet.remotes import apply_remote_settings, new_remote
    from doseapp.models import db

    try:
        ipaddress.ip_address(host)
        where = {"ip": host, "hostname": ""}
    except ValueError:
        where = {"ip": "", "hostname": host}
    with _app().app_context():
        row = new_remote()
        try:
            apply_remote_settings(row, {"name": name, "aetitle": aet, "port": str(port), **where,
                                        "calling_aetitle": our_aet or "", "use_modality_tag": use_modality_tag,
                                        "supports_move": not no_move, "supports_get": not no_get})
        except NodeError as exc:
            raise click.ClickException(str(exc))
        db.session.add(row)
        audit.record_change("qr.remote_save", row.name, {}, settings(row))
        db.session.commit()
        click.echo(f"Added remote node {row.name} (id {row.id}): {row.aetitle} at {host}:{row.port}.")


@click.group()
def objects():
    """Objects kept by the Store SCP nodes."""


@objects.command("reindex")
@click.option("--node", "aetitle", default=None, help="Only this node's objects (its AE title).")
def reindex(aetitle):
    """Rebuild the index of kept objects (what C-FIND / C-MOVE / C-GET answer from) from each node's
    objects folder; index rows whose files are gone are dropped."""
    from flask import current_app
    from sqlalchemy import select

    from doseapp.dicomnet import object_index, storage
    from doseapp.models import DicomStoreScp, db

    with _app().app_context():
        query = select(DicomStoreScp).order_by(DicomStoreScp.aetitle)
        if aetitle:
            query = query.where(DicomStoreScp.aetitle == aetitle)
        nodes = db.session.scalars(query).all()
        if not nodes:
            raise click.ClickException(f"There is no Store SCP node {aetitle}." if aetitle else "There are no Store SCP nodes.")
        for row in nodes:
            folder = storage.objects_dir(current_app.config["INSTANCE"], row.aetitle)
            if not folder.is_dir():
                click.echo(f"{row.aetitle}: no objects folder ({folder})")
                continue
            counts = object_index.reindex(folder, row.aetitle)
            click.echo(f"{row.aetitle}: {counts['indexed']} indexed, {counts['skipped']} skipped (not DICOM or no UIDs), "
                       f"{counts['forgotten']} gone from the index")
