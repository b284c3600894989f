"""Index arrays to polars columns: reference values by index, running IDs, nullable integers."""

from __future__ import annotations

import numpy as np
import polars as pl

from crm_pulse.demo.timeline import YM


def take(values: list, idx: np.ndarray, missing: np.ndarray | None = None) -> pl.Series:
    """values[idx] as a polars Series; idx < 0 or ``missing`` -> null."""
    idx = np.asarray(idx, dtype=np.int64)
    gone = idx < 0 if missing is None else (idx < 0) | missing
    series = pl.Series(values, dtype=pl.Utf8).gather(np.where(gone, 0, idx))
    return series.scatter(np.flatnonzero(gone), None) if gone.any() else series


def seq_ids(prefix: str, month_idx: np.ndarray, width: int) -> pl.Series:
    """IDs like SO202403000123: month of the event + running number inside the month (rows sorted)."""
    first = np.searchsorted(month_idx, month_idx, side="left")
    seq = np.arange(month_idx.size) - first + 1
    frame = pl.DataFrame({"ym": take(YM, month_idx), "seq": seq})
    return frame.select(
        pl.concat_str([pl.lit(prefix), pl.col("ym"), pl.col("seq").cast(pl.Utf8).str.zfill(width)])).to_series()


def nullable(values: np.ndarray) -> pl.Series:
    """Int64 Series with negative values (our "absent" marker; real times are positive) as null."""
    series = pl.Series(np.asarray(values, dtype=np.int64))
    gone = np.flatnonzero(np.asarray(values) < 0)
    return series.scatter(gone, None) if gone.size else series
