"""Dagster resources: pipeline settings."""

from __future__ import annotations

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from crm_pulse.config.settings import Settings


class PipelineSettings(ConfigurableResource):
    """Gives assets the run's :class:`Settings`, read from the environment once per run.

    Dagster sets a resource up (``setup_for_execution``) once per run in each process that executes
    its steps, on a copy of this object: the settings are read there, so every asset and check of
    a run sees the same values and a later run in the same process (``crm-pulse run``, tests) reads
    the environment again. The environment is the one the run executes in: the ``crm-pulse run``
    process (whose settings the CLI checked), or the run worker of ``dagster dev``, which inherits
    the code server's. No Settings are passed as resource config: a run launched from the UI or a
    schedule has none to pass.
    """

    _settings: Settings | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._settings = Settings.from_env()

    def get(self) -> Settings:
        """The run's settings (read now when used outside a run)."""
        return self._settings if self._settings is not None else Settings.from_env()


def build_resources() -> dict:
    return {"settings": PipelineSettings()}
