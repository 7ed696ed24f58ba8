"""Block Kit for exit readiness (`/hypercare status`, the weekly review) and the Home tab."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.config import Program
from bot.domain import Feedback, ItemLine, Readiness, Trend, Verdict
from bot.reports.status import Overview
from bot.slack.blocks.digest import line_text
from bot.slack.blocks.oncall import person
from bot.slack.blocks.tickets import when
from bot.slack.text import escape, shorten

_MARK = {True: ":white_check_mark:", False: ":x:", None: ":grey_question:"}
_TREND = {
    Trend.IMPROVING: " · improving",
    Trend.WORSE: " · getting worse",
    Trend.STEADY: " · steady",
    Trend.UNKNOWN: "",
}
_VERDICT = {
    Verdict.READY: ":tada: *Ready to exit hypercare*: every exit criterion is met.",
    Verdict.NOT_READY: ":construction: *Not ready to exit hypercare yet.*",
    Verdict.NO_CRITERIA: (
        ":grey_question: *No exit criteria set*: add `reports.exit_criteria` to the program file."
    ),
}


def window_text(readiness: Readiness) -> str:
    """Where today is in the planned hypercare window."""
    if readiness.days_left is None or readiness.day_number is None:
        return "No planned end: set `planned_end` in the program file to count the days left."
    if readiness.days_left < 0:
        return f"Day {readiness.day_number}: {-readiness.days_left} day(s) past the planned end."
    return f"Day {readiness.day_number} of hypercare · {readiness.days_left} day(s) left."


def readiness_blocks(readiness: Readiness) -> list[Block]:
    """The verdict, the window, then each criterion with its figure and trend."""
    lines = [
        f"{_MARK[result.met]} *{escape(result.label)}* — {escape(result.value)}"
        f"{_TREND[result.trend]}"
        for result in readiness.criteria
    ]
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=_VERDICT[readiness.verdict])),
        ContextBlock(elements=[MarkdownTextObject(text=window_text(readiness))]),
    ]
    if lines:
        text = shorten("\n".join(lines), 3000)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=text)))
    return blocks


def status_message(program: Program, readiness: Readiness) -> tuple[str, list[Block]]:
    """`/hypercare status`: exit readiness, privately."""
    header = HeaderBlock(text=PlainTextObject(text=shorten(f"{program.name}: exit readiness", 150)))
    verdict = {
        Verdict.READY: "ready",
        Verdict.NOT_READY: "not ready",
        Verdict.NO_CRITERIA: "no criteria",
    }
    return f"Exit readiness: {verdict[readiness.verdict]}", [header, *readiness_blocks(readiness)]


def _counts(program: Program, counts: dict[str, int]) -> str:
    parts = [
        f"{severity.emoji} {escape(severity.label)}: *{counts.get(severity.id, 0)}*".strip()
        for severity in program.severities
    ]
    return "   ".join(parts)


def owned_text(program: Program, owned: Sequence[Feedback], shown: int) -> str:
    """The Home tab's "My open items": what the viewer owns, oldest first."""
    if not owned:
        return "*My open items*\n_You own no open items: *Take it* on a receipt to own one._"
    lines = [
        "• "
        + line_text(
            program,
            ItemLine(
                ref=item.short_id,
                summary=item.summary,
                severity=item.severity,
                link=item.receipt_permalink,
                ticket_key=item.ticket_key,
                ticket_url=item.ticket_url,
                detail=f"open since {when(item.created_at)}",
            ),
        )
        for item in owned[:shown]
    ]
    more = "\n_…and more: the oldest are shown first_" if len(owned) > shown else ""
    return "*My open items*\n" + "\n".join(lines) + more


def ownership_blocks(
    program: Program, open_total: int, unowned: int, owned: Sequence[Feedback], shown: int
) -> list[Block]:
    """`/hypercare status`'s owners: how many open items nobody owns, and the asker's own."""
    if not open_total:
        summary = "*Owners* — no open items."
    elif not unowned:
        summary = f"*Owners* — every one of the {open_total} open item(s) has an owner."
    else:
        summary = (
            f"*Owners* — :warning: {unowned} of {open_total} open item(s) without an owner "
            "(*Take it* on a receipt, or a lead's `/hypercare assign`)."
        )
    return [
        DividerBlock(),
        SectionBlock(text=MarkdownTextObject(text=summary)),
        SectionBlock(text=MarkdownTextObject(text=owned_text(program, owned, shown))),
    ]


def home_view(
    program: Program, overview: Overview, owned: Sequence[Feedback] = (), shown: int = 10
) -> View:
    """The Home tab: the program at a glance, the viewer's open items, then their reports."""
    readiness = overview.readiness
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=shorten(program.name, 150))),
        ContextBlock(elements=[MarkdownTextObject(text=window_text(readiness))]),
        SectionBlock(
            text=MarkdownTextObject(text=f"*Open items*\n{_counts(program, overview.open_counts)}")
        ),
    ]
    if overview.on_call is not None:
        on_call = f"*On call now*\nPrimary: {person(overview.on_call.primary)}"
        if program.oncall is not None and program.oncall.secondary:
            on_call += f" · Secondary: {person(overview.on_call.secondary)}"
        blocks.append(SectionBlock(text=MarkdownTextObject(text=on_call)))
    blocks += [DividerBlock(), *readiness_blocks(readiness), DividerBlock()]
    blocks.append(SectionBlock(text=MarkdownTextObject(text=owned_text(program, owned, shown))))
    mine = overview.mine
    title = f"*{escape(mine.title)}*" + (f" ({mine.total})" if mine.total else "")
    body = (
        "\n".join(f"• {line_text(program, line)}" for line in mine.lines)
        or f"_{escape(mine.empty)}_"
    )
    if mine.more:
        body += f"\n_…and {mine.more} more_"
    blocks.append(SectionBlock(text=MarkdownTextObject(text=shorten(f"{title}\n{body}", 3000))))
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="File feedback with `/hypercare`; `/hypercare status` shows readiness."
                )
            ]
        )
    )
    return View(type="home", blocks=blocks)
