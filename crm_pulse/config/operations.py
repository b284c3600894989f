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

SOURCES = ("crm", "erp", "ticketing")
CLOCK_MODES = ("auto", "now", "as_of")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


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
        from crm_pulse.config.settings import Problems

        env = os.environ if environ is None else environ
        problems = Problems()
        cron = problems.take(_cron, env, default="0 6 * * *")
        timezone = problems.take(_timezone, env, default="Asia/Shanghai")
        automation = problems.take(_choice, env, "CRM_PULSE_AUTOMATION", ("on", "off"), "on")
        clock = problems.take(_choice, env, "CRM_PULSE_FRESHNESS_CLOCK", CLOCK_MODES, "auto")
        url = _get(env, "CRM_PULSE_DAGSTER_UI_URL")
        if url and not re.match(r"^https?://[^/\s]+", url):
            problems.append(f"CRM_PULSE_DAGSTER_UI_URL must be an http:// or https:// URL with a host, got {url!r}")
        default_at = problems.take(_time, env, "CRM_PULSE_FRESHNESS_EXPECTED_AT", dt.time(5, 0), default=dt.time(5, 0))
        default_grace = problems.take(_hours, env, "CRM_PULSE_FRESHNESS_GRACE_HOURS", 1.0, default=1.0)
        freshness = {
            s: SourceFreshness(
                s,
                problems.take(_time, env, f"CRM_PULSE_FRESHNESS_EXPECTED_AT_{s.upper()}", default_at, default=default_at),
                problems.take(_hours, env, f"CRM_PULSE_FRESHNESS_GRACE_HOURS_{s.upper()}", default_grace,
                              default=default_grace),
            )
            for s in SOURCES
        }
        interval = problems.take(_int, env, "CRM_PULSE_SENSOR_INTERVAL_SECONDS", 60, 5, default=60)
        settle = problems.take(_int, env, "CRM_PULSE_SENSOR_SETTLE_SECONDS", 30, 0, default=30)
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
    cron = _get(env, "CRM_PULSE_SCHEDULE_CRON") or "0 6 * * *"
    if len(cron.split()) != 5:
        raise ValueError(f"CRM_PULSE_SCHEDULE_CRON must be a 5-field cron expression like '0 6 * * *', got {cron!r}")
    return cron


def _timezone(env: Mapping[str, str]) -> str:
    timezone = _get(env, "CRM_PULSE_SCHEDULE_TIMEZONE") or "Asia/Shanghai"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"CRM_PULSE_SCHEDULE_TIMEZONE must be an IANA time zone like Asia/Shanghai, "
                         f"got {timezone!r}") from None
    return timezone


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = (_get(env, name) or default).lower()
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {_get(env, name)!r}")
    return value


def _get(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = _get(env, name)
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _hours(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(env, name)
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number of hours, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


def _time(env: Mapping[str, str], name: str, default: dt.time) -> dt.time:
    raw = _get(env, name)
    if not raw:
        return default
    match = _TIME.match(raw)
    if not match:
        raise ValueError(f"{name} must be a time of day like 05:00, got {raw!r}")
    return dt.time(int(match.group(1)), int(match.group(2)))
