"""Streaming readers: every input file is generated in tmp_path."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from data_contracts.readers import Batch, FileProblem, detect_encoding, iter_batches


def read_all(path: Path, **kwargs) -> tuple[list[str], pl.DataFrame, list[str], list[Batch]]:
    batches = list(iter_batches(path, **kwargs))
    frame = pl.concat([b.frame for b in batches])
    notes = [n for b in batches for n in b.notes]
    return batches[0].header, frame, notes, batches


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --- encodings ----------------------------------------------------------------------------------

def test_detect_encoding(tmp_path):
    assert detect_encoding(write(tmp_path / "a.csv", "id,name\n1,x\n")) == "utf-8"
    assert detect_encoding(write(tmp_path / "b.csv", "\ufeff客户ID,名称\n1,北京\n")) == "utf-8-sig"
    assert detect_encoding(write(tmp_path / "c.csv", "客户ID,客户名称\n1,北京公司\n", "gbk")) == "gb18030"


def test_detect_encoding_is_incremental_across_chunk_boundaries(tmp_path):
    # a 3-byte UTF-8 character straddles the 1 MiB read boundary
    text = "a" * ((1 << 20) - 1) + "中文" * 10
    assert detect_encoding(write(tmp_path / "big.csv", text)) == "utf-8"


def test_undetectable_encoding(tmp_path):
    path = tmp_path / "crm" / "2025-01-01" / "customers.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"id,name\n1,\xff\xfe\xff\x80\n")
    with pytest.raises(FileProblem) as err:
        detect_encoding(path, display_name="crm/2025-01-01/customers.csv")
    assert err.value.problem == "encoding"
    assert str(err.value) == ("crm/2025-01-01/customers.csv: cannot detect the text encoding "
                              "(tried utf-8, utf-8-sig, gb18030)")
    assert err.value.path == "crm/2025-01-01/customers.csv"


def test_utf16_is_named(tmp_path):
    path = tmp_path / "u.csv"
    path.write_bytes("id\tname\n1\tx\n".encode("utf-16"))
    with pytest.raises(FileProblem, match="UTF-16") as err:
        list(iter_batches(path))
    assert err.value.problem == "encoding"


# --- CSV ----------------------------------------------------------------------------------------

def test_gbk_csv_with_chinese_headers(tmp_path):
    path = write(tmp_path / "customers.csv", "客户ID,客户名称,所属行业,订单金额\n"
                                             "C001,北京某某科技有限公司,制造业,\"￥1,234.50\"\n"
                                             "C002,上海公司,,12\n", "gbk")
    header, frame, notes, _ = read_all(path)
    assert header == ["客户ID", "客户名称", "所属行业", "订单金额"]
    assert frame.columns == header + ["_row_number"]
    assert frame.schema["_row_number"] == pl.Int64
    assert all(frame.schema[c] == pl.Utf8 for c in header)
    assert frame.rows() == [("C001", "北京某某科技有限公司", "制造业", "￥1,234.50", 2),
                            ("C002", "上海公司", None, "12", 3)]
    assert notes == []


def test_utf8_bom_is_removed_from_the_header(tmp_path):
    path = write(tmp_path / "orders.csv", "\ufeff订单号,金额\nO1,10\n")
    header, frame, _, _ = read_all(path)
    assert header == ["订单号", "金额"]
    assert frame["订单号"].to_list() == ["O1"]


def test_quoted_commas_newlines_and_empty_values(tmp_path):
    path = write(tmp_path / "t.csv", 'id,comment,amount\r\n1,"a, b",5\r\n2,"line one\r\nline two",""\r\n3,,7\r\n')
    _, frame, _, _ = read_all(path)
    assert frame["comment"].to_list() == ["a, b", "line one\r\nline two", None]
    assert frame["amount"].to_list() == ["5", None, "7"]
    assert frame["_row_number"].to_list() == [2, 3, 4]  # records: a quoted line break stays in its row


def test_values_are_kept_as_text(tmp_path):
    path = write(tmp_path / "t.csv", "id,phone,amount\n007,13812345678,1.50\n")
    _, frame, _, _ = read_all(path)
    assert frame.row(0) == ("007", "13812345678", "1.50", 2)


def test_repeated_header_totals_and_blank_rows_are_skipped_and_noted(tmp_path):
    rows = ["客户ID,客户名称,金额"] + [f"C{i},name{i},{i}" for i in range(1, 56)]
    rows += ["客户ID,客户名称,金额", "C56,name56,56", ",,", "", "合计,,1596"]
    path = write(tmp_path / "c.csv", "\n".join(rows) + "\n", "gbk")
    _, frame, notes, _ = read_all(path)
    assert frame.height == 56
    assert frame["_row_number"].to_list() == list(range(2, 57)) + [58]
    assert "skipped repeated header row at row 57" in notes
    assert "skipped totals row (合计) at row 61" in notes
    assert "skipped 2 blank rows at rows 59, 60" in notes


@pytest.mark.parametrize("label", ["合计", "总计", "小计", "Total", "TOTALS", " sum ", "合 计：", "Grand Total"])
def test_totals_labels(tmp_path, label):
    path = write(tmp_path / "t.csv", f"id,amount\nA,1\n{label},1\n")
    _, frame, notes, _ = read_all(path)
    assert frame["id"].to_list() == ["A"]
    assert notes == [f"skipped totals row ({label.strip()}) at row 3"]


def test_totals_label_in_a_later_column_when_the_first_is_empty(tmp_path):
    path = write(tmp_path / "t.csv", "id,region,amount\nA,east,1\n,总计,1\n")
    _, frame, notes, _ = read_all(path)
    assert frame.height == 1 and notes == ["skipped totals row (总计) at row 3"]


def test_duplicate_and_blank_headers_are_made_unique(tmp_path):
    path = write(tmp_path / "t.csv", "id, name ,id,,_row_number\n1,a,2,b,c\n")
    header, frame, notes, _ = read_all(path)
    assert header == ["id", "name", "id_2", "column_4", "_row_number_2"]
    assert frame.row(0) == ("1", "a", "2", "b", "c", 2)
    assert "repeated header 'id' in column 3 renamed to 'id_2'" in notes
    assert "blank header in column 4 named 'column_4'" in notes


def test_title_row_above_the_header(tmp_path):
    path = write(tmp_path / "t.csv", "客户明细表（2024年）,,\n,,\nid,name,amount\n1,a,2\n")
    header, frame, notes, _ = read_all(path)
    assert header == ["id", "name", "amount"]
    assert frame["_row_number"].to_list() == [4]
    assert "skipped title row '客户明细表（2024年）' above the header at row 1" in notes


def test_short_rows_are_padded_long_rows_fail(tmp_path):
    path = write(tmp_path / "t.csv", "a,b,c\n1,2,3\n4,5\n6,7,8,\n")
    _, frame, notes, _ = read_all(path)
    assert frame.rows() == [("1", "2", "3", 2), ("4", "5", None, 3), ("6", "7", "8", 4)]
    assert notes == ["padded short row with empty cells (fewer fields than the header) at row 3"]

    bad = write(tmp_path / "bad.csv", "id,amount\n1,1,234.50\n")
    with pytest.raises(FileProblem, match=r"bad\.csv: row 2 has 3 fields but the header has 2") as err:
        list(iter_batches(bad))
    assert err.value.problem == "bad_row"


def test_semicolon_and_tab_delimiters(tmp_path):
    _, frame, _, _ = read_all(write(tmp_path / "s.csv", "id;name\n1;a,b\n"))
    assert frame.row(0) == ("1", "a,b", 2)
    _, frame, _, _ = read_all(write(tmp_path / "t.csv", "id\tname\n1\ta\n"))
    assert frame.row(0) == ("1", "a", 2)


def test_header_only_file_gives_zero_rows(tmp_path):
    header, frame, notes, batches = read_all(write(tmp_path / "t.csv", "客户ID,客户名称\n"))
    assert len(batches) == 1 and header == ["客户ID", "客户名称"]
    assert frame.height == 0 and frame.columns == ["客户ID", "客户名称", "_row_number"]


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b",,\n,,\n", b"\xef\xbb\xbf"])
def test_empty_files(tmp_path, content):
    path = tmp_path / "e.csv"
    path.write_bytes(content)
    with pytest.raises(FileProblem) as err:
        list(iter_batches(path, display_name="crm/2025-01-01/e.csv"))
    assert err.value.problem == "empty"
    assert str(err.value).startswith("crm/2025-01-01/e.csv: ")


def test_unreadable_and_unsupported(tmp_path):
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(FileProblem) as err:
        list(iter_batches(tmp_path / "dir.csv"))
    assert err.value.problem == "unreadable"
    with pytest.raises(FileProblem) as err:
        list(iter_batches(tmp_path / "missing.csv"))
    assert err.value.problem == "unreadable" and "missing.csv" in str(err.value)
    with pytest.raises(FileProblem, match=r"unsupported file type '\.xls' \(save it as \.xlsx\)"):
        list(iter_batches(write(tmp_path / "old.xls", "x")))


def test_csv_streams_in_batches_with_correct_row_numbers(tmp_path):
    n = 25_003
    lines = ["id,name,amount"]
    for i in range(1, n + 1):
        lines.append(f'{i},"name, {i}",{i}.50')
        if i == 12_000:
            lines.append("")  # a blank line inside the data
    path = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    batches = list(iter_batches(path, batch_rows=10_000))
    assert [b.frame.height for b in batches] == [10_000, 10_000, 5_003]
    frame = pl.concat([b.frame for b in batches])
    ids = frame["id"].cast(pl.Int64)
    # physical rows: header = 1, ids 1..12000 at rows 2..12001, blank at 12002, the rest shifted by one
    expected = pl.Series([i + 1 if i <= 12_000 else i + 2 for i in range(1, n + 1)])
    assert (frame["_row_number"] == expected).all()
    assert (ids == pl.Series(range(1, n + 1))).all()
    assert [n for b in batches for n in b.notes] == ["skipped blank row at row 12002"]
    assert all(b.header == ["id", "name", "amount"] for b in batches)


def test_notes_after_the_last_data_row_reach_the_last_batch(tmp_path):
    path = write(tmp_path / "t.csv", "id\n1\n2\n合计\n")
    batches = list(iter_batches(path, batch_rows=2))
    assert len(batches) == 1 and batches[0].notes == ["skipped totals row (合计) at row 4"]


def test_bad_csv_quote(tmp_path):
    # a quote that never closes swallows the rest of the file: still no crash, one row per record
    path = write(tmp_path / "t.csv", 'id,name\n1,"abc\n2,x\n')
    _, frame, _, _ = read_all(path)
    assert frame["_row_number"].to_list() == [2]


# --- XLSX ---------------------------------------------------------------------------------------

def make_xlsx(path: Path, rows: list[list], extra_sheet: bool = False) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "客户"
    for row in rows:
        sheet.append(row)
    if extra_sheet:
        workbook.create_sheet("说明")
    workbook.save(path)
    return path


def test_xlsx_dates_numbers_and_row_numbers(tmp_path):
    path = make_xlsx(tmp_path / "customers.xlsx", [
        ["客户ID", "首次合作时间", "创建时间", "金额", "数量", "手机"],
        ["C1", dt.datetime(2024, 7, 1), dt.datetime(2024, 7, 1, 13, 5, 9), 1234.5, 3, 13812345678],
        ["C2", dt.date(2024, 2, 29), dt.datetime(2024, 7, 1, 9, 5, 7, 600_000), 12.0, 1e-7, None],
        [None, None, None, None, None, None],
        ["C3", 45474, "2024/7/1", 12345678901234.56, True, "007"],
        ["合计", None, None, 12345678902481.06, None, None],
    ], extra_sheet=True)
    header, frame, notes, _ = read_all(path)
    assert header == ["客户ID", "首次合作时间", "创建时间", "金额", "数量", "手机"]
    assert frame.rows() == [
        ("C1", "2024-07-01", "2024-07-01 13:05:09", "1234.5", "3", "13812345678", 2),
        ("C2", "2024-02-29", "2024-07-01 09:05:08", "12", "0.0000001", None, 3),
        ("C3", "45474", "2024/7/1", "12345678901234.56", "true", "007", 5),
    ]
    assert "skipped blank row at row 4" in notes
    assert "skipped totals row (合计) at row 6" in notes
    assert "read the first sheet '客户'; ignored 1 other sheet(s): '说明'" in notes


def test_xlsx_streams_in_batches(tmp_path):
    rows = [["id", "v"]] + [[f"R{i}", i] for i in range(1, 2_501)]
    path = make_xlsx(tmp_path / "t.xlsx", rows)
    batches = list(iter_batches(path, batch_rows=1_000))
    assert [b.frame.height for b in batches] == [1_000, 1_000, 500]
    frame = pl.concat([b.frame for b in batches])
    assert frame["_row_number"].to_list() == list(range(2, 2_502))


def test_xlsx_title_row_and_values_outside_the_header(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["A1"] = "2024年客户明细"
    sheet.append(["id", "name"])  # row 2
    sheet.append(["1", "a"])
    sheet["E3"] = "stray note"
    sheet["A6"] = "2"  # rows 4 and 5 do not exist in the file
    workbook.save(tmp_path / "t.xlsx")
    header, frame, notes, _ = read_all(tmp_path / "t.xlsx")
    assert header == ["id", "name"]
    assert frame.rows() == [("1", "a", 3), ("2", None, 6)]
    assert "skipped title row '2024年客户明细' above the header at row 1" in notes
    assert "ignored 1 value(s) in columns without a header (first at row 3, column E)" in notes
    assert "skipped 2 blank rows at rows 4, 5" in notes


def test_xlsx_errors(tmp_path):
    with pytest.raises(FileProblem) as err:
        list(iter_batches(write(tmp_path / "bad.xlsx", "id,name\n1,x\n")))
    assert err.value.problem == "unreadable" and "bad.xlsx" in str(err.value)
    with pytest.raises(FileProblem) as err:
        list(iter_batches(make_xlsx(tmp_path / "blank.xlsx", [])))
    assert err.value.problem == "empty"


# --- NDJSON / JSON ------------------------------------------------------------------------------

def test_ndjson(tmp_path):
    lines = [json.dumps({"ticket_id": "T1", "amount": 12.5, "tags": ["a", "b"], "ok": True}),
             "",
             json.dumps({"ticket_id": "T2", "created_at": "2024-07-01", "amount": None}, ensure_ascii=False),
             '{"ticket_id": "T3", "amount": 1234567890123456.78}']
    path = write(tmp_path / "tickets.ndjson", "\n".join(lines) + "\n")
    header, frame, notes, _ = read_all(path)
    assert header == ["ticket_id", "amount", "tags", "ok", "created_at"]
    assert frame.rows() == [
        ("T1", "12.5", '["a", "b"]', "true", None, 1),
        ("T2", None, None, None, "2024-07-01", 3),
        ("T3", "1234567890123456.78", None, None, None, 4),  # numbers keep their exact digits
    ]
    assert notes == ["skipped blank line at line 2"]


def test_ndjson_bad_line_is_a_quarantined_row_not_a_file_problem(tmp_path):
    path = write(tmp_path / "t.jsonl", '{"a": 1}\n{"a": 2,\n[1, 2]\n{"a": 4}\n')
    header, frame, notes, batches = read_all(path, display_name="ticketing/2025-01-01/tickets.ndjson")
    assert header == ["a"]
    assert frame.rows() == [("1", 1), ("4", 4)]
    rejected = pl.concat([b.rejected for b in batches])
    assert rejected.rows() == [
        (2, None, "parse_json_line", "not valid JSON (Expecting property name enclosed in double quotes at column 9)"),
        (3, None, "parse_json_line", "not a JSON object (found list)"),
    ]
    assert notes == ["2 lines (2, 3) are not a valid JSON object: quarantined (rule parse_json_line)"]


def test_bad_line_of_a_json_file_holding_one_object_per_line_is_quarantined(tmp_path):
    path = write(tmp_path / "tickets.json", '{"a": "x"}\n{"a": "y"}\n{"a": "z"\n')
    header, frame, notes, batches = read_all(path)
    assert frame.rows() == [("x", 1), ("y", 2)]
    assert pl.concat([b.rejected for b in batches]).rows() == [
        (3, None, "parse_json_line", "not valid JSON (Expecting ',' delimiter at column 10)")]
    assert notes == ["the .json file holds one JSON object per line; read it as NDJSON",
                     "line 3 is not a valid JSON object: quarantined (rule parse_json_line)"]


def test_ndjson_without_any_good_line_is_a_file_problem(tmp_path):
    path = write(tmp_path / "t.jsonl", '{"a": 2,\n')
    with pytest.raises(FileProblem) as err:
        list(iter_batches(path, display_name="ticketing/2025-01-01/tickets.ndjson"))
    assert err.value.problem == "bad_json"
    assert str(err.value) == ("ticketing/2025-01-01/tickets.ndjson: line 1 is not valid JSON (Expecting property "
                              "name enclosed in double quotes at column 9) (and no line is a JSON object with fields)")


def test_ndjson_header_is_the_union_of_keys_across_batches(tmp_path):
    lines = [json.dumps({"id": i}) for i in range(1, 6)] + [json.dumps({"id": 6, "late": "x"})]
    path = write(tmp_path / "t.ndjson", "\n".join(lines))
    batches = list(iter_batches(path, batch_rows=2))
    assert [b.frame.height for b in batches] == [2, 2, 2]
    assert all(b.header == ["id", "late"] for b in batches)
    assert batches[-1].frame.rows() == [("5", None, 5), ("6", "x", 6)]


@pytest.mark.parametrize("wrapped", [False, True])
def test_json_array_and_wrapped_array(tmp_path, wrapped):
    records = [{"id": "T1", "customer": {"id": "C1"}}, {"id": "T2", "score": 9}, {}]
    doc = {"code": 0, "data": records, "total": 3} if wrapped else records
    path = write(tmp_path / "t.json", json.dumps(doc, ensure_ascii=False, indent=2))
    header, frame, notes, _ = read_all(path, batch_rows=1)
    assert header == ["id", "customer", "score"]
    assert frame.rows() == [("T1", '{"id": "C1"}', None, 1), ("T2", None, "9", 2)]
    assert "skipped blank record at record 3" in notes
    assert ("records read from the key 'data'" in notes) == wrapped


def test_json_array_streams_across_read_chunks(tmp_path):
    records = [{"id": f"R{i}", "text": "数据" * 50} for i in range(1, 12_001)]  # > 1 MiB of text
    path = write(tmp_path / "t.json", json.dumps(records, ensure_ascii=False))
    _, frame, _, batches = read_all(path, batch_rows=5_000)
    assert [b.frame.height for b in batches] == [5_000, 5_000, 2_000]
    assert frame["_row_number"].to_list() == list(range(1, 12_001))
    assert frame["id"][-1] == "R12000"


def test_json_that_is_really_ndjson(tmp_path):
    path = write(tmp_path / "t.json", '{"id": 1}\n{"id": 2}\n')
    _, frame, notes, _ = read_all(path)
    assert frame.rows() == [("1", 1), ("2", 2)]
    assert notes == ["the .json file holds one JSON object per line; read it as NDJSON"]


@pytest.mark.parametrize("text, problem", [
    ("[1, 2]", "bad_json"),
    ('[{"a": 1}, ', "bad_json"),
    ('{"a": [{"x": 1}], "b": [{"y": 2}]}', "bad_json"),
    ('"text"', "bad_json"),
    ('{"total": 0}', "empty"),
    ("[{}, {}]", "empty"),
])
def test_json_problems(tmp_path, text, problem):
    with pytest.raises(FileProblem) as err:
        list(iter_batches(write(tmp_path / "t.json", text)))
    assert err.value.problem == problem
    assert "t.json: " in str(err.value)


@pytest.mark.parametrize("text", ["[]", "[ ]\n", '{"total": 0, "data": []}'])
def test_empty_json_list_is_zero_rows_not_a_problem(tmp_path, text):
    """Deliberate: an empty list of records is what a ticketing API exports on a quiet day (the JSON
    twin of a header-only CSV), so it loads 0 rows with a note; a 0-byte file stays a problem."""
    header, frame, notes, batches = read_all(write(tmp_path / "t.json", text))
    assert header == [] and frame.height == 0 and len(batches) == 1
    assert "the file holds an empty list of records (0 rows)" in notes
