"""Report wording in English and Chinese, and number formatting per language."""

from __future__ import annotations

import math

TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Customer analysis report", "zh": "客户分析报告"},
    "period": {"en": "Analysis period", "zh": "分析周期"},
    "compared_with": {"en": "compared with", "zh": "对比"},
    "as_of": {"en": "Data as of", "zh": "数据截至"},
    "refreshed": {"en": "Refreshed", "zh": "刷新时间"},
    "load": {"en": "load", "zh": "批次"},
    "background": {"en": "Background", "zh": "背景"},
    "background_text": {
        "en": "This report is generated on every refresh from the published marts ({customers} customers, "
        "{orders} completed orders from {first} to {last}). It compares {period} with {previous}. "
        "Changes that are bad for the business are shown in red, good ones in green.",
        "zh": "本报告在每次数据刷新后根据发布的数据集市自动生成（{customers} 个客户，{first} 至 {last} 共 {orders} 笔已完成订单），"
        "对比 {period} 与 {previous}。不利变化标为红色，有利变化标为绿色。",
    },
    "headline": {"en": "Headline KPIs", "zh": "核心指标"},
    "conclusions": {"en": "Key conclusions", "zh": "核心结论"},
    "problems": {"en": "Problems and likely causes", "zh": "问题与可能原因"},
    "no_problems": {"en": "No problem stood out in this period.", "zh": "本期未发现突出问题。"},
    "charts": {"en": "Charts", "zh": "图表"},
    "definitions": {"en": "Definitions", "zh": "口径说明"},
    "vs_previous": {"en": "vs previous", "zh": "环比"},
    "previous_value": {"en": "previous", "zh": "上期"},
    "no_data": {"en": "No data for this chart in the published marts.", "zh": "已发布的数据集市中没有此图的数据。"},
    "missing_mart": {"en": "Not available: mart {name} is not published.", "zh": "不可用：数据集市 {name} 未发布。"},
    # KPI names
    "kpi_revenue": {"en": "Revenue", "zh": "销售额"},
    "kpi_orders": {"en": "Completed orders", "zh": "成交订单数"},
    "kpi_aov": {"en": "Average order value", "zh": "客单价"},
    "kpi_buying_customers": {"en": "Buying customers", "zh": "购买客户数"},
    "kpi_new_customers": {"en": "New customers", "zh": "新客户数"},
    "kpi_churn_rate": {"en": "Churn rate", "zh": "流失率"},
    "kpi_high_value_share": {"en": "Revenue share of high-value customers", "zh": "高价值客户销售额占比"},
    "kpi_repeat_rate": {"en": "Repeat purchase rate", "zh": "复购率"},
    "kpi_nps": {"en": "NPS", "zh": "净推荐值 NPS"},
    "kpi_csat": {"en": "CSAT (4-5 answers)", "zh": "满意度 CSAT（4-5 分）"},
    "kpi_first_response_hours": {"en": "Median first response", "zh": "首次响应时长中位数"},
    # charts
    "chart_industry": {"en": "Customers by industry", "zh": "客户行业分布"},
    "chart_revenue_trend": {"en": "Monthly revenue trend", "zh": "月度销售额趋势"},
    "chart_region_heatmap": {"en": "Revenue by region and month", "zh": "各地区月度销售热力图"},
    "chart_rfm": {"en": "RFM segments: share of customers and of revenue", "zh": "RFM 客户分群：客户数与销售额占比"},
    "chart_cohort": {
        "en": "Cohort retention (share of each first-order cohort buying again)",
        "zh": "同期群留存率（首单月份客户的后续购买比例）",
    },
    "chart_churn_reasons": {"en": "Churned customers by reason", "zh": "流失客户原因分布"},
    "chart_service_times": {
        "en": "Service times by ticket category (median hours)",
        "zh": "各类工单服务时长（中位数，小时）",
    },
    "series_revenue": {"en": "Revenue", "zh": "销售额"},
    "series_last_year": {"en": "Same month last year", "zh": "去年同月"},
    "series_customers_share": {"en": "Share of customers", "zh": "客户数占比"},
    "series_revenue_share": {"en": "Share of revenue", "zh": "销售额占比"},
    "series_first_response": {"en": "First response", "zh": "首次响应"},
    "series_resolution": {"en": "Resolution", "zh": "解决"},
    "series_this_period": {"en": "This period", "zh": "本期"},
    "series_previous_period": {"en": "Previous period", "zh": "上期"},
    "sla_target": {"en": "target", "zh": "目标"},
    "cohort_axis": {"en": "months after first order", "zh": "首单后月数"},
    "other": {"en": "Other", "zh": "其他"},
    "customers_unit": {"en": "customers", "zh": "个客户"},
    "caption_industry": {"en": "{n} customers on {date}.", "zh": "截至 {date} 共 {n} 个客户。"},
    "caption_trend": {
        "en": "Completed-order revenue per month; the analysis period is shaded.",
        "zh": "每月已完成订单销售额；阴影为分析周期。",
    },
    "caption_region": {
        "en": "Revenue per region (rows, top {n}) and month (last 12 months).",
        "zh": "各地区（前 {n} 个）最近 12 个月的销售额。",
    },
    "caption_rfm": {
        "en": "{n} customers with completed orders in the RFM window.",
        "zh": "RFM 窗口内有成交的客户共 {n} 个。",
    },
    "caption_cohort": {
        "en": "Last {n} monthly cohorts by month of first completed order.",
        "zh": "最近 {n} 个首单月份同期群。",
    },
    "caption_churn": {
        "en": "Customers who churned in the analysis period ({n}) and the previous one ({p}).",
        "zh": "分析周期内流失 {n} 个客户，上期 {p} 个。",
    },
    "caption_service": {
        "en": "Tickets opened in the analysis period; dashed lines are the SLA targets ({fr} h first response, {res} h resolution).",
        "zh": "分析周期内新建的工单；虚线为服务目标（首次响应 {fr} 小时，解决 {res} 小时）。",
    },
    "definitions_text": {
        "en": "Revenue = completed orders in the reporting currency (fct_orders, kpi_monthly). Churn rate = customers churned in the period / customers at the period start (kpi_monthly). High-value customers = value tier 'high' in customer_rfm. NPS = % promoters (9-10) minus % detractors (0-6); CSAT = % of 4-5 answers (service_performance). Service times from fct_tickets.",
        "zh": "销售额 = 已完成订单金额（报告币种，来自 fct_orders、kpi_monthly）。流失率 = 本期流失客户数 / 期初客户数（kpi_monthly）。高价值客户 = customer_rfm 中价值等级为 high 的客户。NPS = 推荐者（9-10 分）占比 − 贬损者（0-6 分）占比；CSAT = 4-5 分答卷占比（service_performance）。服务时长来自 fct_tickets。",
    },
    "generated_by": {"en": "Generated by crm-pulse from {db}.", "zh": "由 crm-pulse 根据 {db} 生成。"},
}

