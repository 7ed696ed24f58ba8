"""Block Kit for `/hypercare metrics` and `/hypercare silences`."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.alerts.service import SilenceView, SourceStatus, value_text
from bot.slack.blocks.tickets import when
from bot.slack.ids import Action
from bot.slack.text import escape

MAX_BLOCKS = 45  # below Slack's 50 per message, leaving room for the header lines


def leads_only(leads: list[str]) -> str:
    """Say that only leads may do this, and who they are."""
    who = ", ".join(f"<@{lead}>" for lead in leads[:5]) or "a hypercare lead"
    return f"Only hypercare leads can do that. Ask {who}."


def _scope(scope: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{escape(k)}={escape(v)}" for k, v in scope) or "all traffic"


def metrics_status(sources: list[SourceStatus] | None) -> tuple[str, list[Block]]:
    """Render each source's state and each rule's current value."""
    if sources is None:
        text = "Gateway watching is not set up: add a `metrics:` section to the program file."
        return text, [SectionBlock(text=MarkdownTextObject(text=text))]
    blocks: list[Block] = []
    for source in sources:
        state = (
            f":red_circle: down ({escape(source.failure or '?')})"
            if source.down
            else (
                ":large_green_circle: up" if source.last_success else ":white_circle: not read yet"
            )
        )
        seen = f" · last read {when(source.last_success)}" if source.last_success else ""
        lines = [f"*{escape(source.source_id)}* {state}{seen}"]
        for rule in source.rules:
            limit = value_text(rule.threshold, rule.unit)
            if not rule.values:
                lines.append(f"• `{escape(rule.rule_id)}`: no data yet (threshold {limit})")
                continue
            for scope, value in list(rule.values.items())[:10]:
                lines.append(
                    f"• `{escape(rule.rule_id)}` {_scope(scope)}: "
                    f"{value_text(value, rule.unit)} (threshold {limit})"
                )
        blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(lines)[:2990])))
    return "Gateway metrics", blocks[:MAX_BLOCKS]


def silences_list(silences: list[SilenceView] | None) -> tuple[str, list[Block]]:
    """Render the silences in force, each with an End button (leads only, checked on click)."""
    if not silences:
        text = "No alert is silenced right now."
        return text, [SectionBlock(text=MarkdownTextObject(text=text))]
    blocks: list[Block] = []
    for silence in silences[: MAX_BLOCKS - 1]:
        scope = _scope(silence.scope) if silence.scope is not None else "every scope"
        text = (
            f"*{escape(silence.rule_id)}* on {scope} until {when(silence.until)}\n"
            f"by <@{silence.by}>: {escape(silence.reason)}"
        )
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=text[:2990]),
                accessory=ButtonElement(
                    text="End now", action_id=Action.END_SILENCE, value=silence.rule_id[:2000]
                ),
            )
        )
    if len(silences) > len(blocks):
        more = f"and {len(silences) - len(blocks)} more"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=more)]))
    return f"{len(silences)} silence(s) in force", blocks
