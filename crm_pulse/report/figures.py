"""The report's charts: one builder per chart, from :class:`ReportData` to a titled SVG with caption and source.

``CHARTS`` lists the builders in page order; the SVG drawing (pie, line, heatmap, bars) is in ``charts.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from markupsafe import Markup

from crm_pulse.report import charts, i18n
from crm_pulse.report.data import ReportData
from crm_pulse.report.periods import month_label

Sla = tuple[float, float]  # service targets in hours: first response, resolution


def _chart(name: str, title: str, svg: str, caption: str, source: str) -> dict:
    """One chart as the template shows it; ``source`` is the mart it is drawn from."""
    return {"name": name, "title": title, "svg": Markup(svg), "caption": caption, "source": source}


def _t(lang: str) -> Callable[..., str]:
    return lambda key, **kw: i18n.t(key, lang, **kw)


def industry_pie(d: ReportData, lang: str, sla: Sla) -> dict:
    """Customers by industry."""
    t = _t(lang)
    title = t("chart_industry")
    svg = (
        charts.pie("industry_pie", title, d.industries, lambda v: i18n.count(v, lang), other_label=t("other"))
        if d.industries
        else charts.empty("industry_pie", t("no_data"))
    )
    caption = t("caption_industry", n=f"{d.customers:,}", date=d.as_of.isoformat())
    return _chart("industry_pie", title, svg, caption, "dim_customers")


def revenue_trend(d: ReportData, lang: str, sla: Sla) -> dict:
    """Monthly revenue against the same month a year before, the analysis period shaded."""
    t = _t(lang)
    trend = d.revenue_trend
    labels = [month_label(m, lang) for m, _, _ in trend]
    period_idx = [i for i, (m, _, _) in enumerate(trend) if d.period.start <= m <= d.period.end]
    svg = (
        charts.line(
            "revenue_trend",
            t("chart_revenue_trend"),
            labels,
            [(t("series_revenue"), [r for _, r, _ in trend]), (t("series_last_year"), [ly for _, _, ly in trend])],
            lambda v: i18n.money(v, lang),
            shade=(period_idx[0], period_idx[-1]) if period_idx else None,
            dashed=[False, True],
        )
        if trend
        else charts.empty("revenue_trend", t("no_data"))
    )
    return _chart("revenue_trend", t("chart_revenue_trend"), svg, t("caption_trend"), "kpi_monthly")


def region_heatmap(d: ReportData, lang: str, sla: Sla) -> dict:
    """Revenue by region and month."""
    t = _t(lang)
    svg = (
        charts.heatmap(
            "region_heatmap",
            t("chart_region_heatmap"),
            [r for r, _ in d.region_revenue],
            [month_label(m, lang) for m in d.region_months],
            [v for _, v in d.region_revenue],
            lambda v: i18n.money(v, lang),
        )
        if d.region_revenue
        else charts.empty("region_heatmap", t("no_data"))
    )
    caption = t("caption_region", n=len(d.region_revenue))
    return _chart("region_heatmap", t("chart_region_heatmap"), svg, caption, "sales_performance")


def rfm_segments(d: ReportData, lang: str, sla: Sla) -> dict:
    """Share of customers and of revenue per RFM segment."""
    t = _t(lang)
    total_c = sum(c for _, c, _ in d.rfm) or 1
    total_r = sum(r for _, _, r in d.rfm) or 1
    svg = (
        charts.bars(
            "rfm_segments",
            t("chart_rfm"),
            [i18n.label(s, lang, "segment") for s, _, _ in d.rfm],
            [
                (t("series_customers_share"), [c / total_c for _, c, _ in d.rfm]),
                (t("series_revenue_share"), [r / total_r for _, _, r in d.rfm]),
            ],
            lambda v: i18n.pct(v, lang, 0),
        )
        if d.rfm
        else charts.empty("rfm_segments", t("no_data"))
    )
    caption = t("caption_rfm", n=f"{sum(c for _, c, _ in d.rfm):,}")
    return _chart("rfm_segments", t("chart_rfm"), svg, caption, "customer_rfm")


def cohort_heatmap(d: ReportData, lang: str, sla: Sla) -> dict:
    """Retention per acquisition cohort and month since the first order."""
    t = _t(lang)
    width = max((sum(v is not None for v in vals) for _, _, vals in d.cohorts), default=0)
    svg = (
        charts.heatmap(
            "cohort_heatmap",
            t("chart_cohort"),
            [f"{month_label(c, lang)} (n={size})" for c, size, _ in d.cohorts],
            [str(k) for k in range(width)],
            [vals[:width] for _, _, vals in d.cohorts],
            lambda v: i18n.pct(v, lang, 0),
            x_title=t("cohort_axis"),
        )
        if d.cohorts and width
        else charts.empty("cohort_heatmap", t("no_data"))
    )
    return _chart("cohort_heatmap", t("chart_cohort"), svg, t("caption_cohort", n=len(d.cohorts)), "cohort_retention")


def churn_reasons(d: ReportData, lang: str, sla: Sla) -> dict:
    """Churned customers per reason, this period against the previous one."""
    t = _t(lang)
    reasons = d.churn_reasons
    svg = (
        charts.bars(
            "churn_reasons",
            t("chart_churn_reasons"),
            [i18n.label(r, lang, "reason") for r, _, _ in reasons],
            [
                (f"{t('series_this_period')} ({d.period.label(lang)})", [n for _, n, _ in reasons]),
                (f"{t('series_previous_period')} ({d.previous.label(lang)})", [p for _, _, p in reasons]),
            ],
            lambda v: i18n.count(v, lang),
            integer=True,
        )
        if reasons
        else charts.empty("churn_reasons", t("no_data"))
    )
    caption = t("caption_churn", n=sum(n for _, n, _ in reasons), p=sum(p for _, _, p in reasons))
    return _chart("churn_reasons", t("chart_churn_reasons"), svg, caption, "churn_summary")


def service_times(d: ReportData, lang: str, sla: Sla) -> dict:
    """Median first-response and resolution hours per ticket category, against the SLA targets."""
    t = _t(lang)
    service = [s for s in d.service if s["first_response_median"] is not None or s["resolution_median"] is not None]
    cats = [i18n.label(s["category"], lang, "category") for s in service]
    hours = lambda v: f"{v:.1f}"  # noqa: E731
    svg = (
        charts.bars(
            "service_first_response",
            t("series_first_response"),
            cats,
            [(t("series_first_response"), [s["first_response_median"] for s in service])],
            hours,
            targets=[(t("sla_target"), sla[0], 0)],
            plot_w=220,
        )
        + charts.bars(
            "service_resolution",
            t("series_resolution"),
            cats,
            [(t("series_resolution"), [s["resolution_median"] for s in service])],
            hours,
            targets=[(t("sla_target"), sla[1], 0)],
            plot_w=220,
            first_color=1,
        )
        if service
        else charts.empty("service_times", t("no_data"))
    )
    caption = t("caption_service", fr=f"{sla[0]:g}", res=f"{sla[1]:g}")
    return _chart("service_times", t("chart_service_times"), svg, caption, "fct_tickets")


#: the report's charts in page order
CHARTS: tuple[Callable[[ReportData, str, Sla], dict], ...] = (
    industry_pie, revenue_trend, region_heatmap, rfm_segments, cohort_heatmap, churn_reasons, service_times,
)


def build_charts(d: ReportData, lang: str, sla: Sla) -> list[dict]:
    """Every chart of the report, in page order."""
    return [build(d, lang, sla) for build in CHARTS]
