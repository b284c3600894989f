"""Fingerprint of a refresh's inputs: a refresh whose inputs equal the last publish's does nothing.

What counts (README "Operations" > "Incremental loads and builds"):

* every landed export file (relative path, size and sha256 of its content; the sha256 of a file
  whose size and mtime match the previous record is reused, as the ingest skip trusts them too,
  so only new or touched files are read, and a touched file with the same content counts as
  unchanged);
* the analysis date, the dbt run vars and the engine;
* the dbt project (models, macros, tests, seeds, dbt_project.yml, vars_schema.yml, profiles.yml),
  the contract files (data_contracts/**/*.yml) and the Python code of orchestration/, crm_pulse/ and
  data_contracts/ (and the report template);
* the report options (language, period, PDF), the contact-hash key's public id (never the key)
  and the installed versions of dbt-core, dbt-duckdb, duckdb, dagster and polars;
* the freshness expectations (published in data_quality), and with ``CRM_PULSE_FRESHNESS_CLOCK=now``
  today's date: an external daily scheduler still gets one real refresh (and its freshness alerts)
  a day.

``<warehouse>/serving.fingerprint.json`` holds the fingerprint of the last successful publish;
``<warehouse>/serving.last_check.json`` the last refresh that found nothing changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from importlib import metadata
from pathlib import Path

from crm_pulse.config.settings import PROJECT_ROOT, Settings
from data_contracts import landing, privacy
from data_contracts.contract import contracts
from data_contracts.files import replacing

PACKAGES = ("dbt-core", "dbt-duckdb", "duckdb", "dagster", "polars")
_DBT = PROJECT_ROOT / "dbt_project"
_CODE = [(_DBT, ("models/**/*", "macros/**/*", "tests/**/*", "seeds/**/*", "dbt_project.yml", "vars_schema.yml",
                 "profiles.yml")),
         (PROJECT_ROOT / "data_contracts", ("**/*.yml", "**/*.py")),
         (PROJECT_ROOT / "orchestration", ("**/*.py",)),
         (PROJECT_ROOT / "crm_pulse", ("**/*.py", "report/templates/**/*"))]


def record_path(settings: Settings) -> Path:
    return settings.warehouse_dir / "serving.fingerprint.json"


def check_path(settings: Settings) -> Path:
    return settings.warehouse_dir / "serving.last_check.json"


def read_json(path: Path) -> dict | None:
    """A record, or None when missing or unreadable (then the refresh simply does the work)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, record: dict) -> None:
    """Write atomically (:func:`data_contracts.files.replacing`)."""
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")


def file_stamp(path: Path) -> dict | None:
    """Size and mtime_ns of ``path`` (None if missing): a publish by any other run changes them."""
    try:
        st = path.stat()
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def landed_files(settings: Settings, previous: dict | None) -> dict[str, dict]:
    """Every export file: size, mtime_ns, sha256 (reused from ``previous`` when size and mtime match)."""
    known = (previous or {}).get("files", {})
    files = {}
    for f in landing.scan(settings.landing_dir).exports:
        st = f.path.stat()
        old = known.get(f.relative)
        same = old and old.get("size") == st.st_size and old.get("mtime_ns") == st.st_mtime_ns
        files[f.relative] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                             "sha256": old["sha256"] if same else f.sha256()}
    return files


def compute(settings: Settings, previous: dict | None = None) -> tuple[str, dict[str, dict]]:
    """The fingerprint of the refresh's inputs and the landed files it covers."""
    from crm_pulse.config.report import ReportOptions

    files = landed_files(settings, previous)
    try:
        options = ReportOptions.from_env(settings)
        report = [options.lang, options.period, options.pdf]
    except ValueError as err:  # the run itself reports a bad option
        report = [f"invalid: {err}"]
    parts = {
        "files": {name: [f["size"], f["sha256"]] for name, f in files.items()},  # content, not mtime
        "as_of": settings.resolved_as_of().isoformat(),
        "dbt_vars": settings.dbt_run_vars(),
        "engine": settings.engine,
        "code": _code_digest(),
        "report": report,
        "key_id": _key_id(settings),
        "packages": {name: _version(name) for name in PACKAGES},
        "freshness": _freshness_inputs(),
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest(), files


def _freshness_inputs() -> list:
    """Freshness expectations (their results are published in data_quality); with the wall clock
    (``CRM_PULSE_FRESHNESS_CLOCK=now``) also today's date, so a daily refresh still re-checks them."""
    from crm_pulse.config.operations import OpsSettings

    try:
        ops = OpsSettings.from_env()
    except ValueError as err:  # the run itself reports it
        return [f"invalid: {err}"]
    today = dt.datetime.now(ops.tz).date().isoformat() if ops.freshness_clock == "now" else None
    return [ops.freshness_clock, ops.timezone, repr(sorted(ops.freshness.items())), today]


def _code_digest() -> str:
    digest = hashlib.sha256()
    for root, patterns in _CODE:
        paths = sorted({p for pattern in patterns for p in root.glob(pattern)
                        if p.is_file() and "__pycache__" not in p.parts})
        for path in paths:
            digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _key_id(settings: Settings) -> str | None:
    if not any(c.pii for contract in contracts().values() for c in contract.columns):
        return None
    try:
        return privacy.key_id(privacy.hash_key(settings.hash_key_file))
    except privacy.HashKeyError as err:  # the run fails with this message; never matches a record
        return f"unavailable: {err}"


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
