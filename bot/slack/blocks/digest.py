"""Block Kit for the stand-up digest, and the same digest as plain text for `--dry-run`."""

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
from bot.domain import Digest, ItemLine, Section
from bot.slack.blocks.tickets import when
from bot.slack.text import escape, safe, shorten

SECTION_TEXT_MAX = 3000  # Slack's limit for a section's text
THREAD_TEXT_MAX = 3900  # a message's text stays well under Slack's 40,000 and readable


def _emoji(program: Program, severity: str) -> str:
    known = {s.id: s.emoji for s in program.severities}
    return known.get(severity, "")


def line_text(program: Program, line: ItemLine) -> str:
    """One item: its linked id, severity, summary, ticket and what to know about it."""
    ref = f"<{line.link}|{escape(line.ref)}>" if line.link else f"*{escape(line.ref)}*"
    parts = [f"{_emoji(program, line.severity)} {ref}".strip()]
    if line.summary:
        parts.append(safe(line.summary, 120))
    text = " ".join(parts)
    extras = []
    if line.ticket_key:
        key = escape(line.ticket_key)
        extras.append(f"<{line.ticket_url}|{key}>" if line.ticket_url else key)
    if line.detail:
        extras.append(line.detail)
    if extras:
        text += " — " + " · ".join(extras)
    return f":warning: {text}" if line.flag == "breach" else text


def section_text(program: Program, section: Section) -> str:
    head = f"*{escape(section.title)}*"
    if section.total:
        head += f" ({section.total})"
    if section.summary:
        head += f" — {section.summary}"
    if not section.total:
        return f"{head}\n_{escape(section.empty)}_"
    bullets = [f"• {line_text(program, line)}" for line in section.lines]
    more = f"\n_…and {section.more} more (full list in the thread)_" if section.more else ""
    body = "\n".join(bullets)
    budget = SECTION_TEXT_MAX - len(head) - len(more) - 2
    if len(body) > budget:  # long summaries: cut whole lines, never mid-markup
        kept: list[str] = []
        for bullet in bullets:
            if sum(len(b) + 1 for b in kept) + len(bullet) > budget - 40:
                break
            kept.append(bullet)
        dropped = len(bullets) - len(kept)
        body = "\n".join(kept)
        more = f"\n_…and {section.more + dropped} more (full list in the thread)_"
    return f"{head}\n{body}{more}"


def digest_message(program: Program, digest: Digest) -> tuple[str, list[Block]]:
    """The digest as one message: a header, the period, one section block per part."""
    context = f"Since {when(digest.since)}"
    if digest.late:
        context += " · posted late: the bot was away at the scheduled time"
    if digest.on_call:
        context += f" · {digest.on_call}"
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=shorten(digest.title, 150), emoji=True)),
        ContextBlock(elements=[MarkdownTextObject(text=context)]),
        DividerBlock(),
    ]
    for section in digest.sections:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=section_text(program, section))))
    totals = ", ".join(f"{s.title.lower()} {s.total}" for s in digest.sections[:3])
    return f"{digest.title}: {totals}", blocks


def full_list_messages(program: Program, digest: Digest) -> list[str]:
    """The sections that were cut short, in full, as thread replies of readable size."""
    messages: list[str] = []
    for title, lines in digest.full_lists.items():
        current = f"*{escape(title)}* — full list ({len(lines)})"
        for line in lines:
            bullet = f"• {line_text(program, line)}"
            if len(current) + len(bullet) + 1 > THREAD_TEXT_MAX:
                messages.append(current)
                current = f"*{escape(title)}* (continued)"
            current += "\n" + bullet
        messages.append(current)
    return messages


def digest_text(program: Program, digest: Digest) -> str:
    """The digest as plain text, for `hypercare-bot digest daily --dry-run`."""
    local = digest.since.astimezone(program.zone)
    lines = [digest.title, f"Since {local:%a %d %b %H:%M} ({digest.zone})"]
    if digest.late:
        lines.append("(posted late: the bot was away at the scheduled time)")
    if digest.on_call:
        lines.append(digest.on_call)
    for section in digest.sections:
        lines += ["", section_text(program, section)]
    for title, items in digest.full_lists.items():
        lines += ["", f"Full list: {title} ({len(items)})"]
        lines += [f"• {line_text(program, item)}" for item in items]
    return "\n".join(lines)
