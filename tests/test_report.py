"""The customer-analysis report, rendered in real headless Chromium (Debian's ``chromium``).

The refresh of the session's demo run writes the English report; the Chinese one is generated
here from a copy of the same serving database. Checks: self-contained page, no console errors or
network requests, every chart drawn, Chinese text drawn with real glyphs (not tofu boxes), and
the headline numbers equal to the marts (recomputed here with our own SQL and pandas) and, for
revenue, orders and buyers, to the exports themselves (tests/oracle.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
import statistics
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from crm_pulse.config.report import find_chromium
from crm_pulse.config.settings import Settings
from crm_pulse.report import ReportOptions, generate_report
from tests import oracle

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHARTS = [
    "industry_pie",
    "revenue_trend",
    "region_heatmap",
    "rfm_segments",
    "cohort_heatmap",
    "churn_reasons",
    "service_times",
]
Q4 = (dt.date(2025, 10, 1), dt.date(2025, 12, 31))
Q3 = (dt.date(2025, 7, 1), dt.date(2025, 9, 30))


# --- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.fail("Chromium is not installed: run `make test-deps` (installs Debian's chromium and fonts-noto-cjk)")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"])
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def en_report(demo_run) -> Path:
    """The report the refresh itself wrote (analysis date 2026-01-01 -> 2025 Q4, English)."""
    return demo_run.warehouse / "reports" / "customer-report-2025-Q4-en.html"


@pytest.fixture(scope="module")
def zh_report(demo_run, tmp_path_factory) -> Path:
    """The Chinese report, generated from a copy of the published serving database."""
    warehouse = tmp_path_factory.mktemp("zh-warehouse")
    shutil.copy(demo_run.serving_db, warehouse / "serving.duckdb")
    settings = Settings.from_env(
        {
            "CRM_PULSE_LANDING_DIR": str(demo_run.landing),
            "CRM_PULSE_WAREHOUSE_DIR": str(warehouse),
            "CRM_PULSE_LANG": "zh",
        }
    )
    result = generate_report(settings, ReportOptions.from_env(settings, environ={}, pdf="off"))
    assert result.missing_marts == [], result.missing_marts
    return result.html


class Page:
    """A report opened in Chromium, with everything the page logged or tried to fetch."""

    def __init__(self, browser, html: Path):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        self.console: list[str] = []
        self.requests: list[str] = []
        self.page.on(
            "console", lambda m: self.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        )
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.on(
            "request", lambda r: None if r.url.startswith(("file:", "data:", "about:")) else self.requests.append(r.url)
        )
        self.page.route(re.compile(r"^(https?|wss?|ftp)://"), lambda route: route.abort())
        self.page.goto(html.resolve().as_uri(), wait_until="load")

    def close(self):
        self.page.close()


def open_page(browser, html: Path) -> Page:
    assert html.exists(), f"report not written: {html}"
    return Page(browser, html)


# --- pipeline integration ------------------------------------------------------------------------------
def test_refresh_writes_self_contained_report_and_pdf(en_report):
    text = en_report.read_text(encoding="utf-8")
    assert "<svg" in text and "2025 Q4" in text
    # self-contained: no external scripts, styles, images, fonts or imports
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text, re.I), "external reference in report"
    assert not re.search(r"<script|<link\b|@import|url\(", text, re.I)
    pdf = en_report.with_suffix(".pdf")
    assert pdf.exists(), "Chromium is installed, so the refresh must also print the PDF"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    assert pages >= 3, f"PDF has {pages} page(s)"
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(pdf, ARTIFACTS / "report-en.pdf")


# --- rendering -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_renders_every_chart_without_errors(browser, en_report, zh_report, lang):
    html = en_report if lang == "en" else zh_report
    view = open_page(browser, html)
    try:
        page = view.page
        charts = page.evaluate("""() => [...document.querySelectorAll('figure.chart')].map(f => ({
            name: f.dataset.chart,
            svgs: [...f.querySelectorAll('svg')].map(s => {
                const box = s.getBoundingClientRect();
                const marks = [...s.querySelectorAll('.mark')];
                const drawn = marks.filter(m => { const b = m.getBBox(); return b.width > 0 && b.height > 0 &&
                    getComputedStyle(m).visibility !== 'hidden' && getComputedStyle(m).display !== 'none'; });
                return {name: s.dataset.chart, width: box.width, height: box.height, marks: marks.length, drawn: drawn.length};
            })}))""")
        assert [c["name"] for c in charts] == CHARTS
        for chart in charts:
            assert chart["svgs"], f"{chart['name']}: no SVG"
            for svg in chart["svgs"]:
                assert svg["width"] > 200 and svg["height"] > 100, (chart["name"], svg)
                assert svg["drawn"] > 0 and svg["drawn"] == svg["marks"], (chart["name"], svg)
        # charts with one mark per data item drew all of them
        counts = {c["name"]: sum(s["marks"] for s in c["svgs"]) for c in charts}
        assert counts["cohort_heatmap"] >= 12 * 1 and counts["region_heatmap"] >= 12
        assert counts["revenue_trend"] >= 24  # one point per month + the line(s)
        tones = page.evaluate(
            "() => [...document.querySelectorAll('.kpi.bad .change')].map(e => getComputedStyle(e).color)"
        )
        assert tones and set(tones) == {"rgb(198, 40, 40)"}, "adverse KPI changes must be red"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"report-{lang}.png"), full_page=True)
        assert (ARTIFACTS / f"report-{lang}.png").stat().st_size > 50_000
        assert view.console == [], view.console
        assert view.requests == [], view.requests
    finally:
        view.close()


def _cjk_families() -> set[str]:
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=True).stdout
    return {name.strip() for line in out.splitlines() for name in line.split(",") if name.strip()}


def test_chinese_labels_render_as_glyphs_not_boxes(browser, zh_report):
    families = _cjk_families()
    assert families, "no font with Chinese coverage installed (fonts-noto-cjk)"
    view = open_page(browser, zh_report)
    try:
        page = view.page
        assert page.inner_text("h1").startswith("客户分析报告")
        # 1. the fonts Chromium actually used for an HTML heading and for SVG chart text cover Chinese
        page.evaluate("""() => { const t = [...document.querySelectorAll('figure.chart svg text')]
                                   .find(e => /[\\u4e00-\\u9fff]/.test(e.textContent));
                                 t.setAttribute('data-cjk-probe', '1'); }""")
        cdp = page.context.new_cdp_session(page)
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        for selector in ("h1", "[data-cjk-probe]", "#conclusions li"):
            node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
            fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
            cjk = [f for f in fonts if f["familyName"] in families]
            assert cjk and sum(f["glyphCount"] for f in cjk) > 0, (selector, fonts)
        # 2. each Chinese character draws a different shape, unlike a missing glyph (all the same box)
        chars = sorted(set(re.sub(r"[^\u4e00-\u9fff]", "", page.inner_text("h1") + page.inner_text("#headline"))))
        assert len(chars) >= 10
        shapes = page.evaluate(
            """([chars, family]) => {
            const canvas = document.createElement('canvas'); canvas.width = 64; canvas.height = 64;
            const g = canvas.getContext('2d', {willReadFrequently: true});
            return chars.map(ch => {
                g.clearRect(0, 0, 64, 64); g.font = '40px ' + family; g.fillStyle = '#000'; g.textBaseline = 'top';
                g.fillText(ch, 4, 4);
                const d = g.getImageData(0, 0, 64, 64).data; let hash = 0, ink = 0;
                for (let i = 3; i < d.length; i += 4) { hash = (hash * 31 + d[i]) >>> 0; if (d[i] > 0) ink++; }
                return [hash, ink];
            }); }""",
            [chars + ["\ue000", "\ue001"], page.evaluate("getComputedStyle(document.body).fontFamily")],
        )
        glyphs, missing = shapes[:-2], shapes[-2:]
        assert all(ink > 20 for _, ink in glyphs), "a Chinese character drew (almost) nothing"
        assert len({h for h, _ in glyphs}) == len(chars), "different Chinese characters drew identical shapes (tofu)"
        assert missing[0][0] == missing[1][0], "two missing glyphs should draw the same box"
        assert not {h for h, _ in glyphs} & {missing[0][0]}, "a Chinese character drew the missing-glyph box"
        assert view.console == [], view.console
    finally:
        view.close()


# --- headline numbers = marts = exports ------------------------------------------------------------------
def _headline(browser, html: Path) -> dict[str, tuple[float | None, float | None]]:
    view = open_page(browser, html)
    try:
        rows = view.page.evaluate(
            "() => [...document.querySelectorAll('.kpi')].map(e => [e.dataset.kpi, e.dataset.value, e.dataset.previous])"
        )
        return {k: (float(v) if v else None, float(p) if p else None) for k, v, p in rows}
    finally:
        view.close()


def _marts_headline(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> dict[str, float]:
    """The headline of one quarter recomputed from the marts with this test's own queries."""
    orders = con.execute("select customer_id, order_date, revenue from fct_orders where is_completed").df()
    orders["order_date"] = orders["order_date"].map(lambda v: v.date() if hasattr(v, "date") else v)
    in_q = orders[(orders.order_date >= start) & (orders.order_date <= end)]
    revenue = float(in_q.revenue.map(Decimal).sum())
    first = orders.groupby("customer_id").order_date.min()
    high = set(con.execute("select customer_id from customer_rfm where value_tier = 'high'").df().customer_id)
    to_date = orders[orders.order_date <= end].groupby("customer_id").size()
    months = con.execute(
        """select month_start, customers_at_start, churned_customers from kpi_monthly
                            where month_start between ? and ? order by 1""",
        [start, end],
    ).fetchall()
    surveys = con.execute(
        """select sum(nps_responses), sum(nps * nps_responses), sum(csat_responses), sum(csat_pct * csat_responses)
                             from service_performance where period_type = 'month' and period_start between ? and ?""",
        [start, end],
    ).fetchone()
    hours = [
        h
        for (h,) in con.execute(
            """select first_response_hours from fct_tickets
                                         where created_date between ? and ? and first_response_hours is not null""",
            [start, end],
        ).fetchall()
    ]
    return {
        "revenue": revenue,
        "orders": float(len(in_q)),
        "aov": revenue / len(in_q),
        "buying_customers": float(in_q.customer_id.nunique()),
        "new_customers": float(((first >= start) & (first <= end)).sum()),
        "churn_rate": sum(m[2] for m in months) / months[0][1],
        "high_value_share": float(in_q[in_q.customer_id.isin(high)].revenue.map(Decimal).sum()) / revenue,
        "repeat_rate": float((to_date >= 2).sum() / len(to_date)),
        "nps": float(surveys[1]) / float(surveys[0]),
        "csat": float(surveys[3]) / float(surveys[2]) / 100,
        "first_response_hours": statistics.median(float(h) for h in hours),
    }


