"""The landing folder scan: what loads, what is ignored (and why), what is a file problem, and the
analysis date. Every folder is written in tmp_path; the ingest runs are real (data_contracts.ingest)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from data_contracts import landing
from data_contracts.ingest import ingest_entity
from data_contracts.landing import analysis_date, discover, entity_of, latest_export_date, scan
from data_contracts.readers import FileProblem

CUSTOMERS = "customer_id,customer_name,status\nC1,甲公司,active\n"
ORDERS = "order_id,customer_id,order_date,status,amount\nO1,C1,2026-01-01,completed,100\n"


def put(root: Path, relative: str, text: str = CUSTOMERS) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "landing"


def test_exact_entity_names_and_the_split_form_load(root):
    put(root, "crm/2026-01-01/customers.csv")
    put(root, "crm/2026-01-01/Campaign_Members.CSV", "campaign_id,customer_id\nK1,C1\n")
    put(root, "erp/2026-01-02/orders.csv", ORDERS)
    put(root, "erp/2026-01-02/orders_part2.csv", ORDERS)
    put(root, "erp/2026-01-02/order_items_part10.xlsx", "x")
    found = scan(root)
    assert [(f.relative, f.source, f.entity, f.export_date) for f in found.exports] == [
        ("crm/2026-01-01/Campaign_Members.CSV", "crm", "campaign_members", dt.date(2026, 1, 1)),
        ("crm/2026-01-01/customers.csv", "crm", "customers", dt.date(2026, 1, 1)),
        ("erp/2026-01-02/order_items_part10.xlsx", "erp", "order_items", dt.date(2026, 1, 2)),
        ("erp/2026-01-02/orders.csv", "erp", "orders", dt.date(2026, 1, 2)),
        ("erp/2026-01-02/orders_part2.csv", "erp", "orders", dt.date(2026, 1, 2)),
    ]
    assert found.ignored == [] and found.problems == []
    assert [f.relative for f in discover(root, "erp", "orders")] == ["erp/2026-01-02/orders.csv",
                                                                     "erp/2026-01-02/orders_part2.csv"]


def test_stray_files_are_listed_with_the_reason_and_lock_files_skipped_silently(root):
    put(root, "crm/2026-01-01/customers.csv")
    for name in ("opportunities-backup.csv", "campaigns 副本.csv", "customers (1).csv", "orders.csv",
                 "notes.txt", "readme.md", "customers_partial.csv"):
        put(root, f"crm/2026-01-01/{name}")
    for name in ("~$customers.xlsx", ".DS_Store", "Thumbs.db", "desktop.ini", "._customers.csv"):
        put(root, f"crm/2026-01-01/{name}")
    found = scan(root)
    assert [f.relative for f in found.exports] == ["crm/2026-01-01/customers.csv"]
    copy = "the name is not exactly '{e}' (or '{e}_part<N>'): a copy or backup? rename it to {e}.{x} to load it"
    assert found.ignored == [
        ("crm/2026-01-01/campaigns 副本.csv", copy.format(e="campaigns", x="csv")),
        ("crm/2026-01-01/customers (1).csv", copy.format(e="customers", x="csv")),
        ("crm/2026-01-01/customers_partial.csv", copy.format(e="customers", x="csv")),
        ("crm/2026-01-01/notes.txt",
         "not an entity of source 'crm' (activities, campaign_members, campaigns, customers, opportunities)"),
        ("crm/2026-01-01/opportunities-backup.csv", copy.format(e="opportunities", x="csv")),
        ("crm/2026-01-01/orders.csv",
         "not an entity of source 'crm' (activities, campaign_members, campaigns, customers, opportunities)"),
        ("crm/2026-01-01/readme.md", "not an export file (expected .csv, .xlsx, .json, .ndjson or .jsonl)"),
    ]
    assert landing.describe_ignored(found, limit=2)[-1] == "... and 5 more"
    assert entity_of("opportunities-backup.csv") is None and entity_of("orders_part2.csv") == "orders"


def test_symlinks_outside_the_landing_folder_are_file_problems_naming_the_link(root, tmp_path):
    outside = put(tmp_path / "elsewhere", "2026-01-01/customers.csv")
    put(root, "crm/2026-01-01/activities.csv", "activity_id\nA1\n")
    (root / "crm/2026-01-01/customers.csv").symlink_to("/etc/passwd")
    (root / "crm/2026-01-02").symlink_to(outside.parent)  # a date folder
    (root / "erp").symlink_to(tmp_path / "elsewhere")  # a source folder
    put(root, "ticketing/2026-01-01/data/tickets.json", "[]")
    (root / "ticketing/2026-01-01/tickets.json").symlink_to(root / "ticketing/2026-01-01/data/tickets.json")
    found = scan(root)
    assert [(p.relative, p.message, sorted(p.entities)) for p in found.problems] == [
        ("crm/2026-01-01/customers.csv", "crm/2026-01-01/customers.csv: a symbolic link to /etc/passwd, outside "
         "the landing folder; only files inside the landing folder are read", ["customers"]),
        ("crm/2026-01-02", f"crm/2026-01-02: a symbolic link to {outside.parent}, outside the landing folder; "
         "only files inside the landing folder are read",
         ["activities", "campaign_members", "campaigns", "customers", "opportunities"]),
        ("erp", f"erp: a symbolic link to {tmp_path / 'elsewhere'}, outside the landing folder; only files "
         "inside the landing folder are read", ["order_items", "orders", "products"]),
    ]
    # a link that stays inside the landing folder is followed
    assert [f.relative for f in found.exports] == ["crm/2026-01-01/activities.csv",
                                                   "ticketing/2026-01-01/tickets.json"]
    with pytest.raises(FileProblem) as err:
        discover(root, "crm", "customers")
    assert err.value.problem == "outside_landing" and str(err.value).startswith("crm/2026-01-01/customers.csv: ")
    assert discover(root, "crm", "customers", strict=False) == []


def test_symlink_out_fails_the_ingest_with_the_link_named_and_reads_nothing(root, tmp_path):
    secret = put(tmp_path / "secret", "customers.csv", CUSTOMERS)
    put(root, "crm/2026-01-01/customers.csv")
    (root / "crm/2026-01-02").mkdir(parents=True)
    (root / "crm/2026-01-02/customers.csv").symlink_to(secret)
    with pytest.raises(FileProblem, match=r"^crm/2026-01-02/customers\.csv: a symbolic link to .*outside"):
        files = discover(root, "crm", "customers")
        ingest_entity("customers", files, tmp_path / "raw", "l1", dt.datetime(2026, 1, 3), hash_key=b"k" * 32)
    assert not (tmp_path / "raw").exists()


def test_only_regular_files_are_read(root):
    put(root, "crm/2026-01-01/customers.csv/inner.csv")  # a folder with an entity's name
    os.mkfifo(root / "crm/2026-01-01/activities.csv")
    (root / "crm/2026-01-01/campaigns.csv").symlink_to(root / "crm/2026-01-01/missing.csv")
    found = scan(root)
    assert found.exports == []
    assert [(p.relative, p.message) for p in found.problems] == [
        ("crm/2026-01-01/activities.csv", "crm/2026-01-01/activities.csv: not a regular file; only regular files "
                                          "are read"),
        ("crm/2026-01-01/campaigns.csv", "crm/2026-01-01/campaigns.csv: cannot read the file (a broken symbolic "
                                         "link)"),
        ("crm/2026-01-01/customers.csv", "crm/2026-01-01/customers.csv: a folder; only regular files are read"),
    ]


def test_invalid_date_folders(root):
    put(root, "crm/2026-01-01/customers.csv")
    put(root, "crm/2026-13-45/customers.csv")
    put(root, "crm/2026-13-45/notes.txt")
    (root / "erp/2026-02-30").mkdir(parents=True)
    put(root, "archive/2026-99-99/orders.csv", ORDERS)
    put(root, "crm/old/customers.csv")
    put(root, "crm/customers.csv")
    found = scan(root)
    assert [(p.relative, p.message, sorted(p.entities)) for p in found.problems] == [
        ("crm/2026-13-45", "crm/2026-13-45: the folder name is not a valid export date (month must be in 1..12); "
                           "rename it to the export date as YYYY-MM-DD", ["customers"]),
    ]
    assert found.ignored == [
        ("archive/", "a folder that is not a source of the contracts (crm, erp, ticketing)"),
        ("crm/2026-13-45/notes.txt",
         "not an entity of source 'crm' (activities, campaign_members, campaigns, customers, opportunities)"),
        ("crm/customers.csv", "a file directly in the source folder, not in a <YYYY-MM-DD> export-date folder"),
        ("crm/old/", "a folder, not in a <YYYY-MM-DD> export-date folder"),
        ("erp/2026-02-30/", "not a valid date (day is out of range for month) and holds no export file"),
    ]
    with pytest.raises(FileProblem, match=r"^crm/2026-13-45: the folder name is not a valid export date"):
        discover(root, "crm", "customers")
    assert [f.relative for f in discover(root, "crm", "activities")] == []
    assert analysis_date(root) == (dt.date(2026, 1, 1), "newest export date in the landing folder: "
                                                        "crm/2026-01-01/customers.csv")


def test_analysis_date_comes_only_from_files_that_load(root):
    put(root, "crm/2026-01-01/customers.csv")
    put(root, "erp/2026-01-03/orders_part2.csv", ORDERS)
    put(root, "crm/2026-03-01/.DS_Store")  # otherwise empty
    put(root, "crm/2026-04-01/opportunities-backup.csv")
    put(root, "archive/2099-12-31/notes.txt")
    put(root, "crm/2026-05-01/customers.csv/x.csv")  # not a regular file
    (root / "ticketing/2026-06-01").mkdir(parents=True)
    put(root, "ticketing/2026-07-01/README.md")
    assert latest_export_date(root) == dt.date(2026, 1, 3)
    assert analysis_date(root) == (dt.date(2026, 1, 3), "newest export date in the landing folder: "
                                                        "erp/2026-01-03/orders_part2.csv")


def test_analysis_date_without_exports(root):
    put(root, "archive/2099-12-31/notes.txt")
    assert analysis_date(root) == (None, f"no export file of the contract sources under {root}")
    assert latest_export_date(root / "missing") is None


def test_landing_record_lists_the_ignored_entries(root, tmp_path):
    put(root, "crm/2026-01-01/customers.csv")
    put(root, "crm/2026-01-01/campaigns 副本.csv")
    record = landing.write_landing_record(tmp_path / "raw", root)
    assert landing.read_landing_record(tmp_path / "raw") == record
    assert record["analysis_date"] == "2026-01-01"
    assert record["ignored"] == [{"path": "crm/2026-01-01/campaigns 副本.csv", "reason": (
        "the name is not exactly 'campaigns' (or 'campaigns_part<N>'): a copy or backup? rename it to "
        "campaigns.csv to load it")}]
    assert record["problems"] == []
