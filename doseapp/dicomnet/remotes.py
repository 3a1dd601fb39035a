"""Remote nodes (PACS we query and retrieve from): validation shared by the admin pages and
`doseapp node add-remote`, and look-up by name, AE title or id."""
from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import select

from doseapp.dicomnet.nodes import NodeError, check_aetitle, check_int, check_max_pdu, check_port
from doseapp.models import DicomRemoteNode, db

HOSTNAME = re.compile(r"^[A-Za-z0-9.\-:]{1,255}$")  # DNS names, IPv4 and IPv6 literals
REMOTE_FLAGS = ("use_modality_tag", "enabled", "supports_find", "supports_move", "supports_get")
# The C-FIND information models a remote may be queried with, by their stored value.
QUERY_MODELS = {"study": "Study Root", "patient": "Patient Root"}


def apply_remote_settings(remote: DicomRemoteNode, form: dict) -> DicomRemoteNode:
    """Validate `form` (strings, as from a web form or the command line) into `remote`; raises
    NodeError. Keys not in `form` keep the node's value."""
    get = form.get
    if "name" in form:
        remote.name = (get("name") or "").strip()[:64]
        if not remote.name:
            raise NodeError(_("The remote node needs a name."))
    if "aetitle" in form:
        remote.aetitle = check_aetitle(get("aetitle"))
    if "calling_aetitle" in form:
        text = (get("calling_aetitle") or "").strip()
        remote.calling_aetitle = check_aetitle(text) if text else None
    if "port" in form:
        remote.port = check_port(get("port"))
    for key in ("ip", "hostname"):
        if key in form:
            text = (get(key) or "").strip()
            if text and not HOSTNAME.match(text):
                raise NodeError(_("%(text)s is not a valid IP address.", text=repr(text)) if key == "ip" else
                                _("%(text)s is not a valid hostname.", text=repr(text)))
            setattr(remote, key, text or None)
    if not (remote.ip or remote.hostname):
        raise NodeError(_("Give the remote node's IP address or hostname."))
    for key, what, high in (("acse_timeout", _("The association timeout"), 600),
                            ("dimse_timeout", _("The DIMSE timeout"), 3600),
                            ("network_timeout", _("The network timeout"), 3600)):
        if key in form:
            setattr(remote, key, check_int(get(key), what, 5, high))
    for flag in REMOTE_FLAGS:
        if flag in form:
            setattr(remote, flag, bool(get(flag)))
    if "query_model" in form:
        if get("query_model") not in QUERY_MODELS:
            raise NodeError(_("The query model must be Study Root or Patient Root."))
        remote.query_model = get("query_model")
    if "max_pdu" in form:
        remote.max_pdu = check_max_pdu(get("max_pdu"))
    if not (remote.supports_move or remote.supports_get):
        raise NodeError(_("The remote node must support C-MOVE or C-GET (or both) to retrieve from it."))
    with db.session.no_autoflush:
        clash = db.session.scalar(select(DicomRemoteNode).where(DicomRemoteNode.name == remote.name,
                                                                DicomRemoteNode.id != (remote.id or 0)))
    if clash is not None:
        raise NodeError(_("There is already a remote node called %(name)s.", name=remote.name))
    return remote


def find_remote(name_or_id: str) -> DicomRemoteNode | None:
    """A remote node by name, AE title or database id."""
    remote = db.session.scalar(select(DicomRemoteNode).where(DicomRemoteNode.name == name_or_id))
    remote = remote or db.session.scalar(select(DicomRemoteNode).where(DicomRemoteNode.aetitle == name_or_id).limit(1))
    if remote is None and str(name_or_id).isdigit():
        remote = db.session.get(DicomRemoteNode, int(name_or_id))
    return remote


def new_remote() -> DicomRemoteNode:
    """A remote node with the defaults the model declares (for the 'add' form)."""
    return DicomRemoteNode(name="", aetitle="", port=104, use_modality_tag=False, enabled=True, supports_find=True,
                           supports_move=True, supports_get=True, query_model="study", max_pdu=16384,
                           acse_timeout=30, dimse_timeout=120, network_timeout=120)
