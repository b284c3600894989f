"""Mart contracts (Great Expectations + SQL in DuckDB): the suites load, cover every mart, pass on the
demo build and fail (with the right severity and failing count) on broken marts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from crm_pulse.config.settings import PROJECT_ROOT
from data_contracts.mart_contracts import MARTS_DIR, _gx_class, load_suites, validate_mart

ROOT = Path(__file__).resolve().parent.parent


def manifest_marts() -> set[str]:
    from orchestration.project import ensure_manifest

    manifest = json.loads(Path(ensure_manifest()).read_text())
    return {n["name"] for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["fqn"][1] == "marts"}


def test_every_mart_has_a_suite_and_every_suite_is_valid():
    suites = load_suites()
    missing = manifest_marts() - set(suites)
    assert not missing, f"marts without a contract in {MARTS_DIR}: {sorted(missing)}"
    for suite in suites.values():
        assert suite.expectations or suite.sql_checks, suite.mart
        for expectation in suite.expectations:
            _gx_class(expectation.expect, str(suite.path))  # a real GX 1.x expectation
            assert expectation.reason, f"{suite.mart}: {expectation.name} has no reason"
        for check in suite.sql_checks:
            assert check.reason, f"{suite.mart}: {check.name} has no reason"


def test_sql_checks_read_only_marts_built_before_the_check_runs():
    """Marts downstream of a Python asset (CLV) are built in a later dbt step: a check of an earlier
    mart must not read them (it would see the previous build)."""
    from orchestration.project import ensure_manifest

    manifest = json.loads(Path(ensure_manifest()).read_text())
    nodes = {**manifest["nodes"], **manifest["sources"]}
    contract_sources = {"crm", "erp", "ticketing"}

    def ancestors(uid, seen):
        for dep in nodes.get(uid, {}).get("depends_on", {}).get("nodes", []):
            if dep not in seen:
                seen.add(dep)
                ancestors(dep, seen)
        return seen

    marts = {n["name"]: uid for uid, n in manifest["nodes"].items()
             if n["resource_type"] == "model" and n["fqn"][1] == "marts"}
    late = {name for name, uid in marts.items()
            if any(d.startswith("source.") and nodes[d]["source_name"] not in contract_sources
                   for d in ancestors(uid, set()))}
    wrong = []
    for mart, suite in load_suites().items():
        if mart not in marts:
            continue
        upstream = {nodes[d]["name"] for d in ancestors(marts[mart], set())}
        for check in suite.sql_checks:
            for other in set(re.findall(r"\bmarts\.(\w+)", check.sql)) - {mart}:
                if other in late and mart not in late and other not in upstream:
                    wrong.append(f"{mart}.{check.name} reads {other}")
    assert not wrong


def test_suite_file_errors_are_clear(tmp_path):
    (tmp_path / "bad.yml").write_text("mart: x\nexpectations:\n  - expect: expect_it\n    severity: fatal\n")
    with pytest.raises(ValueError, match="severity must be one of error, warn"):
        load_suites(tmp_path)
    with pytest.raises(ValueError, match="unknown GX expectation 'expect_nonsense'"):
        _gx_class("expect_nonsense", "here")


# --- a tiny work database with hand-made marts -----------------------------------------------------

def rfm_frame(n: int = 10) -> pd.DataFrame:
    """n customers, scores assigned like ntile(5): better values -> higher scores."""
    rows = []
    for i in range(n):
        score = i * 5 // n + 1
        rows.append({"customer_id": f"C{i:02d}", "recency_days": 300 - i * 10, "frequency": i + 1,
                     "monetary": 100.0 * (i + 1), "r_score": score, "f_score": score, "m_score": score,
                     "rfm_segment": "Others", "value_tier": "low", "last_order_date": pd.Timestamp("2025-12-01")})
    return pd.DataFrame(rows)


def dim_frame(rfm: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": rfm["customer_id"], "lifecycle_stage": "active", "value_tier": "low",
        "completed_orders": rfm["frequency"], "lifetime_revenue": rfm["monetary"], "days_since_last_order": 3,
        "phone_masked": "138****5678", "email_masked": "z***@example.com", "industry": "制造",
        "first_order_date": pd.Timestamp("2025-01-01"), "last_order_date": pd.Timestamp("2025-12-01"),
    })


def orders_frame(rfm: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "order_id": [f"O{i}" for i in range(len(rfm))], "customer_id": rfm["customer_id"],
        "order_status": "completed", "amount_reporting": rfm["monetary"], "revenue": rfm["monetary"],
        "is_before_customer_existed": False, "order_date": pd.Timestamp("2025-12-01"),
    })


def tickets_frame(rfm: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "ticket_id": [f"T{i}" for i in range(len(rfm))], "customer_id": rfm["customer_id"],
        "first_response_hours": 1.5, "resolution_hours": 20.0, "csat": 5, "nps": 9,
    })


def work_db(**frames: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema marts")
    for name, frame in frames.items():
        con.register("frame", frame)
        con.execute(f"create table marts.{name} as select * from frame")
        con.unregister("frame")
    return con


def failed(result) -> dict[str, tuple[str, int]]:
    return {o.name: (o.severity, o.failing_count) for o in result.failed}


def test_consistent_marts_pass():
    rfm = rfm_frame()
    con = work_db(customer_rfm=rfm, dim_customers=dim_frame(rfm), fct_orders=orders_frame(rfm),
                  fct_tickets=tickets_frame(rfm))
    suites = load_suites()
    for mart in ("customer_rfm", "dim_customers", "fct_orders", "fct_tickets"):
        result = validate_mart(suites[mart], con)
        assert result.failed == [], result.summary()
        assert len(result.outcomes) == len(suites[mart].expectations) + len(suites[mart].sql_checks)


def test_rfm_scores_out_of_range_and_missing_quintile_block():
    rfm = rfm_frame()
    rfm.loc[0, "r_score"] = 6  # out of range; quintile 1 of r now has one member less
    rfm.loc[[2, 3], "f_score"] = 3  # quintile 2 of f empty
    con = work_db(customer_rfm=rfm, dim_customers=dim_frame(rfm), fct_orders=orders_frame(rfm),
                  fct_tickets=tickets_frame(rfm))
    result = validate_mart(load_suites()["customer_rfm"], con)
    got = failed(result)
    assert got["expect_column_values_to_be_between(r_score)"] == ("error", 1)
    assert got["expect_column_values_to_be_between(r_score)"] == ("error", 1)
    assert got["every_quintile_filled"] == ("error", 1)  # f: quintile 2 missing (r still has 5+ values)
    assert got["quintiles_balanced"][0] == "error"
    assert result.blocking_failures


@pytest.mark.parametrize("n", [0, 1, 3])
def test_empty_or_tiny_rfm_window_warns_only(n):
    """No (or fewer than 5) customers with a completed order in the RFM window is a fact: nothing blocks,
    an empty table is reported by the warn row-count item."""
    rfm = rfm_frame(10).head(n)
    rfm["r_score"] = rfm["f_score"] = rfm["m_score"] = range(1, n + 1)  # ntile(5) over n < 5 rows
    con = work_db(customer_rfm=rfm, fct_orders=orders_frame(rfm))
    result = validate_mart(load_suites()["customer_rfm"], con)
    assert not result.blocking_failures, result.summary()
    assert failed(result) == ({"expect_table_row_count_to_be_between": ("warn", 1)} if n == 0 else {})


def test_scores_not_ordered_is_caught():
    rfm = rfm_frame()
    rfm.loc[0, "m_score"], rfm.loc[9, "m_score"] = 5, 1  # the smallest spender scored best
    con = work_db(customer_rfm=rfm, dim_customers=dim_frame(rfm), fct_orders=orders_frame(rfm),
                  fct_tickets=tickets_frame(rfm))
    assert "scores_ordered" in failed(validate_mart(load_suites()["customer_rfm"], con))


def test_keys_nulls_and_accepted_values_are_dbt_tests_only(tmp_path):
    """One home per rule: a suite that repeats a dbt column rule is refused with where it belongs, and
    the dbt rules of the marts keep the customer key checks the suites no longer hold."""
    (tmp_path / "dup.yml").write_text("mart: x\nexpectations:\n  - expect: expect_column_values_to_be_unique\n"
                                      "    kwargs: {column: customer_id}\n")
    with pytest.raises(ValueError, match="dup.yml: expectation 1: expect_column_values_to_be_unique is a dbt test: "
                                         "put the column in the model's column_rules"):
        load_suites(tmp_path)
    models = yaml.safe_load((PROJECT_ROOT / "dbt_project/models/marts/_models.yml").read_text(encoding="utf-8"))
    rules = {m["name"]: t["column_rules"]["arguments"] for m in models["models"] for t in m.get("data_tests") or ()
             if isinstance(t, dict) and "column_rules" in t}
    for mart in ("dim_customers", "customer_rfm", "customer_value", "churn_risk"):
        assert rules[mart]["unique"] == ["customer_id"] and "customer_id" in rules[mart]["not_null"], mart


def test_raw_contact_details_in_a_mart_block_the_publish_and_are_not_echoed():
    rfm = rfm_frame()
    dim = dim_frame(rfm)
    dim.loc[4, "phone_masked"] = "13812345678"
    dim.loc[5, "email_masked"] = "zhang.san@example.com"
    con = work_db(customer_rfm=rfm, dim_customers=dim, fct_orders=orders_frame(rfm), fct_tickets=tickets_frame(rfm))
    result = validate_mart(load_suites()["dim_customers"], con)
    got = failed(result)
    assert got["expect_column_values_to_not_match_regex(phone_masked)"] == ("error", 1)
    assert got["expect_column_values_to_not_match_regex(email_masked)"] == ("error", 1)
    assert "13812345678" not in result.summary() and "zhang.san@" not in result.summary()


def test_revenue_reconciliation_and_unknown_customers():
    rfm = rfm_frame()
    dim = dim_frame(rfm)
    dim.loc[0, "lifetime_revenue"] += 1  # dimension no longer equals the fact
    orders = orders_frame(rfm)
    orders.loc[len(orders)] = {"order_id": "OX", "customer_id": "C99", "order_status": "cancelled",
                               "amount_reporting": 5.0, "revenue": 5.0, "is_before_customer_existed": True,
                               "order_date": pd.Timestamp("2025-12-01")}
    con = work_db(customer_rfm=rfm, dim_customers=dim, fct_orders=orders, fct_tickets=tickets_frame(rfm))
    assert failed(validate_mart(load_suites()["dim_customers"], con)) == {
        "revenue_reconciles_with_fct_orders": ("error", 1), "order_customers_in_dim_customers": ("warn", 1)}
    got = failed(validate_mart(load_suites()["fct_orders"], con))
    assert got == {"revenue_only_from_completed_orders": ("error", 1), "orders_before_customer_existed": ("warn", 1)}


def test_reconciliations_across_marts_hold_month_by_month():
    """kpi_monthly against fct_orders and churn_summary, sales_performance against fct_orders: a shift
    between two months that leaves the totals equal, or a lost order, is caught (recomputed here)."""
    orders = pd.DataFrame({"order_id": ["O1", "O2", "O3"], "customer_id": "C1", "order_status": "completed",
                           "revenue": [100.0, 50.0, 25.0],
                           "order_date": pd.to_datetime(["2025-01-05", "2025-02-10", "2025-02-20"])})
    by_month = orders.groupby(orders["order_date"].dt.to_period("M").dt.start_time)["revenue"].sum()
    kpi = pd.DataFrame({"month_start": by_month.index, "revenue": by_month.values, "high_value_revenue": 0.0,
                        "churned_customers": [1, 0]})
    churn = pd.DataFrame({"period_month": list(by_month.index) * 2, "dimension": ["all", "all", "industry", "industry"],
                          "churned_customers": [1, 0, 1, 0]})
    sales = pd.DataFrame({"period_type": ["month", "month", "quarter", "year"],
                          "period_start": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-01-01", "2025-01-01"]),
                          "sales_rep": "r1", "revenue": [100.0, 75.0, 175.0, 175.0], "orders": [1, 2, 3, 3]})
    sales["team_period_revenue"] = sales["rep_period_revenue"] = sales["revenue"]
    checks = lambda mart, con: {k: v for k, v in failed(validate_mart(load_suites()[mart], con)).items()
                                if k in ("revenue_equals_fct_orders", "churned_equals_churn_summary",
                                         "total_equals_fct_orders_revenue")}
    con = work_db(kpi_monthly=kpi, churn_summary=churn, fct_orders=orders, sales_performance=sales)
    assert checks("kpi_monthly", con) == {} and checks("sales_performance", con) == {}
    shifted, industries, lost = kpi.copy(), churn.copy(), sales.copy()
    shifted.loc[0, "revenue"] += 10
    shifted.loc[1, "revenue"] -= 10  # same total, wrong months
    industries.loc[2, "churned_customers"] = 0  # industries no longer add up to 'all'
    lost.loc[1, "orders"] = 1  # an order lost in February, revenue unchanged
    con = work_db(kpi_monthly=shifted, churn_summary=industries, fct_orders=orders, sales_performance=lost)
    assert checks("kpi_monthly", con) == {"revenue_equals_fct_orders": ("error", 2), "churned_equals_churn_summary": ("error", 1)}
    assert checks("sales_performance", con) == {"total_equals_fct_orders_revenue": ("error", 1)}


def test_only_warn_failures_do_not_block():
    rfm = rfm_frame()
    orders = orders_frame(rfm)
    orders.loc[0, "is_before_customer_existed"] = True
    con = work_db(customer_rfm=rfm, dim_customers=dim_frame(rfm), fct_orders=orders)
    result = validate_mart(load_suites()["fct_orders"], con)
    assert failed(result) == {"orders_before_customer_existed": ("warn", 1)}
    assert result.blocking_failures == []


def test_missing_mart_or_column_fails_clearly():
    con = work_db(dim_customers=dim_frame(rfm_frame()).drop(columns=["completed_orders"]))
    result = validate_mart(load_suites()["dim_customers"], con)
    assert failed(result)["column_exists(completed_orders)"] == ("error", 1)
    result = validate_mart(load_suites()["customer_rfm"], con)
    assert failed(result)["table_exists"] == ("error", 1)


def test_demo_build_passes_every_mart_contract(demo_run):
    """The real marts of the demo run satisfy every blocking rule (read from its working database)."""
    con = duckdb.connect(str(demo_run.warehouse / "work.duckdb"), read_only=True)
    try:
        built = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'").fetchall()}
        for mart, suite in load_suites().items():
            if mart in built:
                result = validate_mart(suite, con)
                assert result.blocking_failures == [], result.summary()
    finally:
        con.close()


def test_every_mart_has_a_contract_check_evaluated_before_publish():
    """Every mart's contract is a check evaluated by the quality step, which the publish depends on
    (the step fails on a blocking item: test_contracts_pipeline.py shows the publish does not run)."""
    from dagster import AssetKey

    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    specs = {(k.asset_key.path[-1], k.name): k for k in graph.asset_check_keys}
    quality_node = graph.get(AssetKey(["quality", "data_quality"]))
    for mart in manifest_marts():
        key = specs[(mart, "mart_contract")]
        assert key.asset_key == AssetKey(["marts", mart])
        assert key in quality_node.assets_def.check_keys  # evaluated in the quality step
    quality = graph.get(AssetKey(["quality", "data_quality"]))
    assert quality.group_name == "quality"
    assert AssetKey(["quality", "data_quality"]) in graph.get(AssetKey(["publish", "serving_database"])).parent_keys


def write_old_orders_landing(landing: Path) -> tuple[int, int, float]:
    """A CRM and an ERP export (no tickets, no campaigns) whose completed orders all lie in 2024;
    returns (customers, completed orders, completed revenue)."""
    import csv
    import datetime as dt

    crm, erp = landing / "crm" / "2024-12-31", landing / "erp" / "2024-12-31"
    crm.mkdir(parents=True)
    erp.mkdir(parents=True)
    orders, revenue = [], 0.0
    for c in range(30):
        for k in range(c % 4 + 1):
            status = "cancelled" if (c + k) % 7 == 0 else "completed"
            amount = 100.0 + 10 * c + k
            orders.append([f"O{c:02d}{k}", f"C{c:02d}", (dt.date(2024, 2, 1) + dt.timedelta(days=9 * c + 30 * k))
                           .isoformat(), status, f"{amount:.2f}", "", "rep"])
            revenue += amount if status == "completed" else 0.0
    with open(crm / "customers.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["customer_id", "customer_name", "industry", "region", "owner_rep", "first_deal_date", "status"])
        out.writerows([f"C{c:02d}", f"Customer {c}", "制造", "上海", "rep", "2024-01-15", "active"] for c in range(30))
    with open(erp / "orders.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["order_id", "customer_id", "order_date", "status", "amount", "currency", "sales_rep"])
        out.writerows(orders)
    return 30, sum(1 for o in orders if o[3] == "completed"), revenue


def test_refresh_with_empty_rfm_window_publishes_and_warns(tmp_path):
    """No completed order in the RFM window (365 days before the analysis date) is a fact: the refresh
    succeeds, customer_rfm is published empty and the run reports the warning."""
    from tests.harness import run_pipeline

    customers, completed, revenue = write_old_orders_landing(tmp_path / "landing")
    run = run_pipeline(tmp_path / "landing", tmp_path / "warehouse", CRM_PULSE_AS_OF="2026-06-30")
    assert run.exit_code == 0, run.output[-4000:]
    assert "warning: non-blocking check marts/customer_rfm:mart_contract failed" in run.output
    assert run.query("select count(*) as n from customer_rfm")["n"].item() == 0
    dim = run.query("select value_tier, completed_orders, lifetime_revenue from dim_customers")
    assert len(dim) == customers and set(dim["value_tier"]) == {"none"}
    assert dim["completed_orders"].sum() == completed
    assert dim["lifetime_revenue"].sum() == pytest.approx(revenue, abs=0.005)
    checks = run.query("select asset, status, severity, failing_count, details from data_quality "
                       "where record_type = 'check' and check_name = 'mart_contract'").set_index("asset")
    assert checks.loc["marts/customer_rfm", "status"] == "warning"
    assert "expect_table_row_count_to_be_between [warn]" in checks.loc["marts/customer_rfm", "details"]
    assert (checks.drop(index="marts/customer_rfm")["status"] != "failed").all()
