"""A refresh whose inputs equal the last publish's does nothing (crm_pulse/warehouse/fingerprint.py):
real pipeline runs in sequence on one copy of the demo run, each differing from the last publish by
one thing: nothing, one landed order, one dbt var, --full-refresh."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from decimal import Decimal

import pytest
from dagster import DagsterInstance

from crm_pulse.warehouse import fingerprint
from orchestration.status import collect, render
from tests.harness import environment, run_pipeline

NEW_ORDER = "SO20251299999,C000023,2025-12-31 19:00:00,completed,1234.56,CNY,周杰\n"
ORDERS = "erp/2026-01-01/orders.csv"
VARS = json.dumps({"churn_days": 200})


def published(warehouse) -> dict[str, str]:
    files = [warehouse / "serving.duckdb", *sorted((warehouse / "marts").glob("*.parquet"))]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def record(warehouse) -> dict:
    return json.loads((warehouse / "serving.fingerprint.json").read_text(encoding="utf-8"))


def revenue(run) -> Decimal:
    return Decimal(str(run.query("select cast(sum(revenue) as decimal(18, 2)) as r from fct_orders").r[0]))


@pytest.fixture(scope="module")
def runs(demo_run, tmp_path_factory):
    base = tmp_path_factory.mktemp("nothing_changed")
    landing, warehouse = base / "landing", base / "warehouse"
    shutil.copytree(demo_run.landing, landing)  # copy2: sizes and mtimes kept
    shutil.copytree(demo_run.warehouse, warehouse, ignore=shutil.ignore_patterns("dagster_home"))
    state = {"warehouse": warehouse, "before": published(warehouse), "demo_record": record(warehouse)}

    started = time.monotonic()
    same = {"CRM_PULSE_REPORT_PDF": "auto"}  # as the demo run: the report options count
    state["same"] = run_pipeline(landing, warehouse, **same)
    state["same_seconds"] = time.monotonic() - started
    state["same_published"], state["same_record"] = published(warehouse), record(warehouse)
    with environment(CRM_PULSE_LANDING_DIR=str(landing), CRM_PULSE_WAREHOUSE_DIR=str(warehouse)):
        instance = DagsterInstance.local_temp(str(warehouse / "dagster_home"))
        try:
            state["status"] = render(collect(state["same"].settings, instance))
        finally:
            instance.dispose()
    state["revenue_before"] = revenue(state["same"])

    content = (landing / ORDERS).read_bytes()  # an export written again with the same content
    (landing / ORDERS).unlink()
    (landing / ORDERS).write_bytes(content)
    state["touched"] = run_pipeline(landing, warehouse, **same)
    state["touched_record"], state["touched_published"] = record(warehouse), published(warehouse)

    with (landing / ORDERS).open("a", encoding="utf-8") as fh:
        fh.write(NEW_ORDER)
    state["order"] = run_pipeline(landing, warehouse, **same)
    state["order_record"] = record(warehouse)
    state["vars"] = run_pipeline(landing, warehouse, CRM_PULSE_DBT_VARS=VARS)
    state["vars_record"] = record(warehouse)
    state["full"] = run_pipeline(landing, warehouse, full_refresh=True, CRM_PULSE_DBT_VARS=VARS)
    state["full_record"] = record(warehouse)
    return state


def did_work(run) -> bool:
    return run.exit_code == 0 and "refresh succeeded" in run.output and "nothing changed" not in run.output


def test_nothing_changed_is_done_in_seconds_and_leaves_published_data_alone(runs):
    same, demo = runs["same"], runs["demo_record"]
    assert same.exit_code == 0, same.output
    line = f"crm-pulse: nothing changed since run {demo['run_id']} (published {demo['published_at']})"
    assert line in same.output.splitlines(), same.output
    assert "refresh succeeded" not in same.output
    print(f"no-change refresh: {runs['same_seconds']:.2f} s")
    assert runs["same_seconds"] < 5, runs["same_seconds"]
    assert runs["same_published"] == runs["before"]
    assert len(runs["before"]) > 5  # serving.duckdb and the marts
    assert runs["same_record"] == demo  # the record of the demo run's publish stays until the next publish
    assert "last check: " in runs["status"] and f"nothing changed since run {demo['run_id']}" in runs["status"]


def test_a_changed_landing_file_is_refreshed(runs):
    run = runs["order"]
    assert did_work(run), run.output
    assert runs["order_record"]["run_id"] != runs["demo_record"]["run_id"]
    assert revenue(run) - runs["revenue_before"] == Decimal("1234.56")
    assert runs["order_record"]["files"][ORDERS]["sha256"] != runs["demo_record"]["files"][ORDERS]["sha256"]
    # only the changed file was hashed again: the others keep their size, mtime and recorded hash
    for name, entry in runs["demo_record"]["files"].items():
        if name != ORDERS:
            assert runs["order_record"]["files"][name] == entry, name


def test_a_changed_dbt_var_is_refreshed(runs):
    assert did_work(runs["vars"]), runs["vars"].output
    assert runs["vars_record"]["fingerprint"] != runs["order_record"]["fingerprint"]
    assert runs["vars_record"]["files"] == runs["order_record"]["files"]


def test_full_refresh_forces_the_run(runs):
    assert did_work(runs["full"]), runs["full"].output
    assert runs["full_record"]["fingerprint"] == runs["vars_record"]["fingerprint"]
    assert runs["full_record"]["run_id"] != runs["vars_record"]["run_id"]


def test_an_export_rewritten_with_the_same_content_counts_as_unchanged(runs):
    touched, before, after = runs["touched"], runs["same_record"], runs["touched_record"]
    assert touched.exit_code == 0 and "nothing changed since run" in touched.output, touched.output
    assert runs["touched_published"] == runs["before"]
    assert after["fingerprint"] == before["fingerprint"] and after["run_id"] == before["run_id"]
    # the new mtime is recorded (no hashing next time); the content hash is the same
    assert after["files"][ORDERS]["mtime_ns"] != before["files"][ORDERS]["mtime_ns"]
    assert after["files"][ORDERS]["sha256"] == before["files"][ORDERS]["sha256"]
