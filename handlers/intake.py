"""Smarter intake's listeners: suggestions while the summary is typed, "+1" in the form, known
issues and merges (commands, receipt buttons and their modals)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain import Feedback, KnownOutcome, MergeOutcome, PlusOneOutcome, PlusOneResult
from bot.slack.blocks import intake as blocks
from bot.slack.ids import MERGE_TARGET_BLOCK, WORKAROUND_BLOCK
from handlers import forms
from handlers.services import Services

log = logging.getLogger(__name__)


def suggest_similar(
    ack: Ack,
    body: dict[str, Any],
    client: WebClient,
    services: Services,
    after_ack: Callable[[Callable[[], object]], None],
) -> None:
    """The summary was typed: ack at once, then show similar items in the form."""
    ack()
    view = body.get("view") or {}
    query = forms.lookup_from_view(view)
    after_ack(lambda: show_suggestions(client, services, view, query))


def show_suggestions(
    client: WebClient, services: Services, view: dict[str, Any], query: forms.LookupText
) -> None:
    """Look up, then update the form with the view's hash (a newer view wins, silently)."""
    suggestions = services.intake.suggestions.suggest(*query)
    updated = blocks.form_with_suggestions(view, suggestions, services.program)
    if updated is None:
        return
    try:
        client.views_update(view_id=view.get("id"), hash=view.get("hash"), view=updated)
    except SlackApiError as error:
        # hash_conflict: the form changed since (typed on, a newer lookup); not_found: it was
        # submitted or closed. Either way these suggestions are stale: drop them.
        log.info("suggestions not shown: %s", error.response.get("error"))


def plus_one_in_form(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """ "Same problem: +1" on a suggestion: join that item instead of filing a new one."""
    ack()
    view = body.get("view") or {}
    feedback_id = forms.numeric_id(action)
    draft = forms.draft_from_view(view, reporter_id=body["user"]["id"])
    result = (
        services.intake.duplicates.plus_one(feedback_id, draft)
        if feedback_id is not None
        else PlusOneResult(PlusOneOutcome.UNKNOWN)
    )
    if result.outcome is PlusOneOutcome.ADDED:
        client.views_update(view_id=view.get("id"), view=blocks.plus_one_view(result))
    else:  # over the form, so closing the notice returns to it and they may file anyway
        client.views_push(trigger_id=body["trigger_id"], view=blocks.plus_one_notice(result))


def show_known(ack: Ack, services: Services) -> None:
    """`/hypercare known`: the known issues, most reported first, privately."""
    issues, total = services.intake.known.listing()
    text, rendered = blocks.known_list(issues, total)
    ack(response_type="ephemeral", text=text, blocks=rendered)


def mark_known(
    ack: Ack, known: tuple[str, str | None], command: dict[str, Any], services: Services
) -> None:
    """`/hypercare known HC-42 <workaround>` marks; `/hypercare known done HC-42` retires."""
    reference, workaround = known
    service = services.intake.known
    outcome, feedback = service.mark(service.item_id(reference), workaround, command["user_id"])
    ack(response_type="ephemeral", text=blocks.known_answer(outcome, feedback, reference))


def merge(ack: Ack, pair: tuple[str, str], command: dict[str, Any], services: Services) -> None:
    """`/hypercare merge HC-12 into HC-9`: a lead folds one item into another."""
    result = services.intake.duplicates.merge(*pair, command["user_id"])
    ack(response_type="ephemeral", text=blocks.merge_answer(result, *pair))


def show_top(ack: Ack, services: Services) -> None:
    """`/hypercare top`: the open items with the highest priority score, privately."""
    text, rendered = blocks.top_list(services.intake.priorities.top())
    ack(response_type="ephemeral", text=text, blocks=rendered)


def _lead_modal(
    body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> Feedback | None:
    """The receipt's item when the presser is a lead; else tell them why not, privately."""
    user, channel = body["user"]["id"], body["channel"]["id"]
    feedback_id = forms.numeric_id(action)
    feedback = services.feedback.get(feedback_id) if feedback_id is not None else None
    if feedback is not None and services.program.is_lead(user):
        return feedback
    refusal = (
        blocks.known_answer(KnownOutcome.NOT_ALLOWED, None, "")
        if feedback is not None
        else blocks.known_answer(KnownOutcome.UNKNOWN, None, str(action.get("value") or ""))
    )
    client.chat_postEphemeral(channel=channel, user=user, text=refusal)
    return None


def open_known_modal(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """*Mark as known issue* on a receipt: a lead gets the workaround modal."""
    ack()
    if feedback := _lead_modal(body, action, client, services):
        client.views_open(trigger_id=body["trigger_id"], view=blocks.known_modal(feedback))


def submit_known_modal(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], services: Services
) -> None:
    """Store the workaround (an empty one is refused inline), then close the modal."""
    workaround = forms.text_input(view, WORKAROUND_BLOCK)
    if not workaround:
        ack(response_action="errors", errors={WORKAROUND_BLOCK: "Please give the workaround."})
        return
    outcome, _ = services.intake.known.mark(forms.metadata_id(view), workaround, body["user"]["id"])
    if outcome in (KnownOutcome.MARKED, KnownOutcome.UPDATED):
        ack()
        return
    ack(
        response_action="errors",
        errors={WORKAROUND_BLOCK: _plain(blocks.known_answer(outcome, None, "this item"))},
    )


def open_merge_modal(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """*Merge into…* on a receipt: a lead names the item this one duplicates."""
    ack()
    if feedback := _lead_modal(body, action, client, services):
        client.views_open(trigger_id=body["trigger_id"], view=blocks.merge_modal(feedback))


def submit_merge_modal(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], services: Services
) -> None:
    """Merge the modal's item into the one named; a refusal is shown on the field."""
    source_id = forms.metadata_id(view)
    source = f"{services.program.id_prefix}-{source_id}"
    target = forms.text_input(view, MERGE_TARGET_BLOCK).upper()
    result = services.intake.duplicates.merge(source, target, body["user"]["id"])
    if result.outcome in (MergeOutcome.MERGED, MergeOutcome.MERGED_INTO_RESOLVED):
        ack()
        return
    answer = _plain(blocks.merge_answer(result, source, target))
    ack(response_action="errors", errors={MERGE_TARGET_BLOCK: answer})


def _plain(mrkdwn: str) -> str:
    """An answer as plain text for a form's inline error (links keep their label)."""
    return forms.plain_command_text(mrkdwn)
