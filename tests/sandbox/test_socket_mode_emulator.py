"""Tests for the Socket Mode emulator, driven through slack_sdk's own builtin SocketModeClient."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from sandbox.slack import SlackEmulator, SocketModeServer, SocketModeUser
from sandbox.slack.workspace import APP_ID
from tests.support import wait_until

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A0HYPER-test"
ROOT = Path(__file__).resolve().parents[2]

Answer = Callable[[SocketModeRequest], dict[str, Any] | None]


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    """A started emulator with an app-level token, stopped after the test."""
    with SlackEmulator(token=BOT_TOKEN, app_token=APP_TOKEN) as emu:
        yield emu


class SdkClient:
    """A builtin SocketModeClient that records every message and acks with `answer`'s payload."""

    def __init__(self, emulator: SlackEmulator) -> None:
        """Create the client against the emulator; connect() opens the socket."""
        self.messages: list[dict[str, Any]] = []
        self.answer: Answer = lambda request: None
        web = WebClient(token=BOT_TOKEN, base_url=emulator.base_url, timeout=5)
        self.client = SocketModeClient(app_token=APP_TOKEN, web_client=web)
        self.client.message_listeners.append(self._record)
        self.client.socket_mode_request_listeners.append(self._ack)
        self._lock = threading.Lock()

    def _record(self, client: Any, message: dict[str, Any], raw: str | None) -> None:
        """Keep every message the client's listeners see (hello and envelopes)."""
        with self._lock:
            self.messages.append(message)

    def _ack(self, client: Any, request: SocketModeRequest) -> None:
        """Ack like Bolt does: with a payload when there is one, else bare."""
        payload = self.answer(request)
        client.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload=payload)
        )

    def hellos(self) -> list[dict[str, Any]]:
        """The hello messages received so far."""
        with self._lock:
            return [m for m in self.messages if m.get("type") == "hello"]


@pytest.fixture
def sdk(emulator: SlackEmulator) -> Iterator[SdkClient]:
    """A connected builtin Socket Mode client, closed after the test."""
    sdk = SdkClient(emulator)
    sdk.client.connect()
    # connect() returns on the handshake; the server records the connection once it sent hello.
    emulator.socket_mode.wait_for_connections(1)
    yield sdk
    # Server side first, as the builtin client's close() otherwise waits out its 3 s socket read;
    # then wait until the client dropped the socket, since closing it at the same time races in
    # slack_sdk (Connection.disconnect checks sock, then uses it after another thread cleared it).
    emulator.socket_mode.stop()
    try:
        wait_until(lambda: not sdk.client.is_connected(), timeout=5)
    finally:
        sdk.client.close()


# -- apps.connections.open -------------------------------------------------------------------------


def test_app_token_opens_a_single_use_loopback_url(emulator: SlackEmulator) -> None:
    """apps.connections.open with the app token answers a ws:// URL on 127.0.0.1 with a ticket."""
    web = WebClient(base_url=emulator.base_url, timeout=5)
    url = web.apps_connections_open(app_token=APP_TOKEN)["url"]
    assert url.startswith(f"ws://127.0.0.1:{emulator.socket_mode.port}/link/?ticket=")
    assert url.endswith(f"&app_id={APP_ID}")
    call = emulator.calls_to("apps.connections.open")[0]
    assert call.status == 200 and "token" not in call.args  # the token travels in the header


@pytest.mark.parametrize(
    ("token", "expected"), [(BOT_TOKEN, "invalid_auth"), ("xapp-1-other", "invalid_auth")]
)
def test_connections_open_refuses_other_tokens(
    emulator: SlackEmulator, token: str, expected: str
) -> None:
    """The bot token, or another app's token, cannot open a Socket Mode connection."""
    web = WebClient(base_url=emulator.base_url, timeout=5)
    with pytest.raises(SlackApiError) as failure:
        web.apps_connections_open(app_token=token)
    assert failure.value.response["error"] == expected


def test_connections_open_reads_the_token_from_the_header_only(emulator: SlackEmulator) -> None:
    """An app token passed as a POST parameter is not looked at, as Slack's docs say."""
    answer = httpx.post(
        emulator.base_url + "apps.connections.open", data={"token": APP_TOKEN}, timeout=5
    ).json()
    assert answer == {"ok": False, "error": "not_authed"}


def test_app_token_is_refused_for_ordinary_methods(emulator: SlackEmulator) -> None:
    """The app-level token cannot post messages or pass auth.test."""
    web = WebClient(token=APP_TOKEN, base_url=emulator.base_url, timeout=5)
    with pytest.raises(SlackApiError) as failure:
        web.auth_test()
    assert failure.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as failure:
        web.chat_postMessage(channel="C1", text="hi")
    assert failure.value.response["error"] == "invalid_auth"


