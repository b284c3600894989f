"""Build engines: where dbt builds the marts, and how the rest of the pipeline gets them.

``CRM_PULSE_ENGINE=duckdb`` (default): dbt-duckdb builds every layer in ``work.duckdb``.
``CRM_PULSE_ENGINE=spark``: dbt-spark builds them on Spark, reading the same raw Parquet; each
mart is a Parquet table (``<spark marts dir>/<mart>/part-*.parquet``). After every dbt step the
marts are mirrored into ``work.duckdb`` (schema ``marts``), so what follows (CLV models, mart
contracts, publish, report) reads the same working database with either engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crm_pulse.warehouse.connection import connect
from crm_pulse.warehouse.sql import sql_literal

SPARK_MARTS_HINT = ("the Spark build writes marts as Parquet under CRM_PULSE_SPARK_MARTS_DIR "
                    "(default <warehouse>/spark/warehouse/marts.db); that folder must be readable here")


@dataclass(frozen=True)
class MirroredMart:
    name: str
    rows: int
    source: Path


def spark_mart_files(marts_dir: Path, mart: str) -> Path:
    """Folder of one Spark-built mart; raises a clear error when it is missing or has no Parquet."""
    folder = Path(marts_dir) / mart
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        raise FileNotFoundError(f"Spark-built mart {mart!r}: no Parquet files in {folder} ({SPARK_MARTS_HINT})")
    return folder


def mirror_spark_marts(marts_dir: Path, work_db: Path, marts: list[str]) -> list[MirroredMart]:
    """Copy the Spark-built ``marts`` (Parquet folders) into ``work_db`` as ``marts.<mart>`` tables.

    Spark stores timestamps as UTC instants of the wall-clock values it computed (its session time
    zone is UTC, see dbt_project/profiles.yml); they come back as plain TIMESTAMPs, as DuckDB builds them.
    """
    mirrored: list[MirroredMart] = []
    folders = {mart: spark_mart_files(marts_dir, mart) for mart in sorted(set(marts))}
    Path(work_db).parent.mkdir(parents=True, exist_ok=True)
    con = connect(work_db)
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        for mart, folder in folders.items():
            source = f"read_parquet({sql_literal(f'{folder.as_posix()}/*.parquet')})"
            columns = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            select = ", ".join(
                f"timezone('UTC', \"{name}\") AS \"{name}\"" if kind == "TIMESTAMP WITH TIME ZONE" else f'"{name}"'
                for name, kind, *_ in columns)
            con.execute(f'CREATE OR REPLACE TABLE marts."{mart}" AS SELECT {select} FROM {source}')
            rows = con.execute(f'SELECT count(*) FROM marts."{mart}"').fetchone()[0]
            mirrored.append(MirroredMart(mart, rows, folder))
    finally:
        con.close()
    return mirrored
