"""The simulated calendar: history 2024-01-01 .. 2025-12-31, export dates, and when in a day or week things happen.

Times are day numbers (days since 1970-01-01) and seconds since 1970-01-01; nothing reads the clock.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

EPOCH = dt.date(1970, 1, 1)
HISTORY_START = dt.date(2024, 1, 1)
HISTORY_END = dt.date(2025, 12, 31)
LAST_EXPORT = dt.date(2026, 1, 1)
N_MONTHS = 24
MONTH_STARTS = [dt.date(2024 + i // 12, i % 12 + 1, 1) for i in range(N_MONTHS + 1)]  # ..2026-01-01


def day_number(d: dt.date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH).days


MS_DAY = np.array([day_number(d) for d in MONTH_STARTS], dtype=np.int64)
D0, END_DAY = day_number(HISTORY_START), day_number(HISTORY_END)
END_SEC = day_number(LAST_EXPORT) * 86400  # every simulated event happens before this instant
NEVER = 10**7  # a day number far in the future
YM = [d.strftime("%Y%m") for d in MONTH_STARTS]
CUSTOMER_SNAPSHOTS = [MONTH_STARTS[i] for i in range(0, N_MONTHS + 1, 3)]  # 2024-01-01 + quarterly
PRODUCT_SNAPSHOTS = [dt.date(2024, 1, 1), dt.date(2025, 1, 1)]
CAMPAIGN_EXPORTS = [dt.date(2024, 7, 1), dt.date(2025, 1, 1), dt.date(2025, 7, 1), dt.date(2026, 1, 1)]


def month_of_sec(sec: np.ndarray) -> np.ndarray:
    """Index of the history month (0 = Jan 2024) each time in seconds falls into."""
    return np.searchsorted(MS_DAY, sec // 86400, side="right") - 1


def clock(rng: np.random.Generator, n: int, late_share: float = 0.1) -> np.ndarray:
    """Seconds of the day: office hours, a few evenings."""
    office = rng.integers(int(8.5 * 3600), int(18.5 * 3600), n)
    evening = rng.integers(int(18.5 * 3600), 22 * 3600, n)
    return np.where(rng.random(n) < late_share, evening, office).astype(np.int64)


def weekday_shift(rng, day: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Move most weekend days to the Friday before (or Monday after) inside [lo, hi)."""
    dow = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    move = (dow >= 5) & (rng.random(day.size) < 0.8)
    friday, monday = day - (dow - 4), day + (7 - dow)
    shifted = np.where(friday >= lo, friday, np.where(monday < hi, monday, day))
    return np.where(move, shifted, day)
