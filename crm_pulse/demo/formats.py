"""How the demo exports look on disk: encodings, header languages, date and money spellings.

Everything here is vectorised with polars expressions so that a million customers' worth of rows
can be rendered without a Python loop per row. Writers are deterministic: same frame -> same bytes
(the XLSX writer pins every timestamp openpyxl and zipfile would otherwise take from the clock).
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import functools
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from data_contracts.files import replacing


@dataclass(frozen=True)
class Style:
    """How one CSV export is written."""

    name: str
    encoding: str  # codec used for the bytes on disk
    bom: bool
    chinese: bool  # Chinese headers and Chinese enum values
    eol: str

    def encode(self, text: str) -> bytes:
        return text.encode(self.encoding)  # strict: a character GBK cannot hold is a bug here


#: Chinese Excel "Save as CSV" on Windows: GBK bytes, Chinese headers, CRLF.
GBK_ZH = Style("gbk_zh", "gbk", False, True, "\r\n")
#: Excel "CSV UTF-8": UTF-8 with BOM, Chinese headers, CRLF.
BOM_ZH = Style("bom_zh", "utf-8", True, True, "\r\n")
#: A system/API export: plain UTF-8, English (canonical) headers and codes, LF.
UTF8_EN = Style("utf8_en", "utf-8", False, False, "\n")
STYLES = (GBK_ZH, BOM_ZH, UTF8_EN)

# --- date / time spellings -----------------------------------------------------------------------
DT_ISO, DT_ISO_T, DT_SLASH, DT_CN, D_ISO, D_SLASH, D_CN, SERIAL_D, SERIAL_DT, DT_ISO_MIN = range(10)
_DATE_PART = {
    "iso": lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}",   # 2024-07-01
    "slash": lambda d: f"{d.year}/{d.month}/{d.day}",            # 2024/7/1
    "cn": lambda d: f"{d.year}年{d.month}月{d.day}日",             # 2024年7月1日
}
_TIME_PART = {  # (table resolution in seconds, spelling of h, m, s)
    "hms": (1, lambda h, m, s: f"{h:02d}:{m:02d}:{s:02d}"),       # 09:05:03
    "hm": (60, lambda h, m, s: f"{h:02d}:{m:02d}"),               # 09:05
    "h_m": (60, lambda h, m, s: f"{h}:{m:02d}"),                  # 9:05 (Chinese Excel default)
}
#: code -> (date spelling, separator, time spelling or None)
_SPELLINGS = {
    DT_ISO: ("iso", " ", "hms"), DT_ISO_T: ("iso", "T", "hms"), DT_SLASH: ("slash", " ", "h_m"),
    DT_CN: ("cn", " ", "hm"), DT_ISO_MIN: ("iso", " ", "hm"),
    D_ISO: ("iso", "", None), D_SLASH: ("slash", "", None), D_CN: ("cn", "", None),
}
EXCEL_EPOCH_OFFSET = 25569  # Excel serial of 1970-01-01 (1900 date system)
_EPOCH = dt.date(1970, 1, 1)


_TABLE_DAYS = ((dt.date(2000, 1, 1) - _EPOCH).days, (dt.date(2040, 1, 1) - _EPOCH).days)


@functools.cache
def _date_table(spelling: str) -> pl.Series:
    """Every day 2000-01-01 .. 2039-12-31 in one spelling, for lookups."""
    fmt = _DATE_PART[spelling]
    return pl.Series([fmt(_EPOCH + dt.timedelta(days=d)) for d in range(*_TABLE_DAYS)], dtype=pl.Utf8)


@functools.cache
def _time_table(spelling: str) -> pl.Series:
    step, fmt = _TIME_PART[spelling]
    return pl.Series([fmt(t // 3600, t // 60 % 60, t % 60) for t in range(0, 86400, step)], dtype=pl.Utf8)


def _render(series: pl.Series, codes, render) -> pl.Series:
    """Apply ``render(subseries, code)`` per spelling code: the most common code renders the whole
    column once, the few other codes only their own rows (scattered back), so rare spellings cost
    almost nothing even on millions of rows."""
    if isinstance(codes, (int, np.integer)) or series.len() == 0:
        code = int(codes) if isinstance(codes, (int, np.integer)) else 0
        return render(series, code).alias(series.name)
    codes = np.asarray(codes, dtype=np.int64)
    values, counts = np.unique(codes, return_counts=True)
    main = int(values[np.argmax(counts)])
    out = render(series, main)
    for code in values:
        if code != main:
            idx = np.flatnonzero(codes == code)
            out = out.scatter(idx, render(series.gather(idx), int(code)))
    return out.alias(series.name)


def _render_datetime(sec: pl.Series, code: int) -> pl.Series:
    """Text of one spelling, via lookup tables of the distinct days and times (fast on millions)."""
    frame = sec.to_frame("s")
    days = pl.col("s") // 86400
    if code in _SPELLINGS:
        date_spelling, sep, time_spelling = _SPELLINGS[code]
        present = sec.drop_nulls()
        lo, hi = _TABLE_DAYS
        if present.len() and not (lo <= present.min() // 86400 and present.max() // 86400 < hi):
            raise ValueError(f"{sec.name}: dates outside {_EPOCH + dt.timedelta(days=lo)} .. "
                             f"{_EPOCH + dt.timedelta(days=hi)}")
        parts = [pl.lit(_date_table(date_spelling)).gather(days - lo)]
        if time_spelling is not None:
            step = _TIME_PART[time_spelling][0]
            parts += [pl.lit(sep), pl.lit(_time_table(time_spelling)).gather(pl.col("s") % 86400 // step)]
        return frame.select(pl.concat_str(parts)).to_series()
    serial = (days + EXCEL_EPOCH_OFFSET).cast(pl.Utf8)
    if code == SERIAL_D:
        return frame.select(serial).to_series()
    k = ((pl.col("s") % 86400) / 540).round(0).cast(pl.Int64).clip(0, 159)
    frac = (k * 625).cast(pl.Utf8).str.zfill(5).str.strip_chars_end("0")
    return frame.select(pl.when(k == 0).then(serial).otherwise(pl.concat_str([serial, pl.lit("."), frac]))).to_series()


def fmt_datetime(seconds: pl.Series, codes) -> pl.Series:
    """Render Int64 seconds since 1970 (naive business-local time; null stays null) as text.

    ``codes``: one spelling code, or one per row (numpy array). Excel serials with a time use a
    9-minute grid (fractions k/160 have a finite decimal form, so the written number is exactly
    the time it stands for, and never rolls over to the next day).
    """
    return _render(seconds.cast(pl.Int64), codes, _render_datetime)


# --- money spellings -----------------------------------------------------------------------------
M_PLAIN, M_THOUSANDS, M_YEN, M_WAN, M_INT_THOUSANDS = range(5)


_Z3 = pl.Series([f"{i:03d}" for i in range(1000)])
_P3 = pl.Series([str(i) for i in range(1000)])


def _thousands(y: pl.Expr) -> pl.Expr:
    """Non-negative integer -> '1,234,567' (groups looked up, not formatted per row)."""
    big, mid, low = y // 1_000_000, (y // 1000) % 1000, y % 1000
    head = (pl.when(y >= 1_000_000_000).then(pl.concat_str([(big // 1000).cast(pl.Utf8), pl.lit(","),
                                                            pl.lit(_Z3).gather(big % 1000), pl.lit(",")]))
            .when(y >= 1_000_000).then(pl.concat_str([big.cast(pl.Utf8), pl.lit(",")])).otherwise(pl.lit("")))
    middle = (pl.when(y >= 1_000_000).then(pl.concat_str([pl.lit(_Z3).gather(mid), pl.lit(",")]))
              .when(y >= 1000).then(pl.concat_str([pl.lit(_P3).gather(mid), pl.lit(",")])).otherwise(pl.lit("")))
    tail = pl.when(y >= 1000).then(pl.lit(_Z3).gather(low)).otherwise(pl.lit(_P3).gather(low))
    return pl.concat_str([head, middle, tail])


def _render_money(fen: pl.Series, code: int, yen: str) -> pl.Series:
    col = pl.col("f")
    a = col.abs()
    y, c = a // 100, a % 100
    cents = c.cast(pl.Utf8).str.zfill(2)
    if code == M_PLAIN:
        body = pl.concat_str([y.cast(pl.Utf8), pl.lit("."), cents])
    else:
        thou = pl.concat_str([_thousands(y), pl.lit("."), cents])
        if code == M_YEN:
            body = pl.concat_str([pl.lit(yen), thou])
        elif code == M_WAN:
            frac = pl.when(y % 10000 != 0).then(pl.concat_str(
                [pl.lit("."), (y % 10000).cast(pl.Utf8).str.zfill(4).str.strip_chars_end("0")])).otherwise(pl.lit(""))
            wan = pl.concat_str([(y // 10000).cast(pl.Utf8), frac, pl.lit("万")])
            body = pl.when((c == 0) & (y >= 10000)).then(wan).otherwise(thou)
        elif code == M_INT_THOUSANDS:
            body = pl.when(c == 0).then(_thousands(y)).otherwise(thou)
        else:
            body = thou
    sign = pl.when(col < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return fen.to_frame("f").select(pl.concat_str([sign, body])).to_series()


def fmt_money(fen: pl.Series, codes, yen: str = "¥") -> pl.Series:
    """Render Int64 cents (分; null stays null) as text with a spelling code (one, or one per row).

    M_PLAIN 1234.50 | M_THOUSANDS 1,234.50 | M_YEN ¥1,234.50 | M_WAN 1.2345万 (only for whole
    yuan >= 10,000, exact) | M_INT_THOUSANDS 1,234 (only for whole yuan). Codes that do not fit a
    value fall back to M_THOUSANDS, so every spelling parses back to exactly the same amount.
    """
    return _render(fen.cast(pl.Int64), codes, lambda s, code: _render_money(s, code, yen))


# --- writers -------------------------------------------------------------------------------------
@contextlib.contextmanager
def _landing_file(path: Path):
    """Binary handle on a hidden temporary next to ``path``, renamed into place when complete, so a
    watcher of the landing folder never sees a half-written export."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp, tmp.open("wb") as fh:
        yield fh


