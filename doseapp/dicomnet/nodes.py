"""Store SCP node settings: validation (shared by the web pages and the command line), the default
SOP classes and transfer syntaxes, and C-ECHO to a node (the keep-alive and `doseapp echo`)."""
from __future__ import annotations

import ipaddress
import re

from flask_babel import gettext as _
from pynetdicom import AE
from pynetdicom.presentation import AllStoragePresentationContexts
from pynetdicom.sop_class import Verification
from sqlalchemy import select

from doseapp.models import DicomStoreScp, db
from doseapp.models.dicomnet import FILE_NAMINGS, STORAGE_STRUCTURES

# Every storage SOP class pynetdicom knows (DRAW's list is a subset; dose objects come in many).
ALL_STORAGE_CLASSES = [str(cx.abstract_syntax) for cx in AllStoragePresentationContexts]

# Uncompressed and the common compressed syntaxes. The receiver writes what it is sent without
# decoding it, so accepting a compressed syntax costs nothing here.
TRANSFER_SYNTAXES = {
    "1.2.840.10008.1.2": "Implicit VR Little Endian",
    "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
    "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
    "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
    "1.2.840.10008.1.2.4.50": "JPEG Baseline",
    "1.2.840.10008.1.2.4.51": "JPEG Extended",
    "1.2.840.10008.1.2.4.57": "JPEG Lossless",
    "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
    "1.2.840.10008.1.2.4.81": "JPEG-LS Near-Lossless",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
    "1.2.840.10008.1.2.4.91": "JPEG 2000",
    "1.2.840.10008.1.2.5": "RLE Lossless",
}
DEFAULT_TRANSFER_SYNTAXES = list(TRANSFER_SYNTAXES)

# An AE title (PS3.5 AE): up to 16 characters of the default repertoire (printable ASCII, space
# included), no backslash; leading and trailing spaces do not count, so all spaces is no title.
AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")
KEEPALIVE_AE = "DOSEAPPKEEPALIVE"


# The on/off settings of a node (checkboxes on the web form).
NODE_FLAGS = ("enabled", "auto_start", "require_calling_ae", "cleanup_enabled", "cleanup_when_full",
              "find_enabled", "move_enabled", "get_enabled")
# The DIMSE services a node offers besides C-ECHO and C-STORE (DRAW Step 8), by their switch.
SERVICE_FLAGS = {"C-FIND": "find_enabled", "C-MOVE": "move_enabled", "C-GET": "get_enabled"}


def services(node: DicomStoreScp) -> list[str]:
    """The DIMSE services the node offers, by name (a switch not yet set counts as on, its default)."""
    return ["C-ECHO", "C-STORE"] + [name for name, flag in SERVICE_FLAGS.items()
                                    if getattr(node, flag) is not False]


class NodeError(ValueError):
    """A node setting is not valid; the message says why in plain words."""


def check_aetitle(value: str) -> str:
    """An AE title, ours or another system's, as DICOM allows it (stripped of outer spaces)."""
    value = (value or "").strip()
    if not AE_TITLE.match(value):
        raise NodeError(_("An AE title is 1 to 16 characters (letters, digits, spaces and punctuation such as _ or -), "
                          "with no backslash and not only spaces."))
    return value


def check_port(value) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise NodeError(_("The port must be a number."))
    if not 1 <= port <= 65535:
        raise NodeError(_("The port must be between 1 and 65535."))
    return port


def check_address(value: str, what: str | None = None) -> str:
    value = (value or "").strip()
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise NodeError(_("The %(what)s %(value)s is not an IP address.", what=what or _("bind address"),
                          value=repr(value)))
    return value


def check_addresses(text: str | None) -> str | None:
    """An allow-list of IP addresses or networks, one per line or comma-separated."""
    items = [p.strip() for p in re.split(r"[\s,]+", text or "") if p.strip()]
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise NodeError(_("%(item)s in the allowed addresses is not an IP address or network.", item=repr(item)))
    return "\n".join(items) or None


def address_allowed(address: str, allow_list: str | None) -> bool:
    """Whether `address` is on the allow-list (an empty list allows every address)."""
    items = [p for p in (allow_list or "").split() if p]
    if not items:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(item, strict=False) for item in items)


