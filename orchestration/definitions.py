"""Dagster code location: assembles assets, checks, jobs and resources (no logic here)."""

from dagster import Definitions

from orchestration.assets.clv import clv_models
from orchestration.assets.ingest import ingest_assets, landing_specs
from orchestration.assets.publish import serving_database
from orchestration.assets.quality import data_quality, mart_contracts
from orchestration.assets.transform import dbt_models
from orchestration.jobs import refresh_job
from orchestration.resources import build_resources

defs = Definitions(
    assets=[*landing_specs, *ingest_assets, dbt_models, clv_models, data_quality, serving_database],
    asset_checks=[mart_contracts],
    jobs=[refresh_job],
    resources=build_resources(),
)
