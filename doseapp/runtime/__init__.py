"""The machinery that runs doseapp: RQ queues and the job table, job execution, the scheduler and its housekeeping, the process supervisor of `doseapp run`, and the embedded Redis."""
