"""Turn what Dagster recorded about a run into :class:`Alert` s.

One alert per failed asset check (``check_failed``; ``source_stale`` for the export-freshness
checks) and one per failed run (``run_failed``), each with the asset, the check, the failing
count, a few sample failures (dbt test rows, mart-contract items, quarantine reasons ...:
crm_pulse/alerting/samples.py), the run id and where to look further. Used by the Dagster sensors
(orchestration/sensors.py) and, for in-process runs where no sensor runs, by the runner after the
run (orchestration/runner.py); both send them with crm_pulse/alerting/dispatch.py.
"""

from __future__ import annotations

import re
from pathlib import Path

from dagster import AssetCheckSeverity, DagsterEventType, DagsterInstance

from crm_pulse.alerting.message import Alert
from crm_pulse.alerting.samples import dbt_test_samples, quarantine_reasons, samples_from_metadata
from crm_pulse.config.operations import OpsSettings
from crm_pulse.config.settings import Settings
from data_contracts.health import failing_count
from orchestration.keys import ALERTED_TAG, FRESHNESS_CHECK, REFRESH_JOB
from orchestration.metadata import plain_metadata


def check_alert(evaluation, run_id: str, settings: Settings, ops: OpsSettings) -> Alert:
    """Alert for one failed asset check evaluation (``AssetCheckEvaluation``)."""
    metadata = plain_metadata(evaluation.metadata)
    asset = evaluation.asset_key.to_user_string()
    blocking = evaluation.severity == AssetCheckSeverity.ERROR
    stale = evaluation.check_name == FRESHNESS_CHECK
    samples = dbt_test_samples(metadata, run_id, settings, _manifest_path()) or samples_from_metadata(metadata)
    if evaluation.asset_key.path[0] == "raw":
        samples += quarantine_reasons(settings, evaluation.asset_key.path[-1])
    count = failing_count(metadata)
    if stale:
        source = evaluation.asset_key.path[-1]
        title = f"crm-pulse: {source} exports are stale ({count or '?'} daily export(s) missing)"
    else:
        title = (f"crm-pulse: check {evaluation.check_name} failed on {asset}"
                 + (f" ({count} failing)" if count is not None else "")
                 + ("" if blocking else " - non-blocking, the run went on"))
    return Alert(kind="source_stale" if stale else "check_failed", title=title,
                 severity="error" if blocking else "warning", asset=asset, check=evaluation.check_name,
                 failing_count=count, samples=samples, run_id=run_id, details_hint=ops.run_link(run_id))


def _manifest_path() -> Path | None:
    """The dbt manifest (imported late: orchestration.project sets the dbt environment at import)."""
    try:
        from orchestration.project import dbt_project

        return dbt_project.manifest_path
    except Exception:  # noqa: BLE001 - samples are a courtesy; the alert goes out anyway
        return None


def run_failure_alert(instance: DagsterInstance, run_id: str, ops: OpsSettings, job_name: str = REFRESH_JOB) -> Alert:
    """Alert for a failed run: which steps and assets failed, with their error messages."""
    samples: list[str] = []
    failed_steps: list[str] = []
    for record in instance.get_records_for_run(run_id=run_id, of_type=DagsterEventType.STEP_FAILURE).records:
        event = record.event_log_entry.dagster_event
        error = getattr(event.event_specific_data, "error", None)
        message = _first_line(error) if error else (event.message or "")
        failed_steps.append(event.step_key)
        samples.append(f"step {event.step_key}: {message}")
    assets = _unmaterialized_assets(instance, run_id, set(failed_steps))
    for record in instance.get_records_for_run(run_id=run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records:
        ev = record.event_log_entry.dagster_event.event_specific_data
        if not ev.passed and ev.severity == AssetCheckSeverity.ERROR:
            samples.append(f"blocking check {ev.check_name} failed on {ev.asset_key.to_user_string()}")
    if not samples:
        for record in instance.get_records_for_run(run_id=run_id, of_type=DagsterEventType.RUN_FAILURE).records:
            samples.append(record.event_log_entry.dagster_event.message or "run failed")
    shown = assets[:3] + ([f"+{len(assets) - 3} more"] if len(assets) > 3 else [])
    where = ", ".join(shown) or ", ".join(failed_steps) or None
    return Alert(kind="run_failed", title=f"crm-pulse: {job_name} run failed"
                 + (f" at {where}" if where else "") + "; published data left unchanged",
                 severity="error", asset=where, failing_count=len(failed_steps) or None, samples=samples,
                 run_id=run_id, details_hint=ops.run_link(run_id))


def _unmaterialized_assets(instance: DagsterInstance, run_id: str, steps: set[str]) -> list[str]:
    """Assets the failed steps planned but did not materialise."""
    done = {r.event_log_entry.dagster_event.event_specific_data.materialization.asset_key
            for r in instance.get_records_for_run(run_id=run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records}
    planned = []
    for record in instance.get_records_for_run(run_id=run_id,
                                               of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED).records:
        event = record.event_log_entry.dagster_event
        key = event.event_specific_data.asset_key
        if event.step_key in steps and key not in done:
            planned.append(key.to_user_string())
    return list(dict.fromkeys(planned))


def _first_line(error) -> str:
    """The most useful line of a (possibly wrapped) Dagster error."""
    chain = [error]
    while getattr(chain[-1], "cause", None) is not None:
        chain.append(chain[-1].cause)
    for err in reversed(chain):  # the innermost error is the user's problem
        lines = [l.strip() for l in (err.message or "").strip().splitlines() if l.strip()]
        if lines:  # "pkg.module.KeyError: x" -> "KeyError: x"; a dagster Failure is its description
            prefix, _, rest = lines[0].partition(": ")
            if rest and re.fullmatch(r"[\w.]+", prefix):
                name = prefix.rsplit(".", 1)[-1]
                return rest if name == "Failure" else f"{name}: {rest}"
            return lines[0]
    return error.cls_name or "error"


def failed_check_evaluations(instance: DagsterInstance, run_id: str) -> list:
    records = instance.get_records_for_run(run_id=run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return [ev for ev in evaluations if not ev.passed]


def run_alerts(instance: DagsterInstance, run_id: str, settings: Settings, ops: OpsSettings) -> list[Alert]:
    """Every alert a finished run deserves: its failed checks, then the run failure if it failed."""
    alerts = [check_alert(ev, run_id, settings, ops) for ev in failed_check_evaluations(instance, run_id)]
    run = instance.get_run_by_id(run_id)
    if run is not None and run.is_failure:
        alerts.append(run_failure_alert(instance, run_id, ops, run.job_name))
    return alerts


def alerted_in_process(run) -> bool:
    """The runner already sent this run's alerts (sensors skip it, avoiding duplicates)."""
    return run is not None and run.tags.get(ALERTED_TAG) == "in_process"


__all__ = ["alerted_in_process", "check_alert", "failed_check_evaluations", "run_alerts", "run_failure_alert"]
