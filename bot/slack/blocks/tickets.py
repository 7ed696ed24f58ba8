"""Block Kit for the ticket side of feedback: receipt lines, buttons, thread notes, status."""

from __future__ import annotations

import datetime as dt

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain import Feedback, NoteKind, ThreadNote
from bot.slack.blocks.owners import owner_note, owner_text
from bot.slack.ids import Action
from bot.slack.text import escape, safe
from bot.tickets.duplicates import read_note_detail
from bot.tickets.service import RequestOutcome


def when(moment: dt.datetime) -> str:
    """A time Slack shows in each reader's own zone (UTC in the fallback)."""
    fallback = f"{moment:%Y-%m-%d %H:%M} UTC"
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def ticket_link(feedback: Feedback) -> str:
    """Link to the feedback's Jira issue."""
    if feedback.ticket_url and feedback.ticket_key:
        return f"<{feedback.ticket_url}|{escape(feedback.ticket_key)}>"
    return escape(feedback.ticket_key or "")


def receipt_ticket_part(feedback: Feedback, jira_enabled: bool) -> list[Block]:
    """The receipt's ticket line: the issue and its status, why Jira refused, or a button."""
    value = str(feedback.id)
    if feedback.ticket_key:
        status = escape(feedback.ticket_status or "Open")
        text = f":ticket: *Jira* {ticket_link(feedback)} · {status}"
        return [SectionBlock(text=MarkdownTextObject(text=text))]
    if not jira_enabled:
        return []
    if feedback.ticket_error:
        text = f":warning: *Jira refused the ticket:* {safe(feedback.ticket_error, 2500)}"
        retry = ButtonElement(
            text="Retry ticket", action_id=Action.CREATE_TICKET, value=value, style="primary"
        )
        return [SectionBlock(text=MarkdownTextObject(text=text)), ActionsBlock(elements=[retry])]
    button = ButtonElement(text="Create Jira ticket", action_id=Action.CREATE_TICKET, value=value)
    return [ActionsBlock(elements=[button])]


def note_text(feedback: Feedback, note: ThreadNote) -> str:
    """The text of a note in a feedback's thread."""
    if note.kind is NoteKind.TICKET_CREATED:
        return f":ticket: Jira ticket {ticket_link(feedback)} is open for {feedback.short_id}."
    if note.kind is NoteKind.TICKET_REFUSED:
        return (
            f":warning: Jira refused the ticket for {feedback.short_id}: "
            f"`{safe(note.detail, 1500)}`. The feedback is safe. A lead can fix the Jira mapping "
            "in the program file and press *Retry ticket*."
        )
    if note.kind is NoteKind.TICKET_DUPLICATE:
        return duplicate_text(feedback.short_id, *read_note_detail(note.detail))
    at = f" {when(note.at)}" if note.at else ""
    if note.kind is NoteKind.ACKNOWLEDGED:
        return f":white_check_mark: <@{note.actor}> acknowledged {feedback.short_id}{at}."
    if note.kind is NoteKind.REESCALATED:
        return f":rotating_light: <@{note.actor}> re-escalated {feedback.short_id}{at}."
    if note.kind in (NoteKind.OWNER, NoteKind.RESOLVED):
        return owner_note(feedback, note, at)
    who = f" by {escape(note.actor)}" if note.actor else ""
    status = escape(note.detail)
    return f":arrows_counterclockwise: {ticket_link(feedback)} is now *{status}*{who}{at}."


def duplicate_text(name: str, duplicate: str, keeper: str, closed: bool) -> str:
    """The note saying a duplicate Jira issue was found, linked and closed (or left open)."""
    done = "closed" if closed else "left open (Jira would not close it: close it by hand)"
    return (
        f":link: Jira had opened {escape(duplicate)} as well as {escape(keeper)} for {name}. "
        f"{escape(duplicate)} is linked to {escape(keeper)} as a duplicate and {done}; "
        f"{escape(keeper)} stays the ticket."
    )


def reporter_ticket_text(feedback: Feedback) -> str:
    """Tell the reporter their feedback has a ticket."""
    return f":ticket: Your feedback {feedback.short_id} is now Jira ticket {ticket_link(feedback)}."


def status_blocks(feedback: Feedback, severity_label: str) -> tuple[str, list[Block]]:
    """Render `/hypercare ticket HC-42`: one item's state, ephemerally."""
    lines = [
        f"*{feedback.short_id}* · {escape(feedback.summary)}",
        f"Severity: {escape(severity_label)} · State: *{feedback.state.value}* · "
        f"Filed {when(feedback.created_at)} by <@{feedback.reporter_id}>",
    ]
    if feedback.ticket_key:
        lines.append(f"Jira: {ticket_link(feedback)} · {escape(feedback.ticket_status or 'Open')}")
    elif feedback.ticket_error:
        lines.append(f"Jira refused the ticket: {safe(feedback.ticket_error, 1000)}")
    else:
        lines.append("No Jira ticket yet.")
    lines.append(f"Owner: {owner_text(feedback.owner_id, feedback.owner_name)}")
    if feedback.resolved_at:
        lines.append(f"Resolved {when(feedback.resolved_at)}")
    context = []
    if feedback.receipt_permalink:
        context.append(f"<{feedback.receipt_permalink}|Open the thread>")
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=safe_join(lines)))]
    if context:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]))
    return f"{feedback.short_id}: {feedback.state.value}", blocks


def safe_join(lines: list[str]) -> str:
    """Join lines, keeping within a section's 3,000 characters."""
    text = "\n".join(lines)
    return text if len(text) <= 3000 else text[:2990] + "…"


def request_refusal(outcome: RequestOutcome, leads: list[str]) -> str:
    """Explain why a ticket request did nothing."""
    if outcome is RequestOutcome.NOT_ALLOWED:
        who = ", ".join(f"<@{lead}>" for lead in leads[:5]) or "a hypercare lead"
        return f"Only hypercare leads can open Jira tickets from here. Ask {who}."
    if outcome is RequestOutcome.ALREADY:
        return "This feedback already has a Jira ticket (or one is being opened)."
    if outcome is RequestOutcome.DISABLED:
        return "Jira is not connected to this hypercare program, so there is no ticket to open."
    return "I could not find that feedback any more."


def not_found(reference: str) -> str:
    """Say that no feedback or ticket matches a reference."""
    return f"I know no feedback or Jira ticket called `{escape(reference)}`."
