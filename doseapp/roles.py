"""The six roles and the one table saying what every route needs.

A route missing from ACCESS stops the application at start-up (and fails the route-table test), so a
new page cannot be added without deciding who may see it.
"""
from __future__ import annotations

from doseapp.lazy_text import lazy_gettext as _l

ROLES = {
    "viewer": _l("Browse studies, summaries and charts."),
    "exporter": _l("Browse, and export data to CSV and XLSX."),
    "pid": _l("Search by patient name and ID, and include them in exports (with exporter), when stored."),
    "importsize": _l("Import patient height and weight from CSV files."),
    "importqr": _l("Query and retrieve from configured remote DICOM nodes."),
    "admin": _l("Configure the system, users and DICOM nodes; delete studies. Does not include the other roles."),
}

PUBLIC = "public"   # anyone, logged in or not
LOGIN = "login"     # any logged-in user, whatever their roles


def any_of(*roles: str) -> frozenset[str]:
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s): {sorted(unknown)}")
    return frozenset(roles)


class AllOf(frozenset):
    """A requirement only a user holding every one of these roles meets."""


def all_of(*roles: str) -> AllOf:
    return AllOf(any_of(*roles))


# Seeing study data: OpenREM's view, export and pid groups all browse.
BROWSE = any_of("viewer", "exporter", "pid")
EXPORT = any_of("exporter", "admin")
ALERTS_VIEW = any_of("viewer", "exporter", "pid", "admin")
ALERTS_REVIEW = any_of("admin", "pid")

