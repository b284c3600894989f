"""Transform layer: every dbt model is an asset, every dbt test an asset check."""


import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetSpec
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets
from dagster_dbt import asset_utils as _dbt_asset_utils

from orchestration.assets.ingest import load_id_of
from orchestration.engine import mirror_spark_marts
from orchestration.project import dbt_project, ensure_manifest
from orchestration.resources import PipelineSettings
from orchestration.settings import apply_environment


# The main dbt step lists its ~210 models and tests explicitly (the run splits the dbt graph around the
# CLV asset). Above 200 names dagster-dbt 0.29 copies the whole dbt project, target/ included, to a new
# temporary folder it never deletes, and dbt re-parses that copy from scratch: seconds per run and
# gigabytes of /tmp per day. A long --select argument (~12 KB) is well within the OS limits.
_dbt_asset_utils._SELECTION_ARGS_THRESHOLD = 100_000


class LayerTranslator(DagsterDbtTranslator):
    """Keys by layer: sources -> raw/<source>/<table>, models -> <folder>/<model>; group = transform."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec.replace_attributes(key=AssetKey(["raw", props["source_name"], props["name"]]))
        layer = props.get("fqn", ["", "model"])[1] if props["resource_type"] == "model" else "seeds"
        return spec.replace_attributes(key=AssetKey([layer, props["name"]]), group_name="transform")


def run_started_at(context) -> dt.datetime:
    """When the run was created: every dbt step of one run stamps the same ``refreshed_at``."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    created = record.create_timestamp if record is not None else None
    return created.astimezone(dt.timezone.utc) if created else dt.datetime.now(dt.timezone.utc)


KEEP_TARGET_DAYS = 7


def keep_parse_state(invocation_target, project_target) -> None:
    """dagster-dbt seeds every dbt invocation with ``target/partial_parse.msgpack``; dbt re-parses the
    whole project (~5 s per dbt step) unless that state was saved with the same vars and connection
    settings (profile). Keep the state of the latest successful invocation for the next one."""
    state = invocation_target / "partial_parse.msgpack"
    if state.exists():
        tmp = project_target / f".partial_parse.{os.getpid()}.tmp"
        shutil.copyfile(state, tmp)
        os.replace(tmp, project_target / "partial_parse.msgpack")


def prune_old_targets(target_dir, keep_days: int = KEEP_TARGET_DAYS) -> None:
    """dagster-dbt gives every dbt invocation its own ``target/<step>-<run>-<hash>`` folder (read by
    alerts and the benchmark right after the run); drop those older than ``keep_days`` so a daily
    schedule does not fill the disk."""
    cutoff = time.time() - keep_days * 86400
    for folder in target_dir.glob("dbt_models*-*-*"):
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


translator = LayerTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(manifest=ensure_manifest(), project=dbt_project, dagster_dbt_translator=translator)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, settings: PipelineSettings):
    """``dbt build`` of the selected models, seeds and tests into the working database."""
    cfg = settings.get()
    apply_environment(cfg)  # dbt reads locations from the environment (profiles.yml, _sources.yml)
    run_vars = cfg.dbt_run_vars()
    run_env = cfg.dbt_run_environment(load_id_of(context), run_started_at(context))
    os.environ.update(run_env)  # the dbt subprocess inherits it (the next run sets new values)
    context.log.info(f"dbt vars: {run_vars}; {run_env}")
    cfg.work_db.parent.mkdir(parents=True, exist_ok=True)
    prune_old_targets(dbt_project.project_dir / "target")
    args = ["build", "--vars", json.dumps(run_vars)]
    if context.run.tags.get("crm_pulse/full_refresh") == "true":
        args.append("--full-refresh")
    invocation = dbt.cli(args, context=context)
    yield from invocation.stream()
    keep_parse_state(invocation.target_path, dbt_project.project_dir / "target")
    if cfg.engine == "spark":  # later steps read work.duckdb: mirror the Spark-built marts there
        marts = [key.path[-1] for key in context.selected_asset_keys if key.path[0] == "marts"]
        for mart in mirror_spark_marts(cfg.spark_marts, cfg.work_db, marts):
            context.log.info(f"mirrored Spark mart {mart.name} ({mart.rows} rows) from {mart.source}")
