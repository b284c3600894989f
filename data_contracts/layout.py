"""The raw layer's folder layout under ``<warehouse>/raw``: :class:`RawLayout` is the only place that
spells it in Python (the dbt sources read the same paths, e.g.
dbt_project/models/staging/analytics/_sources.yml).

- ``<source>/<entity>/<export date>__<file>.parquet``: the rows loaded from one export file, and
  ``<source>/<entity>/_schema.parquet``, an empty typed file so every entity's glob matches;
- ``_quarantine/<entity>/<export date>__<file>.parquet``: the failure records of one export file;
- ``_loads/<entity>.parquet``: the load log (:data:`LOAD_LOG_SCHEMA`); ``_loads/_landing.json``:
  the latest landing scan (data_contracts/landing.py);
- ``_quality/<load id>.parquet``: the data-quality records of one run (data_contracts/health.py);
- ``_analytics/<table>.parquet``: model outputs (CLV) that the dbt source ``analytics`` reads;
- ``_tmp/<entity>-<load id>/``: ingest's staging, removed when the load ends.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from data_contracts.contract import Contract
    from data_contracts.landing import LandingFile

LOAD_LOG_SCHEMA = pl.Schema({
    "load_id": pl.Utf8(), "source": pl.Utf8(), "entity": pl.Utf8(), "source_file": pl.Utf8(),
    "export_date": pl.Date(), "sha256": pl.Utf8(), "size_bytes": pl.Int64(), "mtime_ns": pl.Int64(),
    "rows_read": pl.Int64(),
    "rows_loaded": pl.Int64(), "rows_quarantined": pl.Int64(), "unknown_columns": pl.Utf8(),
    "notes": pl.Utf8(), "supersedes_load_id": pl.Utf8(), "loaded_at": pl.Datetime("us"),
    "raw_version": pl.Utf8(),
})


class RawLayout:
    """Paths of the raw layer under ``<warehouse>/raw`` (see the module doc)."""

    def __init__(self, raw_dir: Path):
        self.root = Path(raw_dir)

    @staticmethod
    def file_name(export_date: dt.date, source_file: str) -> str:
        """``<export date>__<file name>.parquet``: the data and quarantine file of one export file
        (``source_file``: its landing-relative path or name)."""
        return f"{export_date.isoformat()}__{source_file.rsplit('/', 1)[-1]}.parquet"

    def entity_dir(self, contract: Contract) -> Path:
        return self.root / contract.source / contract.entity

    def data_file(self, contract: Contract, f: LandingFile) -> Path:
        return self.entity_dir(contract) / self.file_name(f.export_date, f.path.name)

    @property
    def quarantine_root(self) -> Path:
        return self.root / "_quarantine"

    def quarantine_dir(self, entity: str) -> Path:
        return self.quarantine_root / entity

    def quarantine_file(self, contract: Contract, f: LandingFile) -> Path:
        return self.quarantine_dir(contract.entity) / self.file_name(f.export_date, f.path.name)

    def schema_file(self, contract: Contract) -> Path:
        """Empty, typed file so every entity's glob matches even before its first export."""
        return self.entity_dir(contract) / "_schema.parquet"

    @property
    def loads_dir(self) -> Path:
        return self.root / "_loads"

    def load_log(self, entity: str) -> Path:
        return self.loads_dir / f"{entity}.parquet"

    @property
    def landing_record(self) -> Path:
        """The latest landing scan (data_contracts/landing.py ``write_landing_record``)."""
        return self.loads_dir / "_landing.json"

    @property
    def quality_dir(self) -> Path:
        return self.root / "_quality"

    @property
    def analytics_dir(self) -> Path:
        return self.root / "_analytics"

    @property
    def staging_root(self) -> Path:
        return self.root / "_tmp"

    def staging_dir(self, entity: str, load_id: str) -> Path:
        return self.staging_root / f"{entity}-{load_id}"

    def read_load_log(self, entity: str) -> pl.DataFrame:
        """The entity's load log in LOAD_LOG_SCHEMA; columns an older log lacks (mtime_ns) are null."""
        path = self.load_log(entity)
        if not path.exists():
            return LOAD_LOG_SCHEMA.to_frame()
        log = pl.read_parquet(path)
        missing = [pl.lit(None, dtype).alias(name) for name, dtype in LOAD_LOG_SCHEMA.items()
                   if name not in log.columns]
        return log.with_columns(missing).select(LOAD_LOG_SCHEMA.names()).cast(dict(LOAD_LOG_SCHEMA))
