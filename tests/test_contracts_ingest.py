"""Catalogue of malformed export files against the ingest contracts (real files, real parsing).

Every case writes a real export into a landing folder and runs ``ingest_entity`` on it. File-level
problems must fail the entity with one message naming the file and the problem and leave the raw
layer exactly as it was (byte for byte); row-level problems must quarantine the right rows with
the right rule while the good rows load, and rows read = rows loaded + rows quarantined.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import polars as pl
import pytest
import yaml

from data_contracts.ingest import ingest_entity
from data_contracts.landing import discover
from data_contracts.layout import RawLayout
from data_contracts.readers import FileProblem

CONTRACTS = Path(__file__).resolve().parent.parent / "data_contracts" / "sources"
EXPORT_DATE = "2025-03-01"
LOADED_AT = dt.datetime(2025, 3, 2, 8, 0)
SOURCE = {"orders": "erp", "customers": "crm", "tickets": "ticketing", "satisfaction": "ticketing",
          "opportunities": "crm", "order_items": "erp", "campaigns": "crm", "activities": "crm"}

GOOD_ORDERS = ("order_id,customer_id,order_date,status,amount\n"
               "O1,C1,2025-02-01,completed,100\n"
               "O2,C2,2025-02-02,cancelled,200\n")


def put(landing: Path, entity: str, content: str | bytes, name: str | None = None, date: str = EXPORT_DATE,
        encoding: str = "utf-8") -> Path:
    path = landing / SOURCE[entity] / date / (name or f"{entity}.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def ingest(tmp_path: Path, entity: str, load_id: str = "load2"):
    files = discover(tmp_path / "landing", SOURCE[entity], entity)
    return ingest_entity(entity, files, tmp_path / "raw", load_id=load_id, loaded_at=LOADED_AT)


def fingerprint(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def quarantine(tmp_path: Path, entity: str) -> pl.DataFrame:
    files = sorted((tmp_path / "raw" / "_quarantine" / entity).glob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()


def loaded(tmp_path: Path, entity: str) -> pl.DataFrame:
    files = [f for f in (tmp_path / "raw" / SOURCE[entity] / entity).glob("*.parquet") if f.name != "_schema.parquet"]
    return pl.concat([pl.read_parquet(f) for f in files]).sort("_row_number") if files else pl.DataFrame()


def conserved(result) -> None:
    for load in result.loaded:
        assert load.rows_read == load.rows_loaded + load.rows_quarantined, load


# --- file-level failures: one clear message, nothing of the entity changes -----------------------

def _xlsx_bytes(rows) -> bytes:
    from io import BytesIO

    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _zip_without_workbook() -> bytes:
    from io import BytesIO

    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "not a workbook")
    return buf.getvalue()


FILE_PROBLEMS = [
    # id, entity, file name, content, problem code, words the message must contain
    ("empty_file", "orders", "orders.csv", b"", "empty", ["the file is empty (0 bytes)"]),
    ("blank_lines_only", "orders", "orders.csv", b"\r\n\r\n   \r\n", "empty", ["no header row", "only blank lines"]),
    ("bom_only", "orders", "orders.csv", b"\xef\xbb\xbf", "empty", ["no header row", "only blank lines"]),
    ("utf16_text", "orders", "orders.csv", "order_id,amount\nO1,1\n".encode("utf-16"), "encoding",
     ["UTF-16", "not supported"]),
    ("undetectable_encoding", "orders", "orders.csv", b"order_id,customer_id\nO1,\x80\xff\x80\n", "encoding",
     ["cannot detect the text encoding"]),
    ("bom_but_not_utf8", "orders", "orders.csv", b"\xef\xbb\xbforder_id\n\xff\xfe\xfd\n", "encoding",
     ["byte-order mark", "not valid UTF-8"]),
    ("missing_required_column", "orders", "orders.csv",
     "order_id,customer_id,order_date,status\nO9,C1,2025-02-01,completed\n".encode(), "missing_column",
     ["missing required column(s) amount for orders"]),
    ("wrong_entity", "orders", "orders.csv",
     "客户ID,客户名称,状态\nC1,甲公司,活跃\n".encode(), "missing_column",
     ["missing required column(s)", "match a customers export", "wrong place"]),
    ("xls_not_supported", "orders", "orders.xls", b"\xd0\xcf\x11\xe0 old excel", "unsupported",
     ["unsupported file type '.xls'", "save it as .xlsx"]),
    ("corrupt_xlsx", "orders", "orders.xlsx", b"this is not a zip archive", "unreadable",
     ["cannot open it as an .xlsx workbook"]),
    ("zip_without_workbook", "orders", "orders.xlsx", _zip_without_workbook(), "unreadable",
     ["cannot open it as an .xlsx workbook"]),
    ("blank_sheet", "orders", "orders.xlsx", _xlsx_bytes([]), "empty", ["has no header row"]),
    ("truncated_json", "tickets", "tickets.json", b'[{"ticket_id": "T1", ', "bad_json", ["not valid JSON"]),
    ("json_scalar_records", "tickets", "tickets.json", b"[1, 2, 3]", "bad_json", ["record 1 is not a JSON object"]),
    ("json_records_without_fields", "tickets", "tickets.json", b"[{}, {}]", "empty", ["no records with fields"]),
    ("json_object_without_records", "tickets", "tickets.json", b'{"total": 0}', "empty", ["no list of records"]),
    ("unquoted_delimiter_in_value", "orders", "orders.csv",
     "order_id,customer_id,order_date,status,amount\nO9,C1,2025-02-01,completed,1,234,567\n".encode(), "bad_row",
     ["row 2 has 7 fields but the header has 5"]),
]


@pytest.mark.parametrize("case, entity, name, content, problem, words", FILE_PROBLEMS,
                         ids=[c[0] for c in FILE_PROBLEMS])
def test_file_level_problem_fails_entity_and_changes_nothing(tmp_path, case, entity, name, content, problem, words):
    landing = tmp_path / "landing"
    if entity == "orders":  # an earlier, good export already landed: it must survive untouched
        put(landing, "orders", GOOD_ORDERS, date="2025-02-01")
    else:
        put(landing, entity, '[{"ticket_id": "T0", "customer_id": "C0", "created_at": "2025-01-05 10:00"}]',
            name=f"{entity}.json", date="2025-02-01")
    ingest(tmp_path, entity, load_id="load1")
    before = fingerprint(tmp_path / "raw")
    path = put(landing, entity, content, name=name)
    relative = path.relative_to(landing).as_posix()

    with pytest.raises(FileProblem) as err:
        ingest(tmp_path, entity)

    message = str(err.value)
    assert err.value.problem == problem, message
    assert message.startswith(f"{relative}: "), message  # names the file (landing-relative path)
    assert "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message, message
    assert fingerprint(tmp_path / "raw") == before  # nothing of the entity changed


def test_one_bad_file_keeps_the_other_new_files_of_the_entity_out_too(tmp_path):
    """All or nothing per entity: a good new file is not landed beside a broken one."""
    landing = tmp_path / "landing"
    put(landing, "orders", GOOD_ORDERS, date="2025-02-01")
    ingest(tmp_path, "orders", load_id="load1")
    before = fingerprint(tmp_path / "raw")
    put(landing, "orders", GOOD_ORDERS.replace("O1", "O7"), name="orders_part1.csv")
    put(landing, "orders", b"", name="orders_part2.csv")
    with pytest.raises(FileProblem) as err:
        ingest(tmp_path, "orders")
    assert str(err.value) == f"erp/{EXPORT_DATE}/orders_part2.csv: the file is empty (0 bytes)"
    assert fingerprint(tmp_path / "raw") == before
    assert not (tmp_path / "raw" / "_tmp").exists() or not any((tmp_path / "raw" / "_tmp").iterdir())


def _spellings(entity: str, column: str) -> list[str]:
    """A column's name and aliases, read from the contract YAML itself."""
    spec = yaml.safe_load((CONTRACTS / f"{entity}.yml").read_text(encoding="utf-8"))["columns"][column]
    return [column, *spec["aliases"]]


