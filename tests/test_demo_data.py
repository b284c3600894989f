"""Demo exports (``crm-pulse demo``): layout, determinism, formats, and every deliberate mess."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import yaml

from tests import oracle
from crm_pulse.demo import DemoSummary, generate_demo

CUSTOMERS, SEED = 300, 7
ROOT = Path(__file__).resolve().parent.parent
ENTITIES = {
    "customers": ("crm", "csv"), "opportunities": ("crm", "csv"), "activities": ("crm", "csv"),
    "campaigns": ("crm", "csv"), "campaign_members": ("crm", "csv"), "orders": ("erp", "csv"),
    "order_items": ("erp", "csv"), "products": ("erp", "xlsx"), "tickets": ("ticketing", "ndjson"),
    "satisfaction": ("ticketing", "json"),
}
CN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, DemoSummary]:
    out = tmp_path_factory.mktemp("landing")
    return out, generate_demo(out, customers=CUSTOMERS, seed=SEED)


@pytest.fixture(scope="module")
def landing(demo) -> Path:
    return demo[0]


@pytest.fixture(scope="module")
def summary(demo) -> DemoSummary:
    return demo[1]


def files_of(landing: Path, entity: str) -> list[Path]:
    source, ext = ENTITIES[entity]
    return sorted((landing / source).glob(f"*/{entity}.{ext}"))


def decode(path: Path) -> tuple[str, str]:
    """(encoding name, text) of a CSV export."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", raw.decode("utf-8-sig")
    try:
        return "utf-8", raw.decode("utf-8")
    except UnicodeDecodeError:
        return "gbk", raw.decode("gbk")


def csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(decode(path)[1], newline="")))
    return rows[0], rows[1:]


def aliases(entity: str) -> dict[str, str]:
    spec = yaml.safe_load((ROOT / "data_contracts" / "sources" / f"{entity}.yml").read_text(encoding="utf-8"))
    return {oracle._norm_header(spelling): name
            for name, col in spec["columns"].items() for spelling in [name, *col.get("aliases", [])]}


def column(path: Path, canonical: str) -> list[str]:
    entity = path.name.split(".")[0]
    header, body = csv_rows(path)
    lookup = aliases(entity)
    idx = next(i for i, h in enumerate(header) if lookup.get(oracle._norm_header(h)) == canonical)
    return [row[idx] for row in body]


# --- layout and determinism ----------------------------------------------------------------------
def test_layout_has_all_ten_entities_and_nothing_else(landing, summary):
    every = sorted(p for p in landing.rglob("*") if p.is_file())
    assert every == summary.files
    pattern = re.compile(r"^(crm|erp|ticketing)/\d{4}-\d{2}-\d{2}/([a-z_]+)\.(csv|xlsx|json|ndjson)$")
    for path in every:
        match = pattern.match(path.relative_to(landing).as_posix())
        assert match, path
        source, entity, ext = match.groups()
        assert ENTITIES[entity] == (source, ext), path
        dt.date.fromisoformat(path.parent.name)
    assert {p.name.split(".")[0] for p in every} == set(ENTITIES)
    assert not list(landing.rglob("MANIFEST*"))
    assert set(summary.rows) == set(ENTITIES) and all(summary.rows[e] > 0 for e in ENTITIES)


def test_export_calendar(landing, summary):
    monthly = {p.parent.name for p in files_of(landing, "orders")}
    assert len(monthly) >= 24
    assert min(monthly) == "2024-02-01" and max(monthly) == "2026-01-01"
    for entity in ("order_items", "activities", "opportunities", "tickets", "satisfaction"):
        assert {p.parent.name for p in files_of(landing, entity)} == monthly
    assert len(files_of(landing, "customers")) >= 8  # quarterly snapshots
    assert len(files_of(landing, "products")) == 2
    assert 2 <= len(files_of(landing, "campaigns")) == len(files_of(landing, "campaign_members"))
    assert summary.first_export == dt.date(2024, 1, 1) and summary.last_export == dt.date(2026, 1, 1)
    assert summary.export_dates[0] == summary.first_export and summary.export_dates[-1] == summary.last_export


def test_same_seed_gives_identical_bytes(landing, summary, tmp_path):
    """Regenerated in another process (other hash seed, later wall clock): every byte the same."""
    script = ("import sys; from pathlib import Path; from crm_pulse.demo import generate_demo; "
              "generate_demo(Path(sys.argv[1]), customers=int(sys.argv[2]), seed=int(sys.argv[3]))")
    subprocess.run([sys.executable, "-c", script, str(tmp_path), str(CUSTOMERS), str(SEED)], check=True, cwd=ROOT,
                   env={**os.environ, "PYTHONHASHSEED": "12345"})
    again = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert [p.relative_to(tmp_path) for p in again] == [p.relative_to(landing) for p in summary.files]
    for mine, theirs in zip(summary.files, again):
        assert mine.read_bytes() == theirs.read_bytes(), mine.relative_to(landing)


