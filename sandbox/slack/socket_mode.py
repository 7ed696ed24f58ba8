"""A Slack Socket Mode endpoint on 127.0.0.1: it hands envelopes to the bot and records its acks.

The flow is Slack's (protocols.md A7): the app-level token calls `apps.connections.open` on the
emulator, which answers with a single-use `ws://127.0.0.1:<port>/link/?ticket=…` URL of a
`SocketModeServer`; the server greets each connection with `hello`, sends `events_api`,
`interactive` and `slash_commands` envelopes, and keeps every ack the client sends back.

Slack's clock runs from the moment it is asked to send an envelope: an ack is awaited within a
deadline counted from then. A test may hold the hello of new connections (`holding_hello`) to act
while a refresh is half done.

`websockets` (the bot's own Socket Mode library too) is imported only when a server starts, so
`sandbox.slack` imports without it.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx

from sandbox.slack.user import SlackUserSimulator
from sandbox.slack.workspace import APP_ID, JsonDict

if TYPE_CHECKING:
    from websockets.http11 import Request, Response
    from websockets.sync.server import Server, ServerConnection

    from sandbox.slack.api import SlackEmulator

ENVELOPE_TYPES = ("events_api", "interactive", "slash_commands")
LINK_PATH = "/link/"
# Interactive payloads whose ack may carry a response (response_action, options); Slack ignores a
# payload in the ack of any other interactive envelope.
RESPONSE_PAYLOAD_TYPES = frozenset({"view_submission", "block_suggestion"})
# Slack's hello and disconnect messages carry this; the bot only logs it.
_DEBUG_INFO = {"host": "applink-sandbox", "build_number": 1, "approximate_connection_time": 18060}
# Bounds stop(): the builtin client drops the socket on a close frame without answering it.
_CLOSE_TIMEOUT = 2.0


@dataclass(frozen=True)
class SocketConnection:
    """One WebSocket connection a client opened, as the server saw it."""

    number: int
    ticket: str
    headers: dict[str, str]
    opened_at: float
    closed_at: float | None = None
    disconnect_reason: str | None = None  # set once the server asked the client to reconnect

    @property
    def open(self) -> bool:
        """Whether the connection is still open."""
        return self.closed_at is None


class SocketModeServer:
    """Fake of Slack's Socket Mode WebSocket endpoint, served on 127.0.0.1."""

    def __init__(self, app_id: str = APP_ID) -> None:
        """Configure the app id sent in hello; call start() to serve."""
        self.app_id = app_id
        # One condition guards all state and wakes the waits whenever a connection or ack changes.
        self._cond = threading.Condition()
        self._tickets: set[str] = set()
        self._records: list[SocketConnection] = []
        self._live: dict[int, ServerConnection] = {}
        self._sent: dict[str, JsonDict] = {}
        self._requested_at: dict[str, float] = {}  # monotonic time Slack was asked to send each
        self._queued = 0  # envelopes waiting for a connection to deliver on
        self._hello_gate = threading.Event()  # cleared while hellos are held
        self._hello_gate.set()
        self._awaiting_hello = 0
        self._acks: list[JsonDict] = []
        self._unexpected: list[str] = []
        self._rejected = 0
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> SocketModeServer:
        """Bind an ephemeral port on 127.0.0.1 and serve from a daemon thread."""
        from websockets.sync.server import serve

        if self._server is None:
            self._server = serve(
                self._serve_connection,
                "127.0.0.1",
                0,
                process_request=self._check_ticket,
                close_timeout=_CLOSE_TIMEOUT,
            )
            self._port = int(self._server.socket.getsockname()[1])
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="socket-mode", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Close every connection with 1001 (going away) and stop listening; URLs stay dead."""
        if self._server is None:
            return
        self._hello_gate.set()  # a connection held before its hello must not outlive the server
        with self._cond:
            live = list(self._live.values())
        # Closed here, not left to shutdown(): websockets 13 leaves open connections open.
        for connection in live:
            connection.close(1001, "server stopping")
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The port served on (kept after stop(), so issued URLs point at a closed port)."""
        if self._port is None:
            raise RuntimeError("SocketModeServer was never started")
        return self._port

    def issue_url(self) -> str:
        """A fresh single-use WebSocket URL, the one `apps.connections.open` answers with."""
        port = self.port
        ticket = str(uuid.uuid4())
        with self._cond:
            self._tickets.add(ticket)
        # After stop() the port is closed: the URL then fails like an unreachable Slack.
        return f"ws://127.0.0.1:{port}{LINK_PATH}?ticket={ticket}&app_id={self.app_id}"

    # -- what Slack does ---------------------------------------------------------------------------

    def send_envelope(
        self,
        type: str,
        payload: JsonDict,
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 5.0,
    ) -> str:
        """Send one envelope on the newest open connection (waiting for one) and return its id.

        Slack's 3-second clock starts here, before any wait for a connection (see wait_for_ack).
        """
        from websockets.exceptions import ConnectionClosed

        if type not in ENVELOPE_TYPES:
            raise ValueError(f"envelope type must be one of {ENVELOPE_TYPES}, not {type!r}")
        envelope_id = str(uuid.uuid4())
        envelope: JsonDict = {
            "envelope_id": envelope_id,
            "type": type,
            "payload": copy.deepcopy(payload),
            "accepts_response_payload": accepts_response_payload,
        }
        if type == "events_api":
            # Only Events API deliveries are retried by Slack, so only they carry retry fields.
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        text = json.dumps(envelope)
        with self._cond:
            self._sent[envelope_id] = envelope  # before sending, so a fast ack finds its envelope
            self._requested_at[envelope_id] = time.monotonic()
        deadline = time.monotonic() + timeout
        while True:
            connection = self._pick_connection(deadline)
            try:
                connection.send(text)
                return envelope_id
            except ConnectionClosed as exc:
                # It closed between the pick and the send; Slack delivers on another connection.
                if time.monotonic() >= deadline:
                    raise AssertionError(f"could not deliver envelope {envelope_id}") from exc
                self._wait_retired(connection)

    def disconnect_all(self, reason: str = "refresh_requested") -> int:
        """Ask every open connection to reconnect, as Slack does; returns how many were asked."""
        from websockets.exceptions import ConnectionClosed

        message = json.dumps({"type": "disconnect", "reason": reason, "debug_info": _DEBUG_INFO})
        with self._cond:
            targets = [
                (number, connection)
                for number, connection in self._live.items()
                if self._records[number - 1].disconnect_reason is None
            ]
            for number, _ in targets:
                self._update(number, disconnect_reason=reason)
        for _, connection in targets:
            try:
                connection.send(message)
            except ConnectionClosed:
                continue  # already closing: it needs no telling
        return len(targets)

    @contextmanager
    def holding_hello(self) -> Iterator[None]:
        """Within the block, new connections complete their handshake but get no hello (so no
        envelopes) yet: a refresh stays half done; the held hellos go out when the block ends."""
        self._hello_gate.clear()
        try:
            yield
        finally:
            self._hello_gate.set()

    # -- recorded traffic --------------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """How many connections are open right now."""
        with self._cond:
            return len(self._live)

    @property
    def connection_log(self) -> list[SocketConnection]:
        """Every connection accepted so far, in order, open or closed."""
        with self._cond:
            return list(self._records)

    @property
    def rejected_handshakes(self) -> int:
        """How many handshakes were refused for a missing, unknown or reused ticket."""
        with self._cond:
            return self._rejected

    @property
    def acks(self) -> list[JsonDict]:
        """Every ack received, in order."""
        with self._cond:
            return copy.deepcopy(self._acks)

    @property
    def unexpected_messages(self) -> list[str]:
        """Messages from clients that are not acks (Slack drops them)."""
        with self._cond:
            return list(self._unexpected)

    def envelope(self, envelope_id: str) -> JsonDict:
        """An envelope as it was sent; KeyError when unknown."""
        with self._cond:
            return copy.deepcopy(self._sent[envelope_id])

    def wait_for_connections(self, total: int, timeout: float = 5.0) -> list[SocketConnection]:
        """Block until `total` connections were accepted in all (open now or not), and list them."""
        with self._cond:
            if self._cond.wait_for(lambda: len(self._records) >= total, timeout=timeout):
                return list(self._records)
            raise AssertionError(
                f"expected {total} Socket Mode connection(s) within {timeout}s, "
                f"got {len(self._records)} (rejected handshakes: {self._rejected})"
            )

    def wait_for_open_connections(self, count: int, timeout: float = 5.0) -> None:
        """Block until exactly `count` connections are open (say, the old one closed on refresh)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._live) == count, timeout=timeout):
                raise AssertionError(
                    f"expected {count} open Socket Mode connection(s) within {timeout}s, "
                    f"got {len(self._live)}"
                )

    def wait_for_held_hellos(self, count: int, timeout: float = 5.0) -> None:
        """Block until `count` new connections wait for their hello (see holding_hello)."""
        self._wait(lambda: self._awaiting_hello >= count, timeout, f"{count} held hello(s)")

    def wait_for_queued_envelopes(self, count: int, timeout: float = 5.0) -> None:
        """Block until `count` envelopes wait for a connection to be delivered on."""
        self._wait(lambda: self._queued >= count, timeout, f"{count} queued envelope(s)")

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> JsonDict:
        """Block until the client acks `envelope_id`, and return its ack (with any `payload`).

        The `timeout` counts from the moment Slack was asked to send the envelope, as Slack's
        3-second deadline does: an envelope that waited for a connection has that much less.
        """

        def found() -> JsonDict | None:
            return next((a for a in self._acks if a.get("envelope_id") == envelope_id), None)

        with self._cond:
            started = self._requested_at.get(envelope_id, time.monotonic())
            remaining = max(0.0, started + timeout - time.monotonic())
            if self._cond.wait_for(lambda: found() is not None, timeout=remaining):
                return copy.deepcopy(found() or {})
            kind = self._sent.get(envelope_id, {}).get("type", "unknown")
            raise AssertionError(
                f"no ack for {kind} envelope {envelope_id} within {timeout}s of sending it "
                f"(acks so far: {len(self._acks)}, open connections: {len(self._live)}); "
                "Bolt sends none when the listener answered with a non-200 status"
            )

    # -- connection handling -----------------------------------------------------------------------

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse handshakes whose ticket was not issued by issue_url() or was used already."""
        parts = urlsplit(request.path)
        ticket = (parse_qs(parts.query).get("ticket") or [""])[0]
        with self._cond:
            if parts.path == LINK_PATH and ticket in self._tickets:
                self._tickets.discard(ticket)
                return None
            self._rejected += 1
            self._cond.notify_all()
        return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid_ticket\n")

    def _serve_connection(self, connection: ServerConnection) -> None:
        """Greet one connection with hello, then record what it sends until it closes."""
        from websockets.exceptions import ConnectionClosed

        request = connection.request
        assert request is not None  # the handler only runs after a completed handshake
        if not self._hello_gate.is_set():
            with self._cond:
                self._awaiting_hello += 1
                self._cond.notify_all()
            self._hello_gate.wait()
            with self._cond:
                self._awaiting_hello -= 1
        with self._cond:
            hello = {
                "type": "hello",
                "num_connections": len(self._live) + 1,
                "debug_info": _DEBUG_INFO,
                "connection_info": {"app_id": self.app_id},
            }
        try:
            connection.send(json.dumps(hello))
        except ConnectionClosed:
            return
        with self._cond:
            # Recorded only once greeted: a connection that waits can be sent envelopes at once.
            number = len(self._records) + 1
            self._records.append(
                SocketConnection(
                    number=number,
                    ticket=(parse_qs(urlsplit(request.path).query).get("ticket") or [""])[0],
                    headers={name.lower(): value for name, value in request.headers.raw_items()},
                    opened_at=time.time(),
                )
            )
            self._live[number] = connection
            self._cond.notify_all()
        try:
            for message in connection:
                self._receive(message)
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                self._live.pop(number, None)
                self._update(number, closed_at=time.time())
                self._cond.notify_all()

    def _receive(self, message: str | bytes) -> None:
        """Record one message from the client: an ack, or anything else as unexpected."""
        text = message.decode("utf-8", errors="replace") if isinstance(message, bytes) else message
        try:
            decoded: Any = json.loads(text)
        except json.JSONDecodeError:
            decoded = None
        with self._cond:
            if isinstance(decoded, dict) and isinstance(decoded.get("envelope_id"), str):
                self._acks.append(decoded)
            else:
                self._unexpected.append(text)
            self._cond.notify_all()

    def _pick_connection(self, deadline: float) -> ServerConnection:
        """The newest open connection not asked to reconnect, waiting until `deadline` for one."""

        def usable() -> list[ServerConnection]:
            return [
                connection
                for number, connection in sorted(self._live.items(), reverse=True)
                if self._records[number - 1].disconnect_reason is None
            ]

        with self._cond:
            remaining = max(0.0, deadline - time.monotonic())
            self._queued += 1
            self._cond.notify_all()
            try:
                found = self._cond.wait_for(lambda: bool(usable()), timeout=remaining)
            finally:
                self._queued -= 1
            if found:
                return usable()[0]
            raise AssertionError(
                f"no open Socket Mode connection to deliver on (accepted so far: "
                f"{len(self._records)}, rejected handshakes: {self._rejected})"
            )

    def _wait_retired(self, connection: ServerConnection) -> None:
        """Wait (briefly) until a closed connection's handler removed it from the open ones."""
        with self._cond:
            self._cond.wait_for(lambda: connection not in self._live.values(), timeout=1.0)

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Block until `condition` holds (checked under the lock), failing after `timeout` s."""
        with self._cond:
            if not self._cond.wait_for(condition, timeout=timeout):
                raise AssertionError(f"expected {what} within {timeout}s")

    def _update(self, number: int, **changes: Any) -> None:
        """Replace a connection record with changed fields; the caller holds the lock."""
        self._records[number - 1] = replace(self._records[number - 1], **changes)


class SocketModeUser(SlackUserSimulator):
    """Plays a Slack user over Socket Mode: the HTTP simulator's payloads, sent as envelopes.

    Every action of `SlackUserSimulator` (slash_command, message_shortcut, submit_view,
    click_button) builds the same payload and goes through the one `send_raw`, whose `deliver`
    this class turns into an envelope (the HTTP headers stay behind). The ack comes back as the
    HTTP answer Bolt would have given: its `payload` as a JSON body, a bare ack as an empty 200.
    """

    transport = "Socket Mode"

    def __init__(
        self,
        server: SocketModeServer,
        emulator: SlackEmulator | None = None,
        team_id: str = "T0HYPER",
        ack_timeout: float = 5.0,
    ) -> None:
        """Deliver through `server`; an emulator, if given, supplies views and triggers."""
        # No URL and no signing secret: Socket Mode carries neither (Bolt skips verification).
        super().__init__("", "unused-in-socket-mode", emulator=emulator, team_id=team_id)
        self.server = server
        self.ack_timeout = ack_timeout
        self.last_envelope_id: str | None = None
        self.last_ack: JsonDict | None = None
        # Called with the envelope id once it is on the wire, before the ack is awaited: a test
        # can act at that instant (say, have Slack refresh the connection).
        self.on_delivered: Callable[[str], object] | None = None

    def deliver(self, raw: bytes, headers: dict[str, str]) -> httpx.Response:
        """Send an HTTP-mode body as its envelope, wait for the ack and return it as a response."""
        kind, payload, accepts = envelope_for_body(raw)
        self.last_envelope_id = self.server.send_envelope(
            kind, payload, accepts_response_payload=accepts
        )
        if self.on_delivered is not None:
            self.on_delivered(self.last_envelope_id)
        self.last_ack = self.server.wait_for_ack(self.last_envelope_id, timeout=self.ack_timeout)
        return response_for_ack(self.last_ack)


def envelope_for_body(body: bytes | str) -> tuple[str, JsonDict, bool]:
    """The (type, payload, accepts_response_payload) Slack sends for an HTTP-mode request body."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if text.lstrip().startswith("{"):
        # A JSON body is an Events API callback; Slack takes no response payload for events.
        return "events_api", json.loads(text), False
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if set(fields) == {"payload"}:
        payload = json.loads(fields["payload"])
        return "interactive", payload, payload.get("type") in RESPONSE_PAYLOAD_TYPES
    # Slash commands keep their flat form fields, all strings, inside the envelope.
    return "slash_commands", fields, True


def response_for_ack(ack: JsonDict) -> httpx.Response:
    """The HTTP answer equivalent to an ack: its payload as JSON, or an empty 200."""
    if "payload" in ack:
        return httpx.Response(200, json=ack["payload"])
    return httpx.Response(200)
