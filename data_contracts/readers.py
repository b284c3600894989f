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
"""

from __future__ import annotations

import codecs
import collections
import csv
import datetime as dt
import functools
import io
import itertools
import json
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

ROW_NUMBER = "_row_number"
ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")
TOTAL_LABELS = frozenset({"合计", "总计", "小计", "总合计", "共计", "total", "totals", "subtotal", "grandtotal", "sum"})
_TOTAL_PREFIX = r"(?i)^(?:合|总|小|共|total|subtotal|sum|grand)"  # cheap pre-test for TOTAL_LABELS
_CHUNK_BYTES = 1 << 20
_DETECT_BYTES = 4 << 20  # bytes decoded to pick the encoding (from the first non-ASCII chunk on)
_CSV_BLOCK = 1 << 22  # pyarrow block (memory per step ~ a few blocks); one CSV record must fit in it
_TITLE_LOOKAHEAD = 10  # rows searched for the header below a one-cell title row
_LISTED = 10  # row numbers listed per note


class FileProblem(Exception):
    """A file that cannot be read as a whole; ``str(err)`` is one sentence naming the file.

    ``problem`` codes: ``unreadable``, ``unsupported``, ``encoding``, ``empty``, ``bad_csv``,
    ``bad_row``, ``bad_json``, ``too_large``, ``config`` (callers add their own, e.g.
    ``missing_column``; data_contracts/landing.py ``outside_landing``, ``bad_date_folder``).
    """

    def __init__(self, path: str | Path, problem: str, message: str | None = None):
        self.path = str(path)
        self.problem = problem
        self.message = message or f"{path}: {problem}"
        super().__init__(self.message)


@dataclass
class Batch:
    """One batch of data rows of a file.

    ``header``: the column names of ``frame`` (without ``_row_number``): the file's header cells,
    trimmed and BOM-free; a blank header becomes ``column_<position>`` and a repeated one gets a
    ``_2``, ``_3`` ... suffix (both noted). ``frame``: all columns ``pl.Utf8`` plus ``_row_number``
    (``pl.Int64``). ``notes``: what was skipped or repaired since the previous batch.
    ``rejected``: rows since the previous batch that could not be read (:data:`REJECTED_SCHEMA`).
    """

    header: list[str]
    frame: pl.DataFrame
    notes: list[str] = field(default_factory=list)
    rejected: pl.DataFrame = field(default_factory=lambda: REJECTED_SCHEMA.to_frame())


#: ``Batch.rejected``: rows that could not be read at all (an NDJSON line that is not a JSON object),
#: one per row, in ingest's failure-record layout: they go to the quarantine and count as rows read.
REJECTED_SCHEMA = pl.Schema({"row_number": pl.Int64(), "column": pl.Utf8(), "rule": pl.Utf8(),
                             "original_value": pl.Utf8()})
BAD_LINE_RULE = "parse_json_line"


def _rejected_frame(rows: list[tuple[int, str]]) -> pl.DataFrame:
    """``(line number, reason)`` pairs as ``Batch.rejected`` rows (the reason is the value shown)."""
    return pl.DataFrame({"row_number": [n for n, _ in rows], "column": [None] * len(rows),
                         "rule": [BAD_LINE_RULE] * len(rows), "original_value": [r for _, r in rows]},
                        schema=REJECTED_SCHEMA)


# --- encodings ------------------------------------------------------------------------------------

def detect_encoding(path: str | Path, display_name: str | None = None) -> str:
    """``'utf-8-sig'`` (BOM), ``'utf-8'`` or ``'gb18030'`` (a superset of GBK/GB2312).

    Decided from a bounded window, not the whole file: leading pure-ASCII 1 MiB chunks are skipped
    with a cheap ``isascii`` test, then up to :data:`_DETECT_BYTES` from the first chunk holding a
    non-ASCII byte are decoded strictly (an incremental decoder, so a character cut by the window
    end is not an error). The readers decode the rest and raise ``FileProblem('encoding')`` naming
    the line or row if a later byte does not fit the detected encoding.
    """
    name = display_name or str(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                raise FileProblem(name, "encoding", f"{name}: the file is UTF-16 text, which is not supported "
                                                    "(save it as CSV UTF-8)")
            fh.seek(0)
            if head.startswith(codecs.BOM_UTF8):
                candidates = ["utf-8-sig"]
                window = fh.read(_DETECT_BYTES)
            else:
                candidates = ["utf-8", "gb18030"]
                for window in iter(lambda: fh.read(_CHUNK_BYTES), b""):
                    if not window.isascii():  # the chunk starts on a character boundary: all before was ASCII
                        break
                else:
                    return "utf-8"  # pure ASCII (or nothing but a BOM-less empty tail)
                window += fh.read(max(0, _DETECT_BYTES - len(window)))
            final = not fh.read(1)
    except OSError as err:
        raise unreadable(name, err) from None
    for encoding in candidates:
        try:
            codecs.getincrementaldecoder(encoding)("strict").decode(window, final=final)
            return encoding
        except UnicodeDecodeError:
            continue
    if candidates == ["utf-8-sig"]:
        raise FileProblem(name, "encoding", f"{name}: the file starts with a UTF-8 byte-order mark "
                                            "but is not valid UTF-8")
    raise FileProblem(name, "encoding", f"{name}: cannot detect the text encoding (tried {', '.join(ENCODINGS)})")


def _encoding_label(encoding: str) -> str:
    return "GB18030" if encoding == "gb18030" else "UTF-8"


def _mixed_encoding(name: str, encoding: str, where: str, detail: str = "") -> FileProblem:
    """A byte after the detection window that does not fit the detected encoding."""
    label = _encoding_label(encoding)
    return FileProblem(name, "encoding", f"{name}: {where} is not valid {label} text{detail}, although the start "
                                         f"of the file is {label} (a file mixing encodings? save it in one encoding)")


def unreadable(name: str, err: Exception) -> FileProblem:
    """The file problem of an OSError while reading ``name``."""
    reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return FileProblem(name, "unreadable", f"{name}: cannot read the file ({reason})")


# --- the public entry point -----------------------------------------------------------------------

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
        header, chunks, unit = _csv(path, name)
    elif suffix in (".xlsx", ".xlsm"):
        header, chunks, unit = _xlsx(path, name)
    elif suffix in (".ndjson", ".jsonl", ".json"):
        try:
            header, chunks, unit = _json(path, name, batch_rows, lines=True if suffix != ".json" else None)
            yield from _assemble(header, chunks, batch_rows, unit)
        except RecursionError:  # the standard-library decoder's depth limit: never a traceback
            raise _too_deep(name) from None
        return
    else:
        hint = " (save it as .xlsx)" if suffix == ".xls" else ""
        raise FileProblem(name, "unsupported", f"{name}: unsupported file type '{suffix}'{hint}; "
                                               "expected .csv, .xlsx, .json, .ndjson or .jsonl")
    yield from _assemble(header, chunks, batch_rows, unit)


# --- shared: header names, skip rules, batching ---------------------------------------------------

@dataclass
class _Chunk:
    """Rows as read: columns ``c0..c{n-1}`` (Utf8) + ``_row_number``; ``skipped`` = (kind, row, label)."""

    frame: pl.DataFrame
    skipped: list[tuple[str, int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason): see Batch.rejected


def _cell(value: Any) -> str:
    return "" if value is None else str(value).replace("\ufeff", "").strip()


def _unique_header(cells: list[str]) -> tuple[list[str], list[str]]:
    """Blank -> ``column_<n>``, repeats -> ``<name>_<k>``; returns (names, notes)."""
    taken = {c for c in cells if c} | {ROW_NUMBER}
    names: list[str] = []
    notes: list[str] = []
    for position, cell in enumerate(cells, start=1):
        if not cell:
            candidate, k = f"column_{position}", 2
            while candidate in taken or candidate in names:
                candidate, k = f"column_{position}_{k}", k + 1
            notes.append(f"blank header in column {position} named '{candidate}'")
        elif cell in names or cell == ROW_NUMBER:
            k = 2
            while f"{cell}_{k}" in taken or f"{cell}_{k}" in names:
                k += 1
            candidate = f"{cell}_{k}"
            notes.append(f"repeated header '{cell}' in column {position} renamed to '{candidate}'")
        else:
            candidate = cell
        names.append(candidate)
    blank = [n for n in notes if n.startswith("blank header")]
    if len(blank) > _LISTED:  # e.g. an XLSX header with one stray cell far to the right
        first = [int(n.split()[4]) for n in blank[:_LISTED]]
        notes = [f"blank headers in {len(blank)} columns ({', '.join(map(str, first))} ...) named "
                 "'column_<position>'"] + [n for n in notes if not n.startswith("blank header")]
    return names, notes


def _header_position(rows: list[list[str]]) -> int | None:
    """Index of the header among the first rows: the first non-blank row, unless it is a one-cell
    title ("客户明细表") followed closely by a wider row."""
    filled = [sum(1 for c in row if c) for row in rows]
    first = next((i for i, n in enumerate(filled) if n), None)
    if first is None or filled[first] > 1:
        return first
    wider = next((i for i in range(first + 1, min(len(rows), first + 1 + _TITLE_LOOKAHEAD)) if filled[i] > 1), None)
    return wider if wider is not None else first


def _skip_rows(chunk: _Chunk, header_cells: list[str], unit: str) -> _Chunk:
    """Drop blank rows, repeated header rows and totals rows, recording them in ``chunk.skipped``.

    A cheap test on the first column picks the candidate rows; only those get the full test.
    """
    frame = chunk.frame
    n = len(header_cells)
    if frame.height == 0 or n == 0:
        return chunk
    c0 = pl.col("c0").str.strip_chars()
    candidate = (c0.is_null() | (c0 == "") | (c0 == header_cells[0]) | c0.str.contains(_TOTAL_PREFIX)).fill_null(True)
    rows = frame.filter(candidate)
    if rows.height == 0:
        return chunk
    stripped = [pl.col(f"c{i}").str.strip_chars() for i in range(n)]
    blank = pl.all_horizontal([s.is_null() | (s == "") for s in stripped])
    header = pl.all_horizontal([s.fill_null("") == h for s, h in zip(stripped, header_cells, strict=True)])
    first = pl.coalesce([pl.when(s != "").then(s) for s in stripped])
    total = first.str.replace_all(r"[\s:：]", "").str.to_lowercase().is_in(list(TOTAL_LABELS))
    kind = (pl.when(blank).then(pl.lit("blank")).when(header).then(pl.lit("header"))
            .when(total).then(pl.lit("total")))
    skipped = (rows.select(kind.alias("kind"), pl.col(ROW_NUMBER), first.alias("first"))
               .filter(pl.col("kind").is_not_null()))
    if skipped.height == 0:
        return chunk
    chunk.skipped += [(k, r, f or "") for k, r, f in skipped.iter_rows()]
    chunk.frame = frame.filter(~pl.col(ROW_NUMBER).is_in(skipped[ROW_NUMBER].implode()))
    return chunk


def _format_notes(skipped: list[tuple[str, int, str]], unit: str) -> list[str]:
    """Human notes, one per kind: "skipped totals row (合计) at row 1002"."""
    what = {"title": "title row", "blank": "blank " + unit, "header": "repeated header " + unit,
            "total": "totals " + unit, "short": "short " + unit}
    notes = []
    for kind in ("title", "blank", "header", "total", "short"):
        items = sorted((row, label) for k, row, label in skipped if k == kind)
        if not items:
            continue
        if kind == "blank":  # label "+<k>": a run of rows row .. row + k (XLSX rows missing from the file)
            runs = [(row, int(label[1:]) if label.startswith("+") else 0) for row, label in items]
            count = sum(k + 1 for _, k in runs)
            rows = [r for row, k in runs for r in range(row, row + min(k, _LISTED) + 1)][:_LISTED]
        else:
            rows = [row for row, _ in items]
            count = len(rows)
        listed = ", ".join(str(r) for r in rows[:_LISTED])
        if count > _LISTED:
            listed += f" ... ({count} in all)"
        at = f"{unit} {listed}" if count == 1 else f"{unit}s {listed}"
        noun = what[kind] if count == 1 else f"{count} {what[kind]}s"
        if kind == "total":
            labels = ", ".join(dict.fromkeys(label for _, label in items))
            notes.append(f"skipped {noun} ({labels}) at {at}")
        elif kind == "title":
            notes.append(f"skipped title row '{items[0][1]}' above the header at {at}")
        elif kind == "short":
            notes.append(f"padded {noun} with empty cells (fewer fields than the header) at {at}")
        else:
            notes.append(f"skipped {noun} at {at}")
    return notes


def _assemble(header_cells: list[str], chunks: Iterator[_Chunk], batch_rows: int, unit: str) -> Iterator[Batch]:
    """Apply the skip rules, rename ``c<i>`` to the header and re-cut into ``batch_rows`` batches.

    A batch is only emitted once a later data row exists, so notes about rows after the last data
    row still reach the caller (on the last batch).
    """
    names, header_notes = _unique_header(header_cells)
    rename = {f"c{i}": name for i, name in enumerate(names)}
    schema = {**{name: pl.Utf8 for name in names}, ROW_NUMBER: pl.Int64}
    notes: list[str] = list(header_notes)
    skipped: list[tuple[str, int, str]] = []
    rejected: list[tuple[int, str]] = []
    buffer: list[pl.DataFrame] = []
    buffered = 0

    def batch(frame: pl.DataFrame) -> Batch:
        return Batch(list(names), frame, notes + _format_notes(skipped, unit) + _rejected_notes(rejected, unit),
                     _rejected_frame(rejected))

    for chunk in chunks:
        chunk = _skip_rows(chunk, header_cells, unit)
        skipped += chunk.skipped
        notes += chunk.notes
        rejected += chunk.rejected
        if chunk.frame.height == 0:
            continue
        buffer.append(chunk.frame.rename(rename).select(list(schema)))
        buffered += chunk.frame.height
        while buffered > batch_rows:
            frame = pl.concat(buffer, rechunk=False)
            buffer, buffered = [frame.slice(batch_rows)], buffered - batch_rows
            yield batch(frame.slice(0, batch_rows).rechunk())
            notes, skipped, rejected = [], [], []
    yield batch(pl.concat(buffer).rechunk() if buffer else pl.DataFrame(schema=schema))


def _rejected_notes(rejected: list[tuple[int, str]], unit: str) -> list[str]:
    if not rejected:
        return []
    listed = ", ".join(str(n) for n, _ in rejected[:_LISTED]) + (f" ... ({len(rejected)} in all)"
                                                                  if len(rejected) > _LISTED else "")
    noun = f"{unit} {listed} is" if len(rejected) == 1 else f"{len(rejected)} {unit}s ({listed}) are"
    return [f"{noun} not a valid JSON object: quarantined (rule {BAD_LINE_RULE})"]


def _frame(columns: list[list[str | None]], numbers: list[int]) -> pl.DataFrame:
    data = {f"c{i}": pl.Series(values, dtype=pl.Utf8) for i, values in enumerate(columns)}
    data[ROW_NUMBER] = pl.Series(numbers, dtype=pl.Int64)
    return pl.DataFrame(data)


def _rows_to_chunk(rows: list[list[str | None]], numbers: list[int], width: int, **extra) -> _Chunk:
    columns = [[row[i] if i < len(row) else None for row in rows] for i in range(width)]
    return _Chunk(_frame(columns, numbers), **extra)


# --- CSV ------------------------------------------------------------------------------------------

def _sniff_delimiter(lines: list[str]) -> str:
    """The candidate occurring most often on the first line that has any (ties and default: comma)."""
    for line in lines:
        counts = {d: line.count(d) for d in (",", "\t", ";", "|")}
        best = max(counts, key=lambda d: counts[d])
        if counts[best]:
            return best if counts[best] > counts[","] else ","
    return ","


def _head_complete(head: list[list[Any]]) -> bool:
    """Enough leading rows read to place the header (first non-blank row + title lookahead)."""
    first = next((i for i, row in enumerate(head) if any(c not in (None, "") for c in row)), None)
    return first is not None and len(head) - first > _TITLE_LOOKAHEAD


def _csv(path: Path, name: str) -> tuple[list[str], Iterator[_Chunk], str]:
    """Header via the csv module (first records only), data via pyarrow's streaming reader."""
    encoding = detect_encoding(path, name)
    head: list[list[str]] = []
    try:
        with open(path, encoding=encoding, newline="") as fh:
            delimiter = _sniff_delimiter([line for _, line in zip(range(50), fh, strict=False)])
        with open(path, encoding=encoding, newline="") as fh:
            for record in csv.reader(fh, delimiter=delimiter):
                head.append([_cell(c) for c in record])
                if _head_complete(head):
                    break
    except csv.Error as err:
        raise FileProblem(name, "bad_csv", f"{name}: cannot parse the CSV header ({err})") from None
    except UnicodeDecodeError:
        raise _mixed_encoding(name, encoding, f"row {len(head) + 1}") from None
    except OSError as err:
        raise unreadable(name, err) from None
    position = _header_position(head)
    if position is None:
        raise FileProblem(name, "empty", f"{name}: the file has no header row (it holds only blank lines)")
    header = head[position]
    header_row = position + 1
    chunks = _csv_chunks(path, name, encoding, delimiter, len(header), header_row, _leading(head[:position]))
    return header, chunks, "row"


