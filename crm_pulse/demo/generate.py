"""Realistic, deterministic demo exports for ``crm-pulse demo``.

Simulates a Chinese B2B vendor (software, devices, consumables, services) over a fixed calendar:
business history 2024-01-01 .. 2025-12-31, exports from 2024-01-01 to 2026-01-01. Nothing reads
the clock: the same ``seed`` and ``customers`` give byte-identical files.

What is simulated (all vectorised with numpy; rows are only turned into text by polars):

* customers acquired throughout the period (40 % already customers before 2024), company size
  driving order rate and spend (lognormal, so value is skewed and RFM tiers are meaningful), churn
  (orders stop; follow-ups thin out in the 6 months before; service tickets and complaints rise
  for service/quality churners), the CRM marking most churners lost 1-4 months later, owner
  changes (two reps leave on 2025-06-16 and hand over their accounts, plus random reassignments);
* orders with lines (sum of quantity x unit price = order amount, to the cent), statuses, a few
  USD customers, seasonality (Chinese New Year dip, 618, Double 11, year end) and 8 % growth;
* opportunities (each new customer's first deal plus upsell deals, won/lost), follow-up
  activities, tickets with response/resolution times (a staffing problem from April to August
  2025 doubles response times), satisfaction answers (CSAT, NPS), campaigns and members.

The landing layout and every deliberate mess (encodings, header languages, date and money
spellings, duplicates, unparseable values) are described in ``docs/demo_data.md``.

One module per domain: ``customers``, ``sales`` (products, orders and lines, opportunities),
``activities``, ``service`` (tickets, satisfaction), ``campaigns``; ``dirt`` holds the deliberate
bad rows, ``exports`` the landing layout and spellings per file style, ``formats`` how values are
written, ``timeline`` the calendar, ``columns`` index arrays as text columns. This module runs
them in order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from crm_pulse.demo.activities import write_activities
from crm_pulse.demo.campaigns import write_campaigns
from crm_pulse.demo.customers import simulate_customers, write_customers
from crm_pulse.demo.exports import COLUMNS, Exports
from crm_pulse.demo.sales import write_opportunities, write_orders, write_products
from crm_pulse.demo.service import write_tickets
from crm_pulse.demo.timeline import LAST_EXPORT, MONTH_STARTS


@dataclass
class DemoSummary:
    """What :func:`generate_demo` wrote."""

    out_dir: Path
    customers: int
    seed: int
    files: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # data rows written per entity (duplicates included)
    first_export: dt.date = MONTH_STARTS[0]
    last_export: dt.date = LAST_EXPORT
    mess: dict[str, int] = field(default_factory=dict)  # deliberate mess, by kind (see docs/demo_data.md)

    @property
    def export_dates(self) -> list[dt.date]:
        return sorted({dt.date.fromisoformat(p.parent.name) for p in self.files})


def generate_demo(out_dir: Path, customers: int = 2000, seed: int = 42) -> DemoSummary:
    """Write demo exports to ``<out_dir>/<source>/<YYYY-MM-DD>/<entity>.<ext>``.

    Deterministic: the same ``customers`` and ``seed`` give byte-identical files. Existing files
    with the same names are overwritten; nothing else in ``out_dir`` is touched.
    """
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 10:
        raise ValueError(f"customers must be an integer >= 10, got {customers!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    ex = Exports(Path(out_dir), customers, seed)
    c = simulate_customers(ex)
    write_products(ex)
    write_customers(ex, c)
    write_orders(ex, c)
    write_activities(ex, c)
    write_opportunities(ex, c)
    write_tickets(ex, c)
    write_campaigns(ex, c)
    return DemoSummary(out_dir=Path(out_dir), customers=customers, seed=seed, files=sorted(ex.files),
                       rows={e: ex.rows.get(e, 0) for e in COLUMNS}, mess=dict(sorted(ex.mess.items())))
