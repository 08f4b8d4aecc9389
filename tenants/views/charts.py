"""Server-rendered inline SVG bar charts: no chart library, no script, no CDN.

One ``<rect class="bar">`` per point (a zero is a bar of height 0, so a chart of 30 days always
has 30 bars), each with a ``<title>`` that reads as a tooltip and to screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 300
HEIGHT = 80
GAP = 1


@dataclass(frozen=True)
class Chart:
    name: str
    label: str
    total: int
    peak: int
    svg: SafeString


def bar_chart(name: str, label: str, points: Sequence[tuple[date, int]]) -> Chart:
    peak = max((value for _, value in points), default=0)
    count = max(len(points), 1)
    slot = WIDTH / count
    bar_width = max(slot - GAP, 1)
    bars = []
    for index, (day, value) in enumerate(points):
        height = 0.0 if peak == 0 else round(value * (HEIGHT - 2) / peak, 2)
        bars.append(
            (
                f"{index * slot:.2f}",
                f"{HEIGHT - height:.2f}",
                f"{bar_width:.2f}",
                f"{height:.2f}",
                day.isoformat(),
                value,
                f"{day:%d %b}: {value:,} {label.lower()}",
            )
        )
    body = format_html_join(
        "",
        '<rect class="bar" x="{}" y="{}" width="{}" height="{}" data-day="{}" data-value="{}">'
        "<title>{}</title></rect>",
        bars,
    )
    svg = format_html(
        '<svg class="chart" viewBox="0 0 {} {}" preserveAspectRatio="none" role="img" '
        'aria-label="{}: daily totals" data-series="{}">'
        '<line class="axis" x1="0" y1="{}" x2="{}" y2="{}"></line>{}</svg>',
        WIDTH,
        HEIGHT,
        label,
        name,
        HEIGHT,
        WIDTH,
        HEIGHT,
        body,
    )
    return Chart(name=name, label=label, total=sum(v for _, v in points), peak=peak, svg=svg)
