"""Quality layer: mart contracts (Great Expectations + DuckDB SQL) and the ``data_quality``
records of the run, in one step after the dbt build.

Every mart in the dbt manifest with a suite in ``data_contracts/marts/<mart>.yml`` gets one asset
check ``mart_contract``, evaluated here for all marts in one pass (GX imported once). It fails
with severity ERROR when an ``error`` item of the suite fails, and then this step fails after
writing the run's records, so the publish (downstream) does not run; WARN when only ``warn``
items fail. (Checks declared blocking in Dagster would split the one dbt step around every
checked mart: the gate is this step instead.)
"""


import datetime as dt

import polars as pl
from dagster import (
                     AssetCheckResult,
                     AssetCheckSeverity,
                     AssetCheckSpec,
                     AssetExecutionContext,
                     AssetKey,
                     AssetSpec,
                     DagsterEventType,
                     Failure,
                     MaterializeResult,
                     MetadataValue,
                     multi_asset,
                     )

from crm_pulse.warehouse.connection import connect
from data_contracts import health
from data_contracts.contract import contracts
from data_contracts.layout import RawLayout
from data_contracts.mart_contracts import load_suites, validate_mart
from orchestration.assets.transform import dbt_models
from orchestration.keys import load_id_of, raw_key
from orchestration.metadata import plain_metadata
from orchestration.resources import PipelineSettings

MART_CHECK = "mart_contract"
DATA_QUALITY_KEY = AssetKey(["quality", "data_quality"])
MART_KEYS = {key.path[-1]: key for key in dbt_models.keys if key.path[0] == "marts"}
SUITES = {name: suite for name, suite in load_suites().items() if name in MART_KEYS}


CHECK_SPECS = [
    AssetCheckSpec(MART_CHECK, asset=MART_KEYS[mart],
                   description=f"Mart contract data_contracts/marts/{mart}.yml: {len(suite.expectations)} GX "
                   f"expectation(s) and {len(suite.sql_checks)} SQL check(s); error items stop the run before "
                   "the publish (step quality/data_quality).")
    for mart, suite in SUITES.items()]


def mart_contract_results(context, cfg, marts: list[str]) -> list[AssetCheckResult]:
    """Validate ``marts`` against their suites on one read-only connection to the working database."""
    results = []
    if not marts:
        return results
    con = connect(cfg.work_db, read_only=True)
    try:
        for mart in marts:
            suite = SUITES[mart]
            result = validate_mart(suite, con)
            blocking = bool(result.blocking_failures)
            (context.log.error if blocking else context.log.warning if result.failed else context.log.info)(
                result.summary())
            results.append(AssetCheckResult(
                asset_key=MART_KEYS[mart], check_name=MART_CHECK, passed=not result.failed,
                severity=AssetCheckSeverity.ERROR if blocking or not result.failed else AssetCheckSeverity.WARN,
                metadata={
                    "failing_count": result.failing_count,
                    "failed": len(result.failed),
                    "blocking_failures": len(result.blocking_failures),
                    "evaluated": len(result.outcomes),
                    "summary": result.summary(),
                    "outcomes": MetadataValue.json([o.as_dict() for o in result.outcomes]),
                },
            ))
    finally:
        con.close()
    return results


@multi_asset(
    name="data_quality",
    specs=[AssetSpec(
        DATA_QUALITY_KEY, deps=[*MART_KEYS.values(), *(raw_key(c.source, c.entity) for c in contracts().values())],
        group_name="quality", kinds={"parquet"},
        description="Mart contracts of every mart, then the data health of this run: every check evaluated "
        "(status, failing count) and every export file landed (rows read / loaded / quarantined), written to "
        "`[warehouse]/raw/_quality/[load id].parquet` and published as the table data_quality.")],
    check_specs=CHECK_SPECS,
    can_subset=True,
    allow_arbitrary_check_specs=True,
)
def data_quality(context: AssetExecutionContext, settings: PipelineSettings):
    cfg = settings.get()
    selected = {key.asset_key for key in context.selected_asset_check_keys if key.name == MART_CHECK}
    checks = mart_contract_results(context, cfg, [mart for mart, key in MART_KEYS.items() if key in selected])
    yield from checks
    if DATA_QUALITY_KEY in context.selected_asset_keys:
        yield _records(context, cfg, checks)
    blocked = [c.asset_key.to_user_string() for c in checks if not c.passed and c.severity == AssetCheckSeverity.ERROR]
    if blocked:
        raise Failure(description=f"mart contract failed (blocks the publish): {', '.join(blocked)}",
                      allow_retries=False)


def _records(context: AssetExecutionContext, cfg, checks: list[AssetCheckResult]) -> MaterializeResult:
    """Write the run's data_quality records: every check evaluated so far and this step's, every landed file."""
    load_id = load_id_of(context)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    records = context.instance.get_records_for_run(
        run_id=context.run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION, limit=100_000).records
    earlier = [record.event_log_entry.dagster_event.event_specific_data for record in records]
    own = {(check.asset_key, check.check_name) for check in checks}  # taken from ``checks``, not the log
    evaluations = [health.CheckEvaluation(
        asset=ev.asset_key.to_user_string(), check_name=ev.check_name, passed=ev.passed, severity=ev.severity.value,
        metadata=plain_metadata(ev.metadata))
        for ev in [*(e for e in earlier if (e.asset_key, e.check_name) not in own), *checks]]
    layout = RawLayout(cfg.raw_dir)
    logs = [layout.read_load_log(c.entity) for c in contracts().values()]
    rows = health.check_rows(evaluations, context.run.run_id, load_id, now)
    rows += health.file_rows(pl.concat(logs, how="vertical_relaxed"), context.run.run_id, load_id, now)
    path = health.write_run(layout.quality_dir, load_id, rows)
    statuses = {s: sum(1 for r in rows if r["record_type"] == "check" and r["status"] == s)
                for s in ("passed", "warning", "failed")}
    return MaterializeResult(asset_key=DATA_QUALITY_KEY, metadata={
        "file": MetadataValue.path(str(path)), "checks": len(evaluations),
        "files": sum(1 for r in rows if r["record_type"] == "file"), **{f"checks_{k}": v for k, v in statuses.items()}})

