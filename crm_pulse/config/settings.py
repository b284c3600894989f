"""All configuration in one place: environment variables -> one immutable Settings object.

Every option is documented in the README ("Configuration"). Business parameters (churn days, RFM
window ...) are dbt vars in dbt_project/dbt_project.yml; ``CRM_PULSE_DBT_VARS`` overrides them
(checked against dbt_project/vars_schema.yml, :mod:`crm_pulse.config.dbt_vars`). ``check_environment``
runs every reader's validation at once; the CLI calls it before any work. The variables are parsed by
:mod:`crm_pulse.config.env`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

from crm_pulse.config.dbt_vars import parse_dbt_vars
from crm_pulse.config.env import Problems, SettingsError, choice, date, path, text, whole
from data_contracts import privacy
from data_contracts.landing import latest_export_date
from data_contracts.readers import xlsx_limits

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENGINES = ("duckdb", "spark")
LANGS = ("en", "zh")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
_BYTES = {"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


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
    hash_key_file: Path | None = None  # CRM_PULSE_HASH_KEY_FILE (privacy.key_file); unused when CRM_PULSE_HASH_KEY is set

    @classmethod
    def from_env(cls, environ: os._Environ | dict | None = None) -> "Settings":
        """Read the environment; raises ``SettingsError`` listing every bad value (one line each)."""
        env = os.environ if environ is None else environ
        problems = Problems()
        as_of_date = problems.take(date, env, "CRM_PULSE_AS_OF")
        lang = problems.take(choice, env, "CRM_PULSE_LANG", LANGS, "en")
        dbt_vars = problems.take(parse_dbt_vars, env.get("CRM_PULSE_DBT_VARS", ""), default={})
        engine = problems.take(choice, env, "CRM_PULSE_ENGINE", ENGINES, "duckdb")
        dbt_threads = problems.take(whole, env, "CRM_PULSE_DBT_THREADS", 2, 1, 64)
        batch_rows = problems.take(whole, env, "CRM_PULSE_INGEST_BATCH_ROWS", 200_000, 1, 100_000_000)
        problems.take(privacy.check_key_settings, env)  # CRM_PULSE_HASH_KEY / CRM_PULSE_HASH_KEY_FILE
        problems.raise_any()
        return cls(
            landing_dir=path(env.get("CRM_PULSE_LANDING_DIR", "data/landing")),
            warehouse_dir=path(env.get("CRM_PULSE_WAREHOUSE_DIR", "data/warehouse")),
            as_of=as_of_date,
            lang=lang,
            dbt_threads=dbt_threads,
            ingest_batch_rows=batch_rows,
            dbt_vars=dbt_vars,
            engine=engine,
            spark_marts_dir=path(env["CRM_PULSE_SPARK_MARTS_DIR"]) if env.get("CRM_PULSE_SPARK_MARTS_DIR") else None,
            hash_key_file=privacy.key_file(env),
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
        """Environment the dbt profile and sources read (see dbt_project/profiles.yml); set for each
        dbt invocation only (orchestration/dbt_invoke.py)."""
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


def max_processes(environ=None) -> int | None:
    """``CRM_PULSE_MAX_PROCESSES``: a whole number >= 1, or None for ``auto`` (the default)."""
    env = os.environ if environ is None else environ
    raw = text(env, "CRM_PULSE_MAX_PROCESSES").lower()
    if raw in ("", "auto"):
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ValueError(f"CRM_PULSE_MAX_PROCESSES must be 'auto' or a whole number >= 1, got {raw!r}")
    return int(raw)


def duckdb_memory_limit(environ=None, default: str = "2GB") -> str:
    """``CRM_PULSE_DUCKDB_MEMORY_LIMIT``: a size of at least 100MB such as 2GB or 512MiB."""
    env = os.environ if environ is None else environ
    raw = text(env, "CRM_PULSE_DUCKDB_MEMORY_LIMIT")
    if not raw:
        return default
    match = _MEMORY.match(raw)
    if not match or float(match.group(1)) * _BYTES[match.group(2).lower()] < 100e6:
        raise ValueError("CRM_PULSE_DUCKDB_MEMORY_LIMIT must be a size of at least 100MB with a unit "
                         f"(KB, MB, GB, TB, KiB, MiB, GiB, TiB) like 2GB or 512MiB, got {raw!r}")
    return raw


def check_environment(environ=None, command: str = "run") -> list[str]:
    """Every ``CRM_PULSE_*`` problem of ``command`` (run | status | report), one line each; [] = fine.

    Runs the validation of every reader (pipeline, operations, alert channels, report options) so
    that a bad value stops the command in a second instead of failing a step minutes later.
    """
    from crm_pulse.config.alerting import channels_from_env, retries_from_env
    from crm_pulse.config.operations import OpsSettings
    from crm_pulse.config.report import check_report_options

    env = os.environ if environ is None else environ
    problems = Problems()
    problems.take(Settings.from_env, env)
    problems.take(duckdb_memory_limit, env)
    problems.take(max_processes, env)
    problems.take(OpsSettings.from_env, env)
    problems.take(channels_from_env, env)
    problems.take(retries_from_env, env)
    problems.extend(check_report_options(env))
    problems.take(_dbt_target, env)
    problems.take(whole, env, "CRM_PULSE_SPARK_SHUFFLE_PARTITIONS", 4, 1, 100_000)
    problems.take(_spark_driver_memory, env)
    problems.take(choice, env, "CRM_PULSE_SPARK_LOG_LEVEL", SPARK_LOG_LEVELS, "error",
                  " or ".join(repr(level) for level in SPARK_LOG_LEVELS))
    problems.take(xlsx_limits, env)  # CRM_PULSE_XLSX_MAX_CELLS, CRM_PULSE_XLSX_MAX_SHEET_BYTES
    landing = path(env.get("CRM_PULSE_LANDING_DIR", "data/landing"))
    if command == "run" and not landing.is_dir():
        what = "is not a folder" if landing.exists() else "does not exist"
        problems.append(f"CRM_PULSE_LANDING_DIR must be an existing folder with the exports "
                        f"(<source>/<YYYY-MM-DD>/<entity>.<ext>), got {env.get('CRM_PULSE_LANDING_DIR')!r}: "
                        f"{landing} {what}")
    warehouse = path(env.get("CRM_PULSE_WAREHOUSE_DIR", "data/warehouse"))
    if warehouse.exists() and not warehouse.is_dir():
        problems.append(f"CRM_PULSE_WAREHOUSE_DIR must be a folder (created when missing), "
                        f"got {env.get('CRM_PULSE_WAREHOUSE_DIR')!r}: {warehouse} is a file")
    key = _key_file(env)
    if key is not None and (key == warehouse or warehouse in key.parents):
        problems.append(f"CRM_PULSE_HASH_KEY_FILE must lie outside the warehouse (whoever reads the published "
                        f"data must not read the key), got {env.get('CRM_PULSE_HASH_KEY_FILE')!r}: {key} is in {warehouse}")
    return list(problems)


SPARK_LOG_LEVELS = ("all", "trace", "debug", "info", "warn", "error", "fatal", "off")
_JVM_MEMORY = re.compile(r"^[1-9][0-9]*[kmgt]?$", re.IGNORECASE)


def _spark_driver_memory(env) -> str:
    """``CRM_PULSE_SPARK_DRIVER_MEMORY``: a JVM memory size such as 2g or 512m."""
    raw = text(env, "CRM_PULSE_SPARK_DRIVER_MEMORY") or "2g"
    if not _JVM_MEMORY.match(raw):
        raise ValueError(f"CRM_PULSE_SPARK_DRIVER_MEMORY must be a JVM memory size like 2g or 512m, got {raw!r}")
    return raw


def _key_file(env) -> Path | None:
    """The contact-hash key file (README "Privacy"), None when the key comes from CRM_PULSE_HASH_KEY."""
    return None if env.get(privacy.KEY_ENV) else path(str(privacy.key_file(env)))


def _dbt_target(env) -> str | None:
    """``CRM_PULSE_DBT_TARGET``: an output of dbt_project/profiles.yml (unset = the engine's name)."""
    import yaml

    target = text(env, "CRM_PULSE_DBT_TARGET")
    profiles = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "profiles.yml").read_text(encoding="utf-8"))
    outputs = sorted(profiles["crm_pulse"]["outputs"])
    if target and target not in outputs:
        raise ValueError(f"CRM_PULSE_DBT_TARGET must be an output of dbt_project/profiles.yml "
                         f"({', '.join(outputs)}), got {target!r}")
    return target or None


def check_settings(command: str = "run", environ=None) -> None:
    """Raise ``SettingsError`` with every problem of ``check_environment``; called first by the CLI."""
    problems = check_environment(environ, command)
    if problems:
        raise SettingsError(problems)
