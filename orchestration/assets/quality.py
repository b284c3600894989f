"""Quality layer: mart contracts (Great Expectations + DuckDB SQL) as blocking asset checks, and the
``data_quality`` records of the run.

Every mart in the dbt manifest with a suite in ``data_contracts/marts/<mart>.yml`` gets one asset
check ``mart_contract``. It fails with severity ERROR when an ``error`` item of the suite fails
(blocking: the publish does not run) and with WARN when only ``warn`` items fail.
"""


import datetime as dt
import json

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    DagsterEventType,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from data_contracts import health
from data_contracts.contract import contracts
from data_contracts.ingest import RawLayout
from data_contracts.mart_contracts import load_suites, validate_mart
from orchestration.assets.ingest import load_id_of, raw_key
from orchestration.assets.transform import dbt_models
from orchestration.resources import PipelineSettings
from orchestration.serving import connect

MART_CHECK = "mart_contract"
DATA_QUALITY_KEY = AssetKey(["quality", "data_quality"])
MART_KEYS = {key.path[-1]: key for key in dbt_models.keys if key.path[0] == "marts"}
SUITES = {name: suite for name, suite in load_suites().items() if name in MART_KEYS}


def build_mart_check(mart: str):
    """One blocking check per mart (separate steps: marts sit on both sides of Python assets such as
    CLV, so a single step checking all marts could form a cycle). SQL checks may read other marts;
    no ``additional_deps`` are declared for them (blocking checks with cross-deps would gate each
    other in a cycle), so put a cross-mart check on the mart built last of the ones it reads."""
    suite = SUITES[mart]

    @asset_check(
        asset=MART_KEYS[mart], name=MART_CHECK, blocking=True,
        description=f"Mart contract data_contracts/marts/{mart}.yml: {len(suite.expectations)} GX expectation(s) "
        f"and {len(suite.sql_checks)} SQL check(s); error items block the publish.",
    )
    def _check(context: AssetCheckExecutionContext, settings: PipelineSettings) -> AssetCheckResult:
        con = connect(settings.get().work_db, read_only=True)
        try:
            result = validate_mart(suite, con)
        finally:
            con.close()
        blocking = bool(result.blocking_failures)
        (context.log.error if blocking else context.log.warning if result.failed else context.log.info)(
            result.summary())
        return AssetCheckResult(
            passed=not result.failed,
            severity=AssetCheckSeverity.ERROR if blocking or not result.failed else AssetCheckSeverity.WARN,
            metadata={
                "failing_count": result.failing_count,
                "failed": len(result.failed),
                "blocking_failures": len(result.blocking_failures),
                "evaluated": len(result.outcomes),
                "summary": result.summary(),
                "outcomes": MetadataValue.json([o.as_dict() for o in result.outcomes]),
            },
        )

    return _check


mart_checks = [build_mart_check(mart) for mart in SUITES]


@asset(
    key=DATA_QUALITY_KEY,
    deps=[*MART_KEYS.values(), *(raw_key(c) for c in contracts().values())],
    group_name="quality",
    kinds={"parquet"},
    description="Data health of this run: every check evaluated (status, failing count) and every export "
    "file landed (rows read / loaded / quarantined), written to <warehouse>/raw/_quality/<load id>.parquet "
    "and published as the table data_quality.",
)
def data_quality(context: AssetExecutionContext, settings: PipelineSettings) -> MaterializeResult:
    cfg = settings.get()
    load_id = load_id_of(context)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    records = context.instance.get_records_for_run(
        run_id=context.run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION, limit=100_000).records
    evaluations = []
    for record in records:
        ev = record.event_log_entry.dagster_event.event_specific_data
        evaluations.append(health.CheckEvaluation(
            asset=ev.asset_key.to_user_string(), check_name=ev.check_name, passed=ev.passed,
            severity=ev.severity.value, metadata={k: _plain(v) for k, v in (ev.metadata or {}).items()}))
    layout = RawLayout(cfg.raw_dir)
    logs = [layout.read_load_log(c.entity) for c in contracts().values()]
    rows = health.check_rows(evaluations, context.run.run_id, load_id, now)
    rows += health.file_rows(pl.concat(logs, how="vertical_relaxed"), context.run.run_id, load_id, now)
    path = health.write_run(cfg.raw_dir / "_quality", load_id, rows)
    statuses = {s: sum(1 for r in rows if r["record_type"] == "check" and r["status"] == s)
                for s in ("passed", "warning", "failed")}
    return MaterializeResult(metadata={"file": MetadataValue.path(str(path)), "checks": len(evaluations),
                                       "files": sum(1 for r in rows if r["record_type"] == "file"),
                                       **{f"checks_{k}": v for k, v in statuses.items()}})


def _plain(value):
    """Metadata value -> plain Python (ints, strings, JSON)."""
    inner = getattr(value, "value", value)
    if isinstance(inner, (int, float, str, bool)) or inner is None:
        return inner
    try:
        return json.loads(json.dumps(inner, default=str))
    except (TypeError, ValueError):
        return str(inner)
