"""``crm-pulse status``: the last refresh run, its checks, export freshness, quarantine, outputs."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field

import polars as pl
from dagster import AssetCheckSeverity, DagsterEventType, DagsterInstance, RunsFilter

from crm_pulse.config.operations import OpsSettings
from crm_pulse.config.settings import Settings
from crm_pulse.freshness import evaluate_all
from crm_pulse.warehouse import fingerprint
from data_contracts import landing, unknown_columns
from data_contracts.contract import contracts
from data_contracts.health import failing_count
from data_contracts.layout import RawLayout
from data_contracts.validation import shown_header
from orchestration.keys import FULL_REFRESH_TAG, REFRESH_JOB, TRIGGER_TAG
from orchestration.metadata import plain_metadata
from orchestration.recovery import dead_run_note, recover


@dataclass
class CheckLine:
    asset: str
    check: str
    passed: bool
    severity: str
    failing_count: int | None


@dataclass
class Status:
    dagster_home: str
    last_run: dict | None = None
    checks: list[CheckLine] = field(default_factory=list)
    freshness: list[dict] = field(default_factory=list)
    quarantine: dict = field(default_factory=dict)
    unknown_columns: list[dict] = field(default_factory=list)  # ignored headers, each entity's latest load
    serving: dict = field(default_factory=dict)
    last_check: dict | None = None  # the last refresh's input check (crm_pulse/warehouse/fingerprint.py)
    landing: dict = field(default_factory=dict)  # analysis date and why, ignored entries (data_contracts/landing.py)

    @property
    def healthy(self) -> bool:
        blocking = any(not c.passed and c.severity == "ERROR" for c in self.checks)
        run_ok = self.last_run is not None and self.last_run["status"] == "SUCCESS"
        return run_ok and not blocking and all(f["fresh"] for f in self.freshness)

    def as_dict(self) -> dict:
        return {**asdict(self), "healthy": self.healthy}


def collect(settings: Settings, instance: DagsterInstance, ops: OpsSettings | None = None,
            now: dt.datetime | None = None) -> Status:
    ops = ops or OpsSettings.from_env()
    status = Status(dagster_home=str(instance.root_directory) if hasattr(instance, "root_directory") else "")
    recover(instance, settings)  # a run whose process is gone: marked failed (and alerted) before it is shown
    records = instance.get_run_records(RunsFilter(job_name=REFRESH_JOB), limit=1)
    if records:
        record = records[0]
        run = record.dagster_run
        start, end = record.start_time, record.end_time
        status.last_run = {
            "run_id": run.run_id,
            "status": run.status.value,
            "started_at": _iso(start),
            "ended_at": _iso(end),
            "seconds": round(end - start, 1) if start and end else None,
            "trigger": run.tags.get(TRIGGER_TAG) or ("schedule" if run.tags.get("dagster/schedule_name")
                                                    else "sensor" if run.tags.get("dagster/sensor_name")
                                                    else "ui"),
            "full_refresh": run.tags.get(FULL_REFRESH_TAG) == "true",
            "died": dead_run_note(run),
        }
        for rec in instance.get_records_for_run(run_id=run.run_id,
                                                of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records:
            ev = rec.event_log_entry.dagster_event.event_specific_data
            status.checks.append(CheckLine(ev.asset_key.to_user_string(), ev.check_name, ev.passed,
                                           "ERROR" if ev.severity == AssetCheckSeverity.ERROR else "WARN",
                                           failing_count(plain_metadata(ev.metadata))))
    for result in evaluate_all(settings, ops, now=now):
        wall = (now or dt.datetime.now(dt.timezone.utc)).astimezone(ops.tz).date()
        status.freshness.append({
            "source": result.source, "fresh": result.fresh,
            "newest_export": result.newest_export.isoformat() if result.newest_export else None,
            "due_export_date": result.due_date.isoformat(), "clock": result.clock.describe(),
            "missing_days": result.missing_days,
            "days_old_by_wall_clock": (wall - result.newest_export).days if result.newest_export else None,
        })
    status.quarantine = quarantine_summary(settings)
    status.unknown_columns = unknown_columns.latest(settings.raw_dir)
    status.last_check = fingerprint.read_json(fingerprint.check_path(settings))
    found = landing.scan(settings.landing_dir)
    status.landing = {"analysis_date": settings.resolved_as_of().isoformat(),
                      "analysis_date_reason": landing.analysis_date_reason(settings.as_of, settings.landing_dir),
                      "ignored": found.as_dict()["ignored"], "problems": found.as_dict()["problems"]}
    status.serving = {
        "serving_db": str(settings.serving_db),
        "exists": settings.serving_db.exists(),
        "modified_at": _iso(settings.serving_db.stat().st_mtime) if settings.serving_db.exists() else None,
        "marts_dir": str(settings.marts_dir),
        "parquet_files": len(list(settings.marts_dir.glob("*.parquet"))) if settings.marts_dir.exists() else 0,
    }
    return status


def quarantine_summary(settings: Settings) -> dict:
    """Rows quarantined per entity, from the current load of every file (load log), and top rules."""
    layout = RawLayout(settings.raw_dir)
    per_entity, files, read = {}, 0, 0
    for contract in contracts().values():
        log = layout.read_load_log(contract.entity)
        if log.height == 0:
            continue
        current = log.sort("loaded_at").group_by("source_file").last()
        files += current.height
        read += int(current["rows_read"].sum())
        per_entity[contract.entity] = int(current["rows_quarantined"].sum())
    rules: list[dict] = []
    folder = layout.quarantine_root
    if any(folder.glob("*/*.parquet")):
        frame = pl.read_parquet(folder / "*" / "*.parquet")
        rules = (frame.group_by("entity", "rule").agg(pl.struct("source_file", "row_number").n_unique().alias("rows"))
                 .sort(["rows", "entity", "rule"], descending=[True, False, False]).head(8).to_dicts())
    return {"rows_quarantined": sum(per_entity.values()), "rows_read": read, "files": files,
            "per_entity": per_entity, "top_rules": rules}


def render(status: Status) -> str:
    lines = []
    run = status.last_run
    if run is None:
        lines.append("last run:   none recorded (run `crm-pulse run` or start the schedule in `make dev`)")
    else:
        took = f", {run['seconds']} s" if run["seconds"] is not None else ""
        lines.append(f"last run:   {run['run_id']}  {run['status']}  started {run['started_at']}{took}, "
                     f"trigger {run['trigger']}{', full refresh' if run['full_refresh'] else ''}")
        if run.get("died"):
            lines.append(f"  {run['died']} (the next refresh starts normally)")
        failed = [c for c in status.checks if not c.passed]
        blocking = sum(1 for c in failed if c.severity == "ERROR")
        lines.append(f"checks:     {len(status.checks)} evaluated, {len(status.checks) - len(failed)} passed, "
                     f"{len(failed)} failed ({blocking} blocking)")
        for c in failed:
            count = f", {c.failing_count} failing" if c.failing_count is not None else ""
            lines.append(f"  FAILED [{c.severity}] {c.asset}: {c.check}{count}")
    if status.last_check:
        lines.append(f"last check: {status.last_check.get('checked_at')}: {status.last_check.get('result')}")
    lines.append("freshness:")
    for f in status.freshness:
        state = "fresh" if f["fresh"] else f"STALE ({f['missing_days']} export(s) missing)"
        age = f", {f['days_old_by_wall_clock']} day(s) old by the wall clock" if f["days_old_by_wall_clock"] else ""
        lines.append(f"  {f['source']:<10} {state:<28} newest export {f['newest_export'] or 'none'}, "
                     f"due {f['due_export_date']}{age}")
    if status.freshness:
        lines.append(f"  (clock: {status.freshness[0]['clock']})")
    q = status.quarantine
    per = ", ".join(f"{e} {n}" for e, n in q["per_entity"].items() if n) or "none"
    lines.append(f"quarantine: {q['rows_quarantined']} of {q['rows_read']} rows read from {q['files']} file(s) "
                 f"({per})")
    for rule in q["top_rules"]:
        lines.append(f"  {rule['entity']}: {rule['rule']} ({rule['rows']} rows)")
    unknown = status.unknown_columns
    lines.append(f"extra cols: unknown columns (ignored) in each entity's latest load: "
                 f"{f'{len(unknown)} file(s)' if unknown else 'none'}")
    lines += [f"  {u['source_file']}: {', '.join(shown_header(c) for c in u['columns'])}" for u in unknown[:20]]
    land = status.landing
    if land:
        lines.append(f"landing:    analysis date {land['analysis_date']} ({land['analysis_date_reason']}); "
                     f"{len(land['ignored'])} entr{'y' if len(land['ignored']) == 1 else 'ies'} ignored, "
                     f"{len(land['problems'])} problem(s)")
        lines += [f"  ignored {i['path']}: {i['reason']}" for i in land["ignored"][:20]]
        lines += [f"  PROBLEM {p['message']}" for p in land["problems"][:20]]
    s = status.serving
    when = f", published {s['modified_at']}" if s["modified_at"] else " (not published yet)"
    lines.append(f"serving:    {s['serving_db']}{when}")
    lines.append(f"marts:      {s['marts_dir']} ({s['parquet_files']} Parquet files)")
    lines.append(f"runs:       Dagster instance {status.dagster_home} (make dev, then http://127.0.0.1:3000/runs)")
    return "\n".join(lines)


def render_json(status: Status) -> str:
    return json.dumps(status.as_dict(), ensure_ascii=False, indent=2, default=str)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(timespec="seconds")