def write_csv(path: Path, frame: pl.DataFrame, style: Style, chunk_rows: int = 400_000) -> int:
    """Write an all-text frame as CSV in ``style``, in chunks (bounded memory). Returns data rows."""
    frame = frame.select(pl.all().cast(pl.Utf8))
    with _landing_file(path) as fh:
        if style.bom:
            fh.write(codecs.BOM_UTF8)
        for i, start in enumerate(range(0, max(frame.height, 1), chunk_rows)):
            text = frame.slice(start, chunk_rows).write_csv(
                include_header=i == 0, line_terminator=style.eol, null_value="", quote_style="necessary")
            fh.write(style.encode(text))
    return frame.height


def write_ndjson(path: Path, frame: pl.DataFrame, chunk_rows: int = 400_000) -> int:
    """One JSON object per line, UTF-8."""
    with _landing_file(path) as fh:
        for start in range(0, frame.height, chunk_rows):
            fh.write(frame.slice(start, chunk_rows).write_ndjson().encode("utf-8"))
    return frame.height


def write_json_array(path: Path, frame: pl.DataFrame) -> int:
    """A JSON array of objects, one object per line (as ticketing APIs page out)."""
    lines = frame.write_ndjson().splitlines() if frame.height else []
    with _landing_file(path) as fh:
        fh.write(("[\n" + ",\n".join(lines) + ("\n" if lines else "") + "]\n").encode("utf-8"))
    return frame.height


FIXED_XLSX_TIME = dt.datetime(2024, 1, 1, 0, 0, 0)


def write_xlsx(path: Path, header: list[str], rows: list[list], sheet_title: str,
               stamp: dt.datetime = FIXED_XLSX_TIME) -> int:
    """One-sheet workbook, byte-identical for identical input.

    openpyxl stamps docProps/core.xml with "now" (``save_workbook`` overwrites ``modified``) and
    zipfile stamps every member with the wall clock; both are pinned to ``stamp`` here.
    """
    import openpyxl
    from openpyxl.writer.excel import ExcelWriter

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet_title
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.properties.creator = "ERP export"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    raw = io.BytesIO()
    ExcelWriter(wb, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED)).save()  # no clock, unlike wb.save
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            dst.writestr(member, src.read(info.filename))
    with _landing_file(path) as fh:
        fh.write(out.getvalue())
    return len(rows)