def test_missing_column_message_lists_the_accepted_spellings_and_the_headers_found(tmp_path):
    """A header that is no alias (客户 for the customer id): the message says what would be accepted and
    what the file has, so the person fixing the export sees the mismatch at once."""
    put(tmp_path / "landing", "orders", "订单号,客户,下单日期,状态,金额,备注\nO1,C1,2025-02-01,已完成,10,急\n")
    with pytest.raises(FileProblem) as err:
        ingest(tmp_path, "orders")
    assert str(err.value) == (
        f"erp/{EXPORT_DATE}/orders.csv: missing required column(s) customer_id for orders "
        f"(accepted: {', '.join(_spellings('orders', 'customer_id'))}); "
        "the file's headers: 订单号, 客户, 下单日期, 状态, 金额, 备注")


def test_missing_columns_message_names_each_columns_spellings_and_caps_a_wide_header(tmp_path):
    headers = ["order_id", "order_date", "status", *(f"extra_{i:02d}" for i in range(27))]  # 30 headers
    put(tmp_path / "landing", "orders", ",".join(headers) + "\n" + ",".join(["1"] * 30) + "\n")
    with pytest.raises(FileProblem) as err:
        ingest(tmp_path, "orders")
    message = str(err.value)
    accepted = "; ".join(f"{c}: {', '.join(_spellings('orders', c))}" for c in ("customer_id", "amount"))
    assert f"missing required column(s) customer_id, amount for orders (accepted: {accepted}); " in message
    assert message.endswith(f"the file's headers: {', '.join(headers[:12])} and 18 more"), message


