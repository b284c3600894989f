"""The HTML report shows export values (industries, regions, reps, ticket categories, churn reasons,
RFM segments, owners, the load id) as text: script / img / attribute / template payloads stay inert."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pytest

from crm_pulse.report.data import ReportData
from crm_pulse.report.periods import Period
from crm_pulse.report.render import render_html

PAYLOADS = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "{{ 7*191 }}",
            "{% if true %}T{% endif %}", '"><svg onload=alert(3)>', "<template><a href='http://evil.example'>x</a>"]


class Page(HTMLParser):
    """Every tag with its attributes, and the text as a browser would show it (entities decoded)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def hostile_data() -> ReportData:
    p = PAYLOADS
    period = Period.containing(dt.date(2025, 12, 31), "month")
    d = ReportData(as_of=period.end, period=period, previous=period.previous(), refreshed_at="2026-01-01 06:00:00",
                   load_id=p[2], customers=10, completed_orders=20)
    d.industries = [(p[0], 5), (p[1], 3)]
    d.region_months = [dt.date(2025, 11, 1), dt.date(2025, 12, 1)]
    d.region_revenue = [(p[2], [10.0, 20.0]), (p[4], [5.0, 7.0])]
    d.rfm = [(p[3], 4, 100.0), (p[5], 2, 50.0)]
    d.churn_reasons = [(p[1], 3, 1)]
    d.churn_by_industry = [(p[4], 2)]
    d.service = [dict(category=p[0], tickets=5, first_response_median=2.0, first_response_p90=5.0,
                      resolution_median=10.0, first_response_breach_rate=0.2, resolution_breach_rate=0.1, complaints=1)]
    d.service_total = dict(tickets=5, first_response_breach_rate=0.2, resolution_breach_rate=0.1)
    d.reps = [dict(rep=p[1], revenue=100.0, vs_team=-0.5), dict(rep=p[5], revenue=300.0, vs_team=0.5)]
    d.team_avg_rep_revenue = 200.0
    d.dimension_changes = {"region": [(p[2], 10.0, 30.0)], "industry": [(p[0], 5.0, 20.0)]}
    d.top_share = {"region": (p[4], 0.6), "industry": (p[1], 0.7)}
    d.at_risk = {"flagged": 3, "followup_drop": 1, "purchase_gap": 2, "owners": [(p[3], 2)]}
    return d


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_export_values_render_as_text(lang):
    html = render_html(hostile_data(), lang, (4.0, 48.0), source_name=PAYLOADS[0])
    page = Page(html)
    names = {tag for tag, _ in page.tags}
    assert not names & {"script", "img", "iframe", "object", "embed", "template", "a", "link"}, names
    attributes = {name for _, attrs in page.tags for name in attrs}
    assert not {a for a in attributes if a.startswith("on")}, attributes
    text = "".join(page.text)
    for payload in PAYLOADS:
        assert payload in text, payload  # shown literally, not evaluated or dropped
    assert "1337" not in text  # {{ 7*191 }} was not evaluated
