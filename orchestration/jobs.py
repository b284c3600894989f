"""Jobs: the full refresh materialises every asset (ingest -> dbt -> checks -> publish) and runs
every check, including the export-freshness checks of the (external) source exports."""

from dagster import AssetSelection, DagsterInstance, DagsterRunStatus, RunsFilter, define_asset_job

from orchestration.assets.freshness import freshness_checks

REFRESH_JOB = "refresh"
ACTIVE = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
          DagsterRunStatus.STARTED]

refresh_job = define_asset_job(
    REFRESH_JOB,
    selection=(AssetSelection.all() - AssetSelection.key_prefixes("landing") - AssetSelection.key_prefixes("exports"))
    | AssetSelection.checks(*freshness_checks),
    description="Ingest new exports, build and test every dbt model, publish the marts; check export freshness.",
)


def refresh_in_progress(instance: DagsterInstance) -> str | None:
    """Run id of a refresh that is queued or running (two refreshes must not write at once)."""
    records = instance.get_run_records(RunsFilter(job_name=REFRESH_JOB, statuses=ACTIVE), limit=1)
    return records[0].dagster_run.run_id if records else None
