"""Ingest skips unchanged export files without reading them (issue 8): the load log keeps each
file's size and mtime_ns; the same size and mtime as the latest load record -> skipped unread;
otherwise hashed: same sha256 -> skipped (the record's mtime_ns refreshed), different -> reloaded,
superseding the earlier load. Old load logs without mtime_ns keep working (hash).

Proof of "unread": the file's content is replaced by other content of the same size and its mtime
put back (os.utime), so a run that read or hashed it would load the new values. Expected values
come from hashlib / os.stat / the rows written here, never from the code under test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from data_contracts.ingest import ingest_entity
from data_contracts.layout import LOAD_LOG_SCHEMA, RawLayout
from data_contracts.landing import discover
from data_contracts.readers import FileProblem

HEADER = "order_id,customer_id,order_date,status,amount\n"
DAY1, DAY2 = "erp/2026-01-01/orders.csv", "erp/2026-01-02/orders.csv"
T0 = 1_767_000_000_123_456_789  # an mtime in ns (2025-12-29), with sub-second digits
SECOND = 1_000_000_000


def write(landing: Path, relative: str, text: str, mtime_ns: int = T0) -> Path:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def replace_keeping_size_and_mtime(path: Path, text: str) -> None:
    stat = path.stat()
    data = text.encode("utf-8")
    assert len(data) == stat.st_size and data != path.read_bytes()
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def ingest(landing: Path, raw: Path, load_id: str, day: int):
    return ingest_entity("orders", discover(landing, "erp", "orders"), raw, load_id, dt.datetime(2026, 1, day, 6))


def amounts(raw: Path, relative: str) -> dict[str, str]:
    """order_id -> amount of the raw Parquet file landed for one export file."""
    date, name = relative.split("/")[1:]
    table = pq.read_table(raw / "erp" / "orders" / f"{date}__{name}.parquet", columns=["order_id", "amount"])
    return {o: str(a) for o, a in zip(table["order_id"].to_pylist(), table["amount"].to_pylist())}


def log_on_disk(raw: Path) -> pl.DataFrame:
    return pl.read_parquet(raw / "_loads" / "orders.parquet")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_size_and_mtime_is_skipped_unread_and_a_new_mtime_reloads_and_supersedes(tmp_path):
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    good = write(landing, DAY1, HEADER + "O1,C1,2025-12-01,completed,100.00\nO2,C1,2025-12-02,completed,250.00\n")
    bad = write(landing, DAY2, HEADER + "O3,C1,not a date,completed,-5\n")  # every row quarantined

    first = ingest(landing, raw, "load1", 1)
    assert [(l.source_file, l.rows_loaded, l.rows_quarantined) for l in first.loaded] == [(DAY1, 2, 0), (DAY2, 0, 1)]
    log = log_on_disk(raw).sort("source_file")
    assert log["mtime_ns"].to_list() == [good.stat().st_mtime_ns, bad.stat().st_mtime_ns] == [T0, T0]
    assert log["size_bytes"].to_list() == [good.stat().st_size, bad.stat().st_size]
    assert log["sha256"].to_list() == [sha(good), sha(bad)]
    log_bytes = (raw / "_loads" / "orders.parquet").read_bytes()

    # other content, same size and mtime: not read, so the old values stay
    replace_keeping_size_and_mtime(good, HEADER + "O1,C1,2025-12-01,completed,900.00\nO2,C1,2025-12-02,completed,950.00\n")
    replace_keeping_size_and_mtime(bad, HEADER + "O3,C1,2025-12-03,completed,+5\n")
    second = ingest(landing, raw, "load2", 2)
    assert second.loaded == [] and sorted(second.skipped) == [DAY1, DAY2]
    assert amounts(raw, DAY1) == {"O1": "100.00", "O2": "250.00"}
    assert (raw / "_loads" / "orders.parquet").read_bytes() == log_bytes  # log not rewritten

    # a new mtime: hashed, the content differs -> reloaded, superseding load1
    os.utime(good, ns=(T0 + SECOND, T0 + SECOND))
    third = ingest(landing, raw, "load3", 3)
    assert [l.source_file for l in third.loaded] == [DAY1] and third.skipped == [DAY2]
    [reload] = third.loaded
    assert (reload.supersedes_load_id, reload.sha256, reload.mtime_ns) == ("load1", sha(good), T0 + SECOND)
    assert amounts(raw, DAY1) == {"O1": "900.00", "O2": "950.00"}
    log = log_on_disk(raw).filter(pl.col("source_file") == DAY1).sort("loaded_at")
    assert log.select("load_id", "supersedes_load_id", "mtime_ns").rows() == [
        ("load1", None, T0), ("load3", "load1", T0 + SECOND)]


def test_changed_size_with_the_same_mtime_is_reloaded(tmp_path):
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    path = write(landing, DAY1, HEADER + "O1,C1,2025-12-01,completed,100.00\n")
    ingest(landing, raw, "load1", 1)
    write(landing, DAY1, HEADER + "O1,C1,2025-12-01,completed,100.00\nO2,C1,2025-12-02,completed,7.50\n")
    assert path.stat().st_mtime_ns == T0

    second = ingest(landing, raw, "load2", 2)
    [reload] = second.loaded
    assert (reload.supersedes_load_id, reload.size_bytes, reload.sha256) == ("load1", path.stat().st_size, sha(path))
    assert amounts(raw, DAY1) == {"O1": "100.00", "O2": "7.50"}


def test_touched_file_is_hashed_once_then_skipped_by_its_new_mtime(tmp_path):
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    path = write(landing, DAY1, HEADER + "O1,C1,2025-12-01,completed,100.00\n")
    ingest(landing, raw, "load1", 1)
    before = log_on_disk(raw)

    os.utime(path, ns=(T0 + 5 * SECOND, T0 + 5 * SECOND))  # touched: same content
    second = ingest(landing, raw, "load2", 2)
    assert second.loaded == [] and second.skipped == [DAY1]
    after = log_on_disk(raw)
    assert after["mtime_ns"].to_list() == [T0 + 5 * SECOND]  # the record now knows the new mtime ...
    assert after.drop("mtime_ns").equals(before.drop("mtime_ns"))  # ... and nothing else changed

    replace_keeping_size_and_mtime(path, HEADER + "O1,C1,2025-12-01,completed,300.00\n")
    third = ingest(landing, raw, "load3", 3)  # so the next run does not read it
    assert third.loaded == [] and amounts(raw, DAY1) == {"O1": "100.00"}


def test_old_load_log_without_mtime_skips_by_sha256_and_reloads_a_changed_file(tmp_path):
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    same = write(landing, DAY1, HEADER + "O1,C1,2025-12-01,completed,100.00\n")
    changed = write(landing, DAY2, HEADER + "O2,C1,2025-12-02,completed,20.00\n")
    ingest(landing, raw, "load1", 1)
    # the log as an earlier version wrote it: no mtime_ns column
    old = log_on_disk(raw).drop("mtime_ns")
    old.write_parquet(raw / "_loads" / "orders.parquet")
    assert "mtime_ns" not in pq.read_schema(raw / "_loads" / "orders.parquet").names
    assert RawLayout(raw).read_load_log("orders").schema == LOAD_LOG_SCHEMA
    write(landing, DAY2, HEADER + "O2,C1,2025-12-02,completed,21.00\n")  # same size and mtime, new sha

    second = ingest(landing, raw, "load2", 2)
    assert [l.source_file for l in second.loaded] == [DAY2] and second.skipped == [DAY1]
    assert second.loaded[0].supersedes_load_id == "load1"
    assert amounts(raw, DAY1) == {"O1": "100.00"} and amounts(raw, DAY2) == {"O2": "21.00"}
    log = log_on_disk(raw).sort("source_file", "loaded_at")
    assert log.select("source_file", "load_id", "sha256", "mtime_ns").rows() == [
        (DAY1, "load1", sha(same), T0),  # hashed, unchanged: gained its mtime
        (DAY2, "load1", old.filter(pl.col("source_file") == DAY2)["sha256"].item(), None),  # superseded, as it was
        (DAY2, "load2", sha(changed), T0),
    ]
    # and the file hashed unchanged is now skipped unread
    replace_keeping_size_and_mtime(same, HEADER + "O1,C1,2025-12-01,completed,400.00\n")
    assert ingest(landing, raw, "load3", 3).loaded == [] and amounts(raw, DAY1) == {"O1": "100.00"}


def test_a_failing_file_keeps_the_refreshed_mtimes_out_too(tmp_path):
    """All or nothing: a touched file's new mtime is recorded only if the whole entity load commits."""
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    path = write(landing, DAY1, HEADER + "O1,C1,2025-12-01,completed,100.00\n")
    ingest(landing, raw, "load1", 1)
    log_bytes = (raw / "_loads" / "orders.parquet").read_bytes()
    os.utime(path, ns=(T0 + SECOND, T0 + SECOND))
    write(landing, DAY2, "foo,bar\n1,2\n")
    with pytest.raises(FileProblem, match=f"{DAY2}: missing required column"):
        ingest(landing, raw, "load2", 2)
    assert (raw / "_loads" / "orders.parquet").read_bytes() == log_bytes


def test_file_gone_after_listing_is_a_file_problem_naming_it(tmp_path):
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    path = write(landing, DAY1, HEADER + "O1,C1,2025-12-01,completed,100.00\n")
    files = discover(landing, "erp", "orders")
    path.unlink()
    with pytest.raises(FileProblem, match=f"{DAY1}: cannot read the file") as err:
        ingest_entity("orders", files, raw, "load1", dt.datetime(2026, 1, 1, 6))
    assert err.value.problem == "unreadable"
    assert not (raw / "_loads" / "orders.parquet").exists()

