"""The deliberate bad rows: how often and in which months they occur, and how they are made.

The pipeline has to quarantine, deduplicate or repair each of them (see ``docs/demo_data.md``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from crm_pulse.demo import formats as F
from crm_pulse.demo.exports import Exports
from crm_pulse.demo.timeline import MONTH_STARTS, N_MONTHS

# deliberate bad rows: rate per row, and months (0 = Jan 2024) that always get one
BAD_MONEY_RATE, BAD_MONEY_MONTHS = 0.0005, (3, 15)      # "待定" in orders.amount
BAD_DATE_RATE, BAD_DATE_MONTHS = 0.0003, (1, 13)        # e.g. 2025-02-30 in orders.order_date
EXTREME_RATE, EXTREME_MONTHS = 0.0007, (6, 18)          # quantities x100 -> amount x100
CREDIT_RATE, CREDIT_MONTHS = 0.04, (4, 16)              # negative credit-note rows per refunded order
ORDER_DUP_MONTHS = tuple(range(2, N_MONTHS, 4))         # exact duplicate rows in orders/order_items files
OVERLAP_MONTHS = tuple(range(1, N_MONTHS - 1, 3))       # last 2 days of the month exported again next month
ACT_DUP_MONTHS = tuple(range(2, N_MONTHS, 5))           # exact duplicate rows in activities files
ACT_BAD_DATE_RATE, ACT_BAD_DATE_MONTHS = 0.0002, (13,)
CUSTOMER_DUP_SNAPSHOTS = (3, 6)                          # 2024-10-01, 2025-07-01
TICKET_DUP_MONTHS = tuple(range(3, N_MONTHS, 6))        # exact duplicate lines in tickets files
TICKET_ZH_VALUES_BEFORE = 5                              # exports of data months < 5 use Chinese enum values


def pick(rng, eligible: np.ndarray, rate: float, forced: bool) -> np.ndarray:
    """Boolean mask: each eligible row with probability ``rate``; if ``forced``, at least one."""
    mask = eligible & (rng.random(eligible.size) < rate)
    if forced and not mask.any() and eligible.any():
        mask[rng.choice(np.flatnonzero(eligible))] = True
    return mask


def impossible_date(month: int, style: F.Style) -> str:
    """A date that does not exist, near ``month``: the last 30-day month's 31st or 30 February."""
    year, mon = MONTH_STARTS[month].year, MONTH_STARTS[month].month
    candidates = [(2, 30), (4, 31), (6, 31), (9, 31), (11, 31)]
    m, d = max([c for c in candidates if c[0] <= mon], default=(2, 30))
    if style.name == "gbk_zh":
        return f"{year}/{m}/{d} 10:{15 + mon:02d}"
    return f"{year}-{m:02d}-{d:02d} 10:{15 + mon:02d}:00"


def dup_rows(ex: Exports, rng, frame: pl.DataFrame, rate: float, minimum: int, kind: str) -> pl.DataFrame:
    """Append exact copies of a few rows (a double export)."""
    if frame.height == 0:
        return frame
    k = min(frame.height, max(minimum, int(round(rate * frame.height))))
    idx = np.sort(rng.choice(frame.height, k, replace=False))
    ex.mess[kind] += k
    return pl.concat([frame, frame[idx]])
