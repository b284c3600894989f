"""Names the Dagster code shares: the job, the run and op tags, the raw asset keys, the load id."""

from __future__ import annotations

from dagster import AssetKey

REFRESH_JOB = "refresh"

# Run tags shared by the schedule, the sensors, the freshness checks, the runner and the recovery.
TRIGGER_TAG = "crm_pulse/trigger"  # schedule | new_exports | cli
NEW_FILES_TAG = "crm_pulse/new_files"  # how many new export files the new_exports sensor saw
CLOCK_TAG = "crm_pulse/freshness_clock"  # ISO time the freshness checks measure against
ALERTED_TAG = "crm_pulse/alerts"  # "in_process": the runner alerted itself; the sensors skip the run
FULL_REFRESH_TAG = "crm_pulse/full_refresh"  # "true": reload every export, rebuild every model
DIED_TAG = "crm_pulse/died_at"  # when the dead run last logged anything (ISO, UTC)
WAREHOUSE_TAG = "crm_pulse/warehouse"  # the warehouse a run holds the lock of
LAYER_TAG = "crm_pulse/layer"  # op tag: ingest | transform

FRESHNESS_CHECK = "export_freshness"  # the check on each exports/<source> asset (assets/freshness.py)


def raw_key(source: str, table: str) -> AssetKey:
    """``raw/<source>/<table>``: the ingest asset and the dbt source share it, so lineage connects."""
    return AssetKey(["raw", source, table])


def load_id_of(context) -> str:
    """One load id per run, shared by every asset of the run."""
    return context.run.run_id.split("-")[0]
