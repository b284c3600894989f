"""Run the refresh job in process and summarise it for a terminal."""

from __future__ import annotations

import time

from dagster import AssetCheckSeverity, DagsterEventType, DagsterInstance

from orchestration.settings import Settings


def run_refresh(settings: Settings, full_refresh: bool = False, instance: DagsterInstance | None = None) -> int:
    """Materialise every asset once; return a process exit code (0 = all steps and checks passed)."""
    from orchestration.definitions import defs

    started = time.monotonic()
    print(f"crm-pulse: landing {settings.landing_dir}")
    print(f"crm-pulse: warehouse {settings.warehouse_dir} (analysis date {settings.resolved_as_of()})")
    job = defs.resolve_job_def("refresh")
    result = job.execute_in_process(
        instance=instance or DagsterInstance.get(),
        raise_on_error=False,
        tags={"crm_pulse/full_refresh": str(full_refresh).lower()},
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
    )
    failed_checks = []
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR:
                failed_checks.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    failed_steps = [e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    elapsed = time.monotonic() - started
    print()
    if result.success and not failed_checks:
        print(f"crm-pulse: refresh succeeded in {elapsed:.1f}s (run {result.run_id})")
        print(f"  serving database: {settings.serving_db}")
        print(f"  Parquet marts:    {settings.marts_dir}")
        return 0
    print(f"crm-pulse: refresh FAILED in {elapsed:.1f}s (run {result.run_id}); published data left unchanged"
          if not result.success else f"crm-pulse: refresh finished with failed checks (run {result.run_id})")
    for step in failed_steps:
        failure = next(e for e in result.all_events if e.step_key == step and e.event_type == DagsterEventType.STEP_FAILURE)
        error = failure.event_specific_data.error
        message = (error.message or "").strip().splitlines()
        print(f"  failed step {step}: {message[0] if message else error.cls_name}")
    for check in failed_checks:
        print(f"  failed check {check}")
    return 1
