"""The customer-analysis report: published marts -> self-contained HTML (and PDF) per period.

``generate_report(settings)`` reads ``serving.duckdb`` read-only, aggregates the marts to the
analysis period (the last complete month or quarter on or before the analysis date) and the one
before, and writes ``<warehouse>/reports/customer-report-<period>-<lang>.html`` (+ ``.pdf`` when
Chromium is installed). Used by the Dagster asset ``report/customer_report`` and ``crm-pulse report``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from crm_pulse.config.dbt_vars import business_vars
from crm_pulse.config.report import ReportOptions
from crm_pulse.config.settings import Settings
from crm_pulse.report import data as report_data
from crm_pulse.report.pdf import PdfError, print_pdf
from crm_pulse.report.periods import Period, analysis_period
from crm_pulse.report.render import render_html
from data_contracts.files import replacing

__all__ = ["ReportResult", "ReportOptions", "generate_report", "report_stem"]


@dataclass
class ReportResult:
    html: Path
    pdf: Path | None
    period: Period
    lang: str
    missing_marts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    headline: dict[str, float | None] = field(default_factory=dict)


def report_stem(period: Period, lang: str) -> str:
    return f"customer-report-{period.slug}-{lang}"


def generate_report(settings: Settings, options: ReportOptions | None = None) -> ReportResult:
    """Write the report for ``settings`` (serving database -> ``settings.reports_dir``)."""
    options = options or ReportOptions.from_env(settings)
    if not settings.serving_db.exists():
        raise FileNotFoundError(f"no published serving database at {settings.serving_db}: run `crm-pulse run` first")
    as_of = settings.resolved_as_of()
    period = analysis_period(as_of, options.period)
    params = business_vars(settings.dbt_vars)
    sla = (float(params["sla_first_response_hours"]), float(params["sla_resolution_hours"]))
    d = report_data.load(settings.serving_db, as_of, period, unknown_label=params["unknown_label"])
    html_text = render_html(d, options.lang, sla, settings.serving_db.name)

    out_dir = settings.reports_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = report_stem(period, options.lang)
    html = out_dir / f"{stem}.html"
    with replacing(html) as tmp:
        tmp.write_text(html_text, encoding="utf-8")
    result = ReportResult(
        html=html,
        pdf=None,
        period=period,
        lang=options.lang,
        missing_marts=sorted(d.missing),
        headline={k.key: k.value for k in d.kpis},
    )
    if options.pdf == "off":
        result.notes.append("PDF skipped (CRM_PULSE_REPORT_PDF=off)")
    elif options.chromium is None:
        message = (
            "PDF skipped: no Chromium found (install the `chromium` package or set CRM_PULSE_CHROMIUM; "
            "CRM_PULSE_REPORT_PDF=off silences this)"
        )
        if options.pdf == "on":
            raise PdfError(message.replace("PDF skipped", "PDF requested (CRM_PULSE_REPORT_PDF=on)"))
        result.notes.append(message)
    else:
        try:
            result.pdf = print_pdf(html, out_dir / f"{stem}.pdf", options.chromium)
        except PdfError as exc:
            if options.pdf == "on":
                raise
            result.notes.append(f"PDF skipped: {exc}")
    return result
