"""One refresh per warehouse, and recovery from a crashed run: real `crm-pulse` processes, a real
Dagster instance, real kill -9, a real local HTTP server for the alert.

- Two `crm-pulse run` started at the same instant on a fresh warehouse (and a `status` beside them):
  one refreshes, the other exits at once (exit code 3) naming the running refresh; a third started
  while the first runs does the same. Afterwards the raw load log and the published marts carry
  only the first run's load id, the instance knows only that run, and `status` works.
- A run killed with SIGKILL mid-way stays STARTED in the instance (the bug: every tick skipped);
  the next schedule tick marks it failed, alerts once and requests a run; `status` says it died;
  the next `crm-pulse run` takes the stale lock over, removes the temporaries and succeeds.
- A lock file left by a killed process is taken over; processes creating one fresh Dagster
  instance at once do not corrupt its schema.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest
from dagster import DagsterInstance, DagsterRunStatus, build_schedule_context, build_sensor_context

from crm_pulse.warehouse.lock import EXIT_BUSY, LOCK_NAME, RefreshInProgress, acquire
from tests.harness import environment
from tests.local_servers import running_recorder

pytestmark = pytest.mark.slow
CLI = str(Path(sys.executable).with_name("crm-pulse"))
ROOT = Path(__file__).resolve().parents[1]


def cli_env(landing: Path, warehouse: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith("CRM_PULSE_ALERT")}
    env.update(CRM_PULSE_LANDING_DIR=str(landing), CRM_PULSE_WAREHOUSE_DIR=str(warehouse),
               CRM_PULSE_REPORT_PDF="off", CRM_PULSE_MAX_PROCESSES="1", PYTHONUNBUFFERED="1", **extra)
    return env


class Proc:
    """A `crm-pulse` process whose output goes to files (a pipe left unread would block it)."""

    def __init__(self, args: list[str], env: dict, folder: Path, name: str):
        self.out_path, self.err_path = folder / f"{name}.out", folder / f"{name}.err"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.popen = subprocess.Popen([CLI, *args], env=env, cwd=ROOT, stdout=out, stderr=err, text=True)
        self.pid = self.popen.pid

    def poll(self):
        return self.popen.poll()

    def finish(self, timeout: float) -> tuple[int, str, str]:
        code = self.popen.wait(timeout=timeout)
        return code, self.out_path.read_text(), self.err_path.read_text()


def lock_record(warehouse: Path) -> dict:
    path = warehouse / LOCK_NAME
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def runs_of(home: Path) -> list:
    with environment(DAGSTER_HOME=str(home)), DagsterInstance.get() as instance:
        return [r.dagster_run for r in instance.get_run_records()]


# --- two refreshes at once -------------------------------------------------------------------
@pytest.fixture(scope="module")
def first_runs(demo_landing, tmp_path_factory):
    """Two first runs and a status at the same instant on a fresh warehouse; a third run later."""
    folder = tmp_path_factory.mktemp("locked")
    warehouse = folder / "warehouse"
    env = cli_env(demo_landing, warehouse)
    procs = [Proc(["run"], env, folder, "run-a"), Proc(["run"], env, folder, "run-b"),
             Proc(["status"], env, folder, "status")]
    started = time.monotonic()
    done = wait_for(lambda: [i for i in (0, 1) if procs[i].poll() is not None], 30, "one run to give up")
    loser_seconds = time.monotonic() - started
    winner, loser = procs[1 - done[0]], procs[done[0]]
    assert winner.poll() is None, "the refresh that holds the lock must still be running"
    # a third run while the first one runs (its run id is in the lock by now)
    record = wait_for(lambda: lock_record(warehouse).get("run_id") and lock_record(warehouse), 60, "the run id")
    third = subprocess.run([CLI, "run"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert winner.poll() is None
    return {"warehouse": warehouse, "env": env, "winner_pid": winner.pid, "record": record,
            "loser": (*loser.finish(10), loser_seconds), "third": third, "first_status": procs[2].finish(120),
            "winner": winner.finish(600)}


def test_second_refresh_exits_at_once_and_changes_nothing(first_runs):
    warehouse, record = first_runs["warehouse"], first_runs["record"]
    code, out, err = first_runs["winner"]
    assert code == 0, out[-3000:] + err[-3000:]
    run_id, pid = record["run_id"], first_runs["winner_pid"]
    assert record["pid"] == pid
    assert f"(run {run_id})" in out

    code, out, err, seconds = first_runs["loser"]
    assert code == EXIT_BUSY and out == "", err
    assert seconds < 20
    assert f"(pid {pid}) is in progress" in err and "Traceback" not in err
    third = first_runs["third"]
    assert third.returncode == EXIT_BUSY and third.stdout == ""
    assert third.stderr.strip() == (f"crm-pulse: refresh {run_id} (pid {pid}) is in progress "
                                    f"(lock {warehouse.resolve() / LOCK_NAME}); nothing was changed")

    # the raw layer and the published marts carry the first run's load id only
    load_id = run_id[:8]
    logs = sorted((warehouse / "raw" / "_loads").glob("*.parquet"))
    assert len(logs) == 10
    for log in logs:
        assert set(pl.read_parquet(log)["load_id"].to_list()) == {load_id}, log.name
    con = duckdb.connect(str(warehouse / "serving.duckdb"), read_only=True)
    try:
        tables = [t for (t,) in con.execute(
            "select distinct table_name from information_schema.columns where column_name = 'load_id'").fetchall()]
        assert {"source_loads", "fct_orders", "dim_customers"} <= set(tables)
        for table in tables:
            ids = {v for (v,) in con.execute(f'select distinct load_id from "{table}"').fetchall()} - {None}
            assert ids == {load_id}, table
    finally:
        con.close()
    # nor did the losers create a run: the instance knows the first run only
    assert [r.run_id for r in runs_of(warehouse / "dagster_home")] == [run_id]
    assert lock_record(warehouse)["released_at"] is not None


def test_status_works_after_concurrent_first_runs(first_runs):
    code, out, err = first_runs["first_status"]  # ran beside the two first runs on the fresh instance
    assert code in (0, 1) and "Traceback" not in err and "last run:" in out, err
    status = subprocess.run([CLI, "status"], env=first_runs["env"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert "Traceback" not in status.stderr and "more than one head" not in status.stderr, status.stderr
    assert f"last run:   {first_runs['record']['run_id']}  SUCCESS" in status.stdout


def test_fresh_instance_created_by_several_processes_at_once(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    at = time.time() + 5
    code = ("import time, sys\nfrom orchestration.instance_storage import open_instance\n"
            f"while time.time() < {at}: pass\nprint(len(open_instance().get_run_records()))")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "0", err[-2000:]
    assert runs_of(home) == []


# --- a crashed run -------------------------------------------------------------------------------
def test_killed_run_is_marked_failed_alerted_and_the_schedule_resumes(first_runs, demo_landing, tmp_path):
    warehouse = tmp_path / "warehouse"
    shutil.copytree(first_runs["warehouse"], warehouse)
    env = cli_env(demo_landing, warehouse)
    proc = subprocess.Popen([CLI, "run", "--full-refresh"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    for line in proc.stdout:  # kill the whole process group once the dbt step has started
        seen.append(line)
        if "dbt nodes around the CLV fit" in line:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "".join(seen[-20:])
    killed = lock_record(warehouse)
    assert killed["pid"] == proc.pid and killed["released_at"] is None
    # temporaries as a failed run leaves them (names the pipeline uses), and a file that is no temporary
    planted = [warehouse / p for p in (".serving-deadbeef.duckdb.wal", "raw/_tmp/orders-deadbeef/data/a.parquet",
                                       "marts/.fct_orders-deadbeef.parquet", "raw/_loads/orders.tmp",
                                       "work.duckdb.tmp/duckdb_temp_storage-0.tmp")]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 4096)
    keep = warehouse / "raw" / "_loads" / "notes.txt"
    keep.write_text("not a temporary")

    home = warehouse / "dagster_home"
    with running_recorder() as server, environment(
            DAGSTER_HOME=str(home), CRM_PULSE_LANDING_DIR=str(demo_landing), CRM_PULSE_WAREHOUSE_DIR=str(warehouse),
            CRM_PULSE_ALERT_WEBHOOK_URL=server.url("/hook"), CRM_PULSE_ALERT_RETRIES="0"):
        from orchestration.definitions import defs
        from orchestration.jobs import refresh_in_progress
        from orchestration.schedules import daily_refresh
        from orchestration.sensors import new_exports

        with DagsterInstance.get() as instance:
            run = instance.get_run_by_id(killed["run_id"])
            assert run.status == DagsterRunStatus.STARTED  # what blocked every tick before
            assert refresh_in_progress(instance) == killed["run_id"]
            scheduled = dt.datetime(2026, 1, 2, 6, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
            tick = daily_refresh.evaluate_tick(build_schedule_context(instance=instance,
                                                                      scheduled_execution_time=scheduled))
            assert len(tick.run_requests) == 1 and tick.run_requests[0].tags["crm_pulse/trigger"] == "schedule"
            run = instance.get_run_by_id(killed["run_id"])
            assert run.status == DagsterRunStatus.FAILURE
            assert run.tags["crm_pulse/alerts"] == "in_process"  # run_failure_alerts does not repeat it
            assert [r.body["run_id"] for r in server.received] == [killed["run_id"]]
            alert = server.received[0].body
            assert alert["kind"] == "run_failed" and "died at" in alert["title"]
            assert any(f"pid {proc.pid}" in s for s in alert["samples"])
            # the sensor's next tick neither alerts again nor waits for the dead run
            sensor = new_exports.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
            assert "waiting for refresh run" not in str(sensor.skip_message or "")
            assert len(server.received) == 1
            assert refresh_in_progress(instance) is None

    status = subprocess.run([CLI, "status"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert f"last run:   {killed['run_id']}  FAILURE" in status.stdout, status.stdout + status.stderr
    assert f"run {killed['run_id']} died at " in status.stdout and "marked failed" in status.stdout

    rerun = subprocess.run([CLI, "run"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert (f"took over the warehouse lock of refresh {killed['run_id']} (pid {proc.pid}), whose process is gone"
            in rerun.stdout)
    removed = re.search(r"removed (\d+) temporary file\(s\) left by an earlier run", rerun.stdout)
    assert removed and int(removed.group(1)) >= len(planted), rerun.stdout[:3000]
    assert not any(p.exists() for p in planted) and not (warehouse / "work.duckdb.tmp").exists()
    assert keep.read_text() == "not a temporary" and (warehouse / "raw" / "_tmp").is_dir()
    assert lock_record(warehouse)["released_at"] is not None


def test_stale_lock_of_a_killed_process_is_taken_over(tmp_path):
    warehouse = tmp_path / "warehouse"
    code = (f"import time\nfrom crm_pulse.warehouse.lock import acquire\n"
            f"acquire({str(warehouse)!r}, run_id='run-killed')\nprint('held', flush=True)\ntime.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RefreshInProgress, match=rf"^refresh run-killed \(pid {holder.pid}\) is in progress"):
        acquire(warehouse, wait=0.2)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert json.loads((warehouse / LOCK_NAME).read_text())["released_at"] is None  # the killed holder's trace

    with acquire(warehouse, run_id="next") as lock:
        assert lock.taken_over and (lock.previous.pid, lock.previous.run_id) == (holder.pid, "run-killed")
        assert lock_record(warehouse)["pid"] == os.getpid() and lock_record(warehouse)["run_id"] == "next"
        again = acquire(warehouse)  # re-entrant in this process
        assert again is lock and lock.depth == 2
        again.release()
        assert lock_record(warehouse)["released_at"] is None
    assert lock_record(warehouse)["released_at"] is not None
    with acquire(warehouse) as lock:  # a cleanly released lock is no takeover
        assert not lock.taken_over
