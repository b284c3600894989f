"""A bad row never stops the refresh: ONE real refresh (Dagster + dbt + DuckDB) of the demo exports
plus a catalogue of malformed exports beside them.

The refresh must exit 0 and publish; each bad row is quarantined with its rule and row (or line)
number; rows read = rows loaded + rows quarantined for every file; stray files beside the exports
are not loaded; personal data typed into free text or a quarantined value is never published raw;
and the published revenue equals revenue computed independently in plain Python from the input
files (completed orders, converted at the fx_rates seed rates).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from data_contracts.landing import read_landing_record
from tests import oracle
from tests.harness import run_pipeline

ROOT = Path(__file__).resolve().parent.parent
CENT = Decimal("0.01")
UNKNOWN = "待补充"

#: orders_part9.csv (GBK, Chinese headers): (row, order_id, ..., expected) - expected is the amount
#: loaded (Decimal, in the order currency) with its currency, or the quarantine rule.
ORDERS_HEADER = "订单号,客户ID,下单时间,订单状态,订单金额,币种,销售负责人"
ORDERS = [
    # row, line (after the header), expected outcome
    (2, "BX01,C000001,2025-12-05 10:00,已完成,1.2E+04,N/A,-", ("12000.00", "CNY", UNKNOWN)),
    (3, 'BX02,C000002,2025/12/5 11:00,已完成,"(1,234.00)",CNY,张伟', "amount_min_0"),
    (4, 'BX03,C000003,20251205,已完成,"￥1,234.50",usd,—', ("1234.50", "USD", UNKNOWN)),
    (5, "BX04,C000004,2025年12月5日,已完成,100,XYZ,李娜", "unknown_currency"),
    (6, "BX05,C000005,2025.12.05,已完成,1234.5元整,无,NULL", ("1234.50", "CNY", UNKNOWN)),
    (7, "BX06,C000006,46000,已完成,１２３４,,", ("1234.00", "CNY", UNKNOWN)),  # Excel serial 46000 = 2025-12-09
    (8, "BX07\x00,C000007,2025-12-05,已完成,100,CNY,王芳", "control_characters"),
    (9, 'BX08,C000008,2025-12-05,已完成,"1,234.50-",CNY,', "amount_min_0"),
    (10, "BX09,C000009,2025-12-05,已取消,500,CNY,", ("500.00", "CNY", UNKNOWN)),  # cancelled: no revenue
    (11, 'BX10,C000010,2025-12-05,已完成,"1 234,50",CNY,', "parse_money"),
    (12, "BX11,C000011,2025-12-05,已完成,RMB 88,HKD,张\x07三", ("88.00", "HKD", "张三")),
    (13, "BX12,C000012,2025-12-05T14:03:00+08:00,已完成,N/A,CNY,", "required"),
    (14, 'BX13,C000013,2025-12-05 09:00,已完成,"2,000.00",#N/A,赵敏', ("2000.00", "CNY", "赵敏")),
    (15, "BX15,C000015,2025-12-05,完成,+1234,cny,", ("1234.00", "CNY", UNKNOWN)),
    (16, "BX16,C000016,2025-12-05,已完成,(12.5),美元,", "amount_min_0"),
    (17, "BX17,C000017,2025-12-05,已完成,1.5万,美元,李娜", ("15000.00", "USD", "李娜")),
    (18, "BX18,C000018,2025-12-05,已完成,99,英镑,", "unknown_currency"),
]
ORDER_STATUS = {"BX09": "cancelled"}

LOST_REASON = "客户换了联系人 13700137000 wx.li@qq.com"
CUSTOMERS = (  # customers_part9.csv: the phones in rows 3-5 are the values that fail
    "customer_id,customer_name,status,lost_reason,created_at,first_deal_date\n"
    f"C9000001,测试甲,流失,{LOST_REASON},2025-06-01,2025-06-01\n"
    "C9000002,测试乙,活跃,,138.0013.8001,\n"
    "C9000003,测试丙,活跃,,,１３９００１３９０００\n"
    "C9000004,测试丁,+86 135-8813-8999,,,\n"
)
CUSTOMER_QUARANTINE = [(3, "created_at", "parse_datetime"), (4, "first_deal_date", "parse_date"),
                       (5, "status", "allowed_values")]
QUARANTINED_PHONES = ("13800138001", "13900139000", "13588138999")

TICKETS = (  # tickets_part9.ndjson: line 2 is truncated
    b'{"ticket_id": "TX1", "customer_id": "C000001", "created_at": "2025-12-05 10:00"}\n'
    b'{"ticket_id": "TX2", "customer_id": "C0000\n'
    b'{"ticket_id": "TX3", "customer_id": "C000002", "created_at": "2025-12-06 10:00", "channel": "N/A"}\n'
)

STRAY = {  # beside the exports, never loaded; the first two are listed as ignored in the load record
    ("crm", "opportunities-backup.csv"): "opportunity_id,customer_id,created_date\nOPP-BACKUP-1,C000001,2025-12-01\n",
    ("crm", "campaigns 副本.csv"): "campaign_id,name,start_date\nCAMP-COPY-1,副本活动,2025-12-01\n",
    ("crm", "~$customers.xlsx"): b"\x00locked by someone",
    ("crm", ".DS_Store"): b"\x00\x00\x00\x01Bud1\x00",
    ("erp", "Thumbs.db"): b"\xd0\xcf\x11\xe0 thumbnails",
}


def _latest_date(landing: Path) -> str:
    return max(d.name for d in landing.glob("*/*") if d.is_dir() and re.fullmatch(r"\d{4}-\d{2}-\d{2}", d.name))


def _rates() -> dict[str, Decimal]:
    with open(ROOT / "dbt_project" / "seeds" / "fx_rates.csv", encoding="utf-8") as fh:
        return {r["currency"].upper(): Decimal(r["rate_to_reporting"]) for r in csv.DictReader(fh)}


def _demo_revenue(landing: Path, as_of: dt.date, rates: dict[str, Decimal]) -> Decimal:
    """Revenue of the untouched demo exports, in plain Python (tests/oracle.py): latest version of
    each order, ordered on or before as_of, completed, converted at the seed rate, rounded to the fen."""
    orders = oracle.latest(oracle.clean_rows(landing, "erp", "orders"), ["order_id"])
    total = Decimal(0)
    for row in orders.itertuples():
        if row.status != "completed" or row.order_date.date() > as_of:
            continue
        currency = (row.currency if isinstance(row.currency, str) else "CNY").upper()
        total += (row.amount * rates[currency]).quantize(CENT, rounding=ROUND_HALF_UP)
    return total


def _serving_text(db: Path) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
        return {t: con.execute(f'select * from "{t}"').df().astype(str).to_csv() for t in tables}
    finally:
        con.close()


@pytest.fixture(scope="module")
def bad_run(demo_landing, tmp_path_factory):
    base = tmp_path_factory.mktemp("bad_exports")
    landing = base / "landing"
    shutil.copytree(demo_landing, landing)
    date = _latest_date(landing)
    erp, crm, ticketing = (landing / s / date for s in ("erp", "crm", "ticketing"))
    for folder in (erp, crm, ticketing):
        folder.mkdir(parents=True, exist_ok=True)
    body = ORDERS_HEADER + "\n" + "\n".join(line for _, line, _ in ORDERS) + "\n"
    (erp / "orders_part9.csv").write_bytes(body.encode("gbk"))
    (crm / "customers_part9.csv").write_bytes(b"\xef\xbb\xbf" + CUSTOMERS.encode("utf-8"))
    (ticketing / "tickets_part9.ndjson").write_bytes(TICKETS)
    for (source, name), content in STRAY.items():
        path = landing / source / date / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    run = run_pipeline(landing, base / "warehouse", CRM_PULSE_AS_OF=date)
    run.date = date
    return run


def test_refresh_exits_0_and_publishes(bad_run):
    assert bad_run.exit_code == 0, bad_run.output
    assert bad_run.serving_db.exists()
    assert "refresh FAILED" not in bad_run.output


def test_each_bad_row_is_quarantined_with_its_rule_and_row_number(bad_run):
    q = bad_run.query('select source_file, row_number, "column", rule from quarantine')
    date = bad_run.date

    def rules(name):
        sub = q[q.source_file == name].sort_values(["row_number", "rule"])
        return [(int(r.row_number), r.rule) for r in sub.itertuples()]

    assert rules(f"erp/{date}/orders_part9.csv") == [(n, e) for n, _, e in ORDERS if isinstance(e, str)]
    assert rules(f"crm/{date}/customers_part9.csv") == [(n, rule) for n, _, rule in CUSTOMER_QUARANTINE]
    assert rules(f"ticketing/{date}/tickets_part9.ndjson") == [(2, "parse_json_line")]


def test_rows_read_equal_loaded_plus_quarantined(bad_run):
    loads = bad_run.query("select source_file, rows_read, rows_loaded, rows_quarantined from source_loads")
    assert (loads.rows_read == loads.rows_loaded + loads.rows_quarantined).all()
    got = {r.source_file: (r.rows_read, r.rows_loaded, r.rows_quarantined) for r in loads.itertuples()}
    date = bad_run.date
    bad_orders = sum(isinstance(e, str) for _, _, e in ORDERS)
    assert got[f"erp/{date}/orders_part9.csv"] == (len(ORDERS), len(ORDERS) - bad_orders, bad_orders)
    assert got[f"crm/{date}/customers_part9.csv"] == (4, 1, 3)
    assert got[f"ticketing/{date}/tickets_part9.ndjson"] == (3, 2, 1)
    checks = bad_run.query("select status from data_quality where check_name = 'rows_conserved'")
    assert len(checks) == 10 and (checks.status == "passed").all()  # one blocking check per entity


def test_good_rows_load_with_the_documented_defaults(bad_run):
    ids = [line.split(",")[0] for _, line, e in ORDERS if not isinstance(e, str)]
    got = bad_run.query("select order_id, amount_original, currency, sales_rep, order_status from fct_orders "
                        f"where order_id in ({', '.join(repr(i) for i in ids)}) order by order_id")
    expected = sorted((line.split(",")[0], Decimal(e[0]), e[1], e[2]) for _, line, e in ORDERS if not isinstance(e, str))
    assert [(r.order_id, Decimal(str(r.amount_original)).quantize(CENT), r.currency, r.sales_rep)
            for r in got.itertuples()] == expected
    assert dict(zip(got.order_id, got.order_status)) == {i: ORDER_STATUS.get(i, "completed") for i in ids}
    dates = bad_run.query("select order_id, cast(order_date as varchar) as d from fct_orders "
                          f"where order_id in ({', '.join(repr(i) for i in ids)})")
    assert dict(zip(dates.order_id, dates.d)) == {i: "2025-12-09" if i == "BX06" else "2025-12-05" for i in ids}
    tickets = bad_run.query("select ticket_id from fct_tickets where ticket_id like 'TX%' order by 1")
    assert tickets.ticket_id.tolist() == ["TX1", "TX3"]


def test_published_revenue_equals_revenue_computed_from_the_input_files(bad_run, demo_landing):
    rates = _rates()
    as_of = dt.date.fromisoformat(bad_run.date)
    expected = _demo_revenue(demo_landing, as_of, rates)  # the demo exports, untouched
    for _, line, outcome in ORDERS:  # plus the catalogue's good completed rows
        if not isinstance(outcome, str) and line.split(",")[0] not in ORDER_STATUS:
            expected += (Decimal(outcome[0]) * rates[outcome[1]]).quantize(CENT, rounding=ROUND_HALF_UP)
    [[published]] = bad_run.query("select cast(sum(revenue) as varchar) from fct_orders").values.tolist()
    assert Decimal(published) == expected


def test_stray_files_are_not_loaded_and_named_ones_are_listed_as_ignored(bad_run):
    loaded = set(bad_run.query("select source_file from source_loads").source_file)
    for (_, name) in STRAY:
        assert not any(f.endswith("/" + name) for f in loaded), name
    text = _serving_text(bad_run.serving_db)
    assert not any("OPP-BACKUP-1" in t or "CAMP-COPY-1" in t for t in text.values())
    record = read_landing_record(bad_run.warehouse / "raw")  # the load record of the landing folder
    ignored = {entry["path"] for entry in record["ignored"]}
    assert {f"crm/{bad_run.date}/opportunities-backup.csv", f"crm/{bad_run.date}/campaigns 副本.csv"} <= ignored
    assert not any(path.endswith(("~$customers.xlsx", ".DS_Store", "Thumbs.db")) for path in ignored)  # silent
    assert record["problems"] == []


def test_personal_data_is_never_published_raw(bad_run):
    text = _serving_text(bad_run.serving_db)
    for table, dump in text.items():
        for raw in ("13700137000", "wx.li@qq.com", "wx.li"):
            assert raw not in dump, (table, raw)
    values = bad_run.query("select original_value from quarantine where original_value is not null").original_value
    for value in values:
        digits = re.sub(r"\D", "", oracle._fold(value) or "")
        for phone in QUARANTINED_PHONES:
            assert phone not in digits, value
    for raw in ("138.0013.8001", "１３９００１３９０００", "+86 135-8813-8999", "135-8813-8999"):
        assert raw not in set(values), raw


def test_no_control_character_is_published(bad_run):
    control = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
    for table, dump in _serving_text(bad_run.serving_db).items():
        assert not control.search(dump), table
    for html in bad_run.warehouse.rglob("*.html"):
        assert not control.search(html.read_text(encoding="utf-8", errors="replace")), html
    [[shown]] = bad_run.query("select original_value from quarantine where rule = 'control_characters' "
                              f"and source_file like '%orders_part9.csv'").values.tolist()
    assert shown == "BX07\\x00"  # escaped, so the user sees what was wrong
