"""Small charts drawn on the server as inline SVG: no script, no request, nothing for a browser to warn about.

Each chart takes one value per day for each series and returns markup with a <title> per bar or point, so hovering
shows the figures; the legend is HTML next to it (see the templates).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
LEFT, BOTTOM, TOP, RIGHT = 44, 22, 8, 8


@dataclass(frozen=True)
class Series:
    label: str
    color: str
    values: tuple[float, ...]


def days_between(since: dt.date, until: dt.date) -> list[str]:
    count = (until - since).days + 1
    return [(since + dt.timedelta(days=i)).isoformat() for i in range(max(count, 0))]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    step = 10 ** (len(str(int(value))) - 1)
    for multiple in (1, 2, 2.5, 5, 10):
        if multiple * step >= value:
            return multiple * step
    return 10 * step


def _axes(days: list[str], top: float, plot_w: float, plot_h: float) -> list[str]:
    bottom = TOP + plot_h + BOTTOM
    parts = []
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        value = top * fraction
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{value:,.0f}</text>')
    if days:
        for index in sorted({0, len(days) // 2, len(days) - 1}):
            x = LEFT + plot_w * (index + 0.5) / len(days)
            parts.append(f'<text x="{x:.1f}" y="{bottom - 6}" text-anchor="middle">{days[index][5:]}</text>')
    return parts


def stacked_bars(days: list[str], series: list[Series], label: str, width: int = WIDTH) -> Markup:
    """One stacked bar per day (``width``: of the drawing, in the same units as its height of 220)."""
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    totals = [sum(s.values[i] for s in series) for i in range(len(days))]
    top = _nice_max(max(totals, default=0))
    bar_w = plot_w / max(len(days), 1)
    parts = _axes(days, top, plot_w, plot_h)
    for i, day in enumerate(days):
        base = 0.0
        for s in series:
            value = s.values[i]
            if not value:
                continue
            h = plot_h * value / top
            y = TOP + plot_h - plot_h * (base + value) / top
            parts.append(
                f'<rect x="{LEFT + i * bar_w + bar_w * 0.1:.1f}" y="{y:.1f}" width="{bar_w * 0.8:.1f}" '
                f'height="{h:.1f}" fill="{s.color}"><title>{day} · {escape(s.label)}: {value:,.0f}</title></rect>')
            base += value
    return _svg(parts, label, width)


def lines(days: list[str], series: list[Series], label: str) -> Markup:
    """One line per series."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_max(max((v for s in series for v in s.values), default=0))
    step = plot_w / max(len(days), 1)
    parts = _axes(days, top, plot_w, plot_h)
    for s in series:
        points = [(LEFT + step * (i + 0.5), TOP + plot_h - plot_h * v / top) for i, v in enumerate(s.values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="2"/>')
        for (x, y), day, value in zip(points, days, s.values, strict=True):
            if value:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{s.color}">'
                             f'<title>{day} · {escape(s.label)}: {value:,.0f}</title></circle>')
    return _svg(parts, label)


def _svg(parts: list[str], label: str, width: int = WIDTH) -> Markup:
    wide = " ds-svg-wide" if width > WIDTH else ""
    return Markup(
        f'<svg class="ds-svg{wide}" viewBox="0 0 {width} {HEIGHT}" role="img" aria-label="{escape(label)}">'
        + "".join(parts) + "</svg>")


def legend(series: list[Series]) -> Markup:
    items = "".join(f'<li><svg class="ds-swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" '
                    f'fill="{s.color}"/></svg>{escape(s.label)}</li>'
                    for s in series)
    return Markup(f'<ul class="ds-legend">{items}</ul>')
