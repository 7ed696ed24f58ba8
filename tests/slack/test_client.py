"""The pooled Web API client against the Slack emulator: kept-alive connections, same errors."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from bot.errors import DeliveryDeferred, DeliveryRefused
from bot.slack.client import PooledWebClient, make_client
from bot.slack.notifier import slack_call
from sandbox.slack import SlackEmulator

TOKEN = "xoxb-test-token"


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    """A started emulator, stopped after the test."""
    with SlackEmulator(token=TOKEN) as emu:
        yield emu


@pytest.fixture
def client(emulator: SlackEmulator) -> Iterator[PooledWebClient]:
    """The bot's client, as build_runtime makes it, pointed at the emulator."""
    made = make_client(TOKEN, emulator.base_url)
    yield made
    made.close()


@pytest.fixture(autouse=True)
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk's retry handlers sleep Retry-After plus random(): keep the random part zero."""
    monkeypatch.setattr(random, "random", lambda: 0.0)


def test_calls_one_after_another_share_one_connection(
    emulator: SlackEmulator, client: PooledWebClient
) -> None:
    """Thirty calls in a row travel over a single kept-alive connection."""
    for number in range(30):
        assert client.chat_postMessage(channel="C1", text=f"message {number}")["ok"] is True
    assert len(emulator.calls_to("chat.postMessage")) == 30
    assert emulator.connections == 1


def test_concurrent_calls_reuse_connections(emulator: SlackEmulator) -> None:
    """Two hundred calls from eight threads open a connection per thread at most, not per call."""
    pooled = PooledWebClient(token=TOKEN, base_url=emulator.base_url, timeout=5, pool_size=4)
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda n: pooled.chat_postMessage(channel="C1", text=str(n)), range(200))
            )
    finally:
        pooled.close()
    assert all(answer["ok"] for answer in answers)
    assert len({answer["ts"] for answer in answers}) == 200
    assert 1 <= emulator.connections <= 8


def test_rate_limit_is_retried_then_deferred_with_retry_after(
    emulator: SlackEmulator, client: PooledWebClient
) -> None:
    """A 429 is retried once after Retry-After; a second one defers the call, keeping the wait."""
    emulator.fail_next("chat.postMessage", status=429, retry_after=0)
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True
    emulator.fail_next("chat.postMessage", status=429, retry_after=0, times=2)
    with pytest.raises(DeliveryDeferred) as deferred:
        slack_call("chat.postMessage", lambda: client.chat_postMessage(channel="C1", text="y"))
    assert deferred.value.retry_after == 0
    assert [c.status for c in emulator.calls_to("chat.postMessage")] == [429, 200, 429, 429]


def test_server_errors_defer_and_api_errors_refuse(
    emulator: SlackEmulator, client: PooledWebClient
) -> None:
    """A 5xx is worth another try later; an API error such as channel_not_found is final."""
    emulator.fail_next("chat.postMessage", status=503)
    with pytest.raises(DeliveryDeferred, match="HTTP 503"):
        slack_call("chat.postMessage", lambda: client.chat_postMessage(channel="C1", text="x"))
    emulator.fail_next("chat.postMessage", status=200, error="channel_not_found")
    with pytest.raises(DeliveryRefused, match="channel_not_found"):
        slack_call("chat.postMessage", lambda: client.chat_postMessage(channel="C1", text="x"))


def test_unreachable_slack_defers() -> None:
    """Nothing listening on Slack's port defers the call (after one reconnect), never crashes."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = make_client(TOKEN, f"http://127.0.0.1:{port}/api/")
    try:
        with pytest.raises(DeliveryDeferred, match=r"chat\.postMessage"):
            slack_call("chat.postMessage", lambda: dead.chat_postMessage(channel="C1", text="x"))
    finally:
        dead.close()


def test_a_slow_answer_times_out_as_a_deferral(emulator: SlackEmulator) -> None:
    """An answer slower than the client's timeout defers the call instead of hanging."""
    emulator.set_latency("chat.postMessage", 2.0)
    hasty = PooledWebClient(token=TOKEN, base_url=emulator.base_url, timeout=1)
    try:
        with pytest.raises(DeliveryDeferred):
            slack_call("chat.postMessage", lambda: hasty.chat_postMessage(channel="C1", text="x"))
    finally:
        hasty.close()


def test_an_answer_is_decoded_in_the_charset_its_content_type_names() -> None:
    """A success's body is read in its Content-Type's charset (UTF-8 when it names none)."""
    text = '{"ok": true, "name": "Zoë"}'
    answers = iter(
        [
            ("application/json; charset=ISO-8859-1", text.encode("latin-1")),
            ("application/json", text.encode()),
        ]
    )

    class Answer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            content_type, body = next(answers)
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    Thread(target=server.serve_forever, daemon=True).start()
    made = make_client(TOKEN, f"http://127.0.0.1:{server.server_address[1]}/api/")
    try:
        assert made.api_call("auth.test")["name"] == "Zoë"
        latest = made.api_call("auth.test")
        assert latest["name"] == "Zoë"
        assert latest.headers["Content-Type"] == "application/json"
    finally:
        made.close()
        server.shutdown()
        server.server_close()
