"""Jobs: the full refresh materialises every asset (ingest -> dbt -> checks -> publish)."""

from dagster import AssetSelection, define_asset_job

refresh_job = define_asset_job(
    "refresh",
    selection=AssetSelection.all() - AssetSelection.key_prefixes("landing"),
    description="Ingest new exports, build and test every dbt model, publish the marts.",
)
