"""The ``data_quality`` table: data health per run for BI dashboards.

One row per check evaluated in a run (``record_type = 'check'``: ingest row conservation, dbt
tests, mart contracts) and one row per export file landed in the run (``record_type = 'file'``:
rows read / loaded / quarantined). Each run's rows are kept in ``<raw>/_quality/<load_id>.parquet``
so the published table holds the history of every run that reached the publish step.

``status``: ``passed``; ``warning`` (a warn-severity check failed, or a file had quarantined rows);
``failed`` (an error-severity check failed; such runs stop before the publish, so they only show up
in the published table if a later check let the run continue, e.g. when a check is not blocking).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import polars as pl

from data_contracts.contract import contracts
from data_contracts.files import replacing
from data_contracts.privacy import scrub

SCHEMA = pl.Schema({
    "run_id": pl.Utf8(), "load_id": pl.Utf8(), "recorded_at": pl.Datetime("us"), "record_type": pl.Utf8(),
    "layer": pl.Utf8(), "asset": pl.Utf8(), "check_name": pl.Utf8(), "severity": pl.Utf8(), "status": pl.Utf8(),
    "failing_count": pl.Int64(), "details": pl.Utf8(), "entity": pl.Utf8(), "source_file": pl.Utf8(),
    "rows_read": pl.Int64(), "rows_loaded": pl.Int64(), "rows_quarantined": pl.Int64(),
})

#: metadata keys that carry a failing count, first found wins (our checks, dagster-dbt,
#: then the names dbt and Great Expectations use).
FAILING_COUNT_KEYS = ("failing_count", "dagster_dbt/failed_row_count", "failed_row_count", "unexpected_count")


@dataclass(frozen=True)
class CheckEvaluation:
    """What a Dagster asset check reported (decoupled from Dagster's classes)."""

    asset: str  # e.g. "marts/customer_rfm"
    check_name: str
    passed: bool
    severity: str  # ERROR | WARN
    metadata: dict


#: layer of a check by the first part of its asset key (dbt models are keyed by their folder).
_LAYERS = {"raw": "ingest", "staging": "dbt_test", "intermediate": "dbt_test", "marts": "dbt_test",
           "seeds": "dbt_test", "exports": "freshness"}


def layer_of(asset: str, check_name: str) -> str:
    if check_name == "mart_contract":
        return "mart_contract"
    parts = asset.split("/")
    if parts[0] == "raw" and len(parts) > 1 and parts[1] not in {c.source for c in contracts().values()}:
        return "analytics"  # raw tables written by Python assets (e.g. raw/analytics/clv_model_params)
    return _LAYERS.get(parts[0], "other")


def failing_count(metadata: Mapping) -> int | None:
    """The failing count a check put in its (plain) metadata; None when it gave none."""
    for key in FAILING_COUNT_KEYS:
        value = metadata.get(key)
        if value is not None:
            try:
                return int(value)
            except (TypeError, ValueError):
                continue
    return None


def check_rows(evaluations: list[CheckEvaluation], run_id: str, load_id: str, recorded_at: dt.datetime) -> list[dict]:
    rows = []
    for ev in evaluations:
        status = "passed" if ev.passed else ("failed" if ev.severity.upper() == "ERROR" else "warning")
        details = ev.metadata.get("summary") or ev.metadata.get("failures") or ""
        count = failing_count(ev.metadata)
        rows.append({
            "run_id": run_id, "load_id": load_id, "recorded_at": recorded_at, "record_type": "check",
            "layer": layer_of(ev.asset, ev.check_name), "asset": ev.asset, "check_name": ev.check_name,
            "severity": ev.severity.lower(), "status": status,
            "failing_count": (0 if ev.passed else 1) if count is None else count,
            "details": scrub(str(details))[:2000] if details else None,
        })
    return rows


def file_rows(load_log: pl.DataFrame, run_id: str, load_id: str, recorded_at: dt.datetime) -> list[dict]:
    """One row per file landed by ``load_id`` (from the ingest load records)."""
    rows = []
    for rec in load_log.filter(pl.col("load_id") == load_id).iter_rows(named=True):
        notes = json.loads(rec.get("notes") or "[]")
        unknown = json.loads(rec.get("unknown_columns") or "[]")
        details = "; ".join([*notes, *([f"unknown columns ignored: {', '.join(unknown)}"] if unknown else [])])
        rows.append({
            "run_id": run_id, "load_id": load_id, "recorded_at": recorded_at, "record_type": "file",
            "layer": "ingest", "asset": f"raw/{rec['source']}/{rec['entity']}", "check_name": "rows_quarantined",
            "severity": "warn", "status": "warning" if rec["rows_quarantined"] else "passed",
            "failing_count": rec["rows_quarantined"], "details": scrub(details)[:2000] or None,
            "entity": rec["entity"], "source_file": rec["source_file"], "rows_read": rec["rows_read"],
            "rows_loaded": rec["rows_loaded"], "rows_quarantined": rec["rows_quarantined"],
        })
    return rows


def write_run(quality_dir: Path, load_id: str, rows: list[dict]) -> Path:
    """Write (replace) this run's records atomically; returns the file."""
    quality_dir = Path(quality_dir)
    quality_dir.mkdir(parents=True, exist_ok=True)
    target = quality_dir / f"{load_id}.parquet"
    with replacing(target) as tmp:
        pl.DataFrame(rows, schema=SCHEMA).write_parquet(tmp)
    return target
