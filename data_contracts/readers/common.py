"""What every reader shares: :class:`Batch`, :class:`FileProblem`, header names, the skip rules
(blank, repeated header, totals and title rows) and the re-cut into batches (:func:`assemble`).

A format reader (csv.py, excel.py, json.py) returns ``(header cells, chunks, unit)``: :class:`Chunk`
frames of columns ``c0 .. c<n-1>`` plus ``_row_number``, and the word for a row in messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

ROW_NUMBER = "_row_number"
TOTAL_LABELS = frozenset({"合计", "总计", "小计", "总合计", "共计", "total", "totals", "subtotal", "grandtotal", "sum"})
_TOTAL_PREFIX = r"(?i)^(?:合|总|小|共|total|subtotal|sum|grand)"  # cheap pre-test for TOTAL_LABELS
TITLE_LOOKAHEAD = 10  # rows searched for the header below a one-cell title row
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



def unreadable(name: str, err: Exception) -> FileProblem:
    """The file problem of an OSError while reading ``name``."""
    reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return FileProblem(name, "unreadable", f"{name}: cannot read the file ({reason})")



# --- shared: header names, skip rules, batching ---------------------------------------------------

@dataclass
class Chunk:
    """Rows as read: columns ``c0..c{n-1}`` (Utf8) + ``_row_number``; ``skipped`` = (kind, row, label)."""

    frame: pl.DataFrame
    skipped: list[tuple[str, int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason): see Batch.rejected


def clean_cell(value: Any) -> str:
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


def header_position(rows: list[list[str]]) -> int | None:
    """Index of the header among the first rows: the first non-blank row, unless it is a one-cell
    title ("客户明细表") followed closely by a wider row."""
    filled = [sum(1 for c in row if c) for row in rows]
    first = next((i for i, n in enumerate(filled) if n), None)
    if first is None or filled[first] > 1:
        return first
    wider = next((i for i in range(first + 1, min(len(rows), first + 1 + TITLE_LOOKAHEAD)) if filled[i] > 1), None)
    return wider if wider is not None else first


def _skip_rows(chunk: Chunk, header_cells: list[str], unit: str) -> Chunk:
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


def assemble(header_cells: list[str], chunks: Iterator[Chunk], batch_rows: int, unit: str) -> Iterator[Batch]:
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


def text_frame(columns: list[list[str | None]], numbers: list[int]) -> pl.DataFrame:
    data = {f"c{i}": pl.Series(values, dtype=pl.Utf8) for i, values in enumerate(columns)}
    data[ROW_NUMBER] = pl.Series(numbers, dtype=pl.Int64)
    return pl.DataFrame(data)


def rows_to_chunk(rows: list[list[str | None]], numbers: list[int], width: int, **extra) -> Chunk:
    columns = [[row[i] if i < len(row) else None for row in rows] for i in range(width)]
    return Chunk(text_frame(columns, numbers), **extra)



def head_complete(head: list[list[Any]]) -> bool:
    """Enough leading rows read to place the header (first non-blank row + title lookahead)."""
    first = next((i for i, row in enumerate(head) if any(c not in (None, "") for c in row)), None)
    return first is not None and len(head) - first > TITLE_LOOKAHEAD



def leading_skips(rows: list[list[str]]) -> list[tuple[str, int, str]]:
    """Skip records for the rows above the header: blank rows and title rows."""
    return [("title", i, next(c for c in row if c)) if any(row) else ("blank", i, "")
            for i, row in enumerate(rows, start=1)]