def test_headline_numbers_equal_the_marts(browser, demo_run, en_report):
    shown = _headline(browser, en_report)
    con = duckdb.connect(str(demo_run.serving_db), read_only=True)
    try:
        now, before = _marts_headline(con, *Q4), _marts_headline(con, *Q3)
    finally:
        con.close()
    assert set(shown) == set(now)
    for key in now:
        assert shown[key][0] == pytest.approx(now[key], rel=1e-9, abs=1e-6), key
        assert shown[key][1] == pytest.approx(before[key], rel=1e-9, abs=1e-6), key
    assert now["revenue"] > 0 and now["orders"] > 10 and 0 < now["high_value_share"] < 1


def _fx_rates() -> dict[str, Decimal]:
    with open(ROOT / "dbt_project" / "seeds" / "fx_rates.csv", encoding="utf-8") as fh:
        return {row["currency"]: Decimal(row["rate_to_reporting"]) for row in csv.DictReader(fh)}


def test_headline_revenue_orders_and_buyers_match_the_exports(browser, demo_run, en_report):
    """Cross-check against the exports themselves (tests/oracle.py, no project code)."""
    orders = oracle.latest(oracle.clean_rows(demo_run.landing, "erp", "orders"), ["order_id"])
    orders = orders[orders["status"] == "completed"].copy()
    orders["day"] = orders["order_date"].map(lambda t: t.date())
    rates = _fx_rates()
    orders["cny"] = [
        (a * rates[c.upper() if isinstance(c, str) and c else "CNY"]).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        for a, c in zip(orders["amount"], orders["currency"])
    ]
    shown = _headline(browser, en_report)
    for (start, end), which in ((Q4, 0), (Q3, 1)):
        q = orders[(orders.day >= start) & (orders.day <= end)]
        assert shown["revenue"][which] == pytest.approx(float(sum(q.cny, Decimal(0))), abs=0.005)
        assert shown["orders"][which] == len(q)
        assert shown["buying_customers"][which] == q.customer_id.nunique()