# -- the WebSocket ---------------------------------------------------------------------------------


def test_client_connects_over_ws_and_gets_hello(emulator: SlackEmulator, sdk: SdkClient) -> None:
    """slack_sdk's builtin client connects to the ws:// URL and receives Slack's hello."""
    assert sdk.client.is_connected()
    wait_until(lambda: len(sdk.hellos()) == 1, timeout=5)
    hello = sdk.hellos()[0]
    assert hello["connection_info"] == {"app_id": APP_ID}
    assert hello["num_connections"] == 1 and isinstance(hello["debug_info"], dict)
    [record] = emulator.socket_mode.connection_log
    # The builtin client authenticates with the ticket alone: no Authorization, no Origin.
    assert record.open and "authorization" not in record.headers and "origin" not in record.headers
    assert record.headers["sec-websocket-version"] == "13"


def test_tickets_are_single_use_and_must_be_issued() -> None:
    """A URL works once; a reused or forged ticket is refused with 401 at the handshake."""
    server = SocketModeServer().start()
    try:
        url = server.issue_url()
        with connect(url) as first:
            assert json.loads(first.recv(timeout=5))["type"] == "hello"
        forged = url.split("?")[0] + "?ticket=forged&app_id=" + APP_ID
        for again in (url, forged):
            with pytest.raises(InvalidStatus) as refused:
                connect(again)
            assert refused.value.response.status_code == 401
        assert server.rejected_handshakes == 2
    finally:
        server.stop()


def test_envelope_ack_is_recorded_with_its_payload(emulator: SlackEmulator, sdk: SdkClient) -> None:
    """The client's ack comes back under the envelope id, with the payload it carried."""
    sdk.answer = lambda request: {"text": f"got {request.payload['command']}"}
    server = emulator.socket_mode
    envelope_id = server.send_envelope(
        "slash_commands", {"command": "/hypercare", "text": ""}, accepts_response_payload=True
    )
    ack = server.wait_for_ack(envelope_id)
    assert ack == {"envelope_id": envelope_id, "payload": {"text": "got /hypercare"}}
    envelope = next(m for m in sdk.messages if m.get("envelope_id") == envelope_id)
    assert envelope["type"] == "slash_commands" and envelope["accepts_response_payload"] is True
    assert "retry_attempt" not in envelope  # only Events API envelopes are retried


def test_bare_ack_has_no_payload(emulator: SlackEmulator, sdk: SdkClient) -> None:
    """An ack without a response is just the envelope id; events carry retry fields."""
    server = emulator.socket_mode
    envelope_id = server.send_envelope("events_api", {"type": "event_callback"})
    assert server.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    envelope = server.envelope(envelope_id)
    assert (envelope["retry_attempt"], envelope["retry_reason"]) == (0, "")
    assert envelope["accepts_response_payload"] is False


def test_missing_ack_fails_the_wait_with_a_reason(emulator: SlackEmulator) -> None:
    """wait_for_ack gives up after its timeout and says why an ack may be missing."""
    server = SocketModeServer().start()
    try:
        url = server.issue_url()
        with connect(url) as silent:  # a client that never acks
            silent.recv(timeout=5)
            envelope_id = server.send_envelope("interactive", {"type": "block_actions"})
            with pytest.raises(AssertionError, match="no ack for interactive envelope"):
                server.wait_for_ack(envelope_id, timeout=0.2)
    finally:
        server.stop()


def test_send_without_a_connection_fails_within_its_timeout() -> None:
    """send_envelope waits a bounded time for a connection, then fails clearly."""
    server = SocketModeServer().start()
    try:
        with pytest.raises(AssertionError, match="no open Socket Mode connection"):
            server.send_envelope("events_api", {}, timeout=0.1)
        with pytest.raises(ValueError, match="envelope type"):
            server.send_envelope("block_actions", {})
    finally:
        server.stop()


def test_held_hello_queues_envelopes_until_the_hello_goes_out() -> None:
    """While hellos are held a new connection gets no hello and no envelope: an envelope waits,
    queued, and is delivered right after the hello once the hold ends."""
    server = SocketModeServer().start()
    try:
        with ExitStack() as stack, ThreadPoolExecutor(1) as pool:
            with server.holding_hello():
                client = stack.enter_context(connect(server.issue_url()))
                server.wait_for_held_hellos(1)
                sent = pool.submit(server.send_envelope, "events_api", {"type": "event_callback"})
                server.wait_for_queued_envelopes(1)
                with pytest.raises(TimeoutError):
                    client.recv(timeout=0.1)  # nothing, not even the hello, while held
            assert json.loads(client.recv(timeout=5))["type"] == "hello"
            envelope_id = sent.result(timeout=5)
            assert json.loads(client.recv(timeout=5))["envelope_id"] == envelope_id
            client.send(json.dumps({"envelope_id": envelope_id}))
            assert server.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    finally:
        server.stop()


