"""The weekly review's charts: already-computed series in, PNG bytes out.

Pure functions of frozen inputs: nothing here reads the database or the clock, so the weekly job
decides what a week is and the same input always gives the same bytes (tests compare them). Each
`Chart` keeps the categories and series it drew, and the PNG embeds them as JSON under the tEXt
keyword `hypercare:series`, so what a picture claims can be checked without reading pixels.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from bot.domain import Chart
from bot.reports import _canvas as canvas
from bot.reports._canvas import Series


@dataclass(frozen=True)
class SeverityLabel:
    """A severity as the program orders it (most urgent first) and as people read it."""

    id: str
    label: str


@dataclass(frozen=True)
class DailySeries:
    """Values per day, one tuple per key (a severity or a metric source); None is 'no data'."""

    days: tuple[dt.date, ...]
    values: Mapping[str, tuple[float | None, ...]]

    def __post_init__(self) -> None:
        if any(b <= a for a, b in zip(self.days, self.days[1:], strict=False)):
            raise ValueError("days must be in increasing order without repeats")
        for key, points in self.values.items():
            if len(points) != len(self.days):
                raise ValueError(
                    f"series {key!r} has {len(points)} values but there are {len(self.days)} days"
                )
            _check_finite(key, points)
        # A private read-only copy: a caller mutating its dict later cannot change a chart input.
        frozen = MappingProxyType({k: tuple(v) for k, v in self.values.items()})
        object.__setattr__(self, "values", frozen)


@dataclass(frozen=True)
class FeedbackFlow:
    """Feedback opened and resolved per day, keyed by severity id."""

    severities: tuple[SeverityLabel, ...]
    opened: DailySeries
    resolved: DailySeries

    def __post_init__(self) -> None:
        _same_days("opened", self.opened, "resolved", self.resolved)
        _known_severities(self.severities, [*self.opened.values, *self.resolved.values])


@dataclass(frozen=True)
class Backlog:
    """Open feedback at the end of each day, keyed by severity id."""

    severities: tuple[SeverityLabel, ...]
    open_items: DailySeries

    def __post_init__(self) -> None:
        _known_severities(self.severities, list(self.open_items.values))


@dataclass(frozen=True)
class GatewayHealth:
    """Daily error rate (%) and p95 latency (ms), keyed by metric source id."""

    error_rate_pct: DailySeries
    p95_latency_ms: DailySeries

    def __post_init__(self) -> None:
        _same_days("error_rate_pct", self.error_rate_pct, "p95_latency_ms", self.p95_latency_ms)


@dataclass(frozen=True)
class ResponseTimes:
    """Mean time to acknowledge and to resolve, in hours, keyed by severity id."""

    severities: tuple[SeverityLabel, ...]
    mtta_hours: Mapping[str, float | None]
    mttr_hours: Mapping[str, float | None]

    def __post_init__(self) -> None:
        _known_severities(self.severities, [*self.mtta_hours, *self.mttr_hours])
        for name, hours in (("mtta_hours", self.mtta_hours), ("mttr_hours", self.mttr_hours)):
            _check_finite(name, tuple(hours.values()))
            if any(h is not None and h < 0 for h in hours.values()):
                raise ValueError(f"{name} cannot be negative")


def feedback_flow_chart(flow: FeedbackFlow) -> Chart:
    """Opened (solid) and resolved (hatched) feedback per day, each stacked by severity."""
    title = "Feedback opened and resolved per day"
    days, order = flow.opened.days, _ordered(flow.severities, flow.opened, flow.resolved)
    series: Series = {f"opened:{s.id}": list(flow.opened.values[s.id]) for s in order[0]}
    series |= {f"resolved:{s.id}": list(flow.resolved.values[s.id]) for s in order[1]}
    empty = not days or all(not v for vs in series.values() for v in vs)

    def draw(fig: Figure) -> None:
        ax, width = fig.add_subplot(), 0.38  # two bars a day, side by side, with a gap between days
        for kind, offset, present in (("opened", -1, order[0]), ("resolved", 1, order[1])):
            bottom = [0.0] * len(days)
            for sev in present:
                colour = canvas.colour(flow.severities.index(sev))
                heights = canvas.none_as_zero(series[f"{kind}:{sev.id}"])
                look = (
                    {"color": colour, "edgecolor": "white", "linewidth": 0.5, "label": sev.label}
                    if kind == "opened"
                    else {"facecolor": "white", "edgecolor": colour, "hatch": "///"}
                )
                x = [i + offset * width / 2 for i in range(len(days))]
                ax.bar(x, heights, width, bottom=bottom, **look)
                bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        canvas.style_axes(ax, title=title, xlabel="Day", ylabel="Feedback items")
        canvas.style_day_axis(ax, days)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        solid = Patch(facecolor="0.45", label="Opened (solid, left)")
        hatched = Patch(facecolor="white", edgecolor="0.45", hatch="///", label="Resolved (right)")
        canvas.legend_outside(ax, [solid, hatched])

    return _chart(draw, empty, title, "feedback-flow", days, series)


def backlog_chart(backlog: Backlog) -> Chart:
    """Open feedback per severity at each day's end; a missing day is a gap in the line."""
    title = "Open feedback backlog"
    days, (present,) = backlog.open_items.days, _ordered(backlog.severities, backlog.open_items)
    series: Series = {s.id: list(backlog.open_items.values[s.id]) for s in present}
    # A backlog of zero is good news worth drawing; only missing numbers make an empty chart.
    empty = not days or all(v is None for vs in series.values() for v in vs)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        lines = [(s.label, series[s.id], backlog.severities.index(s)) for s in present]
        canvas.day_lines(ax, lines)
        canvas.style_axes(ax, title=title, xlabel="Day", ylabel="Open items")
        canvas.style_day_axis(ax, days)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        canvas.legend_outside(ax)

    return _chart(draw, empty, title, "backlog", days, series)


