"""Streaming readers of real-world export files (CSV, XLSX, JSON, NDJSON).

:func:`iter_batches` yields :class:`Batch` objects of at most ``batch_rows`` data rows whose values
are all strings exactly as in the file (empty -> null), plus ``_row_number``: where a user finds the
row. XLSX: the sheet row. CSV: the record number as Excel shows it (header = 1, blank lines count);
it equals the line number unless an earlier quoted value spans lines. NDJSON: the line number. JSON
array: the 1-based record index. Rows that are not data are skipped and reported in
``Batch.notes``: fully blank rows, repeated header rows, totals rows (合计/总计/Total ...) and title
rows above the header. Short CSV rows are padded with nulls (noted). An NDJSON line that is not a
JSON object (e.g. truncated) is not a data row: it is reported in ``Batch.rejected`` (rule
``parse_json_line``, its line number) for the quarantine. A problem with the file as a whole
raises :class:`FileProblem` (also JSON nested too deeply, and an XLSX over :func:`xlsx_limits`).

Memory stays bounded by the batch size: CSV is parsed by pyarrow's streaming reader, XLSX by
openpyxl's read-only row parser taking only the cells present (a declared or implied sheet extent
costs nothing), JSON incrementally with the standard library. NDJSON and JSON arrays
written one record per line are read in blocks by polars' native JSON reader whenever the block is
plain (flat objects, strict JSON, see ``_fast_part``); any other block, and any other layout, goes
through the standard-library reader, which stays the reference: both give identical Batches and
the same rejected rows for a bad line. The encoding is detected from a bounded window (see
:func:`detect_encoding`); a later byte that does not fit raises ``FileProblem('encoding')``.

Modules: ``common`` (Batch, FileProblem, header names, skip rules, batching), ``encoding``, ``csv``,
``excel`` (XLSX and its limits), ``json`` (JSON/NDJSON and the fast path). This package re-exports
their public names; :func:`iter_batches` picks the reader by file suffix.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from data_contracts.readers.common import (BAD_LINE_RULE, REJECTED_SCHEMA, ROW_NUMBER, TOTAL_LABELS, Batch, FileProblem,
                                           assemble, unreadable)
from data_contracts.readers.csv import read_csv
from data_contracts.readers.encoding import ENCODINGS, detect_encoding
from data_contracts.readers.excel import XLSX_MAX_CELLS, XLSX_MAX_SHEET_BYTES, read_xlsx, xlsx_limits
from data_contracts.readers.json import read_json, too_deep

__all__ = ["BAD_LINE_RULE", "ENCODINGS", "REJECTED_SCHEMA", "ROW_NUMBER", "TOTAL_LABELS", "XLSX_MAX_CELLS",
           "XLSX_MAX_SHEET_BYTES", "Batch", "FileProblem", "detect_encoding", "iter_batches", "unreadable",
           "xlsx_limits"]


def iter_batches(path: str | Path, batch_rows: int = 200_000, display_name: str | None = None) -> Iterator[Batch]:
    """Stream a CSV/XLSX/JSON/NDJSON export as batches of string columns (see the module doc).

    Every batch but the last holds exactly ``batch_rows`` rows; a file with a header but no data
    yields one empty batch. ``display_name`` (e.g. the landing-relative path) is used in messages.
    """
    path = Path(path)
    name = display_name or str(path)
    if batch_rows < 1:
        raise ValueError("batch_rows must be positive")
    try:
        size = path.stat().st_size
    except OSError as err:
        raise unreadable(name, err) from None
    if path.is_dir():
        raise FileProblem(name, "unreadable", f"{name}: cannot read the file (it is a directory)")
    if size == 0:
        raise FileProblem(name, "empty", f"{name}: the file is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        header, chunks, unit = read_csv(path, name)
    elif suffix in (".xlsx", ".xlsm"):
        header, chunks, unit = read_xlsx(path, name)
    elif suffix in (".ndjson", ".jsonl", ".json"):
        try:
            header, chunks, unit = read_json(path, name, batch_rows, lines=True if suffix != ".json" else None)
            yield from assemble(header, chunks, batch_rows, unit)
        except RecursionError:  # the standard-library decoder's depth limit: never a traceback
            raise too_deep(name) from None
        return
    else:
        hint = " (save it as .xlsx)" if suffix == ".xls" else ""
        raise FileProblem(name, "unsupported", f"{name}: unsupported file type '{suffix}'{hint}; "
                                               "expected .csv, .xlsx, .json, .ndjson or .jsonl")
    yield from assemble(header, chunks, batch_rows, unit)
