"""Bar charts as plain geometry for the stats page's server-rendered SVG. Pure.

Each chart has one series, its bars labelled with their value, so it reads without colour;
the page draws it from this geometry in a template (autoescaped) and puts the same figures
in a table beside it for screen readers and for copying.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 720
HEIGHT = 200
LEFT = 40  # room for the value axis labels
BOTTOM = 36  # room for the category labels
TOP = 16  # room for the value label above the tallest bar
MAX_LABELS = 16  # category labels shown at most; the others are in the table


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str  # the figure as shown ("-" for no data)
    show_label: bool


@dataclass(frozen=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    baseline: float


def _nice_top(highest: float) -> float:
    """A round axis maximum at or above ``highest``: 1, 2, 5 or 10 times a power of ten."""
    if highest <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(highest))
    return float(next(step * power for step in (1, 2, 5, 10) if step * power >= highest))


def bar_chart(
    chart_id: str, title: str, points: Sequence[tuple[str, float | None]], *, top: float | None = None, digits: int = 0
) -> Chart:
    """A chart of ``points`` (label, value or None for no data) on an axis from 0 to ``top``."""
    axis_top = top if top is not None else _nice_top(max((v for _, v in points if v is not None), default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT) / max(1, len(points))
    every = max(1, math.ceil(len(points) / MAX_LABELS))
    bars = []
    for index, (label, value) in enumerate(points):
        h = 0.0 if value is None else plot_h * min(1.0, value / axis_top)
        shown = "-" if value is None else f"{value:.{digits}f}"
        bars.append(
            Bar(
                x=round(LEFT + index * slot + slot * 0.15, 1),
                y=round(TOP + plot_h - h, 1),
                width=round(slot * 0.7, 1),
                height=round(h, 1),
                label=label,
                value=shown,
                show_label=index % every == 0,
            )
        )
    ticks = tuple(Tick(round(TOP + plot_h * (1 - f), 1), f"{axis_top * f:.{digits}f}") for f in (0, 0.5, 1))
    summary = ", ".join(f"{b.label}: {b.value}" for b in bars)
    return Chart(chart_id, title, summary, WIDTH, HEIGHT, tuple(bars), ticks, TOP + plot_h)
