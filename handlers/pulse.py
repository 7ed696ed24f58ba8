"""User pulse listeners: a press of 1–5 under a pulse, *Add a comment* and its form, and
`/hypercare pulse [comments]` (leads)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.pulse.service import CommentField, CommentForm, VoteResult
from bot.slack.blocks import pulse as blocks
from bot.slack.ids import COMMAND
from handlers import forms
from handlers.services import Services

_COMMAND = re.compile(r"^pulse(?:\s+(.*))?$", re.IGNORECASE | re.DOTALL)
_SCORE = re.compile(r"^(\d{1,10}):(\d)$")
_ID = re.compile(r"^\d{1,10}$")
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database; a larger one names no pulse
USAGE = (
    f"Use `{COMMAND} pulse` to send the user pulse now, or `{COMMAND} pulse comments` to read "
    "the latest comments (both for hypercare leads)."
)


def command(text: str) -> str | None:
    """`pulse …` → what follows ('' for `pulse` alone); None for other command text."""
    match = _COMMAND.match(text.strip())
    return (match.group(1) or "").strip().lower() if match else None


def _pulse_id(value: object) -> int | None:
    text = str(value or "")
    if not text.isascii() or not _ID.match(text) or int(text) > MAX_ID:
        return None
    return int(text)


def _score(action: dict[str, Any]) -> tuple[int | None, int | None]:
    """The pulse id and score a number's button carries (`12:4`); None where malformed."""
    match = _SCORE.match(str(action.get("value") or ""))
    if match is None:
        return None, None
    return _pulse_id(match.group(1)), int(match.group(2))


def _tell(body: dict[str, Any], client: WebClient, text: str) -> None:
    """Answer the presser alone, where they pressed (the channel, or their DM with the bot)."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    if channel:
        client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)


def answer_command(ack: Ack, rest: str, command: dict[str, Any], services: Services) -> None:
    """`/hypercare pulse` sends the pulse now; `/hypercare pulse comments` lists comments
    (leads, privately)."""
    user = command["user_id"]
    if rest == "":
        result = services.pulse.send_now(user)
        ack(response_type="ephemeral", text=blocks.send_answer(result, services.program))
    elif rest == "comments":
        found = services.pulse.comments(user)
        answers, total = found if found is not None else (None, 0)
        text, rendered = blocks.comments_message(answers, total)
        ack(response_type="ephemeral", text=text, blocks=rendered)
    else:
        ack(response_type="ephemeral", text=USAGE)


def answer_score(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """A press of 1–5: record or change the presser's answer, and tell them alone."""
    ack()
    pulse_id, score = _score(action)
    result = services.pulse.vote(pulse_id, body["user"]["id"], score)
    _tell(body, client, blocks.vote_answer(result))


def open_comment_modal(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """*Add a comment*: the comment form, starting from the presser's answer so far."""
    ack()
    found = services.pulse.comment_form(_pulse_id(action.get("value")), body["user"]["id"])
    if isinstance(found, VoteResult):
        _tell(body, client, blocks.closed_or_unknown(found))
        return
    client.views_open(trigger_id=body["trigger_id"], view=blocks.comment_modal(*found))


def submit_comment(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], services: Services
) -> None:
    """Store the score and comment and say so in the form; problems go back on their fields."""
    form = CommentForm(
        pulse_id=_pulse_id(view.get("private_metadata")),
        score=forms.select_input(view, blocks.field_block(CommentField.SCORE)),
        comment=forms.text_input(view, blocks.field_block(CommentField.COMMENT)),
    )
    result, problems = services.pulse.comment(form, body["user"]["id"])
    if result is None:
        errors = {blocks.field_block(field): text for field, text in problems.items()}
        ack(response_action="errors", errors=errors)
        return
    ack(response_action="update", view=blocks.comment_recorded_view(result))
