"""Privacy (issues 22 and 14, SPEC "Access and privacy"): published contact identifiers are keyed
hashes a dictionary attack cannot test, and no raw phone / e-mail is published anywhere.

The attack test runs the real pipeline once on the demo exports (plus contact details typed into
free-text fields) and attacks what serving.duckdb publishes with the real numbers read from the
input files; expected hashes are computed here with hashlib/hmac, never by the code under test.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import re
import secrets
import shutil
import stat
import unicodedata
from pathlib import Path

import duckdb
import polars as pl
import pytest

from crm_pulse.config.settings import Settings, SettingsError
from data_contracts import privacy
from data_contracts.contract import contracts
from data_contracts.ingest import ingest_entity
from data_contracts.landing import discover
from data_contracts.layout import RawLayout
from data_contracts.privacy import HashKeyError, hash_key, mask_value, scrub
from data_contracts.readers import iter_batches
from tests.harness import run_pipeline

LOADED_AT = dt.datetime(2026, 1, 2, 6)


def hmac_hex(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


# --- the masker on forms real exports contain ------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("138.0013.8001", "138****8001"),
    ("１３９００１３９０００", "139****9000"),  # full-width digits
    ("+86 135-8813-8999", "135****8999"),
    ("0086 13588138999", "135****8999"),
    ("8613588138999", "135****8999"),
    ("(010) 6552 1234", "010****1234"),
    ("（０１０）６５５２－１２３４", "010****1234"),
    ("+86 10 6552 1234", "010****1234"),  # international form drops the trunk 0
    ("0755-2345678", "075****5678"),
    ("客户换了联系人 13700137000 wx.li@qq.com", "客户换了联系人 137****7000 w***@qq.com"),
    ("电话13812345678，邮箱ＺＨＡＮＧ＠ＥＸＡＭＰＬＥ．ＣＯＭ", "电话138****5678，邮箱z***@example.com"),
    ("2026-01-05 13812345678", "2026-01-05 138****5678"),  # a date next to a number stays
    ("13800138000@qq.com", "1***@qq.com"),
    ("13812345678/13987654321", "138****5678/139****4321"),
])
def test_scrub_normalises_width_separators_and_country_codes(text, expected):
    assert scrub(text) == expected


@pytest.mark.parametrize("keep", ["2024-07-01 12:00:00", "20240701130509", "¥1,234.50", "1,380,013,800", "45474.5",
                                  "C00012", "O-2024-000123", "订单 2024-01-01 金额 13000", "TK20251200001", "v1.2.3"])
def test_scrub_leaves_dates_amounts_and_ids_alone(keep):
    assert scrub(keep) == keep


def test_mask_value_of_contact_columns():
    assert mask_value("+86 (135) 8813-8999", "phone") == "135****8999"
    assert mask_value(" ZHANG.San@Example.COM ", "email") == "z***@example.com"
    assert mask_value("12345678", "phone") == "****5678"  # no area code: only the last 4 digits
    assert mask_value("ext 12", "phone") == "****"
    assert mask_value("not-an-email", "email") == "****"
    assert mask_value(None, "phone") is None


def test_scrub_series_rewrites_only_values_holding_contacts():
    series = pl.Series("lost_reason", ["价格太高", None, "call 138 0013 8000", "2025-01-01"])
    assert privacy.scrub_series(series).to_list() == ["价格太高", None, "call 138****8000", "2025-01-01"]
    assert series.to_list()[2] == "call 138 0013 8000"  # the input is not modified


# --- the key -----------------------------------------------------------------------------------

def test_key_file_is_created_0600_on_first_use_and_reused(tmp_path):
    path = tmp_path / "config" / "crm-pulse" / "hash.key"
    env = {privacy.KEY_FILE_ENV: str(path)}
    first = hash_key(environ=env)
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and first == path.read_text().strip().encode()
    assert hash_key(environ=env) == first == hash_key(path, environ={})
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    other = tmp_path / "other.key"
    assert hash_key(other, environ={}) != first  # a new file gets a new random key


def test_key_from_the_environment_wins_and_is_validated(tmp_path):
    path = tmp_path / "hash.key"
    key = secrets.token_hex(20)
    assert hash_key(environ={privacy.KEY_ENV: key, privacy.KEY_FILE_ENV: str(path)}) == key.encode()
    assert not path.exists()  # no file is created when the key comes from the environment
    with pytest.raises(HashKeyError, match="at least 32"):
        hash_key(environ={privacy.KEY_ENV: "short"})


def test_unsafe_or_short_key_file_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "hash.key"
    hash_key(path, environ={})
    path.chmod(0o644)
    with pytest.raises(HashKeyError, match="chmod 600"):
        hash_key(path, environ={})
    path.write_text("abc")
    path.chmod(0o600)
    with pytest.raises(HashKeyError, match="fewer than 32"):
        hash_key(path, environ={})


def test_settings_check_names_the_key_variable(tmp_path):
    with pytest.raises(SettingsError, match="CRM_PULSE_HASH_KEY"):
        Settings.from_env({"CRM_PULSE_HASH_KEY": "too short"})
    path = tmp_path / "hash.key"
    settings = Settings.from_env({"CRM_PULSE_HASH_KEY_FILE": str(path)})
    assert settings.hash_key_file == path and not path.exists()  # checking does not create the key
    xdg = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert privacy.key_file(xdg) == tmp_path / "xdg" / "crm-pulse" / "hash.key"


# --- ingest: the raw layer holds no raw contact, a changed layout or key reloads -----------------

CUSTOMERS = ("customer_id,customer_name,status,created_at,lost_reason,phone,email\n"
             "C1,甲公司,流失,2025-01-01,换了联系人 138.0013.8001 li@qq.com,+86 135-8813-8999,Zhang.San@Example.com\n"
             "C2,乙公司,活跃,2025-01-02,,１３９００１３９０００,\n"
             "C3,丙公司,活跃,+86 137 0013 7000,,13700137000,c3@example.com\n")


def ingest_customers(root: Path, key: bytes, load_id: str):
    files = discover(root / "landing", "crm", "customers")
    return ingest_entity("customers", files, root / "raw", load_id, LOADED_AT, hash_key=key)


def raw_customers(root: Path) -> pl.DataFrame:
    files = sorted((root / "raw" / "crm" / "customers").glob("2*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]).sort("customer_id")


@pytest.fixture
def landing(tmp_path):
    path = tmp_path / "landing" / "crm" / "2026-01-01" / "customers.csv"
    path.parent.mkdir(parents=True)
    path.write_text(CUSTOMERS, encoding="utf-8")
    return tmp_path


def test_ingest_lands_masked_and_keyed_hashes_only(landing):
    key = b"k" * 32
    ingest_customers(landing, key, "load1")
    raw = raw_customers(landing)
    assert "phone" not in raw.columns and "email" not in raw.columns
    assert raw["phone_masked"].to_list() == ["135****8999", "139****9000"]
    assert raw["phone_hash"].to_list() == [hmac_hex(key, "13588138999"), hmac_hex(key, "13900139000")]
    assert raw["email_masked"].to_list() == ["z***@example.com", None]
    assert raw["email_hash"].to_list() == [hmac_hex(key, "zhang.san@example.com"), None]
    assert raw["lost_reason"].to_list() == ["换了联系人 138****8001 l***@qq.com", None]
    quarantine = pl.read_parquet(next((landing / "raw" / "_quarantine" / "customers").glob("*.parquet")))
    assert quarantine.select("column", "original_value").rows() == [("created_at", "137****7000")]
    on_disk = b"".join(p.read_bytes() for p in (landing / "raw").rglob("*.parquet"))
    for secret in ("13588138999", "13900139000", "13700137000", "zhang.san", "Zhang.San", "li@qq", "0013.8001"):
        assert secret.encode() not in on_disk


def test_a_load_under_an_older_layout_or_another_key_is_reloaded(landing):
    key1, key2 = b"1" * 32, b"2" * 32
    ingest_customers(landing, key1, "load1")
    assert ingest_customers(landing, key1, "load2").loaded == []  # unchanged: skipped

    # a load log and raw file from before this change: raw phone column, no raw_version
    layout = RawLayout(landing / "raw")
    log_path = layout.load_log("customers")
    pl.read_parquet(log_path).drop("raw_version").write_parquet(log_path)
    data = next((landing / "raw" / "crm" / "customers").glob("2*.parquet"))
    pl.read_parquet(data).with_columns(pl.lit("13588138999").alias("phone")).write_parquet(data)
    pl.read_parquet(data).head(0).write_parquet(layout.schema_file(contracts()["customers"]))
    again = ingest_customers(landing, key1, "load3")
    assert [l.source_file for l in again.loaded] == ["crm/2026-01-01/customers.csv"]
    assert again.loaded[0].supersedes_load_id == "load1"
    assert "phone" not in raw_customers(landing).columns
    assert "phone" not in pl.read_parquet(layout.schema_file(contracts()["customers"])).columns

    rotated = ingest_customers(landing, key2, "load4")  # a rotated key re-hashes every load
    assert len(rotated.loaded) == 1
    assert raw_customers(landing)["phone_hash"].to_list() == [hmac_hex(key2, "13588138999"),
                                                             hmac_hex(key2, "13900139000")]
    versions = layout.read_load_log("customers").sort("loaded_at")["raw_version"].to_list()
    assert versions[-1].endswith(privacy.key_id(key2)) and privacy.key_id(key1) not in versions[-1]


# --- the whole pipeline, attacked -------------------------------------------------------------

ADDED = {  # free text with contact details, typed into exports of the demo
    "lost": "客户换了联系人 13700137000 wx.li@qq.com",
    "lost_odd": "新对接人 +86 135-8813-8999 / １３９００１３９０００ / (010) 6552 1234",
    "opportunity": "对方采购换人了, 联系 0086 13588138777 或 buyer.wang@corp-example.cn",
}
ADDED_PHONES = ["13700137000", "13588138999", "13900139000", "01065521234", "13588138777"]
ADDED_EMAILS = ["wx.li@qq.com", "buyer.wang@corp-example.cn"]


def _edit_csv(path: Path, entity: str, updates: dict[int, dict[str, str]]) -> None:
    """Set canonical columns of some data rows (0-based) of a UTF-8 CSV export, keeping its headers."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    mapping, _ = contracts()[entity].map_headers(rows[0])
    position = {canonical: rows[0].index(header) for header, canonical in mapping.items()}
    for index, values in updates.items():
        for column, value in values.items():
            rows[index + 1][position[column]] = value
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)


