"""Hostile exports: an XLSX declaring a huge sheet, JSON nested 10,000 levels deep, an NDJSON
export with a truncated line. Files are crafted here (the XLSX XML is written with zipfile); memory
is measured in a subprocess (peak RSS)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import polars as pl
import pytest

from data_contracts.ingest import ingest_entity
from data_contracts.landing import discover
from data_contracts.readers import FileProblem, iter_batches

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_PARTS = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook'
    '.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
    'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml'
    '.worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook {_NS} xmlns:r="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Orders" sheetId="1" r:id="rId1"/>'
    '</sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org'
    '/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


def crafted_xlsx(path: Path, rows: dict[int, dict[str, str]], dimension: str = "A1:XFD1048576") -> Path:
    """A workbook whose only sheet declares ``dimension`` and holds exactly ``rows`` ({row: {ref: text}})."""
    body = "".join(f'<row r="{r}">' + "".join(f'<c r="{ref}" t="inlineStr"><is><t>{v}</t></is></c>'
                                             for ref, v in cells.items()) + "</row>" for r, cells in rows.items())
    sheet = (f'<?xml version="1.0" encoding="UTF-8"?><worksheet {_NS}><dimension ref="{dimension}"/>'
             f"<sheetData>{body}</sheetData></worksheet>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, xml in {**_PARTS, "xl/worksheets/sheet1.xml": sheet}.items():
            archive.writestr(name, xml)
    return path


HEADER = {"A1": "order_id", "B1": "customer_id", "C1": "amount"}
BOMB = {1: {**HEADER, "XFD1": "note"},  # one header cell in the last column: 16,384 columns
        2: {"A2": "O1", "B2": "C1", "C2": "5"},
        1048576: {"A1048576": "O2", "B1048576": "C2", "C1048576": "7"}}  # the last row Excel has


def _peak(path: Path, env: dict | None = None) -> dict:
    script = textwrap.dedent("""
        import json, sys, time
        from data_contracts.readers import FileProblem, iter_batches
        started = time.monotonic()
        try:
            batches = list(iter_batches(sys.argv[1], display_name="erp/2026-01-01/orders.xlsx"))
            out = {"rows": [list(r) for b in batches for r in b.frame.select("order_id", "_row_number").rows()],
                   "notes": [n for b in batches for n in b.notes]}
        except FileProblem as err:
            out = {"problem": err.problem, "message": str(err)}
        # VmHWM: this process's own peak (ru_maxrss would carry the forking pytest's peak over exec)
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
        out["peak_mb"] = int(hwm.split()[1]) / 1024
        out["seconds"] = time.monotonic() - started
        print(json.dumps(out))
    """)
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, **(env or {})}, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_xlsx_declaring_a_huge_sheet_reads_the_cells_present_in_bounded_memory(tmp_path):
    path = crafted_xlsx(tmp_path / "orders.xlsx", BOMB)
    assert path.stat().st_size < 4096  # a few KB on disk
    out = _peak(path)
    assert out["rows"] == [["O1", 2], ["O2", 1048576]]
    assert "skipped 1048573 blank rows at rows 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 ... (1048573 in all)" in out["notes"]
    assert out["peak_mb"] < 500, out
    assert out["seconds"] < 60, out


def test_xlsx_header_far_down_the_sheet_keeps_its_row_numbers(tmp_path):
    path = crafted_xlsx(tmp_path / "orders.xlsx", {
        1000000: {"A1000000": "客户订单明细"},  # a title row, the header two rows below it
        1000002: {"A1000002": "order_id", "B1000002": "amount"},
        1000003: {"A1000003": "O1", "B1000003": "5", "D1000003": "stray"},
        1000005: {"A1000005": "O2"}})
    out = _peak(path)
    assert out["rows"] == [["O1", 1000003], ["O2", 1000005]]
    assert out["notes"] == ["ignored 1 value(s) in columns without a header (first at row 1000003, column D)",
                            "skipped title row '客户订单明细' above the header at row 1000000",
                            # rows 1 .. 999999 (not in the file), 1000001 and 1000004
                            "skipped 1000001 blank rows at rows 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 ... (1000001 in all)"]
    assert out["peak_mb"] < 300, out


def test_xlsx_over_the_cell_limit_is_a_file_problem_naming_it(tmp_path):
    rows = {1: HEADER, **{r: {f"A{r}": f"O{r}", f"B{r}": "C1", f"C{r}": "1"} for r in range(2, 40)}}
    path = crafted_xlsx(tmp_path / "orders.xlsx", rows)
    out = _peak(path, {"CRM_PULSE_XLSX_MAX_CELLS": "100"})
    assert out["problem"] == "too_large"
    assert out["message"] == ("erp/2026-01-01/orders.xlsx: the first sheet 'Orders' needs more than 100 cells "
                              "(data rows x 3 header columns, at row 35), the limit (CRM_PULSE_XLSX_MAX_CELLS); "
                              "split the export or save it as CSV")
    assert _peak(path, {"CRM_PULSE_XLSX_MAX_CELLS": "114"})["rows"][-1] == ["O39", 39]  # 38 rows x 3 = 114 cells


def test_xlsx_sheet_over_the_uncompressed_size_limit_is_a_file_problem(tmp_path, monkeypatch):
    path = crafted_xlsx(tmp_path / "orders.xlsx", {1: HEADER, 2: {"A2": "O1"}})
    with zipfile.ZipFile(path) as archive:
        size = archive.getinfo("xl/worksheets/sheet1.xml").file_size
    monkeypatch.setenv("CRM_PULSE_XLSX_MAX_SHEET_BYTES", str(size - 1))
    with pytest.raises(FileProblem) as err:
        list(iter_batches(path, display_name="erp/2026-01-01/orders.xlsx"))
    assert err.value.problem == "too_large"
    assert str(err.value) == (f"erp/2026-01-01/orders.xlsx: the first sheet 'Orders' is {size:,} bytes of XML "
                              f"uncompressed, more than the limit of {size - 1:,} (CRM_PULSE_XLSX_MAX_SHEET_BYTES); "
                              "split the export or save it as CSV")
    monkeypatch.setenv("CRM_PULSE_XLSX_MAX_SHEET_BYTES", str(size))
    assert [b.frame.rows() for b in iter_batches(path)] == [[("O1", None, None, 2)]]


DEEP = 10_000


@pytest.mark.parametrize("name, text", [
    ("tickets.json", '[{"ticket_id": "T1", "tags": ' + "[" * DEEP + "]" * DEEP + "}]"),
    ("tickets.json", "[" * DEEP + "]" * DEEP),
    ("tickets.json", '{"ticket_id": "T0"}\n{"ticket_id": "T1", "x": ' + '{"a":' * DEEP + "1" + "}" * DEEP + "}\n"),
    ("tickets.json", '[\n{"ticket_id": "T0"},\n{"ticket_id": "T1", "x": ' + "[" * DEEP + "]" * DEEP + "}\n]\n"),
    ("tickets.ndjson", '{"ticket_id": "T0"}\n{"ticket_id": "T1", "x": ' + "[" * DEEP + "]" * DEEP + "}\n"),
    ("tickets.ndjson", '{"ticket_id": "T1", "x": ' + '{"a":' * DEEP + "1" + "}" * DEEP + "}\n"),
    ("tickets.jsonl", "[" * DEEP + "\n"),  # deep and truncated
], ids=["array-record", "array-itself", "json-lines", "array-per-line", "ndjson", "ndjson-first", "truncated"])
def test_json_nested_too_deeply_is_a_file_problem(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    relative = f"ticketing/2026-01-01/{name}"
    with pytest.raises(FileProblem) as err:
        list(iter_batches(path, display_name=relative))
    assert err.value.problem == "bad_json"
    assert str(err.value) == (f"{relative}: the JSON is nested too deeply (objects or lists more than about "
                              f"{sys.getrecursionlimit()} levels deep); export it flatter")


def test_ingest_quarantines_a_truncated_ndjson_line_and_loads_the_rest(tmp_path):
    good = [{"ticket_id": f"T{i}", "customer_id": f"C{i}", "created_at": "2026-01-01 10:00"} for i in range(1, 6)]
    lines = [json.dumps(r) for r in good]
    lines.insert(2, json.dumps({"ticket_id": "T9", "customer_id": "C9"})[:17])  # cut off mid-export: line 3
    path = tmp_path / "landing/ticketing/2026-01-02/tickets.ndjson"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    files = discover(tmp_path / "landing", "ticketing", "tickets")
    result = ingest_entity("tickets", files, tmp_path / "raw", "l1", dt.datetime(2026, 1, 3), hash_key=b"k" * 32)
    (load,) = result.loaded
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (6, 5, 1)
    assert "line 3 is not a valid JSON object: quarantined (rule parse_json_line)" in load.notes
    raw = pl.read_parquet(tmp_path / "raw/ticketing/tickets/2026-01-02__tickets.ndjson.parquet")
    assert sorted(raw["ticket_id"].to_list()) == [r["ticket_id"] for r in good]
    quarantine = pl.read_parquet(tmp_path / "raw/_quarantine/tickets/2026-01-02__tickets.ndjson.parquet")
    assert quarantine.select("source_file", "row_number", "rule", "original_value").rows() == [
        ("ticketing/2026-01-02/tickets.ndjson", 3, "parse_json_line",
         "not valid JSON (Unterminated string starting at column 15)")]
