"""Customers: who they are, how they buy and churn, who owns them, and the CRM customer snapshots.

Customers are acquired throughout the period (40 % already customers before 2024); company size
drives order rate and spend (lognormal, so value is skewed and RFM tiers are meaningful); churned
customers stop ordering and the CRM marks most of them lost 1-4 months later; owners change when
two reps leave on 2025-06-16 and hand over their accounts, plus random reassignments.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from crm_pulse.demo.columns import nullable, take
from crm_pulse.demo.dirt import CUSTOMER_DUP_SNAPSHOTS, dup_rows
from crm_pulse.demo.exports import DATE_MIX, DT_MIX, Exports
from crm_pulse.demo.timeline import CUSTOMER_SNAPSHOTS, D0, END_DAY, LAST_EXPORT, NEVER, clock, day_number

# --- reference data (all strings encodable in GBK) -----------------------------------------------
REPS = ["张伟", "李娜", "王芳", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴婷", "徐明", "孙丽", "郑浩", "马超"]
REP_WEIGHTS = np.array([1.3, 1.2, 1.1, 1.1, 1.0, 1.0, 1.0, 0.9, 0.9, 0.8, 0.9, 0.8])
LEAVERS, JOINERS = (10, 11), (12, 13)
HANDOVER_DAY = day_number(dt.date(2025, 6, 16))

INDUSTRIES = ["制造业", "零售", "互联网", "金融", "教育", "医疗", "物流", "餐饮", "建筑", "能源", "专业服务"]
INDUSTRY_WEIGHTS = np.array([22, 14, 12, 7, 8, 7, 8, 7, 6, 4, 5], dtype=float)
BUSINESS_WORDS = [
    ["机械制造", "精密制造", "电子", "新材料", "汽车配件"], ["商贸", "百货", "连锁超市", "贸易"],
    ["网络科技", "信息技术", "数字科技", "软件"], ["投资管理", "融资租赁", "资产管理"],
    ["教育科技", "文化传播", "职业培训"], ["医疗器械", "生物科技", "医药", "健康管理"],
    ["物流", "供应链管理", "货运代理"], ["餐饮管理", "食品", "餐饮连锁"], ["建设工程", "建筑装饰", "工程设计"],
    ["新能源", "电力工程", "环保科技"], ["管理咨询", "人力资源", "企业服务"],
]
REGIONS = [  # province, weight, cities
    ("广东省", 16, ["广州市", "深圳市", "东莞市", "佛山市"]), ("浙江省", 11, ["杭州市", "宁波市", "温州市"]),
    ("江苏省", 11, ["南京市", "苏州市", "无锡市"]), ("上海市", 10, ["上海市"]), ("北京市", 9, ["北京市"]),
    ("山东省", 7, ["济南市", "青岛市", "烟台市"]), ("四川省", 6, ["成都市", "绵阳市"]), ("湖北省", 5, ["武汉市", "宜昌市"]),
    ("福建省", 5, ["福州市", "厦门市", "泉州市"]), ("河南省", 4, ["郑州市", "洛阳市"]), ("湖南省", 4, ["长沙市", "株洲市"]),
    ("天津市", 3, ["天津市"]), ("重庆市", 3, ["重庆市"]), ("陕西省", 3, ["西安市"]), ("安徽省", 3, ["合肥市", "芜湖市"]),
    ("辽宁省", 2, ["沈阳市", "大连市"]),
]
BRAND = [("华", "hua"), ("信", "xin"), ("达", "da"), ("恒", "heng"), ("瑞", "rui"), ("德", "de"), ("安", "an"),
         ("泰", "tai"), ("鑫", "xin"), ("源", "yuan"), ("盛", "sheng"), ("宏", "hong"), ("嘉", "jia"), ("创", "chuang"),
         ("远", "yuan"), ("博", "bo"), ("凯", "kai"), ("新", "xin"), ("锦", "jin"), ("汇", "hui"), ("正", "zheng"),
         ("通", "tong"), ("天", "tian"), ("海", "hai"), ("金", "jin"), ("美", "mei"), ("佳", "jia"), ("中", "zhong"),
         ("宇", "yu"), ("辰", "chen"), ("明", "ming"), ("和", "he"), ("兴", "xing"), ("永", "yong"), ("丰", "feng"),
         ("润", "run"), ("立", "li"), ("启", "qi"), ("星", "xing"), ("联", "lian")]
SUFFIXES = ["有限公司", "股份有限公司", "集团有限公司", "有限责任公司"]
SUFFIX_P = np.array([[0.15, 0.45, 0.40, 0.0], [0.65, 0.25, 0.05, 0.05], [0.85, 0.02, 0.0, 0.13]])
CONTACTS = ["zhangwei", "liqiang", "wangfang", "liuyang", "chenjing", "yangli", "zhaolei", "huangmin", "zhoujie",
            "wuting", "xuming", "sunli", "zhuhui", "hulin", "guojun", "heping", "gaofei", "linlin", "luoyi",
            "liangchen"]
MAIL_HOSTS = ["163.com", "qq.com", "126.com", "sina.com"]
PHONE_PREFIX = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "158",
                "159", "166", "176", "177", "180", "181", "186", "187", "188", "189", "198", "199"]
SIZE_ZH, SIZE_EN = ["大型", "中型", "小微"], ["large", "medium", "small_micro"]
SIZE_P = [0.12, 0.33, 0.55]
LEGACY_SHARE = 0.4  # customers whose first deal was before 2024
RATE_MEDIAN = np.array([1.3, 0.85, 0.5])          # orders per active month
SPEND_MEDIAN = np.array([26000.0, 8500.0, 2600.0])  # yuan per order
CHURN_SCALE = np.array([2600.0, 1800.0, 1150.0])    # days, exponential
LOST_REASONS = ["价格", "服务", "质量", "竞品", "需求变化"]
LOST_P = [0.28, 0.20, 0.14, 0.26, 0.12]


@dataclass
class Customers:
    """Per-customer arrays (index = position in CRM id order) that every other entity is simulated from."""

    n: int
    ids: pl.Series
    legacy: np.ndarray
    fd: np.ndarray             # first deal day
    created_sec: np.ndarray
    first_order_sec: np.ndarray
    size: np.ndarray
    rate: np.ndarray
    rel: np.ndarray            # rate relative to its size median
    spend: np.ndarray
    discount: np.ndarray
    usd: np.ndarray
    churn_day: np.ndarray      # NEVER if not churned within the history
    mark_day: np.ndarray       # day the CRM marks the customer lost (NEVER if never)
    reason: np.ndarray
    owner0: np.ndarray
    owner1: np.ndarray
    change_day: np.ndarray
    owner_missing: np.ndarray
    static: pl.DataFrame       # text columns that never change between snapshots

    def owner_at(self, cust: np.ndarray, day: np.ndarray) -> np.ndarray:
        return np.where(day >= self.change_day[cust], self.owner1[cust], self.owner0[cust])


def simulate_customers(ex: Exports) -> Customers:
    """The hidden state of every customer: acquisition, size, order rate and spend, churn, owners."""
    n, rng = ex.n, ex.rng(1)
    legacy = rng.random(n) < LEGACY_SHARE
    new_fd = D0 + np.floor((END_DAY - D0 + 1) * rng.random(n) ** 0.8).astype(np.int64)
    fd = np.where(legacy, rng.integers(day_number(dt.date(2020, 3, 1)), D0 - 1, n), new_fd)
    created_day = fd - rng.integers(3, 121, n)
    raw = {
        "legacy": legacy, "fd": fd,
        "created_sec": created_day * 86400 + clock(rng, n),
        "first_order_sec": fd * 86400 + clock(rng, n, 0.05),
        "size": rng.choice(3, n, p=SIZE_P),
        "rel": rng.lognormal(0.0, 0.75, n),
        "spend_rel": rng.lognormal(0.0, 0.6, n),
        "usd": rng.random(n) < 0.025,
        "industry": rng.choice(len(INDUSTRIES), n, p=INDUSTRY_WEIGHTS / INDUSTRY_WEIGHTS.sum()),
        "industry_missing": rng.random(n) < 0.05,
        "owner_missing": rng.random(n) < 0.03,
        "word": rng.integers(0, 60, n), "brand1": rng.integers(0, len(BRAND), n),
        "brand2": rng.integers(0, len(BRAND), n), "suffix_u": rng.random(n),
        "phone_prefix": rng.integers(0, len(PHONE_PREFIX), n), "phone_tail": rng.integers(0, 10**8, n),
        "phone_missing": rng.random(n) < 0.02, "contact": rng.integers(0, len(CONTACTS), n),
        "mail_kind": rng.random(n), "mail_num": rng.integers(1, 1000, n), "mail_host": rng.integers(0, 4, n),
        "tld": rng.integers(0, 3, n),
        "risk_u": rng.exponential(1.0, n), "mark_u": rng.random(n), "mark_lag": rng.integers(30, 121, n),
        "reason": rng.choice(len(LOST_REASONS), n, p=LOST_P),
        "owner_u": rng.random(n), "reassign_u": rng.random(n), "reassign_t": rng.random(n),
        "owner_pick": rng.integers(0, 1 << 30, n), "disc_u": rng.random(n),
    }
    provinces = [(p, w / len(cities), c) for p, w, cities in REGIONS for c in cities]
    pw = np.array([w for _, w, _ in provinces])
    raw["loc"] = rng.choice(len(provinces), n, p=pw / pw.sum())
    order = np.lexsort((np.arange(n), raw["created_sec"]))  # CRM ids follow creation time
    r = {k: v[order] for k, v in raw.items()}

    size = r["size"]
    rate = RATE_MEDIAN[size] * r["rel"]
    spend = SPEND_MEDIAN[size] * r["spend_rel"]
    discount = np.choose(np.minimum((r["disc_u"] * 3).astype(int), 2),
                         [np.array([0.80, 0.90, 1.0])[size], np.array([0.85, 0.95, 1.0])[size],
                          np.array([0.90, 1.0, 1.0])[size]])
    # churn: exponential time-to-churn from the later of first deal + 45 days and 2024-01-01
    risk_start = np.where(r["legacy"], D0, r["fd"] + 45)
    churn = risk_start + (r["risk_u"] * CHURN_SCALE[size] * r["rel"] ** 0.3).astype(np.int64)
    churned = churn <= END_DAY
    churn_day = np.where(churned, churn, NEVER)
    mark_day = np.where(churned & (r["mark_u"] < 0.75), churn_day + r["mark_lag"], NEVER)
    # owners: weighted among the first 12 reps; accounts created after the hand-over never get a leaver
    created_day = r["created_sec"] // 86400
    cum = np.cumsum(REP_WEIGHTS / REP_WEIGHTS.sum())
    owner0 = np.minimum(np.searchsorted(cum, r["owner_u"]), 11)
    late = created_day >= HANDOVER_DAY
    active_after = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13])
    owner0 = np.where(late & np.isin(owner0, LEAVERS), active_after[r["owner_pick"] % 12], owner0)
    owner1, change_day = owner0.copy(), np.full(n, NEVER, dtype=np.int64)
    leaving = np.isin(owner0, LEAVERS)
    owner1[leaving] = np.array(JOINERS)[r["owner_pick"][leaving] % 2]
    change_day[leaving] = HANDOVER_DAY
    lo = np.maximum(created_day + 60, D0)
    reassign = ~leaving & (r["reassign_u"] < 0.05) & (lo < END_DAY)
    change_day[reassign] = (lo + r["reassign_t"] * (END_DAY - lo)).astype(np.int64)[reassign]
    other = (owner0 + 1 + r["owner_pick"] % 9) % 10  # one of reps 0-9 (never leave), not owner0 if < 10
    owner1[reassign] = other[reassign]

    width = max(6, len(str(n)))
    ids = pl.select(pl.concat_str([pl.lit("C"), pl.int_range(1, n + 1).cast(pl.Utf8).str.zfill(width)])
                    .alias("customer_id")).to_series()
    static = _customer_text(r, provinces, ids)
    return Customers(
        n=n, ids=ids, legacy=r["legacy"], fd=r["fd"], created_sec=r["created_sec"],
        first_order_sec=r["first_order_sec"], size=size, rate=rate, rel=r["rel"], spend=spend,
        discount=discount, usd=r["usd"], churn_day=churn_day, mark_day=mark_day, reason=r["reason"],
        owner0=owner0, owner1=owner1, change_day=change_day, owner_missing=r["owner_missing"], static=static)


def _customer_text(r: dict, provinces, ids: pl.Series) -> pl.DataFrame:
    """Name, industry, location, phone and e-mail: the columns that never change between snapshots."""
    size = r["size"]
    word_lists = [BUSINESS_WORDS[i] for i in range(len(INDUSTRIES))]
    flat_words = [w for ws in word_lists for w in ws]
    offsets = np.cumsum([0] + [len(ws) for ws in word_lists])[:-1]
    lens = np.array([len(ws) for ws in word_lists])
    word_idx = offsets[r["industry"]] + r["word"] % lens[r["industry"]]
    cum = np.cumsum(SUFFIX_P, axis=1)
    suffix = (r["suffix_u"][:, None] > cum[size]).sum(axis=1)
    city = [c for _, _, c in provinces]
    city_short = [c[:-1] for c in city]
    brand_zh = [b for b, _ in BRAND]
    brand_py = [p for _, p in BRAND]
    b1, b2 = r["brand1"], np.where(r["brand2"] == r["brand1"], (r["brand2"] + 7) % len(BRAND), r["brand2"])
    frame = pl.DataFrame({
        "customer_id": ids,
        "cs": take(city_short, r["loc"]), "b1": take(brand_zh, b1), "b2": take(brand_zh, b2),
        "word": take(flat_words, word_idx), "suffix": take(SUFFIXES, suffix),
        "industry": take(INDUSTRIES, r["industry"], r["industry_missing"]),
        "region": take([p for p, _, _ in provinces], r["loc"]), "city": take(city, r["loc"]),
        "pp": take(PHONE_PREFIX, r["phone_prefix"]), "pt": r["phone_tail"], "phone_missing": r["phone_missing"],
        "contact": take(CONTACTS, r["contact"]), "py1": take(brand_py, b1), "py2": take(brand_py, b2),
        "tld": take([".com", ".cn", ".com.cn"], r["tld"]), "host": take(MAIL_HOSTS, r["mail_host"]),
        "num": r["mail_num"], "kind": r["mail_kind"],
    })
    return frame.select(
        "customer_id",
        pl.concat_str(["cs", "b1", "b2", "word", "suffix"]).alias("customer_name"),
        "industry", "region", "city",
        pl.when(pl.col("phone_missing")).then(None)
        .otherwise(pl.concat_str([pl.col("pp"), pl.col("pt").cast(pl.Utf8).str.zfill(8)])).alias("phone"),
        pl.when(pl.col("kind") < 0.55).then(pl.concat_str(["contact", pl.lit("@"), "py1", "py2", "tld"]))
        .when(pl.col("kind") < 0.92)
        .then(pl.concat_str(["contact", pl.col("num").cast(pl.Utf8), pl.lit("@"), "host"]))
        .otherwise(None).alias("email"),
    )


def write_customers(ex: Exports, c: Customers) -> None:
    """The CRM customer snapshots (2024-01-01 and quarterly): status, owner and first deal as of each export."""
    for i, export in enumerate(CUSTOMER_SNAPSHOTS):
        e_day = day_number(export)
        rng = ex.rng(2, i)
        rows = np.flatnonzero(c.created_sec < e_day * 86400)
        style = ex.style("customers", i)
        day_before = np.full(rows.size, e_day - 1)
        owner = np.where(c.owner_missing[rows], -1, c.owner_at(rows, day_before))
        lost = c.mark_day[rows] < e_day
        fd = np.where(c.fd[rows] < e_day, c.fd[rows] * 86400, -1)
        frame = c.static[rows].with_columns(
            company_size=take(SIZE_ZH if style.chinese else SIZE_EN, c.size[rows]),
            owner_rep=take(REPS, owner),
            first_deal_date=nullable(fd),
            created_at=pl.Series(c.created_sec[rows]),
            status=take(["活跃", "流失"] if style.chinese else ["active", "lost"], lost.astype(int)),
            lost_reason=take(LOST_REASONS, np.where(lost, c.reason[rows], -1)),
        )
        frame = frame.with_columns(
            ex.dates("customers", frame["first_deal_date"], rng, DATE_MIX[style.name], force=True),
            ex.dates("customers", frame["created_at"], rng, DT_MIX[style.name]),
        )
        if i in CUSTOMER_DUP_SNAPSHOTS:
            frame = dup_rows(ex, rng, frame, 0.003, 2, "customers: exact duplicate rows in one snapshot")
        ex.csv("customers", export, frame, style, i // 3)
    ex.mess["customers: missing industry"] = int(c.static["industry"].null_count())
    ex.mess["customers: missing owner_rep"] = int(c.owner_missing.sum())
    ex.mess["customers: rows repeating a customer of an earlier snapshot (latest export wins)"] = (
        ex.rows["customers"] - ex.mess["customers: exact duplicate rows in one snapshot"] - c.n)
    final = day_number(LAST_EXPORT)
    ex.mess["customers: marked lost with a reason by the last snapshot (active in earlier ones)"] = int(
        (c.mark_day < final).sum())
    ex.mess["customers: owner changed during the history (hand-over or reassignment)"] = int(
        ((c.change_day < final) & ~c.owner_missing & (c.change_day * 86400 > c.created_sec)).sum())
