"""Operations, incremental behaviour, on copies of the demo run's landing folder and warehouse:

1. run again with nothing new: no file is loaded again and the published marts are unchanged;
2. a corrected re-export of an earlier day (same keys, changed values, one row removed) plus a new
   day's ticket export: only those two files are loaded, the corrected file's load record names the
   load it superseded, the marts show the corrected values (checked against tests/oracle.py), the
   removed order is gone;
3. ``--full-refresh`` on the same exports rebuilds everything to exactly the incremental result.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest

from tests import oracle
from tests.harness import run_pipeline

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
RUN_RECORDS = {"data_quality"}  # per-run records, not marts: a new row each run by design
# when and by which load a row was written (not what it says); fitted_at: when the CLV model was fitted
LINEAGE = {"refreshed_at", "load_id", "_load_id", "_loaded_at", "loaded_at", "quarantined_at", "fitted_at"}
CORRECTED = "erp/2025-06-01/orders.csv"
NEW_DAY = "ticketing/2026-01-02/tickets.ndjson"
FACTS = ("stg_erp__orders", "stg_erp__order_items", "stg_ticketing__tickets", "stg_crm__activities")


# --- helpers -----------------------------------------------------------------------------------
def marts(warehouse: Path, drop_tables: set[str] = frozenset()) -> dict[str, pd.DataFrame]:
    """Every published Parquet table, without lineage columns, rows in a canonical order."""
    out = {}
    for path in sorted((warehouse / "marts").glob("*.parquet")):
        if path.stem in RUN_RECORDS | set(drop_tables):
            continue
        frame = pd.read_parquet(path)
        out[path.stem] = _canonical(frame.drop(columns=[c for c in frame.columns if c in LINEAGE]))
    return out


def facts(warehouse: Path) -> dict[str, pd.DataFrame]:
    """The incremental staging tables in the working database, without load lineage."""
    con = duckdb.connect(str(warehouse / "work.duckdb"), read_only=True)
    try:
        return {t: _canonical(con.execute(f"select * exclude (_load_id, _loaded_at) from staging.{t}").df())
                for t in FACTS}
    finally:
        con.close()


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reindex(sorted(frame.columns), axis=1)
    keys = frame.astype(str)
    return frame.loc[keys.sort_values(list(keys.columns)).index].reset_index(drop=True)


def assert_same(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    assert sorted(left) == sorted(right)
    for name in left:
        assert left[name].shape == right[name].shape, name
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=False, rtol=1e-9, obj=name)


def load_logs(warehouse: Path) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(p) for p in sorted((warehouse / "raw" / "_loads").glob("*.parquet"))],
                     how="vertical_relaxed").sort("entity", "source_file", "loaded_at")


def correct_orders_export(landing: Path) -> dict[str, dict]:
    """Rewrite an earlier day's orders export in place (same encoding and header): double three
    amounts, cancel one order, drop one row. Returns the changes by order id."""
    path = landing / CORRECTED
    text, encoding = oracle.decode_csv(path.read_bytes())
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    clean = oracle.clean_rows(landing, "erp", "orders")
    winners = oracle.latest(clean, ["order_id"])
    only_here = set(winners[winners["_source_file"] == CORRECTED]["order_id"])
    id_col = next(i for i, h in enumerate(header) if h.strip().lstrip("\ufeff") in ("order_id", "订单号", "订单编号"))
    amount_col = next(i for i, h in enumerate(header) if h.strip() in ("amount", "金额", "订单金额", "实付金额"))
    status_col = next(i for i, h in enumerate(header) if h.strip() in ("status", "状态", "订单状态"))
    candidates = [i for i, r in enumerate(body) if len(r) > amount_col and r[id_col] in only_here
                  and oracle.parse_money(r[amount_col]) is not None]
    changes: dict[str, dict] = {}
    for i in candidates[:3]:
        new_amount = (oracle.parse_money(body[i][amount_col]) * 2).quantize(Decimal("0.01"))
        body[i][amount_col] = f"{new_amount}"
        changes[body[i][id_col]] = {"amount": new_amount}
    body[candidates[3]][status_col] = "已取消"
    changes[body[candidates[3]][id_col]] = {"status": "cancelled"}
    dropped = body.pop(candidates[4])
    changes[dropped[id_col]] = {"dropped": True}
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([header, *body])
    path.write_bytes(out.getvalue().encode(encoding))
    return changes


def add_ticket_export(landing: Path) -> dict[str, dict]:
    """A new day's ticket export: three open tickets now resolved, one new ticket."""
    latest = oracle.latest(oracle.clean_rows(landing, "ticketing", "tickets"), ["ticket_id"])
    open_tickets = latest[latest["resolved_at"].isna() & latest["first_response_at"].notna()].head(3)
    assert len(open_tickets) == 3
    lines, changes = [], {}
    for t in open_tickets.itertuples():
        lines.append({"ticket_id": t.ticket_id, "customer_id": t.customer_id, "created_at": t.created_at.isoformat(),
                      "first_response_at": t.first_response_at.isoformat(), "resolved_at": "2026-01-02T09:30:00",
                      "channel": t.channel, "category": t.category, "priority": t.priority, "status": "closed",
                      "assignee": t.assignee, "is_complaint": bool(t.is_complaint)})
        changes[t.ticket_id] = {"status": "closed", "resolved_at": dt.datetime(2026, 1, 2, 9, 30)}
    lines.append({"ticket_id": "TK20260102901", "customer_id": open_tickets.iloc[0].customer_id,
                  "created_at": "2026-01-02T08:00:00", "first_response_at": "2026-01-02T08:20:00", "resolved_at": None,
                  "channel": "电话", "category": "quality", "priority": "high", "status": "open", "assignee": "林晓",
                  "is_complaint": True})
    changes["TK20260102901"] = {"status": "open", "resolved_at": None}
    path = landing / NEW_DAY
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    return changes


