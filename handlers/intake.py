"""Smarter intake's listeners: suggestions while the summary is typed, "+1" in the form, known
issues and merges (commands, receipt buttons and their modals)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain import PlusOneOutcome, PlusOneResult
from bot.slack.blocks import intake as blocks
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
