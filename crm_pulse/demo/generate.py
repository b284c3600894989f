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
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from crm_pulse.demo import formats as F

# --- calendar ------------------------------------------------------------------------------------
EPOCH = dt.date(1970, 1, 1)
HISTORY_START = dt.date(2024, 1, 1)
HISTORY_END = dt.date(2025, 12, 31)
LAST_EXPORT = dt.date(2026, 1, 1)
N_MONTHS = 24
MONTH_STARTS = [dt.date(2024 + i // 12, i % 12 + 1, 1) for i in range(N_MONTHS + 1)]  # ..2026-01-01


def _day(d: dt.date) -> int:
    return (d - EPOCH).days


MS_DAY = np.array([_day(d) for d in MONTH_STARTS], dtype=np.int64)
D0, END_DAY = _day(HISTORY_START), _day(HISTORY_END)
END_SEC = _day(LAST_EXPORT) * 86400  # every simulated event happens before this instant
NEVER = 10**7  # a day number far in the future
YM = [d.strftime("%Y%m") for d in MONTH_STARTS]
CUSTOMER_SNAPSHOTS = [MONTH_STARTS[i] for i in range(0, N_MONTHS + 1, 3)]  # 2024-01-01 + quarterly
PRODUCT_SNAPSHOTS = [dt.date(2024, 1, 1), dt.date(2025, 1, 1)]
CAMPAIGN_EXPORTS = [dt.date(2024, 7, 1), dt.date(2025, 1, 1), dt.date(2025, 7, 1), dt.date(2026, 1, 1)]
SEASON = np.array([0.95, 0.70, 1.05, 1.00, 1.00, 1.15, 0.95, 0.95, 1.05, 0.90, 1.20, 1.25])
TREND = (1.0, 1.08)
SERVICE_CRUNCH = (_day(dt.date(2025, 4, 1)) * 86400, _day(dt.date(2025, 9, 1)) * 86400)

# --- reference data (all strings encodable in GBK) -----------------------------------------------
REPS = ["张伟", "李娜", "王芳", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴婷", "徐明", "孙丽", "郑浩", "马超"]
REP_WEIGHTS = np.array([1.3, 1.2, 1.1, 1.1, 1.0, 1.0, 1.0, 0.9, 0.9, 0.8, 0.9, 0.8])
LEAVERS, JOINERS = (10, 11), (12, 13)
HANDOVER_DAY = _day(dt.date(2025, 6, 16))
AGENTS = ["林晓", "何婷", "郭佳", "高磊", "罗丹", "梁宇"]

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
ORDER_STATUS_ZH, ORDER_STATUS_EN = ["已完成", "已取消", "已退款"], ["completed", "cancelled", "refunded"]
ACT_ZH, ACT_EN = ["电话", "拜访", "邮件", "微信", "会议"], ["call", "visit", "email", "wechat", "meeting"]
OPP_OPEN_STAGES = ["初步接洽", "需求确认", "方案报价", "商务谈判"]
OPP_LOST_REASONS = ["价格", "竞品", "预算不足", "需求变化", "无决策权"]
TICKET_CAT_ZH, TICKET_CAT_EN = ["价格", "服务", "质量", "物流", "其他"], ["price", "service", "quality", "delivery", "other"]
PRIO_ZH, PRIO_EN = ["低", "中", "高", "紧急"], ["low", "medium", "high", "urgent"]
TSTATUS_ZH, TSTATUS_EN = ["处理中", "已解决", "已关闭"], ["open", "resolved", "closed"]
TICKET_CHANNELS = ["电话", "微信", "邮件", "在线客服", "小程序"]

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
    world = _World(Path(out_dir), customers, seed)
    world.run()
    return DemoSummary(out_dir=Path(out_dir), customers=customers, seed=seed, files=sorted(world.files),
                       rows={e: world.rows.get(e, 0) for e in COLUMNS}, mess=dict(sorted(world.mess.items())))


# --- helpers -------------------------------------------------------------------------------------
def _rng(seed: int, *keys: int) -> np.random.Generator:
    """An independent stream per (seed, entity, month): generation order never changes the data."""
    return np.random.default_rng([seed, *keys])


def _clock(rng: np.random.Generator, n: int, late_share: float = 0.1) -> np.ndarray:
    """Seconds of the day: office hours, a few evenings."""
    office = rng.integers(int(8.5 * 3600), int(18.5 * 3600), n)
    evening = rng.integers(int(18.5 * 3600), 22 * 3600, n)
    return np.where(rng.random(n) < late_share, evening, office).astype(np.int64)


def _weekday_shift(rng, day: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Move most weekend days to the Friday before (or Monday after) inside [lo, hi)."""
    dow = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    move = (dow >= 5) & (rng.random(day.size) < 0.8)
    friday, monday = day - (dow - 4), day + (7 - dow)
    shifted = np.where(friday >= lo, friday, np.where(monday < hi, monday, day))
    return np.where(move, shifted, day)


def _month_of_sec(sec: np.ndarray) -> np.ndarray:
    return np.searchsorted(MS_DAY, sec // 86400, side="right") - 1


def _codes(rng, n: int, mix, force: bool = False) -> np.ndarray:
    """Per-row spelling codes drawn from ``mix``; with ``force`` every alternative occurs once."""
    codes = np.array([c for c, _ in mix], dtype=np.int64)
    probs = np.array([p for _, p in mix], dtype=float)
    out = codes[rng.choice(len(codes), n, p=probs / probs.sum())] if n else np.zeros(0, np.int64)
    if force and len(codes) > 1 and n >= 4 * len(codes):
        spots = rng.choice(n, len(codes) - 1, replace=False)
        out[spots] = codes[1:]
    return out


def _take(values: list, idx: np.ndarray, missing: np.ndarray | None = None) -> pl.Series:
    """values[idx] as a polars Series; idx < 0 or ``missing`` -> null."""
    idx = np.asarray(idx, dtype=np.int64)
    gone = idx < 0 if missing is None else (idx < 0) | missing
    series = pl.Series(values, dtype=pl.Utf8).gather(np.where(gone, 0, idx))
    return series.scatter(np.flatnonzero(gone), None) if gone.any() else series


def _seq_ids(prefix: str, month_idx: np.ndarray, width: int) -> pl.Series:
    """IDs like SO202403000123: month of the event + running number inside the month (rows sorted)."""
    first = np.searchsorted(month_idx, month_idx, side="left")
    seq = np.arange(month_idx.size) - first + 1
    frame = pl.DataFrame({"ym": _take(YM, month_idx), "seq": seq})
    return frame.select(
        pl.concat_str([pl.lit(prefix), pl.col("ym"), pl.col("seq").cast(pl.Utf8).str.zfill(width)])).to_series()


def _nullable(values: np.ndarray) -> pl.Series:
    """Int64 Series with negative values (our "absent" marker; real times are positive) as null."""
    series = pl.Series(np.asarray(values, dtype=np.int64))
    gone = np.flatnonzero(np.asarray(values) < 0)
    return series.scatter(gone, None) if gone.size else series


def _pick(rng, eligible: np.ndarray, rate: float, forced: bool) -> np.ndarray:
    """Boolean mask: each eligible row with probability ``rate``; if ``forced``, at least one."""
    mask = eligible & (rng.random(eligible.size) < rate)
    if forced and not mask.any() and eligible.any():
        mask[rng.choice(np.flatnonzero(eligible))] = True
    return mask


def _impossible_date(month: int, style: F.Style) -> str:
    """A date that does not exist, near ``month``: the last 30-day month's 31st or 30 February."""
    year, mon = MONTH_STARTS[month].year, MONTH_STARTS[month].month
    candidates = [(2, 30), (4, 31), (6, 31), (9, 31), (11, 31)]
    m, d = max([c for c in candidates if c[0] <= mon], default=(2, 30))
    if style.name == "gbk_zh":
        return f"{year}/{m}/{d} 10:{15 + mon:02d}"
    return f"{year}-{m:02d}-{d:02d} 10:{15 + mon:02d}:00"


@dataclass
class _Customers:
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


class _World:
    def __init__(self, out: Path, n: int, seed: int):
        self.out, self.n, self.seed = out, n, seed
        self.files: list[Path] = []
        self.rows: Counter = Counter()
        self.mess: Counter = Counter()
        self.width = max(5, len(str(2 * n)))  # digits of the running number inside a month

    # -- bookkeeping --
    def _path(self, entity: str, export: dt.date, ext: str) -> Path:
        return self.out / SOURCE_OF[entity] / export.isoformat() / f"{entity}.{ext}"

    def _csv(self, entity: str, export: dt.date, frame: pl.DataFrame, style: F.Style, variant: int) -> None:
        headers = ZH_HEADERS[entity][variant % len(ZH_HEADERS[entity])] if style.chinese else COLUMNS[entity]
        path = self._path(entity, export, "csv")
        named = frame.select(COLUMNS[entity]).rename(dict(zip(COLUMNS[entity], headers)))
        self.rows[entity] += F.write_csv(path, named, style)
        self.files.append(path)

    @staticmethod
    def _style(entity: str, i: int) -> F.Style:
        return F.STYLES[(i + STYLE_OFFSET[entity]) % 3]

    def _dup_rows(self, rng, frame: pl.DataFrame, rate: float, minimum: int, kind: str) -> pl.DataFrame:
        """Append exact copies of a few rows (a double export)."""
        if frame.height == 0:
            return frame
        k = min(frame.height, max(minimum, int(round(rate * frame.height))))
        idx = np.sort(rng.choice(frame.height, k, replace=False))
        self.mess[kind] += k
        return pl.concat([frame, frame[idx]])

    def _dates(self, entity: str, series: pl.Series, rng, mix, force: bool = False) -> pl.Series:
        """Render a time column with per-row spellings drawn from ``mix``; count the unusual ones."""
        codes = _codes(rng, series.len(), mix, force)
        present = ~series.is_null().to_numpy()
        other = int((present & (codes != mix[0][0])).sum())
        serial = int((present & np.isin(codes, [F.SERIAL_D, F.SERIAL_DT])).sum())
        if other:
            self.mess[f"{entity}: {series.name} spelled unlike the rest of its file"] += other
        if serial:
            self.mess[f"{entity}: {series.name} as an Excel serial number"] += serial
        return F.fmt_datetime(series, codes)

    def run(self) -> None:
        self.c = self._simulate_customers()
        self._products()
        self._customer_snapshots()
        self._orders()
        self._activities()
        self._opportunities()
        self._tickets()
        self._campaigns()

    # -- customers --------------------------------------------------------------------------------
    def _simulate_customers(self) -> _Customers:
        n, rng = self.n, _rng(self.seed, 1)
        legacy = rng.random(n) < LEGACY_SHARE
        new_fd = D0 + np.floor((END_DAY - D0 + 1) * rng.random(n) ** 0.8).astype(np.int64)
        fd = np.where(legacy, rng.integers(_day(dt.date(2020, 3, 1)), D0 - 1, n), new_fd)
        created_day = fd - rng.integers(3, 121, n)
        raw = {
            "legacy": legacy, "fd": fd,
            "created_sec": created_day * 86400 + _clock(rng, n),
            "first_order_sec": fd * 86400 + _clock(rng, n, 0.05),
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
        static = self._customer_text(r, provinces, ids)
        return _Customers(
            n=n, ids=ids, legacy=r["legacy"], fd=r["fd"], created_sec=r["created_sec"],
            first_order_sec=r["first_order_sec"], size=size, rate=rate, rel=r["rel"], spend=spend,
            discount=discount, usd=r["usd"], churn_day=churn_day, mark_day=mark_day, reason=r["reason"],
            owner0=owner0, owner1=owner1, change_day=change_day, owner_missing=r["owner_missing"], static=static)

    def _customer_text(self, r: dict, provinces, ids: pl.Series) -> pl.DataFrame:
        n = self.n
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
            "cs": _take(city_short, r["loc"]), "b1": _take(brand_zh, b1), "b2": _take(brand_zh, b2),
            "word": _take(flat_words, word_idx), "suffix": _take(SUFFIXES, suffix),
            "industry": _take(INDUSTRIES, r["industry"], r["industry_missing"]),
            "region": _take([p for p, _, _ in provinces], r["loc"]), "city": _take(city, r["loc"]),
            "pp": _take(PHONE_PREFIX, r["phone_prefix"]), "pt": r["phone_tail"], "phone_missing": r["phone_missing"],
            "contact": _take(CONTACTS, r["contact"]), "py1": _take(brand_py, b1), "py2": _take(brand_py, b2),
            "tld": _take([".com", ".cn", ".com.cn"], r["tld"]), "host": _take(MAIL_HOSTS, r["mail_host"]),
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

    def _customer_snapshots(self) -> None:
        c = self.c
        for i, export in enumerate(CUSTOMER_SNAPSHOTS):
            e_day = _day(export)
            rng = _rng(self.seed, 2, i)
            rows = np.flatnonzero(c.created_sec < e_day * 86400)
            style = self._style("customers", i)
            day_before = np.full(rows.size, e_day - 1)
            owner = np.where(c.owner_missing[rows], -1, c.owner_at(rows, day_before))
            lost = c.mark_day[rows] < e_day
            fd = np.where(c.fd[rows] < e_day, c.fd[rows] * 86400, -1)
            frame = c.static[rows].with_columns(
                company_size=_take(SIZE_ZH if style.chinese else SIZE_EN, c.size[rows]),
                owner_rep=_take(REPS, owner),
                first_deal_date=_nullable(fd),
                created_at=pl.Series(c.created_sec[rows]),
                status=_take(["活跃", "流失"] if style.chinese else ["active", "lost"], lost.astype(int)),
                lost_reason=_take(LOST_REASONS, np.where(lost, c.reason[rows], -1)),
            )
            frame = frame.with_columns(
                self._dates("customers", frame["first_deal_date"], rng, DATE_MIX[style.name], force=True),
                self._dates("customers", frame["created_at"], rng, DT_MIX[style.name]),
            )
            if i in CUSTOMER_DUP_SNAPSHOTS:
                frame = self._dup_rows(rng, frame, 0.003, 2, "customers: exact duplicate rows in one snapshot")
            self._csv("customers", export, frame, style, i // 3)
        self.mess["customers: missing industry"] = int(c.static["industry"].null_count())
        self.mess["customers: missing owner_rep"] = int(c.owner_missing.sum())
        self.mess["customers: rows repeating a customer of an earlier snapshot (latest export wins)"] = (
            self.rows["customers"] - self.mess["customers: exact duplicate rows in one snapshot"] - c.n)
        final = _day(LAST_EXPORT)
        self.mess["customers: marked lost with a reason by the last snapshot (active in earlier ones)"] = int((c.mark_day < final).sum())
        self.mess["customers: owner changed during the history (hand-over or reassignment)"] = int(
            ((c.change_day < final) & ~c.owner_missing & (c.change_day * 86400 > c.created_sec)).sum())

    # -- products (the one XLSX entity) -----------------------------------------------------------
    def _products(self) -> None:
        for i, export in enumerate(PRODUCT_SNAPSHOTS):
            if i == 0:
                rows = [[sku, name, cat] for sku, name, cat, _, _ in PRODUCTS]
                header, title = ZH_HEADERS["products"][0], "商品列表"
            else:
                rows = [[sku, PRODUCT_RENAMES.get(sku, name), PRODUCT_RECATEGORISED.get(sku, cat)]
                        for sku, name, cat, _, _ in PRODUCTS + PRODUCTS_V2]
                header, title = COLUMNS["products"], "Products"
            path = self._path("products", export, "xlsx")
            self.rows["products"] += F.write_xlsx(path, header, rows, title)
            self.files.append(path)

    # -- orders and order lines -------------------------------------------------------------------
    def _orders(self) -> None:
        catalog = PRODUCTS + PRODUCTS_V2
        sku = [p[0] for p in catalog]
        price_fen = np.array([round(p[3] * 100) for p in catalog], dtype=np.int64)
        pop = np.array([p[4] for p in catalog], dtype=float)
        n_v1 = len(PRODUCTS)
        carry_orders, carry_items = None, None
        for m in range(N_MONTHS):
            orders, items = self._orders_month(m, sku, price_fen, pop, n_v1)
            style = self._style("orders", m)
            rng = _rng(self.seed, 11, m)
            export = MONTH_STARTS[m + 1]
            if carry_orders is not None:  # the previous export's last two days, exported again
                orders = pl.concat([carry_orders, orders])
                items = pl.concat([carry_items, items])
            carry_orders = carry_items = None
            if m in OVERLAP_MONTHS:
                tail = orders.filter(pl.col("sec") >= (MS_DAY[m + 1] - 2) * 86400, ~pl.col("carried"))
                carry_orders = tail.with_columns(carried=pl.lit(True))
                carry_items = items.join(tail.select("order_id"), on="order_id", how="semi", maintain_order="left")
                self.mess["orders: rows repeated in the next month's export (overlap)"] += tail.height
                self.mess["order_items: rows repeated in the next month's export (overlap)"] += carry_items.height
            self._write_orders(m, export, style, rng, orders)
            self._write_items(m, export, style, rng, items)

    def _orders_month(self, m: int, sku: list, price_fen: np.ndarray, pop: np.ndarray, n_v1: int):
        c, rng = self.c, _rng(self.seed, 10, m)
        ms, me = MS_DAY[m], MS_DAY[m + 1]
        start = np.maximum(np.where(c.legacy, ms, c.fd + 1), ms)
        end = np.minimum(c.churn_day, me)
        dur = np.clip(end - start, 0, None)
        dampen = np.where(c.churn_day - me < 60, 0.6, 1.0)
        lam = c.rate * SEASON[m % 12] * TREND[m // 12] * dampen * dur / (me - ms)
        k = rng.poisson(lam)
        cust = np.repeat(np.arange(c.n), k)
        day = start[cust] + (rng.random(cust.size) * dur[cust]).astype(np.int64)
        day = _weekday_shift(rng, day, start[cust], end[cust])
        sec = day * 86400 + _clock(rng, cust.size, 0.12)
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
        extreme = _pick(rng, status == 0, EXTREME_RATE, m in EXTREME_MONTHS)
        qty = np.where(extreme[line_order], qty * 100, qty)
        amount = np.bincount(line_order, weights=(qty * unit).astype(float), minlength=n_o).round().astype(np.int64)
        self.mess["orders: extreme amounts (bulk order, x100 quantities; items reconcile)"] += int(extreme.sum())
        self.mess["orders: USD orders"] += int(usd.sum())

        ids = _seq_ids("SO", np.full(n_o, m), self.width)
        orders = pl.DataFrame({
            "order_id": ids, "cust": cust, "sec": sec, "status": status.astype(np.int64), "amount_fen": amount,
            "currency": _take(["CNY", "USD"], usd.astype(int)), "rep": rep.astype(np.int64),
            "carried": np.zeros(n_o, dtype=bool),
        })
        items = pl.DataFrame({
            "order_id": ids.gather(line_order), "sku": _take(sku, sku_idx), "quantity": qty, "unit_fen": unit,
            "usd": usd[line_order],
        })
        return orders, items

    def _write_orders(self, m: int, export: dt.date, style: F.Style, rng, orders: pl.DataFrame) -> None:
        n_o = orders.height
        # credit notes: a refund booked as an extra negative row "<order>-R"
        refunded = (orders["status"].to_numpy() == 2) & ~orders["carried"].to_numpy()
        credit = _pick(rng, refunded, CREDIT_RATE, m in CREDIT_MONTHS)
        if credit.any():
            src = orders.filter(pl.Series(credit))
            frac = rng.uniform(0.05, 0.5, src.height)
            neg = -np.maximum(5000, np.rint(src["amount_fen"].to_numpy() * frac / 5000) * 5000).astype(np.int64)
            when = np.minimum(src["sec"].to_numpy() + rng.integers(3600, 7 * 86400, src.height),
                              MS_DAY[m + 1] * 86400 - 3600)
            orders = pl.concat([orders, src.with_columns(
                order_id=pl.col("order_id") + "-R", sec=pl.Series(when), amount_fen=pl.Series(neg),
                carried=pl.lit(True))])  # (not eligible for the other mess below)
            self.mess["orders: negative amounts (credit-note rows, quarantined)"] += src.height
        n = orders.height
        status_values = ORDER_STATUS_ZH if style.chinese else ORDER_STATUS_EN
        money = _codes(rng, n, ORDER_MONEY_MIX[style.name], force=style.chinese)
        plain_only = (orders["currency"].to_numpy() == "USD") | (orders["amount_fen"].to_numpy() < 0)
        money = np.where(plain_only & np.isin(money, [F.M_YEN, F.M_WAN]), F.M_PLAIN, money)
        currency = pl.col("currency")
        if style.name == "bom_zh":  # this template leaves the currency empty for CNY
            currency = pl.when(currency != "CNY").then(currency)
        frame = orders.select(
            "order_id",
            self.c.ids.gather(orders["cust"]).alias("customer_id"),
            pl.col("sec").alias("order_date"),
            _take(status_values, orders["status"].to_numpy()).alias("status"),
            pl.col("amount_fen").alias("amount"),
            currency.alias("currency"),
            _take(REPS, orders["rep"].to_numpy()).alias("sales_rep"),
        )
        frame = frame.with_columns(
            self._dates("orders", frame["order_date"], rng, DT_MIX[style.name], force=True),
            F.fmt_money(frame["amount"], money, YEN[style.name]),
        )
        self._count_money(frame["amount"], style)
        # unparseable money and impossible dates (the pipeline quarantines these rows)
        normal = ~orders["carried"].to_numpy()
        bad_money = _pick(rng, normal, BAD_MONEY_RATE, m in BAD_MONEY_MONTHS)
        bad_date = _pick(rng, normal & ~bad_money, BAD_DATE_RATE, m in BAD_DATE_MONTHS)
        frame = frame.with_columns(
            amount=pl.when(pl.Series(bad_money)).then(pl.lit("待定")).otherwise(pl.col("amount")),
            order_date=pl.when(pl.Series(bad_date)).then(pl.lit(_impossible_date(m, style)))
            .otherwise(pl.col("order_date")),
        )
        self.mess["orders: unparseable amount '待定'"] += int(bad_money.sum())
        self.mess["orders: impossible order_date (e.g. 2025-02-30)"] += int(bad_date.sum())
        if m in ORDER_DUP_MONTHS:
            frame = self._dup_rows(rng, frame, 0.002, 2, "orders: exact duplicate rows within one file")
        self._csv("orders", export, frame, style, m // 3)

    def _count_money(self, amounts: pl.Series, style: F.Style) -> None:
        if not style.chinese:
            return
        s = amounts.drop_nulls()
        self.mess["orders: amount with ¥/￥ sign"] += int(s.str.contains("[¥￥]").sum())
        self.mess["orders: amount in 万"] += int(s.str.ends_with("万").sum())
        self.mess["orders: amount with thousands separator"] += int(s.str.contains(",").sum())

    def _write_items(self, m: int, export: dt.date, style: F.Style, rng, items: pl.DataFrame) -> None:
        n = items.height
        mix = [(F.M_THOUSANDS, 0.7), (F.M_PLAIN, 0.3)] if style.name == "gbk_zh" else [(F.M_PLAIN, 1.0)]
        frame = items.select(
            "order_id", "sku", pl.col("quantity").cast(pl.Utf8), pl.col("unit_fen").alias("unit_price"),
        )
        frame = frame.with_columns(F.fmt_money(frame["unit_price"], _codes(rng, n, mix), YEN[style.name]))
        if m in ORDER_DUP_MONTHS:
            frame = self._dup_rows(rng, frame, 0.001, 1, "order_items: exact duplicate rows within one file")
        self._csv("order_items", export, frame, style, m // 3)

    # -- follow-up activities -------------------------------------------------------------------
    def _activities(self) -> None:
        c = self.c
        base = np.array([3.2, 1.8, 0.9])[c.size] * c.rel ** 0.4
        created_day = c.created_sec // 86400
        lead_p = np.array([0.30, 0.25, 0.10, 0.20, 0.15])
        care_p = np.array([0.35, 0.13, 0.14, 0.30, 0.08])
        for m in range(N_MONTHS):
            rng = _rng(self.seed, 20, m)
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
            day = _weekday_shift(rng, day, start[cust], np.full(cust.size, me))
            sec = day * 86400 + _clock(rng, cust.size, 0.08)
            order = np.lexsort((cust, sec))
            cust, sec = cust[order], sec[order]
            n_a = cust.size
            lead = sec // 86400 < c.fd[cust]
            kind = np.where(lead, rng.choice(5, n_a, p=lead_p), rng.choice(5, n_a, p=care_p))
            rep = c.owner_at(cust, sec // 86400)
            u = rng.random(n_a)
            rep = np.where(u < 0.05, rng.integers(0, 10, n_a), np.where(u > 0.98, -1, rep))
            style = self._style("activities", m)
            frame = pl.DataFrame({
                "activity_id": _seq_ids("FU", np.full(n_a, m), self.width + 1),
                "customer_id": c.ids.gather(cust), "rep": _take(REPS, rep),
                "activity_type": _take(ACT_ZH if style.chinese else ACT_EN, kind), "activity_at": sec,
            })
            frame = frame.with_columns(
                self._dates("activities", frame["activity_at"], rng, DT_MIX[style.name], force=True))
            bad = _pick(rng, np.ones(n_a, bool), ACT_BAD_DATE_RATE, m in ACT_BAD_DATE_MONTHS)
            frame = frame.with_columns(activity_at=pl.when(pl.Series(bad)).then(pl.lit(_impossible_date(m, style)))
                                       .otherwise(pl.col("activity_at")))
            self.mess["activities: impossible activity_at"] += int(bad.sum())
            if m in ACT_DUP_MONTHS:
                frame = self._dup_rows(rng, frame, 0.002, 2, "activities: exact duplicate rows within one file")
            self._csv("activities", MONTH_STARTS[m + 1], frame, style, m // 4)

    # -- opportunities ------------------------------------------------------------------------------
    def _opportunities(self) -> None:
        c, rng = self.c, _rng(self.seed, 30)
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
        ids = _seq_ids("OP", created_m, self.width)
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
        self.mess["opportunities: rows repeating a deal of an earlier export (latest export wins)"] = int(
            pairs.shape[1] - cust.size)
        for m in range(N_MONTHS):
            rng_m = _rng(self.seed, 31, m)
            e_day = MS_DAY[m + 1]
            rows = pairs[1, bounds[m]:bounds[m + 1]]
            part = base[rows]
            closed = part["close"].to_numpy() < e_day
            age = e_day - part["opened"].to_numpy()
            stage_idx = np.minimum(np.searchsorted([14, 30, 60], age, side="right"), 3)
            won_now = closed & part["won"].to_numpy()
            style = self._style("opportunities", m)
            stage = np.where(closed, np.where(won_now, 4, 5), stage_idx)
            frame = pl.DataFrame({
                "opportunity_id": part["opportunity_id"], "customer_id": c.ids.gather(part["cust"]),
                "owner_rep": _take(REPS, part["rep"].to_numpy()),
                "stage": _take(OPP_OPEN_STAGES + ["赢单", "输单"], stage),
                "amount": part["amount"], "created_date": part["opened"] * 86400,
                "close_date": _nullable(np.where(closed, part["close"].to_numpy() * 86400, -1)),
                "is_won": _take(["否", "是"] if style.chinese else ["false", "true"], np.where(closed, won_now, -1)),
                "lost_reason": _take(OPP_LOST_REASONS, np.where(closed & ~won_now, part["lost_reason"].to_numpy(), -1)),
            })
            frame = frame.with_columns(
                F.fmt_money(frame["amount"], _codes(rng_m, frame.height, OPP_MONEY_MIX[style.name]), YEN[style.name]),
                self._dates("opportunities", frame["created_date"], rng_m, DATE_MIX[style.name]),
                self._dates("opportunities", frame["close_date"], rng_m, DATE_MIX[style.name]),
            )
            self._csv("opportunities", MONTH_STARTS[m + 1], frame, style, m // 6)

    # -- tickets and satisfaction ------------------------------------------------------------------
    def _tickets(self) -> None:
        c = self.c
        parts = []
        service_churn = np.isin(c.reason, [1, 2]) & (c.churn_day < NEVER)
        base = np.array([0.30, 0.16, 0.07])[c.size] * c.rel ** 0.3
        for m in range(N_MONTHS):
            rng = _rng(self.seed, 40, m)
            ms, me = MS_DAY[m], MS_DAY[m + 1]
            start = np.maximum(c.fd, ms)
            dur = np.clip(me - start, 0, None)
            mid = start + dur // 2
            to_churn = c.churn_day - mid
            mult = np.select([to_churn <= 0, (to_churn <= 180) & service_churn, to_churn <= 180], [0.15, 3.0, 1.5], 1.0)
            k = rng.poisson(base * mult * dur / (me - ms))
            cust = np.repeat(np.arange(c.n), k)
            sec = (start[cust] + (rng.random(cust.size) * dur[cust]).astype(np.int64)) * 86400 + \
                np.where(rng.random(cust.size) < 0.85, _clock(rng, cust.size, 0.15), rng.integers(0, 86400, cust.size))
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
                "ticket_id": _seq_ids("TK", np.full(n_t, m), self.width), "cust": cust, "created": sec, "fr": fr,
                "res": res, "channel": rng.choice(5, n_t, p=[0.30, 0.30, 0.12, 0.20, 0.08]), "cat": cat, "prio": prio,
                "agent": rng.integers(0, len(AGENTS), n_t), "complaint": complaint, "month": np.full(n_t, m),
            }))
        t = pl.concat(parts)
        last = np.where(t["res"].to_numpy() >= 0, t["res"].to_numpy(),
                        np.where(t["fr"].to_numpy() >= 0, t["fr"].to_numpy(), t["created"].to_numpy()))
        t = t.with_columns(update_month=pl.Series(_month_of_sec(last)))
        self.mess["tickets: rows exported again after resolution (later export wins)"] = int(
            (t["update_month"] > t["month"]).sum())
        self.mess["tickets: unresolved at the last export"] = int((t["res"] < 0).sum())
        self.mess["tickets: first response later than 2 h (SLA breach)"] = int(
            ((t["fr"] >= 0) & (t["fr"] - t["created"] > 7200)).sum())
        for m in range(N_MONTHS):
            rng = _rng(self.seed, 41, m)
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
                "created_at": part["created"], "first_response_at": _nullable(np.where(fr_now, fr, -1)),
                "resolved_at": _nullable(np.where(res_now, res, -1)),
                "channel": _take(TICKET_CHANNELS, part["channel"].to_numpy()),
                "category": _take(TICKET_CAT_ZH if zh else TICKET_CAT_EN, part["cat"].to_numpy()),
                "priority": _take(PRIO_ZH if zh else PRIO_EN, part["prio"].to_numpy()),
                "status": _take(TSTATUS_ZH if zh else TSTATUS_EN, status),
                "assignee": _take(AGENTS, np.where(fr_now, part["agent"].to_numpy(), -1)),
                "is_complaint": (_take(["否", "是"], part["complaint"].to_numpy().astype(int)) if zh
                                 else part["complaint"]),
            })
            frame = frame.with_columns(
                F.fmt_datetime(frame[col], code) for col in ("created_at", "first_response_at", "resolved_at"))
            if m in TICKET_DUP_MONTHS:
                frame = self._dup_rows(rng, frame, 0.002, 1, "tickets: exact duplicate lines within one file")
            path = self._path("tickets", MONTH_STARTS[m + 1], "ndjson")
            self.rows["tickets"] += F.write_ndjson(path, frame)
            self.files.append(path)
        self._satisfaction(t)

    def _satisfaction(self, t: pl.DataFrame) -> None:
        rng = _rng(self.seed, 50)
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
        month = _month_of_sec(responded[idx])
        s = pl.DataFrame({
            "response_id": _seq_ids("SV", month, self.width), "ticket_id": t["ticket_id"].gather(idx),
            "customer_id": self.c.ids.gather(t["cust"].to_numpy()[idx]), "csat": csat[idx],
            "nps": _nullable(np.where(no_nps[idx], -1, nps[idx])), "responded_at": responded[idx],
            "month": month,
        })
        s = s.with_columns(F.fmt_datetime(s["responded_at"], F.DT_ISO))
        self.mess["satisfaction: answers without nps"] = int(s["nps"].null_count())
        for m in range(N_MONTHS):
            path = self._path("satisfaction", MONTH_STARTS[m + 1], "json")
            self.rows["satisfaction"] += F.write_json_array(path, s.filter(pl.col("month") == m).drop("month"))
            self.files.append(path)

    # -- campaigns and members ----------------------------------------------------------------------
    def _campaigns(self) -> None:
        c, rng = self.c, _rng(self.seed, 60)
        scale = max(0.15, self.n / 2000)
        year_seq = Counter()
        camp_rows, members = [], []
        created_day = c.created_sec // 86400
        for j, (name, channel, start, end, cost, kind) in enumerate(CAMPAIGNS):
            s_day, e_day = _day(dt.date.fromisoformat(start)), _day(dt.date.fromisoformat(end))
            year_seq[start[:4]] += 1
            cid = f"MKT{start[2:4]}{year_seq[start[:4]]:03d}"
            camp_rows.append((cid, name, channel, s_day, e_day, int(round(cost * scale / 100) * 100) * 100))
            active = (c.fd <= s_day) & (c.churn_day > s_day)
            targeted = np.flatnonzero(active & (rng.random(c.n) < (0.25 if kind == "ret" else 0.06)))
            span = max(1, e_day - s_day + 1)
            resp = rng.random(targeted.size) < (0.22 if kind == "ret" else 0.12)
            responded = (s_day + rng.integers(0, span, targeted.size)) * 86400 + _clock(rng, targeted.size)
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
            rng_i = _rng(self.seed, 61, i)
            e_sec = _day(export) * 86400
            style = self._style("campaigns", i)
            cf = camps.filter(pl.col("start") * 86400 < e_sec).with_columns(
                start=pl.col("start") * 86400, end=pl.col("end") * 86400)
            cf = cf.select(
                "campaign_id", "name", "channel", pl.col("start").alias("start_date"), pl.col("end").alias("end_date"),
                pl.col("cost"),
            )
            cf = cf.with_columns(
                self._dates("campaigns", cf["start_date"], rng_i, DATE_MIX[style.name]),
                self._dates("campaigns", cf["end_date"], rng_i, DATE_MIX[style.name]),
                F.fmt_money(cf["cost"], F.M_YEN if style.name == "gbk_zh" else
                            (F.M_THOUSANDS if style.chinese else F.M_PLAIN), YEN[style.name]),
            )
            self._csv("campaigns", export, cf, style, i)
            mf = mem.filter((pl.col("joined") < e_sec) & pl.col("campaign_id").is_in(cf["campaign_id"].to_list()))
            mf = mf.select(
                "campaign_id", "customer_id",
                pl.when((pl.col("responded") >= 0) & (pl.col("responded") < e_sec)).then(pl.col("responded"))
                .alias("responded_at"),
                pl.when((pl.col("converted") >= 0) & (pl.col("converted") < e_sec)).then(pl.col("converted"))
                .alias("converted_at"),
            )
            mf = mf.with_columns(
                self._dates("campaign_members", mf["responded_at"], rng_i, DT_MIX[style.name]),
                self._dates("campaign_members", mf["converted_at"], rng_i, DT_MIX[style.name]),
            )
            self._csv("campaign_members", export, mf, style, i)
