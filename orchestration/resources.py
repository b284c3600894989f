"""Dagster resources: pipeline settings."""

from __future__ import annotations

from dagster import ConfigurableResource

from crm_pulse.config.settings import Settings


class PipelineSettings(ConfigurableResource):
    """Gives assets the resolved :class:`Settings` (read from the environment at run time)."""

    def get(self) -> Settings:
        return Settings.from_env()


def build_resources() -> dict:
    return {"settings": PipelineSettings()}