def gateway_health_chart(health: GatewayHealth) -> Chart:
    """Error rate above p95 latency, one line per source, sharing the day axis; gaps stay gaps."""
    title = "Gateway error rate and p95 latency per day"
    days = health.error_rate_pct.days
    series: Series = {
        f"error_rate_pct:{k}": list(v) for k, v in health.error_rate_pct.values.items()
    }
    series |= {f"p95_latency_ms:{k}": list(v) for k, v in health.p95_latency_ms.values.items()}
    empty = not days or all(v is None for vs in series.values() for v in vs)
    sources = list(dict.fromkeys([*health.error_rate_pct.values, *health.p95_latency_ms.values]))

    def draw(fig: Figure) -> None:
        top = fig.add_subplot(2, 1, 1)
        bottom = fig.add_subplot(2, 1, 2, sharex=top)
        panels = (
            (top, health.error_rate_pct, "Error rate (%)"),
            (bottom, health.p95_latency_ms, "p95 latency (ms)"),
        )
        for ax, daily, ylabel in panels:
            # Colours from blue on: vermillion and orange stay reserved for urgent severities.
            canvas.day_lines(ax, [(k, v, sources.index(k) + 2) for k, v in daily.values.items()])
            canvas.style_axes(ax, ylabel=ylabel)
        top.tick_params(labelbottom=False)
        top.set_title(title, fontsize=canvas.TITLE_SIZE, loc="left")
        canvas.style_day_axis(bottom, days)
        bottom.set_xlabel("Day", fontsize=canvas.LABEL_SIZE)
        canvas.legend_outside(top if top.lines else bottom)

    return _chart(draw, empty, title, "gateway-health", days, series)


def response_times_chart(times: ResponseTimes) -> Chart:
    """Grouped horizontal bars in hours, most urgent severity on top; a missing mean says so."""
    title = "Mean time to acknowledge and to resolve, by severity"
    mtta = [times.mtta_hours.get(s.id) for s in times.severities]
    mttr = [times.mttr_hours.get(s.id) for s in times.severities]
    series: Series = {"mtta_hours": mtta, "mttr_hours": mttr}
    empty = all(v is None for v in (*mtta, *mttr))

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        rows = len(times.severities)
        height, most = 0.38, max(v for v in (*mtta, *mttr) if v is not None)
        bars = (
            ("Time to acknowledge (MTTA)", mtta, height / 2, "#E69F00"),
            ("Time to resolve (MTTR)", mttr, -height / 2, "#0072B2"),
        )
        for label, values, offset, colour in bars:
            ys = [rows - 1 - i + offset for i in range(rows)]  # sev1 at the top
            drawn = [(y, v) for y, v in zip(ys, values, strict=True) if v is not None]
            group = ax.barh([y for y, _ in drawn], [v for _, v in drawn], height, color=colour)
            group.set_label(label)
            ax.bar_label(group, [_hours(v) for _, v in drawn], padding=3, fontsize=10)
            for y in (y for y, v in zip(ys, values, strict=True) if v is None):
                ax.annotate(
                    "no data",
                    (0, y),
                    xytext=(4, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=10,
                    color="0.35",
                    style="italic",
                )
        ax.set_yticks(range(rows), [s.label for s in reversed(times.severities)])
        ax.set_ylim(-0.6, rows - 0.4)
        ax.set_xlim(0, most * 1.15 if most > 0 else 1)
        canvas.style_axes(ax, title=title, xlabel="Hours")
        ax.grid(False, axis="y")
        canvas.legend_outside(ax)

    return _chart(draw, empty, title, "response-times", [s.id for s in times.severities], series)


def _chart(
    draw: canvas.Draw,
    empty: bool,
    title: str,
    stem: str,
    categories: Sequence[dt.date] | Sequence[str],
    series: Series,
) -> Chart:
    """Render (or the placeholder when empty) and pair the PNG with what it shows."""
    names = [c.isoformat() if isinstance(c, dt.date) else c for c in categories]
    first = categories[0] if categories else None
    filename = f"{stem}-{first.isoformat()}.png" if isinstance(first, dt.date) else f"{stem}.png"
    png, texts = canvas.render(
        None if empty else draw, title=title, categories=names, series=series
    )
    return Chart(png, title, filename, names, series, empty, texts)


def _hours(hours: float) -> str:
    """'25 min' under an hour (a sev1 MTTA of '0.2 h' reads badly), else '3.5 h'."""
    return f"{round(hours * 60)} min" if hours < 1 else f"{hours:.1f} h"


def _ordered(
    severities: tuple[SeverityLabel, ...], *daily: DailySeries
) -> list[list[SeverityLabel]]:
    """For each series, the severities it has values for, in the program's order."""
    return [[s for s in severities if s.id in d.values] for d in daily]


def _same_days(name_a: str, a: DailySeries, name_b: str, b: DailySeries) -> None:
    if a.days != b.days:
        raise ValueError(f"{name_a} and {name_b} must cover the same days")


def _known_severities(severities: tuple[SeverityLabel, ...], keys: Sequence[str]) -> None:
    ids = [s.id for s in severities]
    if len(set(ids)) != len(ids):
        raise ValueError(f"severity ids must be unique, got {ids}")
    unknown = sorted(set(keys) - set(ids))
    if unknown:
        raise ValueError(f"unknown severities {unknown}; expected some of {ids}")


def _check_finite(name: str, values: Sequence[float | None]) -> None:
    if any(v is not None and not math.isfinite(v) for v in values):
        raise ValueError(f"{name} has a NaN or infinite value; use None for a missing day")
