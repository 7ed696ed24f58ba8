"""A Slack Web API emulator that speaks real HTTP on 127.0.0.1, for tests, benchmarks and demos."""

from __future__ import annotations

import copy
import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.lifecycle import Startable
from sandbox.slack.files import UPLOAD_PATH, SlackFiles
from sandbox.slack.workspace import APP_ID, APP_LEVEL_METHODS, JsonDict, Workspace, error, json_copy

if TYPE_CHECKING:
    from sandbox.slack.socket_mode import SocketModeServer

# Form bodies carry these as JSON strings; the emulator records and checks the decoded values.
_JSON_FIELDS = ("blocks", "view", "attachments", "metadata")


@dataclass(frozen=True)
class RecordedCall:
    """One Web API call as the emulator received and answered it."""

    method: str
    args: JsonDict
    status: int
    response: JsonDict
    at: float


@dataclass
class _Failure:
    """A pending injected failure for one method."""

    status: int
    times: int
    retry_after: int | None
    error: str | None
    channel: str | None = None  # only calls to this channel fail; others pass it by


class _Server(ThreadingHTTPServer):
    """The HTTP server, holding its emulator for the request handler."""

    daemon_threads = True

    def __init__(self, emulator: SlackEmulator) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.emulator = emulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client hangs up (a timed-out call, a closed pool); report the rest."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    """Turns HTTP requests into emulator calls."""

    server: _Server
    # Slack keeps connections alive between calls; every answer carries its Content-Length.
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle kept-alive connection is closed after this (seconds)
    # Headers and body go out in two writes; on a kept-alive connection Nagle's algorithm would
    # hold the body back until the client's delayed ACK (40 ms a call).
    disable_nagle_algorithm = True

    def setup(self) -> None:  # name fixed by the stdlib: runs once per TCP connection
        """Count the connection, then set up its streams."""
        self.server.emulator._connection_opened()
        super().setup()

    def do_GET(self) -> None:  # name fixed by the stdlib
        """Answer a GET call (query arguments only)."""
        self._answer(b"")

    def do_POST(self) -> None:  # name fixed by the stdlib
        """Answer a POST call (form or JSON body plus query arguments) or a file upload."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith(UPLOAD_PATH):
            self._answer_upload(body)
        else:
            self._answer(body)

    def _answer_upload(self, body: bytes) -> None:
        """Hand the bytes POSTed to an upload URL to the emulator; Slack answers in plain text."""
        content_type = self.headers.get("Content-Type", "")
        status, text = self.server.emulator._receive_upload(self.path, content_type, body)
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _answer(self, body: bytes) -> None:
        """Dispatch to the emulator and write its answer."""
        parts = urlsplit(self.path)
        status, payload, headers = self.server.emulator._handle(
            path=parts.path,
            query=parts.query,
            content_type=self.headers.get_content_type(),
            authorization=self.headers.get("Authorization", ""),
            body=body,
        )
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class SlackEmulator(Startable):
    """Fake of the Slack Web API methods the bot uses, served over HTTP on 127.0.0.1."""

    def __init__(
        self,
        token: str = "xoxb-test-token",
        team_id: str = "T0HYPER",
        bot_user_id: str = "UBOT",
        app_token: str = "xapp-test-token",
    ) -> None:
        """Configure the accepted bot and app tokens and the workspace; call start() to serve."""
        self.token = token
        self.app_token = app_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        # One condition guards all state and wakes wait_for() whenever a call is recorded.
        self._cond = threading.Condition(threading.RLock())
        self._workspace = Workspace(team_id, bot_user_id)
        # Upload URLs point back at this server, so they are known only once it is bound.
        self._files = SlackFiles(
            self._workspace, url_root=lambda: self.base_url.removesuffix("api/")
        )
        self._workspace.methods.update(self._files.methods)
        self._calls: list[RecordedCall] = []
        self._connections = 0
        self._failures: dict[str, deque[_Failure]] = {}
        self._latency: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}  # calls received, still held by their latency
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._socket_mode: SocketModeServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> SlackEmulator:
        """Bind an ephemeral port on 127.0.0.1 and serve from a daemon thread."""
        if self._server is None:
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="slack-emulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (the Socket Mode server too) and release the ports."""
        if self._socket_mode is not None:
            self._socket_mode.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server, self._thread = None, None

    @property
    def base_url(self) -> str:
        """The URL to pass as `WebClient(base_url=...)`; it ends with `/api/`."""
        if self._server is None:
            raise RuntimeError("SlackEmulator is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    @property
    def socket_mode(self) -> SocketModeServer:
        """The Socket Mode server apps.connections.open points at, started on first use.

        Once stopped it stays stopped (apps.connections.open then hands out dead URLs, as when
        Slack is unreachable) until its start() is called again.
        """
        from sandbox.slack.socket_mode import SocketModeServer

        with self._cond:
            if self._socket_mode is None:
                self._socket_mode = SocketModeServer(app_id=APP_ID).start()
            return self._socket_mode

    # -- recorded calls ----------------------------------------------------------------------------

    @property
    def calls(self) -> list[RecordedCall]:
        """A snapshot of every call received so far, in order."""
        with self._cond:
            return list(self._calls)

    @property
    def connections(self) -> int:
        """How many TCP connections clients have opened to the Web API so far."""
        with self._cond:
            return self._connections

    def _connection_opened(self) -> None:
        with self._cond:
            self._connections += 1

    def calls_to(self, method: str) -> list[RecordedCall]:
        """The calls received for one method, failed ones included."""
        with self._cond:
            return [call for call in self._calls if call.method == method]

    def reset_calls(self) -> None:
        """Forget the recorded calls; messages, views and registries are kept."""
        with self._cond:
            self._calls.clear()

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[RecordedCall]:
        """Block until `count` successful calls of `method` were recorded, and return them."""

        def successes() -> list[RecordedCall]:
            return [c for c in self._calls if c.method == method and c.response.get("ok") is True]

        with self._cond:
            if self._cond.wait_for(lambda: len(successes()) >= count, timeout=timeout):
                return successes()
            seen = ", ".join(
                f"{c.method}:{c.status}:{'ok' if c.response.get('ok') else c.response.get('error')}"
                for c in self._calls
            )
            raise AssertionError(
                f"expected {count} successful {method} call(s) within {timeout}s, "
                f"got {len(successes())}; recorded calls: [{seen or 'none'}]"
            )

    # -- failure injection -------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 503,
        times: int = 1,
        retry_after: int | None = None,
        error: str | None = None,
        channel: str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` (to `channel`, if given) fail with `status`,
        or answer 200 `error`."""
        with self._cond:
            failure = _Failure(status, times, retry_after, error, channel)
            self._failures.setdefault(method, deque()).append(failure)

    def set_latency(self, method: str, seconds: float) -> None:
        """Delay every answer to `method` by `seconds` (0 removes the delay)."""
        with self._cond:
            self._latency[method] = seconds

    def wait_in_flight(self, method: str, timeout: float = 5.0) -> None:
        """Block until a call of `method` was received and is being held by its latency."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._in_flight.get(method, 0) > 0, timeout):
                raise AssertionError(f"no {method} call in flight within {timeout}s")

    # -- registries --------------------------------------------------------------------------------

    def add_channel(self, id: str, name: str, is_member: bool = True) -> None:
        """Register a channel; posting to one with is_member=False fails with not_in_channel."""
        with self._cond:
            self._workspace.add_channel(id, name, is_member)

    def add_user(
        self,
        id: str,
        name: str,
        email: str | None = None,
        deleted: bool = False,
        tz: str = "Europe/Berlin",
    ) -> None:
        """Register a user for users.info and users.lookupByEmail."""
        with self._cond:
            self._workspace.add_user(id, name, email, deleted, tz)

    def add_message(self, channel: str, ts: str, text: str, user: str) -> None:
        """Register a pre-existing message, e.g. the one a message shortcut is used on."""
        message = {"type": "message", "user": user, "text": text, "ts": ts, "team": self.team_id}
        with self._cond:
            self._workspace.store_message(channel, message)

    def issue_trigger(self, trigger_id: str) -> None:
        """Note that Slack just handed out `trigger_id`; views.open after 3 s then expires it."""
        with self._cond:
            self._workspace.issue_trigger(trigger_id)

    # -- inspection --------------------------------------------------------------------------------

    def messages(self, channel: str) -> list[JsonDict]:
        """Top-level messages of a channel (a user id means the DM with them), in order."""
        with self._cond:
            listed = self._workspace.messages.get(self._workspace.resolve_channel(channel), [])
            top = [
                m
                for m in listed
                if m.get("thread_ts", m["ts"]) == m["ts"] or m.get("subtype") == "thread_broadcast"
            ]
            return copy.deepcopy(top)

    def thread(self, channel: str, ts: str) -> list[JsonDict]:
        """Replies in the thread under message `ts`, in order."""
        with self._cond:
            listed = self._workspace.messages.get(self._workspace.resolve_channel(channel), [])
            return copy.deepcopy([m for m in listed if m.get("thread_ts") == ts and m["ts"] != ts])

    def message(self, channel: str, ts: str) -> JsonDict:
        """One message as it currently reads; KeyError when unknown."""
        with self._cond:
            found = self._workspace.find_message(self._workspace.resolve_channel(channel), ts)
            if found is None:
                raise KeyError(f"no message {ts} in {channel}")
            return copy.deepcopy(found)

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[JsonDict]:
        """Ephemeral messages sent, optionally filtered by channel and user."""
        with self._cond:
            return copy.deepcopy(
                [
                    e
                    for e in self._workspace.ephemerals
                    if channel in (None, e["channel"]) and user in (None, e["user"])
                ]
            )

    @property
    def views(self) -> dict[str, JsonDict]:
        """Every opened, pushed or updated view by id, as currently shown."""
        with self._cond:
            return copy.deepcopy(self._workspace.views)

    def home(self, user_id: str) -> JsonDict:
        """The Home tab the bot last published for a user; KeyError when none."""
        with self._cond:
            return copy.deepcopy(self._workspace.views[self._workspace.homes[user_id]])

    def view(self, view_id: str) -> JsonDict:
        """One view by id; KeyError when unknown."""
        with self._cond:
            return copy.deepcopy(self._workspace.views[view_id])

    def last_view(self) -> JsonDict:
        """The view most recently opened, pushed or updated; LookupError when there is none."""
        with self._cond:
            if self._workspace.last_view_id is None:
                raise LookupError("no view has been opened yet")
            return copy.deepcopy(self._workspace.views[self._workspace.last_view_id])

    def files(self, channel: str | None = None) -> list[JsonDict]:
        """Files shared by files.completeUploadExternal, one entry per channel shared to.

        Each entry has id, filename, title, content (the uploaded bytes), size, mimetype,
        alt_txt, channel (None when shared nowhere), thread_ts, initial_comment and message_ts
        (the share message in `messages()`/`thread()`); a user id means the DM with them.
        """
        with self._cond:
            return self._files.shared(channel)

    def dm_channel(self, user_id: str) -> str:
        """The D-channel id the emulator answers for a DM with `user_id`."""
        return self._workspace.resolve_channel(user_id)

    # -- request handling --------------------------------------------------------------------------

    def _handle(
        self, *, path: str, query: str, content_type: str, authorization: str, body: bytes
    ) -> tuple[int, JsonDict, dict[str, str]]:
        """Answer one HTTP request with (status, JSON body, extra headers)."""
        method = path.removeprefix("/api/").strip("/")
        args, parse_error = _parse_args(query, content_type, body)
        with self._cond:
            delay = self._latency.get(method, 0.0)
        if delay > 0:
            with self._cond:
                self._in_flight[method] = self._in_flight.get(method, 0) + 1
                self._cond.notify_all()
            # Sleep outside the lock so calls to other methods are not held up.
            time.sleep(delay)
            with self._cond:
                self._in_flight[method] -= 1
        with self._cond:
            status, headers, response = self._take_failure(method, args.get("channel"))
            if response is None:
                token = _bearer(authorization) or str(args.get("token") or "")
                if method in APP_LEVEL_METHODS:
                    response = self._open_connection(_bearer(authorization))
                elif not token:
                    response = error("not_authed")
                elif token != self.token:
                    response = error("invalid_auth")
                elif method not in self._workspace.methods:
                    response = error("unknown_method")
                elif parse_error is not None:
                    response = error(parse_error)
                else:
                    response = self._workspace.methods[method](args)
            self._calls.append(RecordedCall(method, args, status, response, time.time()))
            self._cond.notify_all()
            return status, json_copy(response), headers

    def _receive_upload(self, path: str, content_type: str, body: bytes) -> tuple[int, str]:
        """Take the bytes POSTed to an upload URL; no token, as Slack's upload URLs are signed."""
        with self._cond:
            return self._files.receive(urlsplit(path).path, content_type, body)

    def _open_connection(self, header_token: str) -> JsonDict:
        """apps.connections.open: Slack reads its app-level token only from the header."""
        if not header_token:
            return error("not_authed")
        if header_token != self.app_token:
            return error("invalid_auth")
        return {"ok": True, "url": self.socket_mode.issue_url()}

    def _take_failure(
        self, method: str, channel: object
    ) -> tuple[int, dict[str, str], JsonDict | None]:
        """Consume one injected failure for `method` (and this channel), if any is pending."""
        queue = self._failures.get(method)
        if not queue or queue[0].channel not in (None, channel):
            return 200, {}, None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        if failure.status == 429:
            headers = (
                {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            )
            return 429, headers, error("ratelimited")
        # 5xx answers carry Slack's fatal_error body; a 200 with `error` is a plain API error.
        return failure.status, {}, error(failure.error or "fatal_error")


def _bearer(authorization: str) -> str:
    """The token of an `Authorization: Bearer ...` header, or ''."""
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _parse_args(query: str, content_type: str, body: bytes) -> tuple[JsonDict, str | None]:
    """Merge query and body arguments and decode JSON-string fields; returns (args, error)."""
    args: JsonDict = dict(parse_qsl(query, keep_blank_values=True))
    text = body.decode("utf-8", errors="replace")
    if content_type == "application/json" and text:
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError:
            return args, "invalid_json"
        if not isinstance(decoded, dict):
            return args, "invalid_json"
        args.update(decoded)
    elif content_type == "application/x-www-form-urlencoded":
        args.update(parse_qsl(text, keep_blank_values=True))
    elif text:
        # WebClient only sends multipart bodies for file uploads, which the bot does not do.
        return args, "invalid_form_data"
    for key in _JSON_FIELDS:
        value = args.get(key)
        if isinstance(value, str) and value.strip():
            try:
                args[key] = json.loads(value)
            except json.JSONDecodeError:
                return args, "invalid_blocks_format" if key == "blocks" else "invalid_arguments"
    return args, None
