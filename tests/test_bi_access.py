"""BI access recipes from the README, exercised against the published outputs of the demo run.

- DuckDB 1.4 (what Metabase's DuckDB driver bundles), from its own venv (`make duckdb14-venv`):
  Python read-only connection, the DuckDB CLI in read-only mode, and the SQLAlchemy URI Superset
  uses (duckdb-engine); every table readable, counts equal to DuckDB 2.x and to the Parquet files.
- Parquet (Power BI, Tableau, Evidence, pandas): one file per table, same rows and columns, only
  column types those tools read.
- Evidence: its DuckDB source connector (npm @evidence-dev/duckdb, DuckDB 1.4 for Node) reads the
  file through a symlink in the source folder.
- Every mart says when it was refreshed and from which load.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV14 = ROOT / ".venv-duckdb14" / "bin"
#: the dbt marts (other published tables are pipeline records: quarantine, source loads, checks)
MARTS = {p.stem for p in (ROOT / "dbt_project" / "models" / "marts").glob("*.sql")}


@pytest.fixture(scope="module")
def venv14() -> Path:
    if not (VENV14 / "python").exists():
        pytest.fail("DuckDB 1.4 test venv missing: run `make duckdb14-venv` (part of `make test-deps`)")
    return VENV14


@pytest.fixture(scope="module")
def published(demo_run) -> dict[str, int]:
    """Table -> row count, read with the project's DuckDB (2.x), read-only."""
    con = duckdb.connect(str(demo_run.serving_db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables order by 1").fetchall()]
        return {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def _run14(venv14: Path, code: str, *args: str) -> str:
    done = subprocess.run([str(venv14 / "python"), "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


READ_ALL = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
tables = [r[0] for r in con.execute("select table_name from information_schema.tables order by 1").fetchall()]
counts = {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
# read every column of every row (types the old reader cannot decode fail here)
for t in tables:
    con.execute(f'select * from "{t}"').fetchall()
try:
    con.execute("create table written_by_bi (i integer)")
    writable = True
except duckdb.Error:
    writable = False
print(json.dumps({"version": duckdb.__version__, "counts": counts, "writable": writable}))
"""


def test_duckdb_14_reads_every_published_table(venv14, demo_run, published):
    result = json.loads(_run14(venv14, READ_ALL, str(demo_run.serving_db)))
    assert result["version"].startswith("1.4."), result["version"]
    assert result["counts"] == published
    assert result["writable"] is False, "read-only connections must not write"
    assert {"dim_customers", "fct_orders", "kpi_monthly", "sales_performance"} <= set(published)
    assert all(published[t] > 0 for t in ("dim_customers", "fct_orders", "kpi_monthly"))


def test_duckdb_cli_read_only(venv14, demo_run, published):
    cli = venv14 / "duckdb"
    assert cli.exists(), "duckdb-cli missing from the DuckDB 1.4 venv"
    done = subprocess.run(
        [
            str(cli),
            "-readonly",
            "-csv",
            "-noheader",
            str(demo_run.serving_db),
            "-c",
            "select count(*) from fct_orders; select count(*) from kpi_monthly;",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert [int(x) for x in done.stdout.split()] == [published["fct_orders"], published["kpi_monthly"]]
    write = subprocess.run(
        [str(cli), "-readonly", str(demo_run.serving_db), "-c", "delete from fct_orders"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "read-only" in (write.stdout + write.stderr).lower()


SUPERSET = """
import json, sys
from sqlalchemy import create_engine, inspect, text
engine = create_engine(f"duckdb:///{sys.argv[1]}", connect_args={"read_only": True})
with engine.connect() as con:
    names = sorted(inspect(con).get_table_names())
    counts = {n: con.execute(text(f'select count(*) from "{n}"')).scalar() for n in names}
print(json.dumps(counts))
"""


def test_superset_sqlalchemy_uri(venv14, demo_run, published):
    assert json.loads(_run14(venv14, SUPERSET, str(demo_run.serving_db))) == published


BI_FRIENDLY = (
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "double",
    "float",
    "bool",
    "string",
    "large_string",
    "date32[day]",
    "timestamp[us]",
    "timestamp[us, tz=UTC]",
    "decimal128",
)


def test_parquet_files_match_the_database(demo_run, published):
    marts = demo_run.warehouse / "marts"
    assert sorted(p.stem for p in marts.glob("*.parquet")) == sorted(published)
    con = duckdb.connect(str(demo_run.serving_db), read_only=True)
    try:
        for table, rows in published.items():
            parquet = pq.ParquetFile(marts / f"{table}.parquet")
            assert parquet.metadata.num_rows == rows, table
            columns = [r[0] for r in con.execute(f'describe "{table}"').fetchall()]
            assert parquet.schema_arrow.names == columns, table
            for field in parquet.schema_arrow:
                kind = str(field.type)
                assert kind.startswith(BI_FRIENDLY), f"{table}.{field.name}: {kind} is hard for BI tools"
    finally:
        con.close()


def _mart_stamps(demo_run, published) -> dict[str, set[tuple]]:
    con = duckdb.connect(str(demo_run.serving_db), read_only=True)
    try:
        marts = sorted(MARTS & set(published))
        assert {"dim_customers", "fct_orders", "kpi_monthly", "churn_summary"} <= set(marts)
        stamps = {}
        for table in marts:
            columns = {r[0] for r in con.execute(f'describe "{table}"').fetchall()}
            assert {"refreshed_at", "load_id"} <= columns, table
            stamps[table] = set(con.execute(f'select distinct load_id, refreshed_at from "{table}"').fetchall())
        return stamps
    finally:
        con.close()


def test_every_mart_says_when_and_from_which_load(demo_run, published):
    stamps = _mart_stamps(demo_run, published)
    for table, rows in stamps.items():
        if published[table]:
            assert len(rows) == 1 and all(v is not None for v in next(iter(rows))), (table, rows)
    loads = {load for rows in stamps.values() for load, _ in rows}
    assert len(loads) == 1, f"marts from different loads: {loads}"


def test_marts_of_one_refresh_share_refreshed_at(demo_run, published):
    """refreshed_at = the start of the run that published the marts (dbt docs), one value per refresh."""
    stamps = _mart_stamps(demo_run, published)
    by_time: dict = {}
    for table, rows in stamps.items():
        for _, refreshed_at in rows:
            by_time.setdefault(refreshed_at, []).append(table)
    assert len(by_time) == 1, f"one refresh published several refreshed_at values: {by_time}"


EVIDENCE = r"""
// Evidence's DuckDB source connector, driven the way `npm run sources` drives it.
const path = require('path');
const { getRunner, testConnection } = require(process.env.EVIDENCE_DUCKDB);
(async () => {
  const [directory, filename, ...tables] = process.argv.slice(1);
  const ok = await testConnection({ filename }, directory);
  if (ok !== true) throw new Error(`testConnection: ${JSON.stringify(ok)}`);
  const runner = await getRunner({ filename }, directory);
  const out = {};
  for (const table of tables) {
    const res = await runner(`select * from "${table}"`, path.join(directory, `${table}.sql`), 10000);
    let rows = 0;
    for await (const batch of res.rows()) rows += batch.length;
    out[table] = rows;
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error((e && e.stack) || e); process.exit(1); });
"""


def test_evidence_duckdb_source(venv14, demo_run, published, tmp_path):
    connector = venv14.parent / "evidence" / "node_modules" / "@evidence-dev" / "duckdb"
    node = shutil.which("node")
    if node is None or not connector.exists():
        pytest.fail("Evidence's DuckDB connector missing: run `make duckdb14-venv` (needs node and npm)")
    source = tmp_path / "sources" / "crm"  # the README recipe: a symlink in the source folder
    source.mkdir(parents=True)
    (source / "serving.duckdb").symlink_to(demo_run.serving_db)
    tables = ["dim_customers", "fct_orders", "kpi_monthly", "sales_performance"]
    done = subprocess.run(
        [node, "-e", EVIDENCE, str(source), "serving.duckdb", *tables],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "EVIDENCE_DUCKDB": str(connector)},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {t: published[t] for t in tables}
