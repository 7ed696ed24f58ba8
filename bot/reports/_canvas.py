"""Figure plumbing shared by the weekly-review charts: size, palette, day labels, PNG bytes.

Charts are drawn with matplotlib's object API (`Figure` + `FigureCanvasAgg`), never pyplot, so
no global figure registry, no GUI backend and no display are involved. Matplotlib itself is not
thread-safe (its FAQ asks callers to serialise access to artists and shared caches), so every
render holds one module lock; a weekly job renders a handful of charts, so nobody waits long.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 4.5, 100  # 1000 × 450 px: readable inline in Slack
SERIES_KEY = "hypercare:series"  # PNG tEXt keyword holding the plotted series as JSON
NO_DATA = "No data this week"
TITLE_SIZE, LABEL_SIZE, TICK_SIZE = 14, 11, 10
MAX_DAY_LABELS = 14  # past this, label every n-th day so the labels never overlap

# Okabe–Ito: distinguishable with the common colour-vision deficiencies and in greyscale order.
# Reordered so the most urgent severity gets the most alarming colour (vermillion, then orange).
OKABE_ITO = (
    "#D55E00",  # vermillion
    "#E69F00",  # orange
    "#0072B2",  # blue
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")  # second cue besides colour for lines
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # fixed English, not the locale's

_RENDER_LOCK = threading.Lock()

Series = dict[str, list[float | None]]
Draw = Callable[[Figure], None]


def colour(index: int) -> str:
    """The palette colour for the index-th series (cycles past eight)."""
    return OKABE_ITO[index % len(OKABE_ITO)]


def marker(index: int) -> str:
    """The marker for the index-th line, so lines differ by shape as well as colour."""
    return MARKERS[index % len(MARKERS)]


def day_label(day: dt.date) -> str:
    """'Mon 16': short enough for a week of ticks, independent of the process locale."""
    return f"{WEEKDAYS[day.weekday()]} {day.day}"


def gaps_as_nan(values: Iterable[float | None]) -> list[float]:
    """None becomes NaN, which matplotlib leaves undrawn: a missing day is a gap, not a zero."""
    return [math.nan if v is None else v for v in values]


def none_as_zero(values: Iterable[float | None]) -> list[float]:
    """None becomes 0 for stacking bars; the embedded series still records the None."""
    return [0.0 if v is None else v for v in values]


def day_lines(ax: Axes, lines: Sequence[tuple[str, Sequence[float | None], int]]) -> None:
    """One line per (label, values, palette index), None as a gap, on a y-axis from zero.

    Markers make a lone day between two gaps visible; unclipped, a point at zero is drawn whole.
    """
    for label, values, index in lines:
        ax.plot(
            range(len(values)),
            gaps_as_nan(values),
            label=label,
            color=colour(index),
            marker=marker(index),
            linewidth=2,
            clip_on=False,
        )
    ax.set_ylim(bottom=0)


def style_day_axis(ax: Axes, days: Sequence[dt.date]) -> None:
    """Put one tick per day at integer positions, labelled 'Mon 16', thinned for long ranges."""
    step = max(1, math.ceil(len(days) / MAX_DAY_LABELS))
    positions = list(range(0, len(days), step))
    ax.set_xticks(positions, [day_label(days[i]) for i in positions])
    ax.set_xlim(-0.6, len(days) - 0.4)
    ax.tick_params(labelsize=TICK_SIZE)


def style_axes(ax: Axes, *, title: str = "", xlabel: str = "", ylabel: str = "") -> None:
    """Plain-English labels at readable sizes, a light grid behind the data, no chart junk."""
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE, loc="left")
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)
    ax.grid(True, color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def legend_outside(ax: Axes, extra: Sequence[Artist] = ()) -> None:
    """A legend right of the plot, so it never hides a bar or a point; `extra` adds key entries."""
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(
        handles=[*handles, *extra],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=TICK_SIZE,
        frameon=False,
    )


def render(
    draw: Draw | None,
    *,
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
) -> tuple[bytes, list[str]]:
    """Draw onto a fresh figure (or the 'no data' placeholder when `draw` is None).

    Returns the PNG and every visible text on it (title, labels, ticks, legend, annotations),
    read back from the laid-out figure. The PNG carries the series, categories and those texts
    as JSON in a tEXt chunk, so a test or a person with exiftool can check what the picture shows
    without reading pixels. Matplotlib's default 'Software' text names its version; dropping it
    keeps the bytes identical for identical input.
    """
    with _RENDER_LOCK:
        fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        if draw is None:
            fig.suptitle(title, fontsize=TITLE_SIZE, x=0.02, ha="left")
            fig.text(0.5, 0.5, NO_DATA, ha="center", va="center", fontsize=18, color="0.35")
        else:
            draw(fig)
        fig.draw_without_rendering()  # tick labels exist only once the figure is laid out
        texts = _visible_texts(fig)
        payload = json.dumps(
            {
                "title": title,
                "categories": list(categories),
                "series": {k: list(v) for k, v in series.items()},
                "no_data": draw is None,
                "texts": texts,
            },
            separators=(",", ":"),
            allow_nan=False,
        )  # ASCII only (ensure_ascii), so Pillow writes tEXt rather than iTXt
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None, SERIES_KEY: payload})
    return buffer.getvalue(), texts


def _visible_texts(fig: Figure) -> list[str]:
    """Distinct non-empty texts as drawn, in artist order; tick labels only inside the view."""
    outside: set[int] = set()  # ids of tick labels that exist but fall outside the axis limits
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            span = (high - low) * 1e-9
            for tick in axis.get_major_ticks():
                if not low - span <= tick.get_loc() <= high + span:
                    outside.update((id(tick.label1), id(tick.label2)))
    found = [t for t in fig.findobj(Text) if isinstance(t, Text) and t.get_visible()]
    return list(
        dict.fromkeys(t.get_text() for t in found if id(t) not in outside and t.get_text().strip())
    )
