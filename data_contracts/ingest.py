"""Land export files of one entity in the raw layer, enforcing its contract.

For every export file: read it in bounded batches, map headers onto canonical names, parse values
(dates, money, enums ...), validate with the entity's Pandera schema, write good rows to
``raw/<source>/<entity>/<export date>__<file>.parquet`` with lineage columns, and failing rows to
the quarantine with the rule they broke. Rows read = rows loaded + rows quarantined, per file.

A file already loaded with the same content is skipped; a changed file replaces its earlier load.
A file-level problem raises :class:`FileProblem`; nothing of that entity's load is then kept.

Change detection (the load log ``raw/_loads/<entity>.parquet`` keeps sha256, size_bytes and
mtime_ns of every file load): a file whose latest load record has the same size and modification
time (``st_mtime_ns``) is skipped without being read. Otherwise it is hashed: the same sha256 is
skipped too (a file only touched, or a record from a log written before mtime_ns existed: that
record's mtime_ns is then set to the file's, so the next run needs no hash), a different sha256 is
loaded and supersedes the earlier load. Either way the skip also needs the earlier load to be in
place (its Parquet file exists, or every row was quarantined). A file rewritten with other content
but the same size and mtime (``cp -p``, ``rsync --times``) is therefore not noticed: touch it or
run with ``full_refresh``. A record written under another raw layout (``raw_version``: the
contract's raw columns, the privacy rules and the hash key's id, see :func:`raw_version`) is never
a reason to skip: a changed contract, masking rule or rotated key re-ingests the files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pyarrow.parquet as pq

from data_contracts.contract import Column, Contract, contracts
from data_contracts.landing import LandingFile
from data_contracts.parsing import CONTROL_CHARACTERS, CONTROL_PATTERN
from data_contracts import privacy
from data_contracts.privacy import mask_value, scrub
from data_contracts.readers import FileProblem, iter_batches, unreadable

QUARANTINE_SCHEMA = pl.Schema({
    "_load_id": pl.Utf8(), "entity": pl.Utf8(), "source_file": pl.Utf8(), "row_number": pl.Int64(),
    "column": pl.Utf8(), "rule": pl.Utf8(), "original_value": pl.Utf8(), "quarantined_at": pl.Datetime("us"),
})
LOAD_LOG_SCHEMA = pl.Schema({
    "load_id": pl.Utf8(), "source": pl.Utf8(), "entity": pl.Utf8(), "source_file": pl.Utf8(),
    "export_date": pl.Date(), "sha256": pl.Utf8(), "size_bytes": pl.Int64(), "mtime_ns": pl.Int64(),
    "rows_read": pl.Int64(),
    "rows_loaded": pl.Int64(), "rows_quarantined": pl.Int64(), "unknown_columns": pl.Utf8(),
    "notes": pl.Utf8(), "supersedes_load_id": pl.Utf8(), "loaded_at": pl.Datetime("us"),
    "raw_version": pl.Utf8(),
})


@dataclass
class FileLoad:
    """What happened to one export file in one load."""

    load_id: str
    source: str
    entity: str
    source_file: str
    export_date: dt.date
    sha256: str
    size_bytes: int
    mtime_ns: int | None = None  # the file's st_mtime_ns, taken before it was read
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    unknown_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    supersedes_load_id: str | None = None
    loaded_at: dt.datetime | None = None
    raw_version: str | None = None  # raw_version() the file was landed under

    def record(self) -> dict:
        row = asdict(self)
        row["unknown_columns"] = json.dumps(self.unknown_columns, ensure_ascii=False)
        row["notes"] = json.dumps(self.notes, ensure_ascii=False)
        return row


@dataclass
class IngestResult:
    """Outcome of ingesting one entity."""

    entity: str
    loaded: list[FileLoad]
    skipped: list[str]  # files unchanged since their last load

    @property
    def rows(self) -> dict[str, int]:
        return {
            "files_loaded": len(self.loaded),
            "files_skipped": len(self.skipped),
            "rows_read": sum(f.rows_read for f in self.loaded),
            "rows_loaded": sum(f.rows_loaded for f in self.loaded),
            "rows_quarantined": sum(f.rows_quarantined for f in self.loaded),
        }


class RawLayout:
    """Paths of the raw layer under ``<warehouse>/raw``."""

    def __init__(self, raw_dir: Path):
        self.root = Path(raw_dir)

    def entity_dir(self, contract: Contract) -> Path:
        return self.root / contract.source / contract.entity

    def data_file(self, contract: Contract, f: LandingFile) -> Path:
        return self.entity_dir(contract) / f"{f.export_date.isoformat()}__{f.path.name}.parquet"

    def quarantine_file(self, contract: Contract, f: LandingFile) -> Path:
        return self.root / "_quarantine" / contract.entity / f"{f.export_date.isoformat()}__{f.path.name}.parquet"

    def schema_file(self, contract: Contract) -> Path:
        """Empty, typed file so every entity's glob matches even before its first export."""
        return self.entity_dir(contract) / "_schema.parquet"

    def load_log(self, entity: str) -> Path:
        return self.root / "_loads" / f"{entity}.parquet"

    def read_load_log(self, entity: str) -> pl.DataFrame:
        """The entity's load log in LOAD_LOG_SCHEMA; columns an older log lacks (mtime_ns) are null."""
        path = self.load_log(entity)
        if not path.exists():
            return LOAD_LOG_SCHEMA.to_frame()
        log = pl.read_parquet(path)
        missing = [pl.lit(None, dtype).alias(name) for name, dtype in LOAD_LOG_SCHEMA.items()
                   if name not in log.columns]
        return log.with_columns(missing).select(LOAD_LOG_SCHEMA.names()).cast(dict(LOAD_LOG_SCHEMA))


