"""Robustness audit (issues 14 and 22): behaviour that was implemented but had no test asserting it.

- `crm-pulse status` lists the ignored stray files (with the reason), names an invalid date folder
  of a source as a problem, and says which analysis date it uses and why; a `.DS_Store` in an
  otherwise empty date folder, `archive/2099-12-31/notes.txt` and `archive/2026-99-99/` move nothing
  (issue 14 "stray files", issue 22 "analysis date" and "date-like folder").
- Alerts mask contact details typed into export values in every channel body (issue 14 "PII ...
  alerts").
- Runs started by the schedule, the sensor or the UI take the same warehouse lock as `crm-pulse run`
  (issue 14 "one refresh per warehouse, CLI and Dagster alike").
- One real refresh: stray files and a `.DS_Store`-only date folder do not move the analysis date;
  the run summary prints the date and its reason and lists the ignored files (issue 22 row 2).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from dagster import DagsterInstance

from tests import oracle
from tests.harness import environment, run_pipeline
from tests.local_servers import running_recorder
from tests.test_landing import put

ROOT = Path(__file__).resolve().parents[1]
COPY = "the name is not exactly '{e}' (or '{e}_part<N>'): a copy or backup? rename it to {e}.csv to load it"


# --- crm-pulse status: ignored entries, problems, analysis date ------------------------------------
def test_status_lists_ignored_files_problems_and_the_analysis_date(tmp_path):
    from orchestration.status import collect, render

    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    put(landing, "crm/2026-01-01/customers.csv")
    put(landing, "crm/2026-01-01/opportunities-backup.csv")
    put(landing, "crm/2026-01-01/campaigns 副本.csv")
    put(landing, "crm/2026-01-01/~$customers.xlsx", "lock")
    put(landing, "crm/2026-03-01/.DS_Store", "\x00Bud1")  # otherwise empty: must not move the date
    put(landing, "crm/2026-13-45/customers.csv")  # a source's date-like folder holding an export
    put(landing, "archive/2099-12-31/notes.txt", "x")
    put(landing, "archive/2026-99-99/orders.csv", "x")
    from crm_pulse.config.settings import Settings

    with environment(CRM_PULSE_LANDING_DIR=str(landing), CRM_PULSE_WAREHOUSE_DIR=str(warehouse)):
        settings = Settings.from_env()
        (tmp_path / "dagster_home").mkdir()
        instance = DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
        try:
            status = collect(settings, instance)
            text = render(status)
        finally:
            instance.dispose()
    reason = "newest export date in the landing folder: crm/2026-01-01/customers.csv"
    assert status.landing["analysis_date"] == "2026-01-01" and status.landing["analysis_date_reason"] == reason
    assert status.landing["ignored"] == [
        {"path": "archive/", "reason": "a folder that is not a source of the contracts (crm, erp, ticketing)"},
        {"path": "crm/2026-01-01/campaigns 副本.csv", "reason": COPY.format(e="campaigns")},
        {"path": "crm/2026-01-01/opportunities-backup.csv", "reason": COPY.format(e="opportunities")},
    ]
    problem = ("crm/2026-13-45: the folder name is not a valid export date (month must be in 1..12); "
               "rename it to the export date as YYYY-MM-DD")
    assert [p["message"] for p in status.landing["problems"]] == [problem]
    assert f"landing:    analysis date 2026-01-01 ({reason}); 3 entries ignored, 1 problem(s)" in text
    assert f"  ignored crm/2026-01-01/opportunities-backup.csv: {COPY.format(e='opportunities')}" in text
    assert f"  PROBLEM {problem}" in text
    assert "~$customers.xlsx" not in text and ".DS_Store" not in text  # skipped silently


# --- alerts: contact details in export values are masked ---------------------------------------------
def test_alert_bodies_mask_contact_details_from_export_values():
    from crm_pulse.alerting import Alert, DingTalkRobot, GenericWebhook, deliver

    raw = ["13700137000", "wx.li@qq.com", "138.0013.8001", "１３９００１３９０００", "+86 135-8813-8999"]
    alert = Alert(kind="check_failed", title=f"Check failed: lost reason 客户换了联系人 {raw[0]} {raw[1]}",
                  asset="stg_customers", check="x", failing_count=3, run_id="r1",
                  samples=[f"customer C1: {raw[2]}", f"customer C2: {raw[3]}", f"customer C3: {raw[4]}"])
    assert alert.title == "Check failed: lost reason 客户换了联系人 137****7000 w***@qq.com"
    assert alert.samples == ["customer C1: 138****8001", "customer C2: 139****9000", "customer C3: 135****8999"]
    with running_recorder() as server:
        server.reply = {"errcode": 0}
        results = deliver(alert, [GenericWebhook(server.url("/hook")), DingTalkRobot(server.url("/ding?access_token=t"))],
                          backoff_seconds=0.001)
        assert all(r.ok for r in results)
        bodies = [str(r.body) for r in server.received]
    assert len(bodies) == 2
    digits = re.compile(r"\D")
    for body in bodies:
        squeezed = digits.sub("", oracle._fold(body))
        for phone in ("13700137000", "13800138001", "13900139000", "13588138999"):
            assert phone not in squeezed, (phone, body)
        assert "wx.li" not in body


# --- runs started by Dagster (schedule, sensor, UI) take the warehouse lock ---------------------------
def test_dagster_runs_take_the_warehouse_lock(tmp_path):
    from orchestration.definitions import defs
    from orchestration.jobs import WarehouseLockedExecutor, locked_executor, refresh_job
    from orchestration.keys import REFRESH_JOB
    from crm_pulse.warehouse.lock import RefreshInProgress

    assert refresh_job.executor_def is locked_executor
    assert defs.resolve_job_def(REFRESH_JOB).executor_def.name == "warehouse_locked"
    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == "warehouse_locked"  # UI materialisations

    warehouse, landing = tmp_path / "warehouse", tmp_path / "landing"
    landing.mkdir()
    code = (f"import time\nfrom crm_pulse.warehouse.lock import acquire\n"
            f"acquire({str(warehouse)!r}, run_id='cli-run')\nprint('held', flush=True)\ntime.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"

        class Inner:  # the wrapped executor must never run while another refresh holds the lock
            ran = False

            def execute(self, plan_context, execution_plan):
                Inner.ran = True
                yield from ()

        with environment(CRM_PULSE_LANDING_DIR=str(landing), CRM_PULSE_WAREHOUSE_DIR=str(warehouse)):
            steps = WarehouseLockedExecutor(Inner()).execute(SimpleNamespace(run_id="ui-run"), None)
            with pytest.raises(RefreshInProgress, match=rf"^refresh cli-run \(pid {holder.pid}\) is in progress"):
                next(steps)
        assert not Inner.ran
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)


# --- one real refresh: stray files never move the analysis date (issue 22 row 2) ---------------------
def _latest_date(landing: Path) -> str:
    return max(d.name for d in landing.glob("*/*") if d.is_dir() and re.fullmatch(r"\d{4}-\d{2}-\d{2}", d.name))


@pytest.mark.slow
def test_stray_files_do_not_move_the_analysis_date_and_the_summary_says_why(demo_landing, tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(demo_landing, landing)
    date = _latest_date(landing)
    put(landing, "crm/2026-03-01/.DS_Store", "\x00Bud1")  # after every real export, otherwise empty
    put(landing, "archive/2099-12-31/notes.txt", "x")
    put(landing, f"erp/{date}/orders-backup.csv", "order_id,customer_id\nX1,C1\n")
    (landing / "ticketing" / "2026-02-30").mkdir(parents=True)  # not a date, holds nothing
    run = run_pipeline(landing, tmp_path / "warehouse")
    assert run.exit_code == 0, run.output[-3000:]
    match = re.search(r"analysis date (\d{4}-\d{2}-\d{2}): newest export date in the landing folder: "
                      rf"(\w+/{date}/\S+)\)", run.output)
    assert match and match.group(1) == date, run.output[:2000]
    assert "ignored 3 entries of the landing folder (not loaded):" in run.output
    for path in ("archive/", f"erp/{date}/orders-backup.csv", "ticketing/2026-02-30/"):
        assert f"    {path}: " in run.output, path
    assert ".DS_Store" not in run.output

    # the marts are computed at that date: recency of every RFM customer, from the input files
    as_of = dt.date.fromisoformat(date)
    orders = oracle.latest(oracle.clean_rows(landing, "erp", "orders"), ["order_id"])
    last: dict[str, dt.date] = {}
    for row in orders.itertuples():
        day = row.order_date.date()
        if row.status == "completed" and day <= as_of:
            last[row.customer_id] = max(last.get(row.customer_id, day), day)
    rfm = run.query("select customer_id, recency_days from customer_rfm")
    assert len(rfm) > 0
    assert {r.customer_id: int(r.recency_days) for r in rfm.itertuples()} == {
        c: (as_of - last[c]).days for c in rfm.customer_id}


# --- the blank-marker list is configurable: an added spelling reads as empty at ingest ----------------
def test_a_marker_added_to_values_yml_reads_as_empty_at_ingest(tmp_path, monkeypatch):
    from data_contracts import contract as contract_module
    from data_contracts.contract import VALUES_FILE, blank_markers, contracts
    from tests.test_contracts_ingest import ingest, loaded, put, quarantine

    rows = ("order_id,customer_id,order_date,status,amount,currency,sales_rep\n"
            "O1,C1,2025-02-01,completed,10,CNY,不详\n"
            "O2,C1,2025-02-01,completed,不详,CNY,张三\n")
    put(tmp_path / "landing", "orders", rows)
    values = tmp_path / "values.yml"
    values.write_text(VALUES_FILE.read_text(encoding="utf-8") + "  - 不详\n", encoding="utf-8")
    monkeypatch.setattr(contract_module, "VALUES_FILE", values)
    blank_markers.cache_clear()
    contracts.cache_clear()
    try:
        assert "不详" in blank_markers()
        result = ingest(tmp_path, "orders")
        assert [(l.rows_read, l.rows_loaded, l.rows_quarantined) for l in result.loaded] == [(2, 1, 1)]
        assert quarantine(tmp_path, "orders").select("row_number", "column", "rule", "original_value").rows() == [
            (3, "amount", "required", "不详")]
        assert loaded(tmp_path, "orders").select("order_id", "sales_rep").rows() == [("O1", None)]
    finally:
        monkeypatch.undo()
        blank_markers.cache_clear()
        contracts.cache_clear()
    assert "不详" not in blank_markers()  # the shipped list: 不详 is a value there


# --- JSON nested 10,000 levels deep: a file problem in bounded time and memory -------------------------
@pytest.mark.parametrize("name, text", [
    ("tickets.json", "[" * 10_000 + "]" * 10_000),
    ("tickets.ndjson", '{"ticket_id": "T1", "x": ' + '{"a":' * 10_000 + "1" + "}" * 10_000 + "}\n"),
])
def test_deep_json_fails_in_bounded_time_and_memory(tmp_path, name, text):
    import json
    import textwrap

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    script = textwrap.dedent("""
        import json, sys, time
        from data_contracts.readers import FileProblem, iter_batches
        started = time.monotonic()
        try:
            list(iter_batches(sys.argv[1], display_name="ticketing/2026-01-01/" + sys.argv[2]))
            out = {"problem": None}
        except FileProblem as err:
            out = {"problem": err.problem, "message": str(err)}
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
        out.update(peak_mb=int(hwm.split()[1]) / 1024, seconds=time.monotonic() - started)
        print(json.dumps(out))
    """)
    done = subprocess.run([sys.executable, "-c", script, str(path), name], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]  # no crash of the process (no unexplained execution error)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["problem"] == "bad_json" and "nested too deeply" in out["message"], out
    assert out["message"].startswith(f"ticketing/2026-01-01/{name}: ")
    assert out["seconds"] < 10 and out["peak_mb"] < 400, out
