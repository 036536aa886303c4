"""backupctl: the application (CLI, config, stores, runner, audit, reports)."""
