"""Run the refresh job in process, summarise it for a terminal, and send its alerts.

No Dagster daemon (hence no sensor) watches an in-process run, so the runner sends the same
alerts the sensors would (orchestration/run_alerts.py) once the run finished, and tags
the run so that sensors of a ``dagster dev`` sharing the instance do not send them twice. A channel
that is down is retried a bounded number of times and logged; it never changes the exit code.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import uuid
from pathlib import Path

from dagster import AssetCheckSeverity, DagsterEventType, DagsterInstance, execute_job, reconstructable

from crm_pulse.alerting.dispatch import describe_results, send
from crm_pulse.config.alerting import channels_from_env, retries_from_env
from crm_pulse.config.operations import OpsSettings
from crm_pulse.config.settings import Settings
from crm_pulse.warehouse import fingerprint
from crm_pulse.warehouse.lock import acquire
from orchestration.instance_storage import open_instance
from data_contracts.landing import analysis_date_reason, ignored_lines
from orchestration.keys import ALERTED_TAG, FULL_REFRESH_TAG, REFRESH_JOB, TRIGGER_TAG, WAREHOUSE_TAG
from orchestration.recovery import recover
from orchestration.run_alerts import run_alerts

_LOG = logging.getLogger("crm_pulse.alerts")


def run_refresh(settings: Settings, full_refresh: bool = False, instance: DagsterInstance | None = None) -> int:
    """Materialise every asset once; return a process exit code (0 = all steps and blocking checks
    passed). Holds the warehouse lock (raises ``RefreshInProgress`` when another refresh holds it);
    first marks runs that died failed and removes a failed run's temporary files. Does nothing when
    the inputs equal those of the last publish (crm_pulse/warehouse/fingerprint.py) unless ``full_refresh``."""
    ops = OpsSettings.from_env()
    channels, retries = channels_from_env(), retries_from_env()  # configuration errors stop here, before any work
    processes = step_processes(os.environ.get("CRM_PULSE_MAX_PROCESSES", ""), settings.landing_dir)
    started = time.monotonic()
    run_id = str(uuid.uuid4())
    # one refresh per warehouse: raises RefreshInProgress before anything is written or created
    with acquire(settings.warehouse_dir, run_id=run_id) as lock:
        print(f"crm-pulse: landing {settings.landing_dir}")
        print(f"crm-pulse: warehouse {settings.warehouse_dir} (analysis date {settings.resolved_as_of()}: "
              f"{analysis_date_reason(settings.as_of, settings.landing_dir)})")
        instance = instance or open_instance()
        recovered = recover(instance, settings, lock, exclude=run_id, channels=channels, retries=retries)
        for line in recovered:
            print(f"crm-pulse: {line}")
        # inputs as at the last publish (crm_pulse/warehouse/fingerprint.py) and serving.duckdb as it left it:
        # nothing to do, unless forced or an earlier run died (its half-done work is redone)
        previous = fingerprint.read_json(fingerprint.record_path(settings))
        inputs = _inputs(settings, previous)
        if inputs and not full_refresh and not recovered and previous and previous.get("fingerprint") == inputs[0] \
                and previous.get("serving") == fingerprint.file_stamp(settings.serving_db):
            note = f"nothing changed since run {previous['run_id']} (published {previous['published_at']})"
            if previous.get("files") != inputs[1]:  # touched, same content: keep the new mtimes (no rehash next time)
                fingerprint.write_json(fingerprint.record_path(settings), {**previous, "files": inputs[1]})
            fingerprint.write_json(fingerprint.check_path(settings),
                                   {"checked_at": fingerprint.now_iso(), "result": note})
            print(f"crm-pulse: {note}")
            return 0
        from orchestration.definitions import defs

        job = defs.resolve_job_def(REFRESH_JOB)
        result = _executor(job, instance, processes, run_id)(
            instance=instance,
            raise_on_error=False,
            tags={FULL_REFRESH_TAG: str(full_refresh).lower(), TRIGGER_TAG: "cli", ALERTED_TAG: "in_process",
                  WAREHOUSE_TAG: str(settings.warehouse_dir.resolve())},
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
        code = _summarise(result, settings, instance, started, ops, channels, retries)
        if code == 0 and inputs and _published(result):
            try:
                _record(settings, inputs, result.run_id)
            except OSError as err:  # the refresh stands; the next one simply does the work again
                print(f"  inputs' fingerprint not recorded: {err}")
        return code


def _inputs(settings: Settings, previous: dict | None) -> tuple[str, dict] | None:
    """The inputs' fingerprint (crm_pulse/warehouse/fingerprint.py); None if unreadable (the run does the work)."""
    try:
        return fingerprint.compute(settings, previous)
    except OSError as err:
        print(f"crm-pulse: inputs not fingerprinted ({err}); refreshing everything that changed")
        return None


def _published(result) -> bool:
    from orchestration.assets.publish import SERVING_KEY

    return any(e.event_type == DagsterEventType.ASSET_MATERIALIZATION and e.asset_key == SERVING_KEY
               for e in result.all_events)


