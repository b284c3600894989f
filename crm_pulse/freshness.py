"""Export freshness: did each source deliver the export that is due by now?

Every source (crm, erp, ticketing) is expected to drop one export folder per day,
``<landing>/<source>/<YYYY-MM-DD>/``, by ``expected_at`` (time of day, schedule time zone). The
export of day D is overdue once the clock passes D + expected_at + grace_hours. A source is stale
when its newest export date (a date folder holding at least one export file) is older than the
newest day whose export is overdue.

The clock (``CRM_PULSE_FRESHNESS_CLOCK``):

- ``auto`` (default): a scheduled run measures against its scheduled time (run tag
  ``crm_pulse/freshness_clock``, passed in as ``scheduled``); any other run (``crm-pulse run``, the
  file sensor, the UI) against the end of the analysis date (``CRM_PULSE_AS_OF``, else the newest
  export date), so historical or demo exports do not fail for being old, while a source lagging
  behind the others still does;
- ``now``: the wall clock (use it when ``crm-pulse run`` is started by an external scheduler);
- ``as_of``: always the end of the analysis date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from crm_pulse.config.operations import SOURCES, OpsSettings, SourceFreshness
from crm_pulse.config.settings import Settings
from data_contracts.landing import latest_export_date



@dataclass(frozen=True)
class Clock:
    at: dt.datetime  # time zone aware
    basis: str  # 'schedule' | 'now' | 'as_of'

    def describe(self) -> str:
        label = {"schedule": "scheduled time", "now": "wall clock", "as_of": "end of analysis date"}[self.basis]
        return f"{self.at.isoformat(timespec='minutes')} ({label})"


@dataclass(frozen=True)
class FreshnessResult:
    source: str
    newest_export: dt.date | None
    due_date: dt.date  # the newest export date that must exist at the clock
    clock: Clock
    policy: SourceFreshness

    @property
    def fresh(self) -> bool:
        return self.newest_export is not None and self.newest_export >= self.due_date

    @property
    def missing_days(self) -> int:
        """Overdue daily exports (0 when fresh)."""
        if self.fresh:
            return 0
        if self.newest_export is None:
            return 1
        return (self.due_date - self.newest_export).days

    @property
    def hours_overdue(self) -> float:
        """Hours since the first missed export's deadline (0 when fresh)."""
        if self.fresh or self.newest_export is None:
            return 0.0
        return max(0.0, (self.clock.at - self.deadline(self.newest_export + dt.timedelta(days=1))).total_seconds() / 3600)

    def deadline(self, day: dt.date) -> dt.datetime:
        start = dt.datetime.combine(day, self.policy.expected_at, tzinfo=self.clock.at.tzinfo)
        return start + dt.timedelta(hours=self.policy.grace_hours)

    def describe(self) -> str:
        newest = self.newest_export.isoformat() if self.newest_export else "none"
        if self.fresh:
            return f"{self.source}: fresh, newest export {newest} (due {self.due_date}, clock {self.clock.describe()})"
        if self.newest_export is None:
            return f"{self.source}: no export at all under <landing>/{self.source}/ (clock {self.clock.describe()})"
        return (f"{self.source}: STALE, newest export {newest}, export of {self.due_date} was due by "
                f"{self.deadline(self.due_date).isoformat(timespec='minutes')}; {self.missing_days} daily export(s) "
                f"missing, {self.hours_overdue:.1f} h overdue (clock {self.clock.describe()})")

    def metadata(self) -> dict:
        return {
            "source": self.source,
            "newest_export": self.newest_export.isoformat() if self.newest_export else "none",
            "due_export_date": self.due_date.isoformat(),
            "deadline": self.deadline(self.due_date).isoformat(timespec="minutes"),
            "clock": self.clock.describe(),
            "expected_at": self.policy.expected_at.strftime("%H:%M"),
            "grace_hours": self.policy.grace_hours,
            "failing_count": self.missing_days,
            "hours_overdue": round(self.hours_overdue, 1),
            "summary": self.describe(),
        }


def resolve_clock(ops: OpsSettings, settings: Settings, scheduled: str | None = None,
                  now: dt.datetime | None = None) -> Clock:
    """The clock the checks measure against; ``scheduled``: a scheduled run's time (ISO, its run tag)."""
    tz = ops.tz
    if ops.freshness_clock == "now":
        return Clock((now or dt.datetime.now(dt.timezone.utc)).astimezone(tz), "now")
    if ops.freshness_clock == "auto" and scheduled:
        return Clock(dt.datetime.fromisoformat(scheduled).astimezone(tz), "schedule")
    as_of = settings.resolved_as_of()
    return Clock(dt.datetime.combine(as_of, dt.time(23, 59, 59), tzinfo=tz), "as_of")


def evaluate(source: str, landing_dir: Path, ops: OpsSettings, clock: Clock) -> FreshnessResult:
    policy = ops.freshness[source]
    shifted = clock.at - dt.timedelta(hours=policy.grace_hours,
                                      minutes=policy.expected_at.hour * 60 + policy.expected_at.minute)
    return FreshnessResult(source, latest_export_date(landing_dir, source), shifted.date(), clock, policy)


def evaluate_all(settings: Settings, ops: OpsSettings, scheduled: str | None = None,
                 now: dt.datetime | None = None) -> list[FreshnessResult]:
    clock = resolve_clock(ops, settings, scheduled, now)
    return [evaluate(source, settings.landing_dir, ops, clock) for source in SOURCES]
