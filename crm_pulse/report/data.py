"""Read everything the report shows from the published marts (serving.duckdb, read-only).

Each function answers one question with SQL over the marts and returns plain Python values; the
business definitions live in the marts (dbt docs), this module only aggregates them to the
analysis period. A missing mart leaves its section empty (named in ``ReportData.missing``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from crm_pulse.report.periods import Period, _add_months


@dataclass(frozen=True)
class Kpi:
    key: str
    unit: str  # money | count | ratio | score | hours
    value: float | None
    previous: float | None
    higher_is_better: bool
    source: str  # mart(s) the number comes from

    @property
    def change(self) -> float | None:
        """Ratio and score KPIs: difference (points); others: relative change."""
        if self.value is None or self.previous is None:
            return None
        if self.unit in ("ratio", "score"):
            return self.value - self.previous
        return None if self.previous == 0 else self.value / self.previous - 1

    @property
    def adverse(self) -> bool | None:
        change = self.change
        # below what the report shows (0.05 points, 0.05 %, 0.05 NPS) is no change
        if change is None or abs(change) < (0.05 if self.unit == "score" else 0.0005):
            return None
        return (change < 0) if self.higher_is_better else (change > 0)


@dataclass
class ReportData:
    as_of: dt.date
    period: Period
    previous: Period
    refreshed_at: str | None = None
    load_id: str | None = None
    customers: int = 0
    completed_orders: int = 0
    first_order: dt.date | None = None
    last_order: dt.date | None = None
    kpis: list[Kpi] = field(default_factory=list)
    last_year_revenue: float | None = None
    churned: tuple[float | None, float | None] = (None, None)  # churned customers: period, previous
    industries: list[tuple[str, int]] = field(default_factory=list)
    revenue_trend: list[tuple[dt.date, float, float | None]] = field(default_factory=list)
    region_months: list[dt.date] = field(default_factory=list)
    region_revenue: list[tuple[str, list[float | None]]] = field(default_factory=list)
    rfm: list[tuple[str, int, float]] = field(default_factory=list)
    cohorts: list[tuple[dt.date, int, list[float | None]]] = field(default_factory=list)
    churn_reasons: list[tuple[str, int, int]] = field(default_factory=list)  # reason, period, previous
    churn_by_industry: list[tuple[str, int]] = field(default_factory=list)
    service: list[dict] = field(default_factory=list)  # per category
    service_total: dict = field(default_factory=dict)
    reps: list[dict] = field(default_factory=list)
    team_avg_rep_revenue: float | None = None
    dimension_changes: dict[str, list[tuple[str, float, float]]] = field(default_factory=dict)
    top_share: dict[str, tuple[str, float]] = field(default_factory=dict)
    at_risk: dict = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)

    def kpi(self, key: str) -> Kpi | None:
        return next((k for k in self.kpis if k.key == key), None)


class Marts:
    """Read-only access to the serving database; remembers which marts were asked for and missing."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.tables = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'main'"
            ).fetchall()
        }
        self.missing: set[str] = set()

    def has(self, *tables: str) -> bool:
        absent = [t for t in tables if t not in self.tables]
        self.missing.update(absent)
        return not absent

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def one(self, sql: str, params: list | None = None):
        row = self.con.execute(sql, params or []).fetchone()
        return row[0] if row and len(row) == 1 else row


def _f(value) -> float | None:
    return None if value is None else float(value)


def _div(a, b) -> float | None:
    return None if a is None or b in (None, 0) else float(a) / float(b)


