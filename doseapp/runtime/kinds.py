"""Every job kind and the function that runs it, by name: the queues check a kind here without
importing the code that does the work (which itself enqueues jobs)."""
from __future__ import annotations

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

# What the Jobs page calls each kind.
KIND_NAMES = {
    "import_file": "Import",
    "toshiba_settle": "Toshiba CT dose screens",
    "export": "Export",
    "size_import": "Patient size import",
    "qr_query": "Query",
    "qr_retrieve": "Retrieve",
    "quarantine_retry": "Quarantine retry",
    "reprocess_dual": "Re-sort Dual systems",
    "system_check": "System check",
    "housekeeping": "Housekeeping",
    "qr_schedule": "Scheduled queries check",
    "scp_storage_cleanup": "Received objects cleanup",
    "skin_map": "Skin dose map",
    "skin_map_batch": "Skin dose maps",
    "standard_names_apply": "Apply standard names",
    "drl_refresh": "DRL ratios",
    "ct_estimates": "CT SSDE and effective dose estimates",
    "email_outbox": "Send e-mail",
    "email_test": "Test e-mail",
    "alerts_reevaluate": "Alert rules re-evaluation",
}
