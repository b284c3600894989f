"""Inline SVG charts: no JavaScript, no external files, identical on screen, in print and in PDF.

Every drawn data mark carries ``class="mark"`` (tests count them); every chart is one ``<svg>``
with a ``data-chart`` name and an ``aria-label``. Which charts the report shows, from which data,
is in ``figures.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

PALETTE = ["#2f6fb5", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#e15759", "#9c755f", "#bab0ac", "#ff9da7"]
GRID = "#e3e6ea"
AXIS = "#6b7280"
FONT = 12
SCALE = 1.2  # drawn size / viewBox units (text of 12 units shows at about 14 px)


def text_width(text: str, size: float = FONT) -> float:
    """Rough rendered width: CJK glyphs are one em wide, Latin ones about 0.58 em."""
    return sum(size if ord(ch) > 0x2E80 else size * 0.58 for ch in str(text))


def _svg(name: str, title: str, width: float, height: float, body: list[str]) -> str:
    return (
        f'<svg class="chart-svg" data-chart="{name}" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width * SCALE:.0f}" height="{height * SCALE:.0f}" '
        f'xmlns="http://www.w3.org/2000/svg">' + "".join(body) + "</svg>"
    )


def _text(x, y, text, anchor="start", size=FONT, fill="#1f2937", weight="normal", extra="") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}" '
        f'font-weight="{weight}"{extra}>{escape(str(text))}</text>'
    )


def _title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def _ticks(value: float, integer: bool = False, target: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``value`` (about ``target`` steps)."""
    if value <= 0:
        return [0.0, 1.0]
    raw = value / target
    exponent = 10 ** math.floor(math.log10(raw))
    step = next(m * exponent for m in (1, 2, 2.5, 5, 10) if m * exponent >= raw)
    if integer:
        step = max(1.0, math.ceil(step))
    return [step * k for k in range(int(math.ceil(value / step - 1e-9)) + 1)]


def empty(name: str, message: str) -> str:
    return _svg(name, message, 640, 80, [_text(320, 45, message, anchor="middle", fill=AXIS)])


# --- pie / donut -----------------------------------------------------------------------------------
def pie(
    name: str,
    title: str,
    items: Sequence[tuple[str, float]],
    fmt: Callable[[float], str],
    other_label: str = "Other",
    max_slices: int = 8,
) -> str:
    items = [(label, float(v)) for label, v in items if v and float(v) > 0]
    if not items:
        return empty(name, title)
    items.sort(key=lambda kv: -kv[1])
    if len(items) > max_slices:
        rest = sum(v for _, v in items[max_slices - 1 :])
        items = items[: max_slices - 1] + [(other_label, rest)]
    total = sum(v for _, v in items)
    cx, cy, r, inner = 150, 150, 120, 62
    legend_w = max(text_width(f"{label}  {fmt(v)}  (100.0%)") for label, v in items) + 40
    width, height = 300 + legend_w + 20, max(300, 30 + 24 * len(items))
    body, angle = [], -math.pi / 2
    for i, (label, value) in enumerate(items):
        share = value / total
        color = PALETTE[i % len(PALETTE)]
        tip = _title(f"{label}: {fmt(value)} ({share:.1%})")
        if share >= 0.9999:
            body.append(
                f'<circle class="mark" cx="{cx}" cy="{cy}" r="{(r + inner) / 2}" fill="none" '
                f'stroke="{color}" stroke-width="{r - inner}">{tip}</circle>'
            )
        else:
            a0, a1 = angle, angle + 2 * math.pi * share
            large = 1 if a1 - a0 > math.pi else 0
            p = [
                (cx + r * math.cos(a0), cy + r * math.sin(a0)),
                (cx + r * math.cos(a1), cy + r * math.sin(a1)),
                (cx + inner * math.cos(a1), cy + inner * math.sin(a1)),
                (cx + inner * math.cos(a0), cy + inner * math.sin(a0)),
            ]
            d = (
                f"M{p[0][0]:.2f},{p[0][1]:.2f} A{r},{r} 0 {large} 1 {p[1][0]:.2f},{p[1][1]:.2f} "
                f"L{p[2][0]:.2f},{p[2][1]:.2f} A{inner},{inner} 0 {large} 0 {p[3][0]:.2f},{p[3][1]:.2f} Z"
            )
            body.append(f'<path class="mark" d="{d}" fill="{color}" stroke="#fff" stroke-width="1.5">{tip}</path>')
            mid = (a0 + a1) / 2
            if share >= 0.06:
                lr = (r + inner) / 2
                body.append(
                    _text(
                        cx + lr * math.cos(mid),
                        cy + lr * math.sin(mid) + 4,
                        f"{share:.0%}",
                        anchor="middle",
                        size=11,
                        fill="#fff",
                        weight="bold",
                    )
                )
            angle = a1
        y = 30 + 24 * i
        body.append(f'<rect x="320" y="{y - 11}" width="14" height="14" rx="2" fill="{color}"/>')
        body.append(_text(342, y, f"{label}  {fmt(value)}  ({share:.1%})"))
    body.append(_text(cx, cy + 5, fmt(total), anchor="middle", size=15, weight="bold"))
    return _svg(name, title, width, height, body)