ACCESS: dict[str, object] = {
    "static": PUBLIC,
    "bokehjs.file": PUBLIC,
    "api.health": PUBLIC,
    # The favicon and the help page (what the pages are, the roles, where to get help) are for anyone.
    "site.favicon": PUBLIC,
    "site.help_page": PUBLIC,
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
    # Configuration pages (issue 6 item 4): the index lists what each user may use; viewing
    # display names is for everyone who browses (and admins, who edit there); the rest is admin.
    "config.index": LOGIN,
    "config.display_names": any_of("viewer", "exporter", "pid", "admin"),
    "config.display_names_edit": any_of("admin"),
    "config.display_names_reprocess": any_of("admin"),
    "config.equipment_review": any_of("admin"),
    "config.equipment_delete_studies": any_of("admin"),
    "config.patterns": any_of("admin"),
    "config.pattern_new": any_of("admin"),
    "config.pattern_edit": any_of("admin"),
    "config.pattern_delete": any_of("admin"),
    "config.patterns_legacy": any_of("admin"),
    "config.patient_id_settings": any_of("admin"),
    "config.dicom_delete_settings": any_of("admin"),
    "config.user_password": any_of("admin"),
    "config.audit_log": any_of("admin"),
    # Skin dose maps (issue 16): the settings and recalculating every map are configuration.
    "config.skin_map_settings": any_of("admin"),
    "config.skin_maps_recalculate": any_of("admin"),
    # Standard names (issue 17): the mapping is configuration; its CSV too (it holds no patient data,
    # but it is the admins' to share).
    "config.standard_names": any_of("admin"),
    "config.standard_names_assign": any_of("admin"),
    "config.standard_name_rule_add": any_of("admin"),
    "config.standard_name_rule_delete": any_of("admin"),
    "config.standard_name_rename": any_of("admin"),
    "config.standard_name_delete": any_of("admin"),
    "config.standard_names_apply": any_of("admin"),
    "config.standard_names_export": any_of("admin"),
    "config.standard_names_import": any_of("admin"),
    # Diagnostic reference levels (issue 17): the settings and local DRLs are configuration.
    "config.drl_settings": any_of("admin"),
    "config.drl_level_save": any_of("admin"),
    "config.drl_level_delete": any_of("admin"),
    "config.drl_refresh": any_of("admin"),
    # The DRL comparison is for those who browse; its XLSX is an export; the API like the others.
    "drl.page": BROWSE,
    "drl.xlsx": EXPORT,
    "api_v1.drl_comparison": BROWSE,
    # Alert e-mail (issue 18): the SMTP server, test e-mails and the outbox are configuration; each
    # user chooses their own alert e-mails.
    "config.email_settings": any_of("admin"),
    "config.email_test": any_of("admin"),
    "config.email_outbox": any_of("admin"),
    "config.email_retry": any_of("admin"),
    "account.alert_emails": LOGIN,
    "account.language": LOGIN,
    "studyadmin.delete": any_of("admin"),
    # High-dose alerts (issue 18): everyone who browses, and admins, see the alerts; admins and pid
    # users review them (a physicist who follows the patient up; a viewer cannot change a state);
    # the rules are configuration.
    "alerts.index": ALERTS_VIEW,
    "alerts.review_alert": ALERTS_REVIEW,
    "alerts.rules": any_of("admin"),
    "api_v1.alerts": ALERTS_VIEW,
    # Study lists, details and the JSON API (issue 6 items 1-3, 5).
    "studies.study_list": BROWSE,
    "studies.detail": BROWSE,
    # The skin dose map section of a fluoroscopy study page and its data for the 3D view (issue 16).
    "skinmaps.section": BROWSE,
    "skinmaps.data": BROWSE,
    "api_v1.studies": BROWSE,
    "api_v1.study": BROWSE,
    "api_v1.skin_map": BROWSE,
    # A patient's dose history (issue 18 item 4): finding patients by name or ID is pid's; the export
    # holds identifiers, so it also needs an exporting role, which the route checks (ACCESS is any-of).
    "patients.history_page": any_of("pid"),
    "patients.export": any_of("pid"),
    # Charts (issue 9): under the lists for those who browse; chart options are each user's own,
    # and admins set them for anyone.
    "charts.panel": BROWSE,
    "charts.chart": BROWSE,
    "charts.csv_download": BROWSE,
    "charts.options": LOGIN,
    "charts.options_for_user": any_of("admin"),
    # Patient size CSV imports (issue 4): importsize runs them; admin may also abort and delete.
    "imports.index": any_of("importsize", "admin"),
    "imports.upload": any_of("importsize"),
    "imports.map_columns": any_of("importsize"),
    "imports.row": any_of("importsize", "admin"),
    "imports.abort_import": any_of("importsize", "admin"),
    "imports.delete": any_of("importsize", "admin"),
    "imports.log": any_of("importsize", "admin"),
    # DICOM Store SCP nodes (issue 5): configuration and monitoring are admin; the status API too,
    # since it names peer addresses and errors.
    "dicomnet.nodes": any_of("admin"),
    "dicomnet.node_new": any_of("admin"),
    "dicomnet.node_edit": any_of("admin"),
    "dicomnet.dashboard": any_of("admin"),
    "dicomnet.node_state": any_of("admin"),
    "dicomnet.allowed_aes": any_of("admin"),
    "dicomnet.allowed_ae_edit": any_of("admin"),
    "dicomnet.transactions": any_of("admin"),
    "dicomnet.api_status": any_of("admin"),
    "dicomnet.allowed_ae_delete": any_of("admin"),
    "dicomnet.node_delete": any_of("admin"),
    # Query-retrieve (issue 8): querying and retrieving is importqr (OpenREM's importqrgroup); remote
    # nodes and scheduled queries are configuration, so admin, who also sees (and may abort) the runs
    # of scheduled queries in the history.
    "qr.query_page": any_of("importqr"),
    "qr.echo_status": any_of("importqr"),
    "qr.query_detail": any_of("importqr", "admin"),
    "qr.query_progress": any_of("importqr", "admin"),
    "qr.query_retrieve": any_of("importqr"),
    "qr.query_abort": any_of("importqr", "admin"),
    "qr.history": any_of("importqr", "admin"),
    "qr.query_again": any_of("importqr"),
    "qr.retrieve_jobs": any_of("importqr", "admin"),
    "qr.retrieve_jobs_table": any_of("importqr", "admin"),
    "qradmin.remotes": any_of("admin"),
    "qradmin.remote_new": any_of("admin"),
    "qradmin.remote_edit": any_of("admin"),
    "qradmin.remote_delete": any_of("admin"),
    "qradmin.schedules": any_of("admin"),
    "qradmin.schedule_edit": any_of("admin"),
    "qradmin.schedule_delete": any_of("admin"),
    # Exports (issue 7): exporter or admin; identifier variants need pid as well as exporter/admin,
    # which start_pid checks (ACCESS is any-of).
    "exports.index": EXPORT,
    "exports.tables": EXPORT,
    "exports.start": EXPORT,
    "exports.start_pid": any_of("pid"),
    "exports.abort_export": EXPORT,
    "exports.download": EXPORT,
    "exports.delete": EXPORT,
    # One fluoroscopy study as openSkin's CSV (issue 16): no identifiers in it, so exporter (or admin).
    "exports.openskin": EXPORT,
    # The quarantine (issue 14): objects that could not be imported are the admins' to retry or delete;
    # the files themselves hold patient identifiers, so downloading one takes pid as well.
    "quarantine.index": any_of("admin"),
    "quarantine.download": all_of("admin", "pid"),
    "quarantine.retry": any_of("admin"),
    "quarantine.delete": any_of("admin"),
}


def allowed(user, requirement) -> bool:
    """Whether `user` (a Flask-Login user, possibly anonymous) meets `requirement`."""
    if requirement == PUBLIC:
        return True
    if not getattr(user, "is_authenticated", False):
        return False
    if requirement == LOGIN:
        return True
    if isinstance(requirement, AllOf):
        return requirement <= user.roles
    return bool(user.roles & requirement)


def describe(requirement) -> str:
    if requirement in (PUBLIC, LOGIN):
        return requirement
    return (" and " if isinstance(requirement, AllOf) else " or ").join(sorted(requirement))
