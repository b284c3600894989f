"""Contracts in the real pipeline (Dagster + dbt + DuckDB + GX), each case on a copy of demo_run's
warehouse: a file-level failure, a row-level quarantine, a blocking mart-contract failure, and
the published data-health tables."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
from pathlib import Path

import pytest

from data_contracts.mart_contracts import load_suites
from tests.harness import run_pipeline

NEW_DATE = "2026-01-02"
RAW_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
RAW_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def copy_run(run, tmp_path: Path) -> tuple[Path, Path]:
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    shutil.copytree(run.landing, landing)
    shutil.copytree(run.warehouse, warehouse, ignore=shutil.ignore_patterns("dagster_home"))
    return landing, warehouse


def fingerprint(warehouse: Path) -> dict[str, str]:
    files = [warehouse / "serving.duckdb", *sorted((warehouse / "marts").glob("*.parquet"))]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_published_data_health_tables(demo_run):
    """data_quality: one row per check of the run and per file landed; quarantine published masked."""
    dq = demo_run.query("select * from data_quality")
    checks = dq[dq.record_type == "check"]
    files = dq[dq.record_type == "file"]
    assert set(checks.status) <= {"passed", "warning"}  # the run published, so nothing blocking failed
    assert {"ingest", "dbt_test", "mart_contract"} <= set(checks.layer)
    built = set(demo_run.query("select table_name from information_schema.tables")["table_name"])
    contracted = {a.split("/")[-1] for a in checks[checks.check_name == "mart_contract"].asset}
    assert contracted == set(load_suites()) & built
    assert (checks[checks.check_name == "rows_conserved"].status == "passed").all()
    assert len(checks[checks.check_name == "rows_conserved"]) == 10  # one per source entity
    assert (checks.failing_count[checks.status == "passed"] == 0).all()
    assert (checks.failing_count[checks.status != "passed"] > 0).all()

    loads = demo_run.query("select * from source_loads")
    assert len(files) == len(loads) and set(files.source_file) == set(loads.source_file)
    assert (files.rows_read == files.rows_loaded + files.rows_quarantined).all()
    assert (files.failing_count == files.rows_quarantined).all()
    quarantine = demo_run.query("select source_file, count(distinct row_number) as n from quarantine group by 1")
    expected = dict(zip(files.source_file, files.rows_quarantined))
    assert {k: v for k, v in expected.items() if v} == dict(zip(quarantine.source_file, quarantine.n))
    assert quarantine.n.sum() > 0  # the demo exports carry bad rows on purpose

    for table in ("quarantine", "data_quality", "source_loads"):
        text = demo_run.query(f"select * from {table}").astype(str).to_csv()
        assert not RAW_PHONE.search(text), table
        assert not RAW_EMAIL.search(text.replace("***@", "")), table


def test_file_level_failure_names_the_file_and_leaves_published_data_unchanged(demo_run, tmp_path):
    landing, warehouse = copy_run(demo_run, tmp_path)
    before = fingerprint(warehouse)
    bad = landing / "erp" / NEW_DATE / "orders.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("订单号,客户ID,下单日期,订单状态\nO-NEW-1,C0001,2026-01-02,已完成\n", encoding="gb18030")

    run = run_pipeline(landing, warehouse)

    assert run.exit_code == 1
    assert "refresh FAILED" in run.output and "published data left unchanged" in run.output
    message = (f"erp/{NEW_DATE}/orders.csv: missing required column(s) amount for orders (accepted: amount, 订单金额, "
               "金额, 实付金额); the file's headers: 订单号, 客户ID, 下单日期, 订单状态")
    [line] = [l for l in run.output.splitlines() if "failed step raw__erp__orders" in l]
    assert line == f"  failed step raw__erp__orders: {message}", line
    assert "Traceback" not in run.output.split("refresh FAILED")[-1]
    assert fingerprint(warehouse) == before


def test_row_level_quarantine_loads_good_rows_and_conserves_rows(demo_run, tmp_path):
    landing, warehouse = copy_run(demo_run, tmp_path)
    customers = demo_run.query("select customer_id from dim_customers order by customer_id limit 2").customer_id
    c1, c2 = customers
    new = landing / "erp" / NEW_DATE / "orders.csv"
    new.parent.mkdir(parents=True)
    new.write_text(
        "order_id,customer_id,order_date,status,amount\n"
        f"N1,{c1},2026-01-02 10:00,completed,\"¥1,000.00\"\n"
        f"N2,{c2},2026年1月2日,已完成,0.1万\n"
        f"N3,{c1},2026-01-02,completed,abc\n"          # parse_money
        f"N4,{c2},2026-01-02,shipped,100\n"            # allowed_values
        f"N5,{c1},2026-01-05,completed,100\n"          # not_after_export_date
        f"N6,{c1},2026-01-02,completed,-5\n"           # amount_min_0
        "合计,,,,\n",
        encoding="utf-8")

    run = run_pipeline(landing, warehouse)

    assert run.exit_code == 0, run.output
    source = f"erp/{NEW_DATE}/orders.csv"
    q = run.query(f"select row_number, \"column\", rule, original_value from quarantine "
                  f"where source_file = '{source}' order by row_number")
    assert q.values.tolist() == [[4, "amount", "parse_money", "abc"], [5, "status", "allowed_values", "shipped"],
                                 [6, "order_date", "not_after_export_date", "2026-01-05"],
                                 [7, "amount", "amount_min_0", "-5"]]
    dq = run.query(f"select * from data_quality where record_type = 'file' and source_file = '{source}'")
    assert dq[["rows_read", "rows_loaded", "rows_quarantined", "status"]].values.tolist() == [[6, 2, 4, "warning"]]
    assert "skipped totals row (合计) at row 8" in dq.details[0]
    orders = run.query("select order_id, revenue from fct_orders where order_id like 'N_' order by order_id")
    assert orders.values.tolist() == [["N1", 1000.0], ["N2", 1000.0]]
    loads = run.query("select * from source_loads")
    assert (loads.rows_read == loads.rows_loaded + loads.rows_quarantined).all()
    history = run.query("select count(distinct load_id) as runs from data_quality")
    assert history.runs[0] == 2  # the demo run's records are kept beside this run's


def test_blocking_mart_contract_stops_the_publish(demo_run, tmp_path, monkeypatch):
    """A blocking mart-contract item fails only on a pipeline bug (README "What may block"). The
    bug is simulated by one more error item in customer_rfm's suite, a real SQL check on the
    built mart (every customer with frequency >= 1 counts as broken): ingest and every dbt test
    pass, the contract fails, the publish does not run and the published data stays as it was."""
    from data_contracts.mart_contracts import SqlCheck
    from orchestration.assets import quality

    _, warehouse = copy_run(demo_run, tmp_path)
    before = fingerprint(warehouse)
    bug = SqlCheck("simulated_bug", "select customer_id from customer_rfm where frequency >= 1", "error",
                   "simulated pipeline bug")
    validate = quality.validate_mart

    def with_bug(suite, con):
        if suite.mart == "customer_rfm":
            suite = dataclasses.replace(suite, sql_checks=(*suite.sql_checks, bug))
        return validate(suite, con)

    monkeypatch.setattr(quality, "validate_mart", with_bug)
    run = run_pipeline(demo_run.landing, warehouse, full_refresh=True)

    assert run.exit_code == 1, run.output
    assert "refresh FAILED" in run.output and "published data left unchanged" in run.output
    assert "  failed check marts/customer_rfm:mart_contract" in run.output.splitlines()
    failed_steps = [l.split(":")[0].strip() for l in run.output.splitlines() if l.startswith("  failed step")]
    assert failed_steps == ["failed step data_quality"], run.output
    assert fingerprint(warehouse) == before
