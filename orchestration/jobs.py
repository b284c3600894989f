"""Jobs: the full refresh materialises every asset (ingest -> dbt -> checks -> publish) and runs
every check, including the export-freshness checks of the (external) source exports."""

import os

from dagster import (AssetSelection, DagsterEvent, DagsterInstance, DagsterRunStatus, ExecutorDefinition, RunsFilter,
                     define_asset_job, multi_or_in_process_executor)
from dagster._core.events import EngineEventData
from dagster._core.executor.base import Executor

from crm_pulse.config.settings import Settings
from crm_pulse.warehouse.lock import acquire
from orchestration.assets.freshness import freshness_checks
from orchestration.keys import REFRESH_JOB, WAREHOUSE_TAG

ACTIVE = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
          DagsterRunStatus.STARTED]

class WarehouseLockedExecutor(Executor):
    """Dagster's executor, run under the warehouse lock: a run started by the daemon or the UI
    fails at once ("refresh <run id> (pid N) is in progress") while another refresh holds it. The
    run worker first marks runs that died failed and removes their temporary files."""

    def __init__(self, inner: Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan):
        from orchestration.recovery import recover

        settings, run_id = Settings.from_env(), plan_context.run_id
        with acquire(settings.warehouse_dir, run_id=run_id) as lock:  # re-entrant under `crm-pulse run`
            yield DagsterEvent.engine_event(plan_context, f"warehouse lock {lock.path} held by pid {os.getpid()}",
                                            EngineEventData())
            if lock.depth == 1:  # taken here, not by the CLI (which already recovered)
                plan_context.instance.add_run_tags(run_id, {WAREHOUSE_TAG: str(settings.warehouse_dir.resolve())})
                for line in recover(plan_context.instance, settings, lock, exclude=run_id, logger=plan_context.log):
                    yield DagsterEvent.engine_event(plan_context, f"crm-pulse: {line}", EngineEventData())
            yield from self._inner.execute(plan_context, execution_plan)


locked_executor = ExecutorDefinition(
    name="warehouse_locked",
    config_schema=multi_or_in_process_executor.config_schema,
    requirements=multi_or_in_process_executor.get_requirements,
    executor_creation_fn=lambda init: WarehouseLockedExecutor(multi_or_in_process_executor.executor_creation_fn(init)),
    description="multi_or_in_process_executor under the warehouse lock (one refresh per warehouse).",
)

refresh_job = define_asset_job(
    REFRESH_JOB,
    selection=(AssetSelection.all() - AssetSelection.key_prefixes("landing") - AssetSelection.key_prefixes("exports"))
    | AssetSelection.checks(*freshness_checks),
    description="Ingest new exports, build and test every dbt model, publish the marts; check export freshness.",
    executor_def=locked_executor,
)


def refresh_in_progress(instance: DagsterInstance) -> str | None:
    """Run id of a refresh that is queued or running (two refreshes must not write at once)."""
    records = instance.get_run_records(RunsFilter(job_name=REFRESH_JOB, statuses=ACTIVE), limit=1)
    return records[0].dagster_run.run_id if records else None