# --- line -------------------------------------------------------------------------------------------
def line(
    name: str,
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    fmt: Callable[[float], str],
    shade: tuple[int, int] | None = None,
    dashed: Sequence[bool] = (),
) -> str:
    values = [v for _, vals in series for v in vals if v is not None]
    if not x_labels or not values:
        return empty(name, title)
    width, height, left, right, top, bottom = 760, 320, 70, 36, 36, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = _ticks(max(values))
    y_max = ticks[-1]
    n = len(x_labels)
    step = plot_w / max(n - 1, 1)
    x = lambda i: left + i * step  # noqa: E731
    y = lambda v: top + plot_h * (1 - v / y_max)  # noqa: E731
    body = []
    if shade:
        x0, x1 = x(shade[0]) - step / 2, x(shade[1]) + step / 2
        body.append(
            f'<rect x="{max(x0, left):.1f}" y="{top}" width="{min(x1, left + plot_w) - max(x0, left):.1f}" '
            f'height="{plot_h}" fill="#fff4d6"/>'
        )
    for v in ticks:
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y(v) + 4, fmt(v), anchor="end", size=11, fill=AXIS))
    every = max(1, math.ceil(n / 12))
    for i, lab in enumerate(x_labels):
        if i % every == (n - 1) % every:
            body.append(_text(x(i), top + plot_h + 18, lab, anchor="middle", size=11, fill=AXIS))
    for s, (label, vals) in enumerate(series):
        color = PALETTE[0] if s == 0 else "#9ca3af"
        dash = ' stroke-dasharray="5 4"' if (dashed[s] if s < len(dashed) else False) else ""
        points = [(x(i), y(v)) for i, v in enumerate(vals) if v is not None]
        if len(points) >= 2:
            d = "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in points)
            body.append(f'<path class="mark" d="{d}" fill="none" stroke="{color}" stroke-width="2.5"{dash}/>')
        if s == 0:
            for i, v in enumerate(vals):
                if v is not None:
                    body.append(
                        f'<circle class="mark" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{color}">'
                        f"{_title(f'{x_labels[i]}: {fmt(v)}')}</circle>"
                    )
        lx = left + 10 + s * 200
        body.append(f'<line x1="{lx}" x2="{lx + 22}" y1="16" y2="16" stroke="{color}" stroke-width="2.5"{dash}/>')
        body.append(_text(lx + 28, 20, label, size=11))
    return _svg(name, title, width, height, body)


# --- heat map ---------------------------------------------------------------------------------------
def _heat_color(t: float) -> str:
    t = max(0.0, min(1.0, t))
    lo, hi = (239, 246, 255), (30, 64, 140)
    r, g, b = (round(lo[k] + (hi[k] - lo[k]) * t) for k in range(3))
    return f"rgb({r},{g},{b})"