def _add_contacts_to_free_text(landing: Path) -> None:
    """Two customers marked lost in Q4 2025 (the report's period) with contacts in the reason ..."""
    _edit_csv(landing / "crm" / "2025-10-01" / "customers.csv", "customers", {
        0: {"status": "流失", "lost_reason": ADDED["lost"]}, 1: {"status": "流失", "lost_reason": ADDED["lost_odd"]}})
    _edit_csv(landing / "crm" / "2026-01-01" / "customers.csv", "customers", {
        0: {"status": "lost", "lost_reason": ADDED["lost"]},
        1: {"status": "lost", "lost_reason": ADDED["lost_odd"]},
        2: {"created_at": "１３９００１３９０００"},  # quarantined: parse_datetime
    })
    _edit_csv(landing / "crm" / "2026-01-01" / "opportunities.csv", "opportunities", {
        0: {"is_won": "否", "lost_reason": ADDED["opportunity"]}})


def _input_contacts(landing: Path) -> dict[str, dict[str, set[str]]]:
    """customer_id -> {'phone': {...}, 'email': {...}} over every customers export, as written."""
    contract = contracts()["customers"]
    out: dict[str, dict[str, set[str]]] = {}
    for path in sorted(landing.glob("crm/*/customers.*")):
        for batch in iter_batches(path):
            mapping, _ = contract.map_headers(batch.header)
            frame = batch.frame.rename(mapping)
            for row in frame.select("customer_id", "phone", "email").iter_rows():
                entry = out.setdefault(row[0], {"phone": set(), "email": set()})
                for kind, value in zip(("phone", "email"), row[1:]):
                    if value and value.strip():
                        entry[kind].add(value.strip())
    return out


