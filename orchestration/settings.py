"""All configuration in one place: environment variables -> one immutable Settings object.

Every option is documented in the README ("Configuration"). Business parameters (churn days, RFM
window ...) are dbt vars in dbt_project/dbt_project.yml; ``CRM_PULSE_DBT_VARS`` overrides them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from data_contracts.landing import latest_export_date

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class Settings:
    """Resolved pipeline configuration."""

    landing_dir: Path
    warehouse_dir: Path
    as_of: dt.date | None  # None = latest export date in the landing folder
    lang: str
    dbt_threads: int
    ingest_batch_rows: int
    dbt_vars: dict
    engine: str = "duckdb"  # where dbt builds: duckdb (work.duckdb) or spark (dbt-spark; README "Scaling out")
    spark_marts_dir: Path | None = None  # Spark-built marts as seen here; None = <warehouse>/spark/warehouse/marts.db

    @classmethod
    def from_env(cls, environ: os._Environ | dict | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        as_of = env.get("CRM_PULSE_AS_OF", "").strip()
        try:
            as_of_date = dt.date.fromisoformat(as_of) if as_of else None
        except ValueError as exc:
            raise ValueError(f"CRM_PULSE_AS_OF must be a date like 2025-12-31, got {as_of!r}") from exc
        lang = env.get("CRM_PULSE_LANG", "en").strip().lower()
        if lang not in ("en", "zh"):
            raise ValueError(f"CRM_PULSE_LANG must be 'en' or 'zh', got {lang!r}")
        try:
            dbt_vars = json.loads(env.get("CRM_PULSE_DBT_VARS", "") or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"CRM_PULSE_DBT_VARS must be a JSON object: {exc}") from exc
        engine = env.get("CRM_PULSE_ENGINE", "duckdb").strip().lower() or "duckdb"
        if engine not in ENGINES:
            raise ValueError(f"CRM_PULSE_ENGINE must be one of {', '.join(ENGINES)}, got {engine!r}")
        return cls(
            landing_dir=_path(env.get("CRM_PULSE_LANDING_DIR", "data/landing")),
            warehouse_dir=_path(env.get("CRM_PULSE_WAREHOUSE_DIR", "data/warehouse")),
            as_of=as_of_date,
            lang=lang,
            dbt_threads=int(env.get("CRM_PULSE_DBT_THREADS", "2")),
            ingest_batch_rows=int(env.get("CRM_PULSE_INGEST_BATCH_ROWS", "200000")),
            dbt_vars=dbt_vars,
            engine=engine,
            spark_marts_dir=_path(env["CRM_PULSE_SPARK_MARTS_DIR"]) if env.get("CRM_PULSE_SPARK_MARTS_DIR") else None,
        )

    # --- derived locations -------------------------------------------------------------------
    @property
    def raw_dir(self) -> Path:
        return self.warehouse_dir / "raw"

    @property
    def work_db(self) -> Path:
        """Write-audit database dbt builds into; never opened by BI tools."""
        return self.warehouse_dir / "work.duckdb"

    @property
    def serving_db(self) -> Path:
        """Published database for BI tools (replaced atomically)."""
        return self.warehouse_dir / "serving.duckdb"

    @property
    def marts_dir(self) -> Path:
        return self.warehouse_dir / "marts"

    @property
    def spark_home(self) -> Path:
        """Metastore and table storage of the local Spark session (engine spark)."""
        return self.warehouse_dir / "spark"

    @property
    def spark_marts(self) -> Path:
        """Folder with one Parquet folder per Spark-built mart (engine spark)."""
        return self.spark_marts_dir or self.spark_home / "warehouse" / "marts.db"

    @property
    def reports_dir(self) -> Path:
        return self.warehouse_dir / "reports"

    def resolved_as_of(self) -> dt.date:
        """The analysis date: configured, else the latest export date, else today."""
        return self.as_of or latest_export_date(self.landing_dir) or dt.date.today()

    def dbt_environment(self) -> dict[str, str]:
        """Environment the dbt profile and sources read (see dbt_project/profiles.yml)."""
        return {
            "CRM_PULSE_RAW_DIR": str(self.raw_dir),
            "CRM_PULSE_WORK_DB": str(self.work_db),
            "CRM_PULSE_DBT_THREADS": str(self.dbt_threads),
            "CRM_PULSE_ENGINE": self.engine,  # profiles.yml: the target, unless CRM_PULSE_DBT_TARGET is set
            "CRM_PULSE_SPARK_DIR": str(self.spark_home),
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }

    def dbt_run_vars(self) -> dict:
        """dbt ``--vars``: business parameters and the analysis date (a change re-parses the project)."""
        return {**self.dbt_vars, "as_of": self.resolved_as_of().isoformat()}

    @staticmethod
    def dbt_run_environment(load_id: str, refreshed_at: dt.datetime) -> dict[str, str]:
        """Values that change with every run, passed to dbt as environment variables (macro run_value)."""
        return {"CRM_PULSE_LOAD_ID": load_id, "CRM_PULSE_REFRESHED_AT": refreshed_at.strftime("%Y-%m-%d %H:%M:%S")}


def _path(value: str) -> Path:
    return Path(value).expanduser().resolve()


def apply_environment(settings: Settings) -> None:
    """Export the dbt environment into this process (dbt subprocesses inherit it)."""
    os.environ.update(settings.dbt_environment())