# --- the runs (module scope: three pipeline runs in sequence on one copy) -------------------------
@pytest.fixture(scope="module")
def runs(demo_run, tmp_path_factory):
    base = tmp_path_factory.mktemp("incremental")
    landing, warehouse = base / "landing", base / "warehouse"
    shutil.copytree(demo_run.landing, landing)
    shutil.copytree(demo_run.warehouse, warehouse, ignore=shutil.ignore_patterns("dagster_home"))
    state = {"landing": landing, "warehouse": warehouse, "demo_marts": marts(demo_run.warehouse),
             "demo_logs": load_logs(warehouse)}

    state["rerun"] = run_pipeline(landing, warehouse)
    state["rerun_marts"], state["rerun_logs"] = marts(warehouse), load_logs(warehouse)

    state["order_changes"] = correct_orders_export(landing)
    state["ticket_changes"] = add_ticket_export(landing)
    state["incremental"] = run_pipeline(landing, warehouse)
    state["incremental_marts"], state["incremental_logs"] = marts(warehouse), load_logs(warehouse)
    state["incremental_facts"] = facts(warehouse)

    state["full"] = run_pipeline(landing, warehouse, full_refresh=True)
    state["full_marts"], state["full_facts"] = marts(warehouse), facts(warehouse)
    return state


def test_rerun_with_nothing_new_loads_nothing_and_changes_no_mart(runs):
    assert runs["rerun"].exit_code == 0, runs["rerun"].output
    assert runs["rerun_logs"].equals(runs["demo_logs"]), "an already loaded file was loaded again"
    assert_same(runs["rerun_marts"], runs["demo_marts"])
    # the copies keep size and mtime, so the rerun skipped every file on those without hashing it
    current = runs["demo_logs"].group_by("source_file", maintain_order=True).last().filter(
        pl.col("source_file") != CORRECTED)  # rewritten after the rerun
    stats = [(runs["landing"] / f).stat() for f in current["source_file"]]
    assert current["size_bytes"].to_list() == [s.st_size for s in stats]
    assert current["mtime_ns"].to_list() == [s.st_mtime_ns for s in stats]


