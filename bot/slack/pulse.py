"""SlackPulse: the PulseNotifier port in Slack terms (the question, to a channel or a DM)."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.domain import Pulse
from bot.ports import PostedMessage
from bot.slack.blocks import pulse as pulse_blocks
from bot.slack.notifier import slack_call


class SlackPulse:
    """Posts the user pulse's question."""

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def post_pulse(self, to: str, pulse: Pulse) -> PostedMessage:
        """Post the question to a channel id, or to a user id (Slack opens the DM)."""
        text, blocks = pulse_blocks.pulse_message(pulse)
        response = slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=to, text=text, blocks=blocks, unfurl_links=False
            ),
        )
        return PostedMessage(str(response["channel"]), str(response["ts"]), None)
