"""The same dbt project builds the same marts on Spark (dbt-spark, local PySpark session) as on DuckDB.

Input: the raw layer of the ``demo_run`` fixture (the Parquet ingest wrote, plus the CLV model
outputs the run produced), copied. DuckDB side: the marts that run built in work.duckdb. Spark
side: ``dbt build`` (models and seeds) with the ``spark`` target over the copy, marts read back
from their Parquet folders through the pipeline's own mirror step (crm_pulse/warehouse/spark.py).
Every mart must match row for row: exact for integers, text, dates, booleans and decimals (money),
1e-9 relative for doubles; only the run lineage columns (load_id, refreshed_at) are ignored.
"""

from __future__ import annotations

import decimal
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from crm_pulse.config.settings import PROJECT_ROOT
from crm_pulse.warehouse.spark import mirror_spark_marts

IGNORED = {"load_id", "refreshed_at"}
DBT_PROJECT = PROJECT_ROOT / "dbt_project"
FLOAT_REL_TOL = 1e-9


def _spark_ready() -> str | None:
    """Why Spark cannot run here (None = it can). `make test` installs both (make spark-deps)."""
    try:
        import pyspark  # noqa: F401
        import dbt.adapters.spark  # noqa: F401
    except ImportError as exc:
        return f"dbt-spark[session] not installed ({exc}); run `make spark-deps`"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (java on PATH or JAVA_HOME); run `make spark-deps`"
    return None


def _marts(manifest: Path) -> list[str]:
    """Every mart model of the dbt project (models/marts/), from the manifest of the Spark build."""
    nodes = json.loads(manifest.read_text())["nodes"].values()
    return sorted(n["name"] for n in nodes if n["resource_type"] == "model" and n["fqn"][1] == "marts")


@pytest.fixture(scope="module")
def spark_build(demo_run, tmp_path_factory):
    reason = _spark_ready()
    if reason:
        if os.environ.get("CRM_PULSE_REQUIRE_SPARK") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("spark_parity")
    raw = base / "raw"
    shutil.copytree(demo_run.warehouse / "raw", raw, ignore=shutil.ignore_patterns("_tmp"))
    duck_db = base / "duckdb_work.duckdb"
    shutil.copy(demo_run.warehouse / "work.duckdb", duck_db)
    spark_dir = base / "spark"
    env = {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "CRM_PULSE_DBT_TARGET": "spark",
        "CRM_PULSE_RAW_DIR": str(raw),
        "CRM_PULSE_SPARK_DIR": str(spark_dir),
        "CRM_PULSE_SPARK_MASTER": "local[2]",
        "CRM_PULSE_SPARK_SHUFFLE_PARTITIONS": "2",
        "CRM_PULSE_DBT_THREADS": "2",
        "CRM_PULSE_WORK_DB": str(base / "unused.duckdb"),
    }
    run_vars = {"as_of": demo_run.settings.resolved_as_of().isoformat(), "load_id": "parity", "refreshed_at": "2026-01-01 00:00:00"}
    dbt = Path(sys.executable).parent / "dbt"
    cmd = [str(dbt), "build", "--exclude-resource-type", "test", "--vars", json.dumps(run_vars),
           "--profiles-dir", str(DBT_PROJECT), "--project-dir", str(DBT_PROJECT),
           "--target-path", str(base / "target"), "--log-path", str(base / "logs")]
    proc = subprocess.run(cmd, cwd=DBT_PROJECT, env=env, capture_output=True, text=True, timeout=1500)
    lines = [l for l in proc.stdout.splitlines() if not l.lstrip().startswith("at ")]
    assert proc.returncode == 0, "dbt build on Spark failed:\n" + "\n".join(lines[-80:]) + proc.stderr[-3000:]
    marts = _marts(base / "target" / "manifest.json")
    spark_db = base / "spark_work.duckdb"
    mirrored = mirror_spark_marts(spark_dir / "warehouse" / "marts.db", spark_db, marts)
    return {"duckdb": duck_db, "spark": spark_db, "marts": marts, "mirrored": mirrored, "output": proc.stdout}


def _rows(db: Path, mart: str, columns: list[str]) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        select = ", ".join(f'"{c}"' for c in columns)
        return con.execute(f'select {select} from marts."{mart}"').fetchall()
    finally:
        con.close()


def _columns(db: Path, mart: str) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {r[0]: r[1] for r in con.execute(f'describe marts."{mart}"').fetchall()}
    finally:
        con.close()


def _type_family(sql_type: str) -> str:
    """Types compared up to width: engines size integers and decimal precision differently."""
    if sql_type.startswith("DECIMAL"):
        return "DECIMAL(" + sql_type.split(",")[-1]  # same scale (cents stay cents)
    return "INTEGER" if sql_type in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT") else sql_type


