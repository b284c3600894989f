"""The landing layout of the demo exports and the bookkeeping of one generation run.

Which source and file each entity goes to, its headers (English canonical or a Chinese variant),
the spelling mix of dates and money per file style, and :class:`Exports`, which writes the files
and counts rows and deliberate mess.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

from crm_pulse.demo import formats as F

# --- headers (English = canonical names; two Chinese variants per entity, as different exports) --
ZH_HEADERS = {
    "customers": [
        ["客户编号", "客户名称", "所属行业", "省份", "城市", "企业规模", "对接人", "首次合作时间", "创建时间", "客户状态", "流失原因", "手机", "邮箱"],
        ["客户ID", "客户名称", "行业", "地区", "城市", "规模", "客户经理", "首次合作日期", "录入时间", "状态", "流失原因", "联系电话", "电子邮箱"],
    ],
    "opportunities": [
        ["商机编号", "客户编号", "负责人", "商机阶段", "预计金额", "创建日期", "关闭日期", "是否赢单", "输单原因"],
        ["商机ID", "客户ID", "销售", "阶段", "金额", "创建时间", "成交日期", "是否成交", "输单原因"],
    ],
    "activities": [["跟进编号", "客户编号", "跟进人", "跟进方式", "跟进时间"], ["跟进ID", "客户ID", "销售", "跟进类型", "时间"]],
    "campaigns": [["活动编号", "活动名称", "投放渠道", "开始日期", "结束日期", "活动费用"],
                  ["活动ID", "名称", "渠道", "开始时间", "结束时间", "成本"]],
    "campaign_members": [["活动编号", "客户编号", "响应时间", "转化时间"], ["活动ID", "客户ID", "响应时间", "成交时间"]],
    "orders": [["订单编号", "客户编号", "下单时间", "订单状态", "订单金额", "币种", "销售负责人"],
               ["订单号", "客户ID", "订单日期", "状态", "金额", "币种", "业务员"]],
    "order_items": [["订单编号", "商品编码", "数量", "单价"], ["订单号", "SKU", "购买数量", "销售单价"]],
    "products": [["商品编码", "商品名称", "品类"]],
}
COLUMNS = {
    "customers": ["customer_id", "customer_name", "industry", "region", "city", "company_size", "owner_rep",
                  "first_deal_date", "created_at", "status", "lost_reason", "phone", "email"],
    "opportunities": ["opportunity_id", "customer_id", "owner_rep", "stage", "amount", "created_date", "close_date",
                      "is_won", "lost_reason"],
    "activities": ["activity_id", "customer_id", "rep", "activity_type", "activity_at"],
    "campaigns": ["campaign_id", "name", "channel", "start_date", "end_date", "cost"],
    "campaign_members": ["campaign_id", "customer_id", "responded_at", "converted_at"],
    "orders": ["order_id", "customer_id", "order_date", "status", "amount", "currency", "sales_rep"],
    "order_items": ["order_id", "sku", "quantity", "unit_price"],
    "products": ["sku", "product_name", "category"],
    "tickets": ["ticket_id", "customer_id", "created_at", "first_response_at", "resolved_at", "channel", "category",
                "priority", "status", "assignee", "is_complaint"],
    "satisfaction": ["response_id", "ticket_id", "customer_id", "csat", "nps", "responded_at"],
}
SOURCE_OF = {"customers": "crm", "opportunities": "crm", "activities": "crm", "campaigns": "crm",
             "campaign_members": "crm", "orders": "erp", "order_items": "erp", "products": "erp",
             "tickets": "ticketing", "satisfaction": "ticketing"}
#: which style each entity's i-th CSV export uses (cycling GBK/Chinese, UTF-8 BOM/Chinese, UTF-8/English)
STYLE_OFFSET = {"customers": 0, "orders": 0, "activities": 1, "opportunities": 2, "campaigns": 1}

# per-style spelling mixes: (code, probability); the first entry is the file's usual spelling
DT_MIX = {
    "gbk_zh": [(F.DT_SLASH, 0.925), (F.D_SLASH, 0.02), (F.DT_CN, 0.015), (F.D_CN, 0.015), (F.DT_ISO, 0.01),
               (F.SERIAL_DT, 0.008), (F.SERIAL_D, 0.007)],
    "bom_zh": [(F.DT_ISO, 0.93), (F.D_ISO, 0.02), (F.DT_SLASH, 0.02), (F.D_CN, 0.015), (F.DT_ISO_MIN, 0.005),
               (F.SERIAL_DT, 0.005), (F.SERIAL_D, 0.005)],
    "utf8_en": [(F.DT_ISO, 0.98), (F.DT_ISO_MIN, 0.01), (F.D_ISO, 0.01)],
}
DATE_MIX = {
    "gbk_zh": [(F.D_SLASH, 0.95), (F.D_CN, 0.02), (F.D_ISO, 0.02), (F.SERIAL_D, 0.01)],
    "bom_zh": [(F.D_ISO, 0.94), (F.D_CN, 0.03), (F.D_SLASH, 0.02), (F.SERIAL_D, 0.01)],
    "utf8_en": [(F.D_ISO, 1.0)],
}
ORDER_MONEY_MIX = {
    "gbk_zh": [(F.M_THOUSANDS, 0.55), (F.M_PLAIN, 0.20), (F.M_YEN, 0.12), (F.M_INT_THOUSANDS, 0.08), (F.M_WAN, 0.05)],
    "bom_zh": [(F.M_PLAIN, 0.55), (F.M_YEN, 0.25), (F.M_THOUSANDS, 0.12), (F.M_WAN, 0.08)],
    "utf8_en": [(F.M_PLAIN, 1.0)],
}
OPP_MONEY_MIX = {
    "gbk_zh": [(F.M_THOUSANDS, 0.6), (F.M_WAN, 0.4)],
    "bom_zh": [(F.M_PLAIN, 0.5), (F.M_WAN, 0.3), (F.M_YEN, 0.2)],
    "utf8_en": [(F.M_PLAIN, 1.0)],
}
YEN = {"gbk_zh": "￥", "bom_zh": "¥", "utf8_en": "¥"}  # GBK has no U+00A5; Chinese Excel writes the full-width ￥


def spellings(rng, n: int, mix, force: bool = False) -> np.ndarray:
    """Per-row spelling codes drawn from ``mix``; with ``force`` every alternative occurs once."""
    codes = np.array([c for c, _ in mix], dtype=np.int64)
    probs = np.array([p for _, p in mix], dtype=float)
    out = codes[rng.choice(len(codes), n, p=probs / probs.sum())] if n else np.zeros(0, np.int64)
    if force and len(codes) > 1 and n >= 4 * len(codes):
        spots = rng.choice(n, len(codes) - 1, replace=False)
        out[spots] = codes[1:]
    return out


class Exports:
    """One generation run: its random streams, the files it wrote, rows per entity and mess by kind."""

    def __init__(self, out: Path, n: int, seed: int):
        self.out, self.n, self.seed = out, n, seed
        self.files: list[Path] = []
        self.rows: Counter = Counter()
        self.mess: Counter = Counter()
        self.width = max(5, len(str(2 * n)))  # digits of the running number inside a month

    def rng(self, *keys: int) -> np.random.Generator:
        """An independent stream per (seed, entity, month): generation order never changes the data."""
        return np.random.default_rng([self.seed, *keys])

    def path(self, entity: str, export: dt.date, ext: str) -> Path:
        return self.out / SOURCE_OF[entity] / export.isoformat() / f"{entity}.{ext}"

    def csv(self, entity: str, export: dt.date, frame: pl.DataFrame, style: F.Style, variant: int) -> None:
        headers = ZH_HEADERS[entity][variant % len(ZH_HEADERS[entity])] if style.chinese else COLUMNS[entity]
        path = self.path(entity, export, "csv")
        named = frame.select(COLUMNS[entity]).rename(dict(zip(COLUMNS[entity], headers)))
        self.rows[entity] += F.write_csv(path, named, style)
        self.files.append(path)

    @staticmethod
    def style(entity: str, i: int) -> F.Style:
        """The style of an entity's i-th CSV export."""
        return F.STYLES[(i + STYLE_OFFSET[entity]) % 3]

    def dates(self, entity: str, series: pl.Series, rng, mix, force: bool = False) -> pl.Series:
        """Render a time column with per-row spellings drawn from ``mix``; count the unusual ones."""
        codes = spellings(rng, series.len(), mix, force)
        present = ~series.is_null().to_numpy()
        other = int((present & (codes != mix[0][0])).sum())
        serial = int((present & np.isin(codes, [F.SERIAL_D, F.SERIAL_DT])).sum())
        if other:
            self.mess[f"{entity}: {series.name} spelled unlike the rest of its file"] += other
        if serial:
            self.mess[f"{entity}: {series.name} as an Excel serial number"] += serial
        return F.fmt_datetime(series, codes)
