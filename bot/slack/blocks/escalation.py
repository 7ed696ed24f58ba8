"""Block Kit for escalation: the page DM, the thread mention, the receipt's Acknowledge part."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain import Feedback, FeedbackState, ItemKind, ItemRef, Page
from bot.escalation.model import EscalateOutcome
from bot.slack.blocks.tickets import when
from bot.slack.ids import Action
from bot.slack.text import escape, safe


def _title(page: Page) -> str:
    title = safe(page.item.title, 200)
    return f"<{page.item.link}|{title}>" if page.item.link else f"*{title}*"


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{max(minutes, 1)} min"


def _round(page: Page) -> str:
    """ "round 2 of 3"; nothing for a policy that climbs once, where it would only be noise."""
    return f"round {page.round + 1} of {page.rounds}" if page.rounds > 1 else ""


def ack_button(ref: ItemRef) -> ButtonElement:
    """The Acknowledge button; the handler checks who may press it."""
    return ButtonElement(
        text="Acknowledge", action_id=Action.ACK_ITEM, value=str(ref), style="primary"
    )


def page_message(page: Page, resolve_within: int | None = None) -> tuple[str, list[Block]]:
    """The page DM: what needs a human, why they were chosen, and the button that stops it."""
    severity = escape(page.severity_label)
    acknowledged = bool(page.acknowledged_by and page.acknowledged_at)
    if acknowledged and not page.sla_breached:  # the page DM, updated after the acknowledgement
        headline = f":white_check_mark: {_title(page)} ({severity}) is taken: no more pages."
    elif page.sla_breached:
        headline = f":warning: *SLA breached:* {_title(page)} ({severity}) is still not resolved."
        if resolve_within:
            headline += f" It was due within {_duration(resolve_within)}."
    else:
        headline = f":rotating_light: {_title(page)} ({severity}) needs someone. Nobody has "
        headline += "acknowledged it yet."
    taken = acknowledged and not page.sla_breached
    who = f"You are paged as *{escape(page.role)}*." if page.role and not taken else ""
    since, climb = when(page.escalating_since), _round(page)
    context = (
        f"{climb.capitalize()} · escalating since {since}" if climb else f"Escalating since {since}"
    )
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=f"{headline}\n{who}".strip())),
        ContextBlock(elements=[MarkdownTextObject(text=context)]),
    ]
    if page.acknowledged_by and page.acknowledged_at:
        at = when(page.acknowledged_at)
        done = f":white_check_mark: Acknowledged by <@{page.acknowledged_by}> {at}."
        blocks.append(SectionBlock(text=MarkdownTextObject(text=done)))
    else:
        blocks.append(ActionsBlock(elements=[ack_button(page.item.ref)]))
    fallback = f"Paged: {escape(page.item.title[:150])} ({severity})"
    return fallback, blocks


def _taken(page: Page) -> bool:
    return bool(page.acknowledged_by and page.acknowledged_at) and not page.sla_breached


def group_message(group_id: int, pages: Sequence[Page]) -> tuple[str, list[Block]]:
    """A person's pages of a short window in one DM: one line and button per item, and
    *Acknowledge all*. A single page looks exactly like a lone page DM."""
    if len(pages) == 1:
        return page_message(pages[0])
    waiting = [page for page in pages if not _taken(page)]
    if waiting:
        headline = (
            f":rotating_light: *{len(waiting)} of the {len(pages)} items paged to you need "
            "someone.* Acknowledge each, or all at once."
        )
    else:
        headline = f":white_check_mark: All {len(pages)} items paged to you are taken."
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=headline))]
    for page in pages:
        severity = escape(page.severity_label)
        if _taken(page):
            line = f"{_title(page)} ({severity}) · acknowledged by <@{page.acknowledged_by}>"
            blocks.append(SectionBlock(text=MarkdownTextObject(text=f":white_check_mark: {line}")))
            continue
        breached = ":warning: *SLA breached* · " if page.sla_breached else ""
        role = f" · you are paged as *{escape(page.role)}*" if page.role else ""
        climb = _round(page)
        line = f"{breached}{_title(page)} ({severity}){role}" + (f" · {climb}" if climb else "")
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=line), accessory=ack_button(page.item.ref))
        )
    if waiting:
        everything = ButtonElement(
            text="Acknowledge all", action_id=Action.ACK_GROUP, value=str(group_id)
        )
        blocks.append(ActionsBlock(elements=[everything]))
    since = min(page.escalating_since for page in pages)
    blocks.append(
        ContextBlock(elements=[MarkdownTextObject(text=f"Escalating since {when(since)}")])
    )
    fallback = f"Paged: {len(waiting)} of {len(pages)} items need someone"
    return fallback, blocks


def thread_mention(page: Page, mentions: Sequence[str]) -> str:
    """The mention in the item's thread: who is paged now, and how to stop the climb."""
    people = ", ".join(mentions)
    role = f" ({escape(page.role)})" if page.role else ""
    if page.sla_breached:
        return (
            f":warning: SLA breached: this is still not resolved. Paging {people}{role}. "
            "Please update the item or its ticket."
        )
    climb = _round(page)
    not_yet = f"not acknowledged yet ({climb})" if climb else "not acknowledged yet"
    return f":rotating_light: Paging {people}{role}: {not_yet}. Press *Acknowledge* to take it."


def missing_report(page: Page, person: str, reason: str) -> str:
    """Tell the admins a page reached nobody, so they can fix the rota."""
    who = person if person.startswith("<@") else escape(person)
    return (
        f":warning: Escalation of {_title(page)} could not page {who} "
        f"({escape(page.role or 'target')}): {escape(reason)}. The climb moved on to the next "
        "step. Please fix the rota or roles in the program file."
    )


def receipt_ack_part(feedback: Feedback, escalates: bool) -> list[Block]:
    """The receipt's acknowledgement: who took it, or the button while it escalates."""
    if feedback.acknowledged_by and feedback.acknowledged_at:
        text = (
            f":white_check_mark: Acknowledged by <@{feedback.acknowledged_by}> "
            f"{when(feedback.acknowledged_at)}"
        )
        return [ContextBlock(elements=[MarkdownTextObject(text=text)])]
    if not escalates or feedback.state is FeedbackState.RESOLVED:
        return []
    return [ActionsBlock(elements=[ack_button(ItemRef(ItemKind.FEEDBACK, feedback.id))])]


ACK_TEXT = {
    "already": "This was acknowledged already; the climb has stopped.",
    "not_allowed": (
        "Only the people paged for this, whoever is on call, or a hypercare lead can "
        "acknowledge it."
    ),
    "not_escalating": "This item is not escalating, so there is nothing to acknowledge.",
}

ESCALATE_TEXT = {
    EscalateOutcome.STARTED: ":rotating_light: Escalation restarted from its first step.",
    EscalateOutcome.NOT_ALLOWED: "Only hypercare leads can re-escalate.",
    EscalateOutcome.NO_POLICY: (
        "This item's severity has no escalation policy; add one under `escalation:` "
        "in the program file."
    ),
    EscalateOutcome.UNKNOWN_ITEM: "No such item. Use an id like `HC-12`.",
}
