"""Transform layer: the whole dbt project and the CLV models it joins, in one step and one process.

Every dbt model and seed is an asset and every dbt test an asset check (keys from
``LayerTranslator``), as dagster-dbt builds them. They run in one Dagster step: the project is
parsed once, then dbt builds (in process, ``orchestration/dbt_invoke.py``) the selected nodes
upstream of the CLV models, the CLV models are fitted (``orchestration/assets/clv.py``) and dbt
builds the rest. A dbt process per step, three per run, cost ~10 s each before any SQL ran.
dbt's unit tests are not part of a refresh (dbt advises running them in CI: ``make test`` does,
tests/test_dbt_unit_tests.py).
"""


import datetime as dt
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetSpec, Failure, multi_asset
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings
from dagster_dbt.asset_utils import build_dbt_specs, get_asset_check_key_for_test
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

from crm_pulse.warehouse.spark import mirror_spark_marts
from orchestration import dbt_invoke
from orchestration.assets import clv
from orchestration.keys import FULL_REFRESH_TAG, LAYER_TAG, load_id_of, raw_key
from orchestration.project import dbt_project, ensure_manifest, load_manifest
from orchestration.resources import PipelineSettings


class LayerTranslator(DagsterDbtTranslator):
    """Keys by layer: sources -> raw/<source>/<table>, models -> <folder>/<model>; group = transform."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec.replace_attributes(key=raw_key(props["source_name"], props["name"]))
        layer = props.get("fqn", ["", "model"])[1] if props["resource_type"] == "model" else "seeds"
        return spec.replace_attributes(key=AssetKey([layer, props["name"]]), group_name="transform")


def run_started_at(context) -> dt.datetime:
    """When the run was created: every dbt step of one run stamps the same ``refreshed_at``."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    created = record.create_timestamp if record is not None else None
    return created.astimezone(dt.timezone.utc) if created else dt.datetime.now(dt.timezone.utc)


KEEP_TARGET_DAYS = 7


def prune_old_targets(target_dir, keep_days: int = KEEP_TARGET_DAYS) -> None:
    """Every dbt build of a run writes to its own ``target/dbt_models-<run>-<phase>`` folder (read by
    alerts and the benchmark right after the run); drop those older than ``keep_days`` so a daily
    schedule does not fill the disk."""
    cutoff = time.time() - keep_days * 86400
    for folder in target_dir.glob("dbt_models*-*-*"):
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


translator = LayerTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
MANIFEST = load_manifest(ensure_manifest())
_DBT_SPECS, _DBT_CHECK_SPECS = build_dbt_specs(
    translator=translator, manifest=MANIFEST, select="fqn:*", exclude="", selector="", io_manager_key=None,
    project=dbt_project)


def _nodes() -> tuple[dict[AssetKey, str], dict, set[str]]:
    """dbt node of every asset key and of every asset check key; nodes that build after the CLV fit."""
    by_key = {translator.get_asset_spec(MANIFEST, uid, dbt_project).key: uid
              for uid, node in MANIFEST["nodes"].items() if node["resource_type"] in ("model", "seed", "snapshot")}
    by_check = {}
    for uid, node in MANIFEST["nodes"].items():
        if node["resource_type"] == "test":
            key = get_asset_check_key_for_test(MANIFEST, translator, uid, project=dbt_project)
            by_check[key if key is not None else uid] = uid  # singular tests without a key run with their nodes
    after, frontier = set(), [uid for uid, src in MANIFEST["sources"].items() if src["source_name"] == "analytics"]
    children = MANIFEST["child_map"]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in after:
                after.add(child)
                frontier.append(child)
    return by_key, by_check, after


NODE_BY_KEY, NODE_BY_CHECK, AFTER_CLV = _nodes()


def _selection(context) -> tuple[list[str], list[str]]:
    """The selected dbt nodes (fqn selectors) before and after the CLV fit."""
    nodes = {NODE_BY_KEY[key] for key in context.selected_asset_keys if key in NODE_BY_KEY}
    nodes |= {uid for key, uid in NODE_BY_CHECK.items() if key in context.selected_asset_check_keys}
    # tests without an asset check (singular tests over several models) run when all they read is selected
    nodes |= {uid for key, uid in NODE_BY_CHECK.items() if isinstance(key, str)
              and {n for n in MANIFEST["nodes"][uid]["depends_on"]["nodes"] if n in MANIFEST["nodes"]} <= nodes}
    before = sorted(".".join(MANIFEST["nodes"][uid]["fqn"]) for uid in nodes if uid not in AFTER_CLV)
    after = sorted(".".join(MANIFEST["nodes"][uid]["fqn"]) for uid in nodes if uid in AFTER_CLV)
    return before, after


