"""Dagster resources: pipeline settings and the dbt CLI."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource

from orchestration.project import dbt_project
from orchestration.settings import Settings


class PipelineSettings(ConfigurableResource):
    """Gives assets the resolved :class:`Settings` (read from the environment at run time)."""

    def get(self) -> Settings:
        return Settings.from_env()


def dbt_executable() -> str:
    """The dbt installed beside this interpreter (the venv is not always on PATH)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def build_resources() -> dict:
    return {"settings": PipelineSettings(),
            "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())}
