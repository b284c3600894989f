"""Sales: the product list, orders with their lines (ERP), and opportunities (CRM).

Orders follow each customer's rate with seasonality (Chinese New Year dip, 618, Double 11, year
end) and 8 % growth; lines add up to the order amount to the cent (quantity x unit price); a few
customers pay in USD. Opportunities are every new customer's first deal plus upsell deals.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from crm_pulse.demo import formats as F
from crm_pulse.demo.columns import nullable, seq_ids, take
from crm_pulse.demo.customers import REPS, Customers
from crm_pulse.demo.dirt import (
    BAD_DATE_MONTHS, BAD_DATE_RATE, BAD_MONEY_MONTHS, BAD_MONEY_RATE, CREDIT_MONTHS, CREDIT_RATE, EXTREME_MONTHS,
    EXTREME_RATE, ORDER_DUP_MONTHS, OVERLAP_MONTHS, dup_rows, impossible_date, pick,
)
from crm_pulse.demo.exports import (
    COLUMNS, DATE_MIX, DT_MIX, OPP_MONEY_MIX, ORDER_MONEY_MIX, YEN, ZH_HEADERS, Exports, spellings,
)
from crm_pulse.demo.timeline import (
    D0, END_DAY, MONTH_STARTS, MS_DAY, N_MONTHS, NEVER, PRODUCT_SNAPSHOTS, clock, weekday_shift,
)

# sku, name, category, list price (yuan), popularity; v2 = launched 2025-01 (second product snapshot)
PRODUCTS = [
    ("SW101", "客户管理系统 标准版(年)", "软件订阅", 3600, 8), ("SW102", "客户管理系统 专业版(年)", "软件订阅", 9800, 5),
    ("SW103", "客户管理系统 旗舰版(年)", "软件订阅", 29800, 2), ("SW111", "进销存系统 标准版(年)", "软件订阅", 2800, 7),
    ("SW112", "进销存系统 专业版(年)", "软件订阅", 7600, 4), ("SW121", "财务云 标准版(年)", "软件订阅", 4200, 5),
    ("SW122", "财务云 专业版(年)", "软件订阅", 12800, 2), ("SW131", "协同办公平台(50用户/年)", "软件订阅", 6000, 4),
    ("SW141", "数据分析平台(年)", "软件订阅", 18000, 2), ("SW151", "增值用户许可(10用户)", "软件订阅", 1500, 6),
    ("HW201", "扫码枪", "硬件设备", 399, 6), ("HW202", "小票打印机", "硬件设备", 899, 5),
    ("HW203", "POS收银终端", "硬件设备", 2599, 4), ("HW204", "工业平板", "硬件设备", 4800, 3),
    ("HW205", "门禁考勤机", "硬件设备", 1280, 3), ("HW206", "机架式服务器", "硬件设备", 36000, 1),
    ("HW207", "手持PDA", "硬件设备", 2199, 3), ("CS301", "热敏纸(50卷)", "耗材配件", 145.5, 8),
    ("CS302", "碳带(10卷)", "耗材配件", 89.9, 5), ("CS303", "标签纸(20卷)", "耗材配件", 66, 6),
    ("CS304", "电源适配器", "耗材配件", 59, 3), ("CS305", "数据线", "耗材配件", 19.9, 3),
    ("SV401", "上门实施(人天)", "实施服务", 1500, 4), ("SV402", "远程实施(人天)", "实施服务", 800, 5),
    ("SV403", "数据迁移服务", "实施服务", 5000, 2), ("SV404", "定制开发(人天)", "实施服务", 2500, 2),
    ("TR501", "管理员培训", "培训", 2000, 3), ("TR502", "用户培训(场)", "培训", 3500, 2),
    ("TR503", "认证考试", "培训", 1200, 1), ("MT601", "软件维保(年)", "维保服务", 2400, 5),
    ("MT602", "硬件延保(年)", "维保服务", 680, 4), ("MT603", "驻场运维(月)", "维保服务", 12000, 1),
]
PRODUCTS_V2 = [
    ("AI701", "AI销售助手插件(年)", "软件订阅", 4800, 4), ("AI702", "智能客服机器人(年)", "软件订阅", 8800, 3),
    ("SW161", "BI看板增强包(年)", "软件订阅", 3200, 3), ("SW171", "电子签章服务(1000次)", "软件订阅", 1800, 3),
    ("HW208", "智能收银一体机", "硬件设备", 3899, 3), ("TR504", "线上训练营(席位)", "培训", 699, 3),
]
PRODUCT_RENAMES = {"SW101": "客户管理系统(CRM) 标准版(年)", "SW102": "客户管理系统(CRM) 专业版(年)", "HW203": "POS收银终端 二代"}
PRODUCT_RECATEGORISED = {"TR501": "培训服务", "TR502": "培训服务", "TR503": "培训服务"}
ORDER_STATUS_ZH, ORDER_STATUS_EN = ["已完成", "已取消", "已退款"], ["completed", "cancelled", "refunded"]
OPP_OPEN_STAGES = ["初步接洽", "需求确认", "方案报价", "商务谈判"]
OPP_LOST_REASONS = ["价格", "竞品", "预算不足", "需求变化", "无决策权"]
SEASON = np.array([0.95, 0.70, 1.05, 1.00, 1.00, 1.15, 0.95, 0.95, 1.05, 0.90, 1.20, 1.25])
TREND = (1.0, 1.08)


# --- products (the one XLSX entity) ------------------------------------------------------------
def write_products(ex: Exports) -> None:
    """The product list: a Chinese first snapshot, an English one with renames and the 2025 products."""
    for i, export in enumerate(PRODUCT_SNAPSHOTS):
        if i == 0:
            rows = [[sku, name, cat] for sku, name, cat, _, _ in PRODUCTS]
            header, title = ZH_HEADERS["products"][0], "商品列表"
        else:
            rows = [[sku, PRODUCT_RENAMES.get(sku, name), PRODUCT_RECATEGORISED.get(sku, cat)]
                    for sku, name, cat, _, _ in PRODUCTS + PRODUCTS_V2]
            header, title = COLUMNS["products"], "Products"
        path = ex.path("products", export, "xlsx")
        ex.rows["products"] += F.write_xlsx(path, header, rows, title)
        ex.files.append(path)


# --- orders and order lines ---------------------------------------------------------------------
def write_orders(ex: Exports, c: Customers) -> None:
    """Monthly ERP order and order-line exports, some repeating the previous month's last two days."""
    catalog = PRODUCTS + PRODUCTS_V2
    sku = [p[0] for p in catalog]
    price_fen = np.array([round(p[3] * 100) for p in catalog], dtype=np.int64)
    pop = np.array([p[4] for p in catalog], dtype=float)
    n_v1 = len(PRODUCTS)
    carry_orders, carry_items = None, None
    for m in range(N_MONTHS):
        orders, items = _orders_month(ex, c, m, sku, price_fen, pop, n_v1)
        style = ex.style("orders", m)
        rng = ex.rng(11, m)
        export = MONTH_STARTS[m + 1]
        if carry_orders is not None:  # the previous export's last two days, exported again
            orders = pl.concat([carry_orders, orders])
            items = pl.concat([carry_items, items])
        carry_orders = carry_items = None
        if m in OVERLAP_MONTHS:
            tail = orders.filter(pl.col("sec") >= (MS_DAY[m + 1] - 2) * 86400, ~pl.col("carried"))
            carry_orders = tail.with_columns(carried=pl.lit(True))
            carry_items = items.join(tail.select("order_id"), on="order_id", how="semi", maintain_order="left")
            ex.mess["orders: rows repeated in the next month's export (overlap)"] += tail.height
            ex.mess["order_items: rows repeated in the next month's export (overlap)"] += carry_items.height
        _write_order_file(ex, c, m, export, style, rng, orders)
        _write_items(ex, m, export, style, rng, items)


