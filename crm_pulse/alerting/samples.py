"""Sample failures for an alert: a failed dbt test's failing rows, what a check put in its metadata,
the quarantine reasons of a raw entity.

Metadata here is plain Python: the caller converts Dagster's metadata values (orchestration/metadata.py).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Mapping

from crm_pulse.alerting.message import MAX_SAMPLES
from crm_pulse.config.settings import PROJECT_ROOT, Settings
from crm_pulse.warehouse.sql import sql_literal
from data_contracts.layout import RawLayout

_LOG = logging.getLogger("crm_pulse.alerting")


def _lines(text: str) -> list[str]:
    out = []
    for line in str(text).splitlines():
        line = line.strip().lstrip("-*").strip().strip("`")
        if line and line.lower() != "none":
            out.append(line)
    return out


def samples_from_metadata(metadata: Mapping) -> list[str]:
    """Sample failures a check put in its metadata (``samples``, ``outcomes``, ``failures`` ...)."""
    samples = metadata.get("samples")
    if isinstance(samples, str):
        try:
            samples = json.loads(samples)
        except ValueError:
            samples = _lines(samples)
    if isinstance(samples, list) and samples:
        return [s if isinstance(s, str) else json.dumps(s, ensure_ascii=False, default=str) for s in samples]
    outcomes = metadata.get("outcomes")
    if isinstance(outcomes, list):
        failed = [o for o in outcomes if isinstance(o, dict) and not o.get("success", True)]
        if failed:
            return [f"{o.get('name')} [{o.get('severity', '?')}]: {o.get('failing_count', '?')} failing"
                    + (f"; observed {o['observed']}" if o.get("observed") else "") for o in failed]
    for key in ("failures", "summary"):
        value = metadata.get(key)
        if value:
            return _lines(value)
    return []


def dbt_test_samples(metadata: Mapping, run_id: str, settings: Settings, manifest_path: Path | None = None,
                     limit: int = MAX_SAMPLES) -> list[str]:
    """A few failing rows of a failed dbt test, queried from the working database (``manifest_path``:
    the dbt manifest, for tests whose compiled SQL is gone)."""
    unique_id = metadata.get("unique_id")
    if not unique_id or not str(unique_id).startswith("test."):
        return []
    sql = _compiled_test_sql(str(unique_id), run_id) or _generic_test_sql(str(unique_id), manifest_path)
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
    """The test's SQL as dbt compiled it in this run (run_results.json of the run's dbt invocations, in
    target folders named ``*-<run id[:7]>-*`` by orchestration/assets/transform.py)."""
    for results in sorted((PROJECT_ROOT / "dbt_project" / "target").glob(f"*-{run_id[:7]}-*/run_results.json")):
        try:
            doc = json.loads(results.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for result in doc.get("results", []):
            if result.get("unique_id") == unique_id and result.get("compiled_code"):
                return result["compiled_code"]
    return None


def _generic_test_sql(unique_id: str, manifest_path: Path | None) -> str | None:
    """Failing rows of the project's generic tests (column_rules, relationships; dbt's not_null,
    unique and accepted_values as well), built from the manifest, for runs whose compiled SQL is gone
    (dagster-dbt may build in a temp copy). column_rules: one row per broken rule and offending value
    (nulls, duplicated values, unexpected values) with its row count."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - no manifest (None, missing or unreadable): no samples
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
