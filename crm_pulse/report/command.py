"""``crm-pulse report``: regenerate the report from the published serving database (no refresh)."""

from __future__ import annotations

import sys

from crm_pulse.config.settings import Settings
from crm_pulse.report import ReportOptions, generate_report
from crm_pulse.report.pdf import PdfError


def report_command(
    settings: Settings, lang: str | None = None, period: str | None = None, pdf: str | None = None
) -> int:
    options = ReportOptions.from_env(settings, lang=lang, period=period, pdf=pdf)
    try:
        result = generate_report(settings, options)
    except FileNotFoundError as exc:
        print(f"crm-pulse: {exc}", file=sys.stderr)
        return 2
    except PdfError as exc:
        print(f"crm-pulse: {exc}", file=sys.stderr)
        return 1
    print(f"crm-pulse: report for {result.period.label(result.lang)} (analysis date {settings.resolved_as_of()})")
    print(f"  HTML: {result.html}")
    print(f"  PDF:  {result.pdf}" if result.pdf else "  PDF:  not generated")
    for note in result.notes:
        print(f"  note: {note}")
    if result.missing_marts:
        print(f"  note: sections left empty, marts not published: {', '.join(result.missing_marts)}")
    return 0
