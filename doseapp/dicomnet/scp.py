"""One Store SCP node: a pynetdicom application entity answering C-ECHO, with every association
and operation written to the transaction log. Handlers are bound to events; nothing is global."""
from __future__ import annotations

import logging
import signal
import threading

from flask import Flask
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

from doseapp.models import DicomStoreScp, DicomTransaction, db

log = logging.getLogger(__name__)


def _allowed(text: str | None) -> set[str]:
    return {line.strip() for line in (text or "").splitlines() if line.strip()}


class NodeHandlers:
    """Event handlers for one node; they write the transaction log in the app's context."""

    def __init__(self, app: Flask, node: DicomStoreScp):
        self.app = app
        self.node_id = node.id
        self.aetitle = node.aetitle
        self.allowed_aets = _allowed(node.allowed_aetitles)
        self.allowed_addresses = _allowed(node.allowed_addresses)

    def _log(self, event, operation: str, status: str, message: str | None = None, **extra) -> None:
        assoc = event.assoc
        with self.app.app_context():
            db.session.add(DicomTransaction(
                direction="in", operation=operation, scp_id=self.node_id, status=status, message=message,
                calling_aetitle=assoc.requestor.ae_title, called_aetitle=self.aetitle,
                peer_address=assoc.requestor.address, peer_port=assoc.requestor.port, **extra))
            db.session.commit()

    def on_connection_check(self, event):
        """Refuse peers not on the node's allow-lists (empty lists allow everyone)."""
        requestor = event.assoc.requestor
        if self.allowed_addresses and requestor.address not in self.allowed_addresses:
            self._log(event, "ASSOCIATE", "rejected", f"address {requestor.address} not allowed")
            event.assoc.abort()
        elif self.allowed_aets and requestor.ae_title not in self.allowed_aets:
            self._log(event, "ASSOCIATE", "rejected", f"calling AE title {requestor.ae_title} not allowed")
            event.assoc.abort()
        else:
            self._log(event, "ASSOCIATE", "accepted")

    def on_echo(self, event) -> int:
        self._log(event, "C-ECHO", "success")
        return 0x0000

    def bindings(self) -> list:
        return [(evt.EVT_ACCEPTED, self.on_connection_check), (evt.EVT_C_ECHO, self.on_echo)]


def build_ae(node: DicomStoreScp) -> AE:
    ae = AE(ae_title=node.aetitle)
    ae.add_supported_context(Verification)
    return ae


def serve(app: Flask, node_id: int) -> None:
    """Run node `node_id` until SIGTERM/SIGINT."""
    with app.app_context():
        node = db.session.get(DicomStoreScp, node_id)
        if node is None:
            raise SystemExit(f"There is no Store SCP node {node_id}.")
        handlers = NodeHandlers(app, node)
        ae = build_ae(node)
        address = (node.bind_address or "0.0.0.0", node.port)
    server = ae.start_server(address, block=False, evt_handlers=handlers.bindings())
    log.info("Store SCP %s listening on %s:%s", handlers.aetitle, *address)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    log.info("Store SCP %s stopped", handlers.aetitle)
