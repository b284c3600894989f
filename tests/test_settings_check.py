"""The settings check: every bad ``CRM_PULSE_*`` value stops ``crm-pulse`` before any work with one
line naming the variable, the value and what is accepted; paths and vars reach SQL escaped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import duckdb
import pytest
import yaml

from crm_pulse.config import dbt_vars
from crm_pulse.config.settings import PROJECT_ROOT, Settings, SettingsError, check_environment
from tests.harness import run_pipeline

CLI = Path(sys.executable).with_name("crm-pulse")
INJECTION = "x' || (select 'INJECTED') || '"  # unescaped, this would concatenate a subquery's result

# (variable, bad value, text the one line must contain: what is accepted)
BAD_VALUES = [
    ("CRM_PULSE_DBT_THREADS", "0", "must be a whole number from 1 to 64"),
    ("CRM_PULSE_DBT_THREADS", "abc", "must be a whole number from 1 to 64"),
    ("CRM_PULSE_INGEST_BATCH_ROWS", "1e5", "must be a whole number from 1 to 100000000"),
    ("CRM_PULSE_DUCKDB_MEMORY_LIMIT", "abc", "must be a size of at least 100MB with a unit"),
    ("CRM_PULSE_DUCKDB_MEMORY_LIMIT", "2", "must be a size of at least 100MB with a unit"),
    ("CRM_PULSE_DBT_VARS", "{churn_days: 120}", "must be a JSON object like {\"churn_days\": 120}"),
    ("CRM_PULSE_DBT_VARS", "[120]", "must be a JSON object like {\"churn_days\": 120}, got a JSON list"),
    ("CRM_PULSE_DBT_VARS", '{"churn_dayz": 120}', "unknown var 'churn_dayz' (did you mean 'churn_days'?"),
    ("CRM_PULSE_DBT_VARS", '{"churn_days": "180; x"}', "churn_days must be a whole number >= 1"),
    ("CRM_PULSE_DBT_VARS", '{"churn_days": 0}', "churn_days must be a whole number >= 1"),
    ("CRM_PULSE_DBT_VARS", '{"churn_days": 60}', "churn_days must be above at_risk_days (90)"),
    ("CRM_PULSE_DBT_VARS", '{"warning_followup_drop": 1.5}', "warning_followup_drop must be a number from 0 to 1"),
    ("CRM_PULSE_DBT_VARS", '{"clv_time_unit": "month"}', "clv_time_unit must be one of week, day"),
    ("CRM_PULSE_DBT_VARS", '{"tenure_band_years": [3, 1]}', "ascending list of whole numbers"),
    ("CRM_PULSE_DBT_VARS", '{"business_timezone": "Mars/Base"}', "an IANA time zone like Asia/Shanghai"),
    ("CRM_PULSE_DBT_VARS", '{"reporting_currency": "CNY\'"}', "a 3-letter currency code like CNY"),
    # a currency without rate 1 in the fx_rates seed: every order with an empty currency takes it and
    # would have no rate (fx_rate is never null in rules_int_orders_converted, a blocking test: nothing publishes)
    ("CRM_PULSE_DBT_VARS", '{"reporting_currency": "GBP"}', "GBP has no row: edit the seed for it"),
    ("CRM_PULSE_SPARK_DRIVER_MEMORY", "lots", "a JVM memory size like 2g or 512m"),
    ("CRM_PULSE_SPARK_LOG_LEVEL", "LOUD", "'warn' or 'error' or 'fatal' or 'off'"),
    ("CRM_PULSE_DBT_VARS", '{"reporting_currency": "USD"}', "USD has rate 7.1: edit the seed for it"),
    ("CRM_PULSE_DBT_VARS", '{"as_of": "2025-01-01"}', "as_of is set by CRM_PULSE_AS_OF, not here"),
    ("CRM_PULSE_ENGINE", "oracle", "must be 'duckdb' or 'spark'"),
    ("CRM_PULSE_AS_OF", "2026-02-30", "must be an existing date like 2025-12-31"),
    ("CRM_PULSE_LANG", "fr", "must be 'en' or 'zh'"),
    ("CRM_PULSE_MAX_PROCESSES", "0", "must be 'auto' or a whole number >= 1"),
    ("CRM_PULSE_MAX_PROCESSES", "two", "must be 'auto' or a whole number >= 1"),
    ("CRM_PULSE_ALERT_WEBHOOK_URL", "file:///etc/passwd", "must be an http:// or https:// URL with a host"),
    ("CRM_PULSE_ALERT_SLACK_URL", "https://", "must be an http:// or https:// URL with a host"),
    ("CRM_PULSE_ALERT_RETRIES", "11", "must be between 0 and 10"),
    ("CRM_PULSE_SCHEDULE_CRON", "daily", "must be a 5-field cron expression like '0 6 * * *'"),
    ("CRM_PULSE_SCHEDULE_TIMEZONE", "Mars/Base", "must be an IANA time zone like Asia/Shanghai"),
    ("CRM_PULSE_AUTOMATION", "maybe", "must be one of on, off"),
    ("CRM_PULSE_FRESHNESS_CLOCK", "sundial", "must be one of auto, now, as_of"),
    ("CRM_PULSE_DAGSTER_UI_URL", "localhost:3000", "must be an http:// or https:// URL with a host"),
    ("CRM_PULSE_FRESHNESS_EXPECTED_AT_ERP", "25:00", "must be a time of day like 05:00"),
    ("CRM_PULSE_FRESHNESS_GRACE_HOURS", "-1", "must not be negative"),
    ("CRM_PULSE_SENSOR_INTERVAL_SECONDS", "1", "must be at least 5"),
    ("CRM_PULSE_REPORT_PERIOD", "week", "must be 'month' or 'quarter'"),
    ("CRM_PULSE_REPORT_PDF", "maybe", "must be 'auto', 'on' or 'off'"),
    ("CRM_PULSE_CHROMIUM", "/no/such/chromium", "must be the path or command name of a Chromium"),
    ("CRM_PULSE_DBT_TARGET", "prod", "must be an output of dbt_project/profiles.yml (duckdb, spark)"),
    ("CRM_PULSE_SPARK_SHUFFLE_PARTITIONS", "four", "must be a whole number from 1 to 100000"),
]


def _clean_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_PULSE_") and k != "DAGSTER_HOME"}
    landing = tmp_path / "landing"
    landing.mkdir(exist_ok=True)
    return {**env, "CRM_PULSE_LANDING_DIR": str(landing), "CRM_PULSE_WAREHOUSE_DIR": str(tmp_path / "warehouse"),
            **values}


def _names_value(variable: str, value: str, line: str) -> bool:
    """The line shows the bad value: the raw text, for a JSON object its var and value, for a URL
    its scheme and host (paths and queries may hold tokens, so they are never printed)."""
    if variable.startswith("CRM_PULSE_ALERT_") and variable.endswith("_URL"):
        parts = urllib.parse.urlsplit(value)
        secret_path = parts.path.strip("/")
        return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}" in line and not (secret_path and secret_path in line)
    try:
        parsed = json.loads(value) if variable == "CRM_PULSE_DBT_VARS" else None
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        (name, var_value), = parsed.items()
        return name in line and (json.dumps(var_value, ensure_ascii=False) in line or "unknown var" in line)
    return value in line


def _cli(env: dict[str, str], command: str = "run") -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run([str(CLI), command], env=env, capture_output=True, text=True, timeout=60)
    return done, time.monotonic() - started


@pytest.mark.parametrize(("variable", "value", "accepted"), BAD_VALUES,
                         ids=[f"{v}={x}" for v, x, _ in BAD_VALUES])
def test_bad_value_stops_run_before_any_work(tmp_path, variable, value, accepted):
    done, elapsed = _cli(_clean_env(tmp_path, **{variable: value}))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert elapsed < 5, f"took {elapsed:.1f}s"
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"crm-pulse: {variable}") and accepted in lines[0], lines[0]
    assert _names_value(variable, value, lines[0]), lines[0]
    assert done.stdout == "" and not (tmp_path / "warehouse").exists()  # nothing ran, nothing written


def test_missing_landing_folder_fails_fast(tmp_path):
    missing = tmp_path / "no such landing"
    done, elapsed = _cli(_clean_env(tmp_path, CRM_PULSE_LANDING_DIR=str(missing)))
    assert done.returncode == 2 and elapsed < 5
    assert done.stderr.strip().splitlines() == [
        f"crm-pulse: CRM_PULSE_LANDING_DIR must be an existing folder with the exports "
        f"(<source>/<YYYY-MM-DD>/<entity>.<ext>), got {str(missing)!r}: {missing} does not exist"]
    assert not (tmp_path / "warehouse").exists()
    # `report` and `status` read the warehouse only: a missing landing folder is no problem for them
    assert check_environment(_clean_env(tmp_path, CRM_PULSE_LANDING_DIR=str(missing)), "report") == []


def test_every_problem_is_reported_one_line_each(tmp_path):
    bad = {"CRM_PULSE_DBT_THREADS": "0", "CRM_PULSE_AS_OF": "2026-02-30", "CRM_PULSE_ENGINE": "oracle",
           "CRM_PULSE_DBT_VARS": '{"churn_days": "180; x", "nope": 1}', "CRM_PULSE_ALERT_WECOM_URL": "file:///x"}
    done, elapsed = _cli(_clean_env(tmp_path, **bad), "status")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and elapsed < 5
    named = [next(v for v in ("DBT_THREADS", "AS_OF", "ENGINE", "churn_days", "nope", "WECOM_URL") if v in line)
             for line in lines]
    assert sorted(named) == sorted(["DBT_THREADS", "AS_OF", "ENGINE", "churn_days", "nope", "WECOM_URL"])


def test_alert_url_secrets_are_not_printed(tmp_path):
    done, _ = _cli(_clean_env(tmp_path, CRM_PULSE_ALERT_WEBHOOK_URL="ftp://user:pw@host/hook?key=SECRET"))
    assert done.returncode == 2 and "SECRET" not in done.stderr and "pw" not in done.stderr
    assert "CRM_PULSE_ALERT_WEBHOOK_URL" in done.stderr


def test_good_values_are_accepted(tmp_path):
    good = {"CRM_PULSE_DBT_THREADS": "4", "CRM_PULSE_INGEST_BATCH_ROWS": "50000", "CRM_PULSE_AS_OF": "2024-02-29",
            "CRM_PULSE_DUCKDB_MEMORY_LIMIT": "512MiB", "CRM_PULSE_MAX_PROCESSES": "2", "CRM_PULSE_LANG": "ZH",
            "CRM_PULSE_ENGINE": "duckdb", "CRM_PULSE_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
            "CRM_PULSE_SCHEDULE_CRON": "30 5 * * 1-5", "CRM_PULSE_REPORT_PDF": "off",
            "CRM_PULSE_DBT_VARS": json.dumps({"churn_days": 120, "at_risk_days": 60, "warning_followup_drop": 0.25,
                                              "clv_margin": 1, "unknown_label": "o'brien 待补充",
                                              "tenure_band_years": [1, 5], "clv_time_unit": "day"})}
    env = _clean_env(tmp_path, **good)
    assert check_environment(env, "run") == []
    settings = Settings.from_env(env)
    assert (settings.dbt_threads, settings.ingest_batch_rows, settings.lang) == (4, 50000, "zh")
    assert settings.dbt_vars["unknown_label"] == "o'brien 待补充" and settings.dbt_vars["churn_days"] == 120


@pytest.mark.parametrize("limit", ["2GB", "2 GB", "100MB", "512MiB", "1.5GB", "1TB"])
def test_accepted_memory_limits_are_ones_duckdb_takes(tmp_path, limit):
    assert check_environment(_clean_env(tmp_path, CRM_PULSE_DUCKDB_MEMORY_LIMIT=limit)) == []
    con = duckdb.connect(config={"memory_limit": limit})
    try:
        assert con.execute("select current_setting('memory_limit')").fetchone()[0]
    finally:
        con.close()


def test_vars_schema_covers_every_var_and_its_default():
    project = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))
    declared = project["vars"]
    assert set(dbt_vars.schema()) == set(declared)
    for name, default in declared.items():
        assert dbt_vars.check_value(default, dbt_vars.schema()[name], declared) is None, name


def test_injection_through_a_var_is_refused():
    with pytest.raises(SettingsError) as err:
        dbt_vars.parse_dbt_vars('{"churn_days": "180) or (select 1", "order_outlier_factor": "20; drop table x"}')
    assert [p.split(" must")[0] for p in err.value.problems] == [
        "CRM_PULSE_DBT_VARS: churn_days", "CRM_PULSE_DBT_VARS: order_outlier_factor"]


def _count(run, sql: str, *params) -> int:
    con = duckdb.connect(str(run.serving_db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchone()[0]
    finally:
        con.close()


def test_pipeline_with_apostrophes_in_paths_and_vars(demo_run, tmp_path):
    """Landing and warehouse paths with an apostrophe, a space and Chinese; a text var with an
    injection attempt: the run succeeds, the label is published verbatim, the numbers are the
    demo run's."""
    root = tmp_path / "o'brien 数据"
    landing = root / "land'ing 导出"
    shutil.copytree(demo_run.landing, landing)
    run = run_pipeline(landing, root / "ware'house 仓库", CRM_PULSE_DBT_VARS=json.dumps({"unknown_label": INJECTION}))
    assert run.exit_code == 0, run.output[-3000:]
    for mart in ("kpi_monthly", "customer_rfm"):  # no label columns: must equal the demo run's
        ours, theirs = (r.query(f"select * from {mart}").drop(columns=["load_id", "refreshed_at"]) for r in (run, demo_run))
        key = list(ours.columns)[:2]
        assert ours.sort_values(key).reset_index(drop=True).equals(theirs.sort_values(key).reset_index(drop=True)), mart
    missing = "select count(*) from dim_customers where industry = ?"
    assert _count(run, missing, INJECTION) == _count(demo_run, missing, "待补充") > 0  # the label, verbatim
    assert _count(run, "select count(*) from fct_orders where sales_rep like '%xINJECTED%'") == 0


def test_hash_key_file_inside_the_warehouse_is_refused(tmp_path):
    """The key of the contact hashes must not sit where the published data is read (README "Privacy")."""
    key = tmp_path / "warehouse" / "keys" / "hash.key"
    done, elapsed = _cli(_clean_env(tmp_path, CRM_PULSE_HASH_KEY_FILE=str(key)))
    assert done.returncode == 2, done.stderr
    [line] = [l for l in done.stderr.splitlines() if l.strip()]
    assert "CRM_PULSE_HASH_KEY_FILE must lie outside the warehouse" in line and str(key) in line, line
    assert not key.exists() and not (tmp_path / "warehouse").exists()  # nothing written
