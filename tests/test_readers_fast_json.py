"""The native NDJSON path and the bounded encoding detection of data_contracts.readers.

The fast path must give exactly the Batches of the reference reader (pure Python, one line at a
time): the tests read the same generated files both ways and compare header, notes, values and
row numbers, and check that the fast path really ran (a comparison of two runs of the reference
would pass too). Expected values of single cells are computed here with the standard library.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from data_contracts import readers
from data_contracts.readers import encoding as text_encoding, json as json_reader
from data_contracts.readers import FileProblem, detect_encoding, iter_batches

TRICKY_VALUES = [
    '"x"', '""', '" pad "', '"合计"', '"总计"', '"中文\\n第二行"', '"\\u00e9\\u4E2D"', '"\\ud83d\\ude00"',
    '"tab\\tq\\"uote\\\\"', '"a: 1.5, b"', '"\\/"', '"id"',
    "1234.50", "-0.0", "0.1", "-12.000", "0.30000000000000004", "123456789012345678901234567890.123456789",
    "1e5", "-1.5E-3", "2.5e+2", "1E400", "12345678901234567890123", "-0", "0", "-42", "1" * 45,
    "true", "false", "null", '{"k": [1, 2.50, {"z": null}], "s": "中"}', "[]", "{}", '["a", 1.0]',
]
PLAIN_VALUES = ['"TK0001"', '"微信"', '""', '"2025-02-18T12:39:31"', "17", "-3", "0", "99.90", "-0.50",
                "true", "false", "null", "12345678901234567890123"]
KEYS = ["ticket_id", "amount", "note", "flag", "nested", "big", "城市", "a/b", " padded ", "_row_number", "id", ""]


def _line(rng: random.Random, keys: list[str], values: list[str]) -> str:
    sep = rng.choice([":", ": ", " : "])
    comma = rng.choice([",", ", "])
    return "{" + comma.join(f"{json.dumps(k, ensure_ascii=False)}{sep}{rng.choice(values)}" for k in keys) + "}"


def tricky_ndjson(seed: int, lines: int = 1500) -> str:
    """Plain stretches (the fast path's diet) mixed with every kind of value and layout oddity."""
    rng = random.Random(seed)
    out = []
    usual = KEYS[:7]
    while len(out) < lines:
        if rng.random() < 0.6:  # a plain stretch: same keys, plain values, sometimes a key missing
            for _ in range(rng.randint(20, 120)):
                keys = usual if rng.random() < 0.8 else [k for k in usual if rng.random() < 0.8]
                pad = rng.choice(["", "", "", " ", "\t"]), rng.choice(["", "", "", " ", " \t"])
                out.append(pad[0] + _line(rng, keys, PLAIN_VALUES) + pad[1])
        else:
            for _ in range(rng.randint(5, 40)):
                roll = rng.random()
                if roll < 0.06:
                    out.append(rng.choice(["", "   ", "\t"]))
                else:
                    keys = rng.sample(KEYS, rng.randint(0, len(KEYS)))
                    out.append(_line(rng, keys, TRICKY_VALUES))
    ending = random.Random(seed + 1).choice(["\n", "\r\n"])
    return ending.join(out) + (ending if seed % 2 else "")


def read(path: Path, fast: bool, monkeypatch, **kwargs) -> list[readers.Batch]:
    monkeypatch.setattr(json_reader, "_FAST_JSON", fast)
    return list(iter_batches(path, **kwargs))


def assert_same(slow: list[readers.Batch], fast: list[readers.Batch]) -> None:
    assert len(slow) == len(fast)
    for a, b in zip(slow, fast, strict=True):
        assert a.header == b.header
        assert a.notes == b.notes
        assert a.frame.schema == b.frame.schema
        assert a.frame.rows() == b.frame.rows()


@pytest.fixture
def parts(monkeypatch) -> dict[str, int]:
    """Counts the blocks each decoder handled (so a test can tell the fast path really ran)."""
    counts = {"fast": 0, "slow": 0}
    fast_part, slow_part = json_reader._fast_part, json_reader._slow_part

    def counted_fast(*args, **kwargs):
        part = fast_part(*args, **kwargs)
        counts["fast"] += part is not None
        return part

    def counted_slow(*args, **kwargs):
        counts["slow"] += 1
        return slow_part(*args, **kwargs)

    monkeypatch.setattr(json_reader, "_fast_part", counted_fast)
    monkeypatch.setattr(json_reader, "_slow_part", counted_slow)
    return counts


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("batch_rows", [7, 200_000])
def test_fast_path_gives_the_reference_batches(tmp_path, monkeypatch, parts, seed, batch_rows):
    monkeypatch.setattr(json_reader, "_JSON_BLOCK", 4096)  # many blocks: plain ones and odd ones
    monkeypatch.setattr(json_reader, "_JSON_CHUNK_ROWS", 50)  # chunk boundaries decide where notes land
    encoding = "gb18030" if seed == 3 else "utf-8-sig" if seed == 4 else "utf-8"
    path = tmp_path / ("tickets.json" if seed == 2 else "tickets.ndjson")  # a .json holding NDJSON
    path.write_bytes(tricky_ndjson(seed).encode(encoding))
    slow = read(path, False, monkeypatch, batch_rows=batch_rows)
    assert parts == {"fast": 0, "slow": 0}
    fast = read(path, True, monkeypatch, batch_rows=batch_rows)
    assert_same(slow, fast)
    assert parts["fast"] >= 5 and parts["slow"] >= 5  # both decoders took part
    frame = pl.concat([b.frame for b in fast])
    assert frame.height > 1000 and sum(b.frame.height for b in slow) == frame.height


def test_plain_file_is_read_natively_with_exact_values(tmp_path, monkeypatch, parts):
    """Every block of a plain export goes through polars; values checked against the stdlib."""
    monkeypatch.setattr(json_reader, "_JSON_BLOCK", 8192)
    rng = random.Random(7)
    lines = [_line(rng, KEYS[:7] if i % 9 != 4 else KEYS[:7][::-1], PLAIN_VALUES) for i in range(3000)]
    lines[5] = ""  # a blank line keeps its number
    path = tmp_path / "tickets.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    batches = read(path, True, monkeypatch, batch_rows=1000)
    assert parts["slow"] == 0 and parts["fast"] > 10
    header = batches[0].header
    assert header == ["ticket_id", "amount", "note", "flag", "nested", "big", "城市"]
    frame = pl.concat([b.frame for b in batches])
    expected = []
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        record = json.loads(line, parse_float=Decimal)
        cells = []
        for key in header:
            value = record.get(key)
            if isinstance(value, bool):
                value = str(value).lower()
            elif value is not None:
                value = str(value) or None
            cells.append(value)
        if any(cells):
            expected.append((*cells, number))
    assert frame.rows() == expected
    assert "99.90" in frame["amount"].to_list() and "-0.50" in frame["amount"].to_list()
    assert [n for b in batches for n in b.notes] == ["skipped blank line at line 6"]
    assert_same(read(path, False, monkeypatch, batch_rows=1000), batches)


def test_numbers_stay_exactly_as_written(tmp_path, monkeypatch, parts):
    path = tmp_path / "t.ndjson"
    path.write_text('{"v": 1234.50, "i": 12345678901234567890123, "b": true, "e": ""}\n'
                    '{"v": 0.1, "i": -0, "b": false, "e": null}\n'
                    '{"v": -0.000}\n', encoding="utf-8")
    batches = read(path, True, monkeypatch)
    assert parts == {"fast": 1, "slow": 0}
    assert batches[0].frame.rows() == [("1234.50", "12345678901234567890123", "true", None, 1),
                                       ("0.1", "0", "false", None, 2),
                                       ("-0.000", None, None, None, 3)]


def test_duplicate_keys_keep_the_last_value_like_the_reference(tmp_path, monkeypatch, parts):
    path = tmp_path / "t.ndjson"
    path.write_text('{"a": "1", "b": "2"}\n{"b": "x", "a": "first", "a": "last"}\n', encoding="utf-8")
    fast = read(path, True, monkeypatch)
    assert parts == {"fast": 0, "slow": 1}
    assert fast[0].header == ["a", "b"]
    assert fast[0].frame.rows() == [("1", "2", 1), ("last", "x", 2)]
    assert_same(read(path, False, monkeypatch), fast)


@pytest.mark.parametrize("bad, reason", [
    ('{"a": 2,}', "not valid JSON (Expecting property name enclosed in double quotes at column 9)"),
    ("[1, 2]", "not a JSON object (found list)"),
    ('{"a": NaN', "not valid JSON (Expecting ',' delimiter at column 10)"),
    ('"text"', "not a JSON object (found str)"),
    ('{"id": "T1500", "amount": 15', "not valid JSON (Expecting ',' delimiter at column 29)"),  # truncated
])
def test_bad_line_is_quarantined_like_the_reference(tmp_path, monkeypatch, parts, bad, reason):
    monkeypatch.setattr(json_reader, "_JSON_BLOCK", 4096)
    lines = [json.dumps({"id": f"T{i}", "amount": i}) for i in range(1, 2001)]
    lines[1499] = bad  # far past the first blocks, which the fast path already took
    path = tmp_path / "tickets.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    slow = read(path, False, monkeypatch, batch_rows=500)
    parts.update(fast=0, slow=0)
    fast = read(path, True, monkeypatch, batch_rows=500)
    assert parts["fast"] > 0 and parts["slow"] == 2  # only the bad line's block (read twice: keys, values)
    for batches in (slow, fast):
        rows = pl.concat([b.frame for b in batches])
        assert rows["id"].to_list() == [f"T{i}" for i in range(1, 2001) if i != 1500]
        assert rows["_row_number"].to_list() == [i for i in range(1, 2001) if i != 1500]
        assert pl.concat([b.rejected for b in batches]).rows() == [(1500, None, "parse_json_line", reason)]
        assert [n for b in batches for n in b.notes] == [
            "line 1500 is not a valid JSON object: quarantined (rule parse_json_line)"]


def test_lone_carriage_returns_count_as_line_breaks(tmp_path, monkeypatch):
    path = tmp_path / "t.ndjson"
    path.write_bytes(b'{"a": "1"}\r{"a": "2"}\r\n\r{"a": "3"}\n{"a": "4"}\n')
    fast = read(path, True, monkeypatch)
    assert fast[0].frame.rows() == [("1", 1), ("2", 2), ("3", 4), ("4", 5)]
    assert_same(read(path, False, monkeypatch), fast)


# --- encodings from a bounded prefix ----------------------------------------------------------------

def test_detection_reads_a_bounded_window(tmp_path):
    # ASCII for 3 MiB, then GBK text: the ASCII prefix is skipped, the GBK part decides
    path = tmp_path / "a.csv"
    path.write_bytes(b"id,name\n" + b"1,abc\n" * ((3 << 20) // 6) + "2,北京公司\n".encode("gbk") * 10)
    assert path.stat().st_size > 3 << 20
    assert detect_encoding(path) == "gb18030"
    # a byte that is not UTF-8 far after the window does not change the decision
    path = tmp_path / "b.csv"
    path.write_bytes(("id,name\n" + "1,北京\n" * 600_000).encode("utf-8") + b"2,\xff\n")
    assert path.stat().st_size > text_encoding._DETECT_BYTES + (1 << 20)
    assert detect_encoding(path) == "utf-8"


def gbk_ndjson_with_bad_byte(tmp_path: Path) -> tuple[Path, int]:
    record = '{"ticket_id": "TK%06d", "channel": "微信", "assignee": "梁宇", "note": "客户投诉物流太慢"}\n'
    good = "".join(record % i for i in range(1, 80_001)).encode("gbk")
    assert len(good) > text_encoding._DETECT_BYTES + (1 << 20)
    path = tmp_path / "tickets.ndjson"
    path.write_bytes(good + b'{"ticket_id": "TK\xff\xff"}\n' + (record % 0).encode("gbk"))
    return path, 80_001


@pytest.mark.parametrize("fast", [True, False])
def test_gbk_file_with_a_bad_byte_after_the_window_fails_clearly(tmp_path, monkeypatch, fast):
    path, line = gbk_ndjson_with_bad_byte(tmp_path)
    assert detect_encoding(path) == "gb18030"
    with pytest.raises(FileProblem) as err:
        read(path, fast, monkeypatch, display_name="ticketing/2025-06-01/tickets.ndjson")
    assert err.value.problem == "encoding"
    offset = path.read_bytes().index(b"\xff\xff")
    assert str(err.value) == (f"ticketing/2025-06-01/tickets.ndjson: line {line} is not valid GB18030 text "
                              f"(byte offset {offset}), although the start of the file is GB18030 "
                              "(a file mixing encodings? save it in one encoding)")


def test_utf8_json_array_with_a_bad_byte_after_the_window(tmp_path):
    records = ",\n".join(f'{{"id": {i}, "name": "北京公司"}}' for i in range(300_000))
    path = tmp_path / "s.json"
    path.write_bytes(b"[\n" + records.encode() + b',\n{"id": "\xc3("}\n]\n')
    assert path.stat().st_size > text_encoding._DETECT_BYTES + (1 << 20)
    with pytest.raises(FileProblem) as err:
        list(iter_batches(path))
    assert err.value.problem == "encoding"
    assert f"line {300_002} is not valid UTF-8 text" in str(err.value)


@pytest.mark.parametrize("encoding, bad", [("gbk", b"\xff\xff"), ("utf-8", b"\xff")])
def test_csv_with_a_bad_byte_after_the_window_fails_clearly(tmp_path, encoding, bad):
    rows = "".join(f"O{i},客户{i},2025-01-01\n" for i in range(400_000)).encode(encoding)
    path = tmp_path / "orders.csv"
    path.write_bytes("订单号,客户,日期\n".encode(encoding) + rows + b"O-1," + bad + b",2025-01-01\n")
    assert path.stat().st_size > text_encoding._DETECT_BYTES + (1 << 20)
    with pytest.raises(FileProblem) as err:
        list(iter_batches(path, display_name="erp/orders.csv"))
    assert err.value.problem == "encoding"
    label = "GB18030" if encoding == "gbk" else "UTF-8"
    assert str(err.value).startswith("erp/orders.csv: a row after row ")
    assert f"is not valid {label} text" in str(err.value)


# --- JSON arrays written one record per line ----------------------------------------------------------

def outcome(path: Path, fast: bool, monkeypatch, **kwargs):
    """The batches as comparable rows, or the FileProblem (code, message)."""
    try:
        batches = read(path, fast, monkeypatch, **kwargs)
    except FileProblem as err:
        return ("problem", err.problem, str(err))
    return [(b.header, b.notes, b.frame.schema, b.frame.rows()) for b in batches]


def tricky_array(seed: int) -> str:
    lines = [line for line in tricky_ndjson(seed, lines=600).replace("\r\n", "\n").split("\n") if line.strip()]
    rng = random.Random(seed)
    body = "".join(line + rng.choice([",", " ,", ","]) + rng.choice(["\n", "\n\n", "\r\n"]) for line in lines[:-1])
    return "[\n" + body + lines[-1] + "\n]\n"


@pytest.mark.parametrize("seed", [5, 6])
@pytest.mark.parametrize("batch_rows", [9, 200_000])
def test_array_fast_path_gives_the_reference_batches(tmp_path, monkeypatch, parts, seed, batch_rows):
    monkeypatch.setattr(json_reader, "_JSON_BLOCK", 4096)
    monkeypatch.setattr(json_reader, "_JSON_CHUNK_ROWS", 50)
    path = tmp_path / "satisfaction.json"
    path.write_bytes(tricky_array(seed).encode("gb18030" if seed == 6 else "utf-8"))
    slow = outcome(path, False, monkeypatch, batch_rows=batch_rows)
    fast = outcome(path, True, monkeypatch, batch_rows=batch_rows)
    assert fast == slow
    assert sum(len(rows) for *_, rows in fast) > 500
    assert parts["fast"] >= 5  # the fast path ran (odd blocks are decoded record by record)
    assert fast[0][2][readers.ROW_NUMBER] == pl.Int64 and fast[-1][3][-1][-1] > 500  # record index


ODD_ARRAYS = {
    "pretty_printed": json.dumps([{"id": "R1", "n": 1.50}, {"id": "R2", "x": {"k": 1}}], indent=2),
    "wrapped": '{"code": 0, "data": [\n{"id": "R1"},\n{"id": "R2"}\n], "total": 2}\n',
    "trailing_comma": '[\n{"id": "R1"},\n{"id": "R2"},\n]\n',
    "missing_comma": '[\n{"id": "R1"}\n{"id": "R2"}\n]\n',
    "data_after_end": '[\n{"id": "R1"}\n]\n{"id": "R2"}\n',
    "unterminated": '[\n{"id": "R1"},\n{"id": "R2"}\n',
    "not_an_object": '[\n{"id": "R1"},\n[1, 2]\n]\n',
    "bad_record": '[\n{"id": "R1"},\n{"id": R2}\n]\n',
    "empty": "[\n]\n",
    "blank_records": '[\n{},\n{"id": "R1", "amount": 12.50},\n  {} \n]',
    "two_on_a_line": '[\n{"id": "R1"}, {"id": "R2"},\n{"id": "R3"}\n]\n',
    "bracket_on_record_line": '[{"id": "R1"},\n{"id": "R2"}]\n',
}


@pytest.mark.parametrize("case", sorted(ODD_ARRAYS))
def test_odd_arrays_read_or_fail_like_the_reference(tmp_path, monkeypatch, case):
    path = tmp_path / "t.json"
    path.write_text(ODD_ARRAYS[case], encoding="utf-8")
    assert outcome(path, True, monkeypatch) == outcome(path, False, monkeypatch)


def test_array_values_keep_their_digits(tmp_path, monkeypatch, parts):
    path = tmp_path / "satisfaction.json"
    path.write_text('[\n{"id": "S1", "csat": 4, "score": 1234.50},\n{"id": "S2", "score": 0.10, "ok": true},\n'
                    '{}\n]\n', encoding="utf-8")
    batches = read(path, True, monkeypatch)
    assert parts == {"fast": 1, "slow": 0}
    assert batches[0].header == ["id", "csat", "score", "ok"]
    assert batches[0].frame.rows() == [("S1", "4", "1234.50", None, 1), ("S2", None, "0.10", "true", 2)]
    assert batches[0].notes == ["skipped blank record at record 3"]