def _national(phone: str) -> str:
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone))
    return digits[4:] if digits.startswith("0086") else digits


def _published_texts(db: Path) -> list[tuple[str, str]]:
    """(table.column, value) of every distinct text value of every table in ``db``."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = con.execute("select table_schema, table_name, column_name from information_schema.columns "
                              "where data_type in ('VARCHAR', 'JSON')").fetchall()
        out = []
        for schema, table, column in columns:
            rows = con.execute(f'select distinct "{column}" from "{schema}"."{table}" '
                               f'where "{column}" is not null').fetchall()
            out += [(f"{table}.{column}", str(v[0])) for v in rows]
        return out
    finally:
        con.close()


def _leaks(text: str, phones: set[str], emails: set[str]) -> list[str]:
    """Raw contacts found in ``text``: as written, in any width, with separators or +86/0086 removed."""
    folded = unicodedata.normalize("NFKC", text).lower()
    squeezed = re.sub(r"[\s\-./()]", "", folded)
    return [p for p in phones if p in squeezed] + [e for e in emails if e in folded]


@pytest.fixture(scope="module")
def attacked_run(demo_landing, tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy")
    landing = root / "landing"
    shutil.copytree(demo_landing, landing)
    _add_contacts_to_free_text(landing)
    key_file = root / "config" / "hash.key"
    run = run_pipeline(landing, root / "warehouse", CRM_PULSE_HASH_KEY_FILE=str(key_file))
    assert run.exit_code == 0, run.output
    return run, key_file, _input_contacts(landing)


def test_pipeline_creates_the_key_file_0600_outside_the_warehouse(attacked_run):
    run, key_file, _ = attacked_run
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert run.warehouse not in key_file.parents


def test_dictionary_attack_on_published_hashes_recovers_nothing(attacked_run):
    run, key_file, contacts = attacked_run
    dim = run.query("select customer_id, phone_masked, phone_hash, email_masked, email_hash from dim_customers")
    published = set(dim["phone_hash"].dropna()) | set(dim["email_hash"].dropna())
    assert len(dim["phone_hash"].dropna()) > 200 and len(dim["email_hash"].dropna()) > 150
    unsalted = (hashlib.md5, hashlib.sha256)

    # (a) every completion of every masked number, and the real e-mails themselves, unkeyed
    attacked = 0
    for row in dim.dropna(subset=["phone_masked"]).itertuples():
        head, tail = row.phone_masked.split("****")
        candidates = [f"{head}{i:04d}{tail}" for i in range(10_000)]
        tried = set(candidates)
        assert any(_national(p) in tried for p in contacts[row.customer_id]["phone"])  # the truth is among them
        for digest in unsalted:
            assert not published.intersection(digest(c.encode()).hexdigest() for c in candidates)
        attacked += 1
    assert attacked == len(dim["phone_masked"].dropna())
    emails = {e for c in contacts.values() for e in c["email"]}
    for digest in unsalted:
        for variant in (str, str.lower, str.strip):
            assert not published.intersection(digest(variant(e).encode()).hexdigest() for e in emails)

    # (b) a wrong key recomputes nothing; the real key does: the hashes are keyed, not random
    wrong = secrets.token_bytes(32)
    key = key_file.read_text().strip().encode()
    matched = 0
    for row in dim.itertuples():
        phones = {_national(p) for p in contacts[row.customer_id]["phone"]}
        mails = {e.strip().lower() for e in contacts[row.customer_id]["email"]}
        for value, hashes in ((row.phone_hash, phones), (row.email_hash, mails)):
            if isinstance(value, str):
                assert value not in {hmac_hex(wrong, h) for h in hashes}
                assert value in {hmac_hex(key, h) for h in hashes}
                matched += 1
    assert matched == dim["phone_hash"].notna().sum() + dim["email_hash"].notna().sum()


def test_no_raw_contact_in_any_published_text_or_the_report(attacked_run):
    run, _, contacts = attacked_run
    phones = {_national(p) for c in contacts.values() for p in c["phone"]} | set(ADDED_PHONES)
    emails = {e.strip().lower() for c in contacts.values() for e in c["email"]} | set(ADDED_EMAILS)
    texts = _published_texts(run.serving_db)
    tables = {t.split(".")[0] for t, _ in texts}
    assert {"dim_customers", "churn_summary", "quarantine", "data_quality"} <= tables
    reports = sorted((run.warehouse / "reports").glob("*.html"))
    assert reports
    texts += [(p.name, p.read_text(encoding="utf-8")) for p in reports]
    leaks = [(where, found) for where, text in texts for found in _leaks(text, phones, emails)]
    assert leaks == []

    # the contact details typed into free text arrive masked, so the check above saw them
    reasons = set(run.query("select lost_reason from dim_customers where lost_reason is not null")["lost_reason"])
    assert scrub(ADDED["lost"]) in reasons and "客户换了联系人 137****7000 w***@qq.com" in reasons
    assert "新对接人 135****8999 / 139****9000 / 010****1234" in reasons
    values = set(run.query("select dimension_value from churn_summary")["dimension_value"])
    assert "客户换了联系人 137****7000 w***@qq.com" in values
    quarantined = run.query("select original_value from quarantine where entity = 'customers' "
                            "and \"column\" = 'created_at'")["original_value"].tolist()
    assert "139****9000" in quarantined
    report = reports[0].read_text(encoding="utf-8")
    assert "137****7000 w***@qq.com" in report  # the report's churn reasons show the masked text