def test_missing_column_message_shows_headers_on_one_line_without_contacts(tmp_path):
    """A file without a header row: its first data row is the header, and the message must not repeat a
    phone number or break its line on an embedded line break."""
    put(tmp_path / "landing", "customers", '甲公司,13812345678,"a\nb",\n')
    with pytest.raises(FileProblem) as err:
        ingest(tmp_path, "customers")
    message = str(err.value)
    assert "\n" not in message and "13812345678" not in message, message
    assert "the file's headers: 甲公司, 138" in message and "a\\x0ab" in message, message


# --- row-level failures: quarantined with the rule, good rows load -------------------------------

ROW_PROBLEMS = [
    # id, entity, content (header + rows), expected quarantine {(column, rule): count}, rows loaded
    ("unparseable_date", "orders",
     "order_id,customer_id,order_date,status,amount\nO1,C1,2025-13-45,completed,10\nO2,C1,2025-02-01,completed,10\n",
     {("order_date", "parse_datetime"): 1}, 1),
    ("unparseable_money", "orders",
     "order_id,customer_id,order_date,status,amount\nO1,C1,2025-02-01,completed,12元5\nO2,C1,2025-02-01,completed,1.2.3\n"
     "O3,C1,2025-02-01,completed,\"¥1,234.50\"\n",
     {("amount", "parse_money"): 2}, 1),
    ("negative_amount", "orders",
     "order_id,customer_id,order_date,status,amount\nO1,C1,2025-02-01,completed,-100\nO2,C1,2025-02-01,completed,(50)\n"
     "O3,C1,2025-02-01,completed,0\n",
     {("amount", "amount_min_0"): 2}, 1),
    ("unknown_enum_value", "orders",
     "order_id,customer_id,order_date,status,amount\nO1,C1,2025-02-01,paid,10\nO2,C1,2025-02-01,已完成,10\n"
     "O3,C1,2025-02-01,已退款,10\n",
     {("status", "allowed_values"): 1}, 2),
    ("missing_required_value", "orders",
     "order_id,customer_id,order_date,status,amount\nO1,,2025-02-01,completed,10\n,C1,2025-02-01,completed,10\n"
     "O3,C1,2025-02-01,completed,\n",
     {("customer_id", "required"): 1, ("order_id", "required"): 1, ("amount", "required"): 1}, 0),
    ("duplicate_key_in_file", "orders",
     "order_id,customer_id,order_date,status,amount\nO1,C1,2025-02-01,completed,10\nO1,C1,2025-02-01,completed,10\n"
     "O1,C2,2025-02-03,refunded,10\nO2,C1,2025-02-01,completed,10\n",
     {("order_id", "key_unique_in_file"): 2}, 2),
    ("date_after_export_date", "orders",
     "order_id,customer_id,order_date,status,amount\nO1,C1,2025-03-02 00:00:00,completed,10\n"
     "O2,C1,2025-03-01 23:59:59,completed,10\n",
     {("order_date", "not_after_export_date"): 1}, 1),
    ("resolved_before_created", "tickets",
     "ticket_id,customer_id,created_at,resolved_at\nT1,C1,2025-02-10 10:00,2025-02-09 10:00\n"
     "T2,C1,2025-02-10 10:00,2025-02-10 10:00\nT3,C1,2025-02-10 10:00,\n",
     {("resolved_at", "resolved_not_before_created"): 1}, 2),
    ("first_response_before_created", "tickets",
     "ticket_id,customer_id,created_at,first_response_at\nT1,C1,2025-02-10 10:00,2025-02-10 09:59\n",
     {("first_response_at", "first_response_not_before_created"): 1}, 0),
    ("close_before_created", "opportunities",
     "opportunity_id,customer_id,created_date,close_date\nP1,C1,2025-02-10,2025-02-01\nP2,C1,2025-02-10,2025-02-11\n",
     {("close_date", "close_date_not_before_created"): 1}, 1),
    ("end_before_start", "campaigns",
     "campaign_id,name,start_date,end_date\nK1,Spring,2025-02-10,2025-02-01\n",
     {("end_date", "end_date_not_before_start"): 1}, 0),
    ("csat_out_of_range", "satisfaction",
     "response_id,customer_id,csat,nps,responded_at\nR1,C1,6,9,2025-02-01\nR2,C1,0,9,2025-02-01\nR3,C1,5,9,2025-02-01\n",
     {("csat", "csat_max_5"): 1, ("csat", "csat_min_1"): 1}, 1),
    ("nps_out_of_range", "satisfaction",
     "response_id,customer_id,csat,nps,responded_at\nR1,C1,4,11,2025-02-01\nR2,C1,4,-1,2025-02-01\nR3,C1,4,0,2025-02-01\n"
     "R4,C1,4,10,2025-02-01\n",
     {("nps", "nps_max_10"): 1, ("nps", "nps_min_0"): 1}, 2),
    ("fractional_score", "satisfaction",
     "response_id,customer_id,csat,nps,responded_at\nR1,C1,4.5,9,2025-02-01\nR2,C1,4.0,9,2025-02-01\n",
     {("csat", "parse_int"): 1}, 1),
    ("bad_boolean", "tickets",
     "ticket_id,customer_id,created_at,is_complaint\nT1,C1,2025-02-10,maybe\nT2,C1,2025-02-10,是\n",
     {("is_complaint", "parse_bool"): 1}, 1),
    ("negative_quantity", "order_items",
     "order_id,sku,quantity,unit_price\nO1,S1,-2,10\nO1,S2,2,10\nO1,S3,1.5,10\n",
     {("quantity", "quantity_min_0"): 1, ("quantity", "parse_int"): 1}, 1),
    ("compound_key_duplicate", "order_items",
     "order_id,sku,quantity,unit_price\nO1,S1,1,10\nO1,S1,2,10\nO2,S1,1,10\n",
     {("order_id,sku", "key_unique_in_file"): 1}, 2),
    ("unknown_activity_type", "activities",
     "activity_id,customer_id,activity_type,activity_at\nA1,C1,fax,2025-02-01\nA2,C1,微信,2025-02-01\n",
     {("activity_type", "allowed_values"): 1}, 1),
]