def _orders_month(ex: Exports, c: Customers, m: int, sku: list, price_fen: np.ndarray, pop: np.ndarray, n_v1: int):
    """One month's orders and their lines (amounts in fen; lines add up to the order amount)."""
    rng = ex.rng(10, m)
    ms, me = MS_DAY[m], MS_DAY[m + 1]
    start = np.maximum(np.where(c.legacy, ms, c.fd + 1), ms)
    end = np.minimum(c.churn_day, me)
    dur = np.clip(end - start, 0, None)
    dampen = np.where(c.churn_day - me < 60, 0.6, 1.0)
    lam = c.rate * SEASON[m % 12] * TREND[m // 12] * dampen * dur / (me - ms)
    k = rng.poisson(lam)
    cust = np.repeat(np.arange(c.n), k)
    day = start[cust] + (rng.random(cust.size) * dur[cust]).astype(np.int64)
    day = weekday_shift(rng, day, start[cust], end[cust])
    sec = day * 86400 + clock(rng, cust.size, 0.12)
    first = np.flatnonzero(~c.legacy & (c.fd >= ms) & (c.fd < me))
    cust = np.concatenate([first, cust])
    sec = np.concatenate([c.first_order_sec[first], sec])
    is_first = np.arange(cust.size) < first.size
    order = np.lexsort((cust, sec))
    cust, sec, is_first = cust[order], sec[order], is_first[order]
    n_o = cust.size
    status = np.where(is_first, 0, rng.choice(3, n_o, p=[0.91, 0.06, 0.03]))
    usd = c.usd[cust] & (rng.random(n_o) < 0.6)
    rep = c.owner_at(cust, sec // 86400)
    swap = rng.random(n_o)
    rep = np.where(swap < 0.04, rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], n_o), rep)
    rep = np.where(swap > 0.99, -1, rep)
    # lines: 1-5 (+1 for some large accounts), SKU closest in price to the line's share of the target value
    target = c.spend[cust] * rng.gamma(3.0, 1 / 3.0, n_o)
    n_lines = 1 + np.minimum(rng.geometric(0.5, n_o) - 1, 4) + ((c.size[cust] == 0) & (rng.random(n_o) < 0.4))
    line_order = np.repeat(np.arange(n_o), n_lines)
    n_l = line_order.size
    avail = n_v1 if m < 12 else len(sku)
    p = pop[:avail] / pop[:avail].sum()
    cand = rng.choice(avail, (2, n_l), p=p)
    w = rng.exponential(1.0, n_l)
    share = w / np.bincount(line_order, weights=w, minlength=n_o)[line_order]
    line_target = target[line_order] * share * 100  # fen
    miss = np.abs(np.log(price_fen[cand] / line_target))
    sku_idx = np.where(miss[0] <= miss[1], cand[0], cand[1])
    qty = np.clip(np.rint(line_target / price_fen[sku_idx]), 1, 2000).astype(np.int64)
    # unit price: list price x customer discount, whole yuan from 100 yuan up; USD at 7.1
    unit = price_fen[sku_idx] * c.discount[cust[line_order]]
    unit = np.where(price_fen[sku_idx] >= 10000, np.rint(unit / 100) * 100, np.rint(unit)).astype(np.int64)
    unit = np.where(usd[line_order], np.rint(unit / 7.1), unit).astype(np.int64)
    keep = np.zeros(n_l, dtype=bool)
    keep[np.unique(line_order * len(sku) + sku_idx, return_index=True)[1]] = True  # one line per (order, sku)
    line_order, sku_idx, qty, unit = line_order[keep], sku_idx[keep], qty[keep], unit[keep]
    extreme = pick(rng, status == 0, EXTREME_RATE, m in EXTREME_MONTHS)
    qty = np.where(extreme[line_order], qty * 100, qty)
    amount = np.bincount(line_order, weights=(qty * unit).astype(float), minlength=n_o).round().astype(np.int64)
    ex.mess["orders: extreme amounts (bulk order, x100 quantities; items reconcile)"] += int(extreme.sum())
    ex.mess["orders: USD orders"] += int(usd.sum())

    ids = seq_ids("SO", np.full(n_o, m), ex.width)
    orders = pl.DataFrame({
        "order_id": ids, "cust": cust, "sec": sec, "status": status.astype(np.int64), "amount_fen": amount,
        "currency": take(["CNY", "USD"], usd.astype(int)), "rep": rep.astype(np.int64),
        "carried": np.zeros(n_o, dtype=bool),
    })
    items = pl.DataFrame({
        "order_id": ids.gather(line_order), "sku": take(sku, sku_idx), "quantity": qty, "unit_fen": unit,
        "usd": usd[line_order],
    })
    return orders, items


