"""The emulator's HTTP plumbing: the loopback server, decoded requests and replies, and the
request-level rules Jira applies before any route (JSON bodies, numeric parameters).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from sandbox.jira.wire import JiraError, error_body


@dataclass
class Request:
    """A decoded request handed to a route."""

    method: str
    path: str
    params: dict[str, list[str]]
    body: Any

    def param(self, name: str, default: str | None = None) -> str | None:
        """The last value of a query parameter."""
        values = self.params.get(name)
        return values[-1] if values else default

    def listed(self, name: str) -> list[str]:
        """A comma-list parameter that may also be repeated."""
        return [v for value in self.params.get(name, []) for v in value.split(",") if v]

    def count(self, name: str, default: int) -> int:
        """A non-negative integer query parameter, or Jira's 400."""
        return non_negative(self.param(name), default, name)


@dataclass
class Reply:
    """What to send back: status, JSON body (None: empty), extra headers, or nothing at all."""

    status: int
    body: Any = None
    headers: dict[str, str] | None = None
    drop: bool = False


class Serve(Protocol):
    """Answers one raw HTTP request (the emulator's entry point)."""

    def __call__(
        self, *, method: str, target: str, content_type: str, authorization: str, raw: bytes
    ) -> Reply:
        """The reply to send, or one marked `drop` to close without answering."""


def no_resource(path: str) -> Reply:
    """Jira's 404 for a path it has no REST resource at."""
    return Reply(404, error_body([f"No REST resource at {path}"]))


def request_matches(method: str, path: str, want_method: str, prefix: str) -> bool:
    """Method equality (or "*") and a path at or below `prefix`, segment-wise."""
    if want_method.upper() not in ("*", method.upper()):
        return False
    prefix = prefix.rstrip("/")
    return path.rstrip("/") == prefix or path.startswith(prefix + "/")


def decode_body(raw: bytes, content_type: str) -> tuple[Any, Reply | None]:
    """The JSON body, or the 415/400 Jira answers for a non-JSON or malformed one."""
    if not raw:
        return None, None
    if content_type != "application/json":
        return None, Reply(415, error_body([f"Unsupported Media Type: {content_type}"]))
    try:
        return json.loads(raw.decode("utf-8")), None
    except (UnicodeDecodeError, json.JSONDecodeError) as failure:
        return None, Reply(400, error_body([f"Unexpected character in the JSON body: {failure}"]))


def non_negative(value: Any, default: int, name: str) -> int:
    """A non-negative integer parameter (query string or JSON body), or Jira's 400."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1  # not a number: refused below with the same message as a negative one
    if number < 0:
        raise JiraError(400, [f"The value '{value}' is invalid for the '{name}' parameter."])
    return number


class LoopbackServer(ThreadingHTTPServer):
    """The HTTP server on 127.0.0.1, holding the function that answers each request."""

    daemon_threads = True

    def __init__(self, serve: Serve, port: int) -> None:
        """Bind `port` (0: any free one); `serve` answers every request."""
        super().__init__(("127.0.0.1", port), _RequestHandler)
        self.serve = serve


class _RequestHandler(BaseHTTPRequestHandler):
    """Turns HTTP requests into emulator calls (HTTP/1.0: one request per connection)."""

    server: LoopbackServer

    def _answer(self) -> None:
        """Read the body, ask the emulator, and write its reply (or drop the connection)."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply = self.server.serve(
            method=self.command,
            target=self.path,
            content_type=self.headers.get_content_type() if raw else "",
            authorization=self.headers.get("Authorization", ""),
            raw=raw,
        )
        if reply.drop:
            # Close without a status line: the client cannot tell whether Jira acted.
            self.close_connection = True
            return
        data = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        try:
            self.send_response(reply.status)
            if reply.body is not None:
                self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (reply.headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting, e.g. after hang_next outlasted its read timeout

    # The stdlib dispatches on these names; every method gets the same treatment.
    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
