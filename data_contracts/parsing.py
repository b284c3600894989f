"""Vectorised polars expressions that turn raw export strings into typed values.

Every parser takes a ``pl.Expr`` of strings and returns a typed expression. It first applies
:func:`clean_text`; an empty value becomes null, and so does a non-empty value that cannot be
parsed. The caller detects parse failures as ``input is non-null & output is null``. Everything
is built from native polars string/temporal kernels (no per-row Python): each parser is one
``map_batches(..., is_elementwise=True)`` whose function runs a short chain of column steps on the
whole batch, so every intermediate is computed once (a single nested expression would repeat
shared sub-expressions many times over).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

#: control characters: C0 but tab, line feed and carriage return; DEL; C1 (NUL bytes included).
CONTROL_CHARACTERS = [chr(cp) for cp in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0))]
CONTROL_PATTERN = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"  # the same set, as a regex
#: full-width ASCII (U+FF01..U+FF5E) -> half-width; odd spaces -> space; U+2212 minus -> "-";
#: invisible and control characters removed.
_FOLD: dict[str, str] = {chr(cp): chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F)}
_FOLD.update({"\u3000": " ", "\u00a0": " ", "\u2212": "-", "\ufeff": "", "\u200b": "", "\u200c": "", "\u200d": "",
              "\u2060": ""})
_FOLD.update(dict.fromkeys(CONTROL_CHARACTERS, ""))

_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_EXCEL_MIN, _EXCEL_MAX = 20_000, 80_000  # 1954-10-03 .. 2119-01-10
_ISO_DASH = r"^\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2}(?::\d{2})?)?$"  # fastest path
_ISO_FIXED = r"^\d{4}[-/]\d{2}[-/]\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?$"  # fast path
_COMPACT = r"^\d{8}(?:\d{6})?$"  # 20240701[130509], fast path
_SERIAL = r"^\d{5}(?:\.\d+)?$"  # Excel serial day number
_SPECIAL = r"(?i)[上下凌早晚]|\d\s?[ap]\.?m\.?$|\d\s?(?:Z|[+-]\d{2}:?\d{2})$"  # AM/PM marker or UTC offset
#: separators rewritten to "Y-M-D H:M:S" (first listed wins where patterns overlap).
_DATE_SEPARATORS = {"日 ": " ", "号 ": " ", "  ": " ", "年": "-", "月": "-", "/": "-", "日": " ", "号": " ",
                    "T": " ", "时": ":", "点": ":", "分": ":", "秒": ""}
_OFFSET = r"(\d:\d{2}(?::\d{2}(?:\.\d+)?)?) ?(Z|[+-]\d{2}:?\d{2})$"

_NUM = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)"  # 1,234.5 | 1234. | .5
_CUR = r"(?:[¥￥$]|RMB|CNY|人民币)"
_TAIL = r"\s*(?:万|亿)?\s*(?:元整?|RMB|CNY)?"
_MONEY = (rf"(?i)^(?:[-+]?\s*(?:{_CUR}\s*)?{_NUM}{_TAIL}"  # -¥1,234.50元
          rf"|(?:{_CUR}\s*)?{_NUM}{_TAIL}\s*-"  # 1,234.50- (trailing minus, ERP style)
          rf"|{_CUR}\s*[-+]\s*{_NUM}{_TAIL}"  # ¥-1,234.50
          rf"|\(\s*(?:{_CUR}\s*)?{_NUM}{_TAIL}\s*\)"  # (¥1,234.50)
          rf"|{_CUR}\s*\(\s*{_NUM}{_TAIL}\s*\))$")  # ¥(1,234.50)
#: everything but digits and the decimal point that a valid amount may contain.
_MONEY_TOKENS = ["¥", "￥", "$", "RMB", "CNY", "人民币", "元", "整", "万", "亿", ",", "(", ")", "-", "+", " ", "\t", "\n", "\r"]
_PLAIN_MONEY = r"^-?\d{1,16}(?:\.\d{1,2})?$"
_SIMPLE_MONEY = r"(?i)^(?:[¥￥$]|RMB|CNY)?\s*-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?\s*(?:元|RMB|CNY)?$"
_SIMPLE_TOKENS = ["¥", "￥", "$", "RMB", "CNY", "元", ",", " ", "\t"]
_INT = r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.0*)?$"
_SCI = r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)[eE][-+]?\d{1,2}$"  # 1.2E+04: Excel in a narrow column
_FLOAT = r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d*)?(?:[eE][-+]?\d+)?$"

_TRUE = ("true", "yes", "y", "1", "t", "是", "真", "√", "✓")
_FALSE = ("false", "no", "n", "0", "f", "否", "假", "×", "✗")


def fold_text(value: str) -> str:
    """Python twin of :func:`clean_text` for single values (e.g. mapping keys)."""
    return "".join(_FOLD.get(ch, ch) for ch in value).strip()


def clean_text(e: pl.Expr) -> pl.Expr:
    """Fold full-width ASCII to half-width, ideographic/no-break spaces to spaces, drop zero-width
    and control characters (NUL, C0 but tab/newline, DEL, C1), trim whitespace; empty -> null."""
    return e.cast(pl.Utf8).str.replace_many(_FOLD).str.strip_chars().replace("", None)


def blank_to_null(e: pl.Expr, markers) -> pl.Expr:
    """:func:`clean_text`, then a value spelled as one of ``markers`` (``N/A``, ``-``, ``无`` ...;
    full-width folded; as listed, or in lower, upper or capitalised case) -> null. (Case variants
    are listed rather than lower-casing every value: half the cost on large columns.)"""
    folded = [fold_text(str(m)) for m in markers]
    lookup = sorted({v for m in folded for v in (m, m.lower(), m.upper(), m.capitalize())})
    text = clean_text(e)
    return pl.when(text.is_in(lookup)).then(None).otherwise(text)


def _clean_series(series: pl.Series) -> pl.Series:
    return pl.select(clean_text(pl.lit(series.cast(pl.Utf8)))).to_series()


def _steps(series: pl.Series, *steps: dict[str, pl.Expr], out: str) -> pl.Series:
    """Evaluate ``steps`` (dicts of new columns) one after another on a frame with ``s`` = input."""
    frame = pl.DataFrame({"s": series})
    for step in steps:
        frame = frame.with_columns(**step)
    return frame.get_column(out)


def _vectorised(fn, dtype: pl.DataType):
    """Wrap a ``Series -> Series`` parser as an element-wise expression."""
    def expr(e: pl.Expr, *args) -> pl.Expr:
        return e.map_batches(lambda s: fn(s, *args).alias(s.name), return_dtype=dtype, is_elementwise=True)
    return expr


def _dedup(fn):
    """Run ``fn`` on distinct values only when a sample shows many repeats (e.g. dates), then map back."""
    def run(s: pl.Series) -> pl.Series:
        sample = s.head(20_000)
        if s.len() < 50_000 or sample.n_unique() > sample.len() * 0.6:
            return fn(s)
        distinct = s.unique()
        lookup = pl.DataFrame({"s": distinct, "v": fn(distinct)})
        return s.to_frame("s").join(lookup, on="s", how="left", maintain_order="left").get_column("v")
    return run


def _patch(out: pl.Series, source: pl.Series, mask: pl.Series, fn) -> pl.Series:
    """``out`` with the rows selected by ``mask`` set to ``fn(source rows)``: one parsing path per subset."""
    mask = mask.fill_null(False)
    if not mask.any():
        return out
    return out.scatter(mask.arg_true(), fn(source.filter(mask)))


# --- dates and times ------------------------------------------------------------------------------

def _days_from_civil(y: pl.Expr, m: pl.Expr, d: pl.Expr) -> pl.Expr:
    """Days since 1970-01-01 of a valid proleptic Gregorian date (H. Hinnant's algorithm)."""
    y = y - (m <= 2).cast(pl.Int64)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


def _fixed_width(starts: tuple[int, ...]):
    """Parser for fixed-width spellings: components sliced at ``starts`` (y, m, d, H, M, S)."""
    def parse(s: pl.Series) -> pl.Series:
        names = ("y", "m", "d", "hh", "mi", "ss")
        y, m, d, hh, mi, ss = (pl.col(c) for c in names)
        parts = {n: pl.col("s").str.slice(start, 4 if n == "y" else 2).cast(pl.Int64, strict=False)
                 for n, start in zip(names, starts, strict=True)}
        leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
        days_in_month = (pl.when(m == 2).then(28 + leap.cast(pl.Int64))
                         .when(m.is_in([4, 6, 9, 11])).then(30).otherwise(31))
        valid = (m >= 1) & (m <= 12) & (d >= 1) & (d <= days_in_month) & (hh <= 23) & (mi <= 59) & (ss <= 59)
        micros = (_days_from_civil(y, m, d) * 86_400 + hh * 3600 + mi * 60 + ss) * 1_000_000
        return _steps(s, {n: e.fill_null(0) if n in ("hh", "mi", "ss") else e for n, e in parts.items()},
                      {"out": pl.when(valid).then(micros).cast(pl.Datetime("us"))}, out="out")
    return parse


def _excel_serial(s: pl.Series) -> pl.Series:
    """Excel serial day numbers (1899-12-30 epoch), time of day rounded to the millisecond."""
    n = pl.col("n")
    serial = pl.lit(_EXCEL_EPOCH, pl.Datetime("us")) + pl.duration(
        milliseconds=(n * 86_400_000).round(0).cast(pl.Int64, strict=False))
    return _steps(s, {"n": pl.col("s").cast(pl.Float64, strict=False)},
                  {"out": pl.when((n >= _EXCEL_MIN) & (n <= _EXCEL_MAX)).then(serial)}, out="out")


def _general_datetime(s: pl.Series, time_zone: str | None, special: bool) -> pl.Series:
    """Slow path: Chinese/dotted spellings, unpadded parts, fractions; with ``special`` also AM/PM
    markers and UTC offsets."""
    text, offset, parsed = pl.col("text"), pl.col("offset"), pl.col("parsed")
    steps: list[dict[str, pl.Expr]] = [{"text": pl.col("s")}]
    if special:
        steps += [
            {"pm": text.str.contains(r"(?i)下午|晚上|\d\s?p\.?m\.?$"),
             "am": text.str.contains(r"(?i)上午|凌晨|早上|\d\s?a\.?m\.?$"),
             "text": text.str.replace_all(r"下午|晚上|上午|凌晨|早上", " ")
                         .str.replace(r"(\d)\s?[aApP]\.?[mM]\.?$", "${1}")},
            {"offset": text.str.extract(_OFFSET, 2), "text": text.str.replace(_OFFSET, "${1}").str.strip_chars()},
        ]
    if s.str.contains(r"^\d{4}\.").any():
        steps.append({"text": text.str.replace(r"^(\d{4})\.(\d{1,2})\.", "${1}-${2}-")})
    colons, spaced = pl.col("colons"), pl.col("spaced")
    steps += [
        {"text": text.str.replace_many(list(_DATE_SEPARATORS), list(_DATE_SEPARATORS.values()), leftmost=True)
                     .str.strip_chars_end(" :")},
        {"colons": text.str.count_matches(":", literal=True), "spaced": text.str.contains(" ", literal=True)},
        {"text": text + pl.when(~spaced).then(pl.lit(" 00:00:00")).when(colons == 0).then(pl.lit(":00:00"))
                            .when(colons == 1).then(pl.lit(":00")).otherwise(pl.lit(""))},
        {"parsed": pl.when(text.str.contains(r"^\d{4}-"))  # a four-digit year first: 24-03-05 is ambiguous
                     .then(text.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S%.f", strict=False))},
    ]
    if special:
        steps.append({"parsed": pl.when(pl.col("pm") & (parsed.dt.hour() < 12)).then(parsed + pl.duration(hours=12))
                                  .when(pl.col("am") & (parsed.dt.hour() == 12)).then(parsed - pl.duration(hours=12))
                                  .otherwise(parsed)})
        if time_zone is None:
            steps.append({"parsed": pl.when(offset.is_null()).then(parsed)})
        else:
            digits = offset.str.replace(":", "", literal=True)
            minutes = (pl.when(offset == "Z").then(0).when(offset.str.starts_with("-")).then(-1).otherwise(1)
                       * (digits.str.slice(1, 2).cast(pl.Int64, strict=False) * 60
                          + digits.str.slice(3, 2).cast(pl.Int64, strict=False)).fill_null(0))
            local = ((parsed - pl.duration(minutes=minutes)).dt.replace_time_zone("UTC")
                     .dt.convert_time_zone(time_zone).dt.replace_time_zone(None))
            steps.append({"parsed": pl.when(offset.is_null()).then(parsed).otherwise(local)})
    return _steps(s, *steps, out="parsed").cast(pl.Datetime("us"))


def _iso_dash(s: pl.Series) -> pl.Series:
    """Fastest path, ``YYYY-MM-DD[ HH:MM[:SS]]``: polars' native strptime, one format per length."""
    out = pl.repeat(None, len(s), dtype=pl.Datetime("us"), eager=True)
    lengths = s.str.len_bytes()
    for length, fmt in ((10, "%Y-%m-%d"), (16, "%Y-%m-%d %H:%M"), (19, "%Y-%m-%d %H:%M:%S")):
        out = _patch(out, s, lengths == length,
                     lambda sub, fmt=fmt: sub.str.strptime(pl.Datetime("us"), fmt, strict=False))
    return out


def _datetime_series(series: pl.Series, time_zone: str | None) -> pl.Series:
    """Parse each distinct value once when values repeat a lot (typical of date columns)."""
    return _dedup(lambda s: _dispatch_datetime(s, time_zone))(series.cast(pl.Utf8))


def _dispatch_datetime(series: pl.Series, time_zone: str | None) -> pl.Series:
    """Send each value to the cheapest path that can read its spelling."""
    s = _clean_series(series)
    out = pl.repeat(None, len(s), dtype=pl.Datetime("us"), eager=True)
    rows = s.is_not_null().arg_true()  # positions not parsed yet
    rest = s.gather(rows)
    paths = (
        (_ISO_DASH, _iso_dash),
        (_ISO_FIXED, _fixed_width((0, 5, 8, 11, 14, 17))),
        (_COMPACT, _fixed_width((0, 4, 6, 8, 10, 12))),
        (_SERIAL, _excel_serial),
        (_SPECIAL, _dedup(lambda sub: _general_datetime(sub, time_zone, special=True))),
        (None, _dedup(lambda sub: _general_datetime(sub, time_zone, special=False))),
    )
    for pattern, parse in paths:
        if rest.len() == 0:
            break
        mask = rest.str.contains(pattern) if pattern else pl.repeat(True, rest.len(), eager=True)
        if mask.any():
            out = out.scatter(rows.filter(mask), parse(rest.filter(mask)))
            rows, rest = rows.filter(~mask), rest.filter(~mask)
    return out


_datetime_expr = _vectorised(_datetime_series, pl.Datetime("us"))
_date_expr = _vectorised(lambda s, tz: _datetime_series(s, tz).dt.date(), pl.Date)


def parse_datetime(e: pl.Expr, time_zone: str | None = "Asia/Shanghai") -> pl.Expr:
    """Parse to naive ``Datetime('us')``.

    Accepts ``2024-07-01[ 13:05[:09[.123]]]`` (also ``T``), ``2024/7/1 9:05[:07]``, ``2024.7.1``,
    ``2024年7月1日[ 13:05 | 13时05分[09秒]]``, ``20240701[130509]``, AM/PM or 上午/下午 markers, and Excel
    serial numbers 20000-80000 (epoch 1899-12-30, fraction = time of day, rounded to the ms).
    Date-only values give midnight. Values carrying an offset (``Z``, ``+08:00``) are converted to
    ``time_zone`` and made naive; with ``time_zone=None`` they are rejected. Impossible dates -> null.
    """
    return _datetime_expr(e, time_zone)


def parse_date(e: pl.Expr, time_zone: str | None = "Asia/Shanghai") -> pl.Expr:
    """Parse to ``Date``; accepts everything :func:`parse_datetime` does and keeps the date part."""
    return _date_expr(e, time_zone)


# --- numbers --------------------------------------------------------------------------------------

def _general_money(s: pl.Series) -> pl.Series:
    """Slow path: currency marks, separators, units, parentheses, rounding half away from zero."""
    text, whole, frac, cents = pl.col("s"), pl.col("whole"), pl.col("frac"), pl.col("cents")
    scale = pl.col("scale")
    digits = frac.fill_null("").str.pad_end(12, "0")
    return _steps(
        s,
        {"valid": text.str.contains(_MONEY),
         "core": text.str.replace_many(_MONEY_TOKENS, [""] * len(_MONEY_TOKENS), ascii_case_insensitive=True),
         "neg": text.str.contains("-", literal=True) | text.str.contains("(", literal=True),
         "scale": pl.when(text.str.contains("万", literal=True)).then(6)
                    .when(text.str.contains("亿", literal=True)).then(10).otherwise(2)},
        {"parts": pl.col("core").str.split_exact(".", 1)},
        {"whole": pl.col("parts").struct.field("field_0"), "frac": pl.col("parts").struct.field("field_1")},
        {"cents": (whole + digits.str.slice(0, scale)).str.strip_chars_start("0"),
         "up": (digits.str.slice(scale, 1) >= "5").cast(pl.Int64)},
        {"cents": pl.when(cents.str.len_bytes() <= 18).then(cents.replace("", "0")).cast(pl.Int64, strict=False)},
        {"cents": (cents + pl.col("up")) * pl.when(pl.col("neg")).then(-1).otherwise(1)},
        {"out": pl.when(pl.col("valid"))
                  .then((cents.cast(pl.Decimal(18, 0), strict=False) * pl.lit(Decimal("0.01")))
                        .cast(pl.Decimal(18, 2), strict=False))
                  .cast(pl.Decimal(18, 2))},
        out="out",
    )


def _expand_exponents(s: pl.Series) -> pl.Series:
    """``s`` with E-notation values (``1.2E+04``, exponent up to 2 digits) rewritten exactly as plain
    decimals (``12000``). Python's Decimal, on that rare subset only."""
    return _patch(s, s, s.str.contains(_SCI),
                  lambda sub: sub.map_elements(lambda v: format(Decimal(v), "f"), return_dtype=pl.Utf8))


def _money_series(series: pl.Series) -> pl.Series:
    s = _expand_exponents(_clean_series(series))
    plain = s.str.contains(_PLAIN_MONEY).fill_null(False)  # exact as a direct decimal cast
    out = pl.repeat(None, len(s), dtype=pl.Decimal(18, 2), eager=True)
    out = _patch(out, s, plain, lambda sub: sub.cast(pl.Decimal(18, 2), strict=False))
    simple = ~plain & s.str.contains(_SIMPLE_MONEY).fill_null(False)  # ¥1,234.50 / 1,234.50元
    out = _patch(out, s, simple, lambda sub: sub.str.replace_many(_SIMPLE_TOKENS, [""] * len(_SIMPLE_TOKENS),
                                                                  ascii_case_insensitive=True)
                 .cast(pl.Decimal(18, 2), strict=False))
    return _patch(out, s, s.is_not_null() & ~plain & ~simple, _general_money)


def parse_money(e: pl.Expr) -> pl.Expr:
    """Parse an amount to ``Decimal(18, 2)``, exactly (string digits -> integer cents, no floats).

    Accepts currency marks ¥ ￥ $ RMB CNY 人民币 before, 元 元整 RMB CNY after, thousands separators
    ``1,234.50``, units 万 (x10^4) and 亿 (x10^8), a leading sign, a trailing minus ``1,234.50-``,
    parenthesised negatives ``(123.00)`` and E-notation ``1.2E+04`` (exactly 12000.00).
    Rounds half away from zero to the cent (0.125 -> 0.13, -0.125 -> -0.13). Amounts needing more
    than 16 integer digits are rejected (null), as are ``abc``, ``1.2.3``, ``12元5``, and the
    European ``1.234,50`` / ``1 234,50`` (a comma is always a thousands separator here).
    """
    return _vectorised(_money_series, pl.Decimal(18, 2))(e)


def _int_series(series: pl.Series) -> pl.Series:
    s = pl.col("s")
    digits = s.str.replace_all(",", "").str.replace(r"\.0*$", "")
    return _steps(_expand_exponents(_clean_series(series)),
                  {"out": pl.when(s.str.contains(_INT)).then(digits.cast(pl.Int64, strict=False)).cast(pl.Int64)},
                  out="out")


def parse_int(e: pl.Expr) -> pl.Expr:
    """Parse to ``Int64``; accepts ``1,234``, ``12.0`` and ``1.2E+04``; rejects fractions (``12.5``)."""
    return _vectorised(_int_series, pl.Int64)(e)


def _float_series(series: pl.Series) -> pl.Series:
    s, n = pl.col("s"), pl.col("n")
    return _steps(_clean_series(series),
                  {"ok": s.str.contains(_FLOAT) & s.str.contains(r"\d"),
                   "n": s.str.replace_all(",", "").cast(pl.Float64, strict=False)},
                  {"out": pl.when(pl.col("ok") & n.is_finite()).then(n).cast(pl.Float64)}, out="out")


def parse_float(e: pl.Expr) -> pl.Expr:
    """Parse to ``Float64``; accepts thousands separators and exponents; rejects inf/nan."""
    return _vectorised(_float_series, pl.Float64)(e)


def parse_bool(e: pl.Expr) -> pl.Expr:
    """Parse to ``Boolean``: true/false, yes/no, y/n, t/f, 1/0, 是/否, 真/假, √/× (any case)."""
    mapping = {**{k: True for k in _TRUE}, **{k: False for k in _FALSE}}
    return clean_text(e).str.to_lowercase().replace_strict(mapping, default=None, return_dtype=pl.Boolean)


def parse_enum(e: pl.Expr, mapping: dict[str, str]) -> pl.Expr:
    """Map a cleaned value case-insensitively through ``mapping`` (spelling -> canonical); unknown -> null."""
    lookup = {fold_text(str(k)).lower(): v for k, v in mapping.items()}
    return clean_text(e).str.to_lowercase().replace_strict(lookup, default=None, return_dtype=pl.Utf8)
