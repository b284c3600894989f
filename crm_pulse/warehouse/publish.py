"""Write-audit-publish: copy audited marts from the working database to what BI tools read.

``serving.duckdb`` is written beside the old one under a temporary name and renamed over it, so a
reader sees either the previous complete version or the new one; a reader holding the old file
open keeps reading it (the rename does not touch its open inode) and never blocks the refresh.
DuckDB shares one database per path within a process, so a process sees the new version only on a
connection made after it closed all its connections to the file (README "BI access").
The file uses an older storage version so the DuckDB 1.x bundled in BI drivers can open it.
Parquet copies go to ``marts/<table>.parquet``, each replaced atomically.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from crm_pulse.warehouse.connection import connect
from crm_pulse.warehouse.sql import sql_literal

#: Oldest DuckDB release able to open the published file (DuckDB 1.2 reads it; Metabase bundles 1.4).
STORAGE_VERSION = "v1.2.0"


@dataclass(frozen=True)
class PublishedTable:
    name: str
    rows: int
    parquet: Path


def publish(work_db: Path, serving_db: Path, marts_dir: Path, tables: dict[str, str],
            extra_sql: dict[str, str] | None = None) -> list[PublishedTable]:
    """Publish ``tables`` (name -> qualified relation in the working db) plus ``extra_sql``
    (name -> SELECT over files, e.g. the quarantine Parquet) to the serving db and Parquet."""
    serving_db = Path(serving_db)
    marts_dir = Path(marts_dir)
    marts_dir.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    tmp_db = serving_db.with_name(f".{serving_db.stem}-{token}.duckdb")
    staged: list[tuple[Path, Path]] = []
    published: list[PublishedTable] = []
    con = connect()
    try:
        con.execute(f"ATTACH {sql_literal(work_db)} AS work (READ_ONLY)")
        con.execute(f"ATTACH {sql_literal(tmp_db)} AS serving (STORAGE_VERSION '{STORAGE_VERSION}')")
        selects = {name: f"SELECT * FROM work.{relation}" for name, relation in tables.items()}
        selects.update(extra_sql or {})
        for name, select in selects.items():
            con.execute(f'CREATE TABLE serving.main."{name}" AS {select}')
            rows = con.execute(f'SELECT count(*) FROM serving.main."{name}"').fetchone()[0]
            target = marts_dir / f"{name}.parquet"
            tmp_parquet = marts_dir / f".{name}-{token}.parquet"
            con.execute(f"COPY serving.main.\"{name}\" TO {sql_literal(tmp_parquet)} (FORMAT parquet, COMPRESSION zstd)")
            staged.append((tmp_parquet, target))
            published.append(PublishedTable(name, rows, target))
        con.execute("DETACH serving")
        con.execute("DETACH work")
    except BaseException:
        con.close()
        tmp_db.unlink(missing_ok=True)
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    con.close()
    _fsync(tmp_db)
    os.replace(tmp_db, serving_db)
    for tmp, target in staged:
        os.replace(tmp, target)
    return published


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