def test_disconnect_makes_the_client_reconnect(emulator: SlackEmulator, sdk: SdkClient) -> None:
    """After a disconnect message the client opens a new connection and envelopes flow on it."""
    server = emulator.socket_mode
    assert server.disconnect_all() == 1
    log = server.wait_for_connections(2)
    assert log[0].disconnect_reason == "refresh_requested" and log[1].disconnect_reason is None
    assert log[1].ticket != log[0].ticket  # a fresh URL from apps.connections.open
    assert len(emulator.wait_for("apps.connections.open", count=2)) == 2
    server.wait_for_open_connections(1)  # the client closed the old one itself
    assert not server.connection_log[0].open
    envelope_id = server.send_envelope("events_api", {"type": "event_callback"})
    assert server.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    wait_until(lambda: len(sdk.hellos()) == 2, timeout=5)


def test_stopped_server_drops_the_client(emulator: SlackEmulator, sdk: SdkClient) -> None:
    """Stopping the server closes the socket; the client notices at once and is disconnected."""
    server = emulator.socket_mode
    server.stop()
    wait_until(lambda: not sdk.client.is_connected(), timeout=5)
    assert server.connections == 0 and not server.running
    # apps.connections.open keeps answering, with a URL that no longer connects.
    with pytest.raises(OSError):
        connect(server.issue_url(), open_timeout=1)


def test_emulator_stop_stops_the_socket_server(emulator: SlackEmulator, sdk: SdkClient) -> None:
    """Stopping the emulator also stops its Socket Mode server."""
    emulator.stop()
    assert not emulator.socket_mode.running
    wait_until(lambda: not sdk.client.is_connected(), timeout=5)


# -- the user, over Socket Mode --------------------------------------------------------------------


def test_user_actions_arrive_as_slack_shaped_envelopes(
    emulator: SlackEmulator, sdk: SdkClient
) -> None:
    """Commands, shortcuts and submissions reuse the HTTP payloads, with Slack's envelope flags."""
    sdk.answer = lambda request: (
        {"response_action": "clear"} if request.type == "interactive" else None
    )
    user = SocketModeUser(emulator.socket_mode, emulator=emulator)
    try:
        command = user.slash_command("hello", channel_id="C0FEEDBACK")
        assert command.status_code == 200 and command.text == ""
        sent = emulator.socket_mode.envelope(user.last_envelope_id or "")
        assert sent["type"] == "slash_commands" and sent["accepts_response_payload"] is True
        # Slash commands keep their form fields as strings, as Slack sends them.
        assert (
            sent["payload"]["text"] == "hello"
            and sent["payload"]["is_enterprise_install"] == "false"
        )

        user.message_shortcut(
            callback_id="report", message_text="it broke", message_ts="1.000100", channel_id="C0G"
        )
        sent = emulator.socket_mode.envelope(user.last_envelope_id or "")
        assert sent["type"] == "interactive" and sent["accepts_response_payload"] is False
        assert sent["payload"]["type"] == "message_action"
        assert emulator.message("C0G", "1.000100")["text"] == "it broke"

        view = {"id": "V1", "blocks": [], "callback_id": "c"}
        submitted = user.submit_view(view, {})
        sent = emulator.socket_mode.envelope(user.last_envelope_id or "")
        assert sent["payload"]["type"] == "view_submission"
        assert sent["accepts_response_payload"] is True  # response_action rides on the ack
        assert submitted.json() == {"response_action": "clear"}
        assert user.last_ack == {
            "envelope_id": user.last_envelope_id,
            "payload": {"response_action": "clear"},
        }
    finally:
        user.close()


def test_user_refuses_http_only_options(emulator: SlackEmulator) -> None:
    """Signatures, timestamps and headers have no meaning in Socket Mode, so they are refused."""
    user = SocketModeUser(emulator.socket_mode)
    try:
        with pytest.raises(ValueError, match="Socket Mode"):
            user.send_raw("command=/hypercare", sign=False)
    finally:
        user.close()


def test_sandbox_imports_without_websockets() -> None:
    """`import sandbox.slack` works where websockets is not installed."""
    code = "import sys; sys.modules['websockets'] = None; import sandbox.slack; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.stdout.strip() == "ok", result.stderr