def test_different_seed_gives_different_data(landing, tmp_path):
    other = generate_demo(tmp_path, customers=CUSTOMERS, seed=SEED + 1)
    differing = [p for p in other.files if p.read_bytes() != (landing / p.relative_to(tmp_path)).read_bytes()]
    assert len(differing) > len(other.files) // 2


def test_bad_arguments():
    with pytest.raises(ValueError):
        generate_demo(Path("/nonexistent"), customers=0)
    with pytest.raises(ValueError):
        generate_demo(Path("/nonexistent"), seed=-1)


# --- file formats --------------------------------------------------------------------------------
def test_csv_encodings_and_header_languages(landing):
    kinds = defaultdict(set)
    for entity, (_, ext) in ENTITIES.items():
        if ext != "csv":
            continue
        lookup = aliases(entity)
        for path in files_of(landing, entity):
            encoding, _ = decode(path)
            header, _ = csv_rows(path)
            chinese = any(CN.search(h) for h in header)
            kinds[(encoding, chinese)].add(entity)
            assert all(oracle._norm_header(h) in lookup for h in header), (path, header)  # every header is known
            if not chinese:
                assert all(lookup[oracle._norm_header(h)] == h for h in header)  # canonical names
    assert kinds[("gbk", True)] and kinds[("utf-8-sig", True)] and kinds[("utf-8", False)]
    assert set(kinds) == {("gbk", True), ("utf-8-sig", True), ("utf-8", False)}


def test_gbk_file_is_really_gbk(landing):
    gbk = [p for p in files_of(landing, "orders") if decode(p)[0] == "gbk"]
    assert gbk
    raw = gbk[0].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    header = raw.decode("gbk").splitlines()[0].split(",")
    assert {"订单编号", "客户编号"} <= set(header) or {"订单号", "客户ID"} <= set(header)
    assert b"\r\n" in raw  # written as Windows Excel does


def test_products_is_the_only_xlsx_and_is_deterministic(landing):
    xlsx = sorted(landing.rglob("*.xlsx"))
    assert xlsx == files_of(landing, "products")
    first = openpyxl.load_workbook(xlsx[0], read_only=True).worksheets[0]
    rows = list(first.iter_rows(values_only=True))
    assert rows[0] == ("商品编码", "商品名称", "品类") and len(rows) > 30
    later = list(openpyxl.load_workbook(xlsx[-1], read_only=True).worksheets[0].iter_rows(values_only=True))
    assert later[0] == ("sku", "product_name", "category") and len(later) > len(rows)
    with zipfile.ZipFile(xlsx[0]) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2024, 1, 1, 0, 0, 0)}
        core = archive.read("docProps/core.xml").decode()
    assert "2024-01-01T00:00:00Z" in core


def test_tickets_ndjson_and_satisfaction_json(landing):
    keys = {"ticket_id", "customer_id", "created_at", "first_response_at", "resolved_at", "channel", "category",
            "priority", "status", "assignee", "is_complaint"}
    for path in files_of(landing, "tickets"):
        for line in path.read_text(encoding="utf-8").splitlines():
            assert set(json.loads(line)) == keys
    answers = 0
    for path in files_of(landing, "satisfaction"):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(data, list)
        for obj in data:
            assert set(obj) == {"response_id", "ticket_id", "customer_id", "csat", "nps", "responded_at"}
            assert 1 <= obj["csat"] <= 5 and (obj["nps"] is None or 0 <= obj["nps"] <= 10)
        answers += len(data)
    assert answers > 0


# --- the deliberate mess -------------------------------------------------------------------------
def test_money_spellings_in_orders(landing, summary):
    amounts = [a for p in files_of(landing, "orders") for a in column(p, "amount")]
    assert any(re.fullmatch(r"[¥￥]\d{1,3}(,\d{3})+\.\d\d", a) for a in amounts)
    assert any(re.fullmatch(r"\d+(\.\d+)?万", a) for a in amounts)
    assert any(re.fullmatch(r"\d{1,3}(,\d{3})+", a) for a in amounts)  # "1,234"
    assert any(re.fullmatch(r"-\d+\.\d\d", a) for a in amounts)       # "-350.00"
    assert "待定" in amounts
    for kind in ("negative amounts", "unparseable amount", "amount in 万", "¥/￥ sign", "extreme amounts"):
        assert any(kind in k and v > 0 for k, v in summary.mess.items()), kind