@multi_asset(
    name="dbt_models",
    specs=[*(spec.replace_attributes(skippable=True) for spec in _DBT_SPECS), *clv.SPECS],
    check_specs=[*_DBT_CHECK_SPECS, *clv.CHECK_SPECS],
    can_subset=True,
    allow_arbitrary_check_specs=True,
    op_tags={LAYER_TAG: "transform"},
)
def dbt_models(context: AssetExecutionContext, settings: PipelineSettings):
    """``dbt build`` of the selected models, seeds and tests into the working database, with the
    CLV fit between the models it reads and the models that read it."""
    cfg = settings.get()
    run_vars = cfg.dbt_run_vars()
    # dbt reads locations (profiles.yml, _sources.yml) and run values (macro run_value) from the environment
    dbt_env = {**cfg.dbt_environment(), **cfg.dbt_run_environment(load_id_of(context), run_started_at(context))}
    cfg.work_db.parent.mkdir(parents=True, exist_ok=True)
    target_dir = Path(dbt_project.project_dir) / "target"
    prune_old_targets(target_dir)
    before, after = _selection(context)
    manifest = None
    if before or after:
        context.log.info(f"dbt vars: {run_vars}; {len(before)} + {len(after)} dbt nodes around the CLV fit")
        parsed = dbt_invoke.parse(Path(dbt_project.project_dir), dbt_env)
        if not parsed.success:
            raise Failure(description=f"dbt could not parse the project: {parsed.error}", allow_retries=False)
        manifest = parsed.result
    full_refresh = context.run.tags.get(FULL_REFRESH_TAG) == "true"
    for phase, selection in enumerate((before, after), start=1):
        if phase == 2 and clv.KEYS & context.selected_asset_keys:
            yield from clv.materialize_clv(context, cfg)
        if not selection:
            continue
        target = target_dir / f"dbt_models-{context.run.run_id[:7]}-{phase}"
        started = time.monotonic()
        # each node's line goes to dbt_project/logs/dbt.log, not the run's event log (a stored event each)
        result = dbt_invoke.build(Path(dbt_project.project_dir), manifest, selection, run_vars, target,
                                  full_refresh=full_refresh, env=dbt_env)
        for event in result.events:
            if event["data"]["node_info"]["unique_id"] not in MANIFEST["nodes"]:  # edited since the definitions loaded
                context.log.warning(f"dbt node {event['data']['node_info']['unique_id']} is not in the loaded "
                                    "definitions: reload the code location to see it as an asset or check")
                continue
            message = DbtCoreCliEventMessage(raw_event=event, event_history_metadata={})
            yield from message.to_default_asset_events(manifest=MANIFEST, dagster_dbt_translator=translator,
                                                       context=context, target_path=target, project=dbt_project)
        context.log.info(f"dbt build {phase}: {len(result.events)} nodes in {time.monotonic() - started:.1f}s"
                         + ("" if result.success else f", FAILED: {'; '.join(result.failures()[:3]) or result.error}"))
        if cfg.engine == "spark":  # later steps read work.duckdb: mirror the Spark-built marts there
            marts = [MANIFEST["nodes"][uid]["name"] for key, uid in NODE_BY_KEY.items()
                     if key.path[0] == "marts" and key in context.selected_asset_keys and (uid in AFTER_CLV) == (phase == 2)]
            for mart in mirror_spark_marts(cfg.spark_marts, cfg.work_db, marts):
                context.log.info(f"mirrored Spark mart {mart.name} ({mart.rows} rows) from {mart.source}")
        if not result.success:
            failures = result.failures()
            raise Failure(description=f"dbt build failed: {failures[0] if failures else result.error}"
                          + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""),
                          metadata={"failures": "\n".join(failures) or str(result.error)}, allow_retries=False)
