"""Follow-up activities (calls, visits, e-mail, WeChat, meetings) logged by the reps in the CRM."""

from __future__ import annotations

import numpy as np
import polars as pl

from crm_pulse.demo.columns import seq_ids, take
from crm_pulse.demo.customers import REPS, Customers
from crm_pulse.demo.dirt import ACT_BAD_DATE_MONTHS, ACT_BAD_DATE_RATE, ACT_DUP_MONTHS, dup_rows, impossible_date, pick
from crm_pulse.demo.exports import DT_MIX, Exports
from crm_pulse.demo.timeline import MONTH_STARTS, MS_DAY, N_MONTHS, clock, weekday_shift

ACT_ZH, ACT_EN = ["电话", "拜访", "邮件", "微信", "会议"], ["call", "visit", "email", "wechat", "meeting"]


def write_activities(ex: Exports, c: Customers) -> None:
    """Monthly CRM follow-up exports: frequent before the first deal, thinning out in the 6 months before churn."""
    base = np.array([3.2, 1.8, 0.9])[c.size] * c.rel ** 0.4
    created_day = c.created_sec // 86400
    lead_p = np.array([0.30, 0.25, 0.10, 0.20, 0.15])
    care_p = np.array([0.35, 0.13, 0.14, 0.30, 0.08])
    for m in range(N_MONTHS):
        rng = ex.rng(20, m)
        ms, me = MS_DAY[m], MS_DAY[m + 1]
        start = np.maximum(created_day, ms)
        dur = np.clip(me - start, 0, None)
        mid = start + dur // 2
        to_churn = c.churn_day - mid
        mult = np.select([mid < c.fd, to_churn <= 0, to_churn <= 90, to_churn <= 180], [0.0, 0.08, 0.3, 0.65], 1.0)
        rate = np.where(mid < c.fd, 2.5, base * mult)
        rate = np.where(c.mark_day <= mid, 0.02, rate)
        k = rng.poisson(rate * dur / (me - ms))
        cust = np.repeat(np.arange(c.n), k)
        day = start[cust] + (rng.random(cust.size) * dur[cust]).astype(np.int64)
        day = weekday_shift(rng, day, start[cust], np.full(cust.size, me))
        sec = day * 86400 + clock(rng, cust.size, 0.08)
        order = np.lexsort((cust, sec))
        cust, sec = cust[order], sec[order]
        n_a = cust.size
        lead = sec // 86400 < c.fd[cust]
        kind = np.where(lead, rng.choice(5, n_a, p=lead_p), rng.choice(5, n_a, p=care_p))
        rep = c.owner_at(cust, sec // 86400)
        u = rng.random(n_a)
        rep = np.where(u < 0.05, rng.integers(0, 10, n_a), np.where(u > 0.98, -1, rep))
        style = ex.style("activities", m)
        frame = pl.DataFrame({
            "activity_id": seq_ids("FU", np.full(n_a, m), ex.width + 1),
            "customer_id": c.ids.gather(cust), "rep": take(REPS, rep),
            "activity_type": take(ACT_ZH if style.chinese else ACT_EN, kind), "activity_at": sec,
        })
        frame = frame.with_columns(
            ex.dates("activities", frame["activity_at"], rng, DT_MIX[style.name], force=True))
        bad = pick(rng, np.ones(n_a, bool), ACT_BAD_DATE_RATE, m in ACT_BAD_DATE_MONTHS)
        frame = frame.with_columns(activity_at=pl.when(pl.Series(bad)).then(pl.lit(impossible_date(m, style)))
                                   .otherwise(pl.col("activity_at")))
        ex.mess["activities: impossible activity_at"] += int(bad.sum())
        if m in ACT_DUP_MONTHS:
            frame = dup_rows(ex, rng, frame, 0.002, 2, "activities: exact duplicate rows within one file")
        ex.csv("activities", MONTH_STARTS[m + 1], frame, style, m // 4)