def heatmap(
    name: str,
    title: str,
    rows: Sequence[str],
    cols: Sequence[str],
    values: Sequence[Sequence[float | None]],
    fmt: Callable[[float], str],
    x_title: str = "",
) -> str:
    flat = [v for row in values for v in row if v is not None]
    if not rows or not cols or not flat:
        return empty(name, title)
    label_w = max(text_width(r) for r in rows) + 16
    cell_w = max(44.0, max(text_width(fmt(v), 10) for v in flat) + 8, max(text_width(c, 10) for c in cols) + 6)
    cell_h = 26
    top = 30 + (16 if x_title else 0)
    width, height = label_w + cell_w * len(cols) + 10, top + cell_h * len(rows) + 10
    v_min, v_max = min(flat), max(flat)
    span = (v_max - v_min) or 1.0
    body = []
    if x_title:
        body.append(_text(label_w + cell_w * len(cols) / 2, 14, x_title, anchor="middle", size=11, fill=AXIS))
    for j, c in enumerate(cols):
        body.append(_text(label_w + cell_w * (j + 0.5), top - 8, c, anchor="middle", size=10, fill=AXIS))
    for i, r in enumerate(rows):
        y0 = top + i * cell_h
        body.append(_text(label_w - 8, y0 + cell_h / 2 + 4, r, anchor="end", size=11))
        for j, v in enumerate(values[i]):
            if v is None:
                continue
            t = (v - v_min) / span
            x0 = label_w + j * cell_w
            body.append(
                f'<rect class="mark" x="{x0:.1f}" y="{y0}" width="{cell_w - 2:.1f}" height="{cell_h - 2}" '
                f'fill="{_heat_color(t)}">{_title(f"{r} / {cols[j]}: {fmt(v)}")}</rect>'
            )
            body.append(
                _text(
                    x0 + (cell_w - 2) / 2,
                    y0 + cell_h / 2 + 3,
                    fmt(v),
                    anchor="middle",
                    size=10,
                    fill="#fff" if t > 0.55 else "#1f2937",
                )
            )
    return _svg(name, title, width, height, body)


# --- horizontal bars --------------------------------------------------------------------------------
def bars(
    name: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    fmt: Callable[[float], str],
    targets: Sequence[tuple[str, float, int]] = (),
    integer: bool = False,
    plot_w: float = 460,
    first_color: int = 0,
) -> str:
    """Grouped horizontal bars; ``targets`` = (label, value, series index) reference lines."""
    values = [v for _, vals in series for v in vals if v is not None]
    if not categories or not values:
        return empty(name, title)
    label_w = max(text_width(c) for c in categories) + 16
    bar_h, gap = 14, 10
    group_h = bar_h * len(series) + gap
    top = 34
    ticks = _ticks(max(values + [t[1] for t in targets]), integer=integer)
    x_max = ticks[-1]
    width = label_w + plot_w + 90
    height = top + group_h * len(categories) + 24
    x = lambda v: label_w + plot_w * max(v, 0) / x_max  # noqa: E731
    body = []
    for v in ticks:
        body.append(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{top - 4}" y2="{height - 20}" stroke="{GRID}"/>')
        body.append(_text(x(v), height - 6, fmt(v), anchor="middle", size=10, fill=AXIS))
    for s, (label, _) in enumerate(series):
        lx = label_w + sum(text_width(lab, 11) + 40 for lab, _ in series[:s])
        body.append(
            f'<rect x="{lx}" y="8" width="14" height="12" rx="2" fill="{PALETTE[(s + first_color) % len(PALETTE)]}"/>'
        )
        body.append(_text(lx + 20, 18, label, size=11))
    for i, cat in enumerate(categories):
        y0 = top + i * group_h
        body.append(_text(label_w - 8, y0 + group_h / 2, cat, anchor="end", size=11))
        for s, (label, vals) in enumerate(series):
            v = vals[i]
            if v is None:
                continue
            yb = y0 + s * bar_h
            w = max(x(v) - label_w, 1.5)
            body.append(
                f'<rect class="mark" x="{label_w}" y="{yb}" width="{w:.1f}" height="{bar_h - 2}" '
                f'fill="{PALETTE[(s + first_color) % len(PALETTE)]}">{_title(f"{cat} — {label}: {fmt(v)}")}</rect>'
            )
            body.append(_text(label_w + w + 4, yb + bar_h - 4, fmt(v), size=10, fill=AXIS))
    for label, value, s in targets:
        tx = x(value)
        color = PALETTE[(s + first_color) % len(PALETTE)]
        body.append(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top - 4}" y2="{height - 20}" stroke="{color}" '
            f'stroke-width="1.5" stroke-dasharray="4 3"/>'
        )
        body.append(_text(tx + 3, top + 6 + 12 * s, f"{label} {fmt(value)}", size=10, fill=color))
    return _svg(name, title, width, height, body)
