"""What the audit log keeps of DICOM network configuration: the settings an administrator sets on
Store SCP nodes, their allowed calling AE titles, remote nodes and scheduled queries — not the
running state (status, process id, echo results) that the supervisor and scheduler write."""
from __future__ import annotations

from doseapp.models import DicomAllowedAe, DicomRemoteNode, DicomScheduledQuery, DicomStoreScp, db

FIELDS = {
    DicomStoreScp: ("name", "aetitle", "port", "bind_address", "enabled", "auto_start", "desired_state",
                    "max_associations", "acse_timeout", "dimse_timeout", "network_timeout", "max_pdu",
                    "request_timeout", "connections_per_address", "max_object_mb",
                    "sop_classes", "transfer_syntaxes", "require_calling_ae", "allowed_addresses",
                    "storage_structure", "file_naming", "storage_limit_mb", "cleanup_enabled", "retention_days",
                    "find_enabled", "move_enabled", "get_enabled"),
    DicomAllowedAe: ("aetitle", "expected_ip", "description", "active"),
    DicomRemoteNode: ("name", "aetitle", "calling_aetitle", "ip", "hostname", "port", "use_modality_tag", "enabled",
                      "supports_move", "supports_get", "acse_timeout", "dimse_timeout", "network_timeout"),
    DicomScheduledQuery: ("name", "remote_node_id", "store_scp_id", "interval_minutes", "days_back", "retrieve",
                          "enabled", "parameters"),
}


def settings(row) -> dict:
    """The row's settings, {field: value}; a scheduled query's nodes by name as well as id."""
    values = {f: getattr(row, f) for f in FIELDS[type(row)]}
    if isinstance(row, DicomScheduledQuery):
        remote = db.session.get(DicomRemoteNode, row.remote_node_id) if row.remote_node_id else None
        store = db.session.get(DicomStoreScp, row.store_scp_id) if row.store_scp_id else None
        values |= {"remote_node": remote.name if remote else None, "store_node": store.name if store else None}
    return values


def allowed_ae_target(row: DicomAllowedAe, node: DicomStoreScp) -> str:
    return f"{row.aetitle} on {node.name}"
