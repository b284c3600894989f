"""After a crashed refresh: mark runs whose process is gone failed (with an alert) and remove the
temporary files a failed run left in the warehouse.

A run the instance still calls starting/running is dead when
- the warehouse lock is free and its record names the run but was never released (the holder was
  killed: crm_pulse/warehouse/lock.py), or
- no refresh holds the lock and the run, recorded for this warehouse or not yet tied to one, has
  logged nothing for ``SILENT_SECONDS`` (it died before it took the lock, or just after it let go).
Judging, marking and tagging happen under the lock, so a run is marked (and alerted) once; the
runner, the run worker, the schedule, the ``new_exports`` sensor and ``crm-pulse status`` all call it.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from crm_pulse.config.operations import OpsSettings
from crm_pulse.config.settings import Settings
from crm_pulse.warehouse.lock import LockRecord, WarehouseLock, inspect
from data_contracts.layout import RawLayout
from orchestration.keys import ALERTED_TAG, DIED_TAG, WAREHOUSE_TAG

SILENT_SECONDS = 300
_RUNNING = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
_LOG = logging.getLogger("crm_pulse.recovery")


@dataclass
class DeadRun:
    run_id: str
    job_name: str
    died_at: str
    reason: str
    unfinished_steps: list[str]

    def describe(self) -> str:
        steps = f" during {', '.join(self.unfinished_steps)}" if self.unfinished_steps else ""
        return f"run {self.run_id} died at {self.died_at}{steps} ({self.reason}), marked failed"


def find_dead_runs(instance: DagsterInstance, settings: Settings, record: LockRecord | None,
                   exclude: str | None = None, now: float | None = None) -> list[DeadRun]:
    """Dead runs, judged with ``record`` (the lock's last holder, read while holding the lock;
    None: a live process holds it, and then nothing is judged)."""
    if record is None:
        return []
    now = time.time() if now is None else now
    warehouse = str(settings.warehouse_dir.resolve())
    dead = []
    for rec in instance.get_run_records(RunsFilter(statuses=_RUNNING)):
        run = rec.dagster_run
        if run.run_id == exclude:
            continue
        last = _last_event_time(instance, run.run_id) or rec.create_timestamp.timestamp()
        if record.unreleased and record.run_id == run.run_id:
            reason = f"its process, pid {record.pid}, is gone"
        elif run.tags.get(WAREHOUSE_TAG, warehouse) == warehouse and now - last > SILENT_SECONDS:
            reason = f"nothing logged for {int(now - last)} s and no refresh holds the warehouse lock"
        else:
            continue
        dead.append(DeadRun(run.run_id, run.job_name, _iso(last), reason, _unfinished_steps(instance, run.run_id)))
    return dead


def mark_failed(instance: DagsterInstance, dead: DeadRun) -> bool:
    """Report the run failed (tagged so the failure sensor does not alert twice); False if it had
    finished meanwhile."""
    run = instance.get_run_by_id(dead.run_id)
    if run is None or run.status not in _RUNNING:
        return False
    instance.add_run_tags(dead.run_id, {ALERTED_TAG: "in_process", DIED_TAG: dead.died_at})
    instance.report_run_failed(instance.get_run_by_id(dead.run_id), message=f"crm-pulse: {dead.describe()}")
    return True


def dead_run_alert(dead: DeadRun, ops: OpsSettings):
    from crm_pulse.alerting.message import Alert

    where = ", ".join(dead.unfinished_steps[:3]) or None
    return Alert(kind="run_failed", title=f"crm-pulse: {dead.job_name} run died at {dead.died_at}"
                 + (f" during {where}" if where else "") + "; marked failed, the next refresh starts normally",
                 severity="error", asset=where, samples=[dead.reason] + [f"step {s} did not finish"
                                                                          for s in dead.unfinished_steps],
                 run_id=dead.run_id, details_hint=ops.run_link(dead.run_id))


def recover(instance: DagsterInstance, settings: Settings, lock: WarehouseLock | None = None,
            exclude: str | None = None, channels=None, retries=None, logger=None) -> list[str]:
    """Mark dead runs failed and send their alerts; with ``lock`` (held by the caller, just taken)
    also remove the temporary files of a failed run. Returns the lines (also logged to ``logger``)."""
    try:
        return _recover(instance, settings, lock, exclude, channels, retries, logger)
    except Exception as exc:  # noqa: BLE001 - a tick, a status or a refresh must go on regardless
        (logger or _LOG).exception("could not check for crashed runs")
        return [f"could not check for crashed runs: {type(exc).__name__}: {exc}"]


def _recover(instance, settings, lock, exclude, channels, retries, logger) -> list[str]:
    from crm_pulse.alerting.dispatch import describe_results, send

    log = logger or _LOG
    if lock is not None:
        marked = [d for d in find_dead_runs(instance, settings, lock.previous, exclude) if mark_failed(instance, d)]
    else:
        with inspect(settings.warehouse_dir) as record:
            marked = [d for d in find_dead_runs(instance, settings, record, exclude) if mark_failed(instance, d)]
    lines = [dead.describe() for dead in marked]
    if lock is not None and lock.taken_over:
        lines.insert(0, f"took over the warehouse lock of {lock.previous.describe()}, whose process is gone")
    if marked:
        ops = OpsSettings.from_env()
        sent = send([dead_run_alert(d, ops) for d in marked], channels, retries, logger=log)
        lines.append(f"alerts: {describe_results(sent)}")
    if lock is not None:
        removed = remove_temporaries(settings)
        if removed:
            lines.append(f"removed {len(removed)} temporary file(s) left by an earlier run: "
                         + ", ".join(str(p.relative_to(settings.warehouse_dir)) for p in removed[:5])
                         + (" ..." if len(removed) > 5 else ""))
    for line in lines if logger is not None else ():  # else the caller shows them
        logger.warning(line)
    return lines


def temporaries(settings: Settings) -> list[Path]:
    """Files and folders the pipeline writes as temporaries and removes when it succeeds (ingest
    staging, ``*.tmp`` before a rename, publish's staging database and Parquet, DuckDB's spill
    folder of the working database). Never the working database's ``.wal``: it holds committed data."""
    staging = RawLayout(settings.raw_dir).staging_root
    found = [*(staging.iterdir() if staging.is_dir() else ()), Path(f"{settings.work_db}.tmp")]
    serving = settings.serving_db
    found += serving.parent.glob(f".{serving.stem}-*.duckdb*")
    found += settings.marts_dir.glob(".*-*.parquet")
    for folder in (settings.raw_dir, settings.marts_dir, settings.reports_dir):
        found += (p for p in folder.rglob("*.tmp") if p.is_file())
    return sorted({p for p in found if p.exists()})


def remove_temporaries(settings: Settings) -> list[Path]:
    """Remove :func:`temporaries`; call only while holding the warehouse lock."""
    removed = []
    for path in temporaries(settings):
        try:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(path)
        except OSError as exc:
            _LOG.warning("could not remove temporary %s: %s", path, exc)
    return removed


def dead_run_note(run) -> str | None:
    """For ``status``: how a run marked failed by :func:`recover` died."""
    died = run.tags.get(DIED_TAG)
    return f"run {run.run_id} died at {died}, marked failed" if died else None


def _last_event_time(instance: DagsterInstance, run_id: str) -> float | None:
    records = instance.get_records_for_run(run_id=run_id, limit=1, ascending=False).records
    return records[0].event_log_entry.timestamp if records else None


def _unfinished_steps(instance: DagsterInstance, run_id: str) -> list[str]:
    def steps(kinds) -> set[str]:
        return {r.event_log_entry.step_key for r in instance.get_records_for_run(run_id=run_id, of_type=kinds).records}

    done = steps({DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE, DagsterEventType.STEP_SKIPPED})
    return sorted(steps(DagsterEventType.STEP_START) - done)


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(timespec="seconds")
