"""Ingest layer: one asset per source entity, landing exports -> typed raw Parquet."""


import datetime as dt

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from data_contracts import privacy
from data_contracts.contract import Contract, contracts
from data_contracts.ingest import ingest_entity
from data_contracts import landing
from data_contracts.layout import RawLayout
from data_contracts.readers import FileProblem
from orchestration.keys import FULL_REFRESH_TAG, LAYER_TAG, load_id_of, raw_key
from orchestration.resources import PipelineSettings

ROWS_CONSERVED = "rows_conserved"


def landing_key(contract: Contract) -> AssetKey:
    return AssetKey(["landing", contract.source, contract.entity])


def landing_spec(contract: Contract) -> AssetSpec:
    return AssetSpec(
        landing_key(contract),
        group_name="ingest",
        description=f"{contract.description} Export files "
        f"`<landing>/{contract.source}/<YYYY-MM-DD>/{contract.entity}.<ext>`.",
        kinds={"csv", "file"},
    )


def build_ingest_asset(contract: Contract):
    key = raw_key(contract.source, contract.entity)

    @asset(
        key=key,
        deps=[landing_key(contract)],
        group_name="ingest",
        kinds={"polars", "parquet"},
        description=f"Validate {contract.entity} exports against data_contracts/sources/{contract.entity}.yml "
        "and land them as raw Parquet; failing rows go to the quarantine.",
        check_specs=[AssetCheckSpec(ROWS_CONSERVED, asset=key, blocking=True,
                                    description="Per file: rows read = rows loaded + rows quarantined.")],
        op_tags={LAYER_TAG: "ingest"},
    )
    def _ingest(context: AssetExecutionContext, settings: PipelineSettings):
        cfg = settings.get()
        found = landing.scan(cfg.landing_dir)  # README "Data contracts": what loads, what is ignored and why
        landing.write_landing_record(cfg.raw_dir, cfg.landing_dir, found)
        ignored = [(path, reason) for path, reason in found.ignored if path.startswith(f"{contract.source}/")]
        for path, reason in ignored:
            context.log.warning(f"ignored {path}: {reason}")
        try:
            problems = found.problems_of(contract.source, contract.entity)
            if problems:
                raise problems[0].error()
            files = found.files(contract.source, contract.entity)
            context.log.info(f"{contract.entity}: {len(files)} export file(s) under {cfg.landing_dir}")
            result = ingest_entity(
                contract.entity, files, cfg.raw_dir, load_id=load_id_of(context),
                loaded_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
                batch_rows=cfg.ingest_batch_rows,
                full_refresh=context.run.tags.get(FULL_REFRESH_TAG) == "true",
                hash_key=privacy.hash_key(cfg.hash_key_file) if any(c.pii for c in contract.columns) else None,
            )
        except privacy.HashKeyError as problem:  # README "Privacy": the key of the contact hashes
            raise Failure(description=str(problem), allow_retries=False) from None
        except FileProblem as problem:
            raise Failure(description=str(problem), metadata={"file": problem.path, "problem": problem.problem},
                          allow_retries=False) from None
        for load in result.loaded:
            for note in load.notes:
                context.log.info(f"{load.source_file}: {note}")
            if load.unknown_columns:
                context.log.warning(f"{load.source_file}: unknown columns ignored: {', '.join(load.unknown_columns)}")
        yield MaterializeResult(metadata={
            **result.rows,
            "ignored_in_source_folder": MetadataValue.md("\n".join(f"- `{p}`: {r}" for p, r in ignored) or "none"),
            "files": MetadataValue.md("\n".join(f"- `{l.source_file}`: read {l.rows_read}, loaded {l.rows_loaded}, "
                                                f"quarantined {l.rows_quarantined}" for l in result.loaded) or "(no new files)"),
        })
        yield conservation_check(contract, RawLayout(cfg.raw_dir), load_id_of(context))

    return _ingest


def conservation_check(contract: Contract, layout: RawLayout, load_id: str) -> AssetCheckResult:
    """Recount what was written for this load and compare it with what was read."""
    log = layout.read_load_log(contract.entity).filter(pl.col("load_id") == load_id)
    broken = []
    for rec in log.iter_rows(named=True):
        name = layout.file_name(rec["export_date"], rec["source_file"])
        data = layout.entity_dir(contract) / name
        quarantine = layout.quarantine_dir(contract.entity) / name
        loaded = pl.scan_parquet(data).select(pl.len()).collect().item() if data.exists() else 0
        quarantined = (pl.scan_parquet(quarantine).select(pl.col("row_number").n_unique()).collect().item()
                       if quarantine.exists() else 0)
        if rec["rows_read"] != loaded + quarantined:
            broken.append(f"{rec['source_file']}: read {rec['rows_read']} != loaded {loaded} + quarantined {quarantined}")
    return AssetCheckResult(
        check_name=ROWS_CONSERVED,
        passed=not broken,
        severity=AssetCheckSeverity.ERROR,
        metadata={"files_checked": log.height, "failing_count": len(broken),
                  "failures": MetadataValue.md("\n".join(broken) or "none")},
    )


landing_specs = [landing_spec(c) for c in contracts().values()]
ingest_assets = [build_ingest_asset(c) for c in contracts().values()]