@pytest.mark.parametrize("case, entity, content, expected, n_loaded", ROW_PROBLEMS, ids=[c[0] for c in ROW_PROBLEMS])
def test_row_level_problem_is_quarantined_with_its_rule(tmp_path, case, entity, content, expected, n_loaded):
    put(tmp_path / "landing", entity, content)
    result = ingest(tmp_path, entity)
    conserved(result)
    [load] = result.loaded
    q = quarantine(tmp_path, entity)
    got = {}
    for row in (q.iter_rows(named=True) if q.height else []):
        got[(row["column"], row["rule"])] = got.get((row["column"], row["rule"]), 0) + 1
    assert got == expected
    assert load.rows_loaded == n_loaded
    assert load.rows_read == content.count("\n") - 1
    assert load.rows_quarantined == (q["row_number"].n_unique() if q.height else 0)
    if q.height:
        assert set(q["source_file"]) == {f"{SOURCE[entity]}/{EXPORT_DATE}/{entity}.csv"}
        assert set(q["_load_id"]) == {"load2"}
        assert q["row_number"].min() >= 2  # row numbers as the user sees them (header = row 1)


def test_quarantine_names_row_and_keeps_original_value(tmp_path):
    put(tmp_path / "landing", "orders",
        "order_id,customer_id,order_date,status,amount\nO1,C1,2025-02-01,completed,10\n"
        "O2,C1,2024年13月1日,completed,10\nO3,C1,2025-02-01,completed,abc\n")
    result = ingest(tmp_path, "orders")
    q = quarantine(tmp_path, "orders").sort("row_number")
    assert q.select("row_number", "column", "rule", "original_value").rows() == [
        (3, "order_date", "parse_datetime", "2024年13月1日"), (4, "amount", "parse_money", "abc")]
    assert result.loaded[0].rows_loaded == 1


