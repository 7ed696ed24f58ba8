"""Weekly-review charts: real PNGs whose embedded series match what the caller gave."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngImageFile

from bot.domain import Chart
from bot.reports._canvas import day_label
from bot.reports.charts import (
    Backlog,
    DailySeries,
    FeedbackFlow,
    GatewayHealth,
    ResponseTimes,
    SeverityLabel,
    backlog_chart,
    feedback_flow_chart,
    gateway_health_chart,
    response_times_chart,
)

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SEVERITIES = (
    SeverityLabel("sev1", "Sev 1 – Critical"),
    SeverityLabel("sev2", "Sev 2 – Major"),
    SeverityLabel("sev3", "Sev 3 – Minor"),
)
WEEK = tuple(dt.date(2025, 6, 16) + dt.timedelta(days=d) for d in range(7))  # Mon 16 – Sun 22
ISO_WEEK = [d.isoformat() for d in WEEK]


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, checking the signature and each chunk's CRC on the way."""
    assert png[:8] == PNG_SIGNATURE
    found, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + data) == crc, f"bad CRC in {kind!r}"
        found.append((kind, data))
        at += 12 + length
    assert found[0][0] == b"IHDR" and found[-1][0] == b"IEND"
    return found


def size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk."""
    _, data = chunks(png)[0]  # IHDR, checked first by chunks()
    width, height = struct.unpack(">II", data[:8])
    return width, height


def texts(png: bytes) -> dict[str, str]:
    """All tEXt chunks as keyword → text (Latin-1, as the PNG specification says)."""
    pairs = (data.split(b"\0", 1) for kind, data in chunks(png) if kind == b"tEXt")
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in pairs}


def pixels(png: bytes) -> bytes:
    """The decompressed image data alone: comparing it ignores the embedded series text."""
    return zlib.decompress(b"".join(data for kind, data in chunks(png) if kind == b"IDAT"))


def embedded(chart: Chart) -> dict[str, Any]:
    """The JSON the chart wrote into its PNG."""
    payload: dict[str, Any] = json.loads(texts(chart.png)["hypercare:series"])
    return payload


def flow(**opened_changes: tuple[float | None, ...]) -> FeedbackFlow:
    """A week of feedback, sev1 deliberately given last to prove the program's order wins."""
    opened = {
        "sev2": (3, 2, 4, 1, 2, 0, 0),
        "sev3": (5, 6, 3, 4, 2, 1, 0),
        "sev1": (1, 0, 2, 0, 0, 0, 1),
    }
    resolved = {"sev1": (0, 1, 1, 1, 0, 0, 1), "sev2": (1, 2, 3, 2, 1, 1, 0)}
    return FeedbackFlow(
        SEVERITIES,
        DailySeries(WEEK, opened | opened_changes),
        DailySeries(WEEK, resolved),
    )


def health() -> GatewayHealth:
    """Two sources, each missing some days."""
    return GatewayHealth(
        DailySeries(WEEK, {"eu": (0.4, 0.6, None, 2.5, 0.8, 0.3, 0.2), "us": (0.2,) * 7}),
        DailySeries(WEEK, {"eu": (220, 240, None, 610, 300, 210, 200), "us": (180,) * 7}),
    )


def times(sev3_mttr: float | None = None) -> ResponseTimes:
    """Response times where sev3 has no MTTR and no severity is missing from the MTTA map."""
    return ResponseTimes(
        SEVERITIES,
        {"sev1": 0.25, "sev2": 1.5, "sev3": 6.0},
        {"sev1": 3.5, "sev2": 20.0, "sev3": sev3_mttr},
    )


def test_png_is_real_fixed_size_and_carries_only_our_text() -> None:
    """A valid PNG of 1000 × 450 px, readable by Pillow, with no version-stamped Software key."""
    chart = feedback_flow_chart(flow())
    assert size(chart.png) == (1000, 450)
    assert set(texts(chart.png)) == {"hypercare:series"}
    with Image.open(io.BytesIO(chart.png)) as image:
        assert isinstance(image, PngImageFile) and image.size == (1000, 450)
        assert json.loads(image.text["hypercare:series"])["series"] == chart.series


