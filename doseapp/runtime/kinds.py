"""Every job kind and the function that runs it, by name: the queues check a kind here without
importing the code that does the work (which itself enqueues jobs)."""
from __future__ import annotations

from doseapp.lazy_text import lazy_gettext as _l

JOB_KINDS = {
    "export": "doseapp.exports.jobs:run_job",
    "size_import": "doseapp.ingest.size_csv:run_job",
    "system_check": "doseapp.runtime.jobs:system_check",
    "housekeeping": "doseapp.runtime.housekeeping:run_job",
    "import_file": "doseapp.ingest.jobs:import_file",
    "toshiba_settle": "doseapp.ingest.toshiba:settle_job",
    "scp_storage_cleanup": "doseapp.dicomnet.upkeep:cleanup_job",
    "reprocess_dual": "doseapp.config_modality:resort",
    "qr_query": "doseapp.dicomnet.qr_jobs:query_job",
    "qr_retrieve": "doseapp.dicomnet.qr_jobs:retrieve_job",
    "qr_schedule": "doseapp.dicomnet.qr_jobs:schedule_job",
    "quarantine_retry": "doseapp.ingest.quarantine:retry_job",
    "skin_map": "doseapp.skin.jobs:map_job",
    "skin_map_batch": "doseapp.skin.jobs:batch_job",
    "standard_names_apply": "doseapp.standards.name_jobs:apply_job",
    "drl_refresh": "doseapp.standards.flags:refresh_job",
    "ct_estimates": "doseapp.ingest.ct_estimates:recompute_job",
    "email_outbox": "doseapp.notify.outbox:outbox_job",
    "email_test": "doseapp.notify.outbox:test_job",
    "alerts_reevaluate": "doseapp.alerts.jobs:reevaluate_job",
}

# What the Jobs page calls each kind, in the page's language.
KIND_NAMES = {
    "import_file": _l("Import"),
    "toshiba_settle": _l("Toshiba CT dose screens"),
    "export": _l("Export"),
    "size_import": _l("Patient size import"),
    "qr_query": _l("Query"),
    "qr_retrieve": _l("Retrieve"),
    "quarantine_retry": _l("Quarantine retry"),
    "reprocess_dual": _l("Re-sort Dual systems"),
    "system_check": _l("System check"),
    "housekeeping": _l("Housekeeping"),
    "qr_schedule": _l("Scheduled queries check"),
    "scp_storage_cleanup": _l("Received objects cleanup"),
    "skin_map": _l("Skin dose map"),
    "skin_map_batch": _l("Skin dose maps"),
    "standard_names_apply": _l("Apply standard names"),
    "drl_refresh": _l("DRL ratios"),
    "ct_estimates": _l("CT SSDE and effective dose estimates"),
    "email_outbox": _l("Send e-mail"),
    "email_test": _l("Test e-mail"),
    "alerts_reevaluate": _l("Alert rules re-evaluation"),
}
