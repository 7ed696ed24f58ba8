"""SlackReporter: posts digests (and their full lists in the thread), the weekly review and
the closing report through the Web API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackRequestError
from slack_sdk.models.blocks import Block

from bot.config import Program
from bot.domain import Chart, Digest, Verdict, WeeklyReview
from bot.errors import DeliveryDeferred, DeliveryRefused
from bot.ports import PostedMessage, ReportFile
from bot.slack.blocks import digest as digest_blocks
from bot.slack.blocks import exit as exit_blocks
from bot.slack.blocks import weekly as weekly_blocks
from bot.slack.notifier import slack_call


class SlackReporter:
    """The DigestNotifier and WeeklyNotifier ports in Slack terms."""

    def __init__(self, client: WebClient, program: Program) -> None:
        self._client = client
        self._program = program

    def _post(self, channel_id: str, text: str, blocks: list[Block]) -> PostedMessage:
        response = slack_call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=channel_id, text=text, blocks=blocks, unfurl_links=False
            ),
        )
        return PostedMessage(str(response["channel"]), str(response["ts"]), None)

    def post_digest(self, channel_id: str, digest: Digest) -> PostedMessage:
        """Post the digest message."""
        return self._post(channel_id, *digest_blocks.digest_message(self._program, digest))

    def post_full_lists(self, channel_id: str, thread_ts: str, digest: Digest) -> None:
        """Post the cut sections in full as replies in the digest's thread."""
        for text in digest_blocks.full_list_messages(self._program, digest):
            slack_call(
                "chat.postMessage",
                lambda text=text: self._client.chat_postMessage(  # type: ignore[misc]
                    channel=channel_id, thread_ts=thread_ts, text=text, unfurl_links=False
                ),
            )

    def post_weekly(self, channel_id: str, review: WeeklyReview) -> PostedMessage:
        """Post the weekly review message."""
        return self._post(channel_id, *weekly_blocks.weekly_message(self._program, review))

    def upload_chart(self, channel_id: str, thread_ts: str, chart: Chart) -> None:
        """Upload a chart as a PNG in the review's thread (files.getUploadURLExternal & co)."""
        slack_call(
            "files.upload",
            lambda: self._client.files_upload_v2(
                channel=channel_id,
                thread_ts=thread_ts,
                file=chart.png,
                filename=chart.filename,
                title=chart.title,
                alt_txt=chart.title,
            ),
        )

    def upload_exit_report(
        self,
        channel_id: str,
        files: Sequence[ReportFile],
        as_of: dt.datetime,
        verdict: Verdict,
        requested_by: str | None,
    ) -> None:
        """Share the closing report's files in one message (files.completeUploadExternal shares
        them all or none), so a failed attempt leaves nothing behind to double on retry."""
        comment = exit_blocks.share_comment(self._program, as_of, verdict, requested_by, files)
        uploads = [
            {
                "file": file.content,
                "filename": file.filename,
                "title": file.title,
                **({"alt_txt": file.title} if file.filename.endswith(".png") else {}),
            }
            for file in files
        ]
        try:
            slack_call(
                "files.upload",
                lambda: self._client.files_upload_v2(
                    channel=channel_id, file_uploads=uploads, initial_comment=comment
                ),
            )
        except SlackRequestError as failed:  # raised by the SDK itself, before sharing anything
            if "Failed to upload" in str(failed):  # the bytes' POST: worth another attempt
                raise DeliveryDeferred("files.upload: a file's upload failed") from None
            raise DeliveryRefused(f"files.upload: {failed}") from None
