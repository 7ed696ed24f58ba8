"""The closing report's Markdown from a hand-built report: what it says, in what order, and
that no text a person typed can change the document's structure."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from bot.config import Program, load_program
from bot.domain import (
    Chart,
    CriterionResult,
    Feedback,
    FeedbackState,
    KnownIssue,
    Lesson,
    LessonKind,
    LinkedItem,
    MeanTimes,
    Readiness,
    RootCauseTheme,
    Trend,
    Verdict,
)
from bot.reports.charts import SeverityLabel
from bot.reports.exit import (
    ExitReport,
    HandoverItem,
    SatisfactionWeek,
    WeekFigures,
    hypercare_weeks,
)
from bot.reports.exit_markdown import render
from storage.kpis import AlertStats

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
SINCE = dt.datetime(2026, 11, 15, 23, 0, tzinfo=dt.UTC)  # 16 Nov, local midnight in Berlin
# Everything a person may type to break out: a heading, a table cell, a link, an image, HTML,
# code, emphasis, a list, and a line break that would start any of them on a line of its own.
HOSTILE = (
    "Refund | broken *now* <script>alert(1)</script> `code` [click](http://evil.example) "
    "![pixel](http://evil.example/p.png)\n# Heading\n| x | y |\n- item\n> quote"
)
HEADINGS = {
    "# Hypercare closing report: Payments platform go\\-live",
    "## Summary",
    "## KPIs over the window",
    "## Weekly trends",
    "### MTTA / MTTR by severity, per week",
    "### User satisfaction",
    "## Exit criteria",
    "## Open items handed over (2)",
    "## Known issues and workarounds (1)",
    "## Root-cause categories",
    "## Lessons learned (1)",
    "### To improve",
    "## Charts",
}


@pytest.fixture
def program() -> Program:
    """The example program (Europe/Berlin, sev1–sev4, a planned window)."""
    return load_program(ROOT / "hypercare.example.yaml")


def item(number: int, **changes: Any) -> Feedback:
    """An open item of the example program."""
    feedback = Feedback(
        id=number,
        short_id=f"HC-{number}",
        summary=f"Item {number}",
        category="bug",
        severity="sev2",
        component="payments-api",
        environment="production",
        trying="",
        expected="",
        actual="",
        api_endpoint=None,
        correlation_id=None,
        users_affected=None,
        channel_id="C0FEEDBACK",
        reporter_id="U0ALICE",
        state=FeedbackState.NEW,
        created_at=SINCE + dt.timedelta(days=number),
        source=None,
        receipt_ts="1.2",
        receipt_permalink=f"https://example.slack.com/archives/C0FEEDBACK/p{number}",
    )
    return dataclasses.replace(feedback, **changes)


def chart(stem: str, no_data: bool = False) -> Chart:
    """A chart as the report keeps it (the bytes do not matter here)."""
    return Chart(b"\x89PNG", f"Chart {stem}", f"{stem}.png", [], {}, no_data, [])


def report(**changes: Any) -> ExitReport:
    """A report of two weeks with one of everything, hostile text wherever a person types."""
    week = WeekFigures(
        number=1,
        start=dt.date(2026, 11, 16),
        complete=True,
        opened={"sev3": 1, "sev1": 2},
        resolved={"sev1": 1},
        open_at_end={"sev1": 1, "sev3": 1},
        breaches={"sev1": 1},
        mean_times={"sev1": MeanTimes(600.0, 7200.0, 1, 1)},
        error_rate={"gw": 0.0125},
        p95_ms={"gw": 420.4},
    )
    second = dataclasses.replace(
        week,
        number=2,
        start=dt.date(2026, 11, 23),
        complete=False,
        opened={},
        resolved={},
        breaches={},
        mean_times={},
        error_rate={"gw": None},
        p95_ms={"gw": None},
    )
    hostile = item(
        2,
        summary=HOSTILE,
        ticket_key="HYP-2",
        ticket_url="https://jira.example/browse/HYP-2",
        ticket_status="In | Progress",
        owner_name="<Vendor> | Co",
    )
    lesson = Lesson(
        1,
        LessonKind.TO_IMPROVE,
        HOSTILE,
        "U0LEAD1",
        SINCE + dt.timedelta(days=3),
        (LinkedItem(2, "HC-2", hostile.receipt_permalink),),
    )
    base = ExitReport(
        as_of=AS_OF,
        since=SINCE,
        go_live=dt.date(2026, 11, 16),
        planned=None,
        severities=(
            SeverityLabel("sev1", "Critical"),
            SeverityLabel("sev2", "High"),
            SeverityLabel("sev3", "Medium"),
            SeverityLabel("sev4", "Low"),
        ),
        opened={"sev9": 1, "sev3": 1, "sev1": 2},  # an order no reader wants, and a stray
        resolved={"sev1": 1},
        open_now={"sev3": 1, "sev1": 1},
        breaches={"sev1": 1},
        mean_times={"sev1": MeanTimes(600.0, 7200.0, 1, 1)},
        alerts=AlertStats(2, 1, 1, 1800.0, ()),
        gateway=("Gateway gw: error rate 1.25 % a day on average",),
        sources=("gw",),
        weeks=(week, second),
        satisfaction=(),
        readiness=Readiness(
            criteria=(
                CriterionResult("No open sev1 for 7 days", False, "sev1 open now", Trend.WORSE),
                CriterionResult("Every open item has an owner", True, "every one", Trend.UNKNOWN),
            ),
            verdict=Verdict.NOT_READY,
            days_left=11,
            day_number=22,
        ),
        open_items=(
            HandoverItem(item(1, severity="sev1", owner_id="U0BOB"), 9.5, dt.timedelta(days=3)),
            HandoverItem(hostile, 4.25, dt.timedelta(hours=5, minutes=7)),
        ),
        open_total=2,
        unowned=1,
        known=(KnownIssue(dataclasses.replace(hostile, known_workaround=HOSTILE)),),
        known_more=False,
        root_causes=(RootCauseTheme("third_party", 3, (LinkedItem(1, "HC-1", None),)),),
        lessons=(lesson,),
        lessons_total=1,
        charts=(chart("feedback-flow"), chart("gateway-health", no_data=True)),
    )
    return dataclasses.replace(base, **changes)


def cells(line: str) -> int:
    """How many cells a table row has (an escaped `\\|` is text, not a border)."""
    return len(re.findall(r"(?<!\\)\|", line)) - 1


def test_user_text_cannot_add_headings_cells_links_images_or_html(program: Program) -> None:
    """Summaries, workarounds, lessons and Jira's names stay text: every heading is the
    report's own, every table row has its header's cells, no link or tag is live."""
    markdown = render(report(), program)
    headings = {line for line in markdown.splitlines() if line.startswith("#")}
    assert headings == HEADINGS
    width = 0
    for line in markdown.splitlines():
        if not line.startswith("|"):
            width = 0
        elif not width:
            width = cells(line)
        else:
            assert cells(line) == width, line
    assert "<script>" not in markdown and "<Vendor>" not in markdown
    assert "](http://evil" not in markdown and "![pixel]" not in markdown
    assert not re.search(r"(?<!\\)`code", markdown)
    escaped = r"Refund \| broken \*now\* &lt;script&gt;alert\(1\)&lt;/script&gt; \`code\`"
    assert escaped in markdown
    assert r"\[click\]\(http://evil\.example\) \!\[pixel\]" in markdown
    assert r"\# Heading \| x \| y \| \- item &gt; quote" in markdown  # one line, inert
    assert r"&lt;Vendor&gt; \| Co (Jira)" in markdown
    assert r"[HYP\-2](<https://jira.example/browse/HYP-2>) (In \| Progress)" in markdown
    assert r"  - Workaround: Refund \| broken" in markdown
    assert r"- Refund \| broken" in markdown and "(L-1, @U0LEAD1, 2026-11-19; [HC-2](" in markdown


def test_links_take_web_addresses_only_and_cannot_end_early(program: Program) -> None:
    """A link that is no web address shows its label alone; one with a space, `>` or `|` is
    percent-encoded so the link and the table cell end where they should."""
    odd = item(1, receipt_permalink="javascript:alert(1)")
    spaced = item(3, receipt_permalink="https://example.slack.com/a b>c|d")
    items = (HandoverItem(odd, 1.0, dt.timedelta()), HandoverItem(spaced, 1.0, dt.timedelta()))
    markdown = render(report(open_items=items), program)
    assert "| HC-1 | High |" in markdown and "javascript" not in markdown
    assert "[HC-3](<https://example.slack.com/a%20b%3Ec%7Cd>)" in markdown


def test_figures_follow_the_programs_severity_order_and_render_the_same_twice(
    program: Program,
) -> None:
    """Severity rows in the program's order, a severity it does not know last, the total
    after; weeks with their gateway figures; byte-identical output for the same report."""
    markdown = render(report(), program)
    assert markdown == render(report(), program)
    rows = [line.split(" | ")[0] for line in markdown.splitlines() if line.startswith("| ")]
    assert rows[:7] == [
        "| Severity",
        "| Critical",
        "| High",
        "| Medium",
        "| Low",
        "| sev9",
        "| **All**",
    ]
    assert "| Critical | 2 | 1 | 1 | 1 | 10 min | 2.0 h |" in markdown
    summary = "- **Handed over:** 2 open items, 1 without an owner; 1 known issue; 1 lesson"
    assert summary in markdown and "- **Verdict:** **Not ready" in markdown
    assert "1 of 2 criteria met." in markdown and "(day 22" not in markdown  # no planned end
    assert "| **All** | **4** | **1** | **2** | **1** |" in markdown
    assert "| 1 | 2026-11-16 | 3 | 1 | 2 | 1 | 1.25 % | 420 ms |" in markdown
    assert "| 2 (so far) | 2026-11-23 | 0 | 0 | 2 | 0 | — | — |" in markdown
    assert "| 1 | 10 min / 2.0 h | — | — | — |" in markdown
    assert "| [HC-1](<https://example.slack.com/archives/C0FEEDBACK/p1>) | Critical |" in markdown
    assert "| @U0BOB | — | 3 d 0 h | 9.5 |" in markdown and "| 5 h 7 min | 4.2 |" in markdown
    assert "- **Gateway alerts:** 2 fired, 1 resolved, 1 still firing; mean duration 30 min" in (
        markdown
    )
    assert "| No open sev1 for 7 days | **not met** | sev1 open now | worse |" in markdown
    assert "![Chart feedback-flow](feedback-flow.png)" in markdown
    assert "- Chart gateway-health: no data in the window." in markdown
    assert "gateway-health.png" not in markdown
    assert markdown.endswith("\n") and not markdown.endswith("\n\n")


def test_empty_sections_say_so_and_the_pulse_shows_when_there_is_one(program: Program) -> None:
    """No open items, known issues, root causes, lessons, criteria or pulse answers: each
    section says so in words; pulse answers make a table of their own."""
    empty = report(
        open_items=(),
        open_total=0,
        unowned=0,
        known=(),
        root_causes=(),
        lessons=(),
        lessons_total=0,
        readiness=Readiness((), Verdict.NO_CRITERIA, None, None),
        sources=(),
        gateway=(),
    )
    markdown = render(empty, program)
    for said in (
        "_No open items: nothing is handed over._",
        "_No known issues were recorded._",
        "_No item resolved in the window has a root cause recorded._",
        "_No lessons recorded in the window: `/hypercare lesson` adds one._",
        "**No exit criteria set** (`reports.exit_criteria` in the program file).",
        "_No user pulse answers in the window._",
        "- No gateway figures in the window.",
        "- **Planned window:** no planned end",
    ):
        assert said in markdown
    pulse = (SatisfactionWeek(dt.date(2026, 11, 16), 12, 83.333, 4.25),)
    assert "| 2026-11-16 | 12 | 83 % | 4.25 |" in render(report(satisfaction=pulse), program)


def test_hypercare_weeks_start_at_local_midnight_across_a_clock_change(program: Program) -> None:
    """Week 1 starts at the window's first local midnight; a week spanning the end of summer
    time starts the next one at its own local midnight; the last week is cut at `until`."""
    shifted = program.model_copy(update={"go_live": dt.date(2026, 10, 20)})  # to planned_end
    until = dt.datetime(2026, 11, 4, 12, 0, tzinfo=dt.UTC)
    weeks = hypercare_weeks(shifted, until)
    assert weeks.days == (dt.date(2026, 10, 20), dt.date(2026, 10, 27), dt.date(2026, 11, 3))
    assert weeks.since == dt.datetime(2026, 10, 19, 22, 0, tzinfo=dt.UTC)  # CEST
    assert weeks.starts == (
        dt.datetime(2026, 10, 26, 23, 0, tzinfo=dt.UTC),  # CET from 25 Oct
        dt.datetime(2026, 11, 2, 23, 0, tzinfo=dt.UTC),
    )
    assert weeks.until == until