def _leading(rows: list[list[str]]) -> list[tuple[str, int, str]]:
    """Skip records for the rows above the header: blank rows and title rows."""
    return [("title", i, next(c for c in row if c)) if any(row) else ("blank", i, "")
            for i, row in enumerate(rows, start=1)]


def _csv_chunks(path: Path, name: str, encoding: str, delimiter: str, width: int, header_row: int,
                leading: list[tuple[str, int, str]]) -> Iterator[_Chunk]:
    names = [f"c{i}" for i in range(width)]
    invalid: collections.deque[tuple[int, str]] = collections.deque()  # rows not fitting the header width

    def on_invalid(row) -> str:
        if row.number is None:  # pragma: no cover - only without use_threads=False
            return "error"
        invalid.append((row.number, row.text))
        return "skip"

    open_csv = functools.partial(
        pacsv.open_csv,
        path,
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=_CSV_BLOCK,
                                       encoding="utf8" if encoding.startswith("utf-8") else encoding),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False,
                                         invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, null_values=[""],
                                             strings_can_be_null=True, quoted_strings_can_be_null=True),
    )
    next_number = 1

    def problem(err: Exception) -> FileProblem:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        if isinstance(err, UnicodeDecodeError) or "invalid UTF8" in reason:  # a byte after detect_encoding's window
            return _mixed_encoding(name, encoding, f"a row after row {next_number - 1}", f" ({reason})")
        return FileProblem(name, "bad_csv", f"{name}: cannot parse the CSV after row {next_number - 1} ({reason})")

    try:
        reader = open_csv()  # reads and converts the first block already
    except (pa.ArrowInvalid, UnicodeDecodeError) as err:
        raise problem(err) from None
    with reader:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                batch = None
            except (pa.ArrowInvalid, UnicodeDecodeError) as err:
                raise problem(err) from None
            if batch is None:
                chunk = (_repair_rows(name, list(invalid), delimiter, width, header_row)
                         or _Chunk(_frame([[] for _ in range(width)], [])))
                chunk.skipped = leading + chunk.skipped
                yield chunk
                return
            frame = pl.from_arrow(batch)
            # number the valid rows, leaving out the numbers of rows the handler took (pyarrow reads
            # one block ahead, so only handler rows up to this batch's last row belong to it)
            end = next_number + frame.height - 1
            taken = []
            while invalid and invalid[0][0] <= end:
                taken.append(invalid.popleft())
                end += 1
            numbers = pl.int_range(next_number, end + 1, dtype=pl.Int64, eager=True)
            if taken:
                numbers = numbers.filter(~numbers.is_in([n for n, _ in taken]))
            next_number = end + 1
            frame = frame.with_columns(numbers.alias(ROW_NUMBER))
            repaired = _repair_rows(name, taken, delimiter, width, header_row)
            if repaired is not None:
                frame = pl.concat([frame, repaired.frame]).sort(ROW_NUMBER)
            if frame.height and frame[ROW_NUMBER][0] <= header_row:
                frame = frame.filter(pl.col(ROW_NUMBER) > header_row)
            chunk = _Chunk(frame, skipped=leading + (repaired.skipped if repaired else []))
            leading = []
            yield chunk


