"""Block Kit for the weekly review, and the same review as plain text for `--dry-run`."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.config import Program
from bot.domain import WeeklyReview
from bot.slack.blocks.digest import section_text
from bot.slack.blocks.status import readiness_blocks, window_text
from bot.slack.blocks.tickets import when
from bot.slack.text import escape, shorten


def weekly_message(program: Program, review: WeeklyReview) -> tuple[str, list[Block]]:
    """The review: the week in numbers, themes, breaches, then exit readiness; charts follow."""
    context = f"Since {when(review.since)} · the charts follow in the thread"
    if review.late:
        context += " · posted late: the bot was away at the scheduled time"
    numbers = "\n".join(f"• {escape(line)}" for line in review.numbers)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=shorten(review.title, 150), emoji=True)),
        ContextBlock(elements=[MarkdownTextObject(text=context)]),
        SectionBlock(text=MarkdownTextObject(text=f"*The week in numbers*\n{numbers}")),
    ]
    for section in review.sections:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=section_text(program, section))))
    blocks += [DividerBlock(), *readiness_blocks(review.readiness)]
    return review.title, blocks


def weekly_text(program: Program, review: WeeklyReview) -> str:
    """The review as plain text, for `hypercare-bot digest weekly --dry-run`."""
    local = review.since.astimezone(program.zone)
    lines = [review.title, f"Since {local:%a %d %b %H:%M} ({program.timezone})", ""]
    lines += ["The week in numbers", *(f"• {line}" for line in review.numbers)]
    for section in review.sections:
        lines += ["", section_text(program, section)]
    lines += ["", "Exit readiness", window_text(review.readiness)]
    for result in review.readiness.criteria:
        mark = {True: "met", False: "NOT met", None: "no data"}[result.met]
        trend = f" ({result.trend.value})" if result.trend.value else ""
        lines.append(f"• {result.label}: {mark} — {result.value}{trend}")
    lines += ["", "Charts:", *(f"• {chart.filename}: {chart.title}" for chart in review.charts)]
    return "\n".join(lines)
