"""Value parsers: dates, money, numbers, booleans, enums (all vectorised polars expressions)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from data_contracts.contract import blank_markers
from data_contracts.parsing import (
    blank_to_null,
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


def test_clean_text_strips_control_characters_keeps_tab_and_newline():
    assert run(clean_text, ["张\x00三", "a\x07b\x1bc\x7f", "x\x85y\x9f", "line1\nline2\tz", "\x00", "O\u22121"]) == [
        "张三", "abc", "xy", "line1\nline2\tz", None, "O-1"]


# --- blank markers ------------------------------------------------------------------------------

BLANKS = ["N/A", "n/a", "#N/A", "N.A.", "n.a.", "(null)", "(NULL)", "NA", "na", "null", "NULL", "Null", "None", "none", "nil", "nan", "NaN", "NaT",
          "<NA>", "undefined", "-", "--", "---", "—", "——", "–", "－", "/", "／", "无", "空", "暂无", "无数据", "未填",
          "未填写", "(空白)", "（空白）", "(空)", "#NULL!", " N/A ", "\u3000无\u3000", "ＮＵＬＬ"]
REAL_VALUES = ["未知", "unknown", "0", "?", "N", "n", "A", "NAN公司", "-5", "无锡", "空调", "N/A公司", "#VALUE!", "2024/3/5"]


def test_blank_markers_cover_the_documented_spellings():
    folded = {m.lower() for m in blank_markers()}
    for required in ("n/a", "#n/a", "na", "null", "none", "-", "--", "—", "/", "无", "空", "暂无", "#null!", "nan",
                     "(空白)"):
        assert required in folded, required
    assert "未知" not in folded  # a deliberate label, kept as written (data_contracts/values.yml)


def test_blank_to_null_reads_every_marker_as_empty_and_keeps_real_values():
    assert run(blank_to_null, BLANKS, blank_markers()) == [None] * len(BLANKS)
    assert run(blank_to_null, REAL_VALUES + [" 张三 ", "", None], blank_markers()) == REAL_VALUES + ["张三", None, None]


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
    # spellings seen in Chinese CRM / ERP / ticketing exports
    ("2024年3月5日", dt.datetime(2024, 3, 5)),
    ("2024年03月05号", dt.datetime(2024, 3, 5)),
    ("2024/3/5 14:03", dt.datetime(2024, 3, 5, 14, 3)),
    ("2024/3/5 14:03:05.5", dt.datetime(2024, 3, 5, 14, 3, 5, 500_000)),
    ("2024/3/5 上午9:03", dt.datetime(2024, 3, 5, 9, 3)),
    ("2024年3月5日 下午2:03", dt.datetime(2024, 3, 5, 14, 3)),
    ("2024-03-05 2:03:00 PM", dt.datetime(2024, 3, 5, 14, 3)),
    ("20240305", dt.datetime(2024, 3, 5)),
    ("45356", dt.datetime(2024, 3, 5)),
    ("45356.25", dt.datetime(2024, 3, 5, 6)),
    ("2024.03.05", dt.datetime(2024, 3, 5)),
    ("2024.3.5 14:03", dt.datetime(2024, 3, 5, 14, 3)),
    ("2024-3-5", dt.datetime(2024, 3, 5)),
    ("2024－03－05", dt.datetime(2024, 3, 5)),
    ("2024-03-05T14:03", dt.datetime(2024, 3, 5, 14, 3)),
    ("2024-03-05T14:03:00+08:00", dt.datetime(2024, 3, 5, 14, 3)),
    ("2024-03-05T14:03:00.000+08:00", dt.datetime(2024, 3, 5, 14, 3)),
    ("2024-03-05 14:03:00 +0800", dt.datetime(2024, 3, 5, 14, 3)),
    ("2024-03-05T06:03:00+00:00", dt.datetime(2024, 3, 5, 14, 3)),
    ("2024-03-05T14:03:00.000Z", dt.datetime(2024, 3, 5, 22, 3)),
    ("2024-03-05 14:03:00.123456", dt.datetime(2024, 3, 5, 14, 3, 0, 123_456)),
])
def test_parse_datetime_accepts(text, expected):
    assert one(parse_datetime, text) == expected


@pytest.mark.parametrize("text", [
    "2023-02-29", "2024-02-30", "2024-13-01", "2024-00-10", "2024-07-01 24:00", "2024-07-01 13:60",
    "2024/2/30", "2024年2月30日", "20230229", "abc", "2024", "07/01/2024", "12345", "99999",
    "2024-07-01 13:05 bogus",
    "24-03-05", "03/05/2024", "05/03/2024", "2024年3月", "Tue Mar 05 2024",  # ambiguous or partial
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
    # Excel E-notation (a number in a narrow column), exact
    ("1.2E+04", "12000.00"),
    ("1.2e4", "12000.00"),
    ("1.2345E+3", "1234.50"),
    ("1.23456E+03", "1234.56"),
    ("1e5", "100000.00"),
    ("-1.5E+02", "-150.00"),
    ("1.2345E-01", "0.12"),
    ("１．２Ｅ＋０４", "12000.00"),
    # accounting negatives, trailing minus, Chinese currency words
    ("(1,234.00)", "-1234.00"),
    ("1234-", "-1234.00"),
    ("1,234.50-", "-1234.50"),
    ("¥1,234.50-", "-1234.50"),
    ("－1234", "-1234.00"),
    ("\u22121234", "-1234.00"),  # U+2212 minus sign
    ("+1234", "1234.00"),
    ("１２３４", "1234.00"),
    ("¥1,234.50", "1234.50"),
    ("1,234.50元", "1234.50"),
    ("1,234.50 元", "1234.50"),
    ("1234.5元整", "1234.50"),
    ("人民币1,234", "1234.00"),
    ("RMB 1234", "1234.00"),
    ("CNY 1,234.50", "1234.50"),
    ("1,234.", "1234.00"),
])
def test_parse_money_to_the_cent(text, expected):
    assert one(parse_money, text) == Decimal(expected)


@pytest.mark.parametrize("text", [
    "abc", "1.2.3", "12元5", "¥", "-", "(123", "123)", "-(3)", "--5", "1,23", "12 34", "¥¥5",
    "99999999999999999", "9999999999999999.995",
    # European decimal comma: ambiguous beside the comma thousands separator, so never guessed
    "1 234,50", "1.234,50", "1234,5",
    "1e30", "1e999", "1.2E+", "E5", "-5-", "(5)-", "USD 100", "#VALUE!",
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

def test_parse_int_reads_e_notation_exactly():
    assert run(parse_int, ["1.2E+04", "1e3", "1.25E+1", "1.2E+30", "1E-1"]) == [12000, 1000, None, None, None]


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
