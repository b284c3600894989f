"""Sensors: start a refresh when new export files land; alert on failed checks and failed runs.

- ``new_exports``: lists the landing folder every CRM_PULSE_SENSOR_INTERVAL_SECONDS; a file whose
  content (sha256) was neither seen by the sensor (cursor: path -> mtime, size, sha256) nor loaded
  before (load log) starts one refresh run. Files modified in the last CRM_PULSE_SENSOR_SETTLE_SECONDS
  are still being written and wait for the next tick.
- ``check_failure_alerts``: after each successful run, reads the run's asset-check evaluations from
  the event log; every failed one (a non-blocking failure leaves the run green) sends one alert;
  failed export-freshness checks are sent as "source_stale".
- ``run_failure_alerts``: after each failed run, one alert per failed check (blocking or not) and
  one for the run.

Runs started by ``crm-pulse run`` alert in process (tag crm_pulse/alerts=in_process): skipped here.
"""

import hashlib
import json
import time

from dagster import (
                     DagsterRunStatus,
                     DefaultSensorStatus,
                     RunFailureSensorContext,
                     RunRequest,
                     RunStatusSensorContext,
                     SensorEvaluationContext,
                     SensorResult,
                     SkipReason,
                     run_failure_sensor,
                     run_status_sensor,
                     sensor,
                     )

from crm_pulse.alerting.dispatch import describe_results, send
from crm_pulse.config.operations import OpsSettings
from crm_pulse.config.settings import Settings
from data_contracts.contract import contracts
from data_contracts.landing import discover
from data_contracts.layout import RawLayout
from orchestration.jobs import refresh_in_progress, refresh_job
from orchestration.keys import NEW_FILES_TAG, TRIGGER_TAG
from orchestration.recovery import recover
from orchestration.run_alerts import alerted_in_process, check_alert, failed_check_evaluations, run_alerts

OPS = OpsSettings.from_env()
STATUS = DefaultSensorStatus.RUNNING if OPS.automation_running else DefaultSensorStatus.STOPPED


# --- new export files ----------------------------------------------------------------------------
def scan_landing(settings: Settings, seen: dict, settle_seconds: int, now: float | None = None):
    """(cursor, new files [(path, sha256)], settling paths): hashes only files whose mtime/size changed."""
    now = time.time() if now is None else now
    cursor, new, settling = {}, [], []
    loaded = set()
    layout = RawLayout(settings.raw_dir)
    for contract in contracts().values():
        log = layout.read_load_log(contract.entity)
        loaded.update(zip(log["source_file"].to_list(), log["sha256"].to_list()))
        for f in discover(settings.landing_dir, contract.source, contract.entity, strict=False):
            stat = f.path.stat()
            previous = seen.get(f.relative)
            if previous and previous[0] == stat.st_mtime_ns and previous[1] == stat.st_size:
                sha = previous[2]
            elif now - stat.st_mtime < settle_seconds:
                settling.append(f.relative)
                if previous:
                    cursor[f.relative] = previous
                continue
            else:
                sha = f.sha256()
            cursor[f.relative] = [stat.st_mtime_ns, stat.st_size, sha]
            if (previous is None or previous[2] != sha) and (f.relative, sha) not in loaded:
                new.append((f.relative, sha))
    return cursor, sorted(new), settling


@sensor(
    name="new_exports",
    job=refresh_job,
    minimum_interval_seconds=OPS.sensor_interval_seconds,
    default_status=STATUS,
    description="Starts a refresh when new or changed export files land in the landing folder "
    "(files already loaded with the same content are ignored).",
)
def new_exports(context: SensorEvaluationContext):
    settings = Settings.from_env()
    recover(context.instance, settings, logger=context.log)  # a crashed run must not block (nor go unnoticed)
    seen = json.loads(context.cursor) if context.cursor else {}
    cursor, new, settling = scan_landing(settings, seen, OPS.settle_seconds)
    note = f"; {len(settling)} file(s) still being written" if settling else ""
    if not new:
        return SensorResult(skip_reason=SkipReason(f"no new export files{note}"), cursor=json.dumps(cursor))
    running = refresh_in_progress(context.instance)
    if running:  # keep the old cursor: the files are requested once the run finished
        return SkipReason(f"{len(new)} new export file(s), waiting for refresh run {running}{note}")
    run_key = hashlib.sha256(json.dumps(new).encode()).hexdigest()[:16]
    listing = ", ".join(path for path, _ in new[:10]) + (f" and {len(new) - 10} more" if len(new) > 10 else "")
    context.log.info(f"new export files: {listing}")
    return SensorResult(
        run_requests=[RunRequest(run_key=run_key, tags={TRIGGER_TAG: "new_exports",
                                                        NEW_FILES_TAG: str(len(new))})],
        cursor=json.dumps(cursor),
    )


# --- alerts ------------------------------------------------------------------------------------
# Run-status sensors: the daemon hands each finished run to the sensor exactly once (its cursor
# follows the run-status events), whatever event-log storage the instance uses.
@run_status_sensor(
    name="check_failure_alerts",
    run_status=DagsterRunStatus.SUCCESS,
    default_status=STATUS,
    description="After every successful run, sends one alert per failed asset check: a non-blocking check "
    "failure leaves the run green, so the check results are read from the event log. Failed "
    "export-freshness checks are sent as 'source_stale'.",
)
def check_failure_alerts(context: RunStatusSensorContext):
    run = context.dagster_run
    if alerted_in_process(run):
        return SkipReason(f"run {run.run_id} alerted in process (crm-pulse run)")
    settings, ops = Settings.from_env(), OpsSettings.from_env()
    alerts = [check_alert(ev, run.run_id, settings, ops) for ev in failed_check_evaluations(context.instance, run.run_id)]
    if not alerts:
        return SkipReason(f"run {run.run_id}: every check passed")
    return SkipReason(f"run {run.run_id}: {describe_results(send(alerts, logger=context.log))}")


@run_failure_sensor(
    name="run_failure_alerts",
    default_status=STATUS,
    description="After every failed run, sends one alert per failed asset check and one for the run "
    "(failed steps and their errors).",
)
def run_failure_alerts(context: RunFailureSensorContext):
    run = context.dagster_run
    if alerted_in_process(run):
        return SkipReason(f"run {run.run_id} alerted in process (crm-pulse run)")
    alerts = run_alerts(context.instance, run.run_id, Settings.from_env(), OpsSettings.from_env())
    return SkipReason(f"run {run.run_id}: {describe_results(send(alerts, logger=context.log))}")


sensors = [new_exports, check_failure_alerts, run_failure_alerts]
