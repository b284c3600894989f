"""Export freshness: one external asset per source system with a non-blocking freshness check.

The rule and the clock are in crm_pulse/freshness.py; the settings in crm_pulse/config/operations.py.
"""


from dagster import (
                     AssetCheckExecutionContext,
                     AssetCheckResult,
                     AssetCheckSeverity,
                     AssetKey,
                     AssetSpec,
                     asset_check,
                     )

from crm_pulse.config.operations import SOURCES, OpsSettings
from crm_pulse.freshness import evaluate, resolve_clock
from orchestration.keys import CLOCK_TAG, FRESHNESS_CHECK
from orchestration.resources import PipelineSettings

SOURCE_TITLES = {"crm": "CRM", "erp": "ERP", "ticketing": "ticketing system"}


def exports_key(source: str) -> AssetKey:
    return AssetKey(["exports", source])


export_specs = [
    AssetSpec(
        exports_key(source),
        group_name="ingest",
        kinds={"file"},
        description=f"Daily exports of the {SOURCE_TITLES[source]}: `<landing>/{source}/<YYYY-MM-DD>/` "
        "(written by the source system, not by this pipeline).",
    )
    for source in SOURCES
]


def build_freshness_check(source: str):
    @asset_check(
        asset=exports_key(source),
        name=FRESHNESS_CHECK,
        blocking=False,
        description=f"Fails (warning, non-blocking) when the {SOURCE_TITLES[source]}'s export due by "
        "CRM_PULSE_FRESHNESS_EXPECTED_AT + CRM_PULSE_FRESHNESS_GRACE_HOURS has not landed "
        "(see README, Operations > Freshness).",
    )
    def _freshness(context: AssetCheckExecutionContext, settings: PipelineSettings) -> AssetCheckResult:
        ops = OpsSettings.from_env()
        cfg = settings.get()
        clock = resolve_clock(ops, cfg, context.run.tags.get(CLOCK_TAG))
        result = evaluate(source, cfg.landing_dir, ops, clock)
        (context.log.info if result.fresh else context.log.warning)(result.describe())
        return AssetCheckResult(passed=result.fresh, severity=AssetCheckSeverity.WARN, metadata=result.metadata())

    return _freshness


freshness_checks = [build_freshness_check(source) for source in SOURCES]
