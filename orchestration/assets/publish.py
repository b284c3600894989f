"""Publish layer: audited marts -> serving.duckdb and Parquet, atomically."""


from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from crm_pulse.warehouse.publish import publish
from crm_pulse.warehouse.sql import sql_literal
from data_contracts.layout import RawLayout
from orchestration.assets.quality import DATA_QUALITY_KEY
from orchestration.assets.transform import dbt_models
from orchestration.resources import PipelineSettings

MART_KEYS = [key for key in dbt_models.keys if key.path[0] == "marts"]
SERVING_KEY = AssetKey(["publish", "serving_database"])


@asset(
    key=SERVING_KEY,
    deps=[*MART_KEYS, DATA_QUALITY_KEY],
    group_name="publish",
    kinds={"duckdb", "parquet"},
    description="Copy every mart (plus the quarantine, source-load and data_quality records) from the working database "
    "to `<warehouse>/serving.duckdb` and `<warehouse>/marts/<table>.parquet`, only after the build and its "
    "checks passed; replaced atomically.",
)
def serving_database(context: AssetExecutionContext, settings: PipelineSettings) -> MaterializeResult:
    cfg = settings.get()
    tables = {key.path[-1]: f"marts.{key.path[-1]}" for key in MART_KEYS}
    layout = RawLayout(cfg.raw_dir)
    folders = {"quarantine": layout.quarantine_root, "source_loads": layout.loads_dir,
               "data_quality": layout.quality_dir}
    extra = {
        "quarantine": f"SELECT * FROM {_read_parquet(layout.quarantine_root, '*/*.parquet')}",
        "source_loads": f"SELECT * FROM {_read_parquet(layout.loads_dir, '*.parquet')}",
        "data_quality": f"SELECT * FROM {_read_parquet(layout.quality_dir, '*.parquet')} "
                        "ORDER BY recorded_at, record_type, asset, check_name, source_file",
    }
    extra = {name: sql for name, sql in extra.items() if any(folders[name].glob("**/*.parquet"))}
    published = publish(cfg.work_db, cfg.serving_db, cfg.marts_dir, tables, extra)
    context.log.info(f"published {len(published)} tables to {cfg.serving_db} and {cfg.marts_dir}")
    return MaterializeResult(metadata={
        "serving_db": MetadataValue.path(str(cfg.serving_db)),
        "marts_dir": MetadataValue.path(str(cfg.marts_dir)),
        "tables": MetadataValue.md("\n".join(f"- {t.name}: {t.rows} rows" for t in published)),
    })


def _read_parquet(folder, pattern: str) -> str:
    """DuckDB's ``read_parquet`` of the files matching ``pattern`` under ``folder``."""
    return f"read_parquet({sql_literal(f'{folder.as_posix()}/{pattern}')}, union_by_name = true)"