def test_personal_data_never_reaches_the_quarantine(tmp_path):
    """A phone or e-mail typed into the wrong column is masked in the quarantine like the pii columns."""
    put(tmp_path / "landing", "customers",
        "customer_id,customer_name,status,created_at,phone\n"
        "C1,甲公司,活跃,zhang.san@example.com,13812345678\n"
        "C2,乙公司,unknown-status,2025-01-01,13987654321\n"
        "C3,丙公司,活跃,13700001111,\n")
    ingest(tmp_path, "customers")
    q = quarantine(tmp_path, "customers").sort("row_number")
    values = q["original_value"].to_list()
    assert values == ["z***@example.com", "unknown-status", "137****1111"]
    text = json.dumps(q.rows(), default=str)
    for raw in ("zhang.san@", "13812345678", "13987654321", "13700001111"):
        assert raw not in text


# --- what real exports need: accepted, parsed, noted ---------------------------------------------

def test_gb18030_chinese_headers_and_messy_values_parse(tmp_path):
    content = ("订单号,客户ID,下单日期,订单状态,订单金额,币种,销售\n"
               "O1,C1,2024年7月1日,已完成,\"¥1,234.50\",,张三\n"
               "O2,C2,2024/7/1 9:05,已取消,1.2万,CNY,李四\n"
               "Ｏ3,C3,45474,完成,￥８８,USD,\n"
               "O4,C4,45474.5,已退款,\"1,234\",,王五\n"
               "O5,C5,2024-07-01T13:05:09,completed,  99.9元 ,,\n")
    put(tmp_path / "landing", "orders", content, encoding="gb18030")
    result = ingest(tmp_path, "orders")
    conserved(result)
    assert quarantine(tmp_path, "orders").height == 0
    rows = loaded(tmp_path, "orders")
    assert rows["order_id"].to_list() == ["O1", "O2", "O3", "O4", "O5"]  # full-width Ｏ folded
    assert rows["amount"].to_list() == [Decimal("1234.50"), Decimal("12000.00"), Decimal("88.00"),
                                        Decimal("1234.00"), Decimal("99.90")]
    assert rows["order_date"].to_list() == [dt.datetime(2024, 7, 1), dt.datetime(2024, 7, 1, 9, 5),
                                            dt.datetime(2024, 7, 1), dt.datetime(2024, 7, 1, 12),
                                            dt.datetime(2024, 7, 1, 13, 5, 9)]
    assert rows["status"].to_list() == ["completed", "cancelled", "completed", "refunded", "completed"]
    assert rows["sales_rep"].to_list() == ["张三", "李四", None, "王五", None]


def test_utf8_bom_and_gbk_files_are_detected_not_configured(tmp_path):
    body = "客户ID,客户名称,企业规模,状态\nC1,甲公司,大型,活跃\nC2,乙公司,小微,流失\n"
    put(tmp_path / "landing", "customers", b"\xef\xbb\xbf" + body.encode("utf-8"), name="customers_part1.csv")
    put(tmp_path / "landing", "customers", body.replace("C1", "C3").replace("C2", "C4").encode("gbk"),
        name="customers_part2.csv")
    result = ingest(tmp_path, "customers")
    conserved(result)
    rows = loaded(tmp_path, "customers").sort("customer_id")
    assert rows.select("customer_id", "company_size", "status").rows() == [
        ("C1", "large", "active"), ("C2", "small_micro", "lost"), ("C3", "large", "active"), ("C4", "small_micro", "lost")]


def test_totals_row_and_repeated_header_are_skipped_with_a_note(tmp_path):
    put(tmp_path / "landing", "orders",
        "order_id,customer_id,order_date,status,amount\nO1,C1,2025-02-01,completed,10\n"
        "order_id,customer_id,order_date,status,amount\nO2,C1,2025-02-01,completed,20\n合计,,,,30\n")
    result = ingest(tmp_path, "orders")
    conserved(result)
    [load] = result.loaded
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (2, 2, 0)
    assert "skipped repeated header row at row 3" in load.notes
    assert "skipped totals row (合计) at row 5" in load.notes
    log = RawLayout(tmp_path / "raw").read_load_log("orders")
    assert json.loads(log["notes"][0]) == load.notes


def test_unknown_extra_columns_are_recorded_not_fatal(tmp_path):
    put(tmp_path / "landing", "orders",
        "order_id,customer_id,order_date,status,amount,备注,internal_flag\nO1,C1,2025-02-01,completed,10,急,x\n")
    result = ingest(tmp_path, "orders")
    assert result.loaded[0].unknown_columns == ["备注", "internal_flag"]
    log = RawLayout(tmp_path / "raw").read_load_log("orders")
    assert json.loads(log["unknown_columns"][0]) == ["备注", "internal_flag"]
    assert loaded(tmp_path, "orders").height == 1