def ingest_entity(
    entity: str,
    files: list[LandingFile],
    raw_dir: Path,
    load_id: str,
    loaded_at: dt.datetime,
    batch_rows: int = 200_000,
    full_refresh: bool = False,
    hash_key: bytes | None = None,
) -> IngestResult:
    """Land all new or changed export files of ``entity``; all or nothing. ``hash_key``: key of the
    pii columns' hashes (None = :func:`privacy.hash_key`, read only when the entity has pii columns)."""
    contract = contracts()[entity]
    if hash_key is None and any(c.pii for c in contract.columns):
        hash_key = privacy.hash_key()
    version = raw_version(contract, hash_key)
    layout = RawLayout(raw_dir)
    if full_refresh:
        shutil.rmtree(layout.entity_dir(contract), ignore_errors=True)
        shutil.rmtree(layout.root / "_quarantine" / entity, ignore_errors=True)
        layout.load_log(entity).unlink(missing_ok=True)
    log = layout.read_load_log(entity)
    by_age = log.with_row_index("_row").sort("loaded_at", maintain_order=True)
    latest = {r["source_file"]: r for r in by_age.iter_rows(named=True)}  # _row: its row in log

    staging = layout.root / "_tmp" / f"{entity}-{load_id}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    loads: list[FileLoad] = []
    skipped: list[str] = []
    verified: dict[int, int] = {}  # log row -> mtime_ns of a file found unchanged by its sha256
    try:
        for f in files:
            stat = _stat(f)
            previous = latest.get(f.relative)
            in_place = previous is not None and previous["raw_version"] == version and (
                layout.data_file(contract, f).exists() or previous["rows_loaded"] == 0)  # all quarantined
            if in_place and (previous["size_bytes"], previous["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns):
                skipped.append(f.relative)  # unchanged size and mtime: not read at all
                continue
            sha = _sha256(f)
            if in_place and previous["sha256"] == sha:
                skipped.append(f.relative)
                verified[previous["_row"]] = stat.st_mtime_ns
                continue
            load = FileLoad(load_id, contract.source, entity, f.relative, f.export_date, sha, stat.st_size,
                            mtime_ns=stat.st_mtime_ns, loaded_at=loaded_at, raw_version=version,
                            supersedes_load_id=previous["load_id"] if previous else None)
            _load_file(contract, f, load, staging, batch_rows, hash_key)
            loads.append(load)
        log, log_changed = _with_mtimes(log, verified)
        _commit(contract, layout, staging, files, loads, log, log_changed)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return IngestResult(entity, loads, skipped)


def raw_version(contract: Contract, key: bytes | None) -> str:
    """Fingerprint of how a file of ``contract`` is landed: raw columns and types, privacy rules, the
    contract's rules (:attr:`Contract.fingerprint`) and, with pii columns, the hash key's public id.
    A load under another version is re-ingested."""
    layout = json.dumps([[n, str(t)] for n, t in contract.arrow_schema().items()]
                        + [privacy.RULES_VERSION, contract.fingerprint])  # fingerprint: contract, blank markers, seeds
    version = hashlib.sha256(layout.encode("utf-8")).hexdigest()[:12]
    return f"{version}-key-{privacy.key_id(key)}" if key is not None and any(c.pii for c in contract.columns) else version


def _stat(f: LandingFile) -> os.stat_result:
    try:
        return f.path.stat()
    except OSError as err:
        raise unreadable(f.relative, err) from None


def _sha256(f: LandingFile) -> str:
    try:
        return f.sha256()
    except OSError as err:
        raise unreadable(f.relative, err) from None


def _with_mtimes(log: pl.DataFrame, verified: dict[int, int]) -> tuple[pl.DataFrame, bool]:
    """(load log with the mtime_ns of re-hashed, unchanged files set to the file's, whether any changed)."""
    mtimes = log["mtime_ns"].to_list()
    changed = {row: mtime for row, mtime in verified.items() if mtimes[row] != mtime}
    for row, mtime in changed.items():
        mtimes[row] = mtime
    return (log.with_columns(pl.Series("mtime_ns", mtimes, dtype=pl.Int64)), True) if changed else (log, False)


def _commit(contract, layout, staging, files, loads, log, log_changed=False) -> None:
    """Move the staged files into place and write the load log: the earlier records (``log_changed``:
    with refreshed mtime_ns values) plus one per load, after every file succeeded."""
    by_relative = {f.relative: f for f in files}
    layout.entity_dir(contract).mkdir(parents=True, exist_ok=True)
    schema_file = layout.schema_file(contract)
    if not schema_file.exists() or pq.read_schema(schema_file).names != contract.arrow_schema().names():
        pq.write_table(contract.arrow_schema().to_frame().to_arrow(), layout.schema_file(contract))
    for load in loads:
        f = by_relative[load.source_file]
        for kind, target in (("data", layout.data_file(contract, f)), ("quarantine", layout.quarantine_file(contract, f))):
            staged = staging / kind / target.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if staged.exists():
                staged.replace(target)
            else:
                target.unlink(missing_ok=True)
    if loads or log_changed:
        new = pl.DataFrame([l.record() for l in loads], schema=LOAD_LOG_SCHEMA)
        path = layout.load_log(contract.entity)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        pl.concat([log, new]).write_parquet(tmp)
        tmp.replace(path)


def _load_file(contract: Contract, f: LandingFile, load: FileLoad, staging: Path, batch_rows: int,
               hash_key: bytes | None = None) -> None:
    data_writer = quarantine_writer = None
    seen_keys = pl.DataFrame(schema={k: pl.Utf8() for k in contract.key})
    (staging / "data").mkdir(exist_ok=True)
    (staging / "quarantine").mkdir(exist_ok=True)
    name = f"{f.export_date.isoformat()}__{f.path.name}.parquet"
    try:
        for batch in iter_batches(f.path, batch_rows=batch_rows, display_name=f.relative):
            load.notes.extend(batch.notes)
            if not batch.header and batch.frame.height == 0:
                continue  # an empty JSON list of records: nothing to check, 0 rows read
            mapping, unknown = contract.map_headers(batch.header)
            _check_columns(contract, f, batch.header, mapping)
            for header in unknown:
                if header not in load.unknown_columns:
                    load.unknown_columns.append(header)
            good, failures = _validate_batch(contract, f, batch.frame, mapping, seen_keys)
            if batch.rejected.height:  # rows the reader could not read (a bad NDJSON line): quarantined
                failures = pl.concat([failures, batch.rejected], how="vertical_relaxed")
            seen_keys = pl.concat([seen_keys, good.select(contract.key).cast(pl.Utf8)])
            load.rows_read += batch.frame.height + batch.rejected.height
            load.rows_loaded += good.height
            load.rows_quarantined += failures["row_number"].n_unique()
            if good.height:
                table = _with_lineage(privacy.protect(good, contract, hash_key), contract, f, load).to_arrow()
                data_writer = data_writer or pq.ParquetWriter(staging / "data" / name, table.schema)
                data_writer.write_table(table)
            if failures.height:
                table = failures.with_columns(
                    pl.lit(load.load_id).alias("_load_id"), pl.lit(contract.entity).alias("entity"),
                    pl.lit(f.relative).alias("source_file"), pl.lit(load.loaded_at).alias("quarantined_at"),
                ).select(QUARANTINE_SCHEMA.names()).cast(QUARANTINE_SCHEMA).to_arrow()
                quarantine_writer = quarantine_writer or pq.ParquetWriter(staging / "quarantine" / name, table.schema)
                quarantine_writer.write_table(table)
    finally:
        for writer in (data_writer, quarantine_writer):
            if writer is not None:
                writer.close()
    if load.rows_read != load.rows_loaded + load.rows_quarantined:  # pragma: no cover - invariant
        raise AssertionError(f"{f.relative}: rows read != loaded + quarantined")


def _check_columns(contract: Contract, f: LandingFile, header: list[str], mapping: dict[str, str]) -> None:
    """Missing required columns fail the file; say which entity the file looks like instead."""
    missing = [c for c in contract.required if c not in mapping.values()]
    if not missing:
        return
    hint = ""
    for other in contracts().values():
        if other.entity != contract.entity and set(other.required) <= set(other.map_headers(header)[0].values()):
            hint = f" (its columns match a {other.entity} export: is it in the wrong place?)"
            break
    raise FileProblem(f.relative, "missing_column",
                      f"{f.relative}: missing required column(s) {', '.join(missing)} for {contract.entity}{hint}")


def _validate_batch(contract: Contract, f: LandingFile, frame: pl.DataFrame, mapping: dict[str, str],
                    seen_keys: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split one batch into typed good rows and failure records (row, column, rule, original value)."""
    raw = frame.select([pl.col(h).alias(c) for h, c in mapping.items()] + [pl.col("_row_number")])
    raw = raw.with_columns([pl.lit(None, pl.Utf8).alias(c) for c in contract.column_names if c not in raw.columns])
    blanked = raw.select([Column.blank(pl.col(c.name)).alias(c.name) for c in contract.columns])  # values.yml
    parsed = blanked.select([c.parse(pl.col(c.name), blanked=True).cast(c.dtype).alias(c.name)
                             for c in contract.columns]).with_columns(raw["_row_number"])
    export_end = dt.datetime.combine(f.export_date + dt.timedelta(days=1), dt.time())

    failures: list[pl.DataFrame] = []

    def add(column: str, rule: str, mask: pl.Series) -> None:
        if mask.any():
            failures.append(pl.DataFrame({
                "row_number": raw["_row_number"].filter(mask), "column": column, "rule": rule,
                "original_value": raw[column].filter(mask),
            }, schema_overrides={"column": pl.Utf8, "rule": pl.Utf8}))

    cleaned_present = blanked.select(pl.all().is_not_null())
    strict = contract.strict_columns
    for col in contract.columns:
        present = cleaned_present[col.name]
        if col.name in strict:  # in free text control characters are stripped (parsing.clean_text)
            add(col.name, "control_characters", raw[col.name].str.contains(CONTROL_PATTERN).fill_null(False))
        if col.type != "str":
            add(col.name, "allowed_values" if col.type == "enum" else f"parse_{col.type}",
                present & parsed[col.name].is_null())
        if col.required:
            add(col.name, "required", ~present)
        if col.not_after_export:
            limit = f.export_date + dt.timedelta(days=1) if col.type == "date" else export_end
            after = parsed[col.name] >= limit
            add(col.name, "not_after_export_date", after.fill_null(False))
        if col.references is not None:
            known = parsed.select(col.references.normalise(pl.col(col.name)).is_in(col.references.values)).to_series()
            add(col.name, f"unknown_{col.name}", parsed[col.name].is_not_null() & ~known)

    bad_rows = set()
    for fr in failures:
        bad_rows.update(fr["row_number"].to_list())
    candidates = parsed.filter(~pl.col("_row_number").is_in(list(bad_rows)))
    schema_failures = _pandera_failures(contract, candidates.drop("_row_number"), candidates["_row_number"], raw)
    if schema_failures.height:
        failures.append(schema_failures)
        candidates = candidates.filter(~pl.col("_row_number").is_in(schema_failures["row_number"].implode()))

    keys = candidates.select([pl.col(k).cast(pl.Utf8) for k in contract.key])
    duplicate = ~keys.select(pl.struct(contract.key).is_first_distinct()).to_series()
    if seen_keys.height:
        seen = seen_keys.unique().with_columns(pl.lit(True).alias("_seen"))
        duplicate = duplicate | keys.join(seen, on=list(contract.key), how="left", nulls_equal=True,
                                          maintain_order="left")["_seen"].fill_null(False)
    if duplicate.any():
        dup_rows = candidates["_row_number"].filter(duplicate)
        failures.append(pl.DataFrame({
            "row_number": dup_rows, "column": ",".join(contract.key), "rule": "key_unique_in_file",
            "original_value": keys.filter(duplicate).select(pl.concat_str(pl.all(), separator="|")).to_series(),
        }))
        candidates = candidates.filter(~duplicate)

    failure_frame = (pl.concat(failures, how="vertical_relaxed") if failures
                     else pl.DataFrame(schema={"row_number": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8,
                                               "original_value": pl.Utf8}))
    pii = {c.name for c in contract.columns if c.pii}
    failure_frame = failure_frame.with_columns(pl.col("original_value").cast(pl.Utf8).str.replace_many(
        CONTROL_CHARACTERS, [f"\\x{ord(c):02x}" for c in CONTROL_CHARACTERS]))  # shown, never raw
    if failure_frame.height:  # personal data never reaches the (published) quarantine: mask pii columns,
        failure_frame = failure_frame.with_columns(  # and anything looking like a phone/e-mail elsewhere
            pl.when(pl.col("column").is_in(list(pii)))
            .then(pl.col("original_value").map_elements(mask_value, return_dtype=pl.Utf8))
            .otherwise(pl.col("original_value").map_elements(scrub, return_dtype=pl.Utf8)).alias("original_value"))
    return candidates, failure_frame.cast({"row_number": pl.Int64})


def _pandera_failures(contract: Contract, frame: pl.DataFrame, row_numbers: pl.Series, raw: pl.DataFrame) -> pl.DataFrame:
    """Rows breaking the Pandera schema (ranges, enums, cross-field rules) as failure records."""
    empty = pl.DataFrame(schema={"row_number": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8, "original_value": pl.Utf8})
    if frame.height == 0:
        return empty
    try:
        contract.pandera_schema.validate(frame, lazy=True)
        return empty
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    rules = {r.name: r for r in contract.rules}
    cases = cases.filter(pl.col("index").is_not_null())
    if cases.height == 0:
        raise FileProblem("", "schema", f"{contract.entity}: schema error without row: {err.failure_cases}")
    records = []
    raw_by_row = {}
    for case in cases.iter_rows(named=True):
        row_number = row_numbers[case["index"]]
        check = _rule_name(contract, case)
        column = rules[check].column if check in rules else (case["column"] or "")
        if check == "not_nullable":
            check = "required"
        if not raw_by_row:
            raw_by_row = {rn: i for i, rn in enumerate(raw["_row_number"].to_list())}
        original = raw[column][raw_by_row[row_number]] if column in raw.columns else None
        if check in rules:
            rule = rules[check]
            original = f"{rule.column}={raw[rule.column][raw_by_row[row_number]]}; {rule.gte}={raw[rule.gte][raw_by_row[row_number]]}"
        records.append({"row_number": row_number, "column": column, "rule": check, "original_value": original})
    return pl.DataFrame(records, schema=empty.schema)


def _rule_name(contract: Contract, case: dict) -> str:
    """The contract's rule name of a Pandera failure case (Pandera reports a check's error text, e.g.
    ``greater_than_or_equal_to(0)``, so map it back through the check's position)."""
    check, number = str(case["check"]), case.get("check_number")
    if number is not None and number >= 0:
        if case.get("schema_context") == "DataFrameSchema" and number < len(contract.rules):
            return contract.rules[number].name
        column = contract.pandera_schema.columns.get(case.get("column") or "")
        if case.get("schema_context") == "Column" and column is not None and number < len(column.checks):
            return column.checks[number].name or check
    return check


def _with_lineage(good: pl.DataFrame, contract: Contract, f: LandingFile, load: FileLoad) -> pl.DataFrame:
    return good.with_columns(
        pl.lit(f.relative).alias("_source_file"),
        pl.lit(f.export_date).alias("_export_date"),
        pl.lit(load.load_id).alias("_load_id"),
        pl.lit(load.loaded_at).cast(pl.Datetime("us")).alias("_loaded_at"),
    ).select(contract.arrow_schema().names()).cast(dict(contract.arrow_schema()))