def check_int(value, what: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NodeError(_("%(what)s must be a whole number.", what=what))
    if not low <= number <= high:
        raise NodeError(_("%(what)s must be between %(low)s and %(high)s.", what=what, low=low, high=high))
    return number


def check_max_pdu(value) -> int:
    """A maximum PDU size in bytes: 0 (unlimited) or 4096 to 4 MiB."""
    pdu = check_int(value, _("The maximum PDU size"), 0, 4194304)
    if pdu and pdu < 4096:
        raise NodeError(_("The maximum PDU size must be 0 (unlimited) or at least 4096 bytes."))
    return pdu


def apply_settings(node: DicomStoreScp, form: dict) -> DicomStoreScp:
    """Validate `form` (strings, as from a web form or the command line) into `node`. Raises
    NodeError. Keys not in `form` keep the node's value."""
    get = form.get
    if "name" in form:
        node.name = (get("name") or "").strip()[:64]
        if not node.name:
            raise NodeError(_("The node needs a name."))
    if "aetitle" in form:
        node.aetitle = check_aetitle(get("aetitle"))
    if "port" in form:
        node.port = check_port(get("port"))
    if "bind_address" in form:
        node.bind_address = check_address(get("bind_address") or "0.0.0.0")
    limits = {"max_associations": (_("Maximum associations"), 1, 100),
              "acse_timeout": (_("The ACSE timeout"), 5, 300), "dimse_timeout": (_("The DIMSE timeout"), 5, 300),
              "network_timeout": (_("The network timeout"), 5, 3600),
              "request_timeout": (_("The association request timeout"), 1, 300),
              "connections_per_address": (_("Connections per address"), 1, 100),
              "retention_days": (_("Retention days"), 1, 3650),
              "cleanup_full_percent": (_("The 'full' threshold (%)"), 10, 99)}
    for key, (what, low, high) in limits.items():
        if key in form:
            setattr(node, key, check_int(get(key), what, low, high))
    if "max_pdu" in form:
        node.max_pdu = check_max_pdu(get("max_pdu"))
    if "storage_limit_mb" in form:
        text = str(get("storage_limit_mb") or "").strip()
        node.storage_limit_mb = check_int(text, _("The storage limit (MB)"), 1, 100_000_000) if text else None
    if "max_object_mb" in form:
        text = str(get("max_object_mb") or "").strip()
        node.max_object_mb = check_int(text, _("The maximum object size (MB)"), 1, 1_000_000) if text else None
    if "storage_structure" in form:
        if get("storage_structure") not in STORAGE_STRUCTURES:
            raise NodeError(_("The storage structure must be one of %(choices)s.",
                              choices=", ".join(STORAGE_STRUCTURES)))
        node.storage_structure = get("storage_structure")
    if "file_naming" in form:
        if get("file_naming") not in FILE_NAMINGS:
            raise NodeError(_("The file naming must be one of %(choices)s.", choices=", ".join(FILE_NAMINGS)))
        node.file_naming = get("file_naming")
    if "allowed_addresses" in form:
        node.allowed_addresses = check_addresses(get("allowed_addresses"))
    if "sop_classes" in form:
        chosen = [u for u in form["sop_classes"] if u in ALL_STORAGE_CLASSES]
        if not chosen:
            raise NodeError(_("Choose at least one SOP class to accept."))
        node.sop_classes = None if set(chosen) == set(ALL_STORAGE_CLASSES) else chosen
    if "transfer_syntaxes" in form:
        chosen = [u for u in form["transfer_syntaxes"] if u in TRANSFER_SYNTAXES]
        if not chosen:
            raise NodeError(_("Choose at least one transfer syntax to accept."))
        node.transfer_syntaxes = None if set(chosen) == set(DEFAULT_TRANSFER_SYNTAXES) else chosen
    for flag in NODE_FLAGS:
        if flag in form:
            setattr(node, flag, bool(get(flag)))
    _check_unique(node)
    return node


def _check_unique(node: DicomStoreScp) -> None:
    with db.session.no_autoflush:
        others = db.session.scalars(select(DicomStoreScp).where(DicomStoreScp.id != node.id)
                                    if node.id else select(DicomStoreScp)).all()
    for other in others:
        if other.name == node.name:
            raise NodeError(_("There is already a node called %(name)s.", name=node.name))
        if other.aetitle == node.aetitle:
            raise NodeError(_("Node %(name)s already uses the AE title %(ae)s.", name=other.name, ae=node.aetitle))
        if other.port == node.port and node.port is not None:
            raise NodeError(_("Node %(name)s already uses port %(port)s.", name=other.name, port=node.port))


def find_node(name_or_id: str) -> DicomStoreScp | None:
    """A node by name, AE title or database id."""
    node = db.session.scalar(select(DicomStoreScp).where(DicomStoreScp.name == name_or_id))
    node = node or db.session.scalar(select(DicomStoreScp).where(DicomStoreScp.aetitle == name_or_id))
    if node is None and str(name_or_id).isdigit():
        node = db.session.get(DicomStoreScp, int(name_or_id))
    return node


def echo_address(node: DicomStoreScp) -> str:
    """Where to reach a node from this machine: its bind address, or loopback for 'all addresses'."""
    return "127.0.0.1" if node.bind_address in (None, "", "0.0.0.0") else (
        "::1" if node.bind_address == "::" else node.bind_address)


def echo(address: str, port: int, called: str, calling: str = KEEPALIVE_AE, timeout: float = 10) -> tuple[bool, str]:
    """C-ECHO a node. Returns (answered, words). A node that refuses the association still answered:
    it is alive, and the words say it refused."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.connection_timeout = timeout
    assoc = ae.associate(address, port, ae_title=called)
    try:
        if assoc.is_established:
            status = assoc.send_c_echo()
            code = getattr(status, "Status", None)
            assoc.release()
            if code == 0x0000:
                return True, "C-ECHO succeeded."
            return False, "no C-ECHO response" if code is None else f"C-ECHO status 0x{code:04X}"
        if assoc.is_rejected:
            return True, "The node answered but refused the association."
        return False, f"No association with {called} at {address}:{port} (not running?)."
    finally:
        ae.shutdown()
