"""Long-lived BI readers across a publish (README "BI access"), with real reader processes.

A reader process (the project's DuckDB 2.x, and DuckDB 1.4 as BI drivers bundle it) keeps a
connection to ``serving.duckdb`` open and reads on request while the real ``publish/serving_database``
asset replaces the file. What the README promises, exactly:

- the open connection keeps reading the version it opened;
- a new ``duckdb.connect(path)`` in that process, while it still has a connection to the path open,
  shares that database and reads the same old version (DuckDB keeps one database per path per process);
- once the process has closed every connection to the file, its next connection reads the new version;
  a new process, or an in-memory connection that ATTACHes the file, reads the new version at once;
- no reader, read-only or not, blocks or delays the publish.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from dagster import materialize

from orchestration.assets.publish import MART_KEYS, serving_database
from orchestration.resources import PipelineSettings
from tests.harness import environment

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = {"duckdb-2": Path(sys.executable), "duckdb-1.4": ROOT / ".venv-duckdb14" / "bin" / "python"}
MART = MART_KEYS[0].path[-1]  # any mart: every one is published the same way

READER = r"""
import json, sys, duckdb
path, mart = sys.argv[1], sys.argv[2]
held = []
def read(con, relation=mart):
    return con.execute(f'select max(version), count(*) from {relation}').fetchone()
for line in sys.stdin:
    cmd = line.strip()
    if cmd in ("hold", "hold-rw"):
        held.append(duckdb.connect(path, read_only=cmd == "hold"))
        out = read(held[-1])
    elif cmd == "held":
        out = read(held[0])
    elif cmd == "new":  # a further connection while `held` is still open
        con = duckdb.connect(path, read_only=True)
        out = read(con)
        con.close()
    elif cmd == "attach":  # an in-memory connection attaching the file
        con = duckdb.connect()
        con.execute(f"ATTACH '{path}' AS serving (READ_ONLY)")
        out = read(con, f"serving.{mart}")
        con.close()
    elif cmd == "close":
        for con in held:
            con.close()
        held.clear()
        out = None
    else:
        break
    print(json.dumps(out), flush=True)
"""


class Reader:
    """A real reader process that answers one JSON line per command."""

    def __init__(self, python: Path, serving_db: Path):
        self.proc = subprocess.Popen([str(python), "-c", READER, str(serving_db), MART], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ask(self, command: str):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read()
        out = json.loads(line)
        return None if out is None else tuple(out)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(30)


def expected(version: int) -> tuple[int, int]:
    """What a reader of ``version`` must see: the work db of version v holds v rows, each tagged v."""
    return (version, version)


def build_work_db(work_db: Path, version: int) -> None:
    con = duckdb.connect(str(work_db))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        for key in MART_KEYS:
            con.execute(f'CREATE OR REPLACE TABLE marts."{key.path[-1]}" AS '
                        f"SELECT {version} AS version, i AS n FROM range({version}) t(i)")
    finally:
        con.close()


def publish_version(warehouse: Path, version: int) -> float:
    """Build the work db of ``version`` and materialise the real publish asset; return its seconds."""
    build_work_db(warehouse / "work.duckdb", version)
    started = time.monotonic()
    with environment(CRM_PULSE_WAREHOUSE_DIR=str(warehouse), CRM_PULSE_LANDING_DIR=str(warehouse / "landing")):
        result = materialize([serving_database], resources={"settings": PipelineSettings()})
    assert result.success
    return time.monotonic() - started


def read_in_new_process(python: Path, serving_db: Path) -> tuple[int, int]:
    reader = Reader(python, serving_db)
    try:
        return reader.ask("new")
    finally:
        reader.stop()


@pytest.fixture(params=sorted(PYTHONS))
def python(request) -> Path:
    path = PYTHONS[request.param]
    if not path.exists():
        pytest.fail("DuckDB 1.4 test venv missing: run `make duckdb14-venv` (part of `make test-deps`)")
    return path


@pytest.fixture
def warehouse(tmp_path) -> Path:
    (tmp_path / "landing").mkdir()
    publish_version(tmp_path, 1)
    return tmp_path


def test_long_lived_reader_sees_exactly_the_documented_versions(python, warehouse):
    serving = warehouse / "serving.duckdb"
    reader = Reader(python, serving)
    try:
        assert reader.ask("hold") == expected(1)
        publish_version(warehouse, 2)
        assert reader.ask("held") == expected(1)  # the open connection keeps its version
        assert reader.ask("new") == expected(1)  # same process, file still open there: same database
        assert reader.ask("attach") == expected(2)  # an in-memory connection ATTACHing the file: new
        assert read_in_new_process(python, serving) == expected(2)  # another process: new
        assert reader.ask("close") is None
        assert reader.ask("new") == expected(2)  # every connection closed: the next one reads the new version
        assert reader.ask("hold") == expected(2)
        publish_version(warehouse, 3)
        assert reader.ask("held") == expected(2)
    finally:
        reader.stop()
    assert reader.proc.returncode == 0, reader.proc.stderr.read()


@pytest.mark.parametrize("mode", ["hold", "hold-rw"])
def test_a_reader_holding_the_file_never_blocks_the_publish(warehouse, mode):
    """Even a reader that (against the README) opened the file read-write: the publish writes a new
    file and renames it over the old one, so it takes no lock a reader holds."""
    serving = warehouse / "serving.duckdb"
    publish_version(warehouse, 2)
    reader = Reader(PYTHONS["duckdb-2"], serving)
    try:
        assert reader.ask(mode) == expected(2)
        done: list[float] = []  # DuckDB fails on a lock rather than waiting; guard against a hang anyway
        worker = threading.Thread(target=lambda: done.append(publish_version(warehouse, 3)), daemon=True)
        worker.start()
        worker.join(120)
        assert done, "publish did not finish while a reader held serving.duckdb"
        assert reader.ask("held") == expected(2)
        assert read_in_new_process(PYTHONS["duckdb-2"], serving) == expected(3)
        assert sorted(p.name for p in warehouse.iterdir() if p.name.startswith(".serving")) == []  # no leftovers
    finally:
        reader.stop()
