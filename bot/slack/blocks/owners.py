"""Block Kit for owners: the receipt's owner line and buttons, owner notes, answers."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain import Feedback, FeedbackState, NoteKind, OwnerOutcome, OwnerResult, ThreadNote
from bot.owners.service import read_owner_detail
from bot.slack.ids import Action
from bot.slack.text import escape


def owner_text(owner_id: str | None, owner_name: str | None) -> str:
    """An owner in mrkdwn: a Slack mention, a Jira name (escaped), or "no owner"."""
    if owner_id:
        return f"<@{owner_id}>"
    if owner_name:
        return f"{escape(owner_name)} (in Jira)"
    return "no owner"


def receipt_owner_part(feedback: Feedback) -> list[Block]:
    """The receipt's owner line; *Take it* and a lead's *Resolve* while it is open."""
    line = f":bust_in_silhouette: *Owner:* {owner_text(feedback.owner_id, feedback.owner_name)}"
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=line))]
    if feedback.state is FeedbackState.RESOLVED or feedback.merged_into_id is not None:
        return blocks
    value = str(feedback.id)
    blocks.append(
        ActionsBlock(
            elements=[
                ButtonElement(text="Take it", action_id=Action.TAKE_ITEM, value=value),
                ButtonElement(text="Resolve", action_id=Action.RESOLVE_ITEM, value=value),
            ]
        )
    )
    return blocks


def owner_note(feedback: Feedback, note: ThreadNote, at: str) -> str:
    """The text of an owner or resolution note in an item's thread."""
    if note.kind is NoteKind.RESOLVED:
        return f":white_check_mark: <@{note.actor}> resolved {feedback.short_id}{at}."
    how, owner, name = read_owner_detail(note.detail)
    who = owner_text(owner, name)
    if how == "took":
        return f":raising_hand: <@{note.actor}> took {feedback.short_id}{at}."
    if how == "assigned":
        return f":bust_in_silhouette: <@{note.actor}> assigned {feedback.short_id} to {who}{at}."
    by = f" by {escape(note.actor)}" if note.actor else ""
    key = escape(feedback.ticket_key or "the ticket")
    if how == "jira":
        return f":bust_in_silhouette: {key} was assigned in Jira to {who}{by}{at}."
    if how == "unassigned":
        return f":bust_in_silhouette: {key} was unassigned in Jira{by}{at}: no owner now."
    if how == "no_email":
        return (
            f":warning: {who} owns {feedback.short_id}, but Slack shows no e-mail for them, so "
            f"{key} could not be assigned in Jira."
        )
    return (
        f":warning: {who} owns {feedback.short_id}, but Jira has no user with their e-mail, "
        f"so {key} stays assigned as it was."
    )


def owner_answer(result: OwnerResult, reference: str, leads: list[str]) -> str:
    """The private answer to *Take it*, *Resolve* or `/hypercare assign`."""
    feedback = result.feedback
    name = feedback.short_id if feedback else escape(reference)
    match result.outcome:
        case OwnerOutcome.DONE:
            if feedback is not None and feedback.state is FeedbackState.RESOLVED:
                return f":white_check_mark: {name} is resolved."
            owner = owner_text(feedback.owner_id, None) if feedback else ""
            return f":white_check_mark: {name} is owned by {owner} now."
        case OwnerOutcome.ALREADY:
            if feedback is not None and feedback.state is FeedbackState.RESOLVED:
                return f"{name} is resolved already."
            return f"{name} has that owner already."
        case OwnerOutcome.CLOSED:
            return f"{name} is resolved or merged: there is nothing to take."
        case OwnerOutcome.DEACTIVATED:
            return f"That person's Slack account is deactivated: {name} keeps its owner."
        case OwnerOutcome.NOT_ALLOWED:
            who = ", ".join(f"<@{lead}>" for lead in leads[:5]) or "a hypercare lead"
            return f"Only hypercare leads can do that. Ask {who}."
    return f"I know no item called `{name}`. Use an id like `HC-42`."


def assign_usage(prefix: str) -> str:
    """How `/hypercare assign` is used (after a malformed one)."""
    return f"Use `/hypercare assign {prefix}-42 @someone` (leads)."
