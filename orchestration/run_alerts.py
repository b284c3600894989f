"""Turn what Dagster recorded about a run into :class:`Alert` s and send them.

One alert per failed asset check (``check_failed``; ``source_stale`` for the export-freshness
checks) and one per failed run (``run_failed``), each with the asset, the check, the failing
count, a few sample failures (dbt test rows, mart-contract items, quarantine reasons ...), the run
id and where to look further. Used by the Dagster sensors (orchestration/sensors.py) and, for
in-process runs where no sensor runs, by the runner after the run (orchestration/runner.py).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Iterable, Mapping, Sequence

from dagster import AssetCheckSeverity, DagsterEventType, DagsterInstance

from crm_pulse.alerting.channels import Channel, DeliveryResult, deliver
from crm_pulse.alerting.message import MAX_SAMPLES, Alert
from crm_pulse.config.alerting import channels_from_env, retries_from_env
from crm_pulse.config.operations import ALERTED_TAG, OpsSettings
from crm_pulse.config.settings import PROJECT_ROOT, Settings
from crm_pulse.warehouse.sql import sql_literal
from data_contracts.layout import RawLayout

FRESHNESS_CHECK = "export_freshness"  # orchestration/assets/freshness.py
COUNT_KEYS = ("failing_count", "dagster_dbt/failed_row_count", "failed_row_count", "unexpected_count")
_LOG = logging.getLogger("crm_pulse.alerting")


# --- metadata helpers --------------------------------------------------------------------------
def plain(value):
    """A Dagster metadata value as plain Python."""
    return getattr(value, "value", value) if value is not None else None


def failing_count(metadata: Mapping) -> int | None:
    for key in COUNT_KEYS:
        value = plain(metadata.get(key))
        if value is not None:
            try:
                return int(value)
            except (TypeError, ValueError):
                continue
    return None


def _lines(text: str) -> list[str]:
    out = []
    for line in str(text).splitlines():
        line = line.strip().lstrip("-*").strip().strip("`")
        if line and line.lower() != "none":
            out.append(line)
    return out


def samples_from_metadata(metadata: Mapping) -> list[str]:
    """Sample failures a check put in its metadata (``samples``, ``outcomes``, ``failures`` ...)."""
    samples = plain(metadata.get("samples"))
    if isinstance(samples, str):
        try:
            samples = json.loads(samples)
        except ValueError:
            samples = _lines(samples)
    if isinstance(samples, list) and samples:
        return [s if isinstance(s, str) else json.dumps(s, ensure_ascii=False, default=str) for s in samples]
    outcomes = plain(metadata.get("outcomes"))
    if isinstance(outcomes, list):
        failed = [o for o in outcomes if isinstance(o, dict) and not o.get("success", True)]
        if failed:
            return [f"{o.get('name')} [{o.get('severity', '?')}]: {o.get('failing_count', '?')} failing"
                    + (f"; observed {o['observed']}" if o.get("observed") else "") for o in failed]
    for key in ("failures", "summary"):
        value = plain(metadata.get(key))
        if value:
            return _lines(value)
    return []


def dbt_test_samples(metadata: Mapping, run_id: str, settings: Settings, limit: int = MAX_SAMPLES) -> list[str]:
    """A few failing rows of a failed dbt test, queried from the working database."""
    unique_id = plain(metadata.get("unique_id"))
    if not unique_id or not str(unique_id).startswith("test."):
        return []
    sql = _compiled_test_sql(str(unique_id), run_id) or _generic_test_sql(str(unique_id))
    if not sql or not settings.work_db.exists():
        return []
    from crm_pulse.warehouse.connection import connect

    try:
        con = connect(settings.work_db, read_only=True)
    except Exception as exc:  # noqa: BLE001 - samples are a courtesy; the alert goes out anyway
        _LOG.warning("could not open %s for dbt test samples: %s", settings.work_db, exc)
        return []
    try:
        cursor = con.execute(f"select * from ({sql}) as failures limit {int(limit)}")
        columns = [d[0] for d in cursor.description]
        return [", ".join(f"{c}={v}" for c, v in zip(columns, row)) for row in cursor.fetchall()]
    except Exception as exc:  # noqa: BLE001
        _LOG.warning("could not query failing rows of %s: %s", unique_id, exc)
        return []
    finally:
        con.close()


def _compiled_test_sql(unique_id: str, run_id: str) -> str | None:
    """The test's SQL as dbt compiled it in this run (run_results.json of the run's dbt invocations)."""
    for results in sorted((PROJECT_ROOT / "dbt_project" / "target").glob(f"*-{run_id[:7]}-*/run_results.json")):
        try:
            doc = json.loads(results.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for result in doc.get("results", []):
            if result.get("unique_id") == unique_id and result.get("compiled_code"):
                return result["compiled_code"]
    return None


def _generic_test_sql(unique_id: str) -> str | None:
    """Failing rows of the project's generic tests (column_rules, relationships; dbt's not_null,
    unique and accepted_values as well), built from the manifest, for runs whose compiled SQL is gone
    (dagster-dbt may build in a temp copy). column_rules: one row per broken rule and offending value
    (nulls, duplicated values, unexpected values) with its row count."""
    try:
        from orchestration.project import dbt_project

        manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001
        return None
    node = manifest.get("nodes", {}).get(unique_id) or {}
    meta = node.get("test_metadata") or {}
    name, kwargs = meta.get("name"), meta.get("kwargs") or {}
    column = kwargs.get("column_name")
    attached = manifest["nodes"].get(node.get("attached_node") or "")
    if not attached:
        return None

    def relation(n: dict) -> str:
        return f'"{n["schema"]}"."{n.get("alias") or n["name"]}"'

    model = relation(attached)
    if name == "relationships":
        parents = [manifest["nodes"].get(d) for d in node.get("depends_on", {}).get("nodes", [])
                   if d != node.get("attached_node")]
        field = kwargs.get("field")
        if not parents or not parents[0] or not column or not field:
            return None
        return (f"select child.{column} from {model} as child left join {relation(parents[0])} as parent "
                f"on child.{column} = parent.{field} where child.{column} is not null and parent.{field} is null")
    rules = (kwargs if name == "column_rules"
             else {name: {column: kwargs.get("values") or []}} if name == "accepted_values"
             else {name: [column]} if name in ("not_null", "unique") else {})
    never_null = rules.get("not_null") or []
    never_null = [c for group in never_null.values() for c in group] if isinstance(never_null, dict) else never_null
    failing = [("not_null", c, f"{c} is null", "") for c in never_null]
    failing += [("unique", c, f"{c} is not null", " having count(*) > 1") for c in rules.get("unique") or []]
    failing += [("accepted_values", c, f"{c} not in ({', '.join(map(_sql_value, values))})", "")
                for c, values in (rules.get("accepted_values") or {}).items()]
    return " union all ".join(
        f"(select '{rule}' as rule, '{c}' as column_name, cast({c} as varchar) as value, count(*) as failing_rows "
        f"from {model} where {condition} group by {c}{having})" for rule, c, condition, having in failing) or None


def _sql_value(value) -> str:
    """An accepted value as a DuckDB literal: numbers and booleans bare, anything else quoted."""
    if isinstance(value, (bool, int, float)):
        return str(value).lower()
    return sql_literal(value)


def quarantine_reasons(settings: Settings, entity: str, limit: int = MAX_SAMPLES) -> list[str]:
    """Most frequent quarantine rules of one entity, with an example each."""
    folder = RawLayout(settings.raw_dir).quarantine_dir(entity)
    if not any(folder.glob("*.parquet")):
        return []
    import polars as pl

    try:
        frame = pl.read_parquet(folder / "*.parquet")
    except Exception as exc:  # noqa: BLE001
        _LOG.warning("could not read quarantine of %s: %s", entity, exc)
        return []
    grouped = (frame.group_by("rule", "column")
               .agg(pl.len().alias("rows"), pl.first("source_file"), pl.first("row_number"), pl.first("original_value"))
               .sort("rows", descending=True).head(limit))
    return [f"quarantine {r['rule']} on {r['column']}: {r['rows']} row(s), e.g. {r['source_file']} row "
            f"{r['row_number']} value {r['original_value']!r}" for r in grouped.iter_rows(named=True)]


# --- alerts ------------------------------------------------------------------------------------
def check_alert(evaluation, run_id: str, settings: Settings, ops: OpsSettings) -> Alert:
    """Alert for one failed asset check evaluation (``AssetCheckEvaluation``)."""
    metadata = dict(evaluation.metadata or {})
    asset = evaluation.asset_key.to_user_string()
    blocking = evaluation.severity == AssetCheckSeverity.ERROR
    stale = evaluation.check_name == FRESHNESS_CHECK
    samples = dbt_test_samples(metadata, run_id, settings) or samples_from_metadata(metadata)
    if evaluation.asset_key.path[0] == "raw":
        samples += quarantine_reasons(settings, evaluation.asset_key.path[-1])
    count = failing_count(metadata)
    if stale:
        source = evaluation.asset_key.path[-1]
        title = f"crm-pulse: {source} exports are stale ({count or '?'} daily export(s) missing)"
    else:
        title = (f"crm-pulse: check {evaluation.check_name} failed on {asset}"
                 + (f" ({count} failing)" if count is not None else "")
                 + ("" if blocking else " - non-blocking, the run went on"))
    return Alert(kind="source_stale" if stale else "check_failed", title=title,
                 severity="error" if blocking else "warning", asset=asset, check=evaluation.check_name,
                 failing_count=count, samples=samples, run_id=run_id, details_hint=ops.run_link(run_id))


def run_failure_alert(instance: DagsterInstance, run_id: str, ops: OpsSettings, job_name: str = "refresh") -> Alert:
    """Alert for a failed run: which steps and assets failed, with their error messages."""
    samples: list[str] = []
    failed_steps: list[str] = []
    for record in instance.get_records_for_run(run_id=run_id, of_type=DagsterEventType.STEP_FAILURE).records:
        event = record.event_log_entry.dagster_event
        error = getattr(event.event_specific_data, "error", None)
        message = _first_line(error) if error else (event.message or "")
        failed_steps.append(event.step_key)
        samples.append(f"step {event.step_key}: {message}")
    assets = _unmaterialized_assets(instance, run_id, set(failed_steps))
    for record in instance.get_records_for_run(run_id=run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records:
        ev = record.event_log_entry.dagster_event.event_specific_data
        if not ev.passed and ev.severity == AssetCheckSeverity.ERROR:
            samples.append(f"blocking check {ev.check_name} failed on {ev.asset_key.to_user_string()}")
    if not samples:
        for record in instance.get_records_for_run(run_id=run_id, of_type=DagsterEventType.RUN_FAILURE).records:
            samples.append(record.event_log_entry.dagster_event.message or "run failed")
    shown = assets[:3] + ([f"+{len(assets) - 3} more"] if len(assets) > 3 else [])
    where = ", ".join(shown) or ", ".join(failed_steps) or None
    return Alert(kind="run_failed", title=f"crm-pulse: {job_name} run failed"
                 + (f" at {where}" if where else "") + "; published data left unchanged",
                 severity="error", asset=where, failing_count=len(failed_steps) or None, samples=samples,
                 run_id=run_id, details_hint=ops.run_link(run_id))


def _unmaterialized_assets(instance: DagsterInstance, run_id: str, steps: set[str]) -> list[str]:
    """Assets the failed steps planned but did not materialise."""
    done = {r.event_log_entry.dagster_event.event_specific_data.materialization.asset_key
            for r in instance.get_records_for_run(run_id=run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records}
    planned = []
    for record in instance.get_records_for_run(run_id=run_id,
                                               of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED).records:
        event = record.event_log_entry.dagster_event
        key = event.event_specific_data.asset_key
        if event.step_key in steps and key not in done:
            planned.append(key.to_user_string())
    return list(dict.fromkeys(planned))


def _first_line(error) -> str:
    """The most useful line of a (possibly wrapped) Dagster error."""
    chain = [error]
    while getattr(chain[-1], "cause", None) is not None:
        chain.append(chain[-1].cause)
    for err in reversed(chain):  # the innermost error is the user's problem
        lines = [l.strip() for l in (err.message or "").strip().splitlines() if l.strip()]
        if lines:  # "pkg.module.KeyError: x" -> "KeyError: x"; a dagster Failure is its description
            prefix, _, rest = lines[0].partition(": ")
            if rest and re.fullmatch(r"[\w.]+", prefix):
                name = prefix.rsplit(".", 1)[-1]
                return rest if name == "Failure" else f"{name}: {rest}"
            return lines[0]
    return error.cls_name or "error"


def failed_check_evaluations(instance: DagsterInstance, run_id: str) -> list:
    records = instance.get_records_for_run(run_id=run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return [ev for ev in evaluations if not ev.passed]


def run_alerts(instance: DagsterInstance, run_id: str, settings: Settings, ops: OpsSettings) -> list[Alert]:
    """Every alert a finished run deserves: its failed checks, then the run failure if it failed."""
    alerts = [check_alert(ev, run_id, settings, ops) for ev in failed_check_evaluations(instance, run_id)]
    run = instance.get_run_by_id(run_id)
    if run is not None and run.is_failure:
        alerts.append(run_failure_alert(instance, run_id, ops, run.job_name))
    return alerts


def alerted_in_process(run) -> bool:
    """The runner already sent this run's alerts (sensors skip it, avoiding duplicates)."""
    return run is not None and run.tags.get(ALERTED_TAG) == "in_process"


