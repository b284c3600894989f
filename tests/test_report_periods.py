"""Report building blocks without a browser: analysis periods, empty or missing marts, PDF switch."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest

from crm_pulse.config.settings import Settings
from crm_pulse.report import ReportOptions, generate_report
from crm_pulse.report.pdf import PdfError
from crm_pulse.report.periods import Period, analysis_period

D = dt.date


@pytest.mark.parametrize(
    "as_of, kind, expected, previous",
    [
        (D(2026, 1, 1), "quarter", (D(2025, 10, 1), D(2025, 12, 31)), (D(2025, 7, 1), D(2025, 9, 30))),
        (D(2025, 12, 31), "quarter", (D(2025, 10, 1), D(2025, 12, 31)), (D(2025, 7, 1), D(2025, 9, 30))),
        (D(2025, 12, 30), "quarter", (D(2025, 7, 1), D(2025, 9, 30)), (D(2025, 4, 1), D(2025, 6, 30))),
        (D(2025, 2, 14), "quarter", (D(2024, 10, 1), D(2024, 12, 31)), (D(2024, 7, 1), D(2024, 9, 30))),
        (D(2026, 1, 1), "month", (D(2025, 12, 1), D(2025, 12, 31)), (D(2025, 11, 1), D(2025, 11, 30))),
        (D(2024, 2, 29), "month", (D(2024, 2, 1), D(2024, 2, 29)), (D(2024, 1, 1), D(2024, 1, 31))),
        (D(2025, 1, 15), "month", (D(2024, 12, 1), D(2024, 12, 31)), (D(2024, 11, 1), D(2024, 11, 30))),
    ],
)
def test_analysis_period_is_last_complete_period(as_of, kind, expected, previous):
    period = analysis_period(as_of, kind)
    assert (period.start, period.end) == expected
    assert (period.previous().start, period.previous().end) == previous
    assert period.last_year().start == D(expected[0].year - 1, expected[0].month, 1)


def test_period_labels():
    q = Period.containing(D(2025, 11, 5), "quarter")
    assert (q.label("en"), q.label("zh"), q.slug) == ("2025 Q4", "2025年第4季度", "2025-Q4")
    m = Period.containing(D(2025, 11, 5), "month")
    assert (m.label("en"), m.label("zh"), m.slug, len(q.months)) == ("Nov 2025", "2025年11月", "2025-11", 3)
    with pytest.raises(ValueError, match="month, quarter"):
        Period.containing(D(2025, 1, 1), "week")


def _copy(demo_run, tmp_path, lang="en"):
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    shutil.copy(demo_run.serving_db, warehouse / "serving.duckdb")
    settings = Settings.from_env(
        {
            "CRM_PULSE_LANDING_DIR": str(demo_run.landing),
            "CRM_PULSE_WAREHOUSE_DIR": str(warehouse),
            "CRM_PULSE_LANG": lang,
        }
    )
    return settings, warehouse / "serving.duckdb"


def test_report_on_empty_marts_renders_placeholders(demo_run, tmp_path):
    settings, db = _copy(demo_run, tmp_path)
    con = duckdb.connect(str(db))
    for (table,) in con.execute("select table_name from information_schema.tables").fetchall():
        con.execute(f'delete from "{table}"')
    con.close()
    result = generate_report(settings, ReportOptions.from_env(settings, environ={}, pdf="off"))
    text = result.html.read_text(encoding="utf-8")
    assert text.count(">No data for this chart in the published marts.<") == 7
    assert result.headline["revenue"] is None and result.headline["nps"] is None, result.headline
    assert result.headline["buying_customers"] == 0
    assert "No problem stood out" in text


def test_report_names_missing_marts(demo_run, tmp_path):
    settings, db = _copy(demo_run, tmp_path, lang="zh")
    con = duckdb.connect(str(db))
    con.execute("drop table kpi_monthly")
    con.execute("drop table cohort_retention")
    con.close()
    result = generate_report(settings, ReportOptions.from_env(settings, environ={}, pdf="off"))
    assert result.missing_marts == ["cohort_retention", "kpi_monthly"]
    text = result.html.read_text(encoding="utf-8")
    assert "不可用：数据集市 kpi_monthly 未发布。" in text
    assert result.headline["revenue"] is None and result.headline["buying_customers"] > 0


def test_pdf_switch_without_chromium(demo_run, tmp_path):
    settings, _ = _copy(demo_run, tmp_path)
    env = {"CRM_PULSE_CHROMIUM": str(tmp_path / "no-such-browser")}
    result = generate_report(settings, ReportOptions.from_env(settings, environ=env))
    assert result.pdf is None and any("no Chromium found" in n for n in result.notes)
    with pytest.raises(PdfError, match="CRM_PULSE_REPORT_PDF=on"):
        generate_report(settings, ReportOptions.from_env(settings, environ={**env, "CRM_PULSE_REPORT_PDF": "on"}))
    with pytest.raises(ValueError, match="CRM_PULSE_REPORT_PDF"):
        ReportOptions.from_env(settings, environ={"CRM_PULSE_REPORT_PDF": "maybe"})