def test_date_spellings_across_and_within_files(landing, summary):
    patterns = {
        "iso": r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?", "slash": r"\d{4}/\d{1,2}/\d{1,2}( \d{1,2}:\d{2})?",
        "chinese": r"\d{4}年\d{1,2}月\d{1,2}日( \d{2}:\d{2})?", "excel": r"\d{5}(\.\d+)?",
    }
    seen, mixed_files = set(), 0
    for path in files_of(landing, "orders"):
        kinds = {k for v in column(path, "order_date") for k, rx in patterns.items() if re.fullmatch(rx, v)}
        seen |= kinds
        mixed_files += len(kinds) >= 3
    assert seen == set(patterns) and mixed_files >= 5
    dates = [v for p in files_of(landing, "orders") for v in column(p, "order_date")]
    assert any(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) for v in dates) and any(":" in v for v in dates)
    assert any(re.match(r"2025[-/]0?2[-/]30", v) for v in dates)  # impossible date
    unparseable = [v for v in dates if oracle.parse_datetime(v) is None]
    assert len(unparseable) == summary.mess["orders: impossible order_date (e.g. 2025-02-30)"] > 0


def test_duplicates_within_and_across_files(landing, summary):
    across = Counter()
    within = 0
    for path in files_of(landing, "orders"):
        _, body = csv_rows(path)
        within += len(body) - len({tuple(r) for r in body})
        across.update(set(column(path, "order_id")))
    assert within > 0 and within == summary.mess["orders: exact duplicate rows within one file"]
    assert sum(n > 1 for n in across.values()) > 0  # overlap: the same order in two monthly exports
    tickets = Counter(json.loads(line)["ticket_id"] for p in files_of(landing, "tickets")
                      for line in p.read_text(encoding="utf-8").splitlines())
    assert max(tickets.values()) > 1


def test_customer_snapshots_change_and_latest_wins(landing, summary):
    snapshots = files_of(landing, "customers")
    status_by_customer = defaultdict(list)
    owners = defaultdict(set)
    for path in snapshots:
        ids, status, owner = column(path, "customer_id"), column(path, "status"), column(path, "owner_rep")
        for cid, st, ow in zip(ids, status, owner):
            status_by_customer[cid].append({"活跃": "active", "流失": "lost"}.get(st, st))
            if ow:
                owners[cid].add(ow)
    assert any(s[0] == "active" and s[-1] == "lost" for s in status_by_customer.values())
    assert any(len(o) > 1 for o in owners.values())
    assert sum(len(s) > 1 for s in status_by_customer.values()) > CUSTOMERS // 2
    final = snapshots[-1]
    assert len(set(column(final, "customer_id"))) == CUSTOMERS
    industries = column(final, "industry")
    assert 0 < industries.count("") < 0.15 * len(industries)
    assert "" in column(final, "owner_rep")
    lost = [r for s, r in zip(column(final, "status"), column(final, "lost_reason")) if s in ("lost", "流失")]
    assert lost and set(lost) <= {"价格", "服务", "质量", "竞品", "需求变化"}


def test_only_the_deliberate_rows_fail_the_contracts(landing, summary):
    """Independent oracle (tests/oracle.py): rows it rejects or de-duplicates are exactly the mess."""
    expected_rejects = {
        "orders": ["exact duplicate rows", "negative amounts", "unparseable amount", "impossible order_date"],
        "order_items": ["exact duplicate rows"], "activities": ["exact duplicate rows", "impossible activity_at"],
        "customers": ["exact duplicate rows"], "tickets": ["exact duplicate lines"],
    }
    for entity, (source, _) in ENTITIES.items():
        read = sum(len(oracle.read_rows(p)) for p in files_of(landing, entity))
        clean = len(oracle.clean_rows(landing, source, entity))
        want = sum(v for k, v in summary.mess.items() if k.startswith(entity + ":")
                   and any(kind in k for kind in expected_rejects.get(entity, [])))
        assert read == summary.rows[entity]
        assert read - clean == want, entity


def test_order_lines_reconcile_with_orders(landing):
    orders = oracle.latest(oracle.clean_rows(landing, "erp", "orders"), ["order_id"])
    items = oracle.latest(oracle.clean_rows(landing, "erp", "order_items"), ["order_id", "sku"])
    totals = defaultdict(Decimal)
    for order_id, qty, price in zip(items.order_id, items.quantity, items.unit_price):
        totals[order_id] += qty * price
    assert len(orders) > 1000
    assert all(totals[o] == a for o, a in zip(orders.order_id, orders.amount))
    assert set(orders.status) == {"completed", "cancelled", "refunded"}
    assert (orders.status == "completed").mean() > 0.85
    assert {"CNY", "USD"} <= set(orders.currency.dropna())
