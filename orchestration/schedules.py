"""The daily refresh schedule (cron and time zone from CRM_PULSE_SCHEDULE_CRON / _TIMEZONE)."""

import datetime

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from crm_pulse.config.operations import OpsSettings
from crm_pulse.config.settings import Settings
from orchestration.jobs import refresh_in_progress, refresh_job
from orchestration.keys import CLOCK_TAG, TRIGGER_TAG
from orchestration.recovery import recover

OPS = OpsSettings.from_env()


@schedule(
    name="daily_refresh",
    job=refresh_job,
    cron_schedule=OPS.schedule_cron,
    execution_timezone=OPS.timezone,
    default_status=DefaultScheduleStatus.RUNNING if OPS.automation_running else DefaultScheduleStatus.STOPPED,
    description=f"Refresh everything at '{OPS.schedule_cron}' ({OPS.timezone}); the export-freshness checks "
    "measure against the scheduled time. Skipped while another refresh is queued or running; a run whose "
    "process died is marked failed (and alerted) first.",
)
def daily_refresh(context: ScheduleEvaluationContext):
    recover(context.instance, Settings.from_env(), logger=context.log)  # a crashed run must not block every tick
    running = refresh_in_progress(context.instance)
    if running:
        return SkipReason(f"refresh run {running} is still queued or running")
    scheduled = context.scheduled_execution_time or datetime.datetime.now(datetime.timezone.utc)
    return RunRequest(tags={TRIGGER_TAG: "schedule", CLOCK_TAG: scheduled.isoformat()})


schedules = [daily_refresh]
