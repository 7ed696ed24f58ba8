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
from bot.domain import LinkedItem, RootCauseTheme, WeeklyReview
from bot.slack.blocks.digest import SECTION_TEXT_MAX, section_text
from bot.slack.blocks.lessons import by_kind, grouped_text
from bot.slack.blocks.pulse import weekly_plain
from bot.slack.blocks.pulse import weekly_text as pulse_text
from bot.slack.blocks.status import readiness_blocks, window_text
from bot.slack.blocks.tickets import when
from bot.slack.text import escape, safe, shorten

WORKAROUND_SHOWN = 200  # characters of a known issue's workaround under its category


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
    blocks += [SectionBlock(text=MarkdownTextObject(text=t)) for t in lessons_texts(review)]
    blocks.append(SectionBlock(text=MarkdownTextObject(text=root_causes_text(program, review))))
    if review.satisfaction is not None:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=pulse_text(review.satisfaction))))
    blocks += [DividerBlock(), *readiness_blocks(review.readiness)]
    return review.title, blocks


def lessons_texts(review: WeeklyReview) -> list[str]:
    """ "Lessons this week" by kind, as section texts (each within Slack's limit)."""
    head = f"*Lessons this week* ({review.lessons_total})"
    if not review.lessons:
        return [f"{head}\n_No lessons recorded this week: `/hypercare lesson` adds one._"]
    texts = grouped_text(review.lessons)
    more = review.lessons_total - len(review.lessons)
    tail = f"\n_…and {more} more in `/hypercare lessons`_" if more > 0 else ""
    if len(head) + 1 + len(texts[0]) <= SECTION_TEXT_MAX:
        texts[0] = f"{head}\n{texts[0]}"
    else:
        texts.insert(0, head)
    if len(texts[-1]) + len(tail) <= SECTION_TEXT_MAX:
        texts[-1] += tail
    elif tail:
        texts.append(tail.strip())
    return texts


def _item(item: LinkedItem) -> str:
    return f"<{item.link}|{escape(item.short_id)}>" if item.link else escape(item.short_id)


def _theme_text(program: Program, theme: RootCauseTheme) -> str:
    label = escape(program.rca.category_label(theme.category))
    latest = ", ".join(_item(i) for i in theme.recent)
    line = f"• *{label}* — {theme.count} item(s); latest {latest}"
    for item in theme.recent:
        if item.workaround:
            workaround = safe(" ".join(item.workaround.split()), WORKAROUND_SHOWN)
            line += f"\n      ↳ workaround ({_item(item)}): {workaround}"
    return line


def root_causes_text(program: Program, review: WeeklyReview) -> str:
    """ "Most frequent root causes": the knowledge base's categories over the hypercare window."""
    since = f" since {review.root_causes_since:%d %b}" if review.root_causes_since else ""
    head = f"*Most frequent root causes* — resolved items{since} with a root cause"
    if not review.root_causes:
        return f"*Most frequent root causes*\n_No resolved item has a root cause yet{since}._"
    lines = [head]
    for theme in review.root_causes:
        line = _theme_text(program, theme)
        if sum(len(x) + 1 for x in lines) + len(line) > SECTION_TEXT_MAX - 40:
            break
        lines.append(line)
    return "\n".join(lines)


def weekly_text(program: Program, review: WeeklyReview) -> str:
    """The review as plain text, for `hypercare-bot digest weekly --dry-run`."""
    local = review.since.astimezone(program.zone)
    lines = [review.title, f"Since {local:%a %d %b %H:%M} ({program.timezone})", ""]
    lines += ["The week in numbers", *(f"• {line}" for line in review.numbers)]
    for section in review.sections:
        lines += ["", section_text(program, section)]
    lines += ["", f"Lessons this week ({review.lessons_total})"]
    for kind, group in by_kind(review.lessons):
        lines += [f"{kind.label}:", *(f"• {x.short_id} {x.text} — {x.author_id}" for x in group)]
    lines += ["", "Most frequent root causes"]
    for theme in review.root_causes:
        label = program.rca.category_label(theme.category)
        latest = ", ".join(i.short_id for i in theme.recent)
        lines.append(f"• {label}: {theme.count} item(s); latest {latest}")
        lines += [
            f"  workaround ({i.short_id}): {i.workaround}" for i in theme.recent if i.workaround
        ]
    if review.satisfaction is not None:
        lines += ["", *weekly_plain(review.satisfaction)]
    lines += ["", "Exit readiness", window_text(review.readiness)]
    for result in review.readiness.criteria:
        mark = {True: "met", False: "NOT met", None: "no data"}[result.met]
        trend = f" ({result.trend.value})" if result.trend.value else ""
        lines.append(f"• {result.label}: {mark} — {result.value}{trend}")
    lines += ["", "Charts:", *(f"• {chart.filename}: {chart.title}" for chart in review.charts)]
    return "\n".join(lines)
