"""JSON and NDJSON: the standard-library reference readers (NDJSON line by line, a JSON array or
``{"data": [...]}`` streamed one element at a time) and the native polars fast path for NDJSON and
arrays written one record per line, which gives identical Batches (see the fast-path section)."""

from __future__ import annotations

import codecs
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from data_contracts.readers.common import (ROW_NUMBER, Chunk, FileProblem, clean_cell, rows_to_chunk, text_frame,
                                           unreadable)
from data_contracts.readers.encoding import CHUNK_BYTES, detect_encoding, mixed_encoding


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


def read_json(path: Path, name: str, batch_rows: int, lines: bool | None) -> tuple[list[str], Iterator[Chunk], str]:
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
            return [], iter([Chunk(pl.DataFrame(schema={ROW_NUMBER: pl.Int64}), notes=list(notes))]), unit
        raise FileProblem(name, "empty", f"{name}: the file holds no records with fields, so it has no columns")
    header = list(keys)
    if fast:
        source = kept if kept is not None else parts(dict(keys), lambda: True)
    else:
        source = _record_parts(kept if kept is not None else records())
    return [clean_cell(k) for k in header], _part_chunks(source, header, notes), unit


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


def too_deep(name: str) -> FileProblem:
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
                line = fh.readline(CHUNK_BYTES)
                if not line:
                    return False
                if not line.strip():
                    continue
                if not line.endswith(("\n", "\r")) and len(line) >= CHUNK_BYTES:
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
                return mixed_encoding(name, encoding, f"line {where}", f" (byte offset {offset + err.start})")
            lines += _line_breaks(block)
    except OSError as err:
        return unreadable(name, err)
    return mixed_encoding(name, encoding, "a line")  # pragma: no cover - only if the file changed meanwhile


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
_JSON_CHUNK_ROWS = 20_000  # rows per chunk handed to assemble (the reference's chunk size)
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
        return rows_to_chunk(values, [n for n, _ in part.records], len(header)).frame
    present = set(part.frame.columns)
    columns = [pl.when(pl.col(k) != "").then(pl.col(k)).alias(f"c{i}") if k in present
               else pl.lit(None, dtype=pl.String).alias(f"c{i}") for i, k in enumerate(header)]
    numbers = pl.int_range(part.first, part.first + part.count, dtype=pl.Int64).alias(ROW_NUMBER)
    return part.frame.select(*columns, numbers)


def _part_chunks(parts, header: list[str], notes: list[str]) -> Iterator[Chunk]:
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
            yield Chunk(frame.slice(0, _JSON_CHUNK_ROWS).rechunk(), notes=first_notes, rejected=rejected)
            buffer, buffered, first_notes = [frame.slice(_JSON_CHUNK_ROWS)], buffered - _JSON_CHUNK_ROWS, []
            rejected = []
    frame = pl.concat(buffer).rechunk() if buffer else text_frame([[] for _ in header], [])
    yield Chunk(frame, notes=first_notes, rejected=rejected)


class _Stream:
    """Incremental JSON tokenizer over a text file: enough to walk a top-level array or object."""

    def __init__(self, fh, name: str):
        self.fh, self.name = fh, name
        self.buf, self.pos, self.eof = "", 0, False
        self.decoder = json.JSONDecoder(parse_float=Decimal)

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.fh.read(CHUNK_BYTES)
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
