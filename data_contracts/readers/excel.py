"""XLSX: the first sheet through openpyxl's read-only row parser (only the cells present cost
anything), cell values as the text a user sees, within :func:`xlsx_limits`."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from data_contracts.readers.common import (TITLE_LOOKAHEAD, Chunk, FileProblem, clean_cell, head_complete,
                                           header_position, leading_skips, rows_to_chunk, unreadable)


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


def read_xlsx(path: Path, name: str) -> tuple[list[str], Iterator[Chunk], str]:
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
            if first is not None and number - 1 - offset - first > TITLE_LOOKAHEAD:
                rows = itertools.chain([(number, cells)], rows)  # past the window: a data row
                break
            head += [[] for _ in range(number - 1 - offset - len(head))]  # rows missing from the file are blank
            head.append(_dense(cells))
            if head_complete(head):
                break
    except FileProblem:
        workbook.close()
        raise
    except Exception as err:
        workbook.close()
        raise FileProblem(name, "unreadable",
                          f"{name}: cannot read the first sheet ({err or type(err).__name__})") from None
    position = header_position([[clean_cell(c) for c in row] for row in head])
    if position is None:
        workbook.close()
        raise FileProblem(name, "empty", f"{name}: the first sheet '{sheet.title}' has no header row (it is blank)")
    header = [clean_cell(c) for c in head[position]]
    while header and not header[-1]:
        header.pop()  # trailing cells without a header and without data never exist in XLSX
    notes = []
    others = [ws.title for ws in workbook.worksheets[1:]]
    if others:
        notes.append(f"read the first sheet '{sheet.title}'; ignored {len(others)} other sheet(s): "
                     + ", ".join(f"'{t}'" for t in others))
    titles = [(kind, row + offset, label)
              for kind, row, label in leading_skips([[clean_cell(c) for c in row] for row in head[:position]])]
    if offset:
        titles.insert(0, ("blank", 1, f"+{offset - 1}"))
    limit = (name, sheet.title, max_cells)
    return header, _xlsx_chunks(workbook, name, head, position, rows, len(header), notes, titles, limit, offset), "row"


def _xlsx_chunks(workbook, name, head, position, rows, width, notes, titles, limit, offset=0) -> Iterator[Chunk]:
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

    def flush(**extra) -> Chunk:
        chunk = rows_to_chunk(values, numbers, width, skipped=blank + extra.pop("skipped", []), **extra)
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
