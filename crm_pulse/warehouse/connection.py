"""The one way the pipeline opens DuckDB: no extension downloads at run time, the configured memory limit."""

from __future__ import annotations

from pathlib import Path

import duckdb

DUCKDB_CONFIG = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "true"}
DEFAULT_MEMORY_LIMIT = "2GB"  # keep in step with dbt_project/profiles.yml


def connect(path: str | Path = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with extension auto-install off (no network at run time) and the
    pipeline's memory limit (``CRM_PULSE_DUCKDB_MEMORY_LIMIT``, as for the dbt build)."""
    from crm_pulse.config.settings import duckdb_memory_limit

    config = {**DUCKDB_CONFIG, "memory_limit": duckdb_memory_limit(default=DEFAULT_MEMORY_LIMIT)}
    return duckdb.connect(str(path), read_only=read_only, config=config)
