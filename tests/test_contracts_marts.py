"""Mart contracts (Great Expectations + SQL in DuckDB): the suites load, cover every mart, pass on the
demo build and fail (with the right severity and failing count) on broken marts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

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
    assert got["expect_column_distinct_values_to_equal_set(r_score)"] == ("error", 1)  # 6 is not a quintile
    assert got["expect_column_distinct_values_to_equal_set(f_score)"] == ("error", 1)  # 2 missing
    assert got["quintiles_balanced"][0] == "error"
    assert result.blocking_failures


def test_scores_not_ordered_is_caught():
    rfm = rfm_frame()
    rfm.loc[0, "m_score"], rfm.loc[9, "m_score"] = 5, 1  # the smallest spender scored best
    con = work_db(customer_rfm=rfm, dim_customers=dim_frame(rfm), fct_orders=orders_frame(rfm),
                  fct_tickets=tickets_frame(rfm))
    assert "scores_ordered" in failed(validate_mart(load_suites()["customer_rfm"], con))


def test_null_and_duplicate_customer_keys_block():
    rfm = rfm_frame()
    dim = dim_frame(rfm)
    dim.loc[1, "customer_id"] = None
    dim.loc[2, "customer_id"] = dim.loc[3, "customer_id"]
    con = work_db(customer_rfm=rfm, dim_customers=dim, fct_orders=orders_frame(rfm), fct_tickets=tickets_frame(rfm))
    got = failed(validate_mart(load_suites()["dim_customers"], con))
    assert got["expect_column_values_to_not_be_null(customer_id)"] == ("error", 1)
    assert got["expect_column_values_to_be_unique(customer_id)"] == ("error", 2)


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


def test_only_warn_failures_do_not_block():
    rfm = rfm_frame()
    orders = orders_frame(rfm)
    orders.loc[0, "is_before_customer_existed"] = True
    con = work_db(customer_rfm=rfm, dim_customers=dim_frame(rfm), fct_orders=orders)
    result = validate_mart(load_suites()["fct_orders"], con)
    assert failed(result) == {"orders_before_customer_existed": ("warn", 1)}
    assert result.blocking_failures == []


def test_missing_mart_or_column_fails_clearly():
    con = work_db(dim_customers=dim_frame(rfm_frame()).drop(columns=["lifecycle_stage"]))
    result = validate_mart(load_suites()["dim_customers"], con)
    assert failed(result)["column_exists(lifecycle_stage)"] == ("error", 1)
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


def test_every_mart_has_a_blocking_contract_check_before_publish():
    from dagster import AssetKey

    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    specs = {(k.asset_key.path[-1], k.name): graph.get_check_spec(k) for k in graph.asset_check_keys}
    for mart in manifest_marts():
        spec = specs[(mart, "mart_contract")]
        assert spec.blocking and spec.asset_key == AssetKey(["marts", mart])
    quality = graph.get(AssetKey(["quality", "data_quality"]))
    assert quality.group_name == "quality"
    assert AssetKey(["quality", "data_quality"]) in graph.get(AssetKey(["publish", "serving_database"])).parent_keys
