"""Predicted customer value through the real pipeline (landing exports -> Dagster -> dbt ->
analytics/clv_models -> dbt marts -> serving.duckdb).

* CDNOW as an ERP orders export (plus the minimal CRM customers export) with
  CRM_PULSE_AS_OF=1997-09-30: the published clv_model_params match the published benchmark
  (Fader, Hardie & Lee 2005; Fader & Hardie note 025) and customer_value matches the archived
  `lifetimes` package (tests/clv_oracle.py in .venv-oracle) evaluated at the published parameters.
* Demo data: customer_value predictions equal crm_pulse/clv/model.py applied to the
  completed orders recomputed independently from the exports (tests/oracle.py).
* Fitting failures (too few repeat buyers, empty history) through a real Dagster materialisation:
  a warning, a WARN check, null predictions, a successful step.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from dagster import AssetCheckSeverity, DagsterEventType, DagsterInstance, materialize

from crm_pulse.clv import model as clv
from crm_pulse.clv.outputs import CLVConfig, fit_and_predict
from crm_pulse.config.dbt_vars import business_vars
from orchestration.assets.clv import CONVERGED_CHECK, KEYS as CLV_KEYS
from orchestration.assets.transform import dbt_models
from orchestration.resources import PipelineSettings
from tests import oracle
from tests.harness import environment, run_pipeline

ROOT = Path(__file__).resolve().parent.parent
CDNOW = ROOT / "tests" / "fixtures" / "CDNOW_sample.txt"
ORACLE_SCRIPT = ROOT / "tests" / "clv_oracle.py"
ORACLE_PYTHON = Path(os.environ.get("CRM_PULSE_CLV_ORACLE_PYTHON", ROOT / ".venv-oracle" / "bin" / "python"))
AS_OF = dt.date(1997, 9, 30)
EXPORT_DATE = "1998-06-30"  # one export of the whole 78-week file; orders after AS_OF are ignored

BG_BENCH = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
BG_BENCH_LL = -9582.4
GG_BENCH = {"p": 6.25, "q": 3.74, "gamma": 15.44}
PREDICTION_COLUMNS = ["probability_alive", "expected_purchases_90d", "expected_purchases_365d",
                      "expected_avg_order_value", "predicted_value"]


def cdnow_transactions() -> pd.DataFrame:
    tx = pd.read_csv(CDNOW, sep=r"\s+", header=None, names=["id", "sample", "date", "cds", "dollars"],
                     dtype={"date": str})
    tx["day"] = pd.to_datetime(tx["date"], format="%Y%m%d").dt.date
    return tx


def write_cdnow_landing(landing: Path) -> None:
    """CDNOW as users would drop it: erp/<date>/orders.csv (one order per CDNOW row) and
    crm/<date>/customers.csv (one customer per CDNOW id, first deal = first purchase)."""
    tx = cdnow_transactions()
    erp, crm = landing / "erp" / EXPORT_DATE, landing / "crm" / EXPORT_DATE
    erp.mkdir(parents=True)
    crm.mkdir(parents=True)
    with open(erp / "orders.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["order_id", "customer_id", "order_date", "status", "amount", "currency", "sales_rep"])
        for i, row in enumerate(tx.itertuples(index=False)):
            # no currency = the reporting currency, so revenue = the CDNOW dollar amounts
            out.writerow([f"CD{i:05d}", f"C{row.id}", row.day.isoformat(), "completed", f"{row.dollars:.2f}", "",
                          "cdnow"])
    firsts = tx.groupby("id")["day"].min()
    with open(crm / "customers.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["customer_id", "customer_name", "industry", "region", "owner_rep", "first_deal_date", "status"])
        for cid, first in firsts.items():
            out.writerow([f"C{cid}", f"CDNOW customer {cid}", "music retail", "US", "cdnow", first.isoformat(), "active"])


@pytest.fixture(scope="module")
def cdnow_run(tmp_path_factory):
    landing = tmp_path_factory.mktemp("cdnow_landing")
    write_cdnow_landing(landing)
    run = run_pipeline(landing, tmp_path_factory.mktemp("cdnow_warehouse"), CRM_PULSE_AS_OF=AS_OF.isoformat())
    assert run.exit_code == 0, run.output[-5000:]
    return run


def day(value) -> dt.date:
    return pd.Timestamp(value).date()


def published_params(run) -> dict:
    frame = run.query("SELECT * FROM clv_model_params")
    return {(r.model, r.parameter): r for r in frame.itertuples(index=False)}


def test_cdnow_params_match_published_benchmark(cdnow_run):
    params = published_params(cdnow_run)
    assert set(params) == {("bg_nbd", p) for p in BG_BENCH} | {("gamma_gamma", p) for p in GG_BENCH}
    for (model, name), row in params.items():
        assert row.is_converged and row.fit_kind == "mle", row.fit_message
        # calibration: the 39 weeks 1997-01-01 .. 1997-09-30, weekly unit
        assert (day(row.calibration_start), day(row.calibration_end)) == (dt.date(1997, 1, 1), AS_OF)
        assert row.time_unit == "week"
        assert row.customers == (2357 if model == "bg_nbd" else 946)
        bench = (BG_BENCH if model == "bg_nbd" else GG_BENCH)[name]
        assert row.value == pytest.approx(bench, rel=0.01), (model, name)
    assert abs(params[("bg_nbd", "r")].log_likelihood - BG_BENCH_LL) < 0.5


@pytest.fixture(scope="module")
def cdnow_oracle(cdnow_run):
    if not ORACLE_PYTHON.exists():
        if os.environ.get("CRM_PULSE_REQUIRE_CLV_ORACLE") == "1":
            pytest.fail(f"lifetimes oracle interpreter missing: {ORACLE_PYTHON} (make oracle-venv)")
        pytest.skip(f"lifetimes oracle not installed ({ORACLE_PYTHON}); build it with `make oracle-venv`")
    params = published_params(cdnow_run)
    request = {"bg": {p: params[("bg_nbd", p)].value for p in BG_BENCH},
               "gg": {"p": params[("gamma_gamma", "p")].value, "q": params[("gamma_gamma", "q")].value,
                      "v": params[("gamma_gamma", "gamma")].value},
               "t": [90 / 7, 365 / 7], "sets": {}, "evaluate_own_summary": True}
    proc = subprocess.run([str(ORACLE_PYTHON), str(ORACLE_SCRIPT)], input=json.dumps(request),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_cdnow_customer_value_matches_lifetimes(cdnow_run, cdnow_oracle):
    theirs = cdnow_oracle["sets"]["own_summary"]
    expected = pd.DataFrame({
        "customer_id": [f"C{i}" for i in cdnow_oracle["summary"]["customer_id"]],
        "probability_alive": theirs["p_alive"],
        "expected_purchases_90d": theirs["expected_purchases"][0],
        "expected_purchases_365d": theirs["expected_purchases"][1],
        "expected_avg_order_value": theirs["expected_avg_profit"],
        "predicted_value": theirs["clv"],  # 12 months, 1 % monthly discount, margin 1: the defaults
    }).set_index("customer_id").sort_index()
    ours = cdnow_run.query(f"SELECT customer_id, {', '.join(PREDICTION_COLUMNS)} FROM customer_value") \
        .set_index("customer_id").sort_index()
    assert list(ours.index) == list(expected.index)  # every CDNOW customer, each with predictions
    for col in PREDICTION_COLUMNS:
        assert ours[col].notna().all(), col
        np.testing.assert_allclose(ours[col].to_numpy(float), expected[col].to_numpy(float), rtol=1e-6, atol=0,
                                   err_msg=col)
    # customers without a repeat purchase day: probability alive 1, population mean spend
    summary = pd.DataFrame(cdnow_oracle["summary"])
    one_off = [f"C{i}" for i in summary.loc[summary["frequency"] == 0, "customer_id"]]
    assert len(one_off) == 2357 - 946
    assert (ours.loc[one_off, "probability_alive"] == 1.0).all()
    assert ours.loc[one_off, "expected_avg_order_value"].nunique() == 1


def test_cdnow_churn_risk_flags_low_probability_alive(cdnow_run):
    risk = cdnow_run.query("SELECT customer_id, probability_alive, is_low_probability_alive, signals FROM churn_risk")
    value = cdnow_run.query("SELECT customer_id, probability_alive FROM customer_value").set_index("customer_id")
    merged = risk.merge(value, left_on="customer_id", right_index=True, suffixes=("", "_value"))
    assert len(merged) > 0
    np.testing.assert_allclose(merged["probability_alive"], merged["probability_alive_value"], rtol=0, atol=0)
    low = merged["probability_alive"] < 0.3
    assert low.any() and (~low).any()
    assert (merged["is_low_probability_alive"] == low).all()
    assert merged.loc[low, "signals"].str.contains("low_probability_alive;").all()


# ------------------------------------------------------------------ demo data
def expected_completed_orders(landing: Path, as_of: dt.date) -> pd.DataFrame:
    """Completed orders up to ``as_of`` (latest exported version), revenue in CNY to the cent."""
    with open(ROOT / "dbt_project" / "seeds" / "fx_rates.csv", encoding="utf-8") as fh:
        rates = {row["currency"]: Decimal(row["rate_to_reporting"]) for row in csv.DictReader(fh)}
    orders = oracle.latest(oracle.clean_rows(landing, "erp", "orders"), ["order_id"])
    orders["day"] = orders["order_date"].map(lambda t: t.date())
    orders = orders[(orders["day"] <= as_of) & (orders["status"] == "completed")].copy()
    currency = orders["currency"].fillna("CNY").str.upper()
    orders["revenue"] = [float((a * rates[c]).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
                         for a, c in zip(orders["amount"], currency)]
    return orders[["customer_id", "day", "revenue"]]


def test_demo_customer_value_consistent_with_clv_module(demo_run):
    as_of = max(dt.date.fromisoformat(p.name) for p in demo_run.landing.glob("*/*") if p.is_dir())
    orders = expected_completed_orders(demo_run.landing, as_of)
    summary = clv.summary_from_transactions(orders, "customer_id", "day", "revenue", observation_end=as_of)
    bg = clv.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    gg = clv.fit_gamma_gamma(summary["frequency"], summary["monetary_value"])
    assert bg.converged and gg.converged, (bg.message, gg.message)

    params = published_params(demo_run)
    for name in clv.BGNBD_PARAMS:
        assert params[("bg_nbd", name)].value == pytest.approx(bg.params[name], rel=1e-6), name
    for name, published in (("p", "p"), ("q", "q"), ("v", "gamma")):
        assert params[("gamma_gamma", published)].value == pytest.approx(gg.params[name], rel=1e-6), name
    assert day(params[("bg_nbd", "r")].calibration_end) == as_of
    assert params[("bg_nbd", "r")].customers == len(summary)

    x, tx, T, m = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    expected = pd.DataFrame({
        "probability_alive": clv.conditional_probability_alive(bg, x, tx, T),
        "expected_purchases_90d": clv.conditional_expected_number_of_purchases(bg, 90 / 7, x, tx, T),
        "expected_purchases_365d": clv.conditional_expected_number_of_purchases(bg, 365 / 7, x, tx, T),
        "expected_avg_order_value": clv.conditional_expected_average_profit(gg, x, m),
        "predicted_value": clv.customer_lifetime_value(bg, gg, x, tx, T, m),
    }, index=summary["customer_id"])
    value = demo_run.query(f"SELECT customer_id, completed_orders, {', '.join(PREDICTION_COLUMNS)} "
                           "FROM customer_value").set_index("customer_id")
    buyers = value.index.intersection(expected.index)
    assert len(buyers) > 0.5 * len(value)
    for col in PREDICTION_COLUMNS:
        np.testing.assert_allclose(value.loc[buyers, col].to_numpy(float), expected.loc[buyers, col].to_numpy(float),
                                   rtol=1e-6, atol=1e-12, err_msg=col)
    # customers without a completed order up to the analysis date have no prediction
    others = value.drop(index=buyers)
    assert (others["completed_orders"] == 0).all()
    assert others[PREDICTION_COLUMNS].isna().all().all()


# ------------------------------------------------------------------ failures and configuration
def _materialize_clv(tmp_path: Path, orders: list[tuple], as_of: str):
    """Run the real CLV models (the CLV part of the dbt step) on a working database holding only marts.fct_orders."""
    warehouse, landing = tmp_path / "warehouse", tmp_path / "landing"
    warehouse.mkdir()
    landing.mkdir()
    con = duckdb.connect(str(warehouse / "work.duckdb"))
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.fct_orders (customer_id VARCHAR, order_date DATE, revenue DECIMAL(18, 2), "
                "is_completed BOOLEAN)")
    if orders:
        con.executemany("INSERT INTO marts.fct_orders VALUES (?, ?, ?, ?)", orders)
    con.close()
    instance = DagsterInstance.ephemeral()
    with environment(CRM_PULSE_WAREHOUSE_DIR=str(warehouse), CRM_PULSE_LANDING_DIR=str(landing),
                     CRM_PULSE_AS_OF=as_of, CRM_PULSE_DBT_VARS=""):
        result = materialize([dbt_models], selection=list(CLV_KEYS), resources={"settings": PipelineSettings()},
                             instance=instance)
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    folder = warehouse / "raw" / "_analytics"
    return (result, logs, pl.read_parquet(folder / "clv_customer_predictions.parquet"),
            pl.read_parquet(folder / "clv_model_params.parquet"))


@pytest.mark.parametrize("case", ["too_few_repeat_buyers", "empty_history"])
def test_fit_failure_warns_and_publishes_nulls(tmp_path, case):
    day = dt.date(2025, 1, 1)
    orders = [] if case == "empty_history" else [
        ("A", day, Decimal("10.00"), True), ("A", day + dt.timedelta(days=20), Decimal("30.00"), True),
        ("B", day, Decimal("5.00"), True), ("C", day + dt.timedelta(days=3), Decimal("7.00"), True),
        ("C", day + dt.timedelta(days=9), Decimal("7.00"), False),  # cancelled: not a purchase
        ("D", dt.date(2025, 7, 1), Decimal("9.00"), True),  # after the analysis date
    ]
    result, logs, predictions, params = _materialize_clv(tmp_path, orders, "2025-06-30")
    assert result.success
    assert any("CLV: BG/NBD not fitted" in m for m in logs), logs
    assert any("CLV: Gamma-Gamma not fitted" in m for m in logs), logs
    check = next(e.event_specific_data for e in result.all_events
                 if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION)
    assert check.check_name == CONVERGED_CHECK and not check.passed and check.severity == AssetCheckSeverity.WARN
    assert params.height == 7 and params["value"].null_count() == 7 and not params["converged"].any()
    assert params["message"].str.contains("too few").all() and (params["fit_kind"] == "not_fitted").all()
    if case == "empty_history":
        assert predictions.height == 0 and params["calibration_start"].null_count() == 7
        return
    rows = {r["customer_id"]: r for r in predictions.iter_rows(named=True)}
    assert set(rows) == {"A", "B", "C"}
    assert (rows["A"]["frequency"], rows["A"]["recency"], rows["A"]["age"]) == (1, 20 / 7, 180 / 7)
    assert rows["C"]["frequency"] == 0 and rows["A"]["monetary_value"] == 30.0
    for col in PREDICTION_COLUMNS:
        assert predictions[col].null_count() == 3, col


def test_regular_buyers_fall_back_to_limiting_case(tmp_path):
    """Nobody ever stops buying (every customer orders every week from a first order day until the
    analysis date) and every order is 100.00: both maximum-likelihood fits are degenerate, the
    limiting cases are published (fit_kind), the run warns, and every buyer gets predictions."""
    as_of = dt.date(2025, 6, 30)
    orders = []
    for c in range(300):
        first = dt.date(2025, 1, 1) + dt.timedelta(days=c % 60)
        orders += [(f"K{c:03d}", first + dt.timedelta(days=7 * k), Decimal("100.00"), True)
                   for k in range((as_of - first).days // 7 + 1)]
    result, logs, predictions, params = _materialize_clv(tmp_path, orders, as_of.isoformat())
    assert result.success
    check = next(e.event_specific_data for e in result.all_events
                 if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION)
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert any("CLV: BG/NBD limiting fit" in m for m in logs), logs
    assert any("CLV: Gamma-Gamma limiting fit" in m for m in logs), logs
    assert params["converged"].all() and (params["fit_kind"] == "limiting").all()
    rows = {(r["model"], r["parameter"]): r["value"] for r in params.iter_rows(named=True)}
    # limiting cases computed independently: one purchase day a week for everybody (Poisson rate =
    # repeat days / weeks observed), nobody leaves, population mean spend 100
    x = {c: sum(1 for o in orders if o[0] == c) - 1 for c in {o[0] for o in orders}}
    age = {c: (as_of - min(o[1] for o in orders if o[0] == c)).days / 7 for c in x}
    rate = sum(x.values()) / sum(age.values())
    assert rows[("bg_nbd", "purchase_rate")] == pytest.approx(rate, rel=1e-12)
    assert rows[("bg_nbd", "a")] == 0.0 and rows[("bg_nbd", "b")] is None
    assert rows[("gamma_gamma", "population_mean_spend")] == pytest.approx(100.0, rel=1e-12)
    assert predictions.height == 300
    assert predictions.select(PREDICTION_COLUMNS).null_count().sum_horizontal().item() == 0
    assert (predictions["probability_alive"] == 1.0).all()
    np.testing.assert_allclose(predictions["expected_purchases_365d"].to_numpy(), rate * 365 / 7, rtol=1e-12)
    assert (predictions["expected_avg_order_value"] == 100.0).all()
    value = sum(100.0 * rate * 4.345 / 1.01**k for k in range(1, 13))
    np.testing.assert_allclose(predictions["predicted_value"].to_numpy(), value, rtol=1e-9)


def test_time_unit_day_gives_same_predictions():
    tx = cdnow_transactions()
    orders = pl.DataFrame({"customer_id": tx["id"].astype(str), "order_date": tx["day"], "revenue": tx["dollars"]})
    now = dt.datetime(2026, 1, 1)
    weeks = fit_and_predict(orders, AS_OF, CLVConfig(), now)
    days = fit_and_predict(orders, AS_OF, CLVConfig.from_vars({"clv_time_unit": "day"}), now)
    assert not weeks.warnings and not days.warnings
    assert days.params["time_unit"].unique().to_list() == ["day"]
    # BG/NBD is scale free: alpha scales with the unit, r, a, b and every prediction stay
    assert days.bg_fit.params["alpha"] == pytest.approx(7 * weeks.bg_fit.params["alpha"], rel=1e-4)
    for name in ("r", "a", "b"):
        assert days.bg_fit.params[name] == pytest.approx(weeks.bg_fit.params[name], rel=1e-4), name
    # the monthly CLV sum uses 30 days vs 4.345 weeks per month, so only the other columns compare
    for col in PREDICTION_COLUMNS[:4]:
        np.testing.assert_allclose(days.predictions[col].to_numpy(), weeks.predictions[col].to_numpy(), rtol=1e-3,
                                   err_msg=col)


def test_config_defaults_are_the_dbt_project_defaults():
    assert CLVConfig() == CLVConfig.from_vars(business_vars())


@pytest.mark.parametrize("bad", [{"clv_time_unit": "month"}, {"clv_margin": -1}, {"clv_horizon_months": 0},
                                 {"clv_monthly_discount_rate": "x"}])
def test_invalid_configuration_is_a_clear_error(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        CLVConfig.from_vars(bad)


def test_margin_scales_predicted_value_only():
    tx = cdnow_transactions()
    orders = pl.DataFrame({"customer_id": tx["id"].astype(str), "order_date": tx["day"], "revenue": tx["dollars"]})
    now = dt.datetime(2026, 1, 1)
    full = fit_and_predict(orders, AS_OF, CLVConfig(), now).predictions
    cfg = CLVConfig.from_vars({"clv_margin": 0.25, "clv_horizon_months": 24, "clv_monthly_discount_rate": 0})
    part = fit_and_predict(orders, AS_OF, cfg, now).predictions
    assert part["expected_avg_order_value"].equals(full["expected_avg_order_value"])
    # undiscounted 24-month value = margin x E[M] x E[Y(24 months)]
    x, tx_, T = (full[c].to_numpy() for c in ("frequency", "recency", "age"))
    bg = fit_and_predict(orders, AS_OF, CLVConfig(), now).bg_fit
    ey = clv.conditional_expected_number_of_purchases(bg, 24 * 4.345, x, tx_, T)
    np.testing.assert_allclose(part["predicted_value"].to_numpy(),
                               0.25 * full["expected_avg_order_value"].to_numpy() * ey, rtol=1e-9)
