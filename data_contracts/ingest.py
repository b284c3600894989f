"""Land export files of one entity in the raw layer, enforcing its contract.

For every export file: read it in bounded batches, map headers onto canonical names, parse values
(dates, money, enums ...), validate with the entity's Pandera schema (the rows of small files are
validated together, each rule still per file), write good rows to
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
    loader = _Loader(contract, staging, batch_rows, hash_key)
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
            loader.add_file(f, load)
            loads.append(load)
        loader.flush()
        loader.close()
        for load in loads:
            if load.rows_read != load.rows_loaded + load.rows_quarantined:  # pragma: no cover - invariant
                raise AssertionError(f"{load.source_file}: rows read != loaded + quarantined")
        log, log_changed = _with_mtimes(log, verified)
        _commit(contract, layout, staging, files, loads, log, log_changed)
    finally:
        loader.close()
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


class _Loader:
    """Validate the rows of an entity's files together, in batches of about ``batch_rows`` rows (many
    small exports cost one validation, not one each), and write each file's good rows and failure
    records to its own staged Parquet files. Each row carries its file (``_file``, an index into
    ``files``) and its export date; every rule that is per file (row numbers, duplicate keys, the
    export date limit) stays per file."""

    def __init__(self, contract: Contract, staging: Path, batch_rows: int, hash_key: bytes | None):
        self.contract, self.staging, self.batch_rows, self.hash_key = contract, staging, batch_rows, hash_key
        self.files: list[tuple[LandingFile, FileLoad]] = []
        self.pending: list[pl.DataFrame] = []
        self.rejected: list[pl.DataFrame] = []
        self.pending_rows = 0
        self.seen_keys = pl.DataFrame(schema={"_file": pl.Int64, **{k: pl.Utf8() for k in contract.key}})
        self.reading: int | None = None  # the file being read: only its keys can repeat in a later batch
        self.writers: dict[tuple[str, int], pq.ParquetWriter] = {}
        (staging / "data").mkdir(exist_ok=True)
        (staging / "quarantine").mkdir(exist_ok=True)

    def add_file(self, f: LandingFile, load: FileLoad) -> None:
        """Read ``f`` (its rows are validated with the next flush)."""
        index = self.reading = len(self.files)
        self.files.append((f, load))
        contract = self.contract
        for batch in iter_batches(f.path, batch_rows=self.batch_rows, display_name=f.relative):
            load.notes.extend(batch.notes)
            if not batch.header and batch.frame.height == 0:
                continue  # an empty JSON list of records: nothing to check, 0 rows read
            mapping, unknown = contract.map_headers(batch.header)
            _check_columns(contract, f, batch.header, mapping)
            for header in unknown:
                if header not in load.unknown_columns:
                    load.unknown_columns.append(header)
            frame = batch.frame.select([pl.col(h).cast(pl.Utf8).alias(c) for h, c in mapping.items()]
                                       + [pl.col("_row_number").cast(pl.Int64)])
            frame = frame.with_columns([pl.lit(None, pl.Utf8).alias(c) for c in contract.column_names
                                        if c not in frame.columns])
            self.pending.append(frame.select(*contract.column_names, "_row_number").with_columns(
                pl.lit(index, pl.Int64).alias("_file"), pl.lit(f.export_date, pl.Date).alias("_export_date")))
            if batch.rejected.height:  # rows the reader could not read (a bad NDJSON line): quarantined
                self.rejected.append(batch.rejected.with_columns(pl.lit(index, pl.Int64).alias("_file")))
            load.rows_read += batch.frame.height + batch.rejected.height
            self.pending_rows += batch.frame.height
            if self.pending_rows >= self.batch_rows:
                self.flush()
        self.reading = None

    def flush(self) -> None:
        """Validate the pending rows; write good rows and failures to their files' staged Parquet."""
        if not self.pending and not self.rejected:
            return
        contract = self.contract
        raw = pl.concat(self.pending) if self.pending else None
        good, failures = (_validate_batch(contract, raw, self.seen_keys) if raw is not None and raw.height
                          else (None, _FAILURE_SCHEMA.to_frame()))
        if self.rejected:
            failures = pl.concat([failures, *(r.select(_FAILURE_SCHEMA.names()) for r in self.rejected)],
                                 how="vertical_relaxed")
        self.pending, self.rejected, self.pending_rows = [], [], 0
        if good is not None and good.height:
            self.seen_keys = pl.concat([self.seen_keys, good.select(pl.col("_file"),
                                                                    *(pl.col(k).cast(pl.Utf8) for k in contract.key))])
        self.seen_keys = self.seen_keys.filter(pl.col("_file") == (-1 if self.reading is None else self.reading))
        if good is not None and good.height:
            protected = privacy.protect(good, contract, self.hash_key)
            for (index,), part in protected.partition_by("_file", as_dict=True, maintain_order=True).items():
                f, load = self.files[index]
                load.rows_loaded += part.height
                self._write("data", index, _with_lineage(part, contract, f, load).to_arrow())
        if failures.height:
            failures = _displayable(contract, failures)
            for (index,), part in failures.partition_by("_file", as_dict=True, maintain_order=True).items():
                f, load = self.files[index]
                load.rows_quarantined += part["row_number"].n_unique()
                self._write("quarantine", index, part.with_columns(
                    pl.lit(load.load_id).alias("_load_id"), pl.lit(contract.entity).alias("entity"),
                    pl.lit(f.relative).alias("source_file"), pl.lit(load.loaded_at).alias("quarantined_at"),
                ).select(QUARANTINE_SCHEMA.names()).cast(QUARANTINE_SCHEMA).to_arrow())

    def _write(self, kind: str, index: int, table) -> None:
        writer = self.writers.get((kind, index))
        if writer is None:
            f = self.files[index][0]
            name = f"{f.export_date.isoformat()}__{f.path.name}.parquet"
            writer = self.writers[(kind, index)] = pq.ParquetWriter(self.staging / kind / name, table.schema)
        writer.write_table(table)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers = {}


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


