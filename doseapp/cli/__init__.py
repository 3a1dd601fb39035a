"""The `doseapp` command: the group is in common.py; each module registers its commands on it."""
from __future__ import annotations

from doseapp.cli.common import main
from doseapp.cli import (admin, alerts, ct_estimates, drl, emails, imports, processes, quarantine,  # noqa: F401,E402
                         skin, standard_names)  # (register their commands)
from doseapp.cli.export import export_command
from doseapp.cli.nodes import echo, node, objects
from doseapp.cli.qr import qr_command
from doseapp.cli.size import size_import
from doseapp.cli.tokens import token

for command in (token, node, echo, objects, size_import, export_command, qr_command):
    main.add_command(command)

__all__ = ["main"]