def test_empty_json_list_is_a_zero_row_load(tmp_path):
    """Deliberate choice: [] is an API export of a quiet day (like a header-only CSV), not a broken file."""
    put(tmp_path / "landing", "tickets", "[]", name="tickets.json")
    result = ingest(tmp_path, "tickets")
    [load] = result.loaded
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (0, 0, 0)
    assert "the file holds an empty list of records (0 rows)" in load.notes


def test_xlsx_with_title_row_date_cells_and_totals(tmp_path):
    content = _xlsx_bytes([
        ["订单明细表"],
        ["订单号", "客户ID", "下单日期", "状态", "金额"],
        ["O1", "C1", dt.datetime(2024, 7, 1, 9, 30), "已完成", 1234.5],
        ["O2", "C2", 45474, "已取消", "￥2,000"],
        ["合计", None, None, None, 3234.5],
    ])
    put(tmp_path / "landing", "orders", content, name="orders.xlsx")
    result = ingest(tmp_path, "orders")
    conserved(result)
    [load] = result.loaded
    assert (load.rows_read, load.rows_loaded) == (2, 2)
    assert any("title row '订单明细表'" in n for n in load.notes)
    assert any("totals row (合计)" in n for n in load.notes)
    rows = loaded(tmp_path, "orders")
    assert rows["order_date"].to_list() == [dt.datetime(2024, 7, 1, 9, 30), dt.datetime(2024, 7, 1)]
    assert rows["amount"].to_list() == [Decimal("1234.50"), Decimal("2000.00")]
    assert rows["_row_number"].to_list() == [3, 4]  # sheet rows, as the user sees them


def test_ndjson_tickets_with_bilingual_enums(tmp_path):
    lines = [
        {"工单号": "T1", "客户ID": "C1", "创建时间": "2025-02-01 10:00", "问题类型": "价格", "优先级": "紧急",
         "工单状态": "已解决", "是否投诉": "是", "解决时间": "2025-02-01 12:00"},
        {"工单号": "T2", "客户ID": "C1", "创建时间": "2025-02-01 10:00", "问题类型": "delivery", "优先级": "LOW",
         "工单状态": "pending", "是否投诉": False},
    ]
    put(tmp_path / "landing", "tickets", "\n".join(json.dumps(x, ensure_ascii=False) for x in lines),
        name="tickets.ndjson")
    result = ingest(tmp_path, "tickets")
    conserved(result)
    rows = loaded(tmp_path, "tickets")
    assert rows.select("category", "priority", "status", "is_complaint").rows() == [
        ("price", "urgent", "resolved", True), ("delivery", "low", "open", False)]


def test_conservation_at_scale_with_mixed_failures_across_batches(tmp_path):
    """Small batches: duplicates across batch boundaries still count once; read = loaded + quarantined."""
    rows = ["order_id,customer_id,order_date,status,amount"]
    for i in range(1, 501):
        amount = "abc" if i % 50 == 0 else ("-1" if i % 70 == 0 else str(i))
        rows.append(f"O{i % 480},C{i % 7},2025-02-{1 + i % 27:02d},completed,{amount}")
    put(tmp_path / "landing", "orders", "\n".join(rows) + "\n")
    files = discover(tmp_path / "landing", "erp", "orders")
    result = ingest_entity("orders", files, tmp_path / "raw", load_id="x", loaded_at=LOADED_AT, batch_rows=64)
    conserved(result)
    [load] = result.loaded
    assert load.rows_read == 500
    assert load.rows_loaded == loaded(tmp_path, "orders").height
    q = quarantine(tmp_path, "orders")
    assert load.rows_quarantined == q["row_number"].n_unique()
    assert q.filter(pl.col("rule") == "parse_money").height == 10
    assert q.filter(pl.col("rule") == "amount_min_0").height == 6  # i = 70 ... 490 but not 350
    # O0..O19 appear twice (i and i + 480); the second occurrence is a duplicate unless already quarantined
    assert loaded(tmp_path, "orders")["order_id"].n_unique() == loaded(tmp_path, "orders").height


# --- blank markers, number forms, reference values, control characters --------------------------

