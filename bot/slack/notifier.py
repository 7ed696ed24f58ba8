"""SlackNotifier: the Notifier port, spoken in Slack Web API calls."""

from __future__ import annotations

import datetime as dt
import logging
import urllib.error
from collections.abc import Callable, Mapping
from typing import TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.alerts.engine.alerting import SourceEvent
from bot.config import Program
from bot.domain import (
    Alert,
    AlertNote,
    Feedback,
    PlusOne,
    PlusOneOutcome,
    PlusOneResult,
    RootCause,
    ThreadNote,
)
from bot.errors import DeliveryDeferred, DeliveryRefused
from bot.ports import PostedMessage
from bot.slack.blocks import alerts as alert_blocks
from bot.slack.blocks import feedback as blocks
from bot.slack.blocks import intake as intake_blocks
from bot.slack.blocks import lessons as lesson_blocks
from bot.slack.blocks import oncall as oncall_blocks
from bot.slack.blocks import rca as rca_blocks
from bot.slack.blocks import tickets as ticket_blocks

log = logging.getLogger(__name__)

T = TypeVar("T")

# Slack answers these with HTTP 200 and ok=false, yet they are worth another try later.
_TRANSIENT_ERRORS = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
}
RECEIPT_EVENT = "hypercare_receipt"  # message metadata naming a receipt's feedback
RECEIPT_LOOKBACK = 100  # channel messages looked through for a receipt a dead try posted
# The reporter cannot see an ephemeral in this channel; a DM reaches them instead.
_EPHEMERAL_UNREACHABLE = {"user_not_in_channel", "channel_not_found", "not_in_channel"}