_FAILURE_SCHEMA = pl.Schema({"row_number": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8, "original_value": pl.Utf8,
                             "_file": pl.Int64})


def _validate_batch(contract: Contract, raw: pl.DataFrame, seen_keys: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split rows (the contract's columns as read, ``_row_number``, ``_file``, ``_export_date``) into
    typed good rows and failure records (row, column, rule, original value, ``_file``)."""
    raw = raw.with_row_index("_pos").with_columns(pl.col("_pos").cast(pl.Int64))
    blanked = raw.select([Column.blank(pl.col(c.name)).alias(c.name) for c in contract.columns])  # values.yml
    parsed = blanked.select([c.parse(pl.col(c.name), blanked=True).cast(c.dtype).alias(c.name)
                             for c in contract.columns]).with_columns(raw["_pos"], raw["_file"])
    export_day = raw["_export_date"].dt.offset_by("1d")  # a value on or after the next day is too late
    export_end = export_day.cast(pl.Datetime("us"))

    failures: list[pl.DataFrame] = []

    def add(column: str, rule: str, mask: pl.Series) -> None:
        if mask.any():
            failures.append(pl.DataFrame({
                "_pos": raw["_pos"].filter(mask), "column": column, "rule": rule,
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
            after = parsed[col.name] >= (export_day if col.type == "date" else export_end)
            add(col.name, "not_after_export_date", after.fill_null(False))
        if col.references is not None:
            known = parsed.select(col.references.normalise(pl.col(col.name)).is_in(col.references.values)).to_series()
            add(col.name, f"unknown_{col.name}", parsed[col.name].is_not_null() & ~known)

    bad = pl.concat([fr["_pos"] for fr in failures]) if failures else pl.Series("_pos", [], pl.Int64)
    candidates = parsed.filter(~pl.col("_pos").is_in(bad.implode()))
    schema_failures = _pandera_failures(contract, candidates.drop("_pos", "_file"), candidates["_pos"], raw)
    if schema_failures.height:
        failures.append(schema_failures)
        candidates = candidates.filter(~pl.col("_pos").is_in(schema_failures["_pos"].implode()))

    # a key seen before in the same file (earlier in this batch or in an earlier batch) is a duplicate
    keys = candidates.select(pl.col("_file"), *(pl.col(k).cast(pl.Utf8) for k in contract.key))
    duplicate = ~keys.select(pl.struct(keys.columns).is_first_distinct()).to_series()
    if seen_keys.height:
        seen = seen_keys.unique().with_columns(pl.lit(True).alias("_seen"))
        duplicate = duplicate | keys.join(seen, on=keys.columns, how="left", nulls_equal=True,
                                          maintain_order="left")["_seen"].fill_null(False)
    if duplicate.any():
        failures.append(pl.DataFrame({
            "_pos": candidates["_pos"].filter(duplicate), "column": ",".join(contract.key), "rule": "key_unique_in_file",
            "original_value": keys.filter(duplicate).select(
                pl.concat_str(list(contract.key), separator="|")).to_series(),
        }))
        candidates = candidates.filter(~duplicate)

    failure_frame = (pl.concat(failures, how="vertical_relaxed") if failures
                     else pl.DataFrame(schema={"_pos": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8,
                                               "original_value": pl.Utf8}))
    failure_frame = failure_frame.join(raw.select("_pos", pl.col("_row_number").alias("row_number"), "_file"),
                                       on="_pos", how="left", maintain_order="left")
    good = candidates.join(raw.select("_pos", "_row_number", "_export_date"), on="_pos", how="left",
                           maintain_order="left").drop("_pos")
    return good, failure_frame.select(_FAILURE_SCHEMA.names()).cast(dict(_FAILURE_SCHEMA))


def _displayable(contract: Contract, failures: pl.DataFrame) -> pl.DataFrame:
    """Failure records whose original values are safe to keep: control characters shown escaped,
    personal data masked (pii columns) or scrubbed (anything looking like a phone or e-mail)."""
    pii = {c.name for c in contract.columns if c.pii}
    failures = failures.with_columns(pl.col("original_value").cast(pl.Utf8).str.replace_many(
        CONTROL_CHARACTERS, [f"\\x{ord(c):02x}" for c in CONTROL_CHARACTERS]))  # shown, never raw
    return failures.with_columns(
        pl.when(pl.col("column").is_in(list(pii)))
        .then(pl.col("original_value").map_elements(mask_value, return_dtype=pl.Utf8))
        .otherwise(pl.col("original_value").map_elements(scrub, return_dtype=pl.Utf8)).alias("original_value"))


def _pandera_failures(contract: Contract, frame: pl.DataFrame, positions: pl.Series, raw: pl.DataFrame) -> pl.DataFrame:
    """Rows breaking the Pandera schema (ranges, enums, cross-field rules) as failure records;
    ``positions``: each row's ``_pos`` (its row in ``raw``, the values as read)."""
    empty = pl.DataFrame(schema={"_pos": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8, "original_value": pl.Utf8})
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
    for case in cases.iter_rows(named=True):
        pos = positions[case["index"]]
        check = _rule_name(contract, case)
        column = rules[check].column if check in rules else (case["column"] or "")
        if check == "not_nullable":
            check = "required"
        original = raw[column][pos] if column in raw.columns else None
        if check in rules:
            rule = rules[check]
            original = f"{rule.column}={raw[rule.column][pos]}; {rule.gte}={raw[rule.gte][pos]}"
        records.append({"_pos": pos, "column": column, "rule": check, "original_value": original})
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