SEGMENTS_ZH = {
    "Champions": "冠军客户",
    "Loyal": "忠诚客户",
    "Loyal Customers": "忠诚客户",
    "Potential Loyalist": "潜力客户",
    "Promising": "有希望客户",
    "New": "新客户",
    "New Customers": "新客户",
    "Need Attention": "需关注客户",
    "About To Sleep": "即将沉睡",
    "At Risk": "风险客户",
    "Can't Lose Them": "不能失去的客户",
    "Hibernating": "沉睡客户",
    "Lost": "流失客户",
    "Others": "其他",
    "No recent orders": "近期无订单",
}
CATEGORIES_ZH = {"price": "价格", "service": "服务", "quality": "质量", "delivery": "物流交付", "other": "其他"}
REASONS_EN = {"待补充": "unknown"}


def t(key: str, lang: str, **values) -> str:
    text = TEXT[key][lang]
    return text.format(**values) if values else text


def label(value, lang: str, kind: str = "") -> str:
    """Display name of a data value (segment, category, churn reason ...)."""
    if value is None:
        return "待补充" if lang == "zh" else "unknown"
    text = str(value)
    if lang == "zh":
        if kind == "segment":
            return SEGMENTS_ZH.get(text, text)
        if kind == "category":
            return CATEGORIES_ZH.get(text, text)
        if kind == "reason" and text.startswith("no_order_"):
            return f"超过 {text[9:].rstrip('d')} 天未下单"
        return text
    if kind == "reason" and text.startswith("no_order_"):
        return f"no order for {text[9:].rstrip('d')} days"
    return REASONS_EN.get(text, text)


# --- numbers --------------------------------------------------------------------------------------
def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(value, lang: str, compact: bool = True) -> str:
    if _missing(value):
        return "–"
    value = float(value)
    sign = "-" if value < 0 else ""
    v = abs(value)
    if not compact:
        return f"{sign}¥{v:,.2f}"
    if lang == "zh":
        if v >= 1e8:
            return f"{sign}¥{v / 1e8:.2f}亿"
        if v >= 1e4:
            return f"{sign}¥{v / 1e4:.1f}万"
        return f"{sign}¥{v:,.0f}"
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= size:
            return f"{sign}¥{v / size:.{2 if size > 1e3 else 1}f}{suffix}"
    return f"{sign}¥{v:,.0f}"


def count(value, lang: str) -> str:
    return "–" if _missing(value) else f"{int(round(float(value))):,}"


def pct(value, lang: str, digits: int = 1) -> str:
    """``value`` is a ratio (0.55 -> 55.0%)."""
    return "–" if _missing(value) else f"{100 * float(value):.{digits}f}%"


def score(value, lang: str) -> str:
    return "–" if _missing(value) else f"{float(value):.1f}"


def hours(value, lang: str) -> str:
    if _missing(value):
        return "–"
    return f"{float(value):.1f} 小时" if lang == "zh" else f"{float(value):.1f} h"


def points(delta, lang: str) -> str:
    """A change of a ratio in percentage points (0.05 -> +5.0 pts)."""
    if _missing(delta):
        return "–"
    return f"{100 * float(delta):+.1f} 个百分点" if lang == "zh" else f"{100 * float(delta):+.1f} pts"


def signed_pct(ratio, lang: str) -> str:
    return "–" if _missing(ratio) else f"{100 * float(ratio):+.1f}%"


FORMATTERS = {"money": money, "count": count, "ratio": pct, "score": score, "hours": hours}