def _repair_rows(name: str, rows: list[tuple[int, str]], delimiter: str, width: int, header_row: int) -> _Chunk | None:
    """Rows with a different field count: pad short ones; long ones may only add empty fields."""
    rows = [(n, text) for n, text in rows if n > header_row]
    if not rows:
        return None
    values, numbers, skipped = [], [], []
    for number, text in rows:
        fields = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
        if len(fields) > width:
            if any(f.strip() for f in fields[width:]):
                raise FileProblem(name, "bad_row", f"{name}: row {number} has {len(fields)} fields but the header has "
                                                   f"{width} (a value with an unquoted '{delimiter}'?)")
            fields = fields[:width]
        elif len(fields) < width and any(f.strip() for f in fields):
            skipped.append(("short", number, ""))
        values.append([f if f != "" else None for f in fields])
        numbers.append(number)
    return _rows_to_chunk(values, numbers, width, skipped=skipped)


# --- XLSX -----------------------------------------------------------------------------------------

def _cell_text(value: Any) -> str | None:
    """An XLSX cell as the string a user sees (ISO dates, full-precision numbers)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return repr(value)
        if value.is_integer():
            return str(int(value))
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text else text
    if isinstance(value, dt.datetime):
        if value.microsecond >= 500_000:
            value += dt.timedelta(seconds=1)
        value = value.replace(microsecond=0)
        return value.strftime("%Y-%m-%d") if value.time() == dt.time() else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    return str(value)


#: XLSX limits (README "Data contracts"): a first sheet needing more cells (data rows x header
#: columns) or whose XML is larger uncompressed is a file problem (``too_large``). Environment
#: overrides: CRM_PULSE_XLSX_MAX_CELLS, CRM_PULSE_XLSX_MAX_SHEET_BYTES.
XLSX_MAX_CELLS = 50_000_000
XLSX_MAX_SHEET_BYTES = 4 << 30


def xlsx_limits(environ=None) -> tuple[int, int]:
    """(max cells, max uncompressed sheet bytes), from the environment or the defaults; a bad
    value raises ``ValueError`` naming the variable (the settings check can call this)."""
    env = os.environ if environ is None else environ

    def value(var: str, default: int) -> int:
        text = env.get(var, "").strip()
        if not text:
            return default
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"{var} must be a positive whole number, got {text!r}")
        return int(text)

    return (value("CRM_PULSE_XLSX_MAX_CELLS", XLSX_MAX_CELLS),
            value("CRM_PULSE_XLSX_MAX_SHEET_BYTES", XLSX_MAX_SHEET_BYTES))


def _sheet_rows(sheet) -> Iterator[tuple[int, list[tuple[int, Any]]]]:
    """``(row number, [(column, value), ...])`` of the cells present in a read-only sheet, in order.

    Unlike ``iter_rows`` nothing is padded: a row whose only cell sits in column XFD is one cell,
    not 16,384, and a missing row costs nothing, whatever dimension the sheet declares. (openpyxl's
    own read-only row parser, as ``ReadOnlyWorksheet._cells_by_row`` uses it.)
    """
    from openpyxl.worksheet._reader import WorkSheetParser

    book = sheet.parent
    last = 0
    with sheet._get_source() as src:
        parser = WorkSheetParser(src, sheet._shared_strings, data_only=book.data_only, epoch=book.epoch,
                                 date_formats=book._date_formats, timedelta_formats=book._timedelta_formats)
        for number, cells in parser.parse():
            if number <= last:  # a row out of order or repeated: iter_rows drops it too
                continue
            last = number
            yield number, [(c["column"], c["value"]) for c in cells if c["value"] is not None]


def _dense(cells: list[tuple[int, Any]], width: int | None = None) -> list[str | None]:
    """Cell texts by position (up to ``width`` columns, else up to the last present cell)."""
    width = width if width is not None else max((c for c, _ in cells), default=0)
    row: list[str | None] = [None] * width
    for column, value in cells:
        if column <= width:
            row[column - 1] = _cell_text(value)
    return row


def _xlsx(path: Path, name: str) -> tuple[list[str], Iterator[_Chunk], str]:
    import openpyxl  # imported lazily: only XLSX needs it

    try:
        max_cells, max_bytes = xlsx_limits()
    except ValueError as err:
        raise FileProblem(name, "config", f"{name}: not read: {err}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except OSError as err:
        raise unreadable(name, err) from None
    except Exception as err:  # BadZipFile, KeyError, InvalidFileException ...
        raise FileProblem(name, "unreadable",
                          f"{name}: cannot open it as an .xlsx workbook ({err or type(err).__name__})") from None
    try:
        sheet = workbook.worksheets[0]
        size = workbook._archive.getinfo(sheet._worksheet_path).file_size
        if size > max_bytes:
            raise FileProblem(name, "too_large", f"{name}: the first sheet '{sheet.title}' is {size:,} bytes of XML "
                                                 f"uncompressed, more than the limit of {max_bytes:,} "
                                                 "(CRM_PULSE_XLSX_MAX_SHEET_BYTES); split the export or save it as CSV")
        rows = _sheet_rows(sheet)
        head: list[list[str | None]] = []  # rows offset + 1, offset + 2 ...
        offset = 0  # rows missing from the file above its first row
        for number, cells in rows:
            if not head:
                offset = number - 1
            first = next((i for i, row in enumerate(head) if any(c not in (None, "") for c in row)), None)
            if first is not None and number - 1 - offset - first > _TITLE_LOOKAHEAD:
                rows = itertools.chain([(number, cells)], rows)  # past the window: a data row
                break
            head += [[] for _ in range(number - 1 - offset - len(head))]  # rows missing from the file are blank
            head.append(_dense(cells))
            if _head_complete(head):
                break
    except FileProblem:
        workbook.close()
        raise
    except Exception as err:
        workbook.close()
        raise FileProblem(name, "unreadable",
                          f"{name}: cannot read the first sheet ({err or type(err).__name__})") from None
    position = _header_position([[_cell(c) for c in row] for row in head])
    if position is None:
        workbook.close()
        raise FileProblem(name, "empty", f"{name}: the first sheet '{sheet.title}' has no header row (it is blank)")
    header = [_cell(c) for c in head[position]]
    while header and not header[-1]:
        header.pop()  # trailing cells without a header and without data never exist in XLSX
    notes = []
    others = [ws.title for ws in workbook.worksheets[1:]]
    if others:
        notes.append(f"read the first sheet '{sheet.title}'; ignored {len(others)} other sheet(s): "
                     + ", ".join(f"'{t}'" for t in others))
    titles = [(kind, row + offset, label) for kind, row, label in _leading([[_cell(c) for c in row]
                                                                              for row in head[:position]])]
    if offset:
        titles.insert(0, ("blank", 1, f"+{offset - 1}"))
    limit = (name, sheet.title, max_cells)
    return header, _xlsx_chunks(workbook, name, head, position, rows, len(header), notes, titles, limit, offset), "row"


def _xlsx_chunks(workbook, name, head, position, rows, width, notes, titles, limit, offset=0) -> Iterator[_Chunk]:
    """Data rows in chunks; a blank row (or one missing from the file) is recorded as skipped
    without being built, so memory and time follow the cells present, not the sheet's extent."""
    chunk_rows = 20_000
    values: list[list[str | None]] = []
    numbers: list[int] = []
    blank: list[tuple[str, int, str]] = []
    outside = [0, 0, 0]  # count, first row, first column
    cells_used = [0]

    def note_outside(number: int, columns: list[int]) -> None:
        if columns:
            if not outside[0]:
                outside[1], outside[2] = number, columns[0]
            outside[0] += len(columns)

    def take(number: int, row: list[str | None]) -> None:
        note_outside(number, [j for j, c in enumerate(row[width:], start=width + 1) if c is not None and str(c).strip()])
        values.append(row[:width])
        numbers.append(number)
        cells_used[0] += width
        if cells_used[0] > limit[2]:
            raise FileProblem(name, "too_large", f"{name}: the first sheet '{limit[1]}' needs more than {limit[2]:,} "
                                                 f"cells (data rows x {width} header columns, at row {number}), "
                                                 "the limit (CRM_PULSE_XLSX_MAX_CELLS); split the export or save it as CSV")

    def flush(**extra) -> _Chunk:
        chunk = _rows_to_chunk(values, numbers, width, skipped=blank + extra.pop("skipped", []), **extra)
        values.clear()
        numbers.clear()
        blank.clear()
        return chunk

    try:
        first_notes = list(notes)
        for i, row in enumerate(head[position + 1:], start=offset + position + 2):
            take(i, row)
        number = offset + len(head)
        for row_number, cells in rows:
            if row_number > number + 1:  # rows missing from the file: one run
                blank.append(("blank", number + 1, f"+{row_number - number - 2}"))
            number = row_number
            texts = [(c, _cell_text(v)) for c, v in cells]
            inside = [(c, t) for c, t in texts if c <= width and t is not None]
            if not any(t.strip() for _, t in inside):
                blank.append(("blank", number, ""))
                note_outside(number, [c for c, t in texts if c > width and t is not None and t.strip()])
            else:
                note_outside(number, [c for c, t in texts if c > width and t is not None and t.strip()])
                take(number, _dense(cells, width))
            if len(values) + len(blank) >= chunk_rows:
                yield flush(skipped=titles, notes=first_notes)
                titles, first_notes = [], []
        if outside[0]:
            first_notes.append(f"ignored {outside[0]} value(s) in columns without a header "
                               f"(first at row {outside[1]}, column {_column_letter(outside[2])})")
        yield flush(skipped=titles, notes=first_notes)
    except FileProblem:
        raise
    except Exception as err:
        raise FileProblem(name, "unreadable", f"{name}: cannot read the sheet ({err or type(err).__name__})") from None
    finally:
        workbook.close()