def slack_call(name: str, fn: Callable[[], T]) -> T:
    """Run one Web API call, translating failures into the port's two errors."""
    try:
        return fn()
    except SlackApiError as exc:
        status = exc.response.status_code
        error = str(exc.response.get("error", "unknown_error"))
        if status == 429:
            retry = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                "retry-after"
            )
            raise DeliveryDeferred(
                f"{name}: rate limited", float(retry) if retry else None
            ) from None
        if status >= 500 or error in _TRANSIENT_ERRORS:
            raise DeliveryDeferred(f"{name}: {error} (HTTP {status})") from None
        raise DeliveryRefused(f"{name}: {error}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        raise DeliveryDeferred(f"{name}: {type(exc).__name__}") from None


class SlackNotifier:
    """Posts receipts, replies and confirmations in Slack."""

    def __init__(self, client: WebClient, program: Program) -> None:
        self._client = client
        self._program = program

    def post_receipt(self, feedback: Feedback) -> PostedMessage:
        """Post the receipt in the feedback's channel."""
        text, rendered = blocks.receipt(feedback, self._program)
        response: SlackResponse = slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=feedback.channel_id,
                text=text,
                blocks=rendered,
                unfurl_links=False,
                unfurl_media=False,
                metadata={"event_type": RECEIPT_EVENT, "event_payload": {"feedback": feedback.id}},
            ),
        )
        channel, ts = str(response["channel"]), str(response["ts"])
        return PostedMessage(channel, ts, self.permalink(channel, ts))

    def find_receipt(self, feedback: Feedback) -> PostedMessage | None:
        """Look for the feedback's receipt (its metadata names it) among the channel's newest
        messages; None when there is none or the channel's history cannot be read."""
        try:
            history = slack_call(
                "conversations.history",
                lambda: self._client.conversations_history(
                    channel=feedback.channel_id, limit=RECEIPT_LOOKBACK, include_all_metadata=True
                ),
            )
        except DeliveryRefused as refused:  # no history scope: post again rather than never
            log.warning("cannot look for the receipt of %s: %s", feedback.short_id, refused.reason)
            return None
        for message in history.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if (
                metadata.get("event_type") == RECEIPT_EVENT
                and payload.get("feedback") == feedback.id
            ):
                ts = str(message["ts"])
                return PostedMessage(
                    feedback.channel_id, ts, self.permalink(feedback.channel_id, ts)
                )
        return None

    def reply_to_source(self, feedback: Feedback) -> None:
        """Reply in the reported message's thread."""
        source = feedback.source
        if source is None:
            return
        slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=source.channel_id,
                thread_ts=source.ts,
                text=blocks.source_reply(feedback),
                unfurl_links=False,
            ),
        )

    def confirm_to_reporter(self, feedback: Feedback) -> None:
        """Confirm privately: an ephemeral in the channel, or a DM when that cannot reach them."""
        text = blocks.confirmation(feedback)
        self._tell_reporter(feedback, text)

    def tell_reporter_of_failure(self, feedback: Feedback, reason: str) -> None:
        """Tell the reporter by DM that the receipt could not be posted."""
        text = blocks.delivery_failure(feedback, reason)
        slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(channel=feedback.reporter_id, text=text),
        )

    def refresh_receipt(self, feedback: Feedback) -> None:
        """Re-render the receipt in place."""
        if feedback.receipt_ts is None:
            raise DeliveryDeferred("the receipt is not posted yet", 1.0, waiting=True)
        ts = feedback.receipt_ts
        text, rendered = blocks.receipt(feedback, self._program)
        slack_call(
            "chat.update",
            lambda: self._client.chat_update(
                channel=feedback.channel_id, ts=ts, text=text, blocks=rendered
            ),
        )

    def note_in_thread(self, feedback: Feedback, note: ThreadNote) -> None:
        """Post a note in the feedback's home thread."""
        if feedback.receipt_ts is None:
            raise DeliveryDeferred("the receipt is not posted yet", 1.0, waiting=True)
        ts = feedback.receipt_ts
        slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=feedback.channel_id,
                thread_ts=ts,
                text=ticket_blocks.note_text(feedback, note),
                unfurl_links=False,
            ),
        )

    def _in_thread(self, feedback: Feedback, text: str) -> None:
        if feedback.receipt_ts is None:
            raise DeliveryDeferred("the receipt is not posted yet", 1.0, waiting=True)
        ts = feedback.receipt_ts
        slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=feedback.channel_id, thread_ts=ts, text=text, unfurl_links=False
            ),
        )

    def plus_one_in_thread(self, feedback: Feedback, entry: PlusOne) -> None:
        """Say in the item's thread who else reported it, with their details."""
        self._in_thread(feedback, intake_blocks.plus_one_in_thread(feedback, entry, self._program))

    def confirm_plus_one(self, feedback: Feedback, entry: PlusOne) -> None:
        """Tell the +1's reporter privately (in the item's channel, else by DM)."""
        text = intake_blocks.plus_one_answer(PlusOneResult(PlusOneOutcome.ADDED, feedback))
        self._tell(feedback.channel_id, entry.reporter_id, text)

    def merge_in_thread(self, feedback: Feedback, other: Feedback, actor: str) -> None:
        """Say in an item's thread that it was merged into `other`, or `other` into it."""
        self._in_thread(feedback, intake_blocks.merge_in_thread(feedback, other, actor))

    def known_in_thread(self, feedback: Feedback, workaround: str | None, actor: str) -> None:
        """Say in the item's thread that it is a known issue now, or no longer."""
        self._in_thread(feedback, intake_blocks.known_in_thread(feedback, workaround, actor))

    def ask_root_cause(self, feedback: Feedback) -> None:
        """Post the *Record root cause* button in the item's thread."""
        if feedback.receipt_ts is None:
            raise DeliveryDeferred("the receipt is not posted yet", 1.0, waiting=True)
        ts = feedback.receipt_ts
        text, rendered = rca_blocks.prompt(feedback)
        slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=feedback.channel_id, thread_ts=ts, text=text, blocks=rendered
            ),
        )

    def root_cause_in_thread(self, feedback: Feedback, cause: RootCause) -> None:
        """Say in the item's thread what its root cause is."""
        self._in_thread(feedback, rca_blocks.note(feedback, cause, self._program))

    def upload_postmortem(self, feedback: Feedback, filename: str, markdown: str) -> None:
        """Upload the post-mortem draft as a Markdown file in the item's thread."""
        if feedback.receipt_ts is None:
            raise DeliveryDeferred("the receipt is not posted yet", 1.0, waiting=True)
        ts = feedback.receipt_ts
        title = f"Post-mortem draft: {feedback.short_id}"
        slack_call(
            "files.upload",
            lambda: self._client.files_upload_v2(
                channel=feedback.channel_id,
                thread_ts=ts,
                content=markdown,
                filename=filename,
                title=title,
                initial_comment=f":memo: {title} (Markdown; edit it and share).",
            ),
        )

    def offer_lesson(self, feedback: Feedback) -> None:
        """Post *Add a lesson* in the item's thread, under its post-mortem draft."""
        if feedback.receipt_ts is None:
            raise DeliveryDeferred("the receipt is not posted yet", 1.0, waiting=True)
        ts = feedback.receipt_ts
        text, rendered = lesson_blocks.offer(feedback)
        slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=feedback.channel_id, thread_ts=ts, text=text, blocks=rendered
            ),
        )

    def tell_reporter_of_ticket(self, feedback: Feedback) -> None:
        """Tell the reporter about the ticket, privately."""
        self._tell_reporter(feedback, ticket_blocks.reporter_ticket_text(feedback))

    def _tell_reporter(self, feedback: Feedback, text: str) -> None:
        self._tell(feedback.channel_id, feedback.reporter_id, text)

    def _tell(self, channel: str, user: str, text: str) -> None:
        try:
            slack_call(
                "chat.postEphemeral",
                lambda: self._client.chat_postEphemeral(channel=channel, user=user, text=text),
            )
        except DeliveryRefused as refused:
            if refused.reason.split(": ", 1)[-1] not in _EPHEMERAL_UNREACHABLE:
                raise
            slack_call(
                "chat.postMessage",
                lambda: self._client.chat_postMessage(channel=user, text=text),
            )

    def post_alert(self, alert: Alert) -> PostedMessage:
        """Post a firing alert in its channel."""
        text, rendered = alert_blocks.alert_message(alert, None, self._program.jira is not None)
        response: SlackResponse = slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=alert.channel_id, text=text, blocks=rendered
            ),
        )
        return PostedMessage(str(response["channel"]), str(response["ts"]), None)

    def alert_repeat(self, alert: Alert) -> None:
        """Remind in the alert's thread that it is still firing."""
        self._in_alert_thread(alert, alert_blocks.repeat_text(alert))

    def alert_resolved(self, alert: Alert) -> None:
        """Update the alert's message in place and note the resolution in its thread."""
        ts = alert.message_ts
        text, rendered = alert_blocks.alert_message(alert, None, self._program.jira is not None)
        slack_call(
            "chat.update",
            lambda: self._client.chat_update(
                channel=alert.channel_id, ts=ts or "", text=text, blocks=rendered
            ),
        )
        self._in_alert_thread(alert, alert_blocks.resolved_text(alert))

    def refresh_alert(self, alert: Alert, silenced_until: dt.datetime | None) -> None:
        """Re-render the alert's message in place."""
        text, rendered = alert_blocks.alert_message(
            alert, silenced_until, self._program.jira is not None
        )
        ts = alert.message_ts or ""
        slack_call(
            "chat.update",
            lambda: self._client.chat_update(
                channel=alert.channel_id, ts=ts, text=text, blocks=rendered
            ),
        )

    def alert_note(self, alert: Alert, note: AlertNote) -> None:
        """Post who acknowledged or silenced an alert in its thread."""
        self._in_alert_thread(alert, alert_blocks.note_text(note))

    def handoff_notice(self, channel_id: str, handoff: Mapping[str, object]) -> None:
        """Post an on-call hand-off in the team channel."""
        text = oncall_blocks.handoff_text(handoff)
        slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(channel=channel_id, text=text),
        )

    def source_notice(self, channel_id: str, event: SourceEvent) -> None:
        """Say a metrics source went down or came back."""
        text = alert_blocks.source_notice_text(event)
        slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(channel=channel_id, text=text),
        )

    def _in_alert_thread(self, alert: Alert, text: str) -> None:
        if alert.message_ts is None:
            raise DeliveryDeferred("the alert message is not posted yet", 1.0, waiting=True)
        ts = alert.message_ts
        slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=alert.channel_id, thread_ts=ts, text=text
            ),
        )

    def permalink(self, channel_id: str, ts: str) -> str | None:
        """Return a message's permalink, or None when Slack will not say right now."""
        try:
            response = slack_call(
                "chat.getPermalink",
                lambda: self._client.chat_getPermalink(channel=channel_id, message_ts=ts),
            )
        except (DeliveryDeferred, DeliveryRefused) as exc:
            log.warning("no permalink for %s/%s: %s", channel_id, ts, exc)
            return None
        return str(response["permalink"])
