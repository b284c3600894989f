"""ReportData -> one self-contained HTML page (inline CSS and SVG, no scripts, no external files)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from crm_pulse.report import i18n, insights
from crm_pulse.report.data import ReportData
from crm_pulse.report.figures import build_charts

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