def _column_letter(index: int) -> str:
    letters = ""
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


# --- JSON / NDJSON --------------------------------------------------------------------------------

def _json_text(value: Any) -> str | None:
    """A JSON value as text: numbers exactly as written, nested values as compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=float)


def _json(path: Path, name: str, batch_rows: int, lines: bool | None) -> tuple[list[str], Iterator[_Chunk], str]:
    """Two passes when the file exceeds one batch: keys first (the header is the union of all keys
    in order of first appearance), then the rows. NDJSON, and arrays written one record per line,
    take the native fast path (:func:`_ndjson_parts`) unless ``_FAST_JSON`` is off; its Batches are
    identical to the reference readers' (:func:`_ndjson_records`, :func:`_array_records`)."""
    encoding = detect_encoding(path, name)
    notes = []
    if lines is None:
        lines = _looks_like_ndjson(path, name, encoding)
        if lines:
            notes.append("the .json file holds one JSON object per line; read it as NDJSON")
    unit = "line" if lines else "record"

    def records() -> Iterator[tuple[int, dict | None]]:
        return _ndjson_records(path, name, encoding) if lines else _array_records(path, name, encoding, notes)

    def parts(keys: dict[str, None], decode) -> Iterator[_Part]:
        return _ndjson_parts(path, name, encoding, keys, decode, array=None if lines else _ArrayState())

    keys: dict[str, None] = {}
    kept: list | None = []
    bad: list[tuple[int, str]] = []  # the first bad line (all bad lines and no good one: a file problem)
    fast = _FAST_JSON
    if fast:
        try:
            rows = 0
            for part in parts(keys, lambda: kept is not None):
                rows += part.count
                bad = bad or part.rejected[:1]
                if kept is not None:
                    kept.append(part)
                    if rows > batch_rows:
                        kept = None
            empty = rows == 0
        except _NotPlain:  # an array laid out otherwise: the reference reads it (and words any error)
            fast, keys, kept = False, {}, []
    if not fast:
        for number, record in records():
            if isinstance(record, _BadLine):
                bad = bad or [(number, str(record))]
            elif record:
                for key in record:
                    keys.setdefault(key)
            if kept is not None:
                kept.append((number, record))
                if len(kept) > batch_rows:
                    kept = None
        empty = kept == []
    if not keys and bad:
        raise FileProblem(name, "bad_json", f"{name}: {unit} {bad[0][0]} is {bad[0][1]} (and no {unit} is a JSON "
                                            "object with fields)")
    if not keys:
        if empty:  # an empty list of records ([] or {"data": []}): a quiet day of an API export, 0 rows
            notes.append("the file holds an empty list of records (0 rows)")
            return [], iter([_Chunk(pl.DataFrame(schema={ROW_NUMBER: pl.Int64}), notes=list(notes))]), unit
        raise FileProblem(name, "empty", f"{name}: the file holds no records with fields, so it has no columns")
    header = list(keys)
    if fast:
        source = kept if kept is not None else parts(dict(keys), lambda: True)
    else:
        source = _record_parts(kept if kept is not None else records())
    return [_cell(k) for k in header], _part_chunks(source, header, notes), unit


