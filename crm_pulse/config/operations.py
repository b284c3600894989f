"""Operations configuration: schedule, sensors, export freshness, alert links (environment variables).

Documented in the README ("Operations"). Pipeline locations and business parameters are in
:mod:`crm_pulse.config.settings`; alert channels in :mod:`crm_pulse.config.alerting`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from typing import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_pulse.config.env import Problems, choice, hours, integer, text, time_of_day

SOURCES = ("crm", "erp", "ticketing")
CLOCK_MODES = ("auto", "now", "as_of")


@dataclass(frozen=True)
class SourceFreshness:
    """When one source's daily export is due: ``expected_at`` (time of day) + ``grace_hours``."""

    source: str
    expected_at: dt.time
    grace_hours: float


@dataclass(frozen=True)
class OpsSettings:
    schedule_cron: str = "0 6 * * *"
    timezone: str = "Asia/Shanghai"
    automation_running: bool = True
    sensor_interval_seconds: int = 60
    settle_seconds: int = 30
    freshness_clock: str = "auto"
    freshness: dict[str, SourceFreshness] = field(default_factory=dict)
    dagster_ui_url: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def run_link(self, run_id: str | None) -> str:
        """How to look further at a run: the Dagster UI page when its URL is configured."""
        parts = ["crm-pulse status"]
        if run_id and self.dagster_ui_url:
            parts.append(f"{self.dagster_ui_url.rstrip('/')}/runs/{run_id}")
        elif run_id:
            parts.append(f"Dagster UI (make dev) > Runs > {run_id}")
        return "; ".join(parts)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "OpsSettings":
        """Read the environment; raises ``SettingsError`` listing every bad value (one line each)."""
        env = os.environ if environ is None else environ
        problems = Problems()
        cron = problems.take(_cron, env, default="0 6 * * *")
        timezone = problems.take(_timezone, env, default="Asia/Shanghai")
        automation = problems.take(_one_of, env, "CRM_PULSE_AUTOMATION", ("on", "off"), "on")
        clock = problems.take(_one_of, env, "CRM_PULSE_FRESHNESS_CLOCK", CLOCK_MODES, "auto")
        url = text(env, "CRM_PULSE_DAGSTER_UI_URL")
        if url and not re.match(r"^https?://[^/\s]+", url):
            problems.append(f"CRM_PULSE_DAGSTER_UI_URL must be an http:// or https:// URL with a host, got {url!r}")
        default_at = problems.take(time_of_day, env, "CRM_PULSE_FRESHNESS_EXPECTED_AT", dt.time(5, 0),
                                   default=dt.time(5, 0))
        default_grace = problems.take(hours, env, "CRM_PULSE_FRESHNESS_GRACE_HOURS", 1.0, default=1.0)
        freshness = {
            s: SourceFreshness(
                s,
                problems.take(time_of_day, env, f"CRM_PULSE_FRESHNESS_EXPECTED_AT_{s.upper()}", default_at,
                              default=default_at),
                problems.take(hours, env, f"CRM_PULSE_FRESHNESS_GRACE_HOURS_{s.upper()}", default_grace,
                              default=default_grace),
            )
            for s in SOURCES
        }
        interval = problems.take(integer, env, "CRM_PULSE_SENSOR_INTERVAL_SECONDS", 60, 5, default=60)
        settle = problems.take(integer, env, "CRM_PULSE_SENSOR_SETTLE_SECONDS", 30, 0, default=30)
        problems.raise_any()
        return cls(
            schedule_cron=cron,
            timezone=timezone,
            automation_running=automation == "on",
            sensor_interval_seconds=interval,
            settle_seconds=settle,
            freshness_clock=clock,
            freshness=freshness,
            dagster_ui_url=url,
        )


def _cron(env: Mapping[str, str]) -> str:
    cron = text(env, "CRM_PULSE_SCHEDULE_CRON") or "0 6 * * *"
    if len(cron.split()) != 5:
        raise ValueError(f"CRM_PULSE_SCHEDULE_CRON must be a 5-field cron expression like '0 6 * * *', got {cron!r}")
    return cron


def _timezone(env: Mapping[str, str]) -> str:
    timezone = text(env, "CRM_PULSE_SCHEDULE_TIMEZONE") or "Asia/Shanghai"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"CRM_PULSE_SCHEDULE_TIMEZONE must be an IANA time zone like Asia/Shanghai, "
                         f"got {timezone!r}") from None
    return timezone


def _one_of(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    """:func:`~crm_pulse.config.env.choice`, its error worded "must be one of a, b"."""
    return choice(env, name, choices, default, accepted="one of " + ", ".join(choices))