def test_only_new_and_changed_files_are_loaded_and_the_correction_names_what_it_superseded(runs):
    assert runs["incremental"].exit_code == 0, runs["incremental"].output
    before, after = runs["rerun_logs"], runs["incremental_logs"]
    new = after.join(before, on=["load_id", "source_file"], how="anti")
    assert sorted(new["source_file"].to_list()) == sorted([CORRECTED, NEW_DAY])
    corrected = new.filter(pl.col("source_file") == CORRECTED).row(0, named=True)
    previous = before.filter(pl.col("source_file") == CORRECTED).row(-1, named=True)
    assert corrected["supersedes_load_id"] == previous["load_id"]
    assert corrected["sha256"] != previous["sha256"]
    assert corrected["mtime_ns"] == (runs["landing"] / CORRECTED).stat().st_mtime_ns != previous["mtime_ns"]
    # published too (the serving database holds the full refresh's loads by now: one of this file)
    published = runs["full"].query(f"select mtime_ns from source_loads where source_file = '{CORRECTED}'")
    assert published["mtime_ns"].tolist() == [corrected["mtime_ns"]]
    assert corrected["rows_read"] == previous["rows_read"] - 1
    assert new.filter(pl.col("source_file") == NEW_DAY)["supersedes_load_id"].to_list() == [None]
    # the superseded load stays on record
    assert after.filter(pl.col("load_id") == previous["load_id"]).height == before.filter(
        pl.col("load_id") == previous["load_id"]).height


def test_corrected_reexport_replaces_old_values_in_the_marts(runs):
    landing, changes = runs["landing"], runs["order_changes"]
    expected = oracle.latest(oracle.clean_rows(landing, "erp", "orders"), ["order_id"]).set_index("order_id")
    con = duckdb.connect(str(runs["warehouse"] / "serving.duckdb"), read_only=True)
    got = con.execute("select order_id, amount_original, order_status, source_file from fct_orders "
                      f"where order_id in ({', '.join(repr(o) for o in changes)})").df().set_index("order_id")
    con.close()
    for order_id, change in changes.items():
        if change.get("dropped"):
            assert order_id not in got.index and order_id not in expected.index
            continue
        assert got.loc[order_id, "source_file"] == CORRECTED
        assert Decimal(str(got.loc[order_id, "amount_original"])) == expected.loc[order_id, "amount"]
        assert got.loc[order_id, "order_status"] == expected.loc[order_id, "status"]
        if "amount" in change:
            assert expected.loc[order_id, "amount"] == change["amount"]
        else:
            assert expected.loc[order_id, "status"] == change["status"] == "cancelled"


def test_new_day_updates_and_adds_tickets_incrementally(runs):
    tickets = runs["incremental_facts"]["stg_ticketing__tickets"].set_index("ticket_id")
    expected = oracle.latest(oracle.clean_rows(runs["landing"], "ticketing", "tickets"), ["ticket_id"])
    assert len(tickets) == len(expected)
    for ticket_id, change in runs["ticket_changes"].items():
        assert tickets.loc[ticket_id, "ticket_status"] == change["status"]
        resolved = tickets.loc[ticket_id, "resolved_at"]
        assert (pd.isna(resolved) if change["resolved_at"] is None else resolved == change["resolved_at"])
        assert tickets.loc[ticket_id, "_source_file"] == NEW_DAY


def test_full_refresh_rebuilds_exactly_the_incremental_result(runs):
    assert runs["full"].exit_code == 0, runs["full"].output
    assert_same(runs["full_facts"], runs["incremental_facts"])
    # load records differ by design after a full refresh (every file loaded anew)
    drop = {"source_loads"}
    assert_same({k: v for k, v in runs["full_marts"].items() if k not in drop},
                {k: v for k, v in runs["incremental_marts"].items() if k not in drop})