def _record_parts(records) -> Iterator[_Part]:
    """Reference ``(row number, record)`` pairs as :class:`_Part` blocks of :data:`_JSON_CHUNK_ROWS` rows."""
    block: list[tuple[int, dict | None]] = []
    rejected: list[tuple[int, str]] = []
    for number, record in records:
        if isinstance(record, _BadLine):
            rejected.append((number, str(record)))
            continue
        block.append((number, record))
        if len(block) >= _JSON_CHUNK_ROWS:
            yield _Part(block[0][0], len(block), records=block, rejected=rejected)
            block, rejected = [], []
    if block or rejected:
        yield _Part(block[0][0] if block else rejected[0][0], len(block), records=block, rejected=rejected)


def _object_or_fail(name: str, value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise FileProblem(name, "bad_json", f"{name}: {where} is not a JSON object (found {type(value).__name__})")
    return value


class _BadLine(str):
    """Why an NDJSON line is not a JSON object (the line is quarantined, see ``Batch.rejected``)."""


def _ndjson_line(decoder: json.JSONDecoder, line: str) -> dict | _BadLine | None:
    """One NDJSON line as an object; ``None`` for a blank line, :class:`_BadLine` for a bad one."""
    text = line.strip()
    if not text:
        return None
    try:
        value = decoder.decode(text)
    except json.JSONDecodeError as err:
        return _BadLine(f"not valid JSON ({err.msg.removesuffix(' at')} at column {err.colno})")
    if not isinstance(value, dict):
        return _BadLine(f"not a JSON object (found {type(value).__name__})")
    return value


def _too_deep(name: str) -> FileProblem:
    return FileProblem(name, "bad_json", f"{name}: the JSON is nested too deeply (objects or lists more than about "
                                         f"{sys.getrecursionlimit()} levels deep); export it flatter")


def _ndjson_records(path: Path, name: str, encoding: str) -> Iterator[tuple[int, dict | None]]:
    """``(line number, object)``; blank lines give ``None`` (skipped as blank rows). The reference
    reader (pure Python, one line at a time); :func:`_ndjson_parts` is the fast equivalent."""
    decoder = json.JSONDecoder(parse_float=Decimal)
    try:
        with open(path, encoding=encoding, newline="") as fh:
            for number, line in enumerate(fh, start=1):
                yield number, _ndjson_line(decoder, line)
    except UnicodeDecodeError:
        raise _bad_byte_problem(path, name, encoding) from None


def _looks_like_ndjson(path: Path, name: str, encoding: str) -> bool:
    """A ``.json`` file whose first two non-blank lines are each a complete JSON object."""
    seen = 0
    try:
        with open(path, encoding=encoding, newline="") as fh:
            while seen < 2:
                line = fh.readline(_CHUNK_BYTES)
                if not line:
                    return False
                if not line.strip():
                    continue
                if not line.endswith(("\n", "\r")) and len(line) >= _CHUNK_BYTES:
                    return False
                try:
                    if not isinstance(json.loads(line), dict):
                        return False
                except ValueError:
                    return False
                seen += 1
    except UnicodeDecodeError:
        raise _bad_byte_problem(path, name, encoding) from None
    return True


def _line_blocks(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(file offset, bytes)`` blocks of about :data:`_JSON_BLOCK` bytes, each ending after a
    ``\\n`` (but the last): a cut never splits a UTF-8/GB18030 character or a ``\\r\\n``."""
    with open(path, "rb") as fh:
        rest, offset = b"", 0
        while True:
            data = fh.read(_JSON_BLOCK)
            if not data:
                if rest:
                    yield offset, rest
                return
            data = rest + data if rest else data
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # one line longer than a block: read on
                rest = data
                continue
            yield offset, data[:cut]
            offset += cut
            rest = data[cut:]


def _line_breaks(data: bytes) -> int:
    """Lines ended in ``data`` as Python's text reader counts them (``\\n``, ``\\r\\n``, lone ``\\r``)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _bad_byte_problem(path: Path, name: str, encoding: str) -> FileProblem:
    """The line and byte offset of the first byte that does not decode as ``encoding``."""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    lines = 0
    try:
        for offset, block in _line_blocks(path):
            try:
                block.decode(codec)
            except UnicodeDecodeError as err:
                where = lines + _line_breaks(block[:err.start]) + 1
                return _mixed_encoding(name, encoding, f"line {where}", f" (byte offset {offset + err.start})")
            lines += _line_breaks(block)
    except OSError as err:
        return unreadable(name, err)
    return _mixed_encoding(name, encoding, "a line")  # pragma: no cover - only if the file changed meanwhile


# --- NDJSON / JSON array fast path ----------------------------------------------------------------
#
# Blocks of whole lines are checked with regular expressions (Rust regex in polars, one pass each)
# and decoded by polars' JSON reader with every field typed as text. A block is "plain" when every
# line is blank or a flat JSON object (no nested values) whose values are strings, integers,
# true/false or null, written in strict JSON: then polars' text equals the reference's exactly
# (ints keep their digits, bools -> "true"/"false"). Numbers with a fraction (1234.50) are quoted
# first so they keep their digits too. Keys are taken from the line text (a regex shortcut for
# lines with the same keys as the block's first line), so the header order and duplicate keys are
# exact. Anything else (nested values, exponents, escaped keys, duplicate keys, odd whitespace, a
# lone CR, an invalid or non-object line, a decode error) sends the whole block to the reference
# line decoder, which raises the same FileProblem as the reference reader. A .json array takes this
# path only when written as "[", one record per line (comma after all but the last), "]"; its odd
# records are decoded one by one with the standard library, and any other layout or any record
# that does not decode makes the reference reader read the whole file (and word the error).

_JSON_BLOCK = 8 << 20  # bytes per block (memory ~ a few blocks)
_JSON_CHUNK_ROWS = 20_000  # rows per chunk handed to _assemble (the reference's chunk size)
_FAST_JSON = True  # off: the reference reader for NDJSON (tests compare both)
_J_WS = r"[ \t]*"
_J_STR = (r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u(?:[0-9a-cA-CefEF][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2}'
          r'|[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}))*"')  # no lone surrogates
_J_INT = r"-?(?:0|[1-9][0-9]{0,29})"  # polars rejects integers of ~40 digits
_J_VALUE = rf"(?:{_J_STR}|{_J_INT}|true|false|null)"
_J_MEMBER = rf"{_J_STR}{_J_WS}:{_J_WS}{_J_VALUE}"
_J_FLAT = rf"^{_J_WS}\{{{_J_WS}(?:{_J_MEMBER}{_J_WS}(?:,{_J_WS}{_J_MEMBER}{_J_WS})*)?\}}{_J_WS}\r?$"
_J_BLANK = r"^[ \t]*\r?$"
_J_FRACTION = r"(:[ \t]*)(-?(?:0|[1-9][0-9]*)\.[0-9]+)([ \t]*[,}])"  # quoted: the text is the value
_J_TOKEN = r'"(?:[^"\\]|\\.)*"(?:[ \t]*:)?'  # strings in order; keys end with ':' (on flat lines only)


@dataclass
class _Part:
    """Rows ``first .. first + count - 1`` (NDJSON: lines; array: records): decoded by polars
    (``frame``, one text column per key, blank lines as all-null rows) or by the reference decoder
    (``records``)."""

    first: int
    count: int
    frame: pl.DataFrame | None = None
    records: list[tuple[int, dict | None]] | None = None
    rejected: list[tuple[int, str]] = field(default_factory=list)  # bad lines (not in records)


class _NotPlain(Exception):
    """A ``.json`` array not laid out one record per line (read by the reference reader instead)."""


@dataclass
class _ArrayState:
    """Where the line-wise walk of ``[`` / ``{...},`` lines / ``]`` stands."""

    started: bool = False
    ended: bool = False
    comma: bool | None = None  # whether the last record so far had a comma after it (None: none yet)
    records: int = 0


def _regex_literal(text: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else f"\\x{{{ord(c):x}}}" for c in text)


def _ndjson_parts(path: Path, name: str, encoding: str, keys: dict[str, None], decode,
                  array: _ArrayState | None = None) -> Iterator[_Part]:
    """The file as :class:`_Part` blocks, adding keys to ``keys`` in order of first appearance.
    ``decode()`` says whether values are needed (else only keys and validity are checked). With
    ``array``: a JSON array written one record per line (else :class:`_NotPlain` is raised)."""
    number = 1
    for offset, raw in _line_blocks(path):
        if offset == 0 and encoding == "utf-8-sig" and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        lines = _block_lines(raw, encoding)
        if lines is None:
            raise _bad_byte_problem(path, name, encoding)
        if array is None:
            part = (_fast_part(lines, raw, number, encoding, keys, decode())
                    or _slow_part(raw, number, name, encoding, keys))
            number += part.count
        else:
            texts = _array_texts(lines, array)
            part = (_fast_part(texts, None, array.records + 1, encoding, keys, decode())
                    or _slow_array_part(texts, array.records + 1, keys))
            array.records += part.count
        yield part
    if array is not None and not array.ended:
        raise _NotPlain


def _block_lines(raw: bytes, encoding: str) -> pl.Series | None:
    """The lines of a block (split at ``\\n`` only), or ``None`` if it does not decode."""
    try:
        if encoding == "gb18030":
            texts = raw.decode(encoding).split("\n")
            if raw.endswith(b"\n"):
                texts.pop()
            return pl.Series("line", texts, dtype=pl.String)
        parts = raw.split(b"\n")
        if raw.endswith(b"\n"):
            parts.pop()
        return pl.Series("line", parts, dtype=pl.Binary).cast(pl.String)  # validates UTF-8
    except (UnicodeDecodeError, pl.exceptions.PolarsError):
        return None  # the caller names the line of the bad byte


def _array_texts(lines: pl.Series, state: _ArrayState) -> pl.Series:
    """The record texts (trailing comma removed) of a block of an array written as ``[``, one
    ``{...},`` per line, ``]``; :class:`_NotPlain` for any other layout."""
    texts = lines.filter(~lines.str.contains(_J_BLANK)).str.strip_chars(" \t\r")
    if not state.started and len(texts):
        if texts[0] != "[":
            raise _NotPlain
        state.started, texts = True, texts.slice(1)
    if not len(texts):
        return texts
    if state.ended:
        raise _NotPlain  # data after the closing bracket
    ended = texts[-1] == "]"
    if ended:
        texts = texts.slice(0, len(texts) - 1)
    if len(texts):
        comma = texts.str.ends_with(",")
        if state.comma is False or not comma.slice(0, len(texts) - 1).all():
            raise _NotPlain  # two records without a comma between them (or not one per line)
        state.comma = bool(comma[-1])
        texts = texts.str.strip_suffix(",").str.strip_chars_end(" \t")
    if ended:
        if state.comma:
            raise _NotPlain  # a comma before the closing bracket
        state.ended = True
    return texts


def _fast_part(lines: pl.Series, raw: bytes | None, first: int, encoding: str, keys: dict[str, None],
               decode: bool) -> _Part | None:
    """A plain block decoded natively, or ``None`` (the caller uses the reference decoder).
    ``raw``: the block's bytes if polars may parse them directly."""
    try:
        blank = lines.str.contains(_J_BLANK)
        if blank.all():
            return None
        rewritten = False
        first_line = lines[int(blank.arg_min())]
        shape = _keys_pattern(first_line)
        same = lines.str.contains(shape) if shape else pl.repeat(False, len(lines), eager=True)
        order: list[tuple[int, int, str]] = []  # (line index, position, key): first appearances
        if shape and same.any():
            first_same = int(same.arg_true()[0])
            order += [(first_same, j, key) for j, key in enumerate(json.loads(first_line))]
        others = (~(blank | same)).arg_true()
        if len(others):
            text = lines.gather(others)
            flat = text.str.contains(_J_FLAT)
            if not flat.all():
                text = pl.select(pl.when(flat).then(text).otherwise(text.str.replace_all(_J_FRACTION, '${1}"${2}"${3}'))
                                 ).to_series()
                if not text.str.contains(_J_FLAT).all():
                    return None
                lines = lines.scatter(others, text)
                rewritten = True
            tokens = text.str.extract_all(_J_TOKEN).list.eval(
                pl.element().filter(pl.element().str.ends_with(":")).str.replace(r"[ \t]*:$", ""))
            if (tokens.list.n_unique() < tokens.list.len()).any():
                return None  # a duplicate key: the reference keeps the last value
            found = (pl.DataFrame({"i": others, "key": tokens}).explode("key").drop_nulls()
                     .unique("key", keep="first", maintain_order=True))
            if found["key"].str.contains("\\", literal=True).any():
                return None  # an escaped key: leave the unescaping to the reference
            order += [(i, j, key[1:-1]) for j, (i, key) in enumerate(found.iter_rows())]
        merged = dict(keys)  # applied only on success: a block given up goes to the reference whole
        for _, _, key in sorted(order):
            merged.setdefault(key)
        frame = None
        if decode:
            schema = {key: pl.String for key in merged}
            if raw is not None and not rewritten and not blank.any() and encoding != "gb18030":
                frame = pl.read_ndjson(raw, schema=schema)
            else:
                text = pl.select(pl.when(blank).then(pl.lit("{}")).otherwise(lines)).to_series()
                frame = text.str.json_decode(pl.Struct(schema)).struct.unnest()
            if frame.height != len(lines):
                return None
        for key in merged:
            keys.setdefault(key)
        return _Part(first, len(lines), frame=frame)
    except (Exception, pl.exceptions.PanicException):  # any doubt: the reference decodes the block
        return None


def _keys_pattern(line: str) -> str | None:
    """A regex matching plain lines with exactly the keys of ``line``, in the same order."""
    if not line.lstrip(" \t").startswith("{"):
        return None
    try:
        pairs = json.loads(line, object_pairs_hook=lambda pairs: pairs)
    except (ValueError, RecursionError):
        return None
    if not isinstance(pairs, list) or not pairs or len({k for k, _ in pairs}) != len(pairs):
        return None
    members = f"{_J_WS},{_J_WS}".join(f'"{_regex_literal(k)}"{_J_WS}:{_J_WS}{_J_VALUE}' for k, _ in pairs)
    return rf"^{_J_WS}\{{{_J_WS}{members}{_J_WS}\}}{_J_WS}\r?$"


def _slow_part(raw: bytes, first: int, name: str, encoding: str, keys: dict[str, None]) -> _Part:
    """An NDJSON block through the reference line decoder (raises its FileProblem for a bad line)."""
    text = raw.decode("utf-8" if encoding == "utf-8-sig" else encoding)  # decodes: _block_lines checked
    decoder = json.JSONDecoder(parse_float=Decimal)
    records, rejected = [], []
    for number, line in enumerate(io.StringIO(text, newline=""), start=first):
        record = _ndjson_line(decoder, line)
        if isinstance(record, _BadLine):
            rejected.append((number, str(record)))
            continue
        if record:
            for key in record:
                keys.setdefault(key)
        records.append((number, record))
    return _Part(first, len(records) + len(rejected), records=records, rejected=rejected)


def _slow_array_part(texts: pl.Series, first: int, keys: dict[str, None]) -> _Part:
    """Array records decoded one by one in Python; any doubt goes to the reference (_NotPlain),
    which words the error."""
    records = []
    for number, text in enumerate(texts.to_list(), start=first):
        try:
            value = json.loads(text, parse_float=Decimal)
        except (ValueError, RecursionError):
            raise _NotPlain from None
        if not isinstance(value, dict):
            raise _NotPlain
        for key in value:
            keys.setdefault(key)
        records.append((number, value or None))
    return _Part(first, len(records), records=records)


def _part_frame(part: _Part, header: list[str]) -> pl.DataFrame:
    """``c0 .. c{n-1}`` + ``_row_number`` of one part."""
    if part.records is not None:
        values = [[_json_text(record.get(k)) for k in header] if record else [] for _, record in part.records]
        return _rows_to_chunk(values, [n for n, _ in part.records], len(header)).frame
    present = set(part.frame.columns)
    columns = [pl.when(pl.col(k) != "").then(pl.col(k)).alias(f"c{i}") if k in present
               else pl.lit(None, dtype=pl.String).alias(f"c{i}") for i, k in enumerate(header)]
    numbers = pl.int_range(part.first, part.first + part.count, dtype=pl.Int64).alias(ROW_NUMBER)
    return part.frame.select(*columns, numbers)


def _part_chunks(parts, header: list[str], notes: list[str]) -> Iterator[_Chunk]:
    """Re-cut into chunks of :data:`_JSON_CHUNK_ROWS` rows (the chunk boundaries decide which batch
    carries which skip note), whichever decoder produced the parts."""
    buffer: list[pl.DataFrame] = []
    buffered = 0
    first_notes = list(notes)
    rejected: list[tuple[int, str]] = []
    for part in parts:
        rejected += part.rejected
        frame = _part_frame(part, header)
        buffer.append(frame)
        buffered += frame.height
        while buffered >= _JSON_CHUNK_ROWS:
            frame = pl.concat(buffer, rechunk=False)
            yield _Chunk(frame.slice(0, _JSON_CHUNK_ROWS).rechunk(), notes=first_notes, rejected=rejected)
            buffer, buffered, first_notes = [frame.slice(_JSON_CHUNK_ROWS)], buffered - _JSON_CHUNK_ROWS, []
            rejected = []
    frame = pl.concat(buffer).rechunk() if buffer else _frame([[] for _ in header], [])
    yield _Chunk(frame, notes=first_notes, rejected=rejected)


class _Stream:
    """Incremental JSON tokenizer over a text file: enough to walk a top-level array or object."""

    def __init__(self, fh, name: str):
        self.fh, self.name = fh, name
        self.buf, self.pos, self.eof = "", 0, False
        self.decoder = json.JSONDecoder(parse_float=Decimal)

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.fh.read(_CHUNK_BYTES)
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        self.eof = not chunk
        return bool(chunk)

    def peek(self) -> str:
        """Next non-whitespace character ('' at the end)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf) or not self._fill():
                return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def expect(self, chars: str, where: str) -> str:
        ch = self.peek()
        if not ch or ch not in chars:
            found = f"'{ch}'" if ch else "the end of the file"
            raise FileProblem(self.name, "bad_json", f"{self.name}: invalid JSON {where}: expected "
                                                     f"{' or '.join(repr(c) for c in chars)}, found {found}")
        self.pos += 1
        return ch

    def value(self, where: str) -> Any:
        """Decode the next complete value, reading more of the file as needed."""
        self.peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
                if end < len(self.buf) or self.eof:
                    self.pos = end
                    return value
            except json.JSONDecodeError as err:
                if self.eof:
                    raise FileProblem(self.name, "bad_json",
                                      f"{self.name}: {where} is not valid JSON ({err.msg})") from None
            self._fill()


def _array_records(path: Path, name: str, encoding: str, notes: list[str]) -> Iterator[tuple[int, dict | None]]:
    """Records of ``[{...}, ...]`` or ``{"data": [{...}, ...], ...}``, streamed one element at a time."""
    try:
        yield from _array_stream(path, name, encoding, notes)
    except UnicodeDecodeError:
        raise _bad_byte_problem(path, name, encoding) from None


def _array_stream(path: Path, name: str, encoding: str, notes: list[str]) -> Iterator[tuple[int, dict | None]]:
    with open(path, encoding=encoding, newline="") as fh:
        stream = _Stream(fh, name)
        first = stream.peek()
        if first == "[":
            yield from _array_elements(stream, name, "")
        elif first == "{":
            stream.pos += 1
            found = None
            if stream.peek() == "}":
                stream.pos += 1
            else:
                while True:
                    key = stream.value("a key of the top-level object")
                    stream.expect(":", f"after key '{key}'")
                    if stream.peek() == "[" and found is None:
                        found = key
                        if f"records read from the key '{key}'" not in notes:
                            notes.append(f"records read from the key '{key}'")
                        yield from _array_elements(stream, name, key)
                    else:
                        value = stream.value(f"the value of key '{key}'")
                        if isinstance(value, list) and value and isinstance(value[0], dict):
                            raise FileProblem(name, "bad_json", f"{name}: the top-level object has more than one "
                                                                f"list of records ('{found}', '{key}')")
                    if stream.expect(",}", "in the top-level object") == "}":
                        break
            if found is None:
                raise FileProblem(name, "empty", f"{name}: the top-level JSON object holds no list of records")
        else:
            raise FileProblem(name, "bad_json", f"{name}: expected a JSON array of objects or an object holding one, "
                                                f"found {repr(first) if first else 'nothing'}")
        if stream.peek():
            raise FileProblem(name, "bad_json", f"{name}: unexpected data after the end of the top-level JSON value")


def _array_elements(stream: _Stream, name: str, key: str) -> Iterator[tuple[int, dict | None]]:
    stream.expect("[", "at the start of the records")
    where = f" of '{key}'" if key else ""
    if stream.peek() == "]":
        stream.pos += 1
        return
    index = 0
    while True:
        index += 1
        value = stream.value(f"record {index}{where}")
        yield index, (_object_or_fail(name, value, f"record {index}{where}") or None)
        if stream.expect(",]", f"after record {index}{where}") == "]":
            return
