"""Marketing campaigns and their members (targeted customers, responses, conversions) in the CRM."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
import polars as pl

from crm_pulse.demo import formats as F
from crm_pulse.demo.customers import Customers
from crm_pulse.demo.exports import DATE_MIX, DT_MIX, YEN, Exports
from crm_pulse.demo.timeline import CAMPAIGN_EXPORTS, END_SEC, clock, day_number

CAMPAIGNS = [  # name, channel, start, end, cost (yuan at 2,000 customers), kind
    ("2024新春开工直播", "线上直播", "2024-02-20", "2024-02-29", 30000, "acq"),
    ("春季新品发布会(上海)", "线下活动", "2024-03-15", "2024-03-16", 180000, "acq"),
    ("制造业数字化白皮书下载", "内容营销", "2024-04-01", "2024-05-31", 25000, "acq"),
    ("老客户续约回馈季", "邮件", "2024-05-06", "2024-06-30", 40000, "ret"),
    ("618年中采购节", "微信", "2024-06-01", "2024-06-18", 80000, "ret"),
    ("百度搜索推广2024Q3", "搜索广告", "2024-07-01", "2024-09-30", 120000, "acq"),
    ("华南区客户巡展", "线下活动", "2024-08-05", "2024-08-30", 150000, "acq"),
    ("双11企业采购节2024", "微信", "2024-11-01", "2024-11-11", 90000, "ret"),
    ("2024年终客户答谢会", "线下活动", "2024-12-10", "2024-12-20", 200000, "ret"),
    ("2025开年直播", "线上直播", "2025-02-17", "2025-02-28", 35000, "acq"),
    ("行业数字化峰会(北京)", "展会", "2025-04-10", "2025-04-12", 260000, "acq"),
    ("AI助手新品体验活动", "邮件", "2025-05-06", "2025-06-30", 30000, "ret"),
    ("百度搜索推广2025Q3", "搜索广告", "2025-07-01", "2025-09-30", 130000, "acq"),
    ("华东区渠道伙伴大会", "展会", "2025-09-16", "2025-09-18", 220000, "acq"),
    ("双11企业采购节2025", "微信", "2025-11-01", "2025-11-11", 95000, "ret"),
    ("2025年终客户答谢会", "线下活动", "2025-12-08", "2025-12-19", 210000, "ret"),
]


def write_campaigns(ex: Exports, c: Customers) -> None:
    """Campaign exports (half-yearly), each with its members: targeted customers and attributed new leads."""
    rng = ex.rng(60)
    scale = max(0.15, ex.n / 2000)
    year_seq = Counter()
    camp_rows, members = [], []
    created_day = c.created_sec // 86400
    for j, (name, channel, start, end, cost, kind) in enumerate(CAMPAIGNS):
        s_day, e_day = day_number(dt.date.fromisoformat(start)), day_number(dt.date.fromisoformat(end))
        year_seq[start[:4]] += 1
        cid = f"MKT{start[2:4]}{year_seq[start[:4]]:03d}"
        camp_rows.append((cid, name, channel, s_day, e_day, int(round(cost * scale / 100) * 100) * 100))
        active = (c.fd <= s_day) & (c.churn_day > s_day)
        targeted = np.flatnonzero(active & (rng.random(c.n) < (0.25 if kind == "ret" else 0.06)))
        span = max(1, e_day - s_day + 1)
        resp = rng.random(targeted.size) < (0.22 if kind == "ret" else 0.12)
        responded = (s_day + rng.integers(0, span, targeted.size)) * 86400 + clock(rng, targeted.size)
        conv = resp & (rng.random(targeted.size) < 0.3)
        converted = responded + rng.integers(86400, 30 * 86400, targeted.size)
        members.append(pl.DataFrame({
            "campaign_id": np.full(targeted.size, cid), "cust": targeted,
            "joined": np.full(targeted.size, s_day * 86400, dtype=np.int64),
            "responded": np.where(resp & (responded < END_SEC), responded, -1),
            "converted": np.where(conv & (converted < END_SEC), converted, -1)}))
        if kind == "acq":  # leads created during (or shortly after) the campaign, some attributed to it
            lead = np.flatnonzero((created_day >= s_day) & (created_day <= e_day + 45) & ~c.legacy)
            lead = lead[rng.random(lead.size) < 0.4]
            members.append(pl.DataFrame({
                "campaign_id": np.full(lead.size, cid), "cust": lead, "joined": c.created_sec[lead],
                "responded": c.created_sec[lead],
                "converted": c.first_order_sec[lead]}))
    camps = pl.DataFrame(camp_rows, schema=["campaign_id", "name", "channel", "start", "end", "cost"], orient="row")
    mem = pl.concat(members)
    mem = mem.with_columns(customer_id=c.ids.gather(mem["cust"]))
    for i, export in enumerate(CAMPAIGN_EXPORTS):
        rng_i = ex.rng(61, i)
        e_sec = day_number(export) * 86400
        style = ex.style("campaigns", i)
        cf = camps.filter(pl.col("start") * 86400 < e_sec).with_columns(
            start=pl.col("start") * 86400, end=pl.col("end") * 86400)
        cf = cf.select(
            "campaign_id", "name", "channel", pl.col("start").alias("start_date"), pl.col("end").alias("end_date"),
            pl.col("cost"),
        )
        cf = cf.with_columns(
            ex.dates("campaigns", cf["start_date"], rng_i, DATE_MIX[style.name]),
            ex.dates("campaigns", cf["end_date"], rng_i, DATE_MIX[style.name]),
            F.fmt_money(cf["cost"], F.M_YEN if style.name == "gbk_zh" else
                        (F.M_THOUSANDS if style.chinese else F.M_PLAIN), YEN[style.name]),
        )
        ex.csv("campaigns", export, cf, style, i)
        mf = mem.filter((pl.col("joined") < e_sec) & pl.col("campaign_id").is_in(cf["campaign_id"].to_list()))
        mf = mf.select(
            "campaign_id", "customer_id",
            pl.when((pl.col("responded") >= 0) & (pl.col("responded") < e_sec)).then(pl.col("responded"))
            .alias("responded_at"),
            pl.when((pl.col("converted") >= 0) & (pl.col("converted") < e_sec)).then(pl.col("converted"))
            .alias("converted_at"),
        )
        mf = mf.with_columns(
            ex.dates("campaign_members", mf["responded_at"], rng_i, DT_MIX[style.name]),
            ex.dates("campaign_members", mf["converted_at"], rng_i, DT_MIX[style.name]),
        )
        ex.csv("campaign_members", export, mf, style, i)