def _record(settings: Settings, inputs: tuple[str, dict], run_id: str) -> None:
    """After a successful publish: its inputs' fingerprint and the last check record (both atomic)."""
    published_at = fingerprint.now_iso()
    fingerprint.write_json(fingerprint.record_path(settings), {
        "fingerprint": inputs[0], "run_id": run_id, "published_at": published_at, "files": inputs[1],
        "serving": fingerprint.file_stamp(settings.serving_db)})
    fingerprint.write_json(fingerprint.check_path(settings),
                           {"checked_at": published_at, "result": f"published run {run_id}"})


def _summarise(result, settings, instance, started, ops, channels, retries) -> int:
    """Print the run's outcome, send its alerts; the exit code."""
    failed_checks, warned_checks = [], []
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if not evaluation.passed:
                name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                (failed_checks if evaluation.severity == AssetCheckSeverity.ERROR else warned_checks).append(name)
    failed_steps = [e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    elapsed = time.monotonic() - started
    print()
    if result.success and not failed_checks:
        print(f"crm-pulse: refresh succeeded in {elapsed:.1f}s (run {result.run_id})")
        print(f"  serving database: {settings.serving_db}")
        print(f"  Parquet marts:    {settings.marts_dir}")
        print(f"  report:           {settings.reports_dir}")
        code = 0
    else:
        print(f"crm-pulse: refresh FAILED in {elapsed:.1f}s (run {result.run_id}); published data left unchanged"
              if not result.success else f"crm-pulse: refresh finished with failed checks (run {result.run_id})")
        for step in failed_steps:
            failure = next(e for e in result.all_events
                           if e.step_key == step and e.event_type == DagsterEventType.STEP_FAILURE)
            print(f"  failed step {step}: {_failure_summary(failure.event_specific_data)}")
        for check in failed_checks:
            print(f"  failed check {check}")
        code = 1
    for check in warned_checks:
        print(f"  warning: non-blocking check {check} failed")
    for line in ignored_lines(settings.landing_dir):  # stray files beside the exports (data_contracts/landing.py)
        print(f"  {line}")
    _alert(instance, result.run_id, settings, ops, channels, retries)
    return code


def _failure_summary(data) -> str:
    """One line: a raised ``Failure``'s own description (names the file and problem), else the error."""
    user = getattr(data, "user_failure_data", None)
    if user is not None and user.description:
        return user.description.strip().splitlines()[0]
    error = data.error
    message = (error.message or "").strip().splitlines() if error else []
    return message[0] if message else (error.cls_name if error else "unknown error")


def _alert(instance, run_id, settings, ops, channels, retries) -> None:
    """Send the run's alerts; whatever happens here, the data run's outcome stands."""
    try:
        alerts = run_alerts(instance, run_id, settings, ops)
        if not alerts:
            return
        if not channels:
            print(f"  {len(alerts)} alert(s) not sent: no alert channel configured (README, Operations > Alerts)")
            return
        sent = send(alerts, channels, retries, logger=_LOG)
        print(f"  alerts: {describe_results(sent)}")
    except Exception as exc:  # noqa: BLE001 - alerting must never fail the data run
        _LOG.exception("alert dispatch failed")
        print(f"  alerts could not be sent: {type(exc).__name__}: {exc}")


# --- step processes (CRM_PULSE_MAX_PROCESSES) -----------------------------------------------------

def refresh_job_definition():
    """The refresh job; module level so that step worker processes can rebuild it."""
    from orchestration.definitions import defs

    return defs.resolve_job_def(REFRESH_JOB)


#: ``auto``: worker processes only when the landing folder holds more exports than this. Measured
#: (bench/README.md): at 0.5 GB of exports one process is faster (full refresh 147.5 s vs 151.0 s,
#: a new day 75.5 s vs 103.9 s: process starts dominate); at 5 GB two processes halve the ingest
#: (370 s of step time in 198 s).
AUTO_PARALLEL_BYTES = 2**30


def step_processes(value: str, landing_dir) -> int:
    """``CRM_PULSE_MAX_PROCESSES``: a number of step processes, or ``auto`` (default): one per core
    (at most 4) when the landing folder holds more than AUTO_PARALLEL_BYTES of exports, else 1."""
    from crm_pulse.config.settings import max_processes

    count = max_processes({"CRM_PULSE_MAX_PROCESSES": value or ""})
    if count is None:
        size = sum(p.stat().st_size for p in Path(landing_dir).rglob("*") if p.is_file()) if Path(landing_dir).is_dir() else 0
        return min(os.cpu_count() or 1, 4) if size > AUTO_PARALLEL_BYTES else 1
    return count


def _executor(job, instance: DagsterInstance, processes: int, run_id: str):
    """``job.execute_in_process`` (one process), or with ``processes`` > 1 and a persistent instance
    Dagster's multiprocess executor: independent steps (the ingest assets) run in parallel worker
    processes forked from a server that has the definitions preloaded (``execute_job`` picks its own
    run id; the job's executor records it in the held warehouse lock)."""
    if processes <= 1 or not instance.is_persistent:
        return functools.partial(job.execute_in_process, run_id=run_id)

    def execute(instance, raise_on_error, tags, run_config):
        executor = {"multiprocess": {"max_concurrent": processes, "start_method": {
            "forkserver": {"preload_modules": ["orchestration.step_preload"]}}}}
        return execute_job(reconstructable(refresh_job_definition), instance=instance, raise_on_error=raise_on_error,
                           tags=tags, run_config={**run_config, "execution": {"config": executor}})

    return execute
