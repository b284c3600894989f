"""Dagster code location: assembles assets, checks, jobs and resources (no logic here)."""

from dagster import Definitions

from orchestration.assets.freshness import export_specs, freshness_checks
from orchestration.assets.ingest import ingest_assets, landing_specs
from orchestration.assets.publish import serving_database
from orchestration.assets.quality import data_quality
from orchestration.assets.report import customer_report
from orchestration.assets.transform import dbt_models
from orchestration.jobs import locked_executor, refresh_job
from orchestration.resources import build_resources
from orchestration.schedules import schedules
from orchestration.sensors import sensors

defs = Definitions(
    assets=[*export_specs, *landing_specs, *ingest_assets, dbt_models, data_quality, serving_database,
            customer_report],
    asset_checks=freshness_checks,
    jobs=[refresh_job],
    schedules=schedules,
    sensors=sensors,
    resources=build_resources(),
    executor=locked_executor,  # UI materialisations of a few assets also take the warehouse lock
)
