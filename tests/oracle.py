"""Independent re-computation of clean source rows, for tests.

Reads the landing exports with pandas / openpyxl / json and parses every value in plain Python
(``decimal`` for money, ``re`` + ``datetime`` for dates). It shares only configuration with the
pipeline (the header aliases and enum spellings in the contract YAML files), never code.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import openpyxl
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
TOTAL_MARKERS = {"合计", "总计", "小计", "total", "totals", "sum"}


def contract(entity: str) -> dict:
    return yaml.safe_load((ROOT / "data_contracts" / "sources" / f"{entity}.yml").read_text(encoding="utf-8"))


def _norm_header(text: str) -> str:
    text = "".join(chr(ord(c) - 0xFEE0) if 0xFF01 <= ord(c) <= 0xFF5E else c for c in str(text))
    return " ".join(text.replace("\ufeff", "").replace("_", " ").strip().lower().split())


def _fold(value):
    if value is None:
        return None
    text = "".join(chr(ord(c) - 0xFEE0) if 0xFF01 <= ord(c) <= 0xFF5E else c for c in str(value))
    text = text.replace("\u3000", " ").strip()
    return text or None


def decode_csv(raw: bytes) -> tuple[str, str]:
    """A CSV export's text and encoding: UTF-8 (with or without BOM), else GB18030 (a superset of GBK)."""
    try:
        return raw.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError:
        return raw.decode("gb18030"), "gb18030"


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """(row number, {header: raw string}) for every data row of an export file."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = list(csv.reader(io.StringIO(decode_csv(path.read_bytes())[0], newline="")))
        header, body = [h.strip() for h in rows[0]], rows[1:]
        out = []
        line = 1
        for values in body:
            line += 1
            out.append((line, dict(zip(header, [v if v != "" else None for v in values]))))
        return _drop_non_data(header, out)
    if suffix == ".xlsx":
        ws = openpyxl.load_workbook(path, read_only=True, data_only=True).worksheets[0]
        rows = list(ws.iter_rows(values_only=True))
        header = [str(h).strip() for h in rows[0]]
        out = [(i + 2, dict(zip(header, [_xlsx_str(v) for v in values]))) for i, values in enumerate(rows[1:])]
        return _drop_non_data(header, out)
    if suffix in (".ndjson", ".jsonl"):
        out = []
        for i, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if line.strip():
                out.append((i, {k: None if v is None or v == "" else str(v) for k, v in json.loads(line).items()}))
        return out
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        if isinstance(data, dict):
            data = next(v for v in data.values() if isinstance(v, list))
        return [(i, {k: None if v is None or v == "" else str(v) for k, v in obj.items()}) for i, obj in enumerate(data, 1)]
    raise ValueError(path)


def _xlsx_str(value):
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d") if value.time() == dt.time() else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _drop_non_data(header, rows):
    kept = []
    for number, row in rows:
        values = [v for v in row.values()]
        if all(v is None or str(v).strip() == "" for v in values):
            continue
        if [str(v).strip() if v is not None else "" for v in values] == header:
            continue
        first = next((str(v).strip() for v in values if v is not None and str(v).strip()), "")
        if first.lower() in TOTAL_MARKERS:
            continue
        kept.append((number, row))
    return kept


def parse_datetime(value) -> dt.datetime | None:
    text = _fold(value)
    if text is None:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", text) and 20000 <= float(text) <= 80000:
        return dt.datetime(1899, 12, 30) + dt.timedelta(days=float(text))
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    m = re.fullmatch(r"(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})\s*日?"
                     r"(?:[ T]+(\d{1,2})\s*[:时]\s*(\d{1,2})\s*(?:[:分]\s*(\d{1,2})(?:\.\d+)?\s*秒?)?\s*分?)?", text)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    try:
        return dt.datetime(y, mo, d, h, mi, s)
    except ValueError:
        return None


def parse_money(value) -> Decimal | None:
    text = _fold(value)
    if text is None:
        return None
    text = re.sub(r"[¥￥$\s]|RMB|CNY|元", "", text, flags=re.I)
    negative = text.startswith("(") and text.endswith(")")
    text = text.strip("()")
    factor = Decimal(1)
    if text.endswith("万"):
        factor, text = Decimal(10000), text[:-1]
    elif text.endswith("亿"):
        factor, text = Decimal(100000000), text[:-1]
    if not re.fullmatch(r"-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?", text):
        return None
    try:
        amount = Decimal(text.replace(",", "")) * factor
    except InvalidOperation:
        return None
    amount = -amount if negative else amount
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def clean_rows(landing: Path, source: str, entity: str) -> pd.DataFrame:
    """Rows of ``entity`` that pass the contract, with export date, file and row number."""
    spec = contract(entity)
    columns = spec["columns"]
    lookup = {}
    for name, col in columns.items():
        for spelling in [name, *col.get("aliases", [])]:
            lookup[_norm_header(spelling)] = name
    enum_maps = {
        name: {str(s).strip().lower(): canon for canon, spellings in col["values"].items() for s in [canon, *spellings]}
        for name, col in columns.items() if col["type"] == "enum"
    }
    records = []
    for date_dir in sorted((landing / source).iterdir()):
        export_date = dt.date.fromisoformat(date_dir.name)
        for path in sorted(date_dir.iterdir()):
            if path.name.split(".")[0] != entity:
                continue
            seen = set()
            for number, row in read_rows(path):
                rec, ok = {}, True
                mapped = {}
                for header, value in row.items():
                    canonical = lookup.get(_norm_header(header))
                    if canonical and canonical not in mapped:
                        mapped[canonical] = value
                for name, col in columns.items():
                    raw = _fold(mapped.get(name))
                    kind = col["type"]
                    if raw is None:
                        value = None
                    elif kind == "enum":
                        value = enum_maps[name].get(raw.lower())
                    elif kind in ("date", "datetime"):
                        value = parse_datetime(raw)
                        if value is not None and kind == "date":
                            value = value.date()
                    elif kind == "money":
                        value = parse_money(raw)
                    elif kind == "int":
                        value = int(Decimal(raw.replace(",", ""))) if re.fullmatch(r"-?[\d,]+(\.0+)?", raw) else None
                    elif kind == "bool":
                        value = {"true": True, "false": False, "1": True, "0": False, "是": True, "否": False,
                                 "yes": True, "no": False, "y": True, "n": False}.get(raw.lower())
                    else:
                        value = raw
                    if raw is not None and value is None:
                        ok = False
                    if col.get("required") and value is None:
                        ok = False
                    if value is not None and col.get("min") is not None and value < col["min"]:
                        ok = False
                    if value is not None and col.get("max") is not None and value > col["max"]:
                        ok = False
                    if value is not None and col.get("not_after_export"):
                        as_date = value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else value.date()
                        if as_date > export_date:
                            ok = False
                    rec[name] = value
                for rule in spec.get("rules", []):
                    a, b = rec.get(rule["column"]), rec.get(rule["gte"])
                    if a is not None and b is not None and a < b:
                        ok = False
                if not ok:
                    continue
                key = tuple(rec[k] for k in spec["key"])
                if key in seen:
                    continue
                seen.add(key)
                rec.update(_export_date=export_date, _source_file=path.relative_to(landing).as_posix(), _row_number=number)
                records.append(rec)
    return pd.DataFrame(records)


def latest(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Latest exported version of each key."""
    ordered = frame.sort_values(["_export_date", "_source_file", "_row_number"])
    return ordered.drop_duplicates(subset=key, keep="last").reset_index(drop=True)
