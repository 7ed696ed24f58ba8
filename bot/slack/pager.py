"""SlackPager: the escalation Pager port, spoken in Slack Web API calls."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from slack_sdk import WebClient

from bot.domain import Page, PageMessage
from bot.ports import PostedMessage
from bot.slack.blocks import escalation as escalation_blocks
from bot.slack.directory import SlackDirectory
from bot.slack.notifier import slack_call

log = logging.getLogger(__name__)

GROUP_EVENT = "hypercare_page_group"  # message metadata naming a grouped page DM's group
GROUP_LOOKBACK = 50  # DMs looked through for one a dead try posted: the bot's newest ones


class SlackPager:
    """DMs pages, mentions people in threads, and looks people up by e-mail."""

    def __init__(self, client: WebClient, directory: SlackDirectory | None = None) -> None:
        self._client = client
        self._directory = directory or SlackDirectory(client)

    def user_for_email(self, email: str) -> str | None:
        """Look a person up by e-mail (users.lookupByEmail, remembered once found);
        deactivated users are not found."""
        return self._directory.user_for_email(email)

    def page_person(self, user: str, page: Page) -> PostedMessage:
        """DM the page with its Acknowledge button."""
        text, blocks = escalation_blocks.page_message(page)
        response = slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=user, text=text, blocks=blocks, unfurl_links=False
            ),
        )
        return PostedMessage(str(response["channel"]), str(response["ts"]), None)

    def page_in_thread(self, page: Page, mentions: Sequence[str], broadcast: bool) -> None:
        """Mention the paged people in the item's thread (also in the channel, if asked)."""
        thread = page.item.thread_ts
        text = escalation_blocks.thread_mention(page, mentions)
        slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=page.item.channel_id,
                thread_ts=thread,
                text=text,
                reply_broadcast=broadcast,
                unfurl_links=False,
            ),
        )

    def update_page(self, message: PageMessage, page: Page) -> None:
        """Show on a page DM that the item was acknowledged."""
        text, blocks = escalation_blocks.page_message(page)
        slack_call(
            "chat.update",
            lambda: self._client.chat_update(
                channel=message.channel, ts=message.ts, text=text, blocks=blocks
            ),
        )

    def post_group(self, user: str, group_id: int, pages: Sequence[Page]) -> PostedMessage:
        """DM the pages of a short window in one message (one page looks like a lone page),
        tagged with the group's id in the message metadata, so a retry can find it."""
        text, blocks = escalation_blocks.group_message(group_id, pages)
        metadata = {"event_type": GROUP_EVENT, "event_payload": {"group": group_id}}
        response = slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=user, text=text, blocks=blocks, unfurl_links=False, metadata=metadata
            ),
        )
        return PostedMessage(str(response["channel"]), str(response["ts"]), None)

    def find_group(self, user: str, group_id: int) -> PostedMessage | None:
        """Look for the group's DM among the newest messages of the person's DM channel."""
        opened = slack_call(
            "conversations.open", lambda: self._client.conversations_open(users=user)
        )
        channel = str(opened["channel"]["id"])
        history = slack_call(
            "conversations.history",
            lambda: self._client.conversations_history(
                channel=channel, limit=GROUP_LOOKBACK, include_all_metadata=True
            ),
        )
        for message in history.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == GROUP_EVENT and payload.get("group") == group_id:
                return PostedMessage(channel, str(message["ts"]), None)
        return None

    def update_group(self, message: PageMessage, group_id: int, pages: Sequence[Page]) -> None:
        """Re-render a grouped page DM in place."""
        text, blocks = escalation_blocks.group_message(group_id, pages)
        slack_call(
            "chat.update",
            lambda: self._client.chat_update(
                channel=message.channel, ts=message.ts, text=text, blocks=blocks
            ),
        )

    def report_missing(self, to: Sequence[str], page: Page, person: str, reason: str) -> None:
        """DM each admin (or post to a channel) that a page reached nobody."""
        text = escalation_blocks.missing_report(page, person, reason)
        for target in to:
            slack_call(
                "chat.postMessage",
                lambda target=target: self._client.chat_postMessage(  # type: ignore[misc]
                    channel=target, text=text, unfurl_links=False
                ),
            )
