"""The six roles and the one table saying what every route needs.

A route missing from ACCESS stops the application at start-up (and fails the route-table test), so a
new page cannot be added without deciding who may see it.
"""
from __future__ import annotations

ROLES = {
    "viewer": "Browse studies, summaries and charts.",
    "exporter": "Browse, and export data to CSV and XLSX.",
    "pid": "Search by patient name and ID, and include them in exports (with exporter), when stored.",
    "importsize": "Import patient height and weight from CSV files.",
    "importqr": "Query and retrieve from configured remote DICOM nodes.",
    "admin": "Configure the system, users and DICOM nodes; delete studies. Does not include the other roles.",
}

PUBLIC = "public"   # anyone, logged in or not
LOGIN = "login"     # any logged-in user, whatever their roles


def any_of(*roles: str) -> frozenset[str]:
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s): {sorted(unknown)}")
    return frozenset(roles)


# Seeing study data: OpenREM's view, export and pid groups all browse.
BROWSE = any_of("viewer", "exporter", "pid")
EXPORT = any_of("exporter", "admin")

ACCESS: dict[str, object] = {
    "static": PUBLIC,
    "bokehjs.file": PUBLIC,
    "api.health": PUBLIC,
    "auth.login": PUBLIC,
    "auth.logout": LOGIN,
    "auth.password": LOGIN,
    "home.index": LOGIN,
    "home.modality_counts": BROWSE,
    "jobs.index": LOGIN,
    "jobs.status": LOGIN,
    "jobs.cancel": LOGIN,
    "jobs.system_check": any_of("admin"),
    "config.users": any_of("admin"),
    "config.user_new": any_of("admin"),
    "config.user_edit": any_of("admin"),
}


def allowed(user, requirement) -> bool:
    """Whether `user` (a Flask-Login user, possibly anonymous) meets `requirement`."""
    if requirement == PUBLIC:
        return True
    if not getattr(user, "is_authenticated", False):
        return False
    if requirement == LOGIN:
        return True
    return bool(user.roles & requirement)


def describe(requirement) -> str:
    if requirement in (PUBLIC, LOGIN):
        return requirement
    return " or ".join(sorted(requirement))
