"""Run the real pipeline from tests: generated exports, real Dagster, dbt and DuckDB."""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from dagster import DagsterInstance

from crm_pulse.config.env import temporary
from crm_pulse.config.settings import Settings
from orchestration.instance_storage import ensure_dagster_home
from orchestration.runner import run_refresh

TEST_CUSTOMERS = 250
TEST_SEED = 7

# The contact-hash key (README "Privacy") of every test lives in a temporary folder, never in the
# user's config dir; a developer's own CRM_PULSE_HASH_KEY is not used either.
_KEY_DIR = tempfile.mkdtemp(prefix="crm-pulse-test-key-")
atexit.register(shutil.rmtree, _KEY_DIR, True)
os.environ["CRM_PULSE_HASH_KEY_FILE"] = str(Path(_KEY_DIR) / "hash.key")
os.environ.pop("CRM_PULSE_HASH_KEY", None)


def environment(**values: str):
    """Temporarily set environment variables (the pipeline reads its configuration from there)."""
    return temporary({k: str(v) for k, v in values.items()})


@dataclass
class PipelineRun:
    landing: Path
    warehouse: Path
    exit_code: int
    output: str
    env: dict = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        with environment(**self.env):
            return Settings.from_env()

    @property
    def serving_db(self) -> Path:
        return self.warehouse / "serving.duckdb"

    def query(self, sql: str):
        """Run ``sql`` on the published serving database (read-only) and return a pandas frame."""
        con = duckdb.connect(str(self.serving_db), read_only=True)
        try:
            return con.execute(sql).df()
        finally:
            con.close()


def run_pipeline(landing: Path, warehouse: Path, full_refresh: bool = False,
                 instance: DagsterInstance | None = None, **extra_env: str) -> PipelineRun:
    """Materialise every asset in process against ``landing`` / ``warehouse``; capture the summary.
    The report's PDF (headless Chromium, seconds per run) is off unless asked for: the demo run
    prints it (tests/conftest.py) and tests/test_report.py checks it."""
    env = {"CRM_PULSE_LANDING_DIR": str(landing), "CRM_PULSE_WAREHOUSE_DIR": str(warehouse),
           "CRM_PULSE_REPORT_PDF": "off", **extra_env}
    buffer = io.StringIO()
    with environment(**env):
        settings = Settings.from_env()
        home = ensure_dagster_home(warehouse / "dagster_home")  # as crm-pulse creates it (pooled event log)
        owned = instance is None
        instance = instance or DagsterInstance.local_temp(str(home))
        try:
            with contextlib.redirect_stdout(buffer):
                code = run_refresh(settings, full_refresh=full_refresh, instance=instance)
        finally:
            if owned:
                instance.dispose()
    return PipelineRun(landing, warehouse, code, buffer.getvalue(), env)
