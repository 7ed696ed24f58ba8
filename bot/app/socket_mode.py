"""Socket Mode for the Bolt app, with overlapping connections so a refresh never stops the reading.

Slack refreshes a Socket Mode connection routinely: it sends `disconnect` (reason
`refresh_requested`) and the app opens a new connection. slack_sdk's clients swap the connection
in place, and the one thread that reads is busy closing the old connection meanwhile: the builtin
client reads nothing on the new connection for about 3 s, the websocket-client one can stop
reading for good. A command typed in that instant misses Slack's 3-second deadline.

Here every connection has its own reader thread and the new one is opened before the old one is
let go (make before break): the old connection is read until the new one has said hello, then
closed. Envelopes go through slack_sdk's `BaseSocketModeClient` (its queue and listener pool) and
Bolt's own Socket Mode glue (`run_bolt_app`, `send_response`), as with slack_sdk's clients; the
WebSocket itself is `websockets`' threaded client, whose close is safe from any thread and whose
keepalive pings find a dead connection.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from queue import Queue
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.base_handler import BaseSocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk import WebClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.interval_runner import IntervalRunner
from slack_sdk.socket_mode.request import SocketModeRequest
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect

log = logging.getLogger(__name__)

PING_INTERVAL = 5.0  # a connection that answers no ping for PING_INTERVAL + PING_TIMEOUT is dropped
PING_TIMEOUT = 5.0
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0  # Slack need not answer our close handshake; bounds replacing and stopping
RETRY_FIRST, RETRY_CAP = 1.0, 30.0  # backoff between failed attempts to open a connection
JOIN_TIMEOUT = 5.0
THREAD_PREFIX = "slack-socket"  # every thread of the client is named so
CHECK_EVERY = 5.0  # the supervisor looks at the connections this often, and whenever woken


@dataclass(eq=False)
class _Link:
    """One WebSocket connection to Slack and what is known of it."""

    number: int
    connection: ClientConnection
    greeted: bool = False  # Slack said hello: envelopes may arrive on it
    leaving: bool = False  # Slack asked for a new connection, or the client is stopping
    closing: bool = False  # the client started closing it: acks go elsewhere

    @property
    def sendable(self) -> bool:
        """Whether an ack can go out on it now, without waiting."""
        return not self.closing and self.connection.state is State.OPEN


def _envelope_id(message: str) -> str | None:
    """The envelope id an outgoing ack answers, if any."""
    try:
        decoded: Any = json.loads(message)
    except ValueError:
        return None
    envelope_id = decoded.get("envelope_id") if isinstance(decoded, dict) else None
    return envelope_id if isinstance(envelope_id, str) else None


class OverlappingSocketModeClient(BaseSocketModeClient):
    """A Socket Mode client that opens a connection's successor before it lets the connection go.

    One supervisor thread decides when to open and close connections (on Slack's `disconnect`,
    when a connection drops, after a successor's hello); each connection's own reader thread opens
    it and reads it to the end, so no reading ever waits on a closing socket. An ack goes back on
    the connection its envelope came on while that one is open.
    """

    def __init__(
        self,
        app_token: str,
        *,
        web_client: WebClient,
        logger: logging.Logger | None = None,
        concurrency: int = 10,
    ) -> None:
        """Prepare the client; connect() opens the first connection."""
        # The attributes BaseSocketModeClient works with (issue_new_wss_url, process_messages).
        self.app_token = app_token
        self.web_client = web_client
        self.logger = logger or log
        self.wss_uri = ""  # unused: every connection asks apps.connections.open for its own URL
        self.message_queue = Queue()
        self.message_listeners = []
        self.socket_mode_request_listeners = []
        self.closed = False
        self.connect_operation_lock = threading.Lock()
        self.message_workers = ThreadPoolExecutor(
            concurrency, thread_name_prefix=f"{THREAD_PREFIX}-listener"
        )
        self.message_processor = IntervalRunner(self.process_messages, 0.001)
        self.message_processor.thread.name = f"{THREAD_PREFIX}-queue"
        self._cond = threading.Condition()
        self._links: list[_Link] = []
        self._readers: list[threading.Thread] = []  # one per connection, until it has ended
        self._origins: dict[str, _Link] = {}  # envelope id -> the connection it arrived on
        self._numbers = itertools.count(1)
        self._kick = threading.Event()  # wakes the supervisor
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the first connection (raising if Slack refuses it), then keep one open."""
        self._open()
        if self._supervisor is None:
            self.message_processor.start()
            self._supervisor = threading.Thread(
                target=self._supervise, name=f"{THREAD_PREFIX}-supervisor", daemon=True
            )
            self._supervisor.start()

    def connect_to_new_endpoint(self, force: bool = False) -> None:
        """Have the supervisor open a new connection (slack_sdk's entry point for reconnecting)."""
        if force:
            with self._cond:
                for link in self._links:
                    link.leaving = True
        self._kick.set()

    def disconnect(self) -> None:
        """Close every open connection; the supervisor opens a new one unless the client closed."""
        with self._cond:
            links = list(self._links)
            for link in links:
                link.leaving = link.closing = True
        for link in links:
            link.connection.close()

    def close(self) -> None:
        """Close the connections and stop every thread of the client, waiting for them to end."""
        self.closed = True
        self._stopping.set()
        self._kick.set()
        if self._supervisor is not None:
            self._supervisor.join(JOIN_TIMEOUT)
        self.disconnect()
        with self._cond:
            readers = list(self._readers)
        for reader in readers:
            reader.join(JOIN_TIMEOUT)
        if self.message_processor.is_alive():
            self.message_processor.shutdown()  # type: ignore[no-untyped-call]
        self.message_workers.shutdown(wait=True)

    def is_connected(self) -> bool:
        """Whether some connection to Slack is open (during a refresh, the old or the new one)."""
        with self._cond:
            return any(link.connection.state is State.OPEN for link in self._links)

    # -- sending -----------------------------------------------------------------------------------

    def send_message(self, message: str) -> None:
        """Send an ack on the connection its envelope came on, or else on the newest open one."""
        envelope_id = _envelope_id(message)
        with self._cond:
            origin = self._origins.pop(envelope_id, None) if envelope_id else None
            newest_first = sorted(self._links, key=lambda link: (link.leaving, -link.number))
        candidates = ([origin] if origin is not None else []) + newest_first
        for link in candidates:
            if not link.sendable:
                continue  # sending on a closing connection would wait for its close
            try:
                link.connection.send(message)
                return
            except ConnectionClosed:
                continue
        self.logger.warning("no open Socket Mode connection to send a message on")

    # -- the supervisor: opens and closes connections ---------------------------------------------

    def _supervise(self) -> None:
        delay = RETRY_FIRST
        while not self.closed:
            self._kick.wait(CHECK_EVERY)
            self._kick.clear()
            if self.closed:
                return
            self._retire_replaced()
            if not self._needs_connection():
                continue
            try:
                self._open()
                delay = RETRY_FIRST
            except Exception as exc:  # Slack unreachable or refusing: try again later
                self.logger.warning(
                    "could not open a Socket Mode connection (%s); retrying in %.0f s",
                    type(exc).__name__,
                    delay,
                )
                if self._stopping.wait(delay):
                    return
                delay = min(delay * 2, RETRY_CAP)
                self._kick.set()

    def _needs_connection(self) -> bool:
        """Whether every connection is leaving (or there is none): a new one must be opened."""
        with self._cond:
            return not any(not link.leaving for link in self._links)

    def _retire_replaced(self) -> None:
        """Close the connections Slack asked to replace, once a successor has said hello."""
        with self._cond:
            if not any(link.greeted and not link.leaving for link in self._links):
                return
            retiring = [link for link in self._links if link.leaving and not link.closing]
            for link in retiring:
                link.closing = True
        for link in retiring:
            link.connection.close()  # its reader reads on until the close handshake ends

    def _open(self) -> None:
        """Open one more connection on a reader thread of its own; raise if the opening fails."""
        url = self.issue_new_wss_url()  # apps.connections.open with the app token
        opened: Future[None] = Future()
        number = next(self._numbers)
        reader = threading.Thread(
            target=self._read,
            args=(number, url, opened),
            name=f"{THREAD_PREFIX}-reader-{number}",
            daemon=True,
        )
        with self._cond:
            self._readers = [thread for thread in self._readers if thread.is_alive()]
            self._readers.append(reader)
        reader.start()
        opened.result()  # the handshake's own timeout bounds the wait

    # -- the readers: one per connection ---------------------------------------------------------

    def _read(self, number: int, url: str, opened: Future[None]) -> None:
        """Open the connection, then read it until it closes, whichever way."""
        try:
            with connect(
                url,
                open_timeout=OPEN_TIMEOUT,
                ping_interval=PING_INTERVAL,
                ping_timeout=PING_TIMEOUT,
                close_timeout=CLOSE_TIMEOUT,
                compression=None,  # as slack_sdk's clients: Slack's frames are small
            ) as connection:
                link = _Link(number, connection)
                with self._cond:
                    if self.closed:
                        opened.set_result(None)
                        return
                    self._links.append(link)
                opened.set_result(None)
                self.logger.info("Socket Mode connection %s opened", number)
                try:
                    self._read_messages(link)
                finally:
                    with self._cond:
                        self._links.remove(link)
                        self._origins = {k: v for k, v in self._origins.items() if v is not link}
        except Exception as exc:
            if not opened.done():
                opened.set_exception(exc)  # connect() or the supervisor reports it
                return
            self.logger.error("Socket Mode connection %s failed: %s", number, type(exc).__name__)
        self.logger.info("Socket Mode connection %s closed", number)
        self._kick.set()

    def _read_messages(self, link: _Link) -> None:
        try:
            for message in link.connection:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                self._receive(link, text)
        except ConnectionClosed as exc:  # closed without a clean handshake
            if not self.closed:
                code = exc.rcvd.code if exc.rcvd else None
                self.logger.warning(
                    "Socket Mode connection %s dropped (code %s)", link.number, code
                )

    def _receive(self, link: _Link, text: str) -> None:
        """Handle hello and disconnect here; queue everything else for the listeners."""
        try:
            message: Any = json.loads(text)
        except ValueError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "hello":
            with self._cond:
                link.greeted = True
            self._kick.set()  # its predecessor, if any, can go now
            return
        if kind == "disconnect":
            reason = message.get("reason")
            self.logger.info(
                "Slack asked to replace Socket Mode connection %s (%s)", link.number, reason
            )
            with self._cond:
                link.leaving = True
            self._kick.set()
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if isinstance(envelope_id, str):
            with self._cond:
                self._origins[envelope_id] = link
        self.enqueue_message(text)


class OverlappingSocketModeHandler(BaseSocketModeHandler):
    """Bolt's Socket Mode adapter on the overlapping client (the glue of Bolt's own adapters)."""

    client: OverlappingSocketModeClient

    def __init__(self, app: App, app_token: str, *, concurrency: int) -> None:
        """Route every envelope through `app`."""
        self.app = app
        self.client = OverlappingSocketModeClient(
            app_token,
            web_client=app.client,
            logger=app.logger,
            concurrency=concurrency,
        )
        self.client.socket_mode_request_listeners.append(self.handle)

    def handle(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:
        """Run the Bolt app on one envelope and send its ack."""
        start = time.time()
        send_response(client, req, run_bolt_app(self.app, req), start)

    def connect(self) -> None:
        """Open the first connection to Slack."""
        self.client.connect()

    def close(self) -> None:
        """Close the connections and stop the client's threads."""
        self.client.close()
