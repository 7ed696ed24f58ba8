"""End to end: the weekly review with its charts, uploaded as PNG files in its thread."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import update

from bot.app.build import Runtime
from sandbox.slack import SlackEmulator
from storage import db
from storage.models import FeedbackRow, MetricHourRow
from tests.e2e.test_alert_flow import Clock
from tests.e2e.test_digest import DIGEST, digest_program, draft, start
from tests.support import wait_until

MONDAY = dt.datetime(2026, 11, 16, 9, 30, tzinfo=dt.UTC)  # 10:30 Berlin
FRIDAY_1559 = dt.datetime(2026, 11, 20, 14, 59, tzinfo=dt.UTC)


def gateway_hour(hour: dt.datetime) -> list[MetricHourRow]:
    """One hour of gateway figures as alerting stores them (per hour, the sum and count of
    each poll's worst scope): an error rate of 1 % and a p95 of 300 ms."""
    return [
        MetricHourRow(
            rule_id="gw-5xx",
            source_id="gw",
            unit="ratio",
            hour=hour,
            samples=2,
            total=0.02,
            worst=0.015,
        ),
        MetricHourRow(
            rule_id="gw-p95",
            source_id="gw",
            unit="ms",
            hour=hour,
            samples=4,
            total=1200.0,
            worst=450.0,
        ),
    ]


@pytest.fixture
def clock() -> Clock:
    """Monday 16 Nov, 10:30 Berlin."""
    moving = Clock()
    moving.now = MONDAY
    return moving


@pytest.fixture
def bot(slack: SlackEmulator, database_url: str, clock: Clock) -> Iterator[Runtime]:
    """The bot with the daily digest and the weekly review in C0DIGEST."""
    slack.add_channel(DIGEST, "hypercare-digest")
    runtime = start(slack, database_url, clock, digest_program())
    yield runtime
    runtime.stop()


def reviews(slack: SlackEmulator) -> list[Any]:
    """Weekly review messages."""
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("channel") == DIGEST and "Weekly review" in str(c.args.get("text"))
    ]


def series(png: bytes) -> dict[str, Any]:
    """The series a chart says it plots (its embedded tEXt chunk)."""
    return dict(json.loads(Image.open(io.BytesIO(png)).text["hypercare:series"]))


def test_friday_s_review_posts_numbers_themes_readiness_and_four_charts(
    bot: Runtime, slack: SlackEmulator, clock: Clock
) -> None:
    """Three reports Monday, two Wednesday (one resolved Thursday): at 16:00 Friday one review
    lands, and its four PNG charts are uploaded in its thread with the week's real series."""
    for index in (1, 2, 3):
        bot.services.feedback.submit(draft(index))
    clock.now = MONDAY + dt.timedelta(days=2)
    for index in (4, 5):
        bot.services.feedback.submit(draft(index))
    clock.now = MONDAY + dt.timedelta(days=3)
    with db.make_sessions(bot.engine).begin() as session:
        session.execute(
            update(FeedbackRow)
            .where(FeedbackRow.id == 4)
            .values(state="resolved", resolved_at=clock.now)
        )
        wednesday = (MONDAY + dt.timedelta(days=2)).replace(minute=0)
        session.add_all(gateway_hour(wednesday))
    clock.now = FRIDAY_1559
    assert bot.services.weekly is not None and not bot.services.weekly.post_due()
    clock.tick(60)
    [review] = wait_until(lambda: reviews(slack))
    text = json.dumps(review.args["blocks"], ensure_ascii=False)
    assert "5 opened · 4 open now · 0 critical (feedback or firing alerts) · 0 SLA" in text
    assert "*Recurring themes*" in text and "Payments API" in text and "5 report(s)" in text
    assert "No SLA breaches this week." in text
    assert "No exit criteria set" in text and "Day 5 of hypercare · 28 day(s) left." in text
    files = wait_until(lambda: len(slack.files(DIGEST)) == 4 and slack.files(DIGEST))
    assert {f["thread_ts"] for f in files} == {review.response["ts"]}
    flow = next(f for f in files if f["filename"].startswith("feedback-flow"))
    assert flow["content"][:8] == b"\x89PNG\r\n\x1a\n"
    plotted = series(flow["content"])
    assert plotted["categories"][:5] == [
        "2026-11-13",
        "2026-11-14",
        "2026-11-15",
        "2026-11-16",
        "2026-11-17",
    ]
    assert plotted["series"]["opened:sev3"][3] == 3  # Monday
    assert plotted["series"]["opened:sev3"][5] == 2  # Wednesday
    assert plotted["series"]["resolved:sev3"][6] == 1  # Thursday
    assert "Gateway gw: error rate 1.00 % a day on average" in text and "latency 300 ms" in text
    health = series(next(f for f in files if f["filename"].startswith("gateway"))["content"])
    assert health["series"]["error_rate_pct:gw"][5] == pytest.approx(1.0)
    assert health["series"]["p95_latency_ms:gw"][5] == pytest.approx(300.0)
    assert health["series"]["error_rate_pct:gw"][4] is None  # no samples: a gap, not a zero
    backlog = series(next(f for f in files if f["filename"].startswith("backlog"))["content"])
    assert backlog["series"]["sev3"][-1] == 4
    clock.tick(3600)
    assert not bot.services.weekly.post_due()
    assert len(reviews(slack)) == 1