ORDERS_ZH = "订单号,客户ID,下单日期,订单状态,订单金额,币种,销售\n"


@pytest.mark.parametrize("encoding, bom", [("gbk", b""), ("utf-8", b"\xef\xbb\xbf")], ids=["gbk", "utf8_bom"])
def test_blank_markers_number_forms_and_reference_values(tmp_path, encoding, bom):
    """Chinese headers; each row's exact outcome: the value loaded, or the rule and row number."""
    rows = [
        # row 2..: order_id, customer, date, status, amount, currency, rep
        "O1,C1,2025年2月1日,已完成,1.2E+04,N/A,-",          # blank currency and rep -> null (defaults in staging)
        'O2,C1,2025/2/1 14:03,已完成,"(1,234.00)",CNY,张三',   # accounting negative -> amount_min_0
        'O3,C1,20250201,已完成,"￥1,234.50",usd,—',           # lower-case code known; em dash rep blank
        "O4,C1,45689,已完成,1234.5元整,XYZ,李四",            # no rate in the fx_rates seed -> unknown_currency
        "O5,C1,2025.02.01,已完成,N/A,CNY,王五",              # required amount given as a blank marker
        "O6,C1,2025-02-01T14:03:00+08:00,已完成,１２３４,无,NULL",
        "O7,C1,2025-02-01,已完成,1234-,,",                   # trailing minus -> amount_min_0
        "-,C1,2025-02-01,已完成,5,,",                        # key given as a blank marker -> required
        "O9,C1,2025-02-01,已完成,人民币88,#N/A,暂无",
        'O10,C1,2025-02-01,已完成,"1 234,50",,',               # European decimal comma: not guessed
    ]
    content = ORDERS_ZH + "\n".join(rows) + "\n"
    put(tmp_path / "landing", "orders", bom + content.encode(encoding))
    result = ingest(tmp_path, "orders")
    conserved(result)
    [load] = result.loaded
    q = quarantine(tmp_path, "orders").sort("row_number")
    assert q.select("row_number", "column", "rule", "original_value").rows() == [
        (3, "amount", "amount_min_0", "(1,234.00)"),
        (5, "currency", "unknown_currency", "XYZ"),
        (6, "amount", "required", "N/A"),
        (8, "amount", "amount_min_0", "1234-"),
        (9, "order_id", "required", "-"),
        (11, "amount", "parse_money", "1 234,50"),
    ]
    good = loaded(tmp_path, "orders")
    assert good.select("order_id", "amount", "currency", "sales_rep", "order_date").rows() == [
        ("O1", Decimal("12000.00"), None, None, dt.datetime(2025, 2, 1)),
        ("O3", Decimal("1234.50"), "USD", None, dt.datetime(2025, 2, 1)),  # codes normalised
        ("O6", Decimal("1234.00"), None, None, dt.datetime(2025, 2, 1, 14, 3)),
        ("O9", Decimal("88.00"), None, None, dt.datetime(2025, 2, 1)),
    ]
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (10, 4, 6)


def test_control_characters_quarantine_identifiers_and_typed_values_strip_free_text(tmp_path):
    """NUL and other control characters: a key, id or typed value is quarantined (control_characters,
    shown escaped, never raw); free text is loaded with them stripped."""
    put(tmp_path / "landing", "customers",
        "客户ID\x00,客户名称,状态,流失原因,行业,创建时间\n"  # a header is matched without its NUL
        "C1,甲\x00公司,流失,价格\x07太高\x1b,制造\x7f业,2025-01-01\n"
        "C2\x00,乙公司,活跃,,,2025-01-01\n"
        "C3,丙公司,活跃,,,2025-01-01\x00\n"
        "C4,丁公司\x85,活跃,,,2025-01-02\n")
    result = ingest(tmp_path, "customers")
    conserved(result)
    q = quarantine(tmp_path, "customers").sort("row_number")
    assert q.select("row_number", "column", "rule", "original_value").rows() == [
        (3, "customer_id", "control_characters", "C2\\x00"),
        (4, "created_at", "control_characters", "2025-01-01\\x00"),
    ]
    good = loaded(tmp_path, "customers")
    assert good.select("customer_id", "customer_name", "lost_reason", "industry").rows() == [
        ("C1", "甲公司", "价格太高", "制造业"), ("C4", "丁公司", None, None)]
    assert result.loaded[0].rows_read == 4


