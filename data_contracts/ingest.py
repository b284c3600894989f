"""Land export files of one entity in the raw layer, enforcing its contract.

For every export file: read it in bounded batches, map headers onto canonical names, parse values
(dates, money, enums ...), validate with the entity's rules and Pandera schema (data_contracts/validation.py;
the rows of small files are validated together, each rule still per file), write good rows to
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

import polars as pl
import pyarrow.parquet as pq

from data_contracts.contract import Contract, contracts
from data_contracts.files import replacing
from data_contracts.landing import LandingFile
from data_contracts.layout import LOAD_LOG_SCHEMA, RawLayout
from data_contracts import privacy
from data_contracts.readers import iter_batches, unreadable
from data_contracts.validation import FAILURE_SCHEMA, check_columns, displayable, validate_batch

QUARANTINE_SCHEMA = pl.Schema({
    "_load_id": pl.Utf8(), "entity": pl.Utf8(), "source_file": pl.Utf8(), "row_number": pl.Int64(),
    "column": pl.Utf8(), "rule": pl.Utf8(), "original_value": pl.Utf8(), "quarantined_at": pl.Datetime("us"),
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
        shutil.rmtree(layout.quarantine_dir(entity), ignore_errors=True)
        layout.load_log(entity).unlink(missing_ok=True)
    log = layout.read_load_log(entity)
    by_age = log.with_row_index("_row").sort("loaded_at", maintain_order=True)
    latest = {r["source_file"]: r for r in by_age.iter_rows(named=True)}  # _row: its row in log

    staging = layout.staging_dir(entity, load_id)
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
        with replacing(path) as tmp:
            pl.concat([log, new]).write_parquet(tmp)


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
            check_columns(contract, f, batch.header, mapping)
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
        good, failures = (validate_batch(contract, raw, self.seen_keys) if raw is not None and raw.height
                          else (None, FAILURE_SCHEMA.to_frame()))
        if self.rejected:
            failures = pl.concat([failures, *(r.select(FAILURE_SCHEMA.names()) for r in self.rejected)],
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
            failures = displayable(contract, failures)
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
            name = RawLayout.file_name(f.export_date, f.path.name)
            writer = self.writers[(kind, index)] = pq.ParquetWriter(self.staging / kind / name, table.schema)
        writer.write_table(table)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers = {}


def _with_lineage(good: pl.DataFrame, contract: Contract, f: LandingFile, load: FileLoad) -> pl.DataFrame:
    return good.with_columns(
        pl.lit(f.relative).alias("_source_file"),
        pl.lit(f.export_date).alias("_export_date"),
        pl.lit(load.load_id).alias("_load_id"),
        pl.lit(load.loaded_at).cast(pl.Datetime("us")).alias("_loaded_at"),
    ).select(contract.arrow_schema().names()).cast(dict(contract.arrow_schema()))
