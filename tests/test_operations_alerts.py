"""Operations, alerts end to end: the real schedule, job and sensors on a real Dagster instance, with
every alert channel pointed at a real HTTP server and a real SMTP server (aiosmtpd) on 127.0.0.1.

- A scheduled run that stays green although non-blocking checks fail (orders of customers missing
  from the CRM) and the ticketing exports are late: the check sensor sends one message per failed
  check and one "source_stale" message, to every channel, and nothing twice.
- A run that fails (a broken export file): the run-failure sensor sends one "run_failed" message.
- ``crm-pulse run`` (in process, no sensors): the runner sends the same alerts itself, survives a
  channel that is down, and the sensors do not send them again.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dagster import DagsterEventType, DagsterInstance, build_schedule_context, build_sensor_context

from crm_pulse.alerting.message import Alert
from tests.harness import environment, run_pipeline
from tests.local_servers import Mailbox, Recorder, closed_port, running_recorder

pytestmark = pytest.mark.slow
CHANNEL_PATHS = {"webhook": "/hook", "wecom": "/wecom", "dingtalk": "/dingtalk", "feishu": "/feishu", "slack": "/slack"}
UNKNOWN_CUSTOMERS = ("C990001", "C990002")


# --- servers -----------------------------------------------------------------------------------
@pytest.fixture
def http_server():
    with running_recorder(reply={"errcode": 0, "errmsg": "ok", "code": 0, "msg": "ok"}) as server:  # WeCom/DingTalk, Feishu
        yield server


def channel_env(http: Recorder, smtp: Mailbox) -> dict[str, str]:
    return {
        "CRM_PULSE_ALERT_WEBHOOK_URL": http.url(CHANNEL_PATHS["webhook"]),
        "CRM_PULSE_ALERT_WECOM_URL": http.url(CHANNEL_PATHS["wecom"] + "?key=k"),
        "CRM_PULSE_ALERT_DINGTALK_URL": http.url(CHANNEL_PATHS["dingtalk"] + "?access_token=t"),
        "CRM_PULSE_ALERT_DINGTALK_SECRET": "SECtest",
        "CRM_PULSE_ALERT_FEISHU_URL": http.url(CHANNEL_PATHS["feishu"]),
        "CRM_PULSE_ALERT_SLACK_URL": http.url(CHANNEL_PATHS["slack"]),
        "CRM_PULSE_SMTP_HOST": "127.0.0.1",
        "CRM_PULSE_SMTP_PORT": str(smtp.port),
        "CRM_PULSE_ALERT_EMAIL_FROM": "crm-pulse@example.com",
        "CRM_PULSE_ALERT_EMAIL_TO": "oncall@example.com",
        "CRM_PULSE_ALERT_RETRIES": "1",
        "CRM_PULSE_DAGSTER_UI_URL": "http://dagster.example:3000",
    }


def webhook_alerts(http: Recorder) -> list[dict]:
    return [r.body for r in http.received if r.path == CHANNEL_PATHS["webhook"]]


def texts_by_channel(http: Recorder, smtp: Mailbox) -> dict[str, list[str]]:
    """The human-readable body each channel received, in order."""
    out = {name: [] for name in [*CHANNEL_PATHS, "email"]}
    for r in http.received:
        name = next(n for n, p in CHANNEL_PATHS.items() if r.path == p)
        body = r.body
        out[name].append(json.dumps(body, ensure_ascii=False) if name == "webhook"
                         else body["markdown"]["content"] if name == "wecom"
                         else body["markdown"]["text"] if name == "dingtalk"
                         else body["content"]["text"] if name == "feishu"
                         else body["text"])
    for _, _, msg in smtp.messages:
        out["email"].append(f"{msg['Subject']}\n{msg.get_content()}")
    return out


# --- landing / warehouse copies ------------------------------------------------------------------
def copy_run(demo_run, tmp_path: Path) -> tuple[Path, Path]:
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    shutil.copytree(demo_run.landing, landing)
    shutil.copytree(demo_run.warehouse, warehouse, ignore=shutil.ignore_patterns("dagster_home"))
    return landing, warehouse


def add_unknown_customer_orders(landing: Path) -> None:
    """A split ERP export with two orders of customers the CRM never exported (valid rows)."""
    path = landing / "erp" / "2026-01-01" / "orders_part2.csv"
    rows = [f"SO-LATE-{i},{cid},2025-12-30 10:00:00,completed,1234.50,CNY,王芳" for i, cid in enumerate(UNKNOWN_CUSTOMERS)]
    path.write_text("order_id,customer_id,order_date,status,amount,currency,sales_rep\n" + "\n".join(rows) + "\n",
                    encoding="utf-8")


def break_orders_export(landing: Path) -> str:
    """Replace the newest orders export by a file with the wrong columns (a file-level problem)."""
    path = landing / "erp" / "2026-01-01" / "orders.csv"
    path.write_text("foo,bar\n1,2\n", encoding="utf-8")
    return "erp/2026-01-01/orders.csv"


def instance_at(tmp_path: Path) -> DagsterInstance:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    return DagsterInstance.local_temp(str(home))


def failed_evaluations(instance: DagsterInstance, run_id: str) -> list:
    records = instance.get_records_for_run(run_id=run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return [e for e in evaluations if not e.passed]


# --- tests -------------------------------------------------------------------------------------
def test_scheduled_run_green_with_failed_checks_and_stale_source_alerts_once_per_channel(
        demo_run, tmp_path, http_server, smtp_server):
    from orchestration.definitions import defs
    from orchestration.schedules import daily_refresh
    from orchestration.sensors import check_failure_alerts

    landing, warehouse = copy_run(demo_run, tmp_path)
    add_unknown_customer_orders(landing)
    shutil.rmtree(landing / "ticketing" / "2026-01-01")  # the ticketing export of the day did not arrive
    env = {"CRM_PULSE_LANDING_DIR": str(landing), "CRM_PULSE_WAREHOUSE_DIR": str(warehouse),
           **channel_env(http_server, smtp_server)}
    with environment(**env), instance_at(tmp_path) as instance:
        # the alert sensor was already running: its first tick starts after the existing history
        first = check_failure_alerts.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
        assert not http_server.received

        # the schedule fires at 08:00 Shanghai time on 2026-01-01 (export due 05:00 + 1 h grace)
        scheduled = dt.datetime(2026, 1, 1, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        tick = daily_refresh.evaluate_tick(build_schedule_context(instance=instance, scheduled_execution_time=scheduled))
        assert len(tick.run_requests) == 1
        request = tick.run_requests[0]
        assert request.tags["crm_pulse/trigger"] == "schedule"
        result = defs.resolve_job_def("refresh").execute_in_process(
            instance=instance, tags=request.tags, raise_on_error=False)
        assert result.success, "non-blocking check failures must leave the run green"
        failed = failed_evaluations(instance, result.run_id)
        failed_keys = {(e.asset_key.to_user_string(), e.check_name) for e in failed}
        assert ("exports/ticketing", "export_freshness") in failed_keys
        assert ("exports/crm", "export_freshness") not in failed_keys
        assert any(check.startswith("relationships_fct_orders_customer_id") for _, check in failed_keys)
        assert not http_server.received, "the job itself sends nothing; the sensors do"

        second = check_failure_alerts.evaluate_tick(
            build_sensor_context(instance=instance, definitions=defs, cursor=first.cursor))
        assert result.run_id in second.skip_message
        third = check_failure_alerts.evaluate_tick(
            build_sensor_context(instance=instance, definitions=defs, cursor=second.cursor))

    alerts = webhook_alerts(http_server)
    assert len(alerts) == len(failed), "one message per failed check"
    assert {(a["asset"], a["check"]) for a in alerts} == failed_keys
    assert all(a["run_id"] == result.run_id for a in alerts)
    assert all(f"http://dagster.example:3000/runs/{result.run_id}" in a["details_hint"] for a in alerts)

    stale = [a for a in alerts if a["kind"] == "source_stale"]
    assert [a["asset"] for a in stale] == ["exports/ticketing"]
    assert stale[0]["severity"] == "warning" and stale[0]["failing_count"] == 31  # 2025-12-02 .. 2026-01-01
    assert any("newest export 2025-12-01" in s and "2026-01-01" in s for s in stale[0]["samples"])

    relationship = next(a for a in alerts if a["check"].startswith("relationships_fct_orders_customer_id"))
    assert relationship["kind"] == "check_failed" and relationship["severity"] == "warning"
    assert relationship["failing_count"] == len(UNKNOWN_CUSTOMERS)
    assert all(any(c in s for s in relationship["samples"]) for c in UNKNOWN_CUSTOMERS)  # the failing rows

    # every channel got every alert once, in its own format, with the facts an on-call person needs
    texts = texts_by_channel(http_server, smtp_server)
    for channel, bodies in texts.items():
        assert len(bodies) == len(failed), channel
        assert sum("exports/ticketing" in b for b in bodies) == 1, channel
        assert all(result.run_id in b for b in bodies), channel
        rel = next(b for b in bodies if "relationships_fct_orders_customer_id" in b)
        assert all(c in rel for c in UNKNOWN_CUSTOMERS), channel
        if channel != "webhook":  # the webhook gets the fields as JSON (checked above)
            assert f"Failing count: {len(UNKNOWN_CUSTOMERS)}" in rel.replace("*", ""), channel
    dingtalk = [r for r in http_server.received if r.path == CHANNEL_PATHS["dingtalk"]]
    assert all("sign" in r.query and "timestamp" in r.query for r in dingtalk)
    assert {tuple(rcpts) for _, rcpts, _ in smtp_server.messages} == {("oncall@example.com",)}
    subjects = [msg["Subject"] for _, _, msg in smtp_server.messages]
    assert "crm-pulse: ticketing exports are stale (31 daily export(s) missing)" in subjects

    # the next tick finds no newly finished run: no message is sent twice
    assert result.run_id not in (third.skip_message or "")
    assert len(webhook_alerts(http_server)) == len(failed)


def test_failed_run_alerts_through_run_failure_sensor(demo_run, tmp_path, http_server, smtp_server):
    from orchestration.definitions import defs
    from orchestration.sensors import run_failure_alerts

    landing, warehouse = copy_run(demo_run, tmp_path)
    broken = break_orders_export(landing)
    env = {"CRM_PULSE_LANDING_DIR": str(landing), "CRM_PULSE_WAREHOUSE_DIR": str(warehouse),
           **channel_env(http_server, smtp_server)}
    with environment(**env), instance_at(tmp_path) as instance:
        before = run_failure_alerts.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
        result = defs.resolve_job_def("refresh").execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        tick = run_failure_alerts.evaluate_tick(
            build_sensor_context(instance=instance, definitions=defs, cursor=before.cursor))
        assert result.run_id in tick.skip_message

    alerts = webhook_alerts(http_server)
    assert len(alerts) == 1  # the failed ingest step; every check that ran passed
    alert = alerts[0]
    assert alert["kind"] == "run_failed" and alert["severity"] == "error" and alert["run_id"] == result.run_id
    assert alert["asset"] == "raw/erp/orders"
    assert any(broken in s and "missing required column" in s for s in alert["samples"])
    texts = texts_by_channel(http_server, smtp_server)
    assert all(len(bodies) == 1 and broken in bodies[0] and result.run_id in bodies[0] for bodies in texts.values())
    assert smtp_server.messages[0][2]["Subject"].startswith("crm-pulse: refresh run failed at raw/erp/orders")


def test_cli_run_alerts_in_process_and_survives_a_dead_channel(demo_run, tmp_path, http_server):
    from orchestration.definitions import defs
    from orchestration.sensors import run_failure_alerts

    landing, warehouse = copy_run(demo_run, tmp_path)
    broken = break_orders_export(landing)
    dead = f"http://127.0.0.1:{closed_port()}/down"
    with instance_at(tmp_path) as instance:
        watch = run_failure_alerts.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
        run = run_pipeline(landing, warehouse, instance=instance,
                           CRM_PULSE_ALERT_WEBHOOK_URL=http_server.url("/hook"), CRM_PULSE_ALERT_SLACK_URL=dead,
                           CRM_PULSE_ALERT_RETRIES="2", CRM_PULSE_FRESHNESS_CLOCK="now")
        run_id = instance.get_run_records(limit=1)[0].dagster_run.run_id
        # the sensors of a `dagster dev` on the same instance leave this run alone
        later = run_failure_alerts.evaluate_tick(
            build_sensor_context(instance=instance, definitions=defs, cursor=watch.cursor))

    assert run.exit_code == 1, run.output  # the data failure decides the exit code, not the dead channel
    assert "refresh FAILED" in run.output and "failed step" in run.output
    alerts = [r.body for r in http_server.received]
    kinds = sorted(a["kind"] for a in alerts)
    # wall clock: the demo exports (newest 2026-01-01) are stale for every source
    assert kinds == ["run_failed", "source_stale", "source_stale", "source_stale"]
    failed_run = next(a for a in alerts if a["kind"] == "run_failed")
    assert failed_run["run_id"] == run_id and any(broken in s for s in failed_run["samples"])
    assert {a["asset"] for a in alerts if a["kind"] == "source_stale"} == {"exports/crm", "exports/erp", "exports/ticketing"}
    assert "alerts: 4 alert(s), 4 delivery(ies) ok, 4 failed (slack: DeliveryError: connection failed" in run.output
    assert len(http_server.received) == 4  # nothing sent twice by the sensors below
    assert f"run {run_id} alerted in process" in later.skip_message


def test_alert_kinds_are_the_documented_ones():
    with pytest.raises(ValueError):
        Alert(kind="something_else", title="x")


def test_status_reports_last_run_checks_freshness_and_quarantine(demo_run, tmp_path, capsys):
    from crm_pulse.cli import main
    from tests import oracle

    home = tmp_path / "dagster_home"
    shutil.copytree(demo_run.warehouse / "dagster_home", home)
    env = {**demo_run.env, "DAGSTER_HOME": str(home)}
    with environment(**env):
        code = main(["status", "--json"])
        status = json.loads(capsys.readouterr().out)
        assert main(["status"]) == code
        text = capsys.readouterr().out
    with DagsterInstance.local_temp(str(home)) as instance:
        run = instance.get_run_records(limit=1)[0].dagster_run
        evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in instance.get_records_for_run(
            run_id=run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records]
    assert status["last_run"]["run_id"] == run.run_id and status["last_run"]["status"] == "SUCCESS"
    assert len(status["checks"]) == len(evaluations)
    assert sum(not c["passed"] for c in status["checks"]) == sum(not e.passed for e in evaluations)
    assert code == (0 if status["healthy"] else 1)
    # demo exports end 2026-01-01 = the analysis date: fresh by the analysis clock, old by the wall clock
    assert [(f["source"], f["fresh"], f["newest_export"]) for f in status["freshness"]] == [
        ("crm", True, "2026-01-01"), ("erp", True, "2026-01-01"), ("ticketing", True, "2026-01-01")]
    # quarantined rows, recounted independently: data rows in each export minus the rows passing its contract
    expected = {}
    for source, entity in (("crm", "customers"), ("crm", "activities"), ("erp", "orders"), ("erp", "order_items"),
                           ("ticketing", "tickets"), ("crm", "opportunities")):
        clean = oracle.clean_rows(demo_run.landing, source, entity)
        kept = clean.groupby("_source_file").size().to_dict() if len(clean) else {}
        total = 0
        for path in sorted((demo_run.landing / source).glob(f"*/{entity}.*")):
            relative = path.relative_to(demo_run.landing).as_posix()
            total += len(oracle.read_rows(path)) - kept.get(relative, 0)
        expected[entity] = total
    got = status["quarantine"]["per_entity"]
    assert {e: got.get(e, 0) for e in expected} == expected
    assert sum(expected.values()) > 0
    assert status["serving"]["serving_db"] == str(demo_run.serving_db) and status["serving"]["exists"]
    assert run.run_id in text and str(demo_run.serving_db) in text and "quarantine:" in text
