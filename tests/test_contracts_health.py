"""data_quality records (data_contracts/health.py) and the privacy scrubber."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

from data_contracts import health
from data_contracts.layout import LOAD_LOG_SCHEMA
from data_contracts.privacy import scrub

NOW = dt.datetime(2026, 1, 2, 3, 4, 5)


def test_check_rows_status_layer_and_failing_count():
    evaluations = [
        health.CheckEvaluation("raw/erp/orders", "rows_conserved", True, "ERROR", {"failing_count": 0}),
        health.CheckEvaluation("staging/stg_erp__orders", "rules_stg_erp__orders", False, "ERROR",
                               {"dagster_dbt/failed_row_count": 3}),
        health.CheckEvaluation("staging/stg_crm__opportunities", "relationships_x", False, "WARN",
                               {"dagster_dbt/failed_row_count": 2}),
        health.CheckEvaluation("marts/dim_customers", "mart_contract", False, "WARN",
                               {"failing_count": 4, "summary": "dim_customers: x [warn] failing 4 (e.g. 13812345678)"}),
        health.CheckEvaluation("exports/crm", "export_freshness", False, "WARN", {}),
        health.CheckEvaluation("raw/analytics/clv_model_params", "models_fitted", True, "WARN", {}),
    ]
    rows = health.check_rows(evaluations, "run-1", "run", NOW)
    got = [(r["layer"], r["status"], r["severity"], r["failing_count"]) for r in rows]
    assert got == [("ingest", "passed", "error", 0), ("dbt_test", "failed", "error", 3),
                   ("dbt_test", "warning", "warn", 2), ("mart_contract", "warning", "warn", 4),
                   ("freshness", "warning", "warn", 1), ("analytics", "passed", "warn", 0)]
    assert rows[3]["details"] == "dim_customers: x [warn] failing 4 (e.g. 138****5678)"


def test_file_rows_from_the_load_log_of_this_load_only(tmp_path):
    record = {"load_id": "run", "source": "erp", "entity": "orders", "source_file": "erp/2026-01-01/orders.csv",
              "export_date": dt.date(2026, 1, 1), "sha256": "x", "size_bytes": 10, "rows_read": 5,
              "rows_loaded": 3, "rows_quarantined": 2, "unknown_columns": json.dumps(["备注"]),
              "notes": json.dumps(["skipped totals row (合计) at row 7"]), "supersedes_load_id": None,
              "loaded_at": NOW}
    log = pl.DataFrame([record, {**record, "load_id": "older", "rows_quarantined": 0, "rows_loaded": 5}],
                       schema=LOAD_LOG_SCHEMA)
    rows = health.file_rows(log, "run-1", "run", NOW)
    assert len(rows) == 1
    row = rows[0]
    assert (row["rows_read"], row["rows_loaded"], row["rows_quarantined"], row["status"], row["failing_count"]) == (
        5, 3, 2, "warning", 2)
    assert row["details"] == "skipped totals row (合计) at row 7; unknown columns ignored: 备注"
    path = health.write_run(tmp_path, "run", rows)
    written = pl.read_parquet(path)
    assert written.schema == health.SCHEMA and written.height == 1


def test_scrub_masks_contacts_but_not_dates_amounts_or_ids():
    assert scrub("call 13812345678 or +86 139-8765-4321") == "call 138****5678 or 139****4321"
    assert scrub("mail zhang.san@example.com") == "mail z***@example.com"
    assert scrub("010-12345678") == "010****5678"
    for keep in ("2024-07-01 12:00:00", "20240701130509", "¥1,234.50", "45474.5", "C00012", "O-2024-000123"):
        assert scrub(keep) == keep
