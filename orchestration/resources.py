"""Dagster resources: pipeline settings and the dbt CLI."""

from __future__ import annotations

import sys
from functools import cached_property
from importlib.metadata import version
from pathlib import Path

from packaging.version import Version

from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource

from orchestration.project import dbt_executable, dbt_project
from orchestration.settings import Settings


class PipelineSettings(ConfigurableResource):
    """Gives assets the resolved :class:`Settings` (read from the environment at run time)."""

    def get(self) -> Settings:
        return Settings.from_env()


class LocalDbtCliResource(DbtCliResource):
    """The dbt CLI of this environment. dagster-dbt learns the CLI's version by running
    ``dbt --version`` once per process, i.e. in every dbt step process (~5 s: it imports dbt and
    asks PyPI for the latest release); the dbt beside this interpreter is the installed dbt-core."""

    @cached_property
    def _cli_version(self) -> Version:
        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            return Version(version("dbt-core"))
        return super()._cli_version


def build_resources() -> dict:
    return {"settings": PipelineSettings(),
            "dbt": LocalDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())}