# --- headline ---------------------------------------------------------------------------------------
def period_kpis(m: Marts, p: Period) -> dict[str, float | None]:
    """Every headline number of one period, aggregated from the marts."""
    out: dict[str, float | None] = {}
    if m.has("kpi_monthly"):
        r = m.one(
            """select sum(revenue), sum(orders), sum(new_customers), sum(high_value_revenue),
                            sum(churned_customers), count(*)
                     from kpi_monthly where month_start between ? and ?""",
            [p.start, p.end],
        )
        revenue, orders, new, high_value, churned, months = r
        start_row = m.one("select customers_at_start, churn_rate from kpi_monthly where month_start = ?", [p.start])
        end_row = m.one("select repeat_purchase_rate from kpi_monthly where month_start = ?", [p.months[-1]])
        has_data = bool(months)
        out["revenue"] = _f(revenue) if has_data else None
        out["orders"] = _f(orders) if has_data else None
        out["aov"] = _div(revenue, orders)
        out["new_customers"] = _f(new) if has_data else None
        out["high_value_share"] = _div(high_value, revenue)
        if start_row is None:
            out["churn_rate"] = None
        elif p.kind == "month":
            out["churn_rate"] = _f(start_row[1])
        else:  # churned during the quarter / customers at the quarter's start
            out["churn_rate"] = _div(churned, start_row[0])
        out["churned_customers"] = _f(churned) if has_data else None
        out["repeat_rate"] = _f(end_row) if end_row is not None else None
    if m.has("fct_orders"):
        out["buying_customers"] = _f(
            m.one(
                "select count(distinct customer_id) from fct_orders where is_completed and order_date between ? and ?",
                [p.start, p.end],
            )
        )
    if m.has("service_performance"):
        r = m.one(
            """select sum(nps * nps_responses) / nullif(sum(nps_responses), 0),
                            sum(csat_pct * csat_responses) / nullif(sum(csat_responses), 0)
                     from service_performance where period_type = ? and period_start = ?""",
            [p.kind, p.start],
        )
        out["nps"], out["csat"] = _f(r[0]), _div(r[1], 100)
    if m.has("fct_tickets"):
        out["first_response_hours"] = _f(
            m.one(
                "select median(first_response_hours) from fct_tickets where created_date between ? and ?",
                [p.start, p.end],
            )
        )
    return out


KPI_SPECS = [  # key, unit, higher is better, source
    ("revenue", "money", True, "kpi_monthly"),
    ("orders", "count", True, "kpi_monthly"),
    ("aov", "money", True, "kpi_monthly"),
    ("buying_customers", "count", True, "fct_orders"),
    ("new_customers", "count", True, "kpi_monthly"),
    ("churn_rate", "ratio", False, "kpi_monthly"),
    ("high_value_share", "ratio", True, "kpi_monthly"),
    ("repeat_rate", "ratio", True, "kpi_monthly"),
    ("nps", "score", True, "service_performance"),
    ("csat", "ratio", True, "service_performance"),
    ("first_response_hours", "hours", False, "fct_tickets"),
]


# --- chart data ---------------------------------------------------------------------------------------
def _industries(m: Marts) -> list[tuple[str, int]]:
    if not m.has("dim_customers"):
        return []
    return [
        (r[0], int(r[1]))
        for r in m.rows("select industry, count(*) from dim_customers group by industry order by 2 desc, 1")
    ]


def _revenue_trend(m: Marts, p: Period) -> list[tuple[dt.date, float, float | None]]:
    if not m.has("kpi_monthly"):
        return []
    start = _add_months(p.months[-1], -23)
    return [
        (r[0], float(r[1]), _f(r[2]))
        for r in m.rows(
            """select month_start, revenue, last_year_revenue from kpi_monthly
           where month_start between ? and ? order by month_start""",
            [start, p.end],
        )
    ]


def _region_heat(m: Marts, p: Period, top: int = 10):
    if not m.has("sales_performance"):
        return [], []
    months = [_add_months(p.months[-1], -i) for i in range(11, -1, -1)]
    rows = m.rows(
        """select region, period_start, sum(revenue) from sales_performance
                     where period_type = 'month' and period_start between ? and ?
                     group by region, period_start""",
        [months[0], p.end],
    )
    totals: dict[str, float] = {}
    cells: dict[tuple[str, dt.date], float] = {}
    for region, month, revenue in rows:
        totals[region] = totals.get(region, 0.0) + float(revenue)
        cells[(region, month)] = float(revenue)
    regions = sorted(totals, key=lambda r: -totals[r])[:top]
    return months, [(r, [cells.get((r, mo), 0.0) for mo in months]) for r in regions]


