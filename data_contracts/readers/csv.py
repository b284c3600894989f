"""CSV: delimiter sniffed, header (below any title rows) via the csv module, data via pyarrow's
streaming reader in the detected encoding (GB18030 / BOM transcoded by pyarrow); rows with another
field count are repaired or fail the file."""

from __future__ import annotations

import collections
import csv
import functools
import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from data_contracts.readers.common import (ROW_NUMBER, Chunk, FileProblem, clean_cell, head_complete, header_position,
                                           leading_skips, rows_to_chunk, text_frame, unreadable)
from data_contracts.readers.encoding import detect_encoding, mixed_encoding

_CSV_BLOCK = 1 << 22  # pyarrow block (memory per step ~ a few blocks); one CSV record must fit in it


def _sniff_delimiter(lines: list[str]) -> str:
    """The candidate occurring most often on the first line that has any (ties and default: comma)."""
    for line in lines:
        counts = {d: line.count(d) for d in (",", "\t", ";", "|")}
        best = max(counts, key=lambda d: counts[d])
        if counts[best]:
            return best if counts[best] > counts[","] else ","
    return ","




def read_csv(path: Path, name: str) -> tuple[list[str], Iterator[Chunk], str]:
    """Header via the csv module (first records only), data via pyarrow's streaming reader."""
    encoding = detect_encoding(path, name)
    head: list[list[str]] = []
    try:
        with open(path, encoding=encoding, newline="") as fh:
            delimiter = _sniff_delimiter([line for _, line in zip(range(50), fh, strict=False)])
        with open(path, encoding=encoding, newline="") as fh:
            for record in csv.reader(fh, delimiter=delimiter):
                head.append([clean_cell(c) for c in record])
                if head_complete(head):
                    break
    except csv.Error as err:
        raise FileProblem(name, "bad_csv", f"{name}: cannot parse the CSV header ({err})") from None
    except UnicodeDecodeError:
        raise mixed_encoding(name, encoding, f"row {len(head) + 1}") from None
    except OSError as err:
        raise unreadable(name, err) from None
    position = header_position(head)
    if position is None:
        raise FileProblem(name, "empty", f"{name}: the file has no header row (it holds only blank lines)")
    header = head[position]
    header_row = position + 1
    chunks = _csv_chunks(path, name, encoding, delimiter, len(header), header_row, leading_skips(head[:position]))
    return header, chunks, "row"




def _csv_chunks(path: Path, name: str, encoding: str, delimiter: str, width: int, header_row: int,
                leading: list[tuple[str, int, str]]) -> Iterator[Chunk]:
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
            return mixed_encoding(name, encoding, f"a row after row {next_number - 1}", f" ({reason})")
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
                         or Chunk(text_frame([[] for _ in range(width)], [])))
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
            chunk = Chunk(frame, skipped=leading + (repaired.skipped if repaired else []))
            leading = []
            yield chunk


def _repair_rows(name: str, rows: list[tuple[int, str]], delimiter: str, width: int, header_row: int) -> Chunk | None:
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
    return rows_to_chunk(values, numbers, width, skipped=skipped)