# --- dispatch ----------------------------------------------------------------------------------
def send(alerts: Iterable[Alert], channels: Sequence[Channel] | None = None, retries: int | None = None,
         logger: logging.Logger | None = None) -> list[tuple[Alert, list[DeliveryResult]]]:
    """Deliver each alert to every channel (bounded retries); never raises, logs failures."""
    log = logger or _LOG
    sent = []
    try:
        channels = channels_from_env() if channels is None else channels
        retries = retries_from_env() if retries is None else retries
    except ValueError as exc:
        log.error("alerting is misconfigured, no alert sent: %s", exc)
        return [(alert, []) for alert in alerts]
    for alert in alerts:
        if not channels:
            log.warning("no alert channel configured; would have sent: %s", alert.title)
            sent.append((alert, []))
            continue
        results = deliver(alert, channels, retries=retries, logger=log)
        for result in results:
            if result.ok:
                log.info("alert %r sent to %s", alert.title, result.channel)
        sent.append((alert, results))
    return sent


def describe_results(sent: list[tuple[Alert, list[DeliveryResult]]]) -> str:
    ok = sum(1 for _, results in sent for r in results if r.ok)
    failed = [f"{r.channel}: {r.error}" for _, results in sent for r in results if not r.ok]
    text = f"{len(sent)} alert(s), {ok} delivery(ies) ok"
    return text + (f", {len(failed)} failed ({'; '.join(failed[:3])})" if failed else "")


__all__ = ["alerted_in_process", "check_alert", "describe_results",
           "failed_check_evaluations", "run_alerts", "run_failure_alert", "send"]
