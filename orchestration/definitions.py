"""Dagster code location: assembles assets, checks, jobs and resources (no logic here)."""

from dagster import Definitions

from orchestration.assets.ingest import ingest_assets, landing_specs
from orchestration.assets.publish import serving_database
from orchestration.assets.transform import dbt_models
from orchestration.jobs import refresh_job
from orchestration.resources import build_resources

defs = Definitions(
    assets=[*landing_specs, *ingest_assets, dbt_models, serving_database],
    jobs=[refresh_job],
    resources=build_resources(),
)