def _sort_key(row: tuple) -> tuple:
    """Order rows by value (None first); doubles rounded so last-bit noise cannot reorder them."""
    key = []
    for v in row:
        if v is None:
            key.append((0, ""))
        elif isinstance(v, float):
            key.append((1, "nan" if math.isnan(v) else f"{v:.6e}"))
        elif isinstance(v, (int, decimal.Decimal)) and not isinstance(v, bool):
            key.append((1, f"{float(v):.12e}"))
        else:
            key.append((1, str(v)))
    return tuple(key)


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool):
            return False
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return math.isclose(fa, fb, rel_tol=FLOAT_REL_TOL, abs_tol=1e-12)
    numbers = (int, decimal.Decimal)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return decimal.Decimal(a) == decimal.Decimal(b)  # exact: counts and money
    return type(a) is type(b) and a == b


@pytest.mark.slow
def test_spark_builds_every_mart(spark_build):
    assert len(spark_build["marts"]) >= 3, spark_build["marts"]
    assert [m.name for m in spark_build["mirrored"]] == sorted(spark_build["marts"])


@pytest.mark.slow
def test_spark_marts_equal_duckdb_marts_row_for_row(spark_build):
    problems = []
    compared = 0
    for mart in spark_build["marts"]:
        duck_cols = _columns(spark_build["duckdb"], mart)
        spark_cols = _columns(spark_build["spark"], mart)
        if set(duck_cols) != set(spark_cols):
            problems.append(f"{mart}: columns differ: only DuckDB {sorted(set(duck_cols) - set(spark_cols))}, "
                            f"only Spark {sorted(set(spark_cols) - set(duck_cols))}")
            continue
        columns = [c for c in duck_cols if c not in IGNORED]
        retyped = [f"{c} {duck_cols[c]} vs {spark_cols[c]}" for c in columns
                   if _type_family(duck_cols[c]) != _type_family(spark_cols[c])]
        if retyped:
            problems.append(f"{mart}: column types differ: " + ", ".join(retyped))
        duck = sorted(_rows(spark_build["duckdb"], mart, columns), key=_sort_key)
        spark = sorted(_rows(spark_build["spark"], mart, columns), key=_sort_key)
        if len(duck) != len(spark):
            problems.append(f"{mart}: {len(duck)} rows on DuckDB, {len(spark)} on Spark")
            continue
        bad = []
        for d_row, s_row in zip(duck, spark):
            for column, d, s in zip(columns, d_row, s_row):
                if not _same(d, s):
                    bad.append(f"{column}: DuckDB {d!r} ({duck_cols[column]}) vs Spark {s!r} ({spark_cols[column]})")
        if bad:
            problems.append(f"{mart}: {len(bad)} differing values, e.g. " + "; ".join(bad[:5]))
        compared += len(duck)
    assert not problems, "\n".join(problems)
    assert compared > 0


def test_mirror_keeps_wall_clock_timestamps_and_names_missing_marts(tmp_path):
    """The copy step alone (no Spark): UTC-adjusted Parquet timestamps come back as the plain
    TIMESTAMP wall-clock values Spark computed; a mart without files is a clear error."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "marts.db" / "fct_demo"
    folder.mkdir(parents=True)
    table = pa.table({
        "id": pa.array([1, 2], pa.int32()),
        "at": pa.array([dt.datetime(2025, 3, 1, 23, 30), None], pa.timestamp("us", tz="UTC")),
        "amount": pa.array([decimal.Decimal("12.34"), decimal.Decimal("0.01")], pa.decimal128(28, 2)),
    })
    pq.write_table(table, folder / "part-00000.parquet")
    (folder / "_SUCCESS").write_text("")
    work_db = tmp_path / "work.duckdb"
    mirrored = mirror_spark_marts(tmp_path / "marts.db", work_db, ["fct_demo"])
    assert [(m.name, m.rows) for m in mirrored] == [("fct_demo", 2)]
    assert _columns(work_db, "fct_demo") == {"id": "INTEGER", "at": "TIMESTAMP", "amount": "DECIMAL(28,2)"}
    assert sorted(_rows(work_db, "fct_demo", ["id", "at", "amount"]), key=_sort_key) == [
        (1, dt.datetime(2025, 3, 1, 23, 30), decimal.Decimal("12.34")), (2, None, decimal.Decimal("0.01"))]
    with pytest.raises(FileNotFoundError, match="fct_missing.*no Parquet files"):
        mirror_spark_marts(tmp_path / "marts.db", work_db, ["fct_missing"])