def test_blank_markers_in_every_column_type(tmp_path):
    """A marker reads as empty before parsing in date, enum, bool, int and str columns alike."""
    put(tmp_path / "landing", "tickets",
        "ticket_id,customer_id,created_at,resolved_at,category,priority,is_complaint,channel,assignee\n"
        "T1,C1,2025-02-01 10:00,N/A,无,-,NULL,/,(空白)\n"
        "T2,C1,2025-02-01 10:00,--,#N/A,—,nan,暂无,None\n"
        "T3,C1,N/A,,,,,,\n", encoding="gbk")
    result = ingest(tmp_path, "tickets")
    conserved(result)
    q = quarantine(tmp_path, "tickets")
    assert q.select("row_number", "column", "rule", "original_value").rows() == [(4, "created_at", "required", "N/A")]
    good = loaded(tmp_path, "tickets")
    assert good.select("ticket_id", "resolved_at", "category", "priority", "is_complaint", "channel", "assignee").rows() == [
        ("T1", None, None, None, None, None, None), ("T2", None, None, None, None, None, None)]


def test_ndjson_truncated_line_is_quarantined_and_the_rest_loads(tmp_path):
    """One bad NDJSON line is a row problem (rule parse_json_line, its line number), not a file problem."""
    put(tmp_path / "landing", "tickets",
        b'{"ticket_id": "T1", "customer_id": "C1", "created_at": "2025-02-01"}\n'
        b'{"ticket_id": "T2", "customer_id": "C1", "crea\n'
        b'{"ticket_id": "T3", "customer_id": "C2", "created_at": "2025-02-02 09:00"}\n', name="tickets.ndjson")
    result = ingest(tmp_path, "tickets")
    conserved(result)
    [load] = result.loaded
    q = quarantine(tmp_path, "tickets")
    assert q.select("row_number", "rule").rows() == [(2, "parse_json_line")]
    assert loaded(tmp_path, "tickets")["ticket_id"].to_list() == ["T1", "T3"]
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (3, 2, 1)


def test_contract_fingerprint_follows_contract_file_blank_markers_and_seed(tmp_path, monkeypatch):
    """raw_version includes the contract's fingerprint: changing the contract file, the blank markers
    or a referenced seed re-ingests the exports already landed (old loads no longer match)."""
    from data_contracts import contract as contract_module
    from data_contracts.contract import SOURCES_DIR, VALUES_FILE, contracts, load_contract
    from data_contracts.ingest import raw_version

    copy = tmp_path / "orders.yml"
    copy.write_text((SOURCES_DIR / "orders.yml").read_text(encoding="utf-8"), encoding="utf-8")
    same = load_contract(copy)
    assert same.fingerprint == contracts()["orders"].fingerprint
    copy.write_text(copy.read_text(encoding="utf-8").replace("业务员]", "业务员, 跟单员]"), encoding="utf-8")
    alias = load_contract(copy)
    assert alias.fingerprint != same.fingerprint
    assert raw_version(alias, None) != raw_version(same, None)
    values = tmp_path / "values.yml"
    values.write_text(VALUES_FILE.read_text(encoding="utf-8") + "  - 不详\n", encoding="utf-8")
    monkeypatch.setattr(contract_module, "VALUES_FILE", values)
    assert load_contract(copy).fingerprint != alias.fingerprint
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "fx_rates.csv").write_text("currency,rate_to_reporting\nCNY,1.0\n", encoding="utf-8")
    before = load_contract(copy).fingerprint
    monkeypatch.setattr(contract_module, "SEEDS_DIR", seeds)
    assert load_contract(copy).fingerprint != before
    assert load_contract(copy).column("currency").references.values == ["CNY"]


def test_chinese_currency_names_map_to_codes_and_codes_without_rate_are_quarantined(tmp_path):
    rows = ["人民币", "美元", "港币", "欧元", "日元", "ＵＳＤ", "eur", "英镑", "GBP", "-"]
    put(tmp_path / "landing", "orders", ORDERS_ZH + "".join(
        f"O{i},C1,2025-02-01,已完成,10,{c},\n" for i, c in enumerate(rows, start=1)), encoding="gbk")
    result = ingest(tmp_path, "orders")
    conserved(result)
    q = quarantine(tmp_path, "orders").sort("row_number")
    assert q.select("row_number", "rule", "original_value").rows() == [
        (9, "unknown_currency", "英镑"), (10, "unknown_currency", "GBP")]
    assert loaded(tmp_path, "orders")["currency"].to_list() == ["CNY", "USD", "HKD", "EUR", "JPY", "USD", "EUR", None]