def test_feedback_flow_embeds_the_input_in_severity_order() -> None:
    """Opened then resolved, each in the program's severity order; absent severities omitted."""
    chart = feedback_flow_chart(flow())
    payload = embedded(chart)
    assert list(payload["series"]) == [
        "opened:sev1",
        "opened:sev2",
        "opened:sev3",
        "resolved:sev1",
        "resolved:sev2",
    ]
    assert payload["series"]["opened:sev3"] == [5, 6, 3, 4, 2, 1, 0]
    assert payload["series"]["resolved:sev2"] == [1, 2, 3, 2, 1, 1, 0]
    assert payload["categories"] == ISO_WEEK == chart.categories
    assert payload["title"] == chart.title == "Feedback opened and resolved per day"
    assert payload["no_data"] is False and chart.no_data is False
    assert chart.filename == "feedback-flow-2025-06-16.png"
    assert payload["texts"] == chart.texts
    for text in ("Mon 16", "Sun 22", "Sev 1 – Critical", "Feedback items", "Day"):
        assert text in chart.texts


def test_backlog_gap_day_stays_none() -> None:
    """A day without a number is null in the PNG, not zero, and the chart is still drawn."""
    backlog = DailySeries(WEEK, {"sev1": (1, 0, None, 0, 0, 0, 0), "sev3": (9,) * 7})
    chart = backlog_chart(Backlog(SEVERITIES, backlog))
    series = embedded(chart)["series"]
    assert series == {"sev1": [1, 0, None, 0, 0, 0, 0], "sev3": [9] * 7}
    assert series["sev1"][2] is None
    assert chart.series["sev1"][2] is None
    assert chart.no_data is False
    # The gap is drawn as a gap: the picture differs from one where that day is a real zero.
    zeroed = DailySeries(WEEK, {"sev1": (1, 0, 0, 0, 0, 0, 0), "sev3": (9,) * 7})
    assert pixels(backlog_chart(Backlog(SEVERITIES, zeroed)).png) != pixels(chart.png)


def test_gateway_health_keeps_gaps_in_both_metrics() -> None:
    """Error rate and latency are both embedded per source, with the missing day as null."""
    chart = gateway_health_chart(health())
    series = embedded(chart)["series"]
    assert series["error_rate_pct:eu"] == [0.4, 0.6, None, 2.5, 0.8, 0.3, 0.2]
    assert series["p95_latency_ms:eu"][2] is None
    assert series["p95_latency_ms:us"] == [180] * 7
    assert chart.categories == ISO_WEEK
    assert {"Error rate (%)", "p95 latency (ms)", "eu", "us"} <= set(chart.texts)


def test_response_times_show_missing_means_as_none() -> None:
    """A severity without a mean is null; it is drawn differently from a real zero."""
    chart = response_times_chart(times())
    payload = embedded(chart)
    assert payload["categories"] == ["sev1", "sev2", "sev3"]
    assert payload["series"] == {"mtta_hours": [0.25, 1.5, 6.0], "mttr_hours": [3.5, 20.0, None]}
    assert chart.filename == "response-times.png"
    assert {"no data", "15 min", "20.0 h", "Hours"} <= set(chart.texts)
    assert "no data" not in response_times_chart(times(sev3_mttr=0.0)).texts
    # "no data" and a "0.0 h" label are different pictures.
    assert pixels(response_times_chart(times(sev3_mttr=0.0)).png) != pixels(chart.png)


def test_same_input_gives_the_same_bytes_and_different_input_does_not() -> None:
    """Rendering is deterministic, and the comparison is not trivially true."""
    renders: tuple[Callable[[], Chart], ...] = (
        lambda: feedback_flow_chart(flow()),
        lambda: gateway_health_chart(health()),
        lambda: response_times_chart(times()),
    )
    for render in renders:
        assert render().png == render().png
    changed = feedback_flow_chart(flow(sev1=(0,) * 7)).png
    assert pixels(feedback_flow_chart(flow()).png) != pixels(changed)


def test_bytes_are_identical_in_another_process() -> None:
    """No hash seed, timestamp or version leaks into the file: a fresh interpreter agrees."""
    code = (
        "import sys, tests.reports.test_charts as t;"
        "sys.stdout.buffer.write(t.feedback_flow_chart(t.flow()).png)"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        check=True,
        cwd=ROOT,
        env=os.environ | {"PYTHONHASHSEED": "12345"},
        timeout=120,
    ).stdout
    assert other == feedback_flow_chart(flow()).png


