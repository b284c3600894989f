"""ReportData -> one self-contained HTML page (inline CSS and SVG, no scripts, no external files)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from crm_pulse.report import charts, i18n, insights
from crm_pulse.report.data import ReportData
from crm_pulse.report.periods import month_label

TEMPLATES = Path(__file__).parent / "templates"


def _kpi_view(kpi, lang: str) -> dict:
    fmt = i18n.FORMATTERS[kpi.unit]
    change = kpi.change
    if change is None:
        change_text = "–"
    elif kpi.unit == "ratio":
        change_text = i18n.points(change, lang)
    elif kpi.unit == "score":
        change_text = f"{change:+.1f}"
    else:
        change_text = i18n.signed_pct(change, lang)
    tone = "neutral" if kpi.adverse is None else ("bad" if kpi.adverse else "good")
    arrow = "" if kpi.adverse is None else ("▲" if change > 0 else "▼")
    return {
        "key": kpi.key,
        "name": i18n.t(f"kpi_{kpi.key}", lang),
        "value": kpi.value,
        "previous": kpi.previous,
        "text": fmt(kpi.value, lang),
        "previous_text": fmt(kpi.previous, lang),
        "change_text": change_text,
        "arrow": arrow,
        "tone": tone,
        "source": kpi.source,
        "unit": kpi.unit,
    }


def build_charts(d: ReportData, lang: str, sla: tuple[float, float]) -> list[dict]:
    t = lambda key, **kw: i18n.t(key, lang, **kw)  # noqa: E731
    money = lambda v: i18n.money(v, lang)  # noqa: E731
    out = []

    def add(name, title_key, svg, caption="", source=""):
        out.append({"name": name, "title": t(title_key), "svg": Markup(svg), "caption": caption, "source": source})

    title = t("chart_industry")
    add(
        "industry_pie",
        "chart_industry",
        charts.pie("industry_pie", title, d.industries, lambda v: i18n.count(v, lang), other_label=t("other"))
        if d.industries
        else charts.empty("industry_pie", t("no_data")),
        t("caption_industry", n=f"{d.customers:,}", date=d.as_of.isoformat()),
        "dim_customers",
    )

    trend = d.revenue_trend
    labels = [month_label(m, lang) for m, _, _ in trend]
    period_idx = [i for i, (m, _, _) in enumerate(trend) if d.period.start <= m <= d.period.end]
    add(
        "revenue_trend",
        "chart_revenue_trend",
        charts.line(
            "revenue_trend",
            t("chart_revenue_trend"),
            labels,
            [(t("series_revenue"), [r for _, r, _ in trend]), (t("series_last_year"), [ly for _, _, ly in trend])],
            money,
            shade=(period_idx[0], period_idx[-1]) if period_idx else None,
            dashed=[False, True],
        )
        if trend
        else charts.empty("revenue_trend", t("no_data")),
        t("caption_trend"),
        "kpi_monthly",
    )

    add(
        "region_heatmap",
        "chart_region_heatmap",
        charts.heatmap(
            "region_heatmap",
            t("chart_region_heatmap"),
            [r for r, _ in d.region_revenue],
            [month_label(m, lang) for m in d.region_months],
            [v for _, v in d.region_revenue],
            money,
        )
        if d.region_revenue
        else charts.empty("region_heatmap", t("no_data")),
        t("caption_region", n=len(d.region_revenue)),
        "sales_performance",
    )

    total_c = sum(c for _, c, _ in d.rfm) or 1
    total_r = sum(r for _, _, r in d.rfm) or 1
    add(
        "rfm_segments",
        "chart_rfm",
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
        else charts.empty("rfm_segments", t("no_data")),
        t("caption_rfm", n=f"{sum(c for _, c, _ in d.rfm):,}"),
        "customer_rfm",
    )

    width = max((sum(v is not None for v in vals) for _, _, vals in d.cohorts), default=0)
    add(
        "cohort_heatmap",
        "chart_cohort",
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
        else charts.empty("cohort_heatmap", t("no_data")),
        t("caption_cohort", n=len(d.cohorts)),
        "cohort_retention",
    )

    reasons = d.churn_reasons
    add(
        "churn_reasons",
        "chart_churn_reasons",
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
        else charts.empty("churn_reasons", t("no_data")),
        t("caption_churn", n=sum(n for _, n, _ in reasons), p=sum(p for _, _, p in reasons)),
        "churn_summary",
    )

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
    add(
        "service_times",
        "chart_service_times",
        svg,
        t("caption_service", fr=f"{sla[0]:g}", res=f"{sla[1]:g}"),
        "fct_tickets",
    )
    return out


def render_html(d: ReportData, lang: str, sla: tuple[float, float], source_name: str) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    template = env.get_template("report.html.j2")
    t = lambda key, **kw: i18n.t(key, lang, **kw)  # noqa: E731
    background = t(
        "background_text",
        customers=f"{d.customers:,}",
        orders=f"{d.completed_orders:,}",
        first=d.first_order or "–",
        last=d.last_order or "–",
        period=d.period.label(lang),
        previous=d.previous.label(lang),
    )
    return template.render(
        lang=lang,
        t=t,
        d=d,
        html_lang="zh-CN" if lang == "zh" else "en",
        period_label=d.period.label(lang),
        previous_label=d.previous.label(lang),
        period_range=f"{d.period.start.isoformat()} – {d.period.end.isoformat()}",
        background=background,
        kpis=[_kpi_view(k, lang) for k in d.kpis],
        conclusions=insights.conclusions(d, lang),
        problems=insights.problems(d, lang, sla[0]),
        charts=build_charts(d, lang, sla),
        missing=sorted(d.missing),
        generated_at=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        source_name=source_name,
    )
