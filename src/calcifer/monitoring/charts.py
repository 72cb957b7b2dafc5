"""Server-side geometry for the response-time chart (inline SVG, no JavaScript library).

The SVG uses a fixed 1000 x 200 user space drawn with ``preserveAspectRatio="none"`` (lines keep their
width through ``vector-effect``); axis labels are HTML positioned in percent, so text stays crisp at any
width, phones included.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from calcifer.monitoring.service import Series

WIDTH = 1000
HEIGHT = 200


@dataclass(frozen=True, slots=True)
class Tick:
    percent: float   # from the left (x) or from the top (y)
    label: str


@dataclass(frozen=True, slots=True)
class Column:
    x: float
    width: float
    title: str
    failed: bool


@dataclass(slots=True)
class Chart:
    line: str = ""          # path of the average latency
    band: str = ""          # min..max area
    columns: list[Column] = field(default_factory=list)   # hover targets with a <title>, failures marked
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    max_ms: float = 0
    points: int = 0
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def empty(self) -> bool:
        return self.points == 0


def _nice_max(value: float) -> float:
    if value <= 0:
        return 10.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return float(step * exponent)
    return float(10 * exponent)


def _ms(value: float) -> str:
    return f"{value / 1000:g} s" if value >= 1000 else f"{value:g} ms"


def _time_label(value: dt.datetime, span: dt.timedelta) -> str:
    return value.strftime("%H:%M") if span <= dt.timedelta(hours=48) else value.strftime("%b %d")


def latency_chart(series: Series, *, interval_seconds: int = 0) -> Chart:
    """Turn a ``Series`` into SVG paths, hover columns and axis ticks. Gaps longer than three buckets (or
    two and a half check intervals) break the line rather than drawing across missing data."""
    chart = Chart()
    span = series.end - series.start
    seconds = span.total_seconds() or 1.0
    with_latency = [p for p in series.points if p.avg is not None]
    chart.points = len(series.points)
    top = _nice_max(max((p.max or p.avg or 0) for p in with_latency) if with_latency else 0)
    chart.max_ms = top

    def x_of(at: dt.datetime) -> float:
        return round(max(0.0, min(1.0, (at - series.start).total_seconds() / seconds)) * WIDTH, 1)

    def y_of(ms: float) -> float:
        return round(HEIGHT - max(0.0, min(1.0, ms / top)) * (HEIGHT - 4) - 2, 1)

    gap = dt.timedelta(seconds=max(max(series.bucket_seconds, 1) * 3.5, interval_seconds * 2.5))
    line: list[str] = []
    upper: list[str] = []
    lower: list[str] = []
    bands: list[str] = []
    previous: dt.datetime | None = None

    def close_band() -> None:
        if upper:
            bands.append("M" + " L".join(upper + list(reversed(lower))) + " Z")
            upper.clear()
            lower.clear()

    for point in with_latency:
        assert point.avg is not None
        command = "M" if previous is None or point.at - previous > gap else "L"
        if command == "M":
            close_band()
        # "l0,0" after a move draws a dot (round caps) so a lone point still shows.
        line.append(f"{command}{x_of(point.at)},{y_of(point.avg)}" + (" l0,0" if command == "M" else ""))
        upper.append(f"{x_of(point.at)},{y_of(point.max if point.max is not None else point.avg)}")
        lower.append(f"{x_of(point.at)},{y_of(point.min if point.min is not None else point.avg)}")
        previous = point.at
    close_band()
    chart.line = " ".join(line)
    chart.band = " ".join(bands)
    column_width = max(WIDTH * max(series.bucket_seconds, 1) / seconds, 2.0)
    for point in series.points:
        when = point.at.strftime("%Y-%m-%d %H:%M UTC")
        latency = (f"{point.avg:g} ms avg ({point.min:g}–{point.max:g} ms)" if point.avg is not None
                   and point.min is not None and point.max is not None else "no latency")
        title = f"{when}: {latency}, {point.checks} check{'s' if point.checks != 1 else ''}"
        if point.failures:
            title += f", {point.failures} failed"
        chart.columns.append(Column(x=round(x_of(point.at) - column_width / 2, 1), width=round(column_width, 1),
                                    title=title, failed=point.failures > 0))
    chart.y_ticks = [Tick(round(100 - fraction * 100 * (HEIGHT - 4) / HEIGHT - 1, 1), _ms(top * fraction))
                     for fraction in (1.0, 0.5, 0.0)]
    chart.x_ticks = [Tick(round(fraction * 100, 1), _time_label(series.start + span * fraction, span))
                     for fraction in (0.0, 0.25, 0.5, 0.75, 1.0)]
    return chart


SPARK_WIDTH = 120
SPARK_HEIGHT = 24


@dataclass(frozen=True, slots=True)
class Sparkline:
    """A small latency line (one location's last hour on the endpoint page): ``points`` for an SVG
    polyline in a ``width`` x ``height`` box, and what it spans for its label."""

    points: str
    low_ms: float
    high_ms: float
    count: int
    width: int = SPARK_WIDTH
    height: int = SPARK_HEIGHT

    @property
    def label(self) -> str:
        return f"{self.count} checks, {_ms(round(self.low_ms, 1))} to {_ms(round(self.high_ms, 1))}"


def sparkline(values: list[float], *, width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> Sparkline | None:
    """Latencies, oldest first, as a line scaled from 0 to their maximum (None for fewer than two)."""
    if len(values) < 2:
        return None
    top = max(max(values), 1.0)
    step = width / (len(values) - 1)
    points = " ".join(f"{round(i * step, 1)},{round(height - 1 - v / top * (height - 2), 1)}"
                      for i, v in enumerate(values))
    return Sparkline(points=points, low_ms=min(values), high_ms=max(values), count=len(values), width=width,
                     height=height)
