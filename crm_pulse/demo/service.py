"""Customer service: tickets with response and resolution times, and satisfaction answers (CSAT, NPS).

Service and quality churners raise more tickets and complaints in the 6 months before they churn;
a staffing problem from April to August 2025 doubles response times.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from crm_pulse.demo import formats as F
from crm_pulse.demo.columns import nullable, seq_ids, take
from crm_pulse.demo.customers import Customers
from crm_pulse.demo.dirt import TICKET_DUP_MONTHS, TICKET_ZH_VALUES_BEFORE, dup_rows
from crm_pulse.demo.exports import Exports
from crm_pulse.demo.timeline import END_SEC, MONTH_STARTS, MS_DAY, N_MONTHS, NEVER, clock, day_number, month_of_sec

TICKET_CAT_ZH, TICKET_CAT_EN = ["价格", "服务", "质量", "物流", "其他"], ["price", "service", "quality", "delivery", "other"]
PRIO_ZH, PRIO_EN = ["低", "中", "高", "紧急"], ["low", "medium", "high", "urgent"]
TSTATUS_ZH, TSTATUS_EN = ["处理中", "已解决", "已关闭"], ["open", "resolved", "closed"]
TICKET_CHANNELS = ["电话", "微信", "邮件", "在线客服", "小程序"]
AGENTS = ["林晓", "何婷", "郭佳", "高磊", "罗丹", "梁宇"]
# a staffing problem: slower first responses and resolutions from April to August 2025
SERVICE_CRUNCH = (day_number(dt.date(2025, 4, 1)) * 86400, day_number(dt.date(2025, 9, 1)) * 86400)


def write_tickets(ex: Exports, c: Customers) -> None:
    """Monthly ticket exports (NDJSON; a ticket is exported again when it is resolved later), then satisfaction."""
    parts = []
    service_churn = np.isin(c.reason, [1, 2]) & (c.churn_day < NEVER)
    base = np.array([0.30, 0.16, 0.07])[c.size] * c.rel ** 0.3
    for m in range(N_MONTHS):
        rng = ex.rng(40, m)
        ms, me = MS_DAY[m], MS_DAY[m + 1]
        start = np.maximum(c.fd, ms)
        dur = np.clip(me - start, 0, None)
        mid = start + dur // 2
        to_churn = c.churn_day - mid
        mult = np.select([to_churn <= 0, (to_churn <= 180) & service_churn, to_churn <= 180], [0.15, 3.0, 1.5], 1.0)
        k = rng.poisson(base * mult * dur / (me - ms))
        cust = np.repeat(np.arange(c.n), k)
        sec = (start[cust] + (rng.random(cust.size) * dur[cust]).astype(np.int64)) * 86400 + \
            np.where(rng.random(cust.size) < 0.85, clock(rng, cust.size, 0.15), rng.integers(0, 86400, cust.size))
        order = np.lexsort((cust, sec))
        cust, sec = cust[order], sec[order]
        n_t = cust.size
        pre = (c.churn_day[cust] - sec // 86400 <= 180) & (c.churn_day[cust] - sec // 86400 > 0)
        cat_p = np.tile([0.10, 0.25, 0.25, 0.20, 0.20], (n_t, 1))
        focus = np.where(pre & (c.reason[cust] == 2), 2, np.where(pre & (c.reason[cust] == 1), 1,
                         np.where(pre & (c.reason[cust] == 0), 0, -1)))
        cat_p[focus >= 0] *= 0.5
        cat_p[np.flatnonzero(focus >= 0), focus[focus >= 0]] += 0.5
        cat = (rng.random(n_t)[:, None] > np.cumsum(cat_p, axis=1)).sum(axis=1).clip(0, 4)
        prio = rng.choice(4, n_t, p=[0.30, 0.45, 0.20, 0.05])
        complaint_p = np.where(np.isin(cat, [0, 1, 2]), 0.22, 0.10) * np.where(pre, 2.5, 1.0)
        complaint = rng.random(n_t) < np.minimum(complaint_p, 0.8)
        crunch = (sec >= SERVICE_CRUNCH[0]) & (sec < SERVICE_CRUNCH[1])
        sod = sec % 86400
        night_wait = np.where(sod < 8 * 3600, 8.5 * 3600 - sod, np.where(sod >= 20 * 3600, 32.5 * 3600 - sod, 0))
        fr_h = (rng.lognormal(np.log(0.5), 1.0, n_t) * np.array([1.6, 1.0, 0.6, 0.35])[prio]
                * np.where(crunch, 2.4, 1.0))
        fr = sec + night_wait.astype(np.int64) + np.rint(fr_h * 3600).astype(np.int64) + 60
        res_h = (rng.lognormal(np.log(14), 1.1, n_t) * np.array([1.3, 1.0, 0.7, 0.4])[prio]
                 * np.where(crunch, 1.6, 1.0))
        res = fr + np.rint(res_h * 3600).astype(np.int64)
        no_response = rng.random(n_t) < 0.015
        unresolved = no_response | (rng.random(n_t) < 0.04)
        fr = np.where(no_response | (fr >= END_SEC), -1, fr)
        res = np.where(unresolved | (res >= END_SEC) | (fr < 0), -1, res)
        parts.append(pl.DataFrame({
            "ticket_id": seq_ids("TK", np.full(n_t, m), ex.width), "cust": cust, "created": sec, "fr": fr,
            "res": res, "channel": rng.choice(5, n_t, p=[0.30, 0.30, 0.12, 0.20, 0.08]), "cat": cat, "prio": prio,
            "agent": rng.integers(0, len(AGENTS), n_t), "complaint": complaint, "month": np.full(n_t, m),
        }))
    t = pl.concat(parts)
    last = np.where(t["res"].to_numpy() >= 0, t["res"].to_numpy(),
                    np.where(t["fr"].to_numpy() >= 0, t["fr"].to_numpy(), t["created"].to_numpy()))
    t = t.with_columns(update_month=pl.Series(month_of_sec(last)))
    ex.mess["tickets: rows exported again after resolution (later export wins)"] = int(
        (t["update_month"] > t["month"]).sum())
    ex.mess["tickets: unresolved at the last export"] = int((t["res"] < 0).sum())
    ex.mess["tickets: first response later than 2 h (SLA breach)"] = int(
        ((t["fr"] >= 0) & (t["fr"] - t["created"] > 7200)).sum())
    for m in range(N_MONTHS):
        rng = ex.rng(41, m)
        e_sec = MS_DAY[m + 1] * 86400
        part = t.filter((pl.col("month") == m) | ((pl.col("update_month") == m) & (pl.col("month") < m)))
        fr = part["fr"].to_numpy()
        res = part["res"].to_numpy()
        fr_now = (fr >= 0) & (fr < e_sec)
        res_now = (res >= 0) & (res < e_sec)
        status = np.where(~res_now, 0, np.where(res + 3 * 86400 <= e_sec, 2, 1))
        zh = m < TICKET_ZH_VALUES_BEFORE
        code = F.DT_ISO_T if m % 2 == 0 else F.DT_ISO
        frame = pl.DataFrame({
            "ticket_id": part["ticket_id"], "customer_id": c.ids.gather(part["cust"]),
            "created_at": part["created"], "first_response_at": nullable(np.where(fr_now, fr, -1)),
            "resolved_at": nullable(np.where(res_now, res, -1)),
            "channel": take(TICKET_CHANNELS, part["channel"].to_numpy()),
            "category": take(TICKET_CAT_ZH if zh else TICKET_CAT_EN, part["cat"].to_numpy()),
            "priority": take(PRIO_ZH if zh else PRIO_EN, part["prio"].to_numpy()),
            "status": take(TSTATUS_ZH if zh else TSTATUS_EN, status),
            "assignee": take(AGENTS, np.where(fr_now, part["agent"].to_numpy(), -1)),
            "is_complaint": (take(["否", "是"], part["complaint"].to_numpy().astype(int)) if zh
                             else part["complaint"]),
        })
        frame = frame.with_columns(
            F.fmt_datetime(frame[col], code) for col in ("created_at", "first_response_at", "resolved_at"))
        if m in TICKET_DUP_MONTHS:
            frame = dup_rows(ex, rng, frame, 0.002, 1, "tickets: exact duplicate lines within one file")
        path = ex.path("tickets", MONTH_STARTS[m + 1], "ndjson")
        ex.rows["tickets"] += F.write_ndjson(path, frame)
        ex.files.append(path)
    _write_satisfaction(ex, c, t)


def _write_satisfaction(ex: Exports, c: Customers, t: pl.DataFrame) -> None:
    """CSAT and NPS answers to resolved tickets (JSON arrays by month of the answer)."""
    rng = ex.rng(50)
    res = t["res"].to_numpy()
    n_t = t.height
    complaint = t["complaint"].to_numpy()
    answered = (res >= 0) & (rng.random(n_t) < np.where(complaint, 0.30, 0.36))
    responded = res + rng.integers(600, 72 * 3600, n_t)
    answered &= responded < END_SEC
    slow_fr = (t["fr"].to_numpy() - t["created"].to_numpy()) > 7200
    slow_res = (res - t["created"].to_numpy()) > 48 * 3600
    latent = 4.4 - 0.9 * complaint - 0.6 * slow_fr - 0.5 * slow_res + rng.normal(0, 0.7, n_t)
    csat = np.clip(np.rint(latent), 1, 5).astype(np.int64)
    nps = np.clip(np.rint(2 * csat + 0.2 + rng.normal(0, 1.3, n_t)), 0, 10).astype(np.int64)
    no_nps = rng.random(n_t) < 0.12
    idx = np.flatnonzero(answered)
    idx = idx[np.lexsort((idx, responded[idx]))]
    month = month_of_sec(responded[idx])
    s = pl.DataFrame({
        "response_id": seq_ids("SV", month, ex.width), "ticket_id": t["ticket_id"].gather(idx),
        "customer_id": c.ids.gather(t["cust"].to_numpy()[idx]), "csat": csat[idx],
        "nps": nullable(np.where(no_nps[idx], -1, nps[idx])), "responded_at": responded[idx],
        "month": month,
    })
    s = s.with_columns(F.fmt_datetime(s["responded_at"], F.DT_ISO))
    ex.mess["satisfaction: answers without nps"] = int(s["nps"].null_count())
    for m in range(N_MONTHS):
        path = ex.path("satisfaction", MONTH_STARTS[m + 1], "json")
        ex.rows["satisfaction"] += F.write_json_array(path, s.filter(pl.col("month") == m).drop("month"))
        ex.files.append(path)