def test_input_cannot_change_after_construction() -> None:
    """DailySeries keeps its own copy, so a chart always shows what was validated."""
    values: dict[str, tuple[float | None, ...]] = {"sev1": (1.0,)}
    daily = DailySeries((WEEK[0],), values)
    values["sev1"] = (2.0, 3.0)
    assert daily.values["sev1"] == (1.0,)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: DailySeries(WEEK, {"sev1": (1, 2)}), "'sev1' has 2 values but there are 7 days"),
        (lambda: DailySeries(WEEK[::-1], {}), "increasing order"),
        (lambda: DailySeries(WEEK[:1], {"eu": (float("nan"),)}), "NaN or infinite"),
        (
            lambda: FeedbackFlow(SEVERITIES, DailySeries(WEEK, {}), DailySeries(WEEK[:6], {})),
            "same days",
        ),
        (
            lambda: Backlog(SEVERITIES, DailySeries(WEEK, {"sev9": (0,) * 7})),
            "unknown severities ['sev9']",
        ),
        (
            lambda: GatewayHealth(DailySeries(WEEK, {}), DailySeries(WEEK[1:], {})),
            "same days",
        ),
        (lambda: ResponseTimes(SEVERITIES, {"sev1": -1.0}, {}), "cannot be negative"),
    ],
)
def test_inconsistent_input_is_refused(build: Callable[[], object], message: str) -> None:
    """Mismatched lengths, days or keys fail loudly instead of drawing a wrong chart."""
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build()


def test_empty_inputs_render_the_no_data_placeholder() -> None:
    """No days, nothing opened or resolved, or no numbers at all: a placeholder, not an error."""
    nothing = DailySeries((), {})
    all_none = DailySeries(WEEK, {"eu": (None,) * 7})
    charts = [
        feedback_flow_chart(FeedbackFlow(SEVERITIES, nothing, nothing)),
        feedback_flow_chart(_zero_flow()),
        backlog_chart(Backlog(SEVERITIES, nothing)),
        gateway_health_chart(GatewayHealth(all_none, all_none)),
        response_times_chart(ResponseTimes(SEVERITIES, {}, {"sev2": None})),
    ]
    for chart in charts:
        assert chart.no_data is True, chart.title
        assert embedded(chart)["no_data"] is True
        assert embedded(chart)["texts"] == [chart.title, "No data this week"]
        assert size(chart.png) == (1000, 450)
    assert charts[0].filename == "feedback-flow.png"
    assert embedded(charts[3])["series"]["error_rate_pct:eu"] == [None] * 7


def _zero_flow() -> FeedbackFlow:
    """A week in which nothing was opened or resolved."""
    zeros = DailySeries(WEEK, {"sev1": (0,) * 7, "sev2": (None,) * 7})
    return FeedbackFlow(SEVERITIES, zeros, zeros)


def test_a_zero_backlog_is_drawn_not_hidden() -> None:
    """An empty backlog is good news with numbers behind it, so it is a real chart."""
    chart = backlog_chart(Backlog(SEVERITIES, DailySeries(WEEK, {"sev1": (0,) * 7})))
    assert chart.no_data is False
    assert pixels(chart.png) != pixels(backlog_chart(Backlog(SEVERITIES, DailySeries((), {}))).png)


def test_long_ranges_thin_the_day_labels() -> None:
    """Four weeks keep at most 14 day labels so they never overlap."""
    days = tuple(WEEK[0] + dt.timedelta(days=d) for d in range(28))
    chart = backlog_chart(Backlog(SEVERITIES, DailySeries(days, {"sev2": (3,) * 28})))
    labels = [t for t in chart.texts if t[:3] in {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}]
    assert labels[:2] == ["Mon 16", "Wed 18"]
    assert len(labels) == 14
    assert len(embedded(chart)["categories"]) == 28


def test_day_labels_are_short_english_and_unpadded() -> None:
    """'Mon 16', whatever the process locale, and 'Tue 3' rather than 'Tue 03'."""
    assert day_label(dt.date(2025, 6, 16)) == "Mon 16"
    assert day_label(dt.date(2025, 6, 3)) == "Tue 3"
