"""Value parsers: dates, money, numbers, booleans, enums (all vectorised polars expressions)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from data_contracts.parsing import (
    clean_text,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_enum,
    parse_float,
    parse_int,
    parse_money,
)


def run(parser, values, *args):
    frame = pl.DataFrame({"v": values}, schema={"v": pl.Utf8})
    return frame.select(parser(pl.col("v"), *args)).to_series().to_list()


def one(parser, value, *args):
    return run(parser, [value], *args)[0]


# --- clean_text ---------------------------------------------------------------------------------

def test_clean_text_folds_full_width_and_trims():
    assert run(clean_text, ["\u3000ＡＢＣ１２３\u3000", " x ", "", "   ", None, "a\u3000b", "C\u200b001"]) == [
        "ABC123", "x", None, None, None, "a b", "C001"]


# --- dates --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2024-07-01", dt.datetime(2024, 7, 1)),
    ("2024-07-01 13:05", dt.datetime(2024, 7, 1, 13, 5)),
    ("2024-07-01 13:05:09", dt.datetime(2024, 7, 1, 13, 5, 9)),
    ("2024-07-01T13:05:09", dt.datetime(2024, 7, 1, 13, 5, 9)),
    ("2024-07-01 13:05:09.250", dt.datetime(2024, 7, 1, 13, 5, 9, 250_000)),
    ("2024/7/1", dt.datetime(2024, 7, 1)),
    ("2024/07/01", dt.datetime(2024, 7, 1)),
    ("2024/07/01 9:05", dt.datetime(2024, 7, 1, 9, 5)),
    ("2024/07/01 9:05:07", dt.datetime(2024, 7, 1, 9, 5, 7)),
    ("2024年7月1日", dt.datetime(2024, 7, 1)),
    ("2024年7月1日 13:05", dt.datetime(2024, 7, 1, 13, 5)),
    ("2024年7月1日 13时05分", dt.datetime(2024, 7, 1, 13, 5)),
    ("2024年07月01日13时05分09秒", dt.datetime(2024, 7, 1, 13, 5, 9)),
    ("2024.7.1", dt.datetime(2024, 7, 1)),
    ("20240701", dt.datetime(2024, 7, 1)),
    ("20240701130509", dt.datetime(2024, 7, 1, 13, 5, 9)),
    ("45474", dt.datetime(2024, 7, 1)),
    ("45474.5", dt.datetime(2024, 7, 1, 12)),
    ("45474.75", dt.datetime(2024, 7, 1, 18)),
    ("２０２４-０７-０１", dt.datetime(2024, 7, 1)),
    ("\u30002024-07-01 ", dt.datetime(2024, 7, 1)),
    ("2024/7/1 下午 1:05", dt.datetime(2024, 7, 1, 13, 5)),
    ("2024-07-01 1:05 PM", dt.datetime(2024, 7, 1, 13, 5)),
    ("2024-07-01 12:30 AM", dt.datetime(2024, 7, 1, 0, 30)),
    ("2024-07-01T05:05:09Z", dt.datetime(2024, 7, 1, 13, 5, 9)),  # UTC -> Asia/Shanghai
    ("2024-07-01T13:05:09+08:00", dt.datetime(2024, 7, 1, 13, 5, 9)),
    ("2024-02-29", dt.datetime(2024, 2, 29)),
])
def test_parse_datetime_accepts(text, expected):
    assert one(parse_datetime, text) == expected


@pytest.mark.parametrize("text", [
    "2023-02-29", "2024-02-30", "2024-13-01", "2024-00-10", "2024-07-01 24:00", "2024-07-01 13:60",
    "2024/2/30", "2024年2月30日", "20230229", "abc", "2024", "07/01/2024", "12345", "99999",
    "2024-07-01 13:05 bogus",
])
def test_parse_datetime_rejects(text):
    assert one(parse_datetime, text) is None


def test_parse_date_keeps_the_date_of_datetimes():
    assert run(parse_date, ["2024-07-01 23:59:59", "2024年7月1日 13:05", "45474.99", "2024-02-29", "2023-02-29",
                            None, ""]) == [dt.date(2024, 7, 1)] * 3 + [dt.date(2024, 2, 29), None, None, None]


def test_excel_serial_45474_is_2024_07_01():
    assert one(parse_date, "45474") == dt.date(2024, 7, 1)
    assert one(parse_date, "45474.0") == dt.date(2024, 7, 1)
    assert one(parse_date, "19999") is None  # outside the plausible serial range


def test_offsets_without_time_zone_are_rejected():
    assert one(parse_datetime, "2024-07-01T05:05:09Z", None) is None
    assert one(parse_datetime, "2024-07-01 05:05:09", None) == dt.datetime(2024, 7, 1, 5, 5, 9)


def test_date_parsers_are_typed_and_keep_length():
    frame = pl.DataFrame({"v": ["2024-07-01", None, "x"] * 3})
    out = frame.select(parse_date(pl.col("v")).alias("d"), parse_datetime(pl.col("v")).alias("t"))
    assert out.schema == pl.Schema({"d": pl.Date(), "t": pl.Datetime("us")})
    assert out.height == 9


def test_mixed_formats_in_one_large_column():
    """Large enough to use the de-duplicating slow path; every row lands where it belongs."""
    values = ["2024/7/1", "2024-07-02", "2024年7月3日", "20240704", "45478", "bad", None] * 20_000
    out = run(parse_date, values)
    assert out[:7] == [dt.date(2024, 7, d) for d in range(1, 6)] + [None, None]
    assert out[-7:] == out[:7]


def test_empty_input():
    assert run(parse_date, []) == []
    assert run(parse_money, []) == []


# --- money --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("1234.5", "1234.50"),
    ("¥1,234.50", "1234.50"),
    ("￥1,234.50", "1234.50"),
    ("$1,234.50", "1234.50"),
    ("RMB 1,000", "1000.00"),
    ("cny100", "100.00"),
    ("1000元", "1000.00"),
    ("1,234", "1234.00"),
    ("1.2万", "12000.00"),
    ("1.2万元", "12000.00"),
    ("¥3.456789万", "34567.89"),
    ("1亿", "100000000.00"),
    ("1.23456789亿", "123456789.00"),
    ("(123.00)", "-123.00"),
    ("(¥1,234.50)", "-1234.50"),
    ("-5", "-5.00"),
    ("¥-5.5", "-5.50"),
    ("+7.1", "7.10"),
    ("0.125", "0.13"),  # half-up: a float would give 0.12
    ("-0.125", "-0.13"),
    ("2.675", "2.68"),  # float(2.675) is 2.67499999...
    ("0.005", "0.01"),
    ("0.0049", "0.00"),
    ("99.995", "100.00"),
    (".5", "0.50"),
    ("１２３．４５", "123.45"),
    ("  ¥ 88  ", "88.00"),
    ("9999999999999999.99", "9999999999999999.99"),  # largest decimal(18,2), to the cent
    ("12345678901234.56", "12345678901234.56"),
    ("1,234,567,890,123.45", "1234567890123.45"),
])
def test_parse_money_to_the_cent(text, expected):
    assert one(parse_money, text) == Decimal(expected)


@pytest.mark.parametrize("text", [
    "abc", "1.2.3", "12元5", "¥", "-", "(123", "123)", "-(3)", "--5", "1,23", "12 34", "1e5", "¥¥5",
    "99999999999999999", "9999999999999999.995",
])
def test_parse_money_rejects(text):
    assert one(parse_money, text) is None


def test_parse_money_dtype_and_nulls():
    frame = pl.DataFrame({"v": ["1", None, "", "x"]})
    out = frame.select(parse_money(pl.col("v")))
    assert out.schema["v"] == pl.Decimal(18, 2)
    assert out["v"].to_list() == [Decimal("1.00"), None, None, None]


def test_parse_money_large_column_matches_decimal_arithmetic():
    import random
    from decimal import ROUND_HALF_UP

    rng = random.Random(7)
    texts = [f"{rng.randint(0, 10**12)}.{rng.randint(0, 999):03d}" for _ in range(5000)]
    texts += [f"¥{rng.randint(0, 10**9):,}.{rng.randint(0, 99):02d}" for _ in range(5000)]
    expected = [Decimal(t.replace("¥", "").replace(",", "")).quantize(Decimal("0.01"), ROUND_HALF_UP) for t in texts]
    assert run(parse_money, texts) == expected


# --- int, float, bool, enum ---------------------------------------------------------------------

def test_parse_int():
    assert run(parse_int, ["1,234", "12.0", "12.5", "-3", "+4", "１２", "1,23", "abc", "", None,
                           "9223372036854775807", "99999999999999999999"]) == [
        1234, 12, None, -3, 4, 12, None, None, None, None, 9223372036854775807, None]


def test_parse_float():
    assert run(parse_float, ["1,234.5", "-0.25", "1e3", ".5", "inf", "nan", "abc", "-", None]) == [
        1234.5, -0.25, 1000.0, 0.5, None, None, None, None, None]


def test_parse_bool():
    truthy = ["true", "TRUE", "yes", "Y", "1", "是", "真", "t", "ｙｅｓ"]
    falsy = ["false", "No", "n", "0", "否", "假", "F"]
    assert run(parse_bool, truthy + falsy + ["maybe", "", None]) == [True] * 9 + [False] * 7 + [None] * 3


def test_parse_enum():
    mapping = {"large": "large", "大型": "large", "small_micro": "small_micro", "小微": "small_micro",
               "小微型": "small_micro", "Medium": "medium", "中型": "medium"}
    assert run(parse_enum, ["LARGE", " 大型 ", "小微型", "medium", "ｌａｒｇｅ", "huge", None], mapping) == [
        "large", "large", "small_micro", "medium", "large", None, None]


def test_parsers_work_in_lazy_frames():
    lazy = pl.LazyFrame({"d": ["2024/7/1"], "m": ["¥1,234.50"]})
    out = lazy.select(parse_date(pl.col("d")), parse_money(pl.col("m"))).collect()
    assert out.row(0) == (dt.date(2024, 7, 1), Decimal("1234.50"))