def _rfm(m: Marts) -> list[tuple[str, int, float]]:
    if not m.has("customer_rfm"):
        return []
    return [
        (r[0], int(r[1]), float(r[2]))
        for r in m.rows("select rfm_segment, count(*), sum(monetary) from customer_rfm group by 1 order by 3 desc")
    ]


def _cohorts(m: Marts, p: Period, n: int = 12):
    if not m.has("cohort_retention"):
        return []
    last = p.months[-1]
    first = _add_months(last, -(n - 1))
    rows = m.rows(
        """select cohort_month, months_since_first_order, cohort_size, retention_rate
                     from cohort_retention
                     where cohort_month between ? and ? and activity_month <= ? and months_since_first_order < ?
                     order by cohort_month, months_since_first_order""",
        [first, last, last, n],
    )
    grid: dict[dt.date, tuple[int, list[float | None]]] = {}
    for cohort, k, size, rate in rows:
        grid.setdefault(cohort, (int(size), [None] * n))[1][int(k)] = _f(rate)
    return [(c, size, vals) for c, (size, vals) in sorted(grid.items())]


def _churn(m: Marts, p: Period, q: Period):
    if not m.has("churn_summary"):
        return [], []
    rows = m.rows(
        """select dimension_value,
                            sum(case when period_month between ? and ? then churned_customers else 0 end),
                            sum(case when period_month between ? and ? then churned_customers else 0 end)
                     from churn_summary where dimension = 'reason' and period_month between ? and ?
                     group by 1 order by 2 desc, 3 desc, 1""",
        [p.start, p.end, q.start, q.end, q.start, p.end],
    )
    reasons = [(r[0], int(r[1]), int(r[2])) for r in rows if r[1] or r[2]]
    industry = [
        (r[0], int(r[1]))
        for r in m.rows(
            """select dimension_value, sum(churned_customers) from churn_summary
           where dimension = 'industry' and period_month between ? and ?
           group by 1 having sum(churned_customers) > 0 order by 2 desc, 1""",
            [p.start, p.end],
        )
    ]
    return reasons, industry


def _service(m: Marts, p: Period):
    if not m.has("fct_tickets"):
        return [], {}
    rows = m.rows(
        """select category, count(*), median(first_response_hours), quantile_cont(first_response_hours, 0.9),
                            median(resolution_hours), avg(case when is_first_response_sla_breached then 1.0 else 0.0 end),
                            avg(case when is_resolution_sla_breached then 1.0 else 0.0 end),
                            sum(case when is_complaint then 1 else 0 end)
                     from fct_tickets where created_date between ? and ?
                     group by category order by 2 desc, 1""",
        [p.start, p.end],
    )
    keys = (
        "category",
        "tickets",
        "first_response_median",
        "first_response_p90",
        "resolution_median",
        "first_response_breach_rate",
        "resolution_breach_rate",
        "complaints",
    )
    per_category = [dict(zip(keys, (r[0], int(r[1]), *(_f(v) for v in r[2:7]), int(r[7])))) for r in rows]
    total = m.one(
        """select count(*), avg(case when is_first_response_sla_breached then 1.0 else 0.0 end),
                            avg(case when is_resolution_sla_breached then 1.0 else 0.0 end)
                     from fct_tickets where created_date between ? and ?""",
        [p.start, p.end],
    )
    return per_category, {
        "tickets": int(total[0]),
        "first_response_breach_rate": _f(total[1]),
        "resolution_breach_rate": _f(total[2]),
    }


def _reps(m: Marts, p: Period, unknown: str):
    if not m.has("sales_performance"):
        return [], None
    rows = m.rows(
        """select sales_rep, max(rep_period_revenue), max(team_avg_rep_revenue), max(rep_vs_team_avg)
                     from sales_performance where period_type = ? and period_start = ?
                     group by sales_rep order by 4, 1""",
        [p.kind, p.start],
    )
    team_avg = _f(rows[0][2]) if rows else None
    reps = [{"rep": r[0], "revenue": _f(r[1]), "vs_team": _f(r[3])} for r in rows if r[0] != unknown]
    return reps, team_avg