def _write_order_file(ex: Exports, c: Customers, m: int, export: dt.date, style: F.Style, rng,
                      orders: pl.DataFrame) -> None:
    """One month's order file, with its credit notes, money spellings, bad values and duplicates."""
    n_o = orders.height
    # credit notes: a refund booked as an extra negative row "<order>-R"
    refunded = (orders["status"].to_numpy() == 2) & ~orders["carried"].to_numpy()
    credit = pick(rng, refunded, CREDIT_RATE, m in CREDIT_MONTHS)
    if credit.any():
        src = orders.filter(pl.Series(credit))
        frac = rng.uniform(0.05, 0.5, src.height)
        neg = -np.maximum(5000, np.rint(src["amount_fen"].to_numpy() * frac / 5000) * 5000).astype(np.int64)
        when = np.minimum(src["sec"].to_numpy() + rng.integers(3600, 7 * 86400, src.height),
                          MS_DAY[m + 1] * 86400 - 3600)
        orders = pl.concat([orders, src.with_columns(
            order_id=pl.col("order_id") + "-R", sec=pl.Series(when), amount_fen=pl.Series(neg),
            carried=pl.lit(True))])  # (not eligible for the other mess below)
        ex.mess["orders: negative amounts (credit-note rows, quarantined)"] += src.height
    n = orders.height
    status_values = ORDER_STATUS_ZH if style.chinese else ORDER_STATUS_EN
    money = spellings(rng, n, ORDER_MONEY_MIX[style.name], force=style.chinese)
    plain_only = (orders["currency"].to_numpy() == "USD") | (orders["amount_fen"].to_numpy() < 0)
    money = np.where(plain_only & np.isin(money, [F.M_YEN, F.M_WAN]), F.M_PLAIN, money)
    currency = pl.col("currency")
    if style.name == "bom_zh":  # this template leaves the currency empty for CNY
        currency = pl.when(currency != "CNY").then(currency)
    frame = orders.select(
        "order_id",
        c.ids.gather(orders["cust"]).alias("customer_id"),
        pl.col("sec").alias("order_date"),
        take(status_values, orders["status"].to_numpy()).alias("status"),
        pl.col("amount_fen").alias("amount"),
        currency.alias("currency"),
        take(REPS, orders["rep"].to_numpy()).alias("sales_rep"),
    )
    frame = frame.with_columns(
        ex.dates("orders", frame["order_date"], rng, DT_MIX[style.name], force=True),
        F.fmt_money(frame["amount"], money, YEN[style.name]),
    )
    _count_money(ex, frame["amount"], style)
    # unparseable money and impossible dates (the pipeline quarantines these rows)
    normal = ~orders["carried"].to_numpy()
    bad_money = pick(rng, normal, BAD_MONEY_RATE, m in BAD_MONEY_MONTHS)
    bad_date = pick(rng, normal & ~bad_money, BAD_DATE_RATE, m in BAD_DATE_MONTHS)
    frame = frame.with_columns(
        amount=pl.when(pl.Series(bad_money)).then(pl.lit("待定")).otherwise(pl.col("amount")),
        order_date=pl.when(pl.Series(bad_date)).then(pl.lit(impossible_date(m, style)))
        .otherwise(pl.col("order_date")),
    )
    ex.mess["orders: unparseable amount '待定'"] += int(bad_money.sum())
    ex.mess["orders: impossible order_date (e.g. 2025-02-30)"] += int(bad_date.sum())
    if m in ORDER_DUP_MONTHS:
        frame = dup_rows(ex, rng, frame, 0.002, 2, "orders: exact duplicate rows within one file")
    ex.csv("orders", export, frame, style, m // 3)


def _count_money(ex: Exports, amounts: pl.Series, style: F.Style) -> None:
    if not style.chinese:
        return
    s = amounts.drop_nulls()
    ex.mess["orders: amount with ¥/￥ sign"] += int(s.str.contains("[¥￥]").sum())
    ex.mess["orders: amount in 万"] += int(s.str.ends_with("万").sum())
    ex.mess["orders: amount with thousands separator"] += int(s.str.contains(",").sum())


def _write_items(ex: Exports, m: int, export: dt.date, style: F.Style, rng, items: pl.DataFrame) -> None:
    n = items.height
    mix = [(F.M_THOUSANDS, 0.7), (F.M_PLAIN, 0.3)] if style.name == "gbk_zh" else [(F.M_PLAIN, 1.0)]
    frame = items.select(
        "order_id", "sku", pl.col("quantity").cast(pl.Utf8), pl.col("unit_fen").alias("unit_price"),
    )
    frame = frame.with_columns(F.fmt_money(frame["unit_price"], spellings(rng, n, mix), YEN[style.name]))
    if m in ORDER_DUP_MONTHS:
        frame = dup_rows(ex, rng, frame, 0.001, 1, "order_items: exact duplicate rows within one file")
    ex.csv("order_items", export, frame, style, m // 3)


# --- opportunities -------------------------------------------------------------------------------
def write_opportunities(ex: Exports, c: Customers) -> None:
    """Each new customer's first deal plus upsell deals (won/lost), exported as their stage moves on."""
    rng = ex.rng(30)
    created_day = c.created_sec // 86400
    # 1) every customer acquired in the period: its first deal, opened soon after the lead was created
    new = np.flatnonzero(~c.legacy)
    lead_days = np.minimum(20, c.fd[new] - created_day[new])
    open1 = created_day[new] + (rng.random(new.size) * lead_days).astype(np.int64)
    # 2) upsell / renewal deals while the customer is active
    lo = np.maximum(c.fd, D0)
    hi = np.minimum(c.churn_day, END_DAY + 1)
    months = np.clip(hi - lo, 0, None) / 30.4
    k = rng.poisson(np.array([0.15, 0.08, 0.04])[c.size] * months)
    up = np.repeat(np.arange(c.n), k)
    open2 = lo[up] + (rng.random(up.size) * (hi[up] - lo[up])).astype(np.int64)
    cust = np.concatenate([new, up])
    opened = np.concatenate([open1, open2])
    first = np.arange(cust.size) < new.size
    n_p = cust.size
    length = np.rint(rng.lognormal(np.log(40), 0.7, n_p)).astype(np.int64) + 1
    close = np.where(first, c.fd[cust], opened + length)
    stale = ~first & (rng.random(n_p) < 0.08)  # never closed
    won = np.where(first, True, rng.random(n_p) < np.array([0.45, 0.40, 0.35])[c.size[cust]])
    won &= ~(close >= c.churn_day[cust])  # deals running into churn are lost
    close = np.where(stale | (close > END_DAY), NEVER, close)
    amount = np.maximum(1000, np.rint(c.spend[cust] * rng.lognormal(0.8, 0.6, n_p) / 100) * 100) * 100
    lost_reason = rng.choice(len(OPP_LOST_REASONS), n_p, p=[0.35, 0.25, 0.15, 0.15, 0.10])
    order = np.lexsort((cust, opened))
    cust, opened, close, won, amount, lost_reason = (
        a[order] for a in (cust, opened, close, won, amount, lost_reason))
    created_m = np.searchsorted(MS_DAY, opened, side="right") - 1
    created_m = np.maximum(created_m, 0)  # deals opened in late 2023 first show up in the first export
    ids = seq_ids("OP", created_m, ex.width)
    rep = c.owner_at(cust, opened)
    base = pl.DataFrame({"opportunity_id": ids, "cust": cust, "opened": opened, "close": close, "won": won,
                         "amount": amount.astype(np.int64), "lost_reason": lost_reason, "rep": rep})
    # a deal is exported in the month it is opened, in each month its stage moves on (days 14, 30
    # and 60 while still open) and in the month it closes: the latest export has its latest state
    events = np.stack([opened, opened + 14, opened + 30, opened + 60, close])
    valid = (events <= END_DAY) & ((events < close) | (np.arange(5)[:, None] == 4))
    ev_month = np.maximum(np.searchsorted(MS_DAY, events, side="right") - 1, 0)
    key = np.unique(ev_month[valid] * cust.size + np.broadcast_to(np.arange(cust.size), events.shape)[valid])
    pairs = np.stack([key // cust.size, key % cust.size])  # (export month, deal), sorted
    bounds = np.searchsorted(pairs[0], np.arange(N_MONTHS + 1))
    ex.mess["opportunities: rows repeating a deal of an earlier export (latest export wins)"] = int(
        pairs.shape[1] - cust.size)
    for m in range(N_MONTHS):
        rng_m = ex.rng(31, m)
        e_day = MS_DAY[m + 1]
        rows = pairs[1, bounds[m]:bounds[m + 1]]
        part = base[rows]
        closed = part["close"].to_numpy() < e_day
        age = e_day - part["opened"].to_numpy()
        stage_idx = np.minimum(np.searchsorted([14, 30, 60], age, side="right"), 3)
        won_now = closed & part["won"].to_numpy()
        style = ex.style("opportunities", m)
        stage = np.where(closed, np.where(won_now, 4, 5), stage_idx)
        frame = pl.DataFrame({
            "opportunity_id": part["opportunity_id"], "customer_id": c.ids.gather(part["cust"]),
            "owner_rep": take(REPS, part["rep"].to_numpy()),
            "stage": take(OPP_OPEN_STAGES + ["赢单", "输单"], stage),
            "amount": part["amount"], "created_date": part["opened"] * 86400,
            "close_date": nullable(np.where(closed, part["close"].to_numpy() * 86400, -1)),
            "is_won": take(["否", "是"] if style.chinese else ["false", "true"], np.where(closed, won_now, -1)),
            "lost_reason": take(OPP_LOST_REASONS, np.where(closed & ~won_now, part["lost_reason"].to_numpy(), -1)),
        })
        frame = frame.with_columns(
            F.fmt_money(frame["amount"], spellings(rng_m, frame.height, OPP_MONEY_MIX[style.name]), YEN[style.name]),
            ex.dates("opportunities", frame["created_date"], rng_m, DATE_MIX[style.name]),
            ex.dates("opportunities", frame["close_date"], rng_m, DATE_MIX[style.name]),
        )
        ex.csv("opportunities", MONTH_STARTS[m + 1], frame, style, m // 6)
