"""Operations, the fast parts: schedule configuration, the new-exports sensor on a real Dagster
instance and real ingest, the freshness rule and its clock, skipping files already loaded."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dagster import DagsterInstance, build_schedule_context, build_sensor_context

from crm_pulse.config.operations import OpsSettings
from crm_pulse.config.settings import Settings
from crm_pulse.freshness import Clock, evaluate, evaluate_all, resolve_clock
from data_contracts.ingest import ingest_entity
from data_contracts.landing import discover
from data_contracts.layout import RawLayout
from orchestration.keys import CLOCK_TAG
from tests.harness import environment

SHANGHAI = ZoneInfo("Asia/Shanghai")
ORDERS = "order_id,customer_id,order_date,status,amount\n{rows}"


def write(landing: Path, relative: str, text: str) -> Path:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    old = dt.datetime.now().timestamp() - 120  # landed two minutes ago (not still being written)
    os.utime(path, (old, old))
    return path


def order_rows(*ids: str, amount: str = "100.00") -> str:
    return "".join(f"{i},C000001,2025-01-0{n % 9 + 1} 10:00:00,completed,{amount}\n" for n, i in enumerate(ids))


# --- schedule ----------------------------------------------------------------------------------
def test_schedule_defaults_and_env_override(tmp_path):
    import orchestration.schedules as schedules

    try:
        with environment(CRM_PULSE_SCHEDULE_CRON="", CRM_PULSE_SCHEDULE_TIMEZONE=""):
            module = importlib.reload(schedules)
            assert module.daily_refresh.cron_schedule == "0 6 * * *"
            assert module.daily_refresh.execution_timezone == "Asia/Shanghai"
        with environment(CRM_PULSE_SCHEDULE_CRON="30 7 * * 1-5", CRM_PULSE_SCHEDULE_TIMEZONE="Europe/Berlin",
                         CRM_PULSE_AUTOMATION="off"):
            module = importlib.reload(schedules)
            assert module.daily_refresh.cron_schedule == "30 7 * * 1-5"
            assert module.daily_refresh.execution_timezone == "Europe/Berlin"
            assert module.daily_refresh.default_status.value == "STOPPED"
            scheduled = dt.datetime(2026, 3, 2, 7, 30, tzinfo=ZoneInfo("Europe/Berlin"))
            with DagsterInstance.local_temp(str(tmp_path)) as instance:
                tick = module.daily_refresh.evaluate_tick(
                    build_schedule_context(instance=instance, scheduled_execution_time=scheduled))
            assert tick.run_requests[0].tags[CLOCK_TAG] == scheduled.isoformat()
            assert tick.run_requests[0].job_name in (None, "refresh")
    finally:
        importlib.reload(schedules)


@pytest.mark.parametrize("name, value, message", [
    ("CRM_PULSE_SCHEDULE_CRON", "every day", "5-field cron"),
    ("CRM_PULSE_SCHEDULE_TIMEZONE", "Mars/Olympus", "IANA time zone"),
    ("CRM_PULSE_FRESHNESS_GRACE_HOURS_ERP", "soon", "number of hours"),
    ("CRM_PULSE_FRESHNESS_EXPECTED_AT", "25:00", "time of day"),
    ("CRM_PULSE_FRESHNESS_CLOCK", "sundial", "CRM_PULSE_FRESHNESS_CLOCK"),
])
def test_bad_operations_settings_name_the_variable(name, value, message):
    with pytest.raises(ValueError, match=name) as err:
        OpsSettings.from_env({name: value})
    assert message in str(err.value)


# --- freshness ---------------------------------------------------------------------------------
@pytest.fixture
def landing(tmp_path) -> Path:
    root = tmp_path / "landing"
    write(root, "crm/2026-03-01/customers.csv", "customer_id\nC1\n")
    write(root, "crm/2026-03-02/customers.csv", "customer_id\nC1\n")
    write(root, "erp/2026-02-27/orders.csv", ORDERS.format(rows=order_rows("O1")))
    (root / "erp" / "2026-03-02").mkdir(parents=True)  # an empty folder is no export
    write(root, "erp/2026-03-02/notes.txt", "not an export")
    return root


def test_freshness_rule_against_the_scheduled_time(landing):
    ops = OpsSettings.from_env({"CRM_PULSE_FRESHNESS_GRACE_HOURS_ERP": "96"})
    settings = Settings.from_env({"CRM_PULSE_LANDING_DIR": str(landing)})
    # 05:59 on 2026-03-02: today's export is not overdue yet (05:00 + 1 h grace), yesterday's is
    early = dt.datetime(2026, 3, 2, 5, 59, tzinfo=SHANGHAI)
    by_source = {r.source: r for r in evaluate_all(settings, ops, early.isoformat())}
    assert by_source["crm"].fresh and by_source["crm"].due_date == dt.date(2026, 3, 1)
    # 06:00: due 2026-03-02, crm has it; ticketing never delivered anything
    at_six = dt.datetime(2026, 3, 2, 6, 0, tzinfo=SHANGHAI)
    by_source = {r.source: r for r in evaluate_all(settings, ops, at_six.isoformat())}
    assert by_source["crm"].fresh and by_source["crm"].due_date == dt.date(2026, 3, 2)
    assert not by_source["ticketing"].fresh and by_source["ticketing"].newest_export is None
    # erp: newest real export 2026-02-27 (the 03-02 folder holds no export); 96 h grace -> due 02-26
    assert by_source["erp"].newest_export == dt.date(2026, 2, 27)
    assert by_source["erp"].fresh and by_source["erp"].due_date == dt.date(2026, 2, 26)
    # without the long grace erp misses 3 exports, the first (02-28) was due 2026-02-28 06:00
    strict = evaluate("erp", landing, OpsSettings.from_env({}), Clock(at_six, "schedule"))
    assert not strict.fresh and strict.missing_days == 3 and strict.hours_overdue == pytest.approx(48.0)
    assert strict.metadata()["failing_count"] == 3
    assert "STALE, newest export 2026-02-27" in strict.describe()


def test_freshness_clock_modes(landing):
    settings = Settings.from_env({"CRM_PULSE_LANDING_DIR": str(landing)})
    scheduled = "2026-03-05T06:00:00+08:00"  # a scheduled run's CLOCK_TAG
    auto = OpsSettings.from_env({})
    # auto: scheduled runs use their time, other runs the end of the analysis date (newest export 03-02)
    assert resolve_clock(auto, settings, scheduled).basis == "schedule"
    unscheduled = resolve_clock(auto, settings)
    assert unscheduled.basis == "as_of" and unscheduled.at == dt.datetime(2026, 3, 2, 23, 59, 59, tzinfo=SHANGHAI)
    pinned = Settings.from_env({"CRM_PULSE_LANDING_DIR": str(landing), "CRM_PULSE_AS_OF": "2026-02-27"})
    assert resolve_clock(auto, pinned).at.date() == dt.date(2026, 2, 27)
    # as_of ignores the schedule; now uses the wall clock
    as_of = OpsSettings.from_env({"CRM_PULSE_FRESHNESS_CLOCK": "as_of"})
    assert resolve_clock(as_of, settings, scheduled).basis == "as_of"
    now = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.timezone.utc)
    wall = resolve_clock(OpsSettings.from_env({"CRM_PULSE_FRESHNESS_CLOCK": "now"}), settings, scheduled, now=now)
    assert wall.basis == "now" and wall.at == now


# --- new-exports sensor ------------------------------------------------------------------------
def test_new_exports_sensor_requests_a_run_only_for_files_not_loaded(tmp_path):
    from orchestration.sensors import new_exports

    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    write(landing, "erp/2026-01-01/orders.csv", ORDERS.format(rows=order_rows("O1", "O2")))
    env = {"CRM_PULSE_LANDING_DIR": str(landing), "CRM_PULSE_WAREHOUSE_DIR": str(warehouse)}
    settings = Settings.from_env(env)
    with environment(**env), DagsterInstance.ephemeral() as instance:
        def tick(cursor):
            return new_exports.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))

        # already loaded before the sensor ever ran: nothing to do
        ingest_entity("orders", discover(landing, "erp", "orders"), settings.raw_dir, "load1", dt.datetime(2026, 1, 1, 1))
        first = tick(None)
        assert not first.run_requests and json.loads(first.cursor).keys() == {"erp/2026-01-01/orders.csv"}

        # a new export lands: one run request, naming the trigger; the next tick does not repeat it
        write(landing, "erp/2026-01-02/orders.csv", ORDERS.format(rows=order_rows("O3")))
        second = tick(first.cursor)
        assert len(second.run_requests) == 1
        assert second.run_requests[0].tags["crm_pulse/trigger"] == "new_exports"
        assert second.run_requests[0].tags["crm_pulse/new_files"] == "1"
        assert not tick(second.cursor).run_requests

        # a corrected re-export (same path, new content) is new again; touching a file is not
        write(landing, "erp/2026-01-02/orders.csv", ORDERS.format(rows=order_rows("O3", amount="200.00")))
        third = tick(second.cursor)
        assert len(third.run_requests) == 1 and third.run_requests[0].run_key != second.run_requests[0].run_key
        os.utime(landing / "erp/2026-01-01/orders.csv")  # same bytes, new mtime
        old = dt.datetime.now().timestamp() - 120
        os.utime(landing / "erp/2026-01-01/orders.csv", (old, old))
        assert not tick(third.cursor).run_requests

        # a file still being written (modified just now) waits for a later tick
        (landing / "crm" / "2026-01-02").mkdir(parents=True)
        (landing / "crm/2026-01-02/customers.csv").write_text("customer_id\nC1\n", encoding="utf-8")
        settling = tick(third.cursor)
        assert not settling.run_requests and "still being written" in settling.skip_message


# --- loads -------------------------------------------------------------------------------------
def test_file_already_loaded_is_never_loaded_again_even_when_every_row_was_quarantined(tmp_path):
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    write(landing, "erp/2026-01-01/orders.csv", ORDERS.format(rows=order_rows("O1", "O2")))
    write(landing, "erp/2026-01-02/orders.csv", ORDERS.format(rows="O9,C000001,not a date,completed,-5\n"))
    files = discover(landing, "erp", "orders")
    first = ingest_entity("orders", files, raw, "load1", dt.datetime(2026, 1, 2, 1))
    assert [f.rows_quarantined for f in first.loaded] == [0, 1] and first.loaded[1].rows_loaded == 0
    second = ingest_entity("orders", files, raw, "load2", dt.datetime(2026, 1, 3, 1))
    assert second.loaded == [] and sorted(second.skipped) == [f.relative for f in files]
    log = RawLayout(raw).read_load_log("orders")
    assert log.height == 2 and set(log["load_id"]) == {"load1"}
    shutil.rmtree(landing / "erp" / "2026-01-02")  # a file gone from the landing folder changes nothing
    third = ingest_entity("orders", discover(landing, "erp", "orders"), raw, "load3", dt.datetime(2026, 1, 4, 1))
    assert third.loaded == [] and RawLayout(raw).read_load_log("orders").height == 2


def test_step_processes_auto_follows_the_size_of_the_exports(tmp_path):
    import os

    import pytest

    from orchestration.runner import AUTO_PARALLEL_BYTES, step_processes

    (tmp_path / "crm" / "2025-01-01").mkdir(parents=True)
    small = tmp_path / "crm" / "2025-01-01" / "customers.csv"
    small.write_bytes(b"x" * 1000)
    assert step_processes("", tmp_path) == 1
    assert step_processes("auto", tmp_path) == 1
    big = tmp_path / "crm" / "2025-01-01" / "activities.csv"
    with big.open("wb") as fh:  # sparse: counts by size without writing a GiB
        fh.truncate(AUTO_PARALLEL_BYTES + 1)
    assert step_processes("auto", tmp_path) == min(os.cpu_count() or 1, 4)
    assert step_processes("3", tmp_path) == 3
    assert step_processes("auto", tmp_path / "missing") == 1
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match="CRM_PULSE_MAX_PROCESSES must be 'auto' or a whole number"):
            step_processes(bad, tmp_path)