def _dimension_changes(m: Marts, p: Period, q: Period):
    """Revenue per region / industry in both periods and the top contributor's share."""
    if not m.has("sales_performance"):
        return {}, {}
    changes, top = {}, {}
    for dim in ("region", "industry"):
        rows = m.rows(
            f"""select {dim},
                                 sum(case when period_start = ? then revenue else 0 end),
                                 sum(case when period_start = ? then revenue else 0 end)
                          from sales_performance where period_type = ? and period_start in (?, ?)
                          group by 1""",
            [p.start, q.start, p.kind, p.start, q.start],
        )
        changes[dim] = sorted(((r[0], float(r[1]), float(r[2])) for r in rows), key=lambda x: x[1] - x[2])
        total = sum(r[1] for r in changes[dim])
        if total > 0:
            best = max(changes[dim], key=lambda x: x[1])
            top[dim] = (best[0], best[1] / total)
    return changes, top


def _at_risk(m: Marts) -> dict:
    if not m.has("churn_risk"):
        return {}
    r = m.one("""select count(*), sum(case when is_followup_drop then 1 else 0 end),
                        sum(case when is_purchase_gap then 1 else 0 end)
                 from churn_risk where is_flagged""")
    owners = m.rows("""select owner_rep, count(*) from churn_risk where is_flagged
                       group by 1 order by 2 desc, 1 limit 3""")
    return {
        "flagged": int(r[0] or 0),
        "followup_drop": int(r[1] or 0),
        "purchase_gap": int(r[2] or 0),
        "owners": [(o[0], int(o[1])) for o in owners],
    }


def load(serving_db: Path, as_of: dt.date, period: Period, unknown_label: str) -> ReportData:
    """The report's numbers from the published marts; ``unknown_label`` is the dbt var that marks
    missing attributes (``business_vars()``)."""
    from crm_pulse.warehouse.connection import connect

    con = connect(serving_db, read_only=True)
    try:
        m = Marts(con)
        previous = period.previous()
        data = ReportData(as_of=as_of, period=period, previous=previous)
        for table in ("kpi_monthly", "fct_orders", "dim_customers"):
            if table in m.tables:
                data.refreshed_at, data.load_id = (
                    None if v is None else str(v) for v in m.one(f"select max(refreshed_at), max(load_id) from {table}")
                )
                break
        if m.has("dim_customers"):
            data.customers = int(m.one("select count(*) from dim_customers"))
        if m.has("fct_orders"):
            n, first, last = m.one(
                "select count(*), min(order_date), max(order_date) from fct_orders where is_completed"
            )
            data.completed_orders, data.first_order, data.last_order = int(n), first, last
        now, before = period_kpis(m, period), period_kpis(m, previous)
        data.kpis = [
            Kpi(key, unit, now.get(key), before.get(key), better, source) for key, unit, better, source in KPI_SPECS
        ]
        data.last_year_revenue = (
            period_kpis(m, period.last_year()).get("revenue") if "kpi_monthly" in m.tables else None
        )
        data.churned = (now.get("churned_customers"), before.get("churned_customers"))
        data.industries = _industries(m)
        data.revenue_trend = _revenue_trend(m, period)
        data.region_months, data.region_revenue = _region_heat(m, period)
        data.rfm = _rfm(m)
        data.cohorts = _cohorts(m, period)
        data.churn_reasons, data.churn_by_industry = _churn(m, period, previous)
        data.service, data.service_total = _service(m, period)
        data.reps, data.team_avg_rep_revenue = _reps(m, period, unknown_label)
        data.dimension_changes, data.top_share = _dimension_changes(m, period, previous)
        data.at_risk = _at_risk(m)
        data.missing = m.missing
        return data
    finally:
        con.close()
