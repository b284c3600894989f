"""Conclusions and problems, stated in numbers, generated from :class:`ReportData`.

Each statement is HTML: the numbers are wrapped in ``<strong class="good|bad|neutral">`` so
adverse changes show in red. Data values (names) are escaped.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from crm_pulse.report import i18n
from crm_pulse.report.data import ReportData


def _n(text: str, tone: str = "neutral") -> str:
    return f'<strong class="{tone}">{escape(text)}</strong>'


def _tone(delta: float | None, higher_is_better: bool = True) -> str:
    if delta is None or abs(delta) < 0.0005:
        return "neutral"
    return "good" if (delta > 0) == higher_is_better else "bad"


def _rel(now, before):
    return None if now is None or not before else now / before - 1


def conclusions(d: ReportData, lang: str) -> list[Markup]:
    zh = lang == "zh"
    P, Q = d.period.label(lang), d.previous.label(lang)
    money = lambda v: i18n.money(v, lang)  # noqa: E731
    out: list[str] = []
    rev = d.kpi("revenue")
    if rev and rev.value is not None:
        growth = rev.change
        yoy = _rel(rev.value, d.last_year_revenue)
        if zh:
            s = f"{P}销售额 {_n(money(rev.value))}，环比 {_n(i18n.signed_pct(growth, lang), _tone(growth))}（上期 {money(rev.previous)}）"
            if yoy is not None:
                s += f"，同比 {_n(i18n.signed_pct(yoy, lang), _tone(yoy))}"
            out.append(s + "。")
        else:
            s = (
                f"Revenue in {P} was {_n(money(rev.value))}, {_n(i18n.signed_pct(growth, lang), _tone(growth))} "
                f"against {Q} ({money(rev.previous)})"
            )
            if yoy is not None:
                s += f" and {_n(i18n.signed_pct(yoy, lang), _tone(yoy))} against the same period last year"
            out.append(s + ".")
    hv = d.kpi("high_value_share")
    if hv and hv.value is not None:
        delta = hv.change
        if zh:
            more = (
                ""
                if delta is None
                else (f"，比上期{'高' if delta >= 0 else '低'} {_n(f'{abs(100 * delta):.1f} 个百分点', _tone(delta))}")
            )
            out.append(f"高价值客户贡献了 {_n(i18n.pct(hv.value, lang))} 的销售额{more}。")
        else:
            more = (
                ""
                if delta is None
                else (
                    f", {_n(f'{abs(100 * delta):.1f} points', _tone(delta))} "
                    f"{'more' if delta >= 0 else 'less'} than in {Q}"
                )
            )
            out.append(f"High-value customers brought {_n(i18n.pct(hv.value, lang))} of revenue{more}.")
    buyers, new = d.kpi("buying_customers"), d.kpi("new_customers")
    if buyers and buyers.value is not None and new and new.value is not None:
        if zh:
            out.append(
                f"本期 {_n(i18n.count(buyers.value, lang))} 个客户下单（环比 {_n(i18n.signed_pct(buyers.change, lang), _tone(buyers.change))}），"
                f"其中新客户 {_n(i18n.count(new.value, lang), _tone(new.change))} 个（上期 {i18n.count(new.previous, lang)} 个）。"
            )
        else:
            out.append(
                f"{_n(i18n.count(buyers.value, lang))} customers bought ({_n(i18n.signed_pct(buyers.change, lang), _tone(buyers.change))}), "
                f"{_n(i18n.count(new.value, lang), _tone(new.change))} of them for the first time ({i18n.count(new.previous, lang)} in {Q})."
            )
    for dim in ("region", "industry"):
        if dim in d.top_share:
            name, share = d.top_share[dim]
            if zh:
                out.append(
                    f"贡献最大的{'地区' if dim == 'region' else '行业'}是{escape(str(name))}，占销售额 {_n(i18n.pct(share, lang))}。"
                )
            else:
                out.append(f"The largest {dim} was {escape(str(name))} with {_n(i18n.pct(share, lang))} of revenue.")
    if d.rfm:
        total_c = sum(c for _, c, _ in d.rfm)
        total_r = sum(r for _, _, r in d.rfm) or 1
        top = [s for s in d.rfm if s[0] in ("Champions", "Loyal", "Potential Loyalist", "Can't Lose Them")]
        if top:
            c, r = sum(s[1] for s in top), sum(s[2] for s in top)
            names = "、".join(i18n.label(s[0], lang, "segment") for s in top) if zh else ", ".join(s[0] for s in top)
            if zh:
                out.append(
                    f"RFM 分群中{escape(names)}共 {_n(i18n.count(c, lang))} 个客户（{_n(i18n.pct(c / total_c, lang))}），"
                    f"贡献近 12 个月销售额的 {_n(i18n.pct(r / total_r, lang))}。"
                )
            else:
                out.append(
                    f"RFM segments {escape(names)} hold {_n(i18n.count(c, lang))} customers ({_n(i18n.pct(c / total_c, lang))}) "
                    f"and {_n(i18n.pct(r / total_r, lang))} of revenue in the RFM window."
                )
    churn, repeat = d.kpi("churn_rate"), d.kpi("repeat_rate")
    if churn and churn.value is not None:
        churned = d.churned[0]
        if zh:
            s = f"本期流失 {_n(i18n.count(churned, lang), _tone(churn.change, False))} 个客户，流失率 {_n(i18n.pct(churn.value, lang), _tone(churn.change, False))}（{i18n.points(churn.change, lang)}）"
            if repeat and repeat.value is not None:
                s += f"；复购率 {_n(i18n.pct(repeat.value, lang), _tone(repeat.change))}"
            out.append(s + "。")
        else:
            s = (
                f"{_n(i18n.count(churned, lang), _tone(churn.change, False))} customers churned, a churn rate of "
                f"{_n(i18n.pct(churn.value, lang), _tone(churn.change, False))} ({i18n.points(churn.change, lang)})"
            )
            if repeat and repeat.value is not None:
                s += f"; the repeat purchase rate is {_n(i18n.pct(repeat.value, lang), _tone(repeat.change))}"
            out.append(s + ".")
    nps, csat = d.kpi("nps"), d.kpi("csat")
    if nps and nps.value is not None:
        c = f", CSAT {_n(i18n.pct(csat.value, lang), _tone(csat.change))}" if csat and csat.value is not None else ""
        prev = (
            ""
            if nps.previous is None
            else (f"（上期 {i18n.score(nps.previous, lang)}）" if zh else f" ({i18n.score(nps.previous, lang)} in {Q})")
        )
        out.append(
            (f"客户满意度：NPS {_n(i18n.score(nps.value, lang), _tone(nps.change))}{prev}{c.replace(', ', '，')}。")
            if zh
            else f"Customer satisfaction: NPS {_n(i18n.score(nps.value, lang), _tone(nps.change))}{prev}{c}."
        )
    return [Markup(s) for s in out]


def problems(d: ReportData, lang: str, sla_first_response: float) -> list[Markup]:
    zh = lang == "zh"
    Q = d.previous.label(lang)
    out: list[str] = []
    # churn by reason
    churned_now = sum(r[1] for r in d.churn_reasons)
    if churned_now:
        top = [r for r in d.churn_reasons if r[1]][:3]
        reasons = ("、" if zh else ", ").join(
            f"{escape(i18n.label(r[0], lang, 'reason'))} {_n(str(r[1]), 'bad')}"
            + ("" if zh else f" ({r[1] / churned_now:.0%})")
            for r in top
        )
        before = sum(r[2] for r in d.churn_reasons)
        tone = "bad" if churned_now >= before else "neutral"
        industries = ("、" if zh else ", ").join(f"{escape(str(n))} {c}" for n, c in d.churn_by_industry[:3])
        if zh:
            s = f"客户流失：本期流失 {_n(str(churned_now), tone)} 个客户（上期 {before} 个），主要原因：{reasons}"
            s += f"；流失集中的行业：{industries}。" if industries else "。"
        else:
            s = f"Churn: {_n(str(churned_now), tone)} customers churned ({before} in {Q}); main reasons: {reasons}"
            s += f". Most churn in: {industries}." if industries else "."
        out.append(s)
    # slow responses by category
    overall = d.service_total.get("first_response_breach_rate")
    slow = [
        c
        for c in d.service
        if c["first_response_breach_rate"] is not None
        and overall is not None
        and (c["first_response_breach_rate"] > overall or (c["first_response_median"] or 0) > sla_first_response)
    ]
    slow.sort(key=lambda c: -(c["first_response_breach_rate"] or 0))
    if slow:
        parts = []
        for c in slow[:3]:
            name = escape(i18n.label(c["category"], lang, "category"))
            if zh:
                parts.append(
                    f"{name}类（{c['tickets']} 张）首次响应中位数 {_n(i18n.hours(c['first_response_median'], lang), 'bad' if (c['first_response_median'] or 0) > sla_first_response else 'neutral')}，"
                    f"P90 {i18n.hours(c['first_response_p90'], lang)}，超时率 {_n(i18n.pct(c['first_response_breach_rate'], lang), 'bad')}"
                )
            else:
                parts.append(
                    f"{name} ({c['tickets']} tickets): median first response {_n(i18n.hours(c['first_response_median'], lang), 'bad' if (c['first_response_median'] or 0) > sla_first_response else 'neutral')}, "
                    f"p90 {i18n.hours(c['first_response_p90'], lang)}, {_n(i18n.pct(c['first_response_breach_rate'], lang), 'bad')} over the SLA"
                )
        if zh:
            out.append(
                f"响应偏慢的工单类型（目标 {sla_first_response:g} 小时内首次响应，整体超时率 {i18n.pct(overall, lang)}）："
                + "；".join(parts)
                + "。"
            )
        else:
            out.append(
                f"Slow responses (target: first response within {sla_first_response:g} h; {i18n.pct(overall, lang)} of all tickets breached it): "
                + "; ".join(parts)
                + "."
            )
    # reps below team average
    below = [r for r in d.reps if r["vs_team"] is not None and r["vs_team"] < 1]
    if below and d.team_avg_rep_revenue:
        names = ("、" if zh else ", ").join(
            f"{escape(str(r['rep']))} {i18n.money(r['revenue'], lang)} ({_n(i18n.pct(r['vs_team'], lang, 0), 'bad')})"
            for r in below[:5]
        )
        if zh:
            out.append(
                f"{_n(str(len(below)), 'bad')} 名销售低于团队人均销售额 {i18n.money(d.team_avg_rep_revenue, lang)}，最低的是：{names}。"
            )
        else:
            out.append(
                f"{_n(str(len(below)), 'bad')} of {len(d.reps)} reps are below the team average of "
                f"{i18n.money(d.team_avg_rep_revenue, lang)} per rep; lowest: {names} (share of the average)."
            )
    # falling regions / industries
    for dim in ("region", "industry"):
        falling = [c for c in d.dimension_changes.get(dim, []) if c[2] > 0 and c[1] < c[2]]
        if falling:
            name, now, before = falling[0]
            drop = now / before - 1
            if zh:
                out.append(
                    f"销售额下降最多的{'地区' if dim == 'region' else '行业'}：{escape(str(name))}，"
                    f"从 {i18n.money(before, lang)} 降至 {i18n.money(now, lang)}（{_n(i18n.signed_pct(drop, lang), 'bad')}）。"
                )
            else:
                out.append(
                    f"Largest revenue drop by {dim}: {escape(str(name))}, from {i18n.money(before, lang)} to "
                    f"{i18n.money(now, lang)} ({_n(i18n.signed_pct(drop, lang), 'bad')})."
                )
    # early warning
    risk = d.at_risk
    if risk.get("flagged"):
        owners = ("、" if zh else ", ").join(f"{escape(str(o))} {n}" for o, n in risk["owners"])
        if zh:
            out.append(
                f"流失预警：{_n(str(risk['flagged']), 'bad')} 个客户出现预警信号（跟进次数骤降 {risk['followup_drop']} 个，"
                f"超出购买周期未下单 {risk['purchase_gap']} 个），负责人最多的是：{owners}。"
            )
        else:
            out.append(
                f"Churn warning: {_n(str(risk['flagged']), 'bad')} customers show warning signs ({risk['followup_drop']} with "
                f"far fewer follow-ups, {risk['purchase_gap']} overdue against their purchase cycle); most are owned by {owners}."
            )
    # adverse KPI moves not covered above
    for key in ("nps", "csat", "repeat_rate"):
        k = d.kpi(key)
        if k and k.adverse:
            name = i18n.t(f"kpi_{key}", lang)
            out.append(
                (
                    f"{escape(name)}下降：{i18n.FORMATTERS[k.unit](k.previous, lang)} → {_n(i18n.FORMATTERS[k.unit](k.value, lang), 'bad')}。"
                )
                if zh
                else f"{escape(name)} fell from {i18n.FORMATTERS[k.unit](k.previous, lang)} to {_n(i18n.FORMATTERS[k.unit](k.value, lang), 'bad')}."
            )
    return [Markup(s) for s in out]