def test_conclusions_state_the_headline_numbers(browser, en_report):
    view = open_page(browser, en_report)
    try:
        text = view.page.inner_text("#conclusions")
        revenue = view.page.inner_text('.kpi[data-kpi="revenue"] .value')
        share = view.page.inner_text('.kpi[data-kpi="high_value_share"] .value')
        assert f"Revenue in 2025 Q4 was {revenue}" in text
        assert f"High-value customers brought {share} of revenue" in text
        problems = view.page.inner_text("#problems")
        assert "Churn:" in problems and "reps are below the team average" in problems
        red = view.page.evaluate("() => [...document.querySelectorAll('#problems strong.bad')].length")
        assert red > 0
    finally:
        view.close()


# --- command line ------------------------------------------------------------------------------------------
def test_report_command_regenerates_from_serving_db(demo_run, tmp_path):
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    shutil.copy(demo_run.serving_db, warehouse / "serving.duckdb")
    env = {
        "PATH": "/usr/bin:/bin",
        "DO_NOT_TRACK": "1",
        "CRM_PULSE_LANDING_DIR": str(demo_run.landing),
        "CRM_PULSE_WAREHOUSE_DIR": str(warehouse),
        "CRM_PULSE_REPORT_PERIOD": "month",
        "HOME": str(tmp_path),
    }
    cli = [sys.executable, "-m", "crm_pulse.cli", "report"]
    done = subprocess.run(
        [*cli, "--lang", "zh", "--pdf", "off"], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    html = warehouse / "reports" / "customer-report-2025-12-zh.html"
    assert str(html) in done.stdout and "PDF:  not generated" in done.stdout
    text = html.read_text(encoding="utf-8")
    assert "客户分析报告 · 2025年12月" in text and "对比 2025年11月" in text
    assert not (warehouse / "work.duckdb").exists() and not (warehouse / "raw").exists()

    missing = subprocess.run(
        cli,
        env={**env, "CRM_PULSE_WAREHOUSE_DIR": str(tmp_path / "none")},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert missing.returncode == 2
    assert "no published serving database" in missing.stderr and "Traceback" not in missing.stderr
    bad = subprocess.run(
        cli, env={**env, "CRM_PULSE_REPORT_PERIOD": "week"}, capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert bad.returncode == 2 and "CRM_PULSE_REPORT_PERIOD" in bad.stderr and "Traceback" not in bad.stderr
