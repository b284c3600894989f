"""Unknown extra columns (a header no contract alias names, e.g. 备注): ignored by ingest, recorded in
the load log and shown again for one run's load (:func:`unknown_columns.of_load`) and, for each
entity's latest load, by ``crm-pulse status`` (text and ``--json``)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from crm_pulse.config.settings import Settings
from data_contracts import unknown_columns
from data_contracts.ingest import ingest_entity
from data_contracts.landing import discover

ROOT = Path(__file__).resolve().parent.parent
ORDERS_HEADER = "order_id,customer_id,order_date,status,amount"


def land(landing: Path, relative: str, text: str) -> None:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def ingest(landing: Path, raw: Path, source: str, entity: str, load_id: str, day: int) -> None:
    ingest_entity(entity, discover(landing, source, entity), raw, load_id=load_id,
                  loaded_at=dt.datetime(2025, 3, day, 8, 0))


def test_unknown_columns_of_a_load_and_of_each_entitys_latest_load(tmp_path):
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    land(landing, "erp/2025-03-01/orders.csv",
         f"{ORDERS_HEADER},备注,内部标记\nO1,C1,2025-02-01,completed,10,急,x\n")
    land(landing, "crm/2025-03-01/customers.csv", "customer_id,customer_name,status,微信\nC1,甲公司,活跃,w1\n")
    ingest(landing, raw, "erp", "orders", "load1", 1)
    ingest(landing, raw, "crm", "customers", "load1", 1)
    first = [{"entity": "customers", "source_file": "crm/2025-03-01/customers.csv", "load_id": "load1",
              "columns": ["微信"]},
             {"entity": "orders", "source_file": "erp/2025-03-01/orders.csv", "load_id": "load1",
              "columns": ["备注", "内部标记"]}]
    assert sorted(unknown_columns.of_load(raw, "load1"), key=lambda u: u["entity"]) == first
    assert sorted(unknown_columns.latest(raw), key=lambda u: u["entity"]) == first

    # the next day's orders export has only contract columns: the orders' latest load has none, load1 keeps its own
    land(landing, "erp/2025-03-02/orders.csv", f"{ORDERS_HEADER}\nO2,C1,2025-03-01,completed,20\n")
    ingest(landing, raw, "erp", "orders", "load2", 2)
    assert unknown_columns.of_load(raw, "load2") == []
    assert sorted(unknown_columns.of_load(raw, "load1"), key=lambda u: u["entity"]) == first
    assert unknown_columns.latest(raw) == first[:1]  # customers: still its load1


def test_crm_pulse_status_shows_the_unknown_columns(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    land(landing, "erp/2025-03-01/orders.csv", f"{ORDERS_HEADER},备注\nO1,C1,2025-02-01,completed,10,急\n")
    env = {**os.environ, "CRM_PULSE_LANDING_DIR": str(landing), "CRM_PULSE_WAREHOUSE_DIR": str(warehouse),
           "PYTHONPATH": str(ROOT), "DO_NOT_TRACK": "1"}
    env.pop("DAGSTER_HOME", None)
    raw = Settings.from_env(env).raw_dir
    ingest(landing, raw, "erp", "orders", "load1", 1)

    def status(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "crm_pulse.cli", "status", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 1, done.stderr  # no run recorded yet: unhealthy
        return done.stdout

    text = status()
    assert "extra cols: unknown columns (ignored) in each entity's latest load: 1 file(s)" in text, text
    assert "  erp/2025-03-01/orders.csv: 备注" in text.splitlines(), text
    assert json.loads(status("--json"))["unknown_columns"] == [
        {"entity": "orders", "source_file": "erp/2025-03-01/orders.csv", "load_id": "load1", "columns": ["备注"]}]
