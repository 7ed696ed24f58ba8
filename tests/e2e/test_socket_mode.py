"""End to end: the bot in Socket Mode, driven over the emulator's WebSocket as Slack drives it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from bot.app.build import Runtime, build_runtime
from bot.config import Program, Settings
from sandbox.slack import SlackEmulator, SocketModeUser
from tests.conftest import BOT_TOKEN, FEEDBACK_CHANNEL
from tests.e2e.test_feedback_flow import good_values, rows
from tests.support import wait_until

# Steady-state acks take milliseconds; a stall of a second eats a third of Slack's 3 s deadline.
PROMPT_ACK_SECONDS = 1.0


@pytest.fixture
def socket_bot(slack: SlackEmulator, database_url: str, program: Program) -> Iterator[Runtime]:
    """The bot in Socket Mode (an app token, no signing secret), connected to the emulator."""
    settings = Settings(
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_app_token=SecretStr(slack.app_token),
        slack_signing_secret=None,
        slack_api_url=slack.base_url,
        database_url=database_url,
        host="127.0.0.1",
        port=0,
        _env_file=None,  # type: ignore[call-arg]
    )
    runtime = build_runtime(settings, program)
    try:
        runtime.start()
        slack.socket_mode.wait_for_connections(1)
        yield runtime
    finally:
        # Server side first, as the builtin client's close() otherwise waits out its 3 s socket
        # read; then wait until the bot dropped the socket, since closing it at the same time
        # races in slack_sdk (Connection.disconnect checks sock, then uses it after it was cleared).
        slack.socket_mode.stop()
        try:
            wait_until(lambda: not runtime.ready()[1]["slack"], timeout=5)
        finally:
            runtime.stop()


@pytest.fixture
def socket_user(socket_bot: Runtime, slack: SlackEmulator) -> Iterator[SocketModeUser]:
    """A Slack user whose actions reach the bot as Socket Mode envelopes."""
    user = SocketModeUser(slack.socket_mode, emulator=slack)
    yield user
    user.close()


def readyz(bot: Runtime) -> httpx.Response:
    """The bot's readiness answer."""
    return httpx.get(f"http://127.0.0.1:{bot.port}/readyz", timeout=5)


def test_bot_connects_with_the_app_token(socket_bot: Runtime, slack: SlackEmulator) -> None:
    """At start the bot opens one Socket Mode connection through apps.connections.open."""
    assert [c.method for c in slack.calls if c.method.startswith("apps.")] == [
        "apps.connections.open"
    ]
    assert slack.socket_mode.connections == 1


def test_slash_command_envelope_is_acked_and_opens_the_modal(
    socket_user: SocketModeUser, slack: SlackEmulator
) -> None:
    """`/hypercare` over a slash_commands envelope gets a bare ack and opens the feedback modal."""
    response = socket_user.slash_command()
    assert response.status_code == 200
    assert socket_user.last_ack == {"envelope_id": socket_user.last_envelope_id}
    view = slack.wait_for("views.open")[-1].response["view"]
    assert view["callback_id"] == "hypercare-feedback-modal"
    channel = next(b for b in view["blocks"] if b.get("block_id") == "channel")
    assert channel["element"]["initial_conversation"] == FEEDBACK_CHANNEL


def test_help_is_acked_with_an_ephemeral_payload(
    socket_user: SocketModeUser, slack: SlackEmulator
) -> None:
    """`/hypercare help` acks with an ephemeral payload carrying the help text, and no modal."""
    socket_user.slash_command("help")
    payload = (socket_user.last_ack or {})["payload"]
    assert payload["response_type"] == "ephemeral" and payload["text"]
    assert "Report to hypercare" in json.dumps(payload["blocks"])
    assert slack.calls_to("views.open") == []


def test_view_submission_errors_ride_on_the_ack_and_valid_one_is_stored(
    socket_bot: Runtime, socket_user: SocketModeUser, slack: SlackEmulator
) -> None:
    """An empty summary acks with response_action errors on `summary`; a valid one is stored."""
    socket_user.slash_command()
    view = slack.wait_for("views.open")[-1].response["view"]

    socket_user.submit_view(view, good_values(summary="   "))
    payload = (socket_user.last_ack or {})["payload"]
    assert payload["response_action"] == "errors" and set(payload["errors"]) == {"summary"}
    assert rows(socket_bot) == []

    socket_user.submit_view(view, good_values())
    assert "payload" not in (socket_user.last_ack or {})  # a bare ack closes the modal
    [row] = rows(socket_bot)
    assert row.summary == "Checkout returns 504 for card payments" and row.reporter_id == "U0ALICE"
    receipt = slack.wait_for("chat.postMessage")[0]
    assert receipt.args["channel"] == FEEDBACK_CHANNEL and f"HC-{row.id}" in receipt.args["text"]


def test_readyz_follows_the_socket(socket_bot: Runtime, slack: SlackEmulator) -> None:
    """/readyz is 200 with slack true while connected and turns 503 once the socket server stops."""
    response = readyz(socket_bot)
    assert response.status_code == 200 and response.json()["slack"] is True
    slack.socket_mode.stop()
    # The server's close frame makes the client drop the session at once; allow a margin.
    wait_until(lambda: readyz(socket_bot).status_code == 503, timeout=5)
    assert readyz(socket_bot).json() == {"database": True, "slack": False}


def test_bot_reconnects_after_disconnect_and_still_answers(
    socket_user: SocketModeUser, slack: SlackEmulator
) -> None:
    """After Slack's disconnect message the bot opens a new connection and answers commands."""
    assert slack.socket_mode.disconnect_all() == 1
    log = slack.socket_mode.wait_for_connections(2)
    assert log[0].disconnect_reason == "refresh_requested" and log[1].disconnect_reason is None
    assert len(slack.wait_for("apps.connections.open", count=2)) == 2
    # The client reads the new connection only once it has closed the old one (see the xfail
    # below); a command sent earlier is acked late and its trigger_id has expired by then.
    slack.socket_mode.wait_for_open_connections(1)
    socket_user.slash_command()
    assert socket_user.last_ack == {"envelope_id": socket_user.last_envelope_id}
    slack.wait_for("views.open")


@pytest.mark.xfail(
    strict=True,
    reason="slack_sdk's builtin client closes the old session under its read lock, so it reads "
    "nothing on the new connection until its 3 s socket read times out",
)
def test_command_right_after_a_refresh_is_acked_promptly(
    socket_user: SocketModeUser, slack: SlackEmulator
) -> None:
    """A command arriving just after a refresh is acked promptly, not after a 3 s stall."""
    slack.socket_mode.disconnect_all()
    slack.socket_mode.wait_for_connections(2)
    started = time.monotonic()
    socket_user.slash_command()
    assert time.monotonic() - started < PROMPT_ACK_SECONDS
