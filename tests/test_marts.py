"""Every metric mart, checked against values recomputed independently from the demo exports.

The expected values come from tests/oracle.py (its own reader and parser of the landing files) and
plain Python / pandas below, never from the project's SQL. Money is compared exactly to the cent
(``Decimal``), ratios and hours to 1e-9.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import json
import math
import shutil
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests import oracle
from tests.harness import run_pipeline

ROOT = Path(__file__).resolve().parent.parent
UNKNOWN = "待补充"
CENT = Decimal("0.01")
VARS = yaml.safe_load((ROOT / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]


# ----------------------------------------------------------------------------------------------
# independent re-computation helpers


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def day(value) -> dt.date | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value.date() if isinstance(value, dt.datetime) else value


def month_start(value: dt.date) -> dt.date:
    return value.replace(day=1)


def quarter_start(value: dt.date) -> dt.date:
    return dt.date(value.year, 3 * ((value.month - 1) // 3) + 1, 1)


def add_months(value: dt.date, months: int) -> dt.date:
    index = value.year * 12 + value.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(value.day, calendar.monthrange(year, month + 1)[1]))


def ntile(keys: list, buckets: int = 5) -> dict:
    """SQL ntile(buckets) over the already sorted keys: sizes differ by at most one, larger first."""
    size, extra = divmod(len(keys), buckets)
    out, position = {}, 0
    for bucket in range(1, buckets + 1):
        count = size + (1 if bucket <= extra else 0)
        for key in keys[position:position + count]:
            out[key] = bucket
        position += count
    return out


def ratio(numerator, denominator):
    return None if not denominator else float(numerator) / float(denominator)


def close(a, b, tol=1e-9) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        none_a = a is None or (isinstance(a, float) and math.isnan(a))
        none_b = b is None or (isinstance(b, float) and math.isnan(b))
        return none_a and none_b
    return abs(float(a) - float(b)) <= tol * max(1.0, abs(float(b)))


def is_null(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


class Truth:
    """Clean, de-duplicated source entities of the demo exports, as of the analysis date."""

    def __init__(self, landing: Path, as_of: dt.date):
        self.as_of = as_of
        rates = {}
        with open(ROOT / "dbt_project" / "seeds" / "fx_rates.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                rates[row["currency"]] = Decimal(row["rate_to_reporting"])

        def load(source, entity, key):
            return oracle.latest(oracle.clean_rows(landing, source, entity), key)

        orders = load("erp", "orders", ["order_id"])
        orders["day"] = orders["order_date"].map(day)
        orders = orders[orders["day"] <= as_of].copy()
        orders["currency"] = orders["currency"].fillna("CNY").str.upper()
        orders["amount_reporting"] = [(a * rates[c]).quantize(CENT, rounding=ROUND_HALF_UP)
                                      for a, c in zip(orders["amount"], orders["currency"])]
        orders["revenue"] = [a if s == "completed" else Decimal(0)
                             for a, s in zip(orders["amount_reporting"], orders["status"])]
        orders["sales_rep"] = orders["sales_rep"].fillna(UNKNOWN)
        self.orders = orders
        self.completed = orders[orders["status"] == "completed"].copy()

        all_customer_versions = oracle.clean_rows(landing, "crm", "customers")
        customers = oracle.latest(all_customer_versions, ["customer_id"])
        customers["start"] = [day(f) or day(c) for f, c in zip(customers["first_deal_date"], customers["created_at"])]
        customers = customers[[s is None or s <= as_of for s in customers["start"]]].copy()
        for column in ("industry", "region", "owner_rep"):
            customers[column] = customers[column].fillna(UNKNOWN)
        customers["company_size"] = customers["company_size"].fillna("unknown")
        self.customers = customers.set_index("customer_id", drop=False)
        lost = all_customer_versions[(all_customer_versions["status"] == "lost")
                                     & (all_customer_versions["_export_date"] <= as_of)]
        self.lost_marked = lost.groupby("customer_id")["_export_date"].min().to_dict()

        all_crm = oracle.latest(all_customer_versions, ["customer_id"]).set_index("customer_id")
        self.region_of = {c: (r if isinstance(r, str) else UNKNOWN) for c, r in all_crm["region"].items()}
        self.industry_of = {c: (r if isinstance(r, str) else UNKNOWN) for c, r in all_crm["industry"].items()}

        tickets = load("ticketing", "tickets", ["ticket_id"])
        tickets["day"] = tickets["created_at"].map(day)
        tickets = tickets[tickets["day"] <= as_of].copy()
        tickets["category"] = tickets["category"].fillna("unknown")
        tickets["channel"] = tickets["channel"].fillna(UNKNOWN)
        tickets["is_complaint"] = tickets["is_complaint"].map(lambda v: bool(v) if v is not None and not is_null(v) else False)
        self.tickets = tickets

        responses = load("ticketing", "satisfaction", ["response_id"])
        responses["day"] = responses["responded_at"].map(day)
        self.responses = responses[responses["day"] <= as_of].copy()

        activities = load("crm", "activities", ["activity_id"])
        activities["day"] = activities["activity_at"].map(day)
        self.activities = activities

        self.opportunities = load("crm", "opportunities", ["opportunity_id"])
        self.campaigns = load("crm", "campaigns", ["campaign_id"])
        self.members = load("crm", "campaign_members", ["campaign_id", "customer_id"])

    # -- derived per-customer facts ------------------------------------------------------------
    def history(self) -> dict[str, dict]:
        out = {}
        for customer, group in self.completed.groupby("customer_id"):
            days = sorted(group["day"])
            out[customer] = {"first": days[0], "last": days[-1], "orders": len(group),
                             "purchase_days": len(set(days)), "revenue": sum(group["revenue"], Decimal(0))}
        return out

    def lifecycle(self, params: dict = VARS) -> dict[str, tuple[str, dt.date | None]]:
        """customer -> (lifecycle stage, churn date) by the documented rules."""
        history, as_of, out = self.history(), self.as_of, {}
        for row in self.customers.itertuples():
            h = history.get(row.customer_id)
            deal, created = day(row.first_deal_date), day(row.created_at)
            since_last = (as_of - h["last"]).days if h else None
            start = (h["first"] if h else None) or deal or created
            since_start = (as_of - start).days if start else None
            gap = since_last if since_last is not None else since_start
            if row.status == "lost":
                stage = "churned"
            elif gap is not None and gap > params["churn_days"]:
                stage = "churned"
            elif since_start is not None and since_start <= params["new_customer_days"]:
                stage = "new"
            elif gap is not None and gap > params["at_risk_days"]:
                stage = "at_risk"
            else:
                stage = "active"
            churn_date = None
            if stage == "churned":
                anchor = (h["last"] if h else None) or deal or created
                inactive = anchor + dt.timedelta(days=params["churn_days"] + 1) if anchor else None
                inactive = inactive if inactive and inactive <= as_of else None
                marked = self.lost_marked.get(row.customer_id) if row.status == "lost" else None
                candidates = [d for d in (marked, inactive) if d is not None]
                churn_date = min(candidates) if candidates else None
            out[row.customer_id] = (stage, churn_date)
        return out


@pytest.fixture(scope="module")
def truth(demo_run) -> Truth:
    return Truth(demo_run.landing, demo_run.settings.resolved_as_of())


def rows(run, sql: str) -> list:
    return list(run.query(sql).itertuples(index=False))


# ----------------------------------------------------------------------------------------------
# fct_orders, fct_tickets


def test_fct_orders_amounts_and_revenue_by_status(demo_run, truth):
    got = {r.order_id: r for r in rows(demo_run, "select order_id, order_status, amount_reporting, revenue from fct_orders")}
    assert set(got) == set(truth.orders["order_id"])
    for order in truth.orders.itertuples():
        assert money(got[order.order_id].amount_reporting) == order.amount_reporting, order.order_id
    by_status = truth.orders.groupby("status")["revenue"].apply(lambda s: sum(s, Decimal(0))).to_dict()
    got_status = {r.order_status: money(r.revenue) for r in rows(
        demo_run, "select order_status, sum(revenue) as revenue from fct_orders group by 1")}
    assert got_status == by_status
    assert got_status["completed"] > 0 and got_status.get("refunded", Decimal(0)) == 0
    assert {"cancelled", "refunded"} <= set(by_status)


def test_fct_tickets_hours_and_sla_flags(demo_run, truth):
    got = {r.ticket_id: r for r in rows(demo_run, "select * from fct_tickets")}
    assert set(got) == set(truth.tickets["ticket_id"])
    end_of_day = dt.datetime.combine(truth.as_of + dt.timedelta(days=1), dt.time())
    breaches = Counter()
    for t in truth.tickets.itertuples():
        created = t.created_at.to_pydatetime() if isinstance(t.created_at, pd.Timestamp) else t.created_at
        responded = None if is_null(t.first_response_at) else pd.Timestamp(t.first_response_at).to_pydatetime()
        resolved = None if is_null(t.resolved_at) else pd.Timestamp(t.resolved_at).to_pydatetime()
        first = (responded - created).total_seconds() / 3600 if responded else None
        resolution = (resolved - created).total_seconds() / 3600 if resolved else None
        age = (end_of_day - created).total_seconds() / 3600
        assert close(got[t.ticket_id].first_response_hours, first), t.ticket_id
        assert close(got[t.ticket_id].resolution_hours, resolution), t.ticket_id
        fr_breach = (first if first is not None else age) > VARS["sla_first_response_hours"]
        res_breach = (resolution if resolution is not None else age) > VARS["sla_resolution_hours"]
        assert bool(got[t.ticket_id].is_first_response_sla_breached) == fr_breach, t.ticket_id
        assert bool(got[t.ticket_id].is_resolution_sla_breached) == res_breach, t.ticket_id
        breaches["fr"] += fr_breach
        breaches["res"] += res_breach
    assert 0 < breaches["fr"] < len(got) and 0 < breaches["res"] < len(got)


# ----------------------------------------------------------------------------------------------
# dim_customers, customer_rfm, customer_value


def test_dim_customers_lifecycle_and_churn_date(demo_run, truth):
    expected = truth.lifecycle()
    got = {r.customer_id: (r.lifecycle_stage, day(r.churn_date)) for r in rows(
        demo_run, "select customer_id, lifecycle_stage, churn_date from dim_customers")}
    assert got == expected
    assert set(s for s, _ in expected.values()) == {"new", "active", "at_risk", "churned"}


def test_dim_customers_ticket_counts_and_csat(demo_run, truth):
    tickets = truth.tickets.groupby("customer_id").agg(n=("ticket_id", "size"), complaints=("is_complaint", "sum"))
    answered = truth.responses[truth.responses["csat"].notna()]
    csat = answered.groupby("customer_id")["csat"].apply(lambda s: sum(int(v) for v in s) / len(s)).to_dict()
    got = rows(demo_run, "select customer_id, ticket_count, complaint_count, csat_avg from dim_customers")
    for r in got:
        assert r.ticket_count == (tickets.n.get(r.customer_id, 0)), r.customer_id
        assert r.complaint_count == (tickets.complaints.get(r.customer_id, 0)), r.customer_id
        assert close(None if is_null(r.csat_avg) else r.csat_avg, csat.get(r.customer_id)), r.customer_id
    assert sum(r.ticket_count for r in got) > 0 and sum(not is_null(r.csat_avg) for r in got) > 10


def test_customer_rfm_scores_and_segments(demo_run, truth):
    as_of = truth.as_of
    window = truth.completed[truth.completed["day"] > as_of - dt.timedelta(days=VARS["rfm_window_days"])]
    agg = {c: {"recency": (as_of - g["day"].max()).days, "frequency": len(g), "monetary": sum(g["revenue"], Decimal(0))}
           for c, g in window.groupby("customer_id")}
    ids = sorted(agg)
    r = ntile(sorted(ids, key=lambda c: (-agg[c]["recency"], c)))
    f = ntile(sorted(ids, key=lambda c: (agg[c]["frequency"], c)))
    m = ntile(sorted(ids, key=lambda c: (agg[c]["monetary"], c)))
    with open(ROOT / "dbt_project" / "seeds" / "rfm_segments.csv", encoding="utf-8") as fh:
        rules = sorted(csv.DictReader(fh), key=lambda row: int(row["priority"]))

    def segment(rs, fs, ms):
        for rule in rules:
            if (int(rule["r_min"]) <= rs <= int(rule["r_max"]) and int(rule["f_min"]) <= fs <= int(rule["f_max"])
                    and int(rule["m_min"]) <= ms <= int(rule["m_max"])):
                return rule["segment"]
        return "Others"

    got = {x.customer_id: x for x in rows(demo_run, "select * from customer_rfm")}
    assert set(got) == set(ids)
    for c in ids:
        g = got[c]
        assert (g.frequency, money(g.monetary)) == (agg[c]["frequency"], agg[c]["monetary"]), c
        assert (g.r_score, g.f_score, g.m_score) == (r[c], f[c], m[c]), c
        assert g.rfm_segment == segment(r[c], f[c], m[c]), c
        hits = sum([agg[c]["recency"] <= VARS["rfm_high_value_recency_days"],
                    agg[c]["frequency"] >= VARS["rfm_high_value_min_frequency"],
                    agg[c]["monetary"] >= VARS["rfm_high_value_min_monetary"]])
        assert g.value_tier == {3: "high", 2: "medium"}.get(hits, "low"), c
    assert Counter(r.values()) == Counter(ntile(ids).values())  # every quintile filled


def test_customer_value_recent_revenue_and_score(demo_run, truth):
    as_of = truth.as_of
    since = add_months(as_of, -VARS["value_revenue_months"])
    recent = truth.completed[truth.completed["day"] > since].groupby("customer_id")["revenue"].apply(
        lambda s: sum(s, Decimal(0))).to_dict()
    history = truth.history()
    tenure = {}
    for row in truth.customers.itertuples():
        start = day(row.first_deal_date) or (history[row.customer_id]["first"] if row.customer_id in history else None)
        tenure[row.customer_id] = (as_of - start).days if start else None
    revenue = {c: recent.get(c, Decimal(0)) for c in truth.customers.index}
    lo_r, hi_r = min(revenue.values()), max(revenue.values())
    known = [t for t in tenure.values() if t is not None]
    lo_t, hi_t = min(known), max(known)
    got = {x.customer_id: x for x in rows(demo_run, "select * from customer_value")}
    assert set(got) == set(truth.customers.index)
    for c, g in got.items():
        assert money(g.recent_revenue) == revenue[c], c
        assert money(g.historical_revenue) == (history[c]["revenue"] if c in history else Decimal(0)), c
        score = None
        if tenure[c] is not None:
            score = (VARS["value_weight_revenue"] * float(revenue[c] - lo_r) / float(hi_r - lo_r)
                     + VARS["value_weight_tenure"] * (tenure[c] - lo_t) / (hi_t - lo_t))
        assert close(None if is_null(g.value_score) else g.value_score, score), c
    assert sum(1 for v in revenue.values() if v > 0) > 10


# ----------------------------------------------------------------------------------------------
# sales_performance, cohort_retention, kpi_monthly


def test_sales_performance_revenue_reconciles_and_growth(demo_run, truth):
    done = truth.completed.copy()
    done["region"] = done["customer_id"].map(lambda c: truth.region_of.get(c, UNKNOWN))
    done["industry"] = done["customer_id"].map(lambda c: truth.industry_of.get(c, UNKNOWN))
    done["month"] = done["day"].map(month_start)
    cells = defaultdict(lambda: [Decimal(0), 0])
    for o in done.itertuples():
        cell = cells[(o.month, o.sales_rep, o.region, o.industry)]
        cell[0] += o.revenue
        cell[1] += 1
    got = {(day(x.period_start), x.sales_rep, x.region, x.industry): x for x in rows(
        demo_run, "select * from sales_performance where period_type = 'month'")}
    first_month = min(done["month"])
    for key, (revenue, orders) in cells.items():
        g = got[key]
        assert money(g.revenue) == revenue and g.orders == orders, key
        assert money(g.average_order_value) == (revenue / orders).quantize(CENT, rounding=ROUND_HALF_UP), key
        last_year_month = add_months(key[0], -12)
        if last_year_month < first_month:
            assert is_null(g.last_year_revenue) and is_null(g.revenue_growth_vs_last_year), key
        else:
            ly = cells.get((last_year_month, *key[1:]), [Decimal(0)])[0]
            assert money(g.last_year_revenue) == ly, key
            assert close(None if is_null(g.revenue_growth_vs_last_year) else g.revenue_growth_vs_last_year,
                         ratio(revenue - ly, ly)), key
    assert all(money(g.revenue) == 0 for k, g in got.items() if k not in cells)
    # reconciliation: per period, total = sum over reps = the fct_orders revenue
    per_year = rows(demo_run, "select period_start, sum(revenue) as total, max(team_period_revenue) as team "
                              "from sales_performance where period_type = 'year' group by 1")
    for p in per_year:
        expected = sum(done[done["day"].map(lambda d: d.year) == day(p.period_start).year]["revenue"], Decimal(0))
        assert money(p.total) == expected == money(p.team), p.period_start


def test_sales_performance_win_rate_and_rep_vs_team(demo_run, truth):
    opps = truth.opportunities.copy()
    opps["close_day"] = opps["close_date"].map(day)
    opps = opps[[d is not None and d <= truth.as_of for d in opps["close_day"]]]
    opps["won"] = opps["is_won"].map(lambda v: bool(v) if not is_null(v) else False)
    opps["owner_rep"] = opps["owner_rep"].fillna(UNKNOWN)
    expected = {}
    for (year, rep), g in opps.groupby([opps["close_day"].map(lambda d: d.year), "owner_rep"]):
        expected[(year, rep)] = (len(g), int(g["won"].sum()))
    got = {(day(x.period_start).year, x.sales_rep): (x.closed, x.won) for x in rows(
        demo_run, "select period_start, sales_rep, sum(closed_opportunities) as closed, "
                  "sum(won_opportunities) as won from sales_performance where period_type = 'year' group by 1, 2")}
    assert {k: v for k, v in got.items() if v[0]} == expected
    # rep vs team average, quarterly
    done = truth.completed.copy()
    done["quarter"] = done["day"].map(quarter_start)
    for quarter, g in done.groupby("quarter"):
        by_rep = g.groupby("sales_rep")["revenue"].apply(lambda s: sum(s, Decimal(0)))
        team_avg = sum(by_rep, Decimal(0)) / len(by_rep[by_rep > 0])
        sql = (f"select distinct sales_rep, rep_vs_team_avg, team_rep_count from sales_performance "
               f"where period_type = 'quarter' and period_start = '{quarter.isoformat()}'")
        for x in rows(demo_run, sql):
            if x.sales_rep in by_rep:
                assert x.team_rep_count == len(by_rep[by_rep > 0])
                assert close(x.rep_vs_team_avg, float(by_rep[x.sales_rep] / team_avg)), (quarter, x.sales_rep)


def test_cohort_retention_sizes_activity_and_revenue(demo_run, truth):
    done = truth.completed.copy()
    done["month"] = done["day"].map(month_start)
    cohort_of = done.groupby("customer_id")["month"].min()
    done["cohort"] = done["customer_id"].map(cohort_of)
    sizes = Counter(cohort_of.values)
    got = {(day(x.cohort_month), x.months_since_first_order): x for x in rows(demo_run, "select * from cohort_retention")}
    last_month = month_start(truth.as_of)
    expected_keys = set()
    for cohort in sizes:
        n = (last_month.year - cohort.year) * 12 + last_month.month - cohort.month
        expected_keys |= {(cohort, k) for k in range(n + 1)}
    assert set(got) == expected_keys
    cells = done.groupby(["cohort", "month"])
    for (cohort, month), g in cells:
        k = (month.year - cohort.year) * 12 + month.month - cohort.month
        x = got[(cohort, k)]
        assert x.cohort_size == sizes[cohort]
        assert x.active_customers == g["customer_id"].nunique(), (cohort, k)
        assert money(x.revenue) == sum(g["revenue"], Decimal(0)), (cohort, k)
        assert close(x.retention_rate, g["customer_id"].nunique() / sizes[cohort])
    assert sum(x.active_customers for x in got.values() if x.months_since_first_order == 0) == len(cohort_of)


def test_kpi_monthly_revenue_customers_and_survey_scores(demo_run, truth):
    done = truth.completed.copy()
    done["month"] = done["day"].map(month_start)
    got = {day(x.month_start): x for x in rows(demo_run, "select * from kpi_monthly")}
    months = sorted(got)
    assert months[-1] == month_start(truth.as_of)
    assert all(add_months(a, 1) == b for a, b in zip(months, months[1:]))  # no gaps
    first_order = done.groupby("customer_id")["month"].min()
    revenue = done.groupby("month")["revenue"].apply(lambda s: sum(s, Decimal(0))).to_dict()
    for month in months:
        x, g = got[month], done[done["month"] == month]
        assert money(x.revenue) == revenue.get(month, Decimal(0)), month
        assert x.orders == len(g) and x.active_customers == g["customer_id"].nunique(), month
        assert x.new_customers == int((first_order == month).sum()), month
        previous = revenue.get(add_months(month, -1), Decimal(0)) if add_months(month, -1) in got else None
        assert close(None if is_null(x.revenue_growth_mom) else x.revenue_growth_mom,
                     None if previous is None else ratio(revenue.get(month, Decimal(0)) - previous, previous)), month
        to_date = done[done["day"] <= add_months(month, 1) - dt.timedelta(days=1)].groupby("customer_id").size()
        assert close(x.repeat_purchase_rate, ratio((to_date >= 2).sum(), len(to_date))), month
        answers = truth.responses[truth.responses["day"].map(month_start) == month]
        csat = answers["csat"].dropna().astype(int)
        nps = answers["nps"].dropna().astype(int)
        assert close(None if is_null(x.csat_pct) else x.csat_pct, None if not len(csat) else 100 * (csat >= 4).sum() / len(csat))
        assert close(None if is_null(x.nps) else x.nps,
                     None if not len(nps) else 100 * ((nps >= 9).sum() - (nps <= 6).sum()) / len(nps))


# ----------------------------------------------------------------------------------------------
# churn_summary, churn_risk


def test_churn_summary_monthly_counts_and_rates(demo_run, truth):
    states = truth.lifecycle()
    churned = {c: d for c, (_, d) in states.items() if d is not None}
    since = {}
    history = truth.history()
    for row in truth.customers.itertuples():
        since[row.customer_id] = (day(row.first_deal_date) or day(row.created_at)
                                  or (history[row.customer_id]["first"] if row.customer_id in history else None))
    got = {(day(x.period_month), x.dimension, x.dimension_value): x for x in rows(demo_run, "select * from churn_summary")}
    months = sorted({k[0] for k in got if k[1] == "all"})
    assert len(months) >= 12
    for month in months:
        end = add_months(month, 1) - dt.timedelta(days=1)
        at_start = [c for c in since if (since[c] is None or since[c] < month)
                    and (churned.get(c) is None or churned[c] >= month)]
        lost = [c for c, d in churned.items() if month <= d <= end]
        x = got[(month, "all", "all")]
        assert (x.customers_at_start, x.churned_customers) == (len(at_start), len(lost)), month
        assert close(None if is_null(x.churn_rate) else x.churn_rate, ratio(len(lost), len(at_start)))
        by_industry = Counter(truth.customers.loc[c, "industry"] for c in lost)
        for industry, n in by_industry.items():
            assert got[(month, "industry", industry)].churned_customers == n, (month, industry)
    assert sum(got[(m, "all", "all")].churned_customers for m in months) == sum(
        1 for d in churned.values() if d >= months[0])


def test_churn_risk_followups_and_purchase_gap(demo_run, truth):
    as_of, window = truth.as_of, VARS["warning_window_days"]
    states = truth.lifecycle()
    history = truth.history()
    recent_start = as_of - dt.timedelta(days=window)
    prior_start = as_of - dt.timedelta(days=2 * window)
    acts = truth.activities[(truth.activities["day"] > prior_start) & (truth.activities["day"] <= as_of)]
    recent = Counter(acts[acts["day"] > recent_start]["customer_id"])
    prior = Counter(acts[acts["day"] <= recent_start]["customer_id"])
    got = {x.customer_id: x for x in rows(demo_run, "select * from churn_risk")}
    assert set(got) == {c for c, (s, _) in states.items() if s != "churned"}
    fired = Counter()
    for c, x in got.items():
        assert (x.recent_followups, x.prior_followups) == (recent[c], prior[c]), c
        drop = (prior[c] - recent[c]) / prior[c] if prior[c] else None
        assert bool(x.is_followup_drop) == (drop is not None and drop >= VARS["warning_followup_drop"]), c
        h = history.get(c)
        cycle = (h["last"] - h["first"]).days / (h["purchase_days"] - 1) if h and h["purchase_days"] >= 2 else None
        assert close(None if is_null(x.usual_purchase_cycle_days) else x.usual_purchase_cycle_days, cycle), c
        gap = bool(cycle) and (as_of - h["last"]).days / cycle > VARS["warning_cycle_factor"]
        assert bool(x.is_purchase_gap) == gap, c
        fired["drop"] += bool(x.is_followup_drop)
        fired["gap"] += gap
        assert ("followup_drop;" in x.signals) == bool(x.is_followup_drop)
        assert ("purchase_gap;" in x.signals) == gap
    assert fired["drop"] > 0 and fired["gap"] > 0


# ----------------------------------------------------------------------------------------------
# service_performance, campaign_performance


def test_service_performance_volumes_times_and_scores(demo_run, truth):
    t = truth.tickets.copy()
    t["month"] = t["day"].map(month_start)
    t["quarter"] = t["day"].map(quarter_start)
    t["first_hours"] = [None if is_null(r) else (pd.Timestamp(r) - pd.Timestamp(c)).total_seconds() / 3600
                        for c, r in zip(t["created_at"], t["first_response_at"])]
    got = {(x.period_type, day(x.period_start), x.category, x.channel): x for x in rows(demo_run, "select * from service_performance")}
    for (month, cat, chan), g in t.groupby(["month", "category", "channel"]):
        x = got[("month", month, cat, chan)]
        assert (x.tickets, x.complaints) == (len(g), int(g["is_complaint"].sum())), (month, cat, chan)
        assert x.resolved_tickets == int(g["resolved_at"].notna().sum())
    for (quarter, cat, chan), g in t.groupby(["quarter", "category", "channel"]):
        x = got[("quarter", quarter, cat, chan)]
        hours = pd.Series([h for h in g["first_hours"] if h is not None], dtype=float)
        assert close(x.first_response_hours_median, hours.quantile(0.5) if len(hours) else None), (quarter, cat, chan)
        assert close(x.first_response_hours_p90, hours.quantile(0.9) if len(hours) else None), (quarter, cat, chan)
    # survey answers: period of the answer, category / channel of the ticket
    ticket_of = t.set_index("ticket_id")
    answers = truth.responses.copy()
    answers["category"] = [ticket_of.at[i, "category"] if i in ticket_of.index else UNKNOWN for i in answers["ticket_id"]]
    answers["channel"] = [ticket_of.at[i, "channel"] if i in ticket_of.index else UNKNOWN for i in answers["ticket_id"]]
    answers["month"] = answers["day"].map(month_start)
    checked = 0
    for (month, cat, chan), g in answers.groupby(["month", "category", "channel"]):
        x = got[("month", month, cat, chan)]
        csat = g["csat"].dropna().astype(int)
        nps = g["nps"].dropna().astype(int)
        assert close(None if is_null(x.csat_pct) else x.csat_pct, 100 * (csat >= 4).sum() / len(csat) if len(csat) else None)
        assert close(None if is_null(x.nps) else x.nps,
                     100 * ((nps >= 9).sum() - (nps <= 6).sum()) / len(nps) if len(nps) else None)
        checked += 1
    assert checked > 20


def test_campaign_performance_funnel_and_attribution(demo_run, truth):
    as_of, days = truth.as_of, VARS["campaign_attribution_days"]
    campaigns = truth.campaigns[truth.campaigns["start_date"].map(day) <= as_of]
    members = truth.members[truth.members["campaign_id"].isin(set(campaigns["campaign_id"]))].copy()
    members["converted_day"] = members["converted_at"].map(lambda v: None if is_null(v) else day(v))
    first_order = truth.completed.groupby("customer_id")["day"].min().to_dict()
    conversions = defaultdict(list)
    for m in members.itertuples():
        if m.converted_day is not None:
            conversions[m.customer_id].append((m.converted_day, m.campaign_id))
    attributed = defaultdict(lambda: Decimal(0))
    for o in truth.completed.itertuples():
        touches = [(d, c) for d, c in conversions.get(o.customer_id, []) if d <= o.day <= d + dt.timedelta(days=days)]
        if touches:
            attributed[max(touches)[1]] += o.revenue
    got = {x.campaign_id: x for x in rows(demo_run, "select * from campaign_performance")}
    assert set(got) == set(campaigns["campaign_id"])
    for camp in campaigns.itertuples():
        g = members[members["campaign_id"] == camp.campaign_id]
        x = got[camp.campaign_id]
        responded = g["responded_at"].notna() | g["converted_at"].notna()
        converted = g["converted_day"].map(lambda d: d is not None and d <= as_of)
        new = sum(1 for c, d in zip(g["customer_id"], g["converted_day"])
                  if d is not None and d <= as_of and (c not in first_order or first_order[c] >= d))
        assert (x.participants, x.responders, x.converted_customers, x.new_customers) == (
            len(g), int(responded.sum()), int(converted.sum()), new), camp.campaign_id
        assert money(x.attributed_revenue) == attributed[camp.campaign_id], camp.campaign_id
        cost = None if is_null(camp.cost) else camp.cost
        assert close(None if is_null(x.roi) else x.roi,
                     None if not cost else float((attributed[camp.campaign_id] - cost) / cost)), camp.campaign_id
        if cost and new:
            assert money(x.customer_acquisition_cost) == (cost / new).quantize(CENT, rounding=ROUND_HALF_UP)
    assert sum(attributed.values()) > 0


# ----------------------------------------------------------------------------------------------
# parameters


def test_parameter_overrides_reach_the_marts(demo_run, truth, tmp_path):
    """CRM_PULSE_DBT_VARS overrides the dbt vars of a real pipeline run (one extra run)."""
    overrides = {"churn_days": 120, "at_risk_days": 45, "sla_first_response_hours": 4}
    warehouse = tmp_path / "warehouse"  # a copy: the exports are already landed, only dbt re-runs
    shutil.copytree(demo_run.warehouse, warehouse, ignore=shutil.ignore_patterns("dagster_home"))
    run = run_pipeline(demo_run.landing, warehouse, CRM_PULSE_DBT_VARS=json.dumps(overrides))
    assert run.exit_code == 0, run.output
    expected = truth.lifecycle({**VARS, **overrides})
    assert expected != truth.lifecycle()
    got = {r.customer_id: (r.lifecycle_stage, day(r.churn_date)) for r in rows(
        run, "select customer_id, lifecycle_stage, churn_date from dim_customers")}
    assert got == expected
    end_of_day = pd.Timestamp(truth.as_of + dt.timedelta(days=1))
    breached = sum(((pd.Timestamp(t.first_response_at) if not is_null(t.first_response_at) else end_of_day)
                    - pd.Timestamp(t.created_at)).total_seconds() / 3600 > 4 for t in truth.tickets.itertuples())
    got_breached = rows(run, "select count(*) filter (where is_first_response_sla_breached) as n from fct_tickets")[0].n
    assert got_breached == breached
    default_breached = rows(demo_run, "select count(*) filter (where is_first_response_sla_breached) as n from fct_tickets")[0].n
    assert got_breached < default_breached
