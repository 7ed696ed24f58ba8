"""End to end: the bot in Socket Mode, driven over the emulator's WebSocket as Slack drives it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from pydantic import SecretStr

from bot.app.build import Runtime, build_runtime
from bot.app.socket_mode import THREAD_PREFIX
from bot.config import Program, Settings
from sandbox.slack import SlackEmulator, SocketModeUser
from tests.conftest import BOT_TOKEN, FEEDBACK_CHANNEL
from tests.e2e.test_feedback_flow import good_values, rows
from tests.support import wait_until

# Slack shows the user a timeout when an ack comes later than this after it sent the envelope
# (protocols.md A2); the emulator counts it from then too.
SLACK_ACK_DEADLINE = 3.0
# Steady-state acks take milliseconds. slack_sdk's builtin client stalled for up to 3 s after a
# refresh, which a command sent late in the stall survived; half the deadline catches it.
PROMPT_ACK_SECONDS = 1.5


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
        runtime.stop()  # the client closes its connections and ends its threads


@pytest.fixture
def socket_user(socket_bot: Runtime, slack: SlackEmulator) -> Iterator[SocketModeUser]:
    """A Slack user whose actions reach the bot as Socket Mode envelopes."""
    user = SocketModeUser(slack.socket_mode, emulator=slack)
    yield user
    user.close()


def prompt_user(slack: SlackEmulator, deadline: float = SLACK_ACK_DEADLINE) -> SocketModeUser:
    """A Slack user whose every action must be acked within `deadline` s of Slack sending it."""
    return SocketModeUser(slack.socket_mode, emulator=slack, ack_timeout=deadline)


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
    slack.socket_mode.wait_for_open_connections(1)  # the bot let the old connection go
    socket_user.slash_command()
    assert socket_user.last_ack == {"envelope_id": socket_user.last_envelope_id}
    slack.wait_for("views.open")


def test_command_right_after_a_refresh_is_acked_promptly(
    socket_bot: Runtime, slack: SlackEmulator
) -> None:
    """A command arriving just after a refresh is acked promptly (no stall) and answered."""
    slack.socket_mode.disconnect_all()
    slack.socket_mode.wait_for_connections(2)
    with prompt_user(slack, PROMPT_ACK_SECONDS) as user:
        assert user.slash_command().status_code == 200
    slack.wait_for("views.open")


def test_commands_at_every_instant_of_a_refresh_are_acked_and_answered(
    socket_bot: Runtime, slack: SlackEmulator
) -> None:
    """Commands sent just before a refresh, while the new connection awaits its hello and just
    after that hello are each acked within Slack's 3 s and each open the feedback modal."""
    server = slack.socket_mode
    before, during, after = prompt_user(slack), prompt_user(slack), prompt_user(slack)
    # Just before: Slack asks for a new connection right after putting the envelope on the wire.
    before.on_delivered = lambda _envelope: server.disconnect_all()
    with ThreadPoolExecutor(1) as pool:
        with server.holding_hello():
            # The ack cannot wait for the new connection: it has no hello until the block ends.
            assert before.slash_command().status_code == 200
            server.wait_for_held_hellos(1)
            # During: Slack holds the command until a connection is ready for envelopes.
            answer = pool.submit(during.slash_command)
            server.wait_for_queued_envelopes(1)
        assert answer.result(timeout=10).status_code == 200
        assert after.slash_command().status_code == 200  # just after the new hello
    for user in (before, during, after):
        assert user.last_ack == {"envelope_id": user.last_envelope_id}
        user.close()
    assert len(slack.wait_for("views.open", count=3)) == 3
    server.wait_for_open_connections(1)
    assert [c.disconnect_reason for c in server.connection_log] == ["refresh_requested", None]


def test_stop_closes_the_connection_and_ends_the_client_threads(
    socket_bot: Runtime, slack: SlackEmulator
) -> None:
    """Stopping the bot closes its Socket Mode connection and ends every thread of its client."""
    slack.socket_mode.disconnect_all()
    slack.socket_mode.wait_for_connections(2)
    socket_bot.stop()
    slack.socket_mode.wait_for_open_connections(0)
    alive = [t.name for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]
    assert alive == []
