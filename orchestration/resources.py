"""Dagster resources: pipeline settings and the dbt CLI."""

from __future__ import annotations

from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource

from orchestration.project import dbt_project
from orchestration.settings import Settings


class PipelineSettings(ConfigurableResource):
    """Gives assets the resolved :class:`Settings` (read from the environment at run time)."""

    def get(self) -> Settings:
        return Settings.from_env()


def build_resources() -> dict:
    return {"settings": PipelineSettings(), "dbt": DbtCliResource(project_dir=dbt_project)}
