"""The HTTP front: health routes, and a guard that checks Slack requests before Bolt parses them.

Bolt parses a body before verifying it, answers a malformed timestamp with a 500 and logs
rejected bodies; the guard closes those gaps. It refuses oversized bodies (413), requests with
a missing, malformed or stale timestamp or a bad signature (401), and signed bodies Bolt cannot
parse (400), logging only metadata (never the body or the signature). Signed bodies that parse
but are not the shape Slack sends are refused (400) by `well_formed` in Bolt's first middleware
(`bot.app.bolt.RefuseMisshapen`), on the body Bolt parsed: a form submission's payload is a
10 kB URL-encoded JSON, and decoding it here too took a sixth of a submission's CPU.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from io import BytesIO
from typing import Any

from slack_sdk.signature import Clock, SignatureVerifier

from bot.parts import WSGIApp

log = logging.getLogger(__name__)


# The largest payload Slack sends is a message shortcut on a 40,000-character message (Slack's
# cap): the text comes twice (text and rich_text block), JSON- then URL-encoded, so a message in
# a non-Latin script takes up to 16 bytes a character (640 KB). Anything bigger is not Slack.
MAX_BODY = 1024 * 1024
SLACK_PATH = "/slack/events"
REPLAY_WINDOW = 300


def _answer(start: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


class InFlight:
    """Counts the Slack requests being answered, so background work can let them go first.

    SQLite has one connection per process; in a burst, the outbox worker's transactions queue
    for it alongside the submissions waiting to be stored and acked. The worker waits (briefly)
    while requests are in flight: an ack has 3 seconds, a receipt can wait a moment.
    """

    def __init__(self) -> None:
        self._count = 0
        self._cond = threading.Condition()

    def __enter__(self) -> None:
        with self._cond:
            self._count += 1

    def __exit__(self, *_: object) -> None:
        with self._cond:
            self._count -= 1
            if self._count == 0:
                self._cond.notify_all()

    def wait_clear(self, timeout: float) -> None:
        """Return once no request is in flight, or after `timeout` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: self._count == 0, timeout=timeout)


class _ClockOf(Clock):
    """slack_sdk's clock reading the guard's, so one clock judges a timestamp's age."""

    def __init__(self, read: Callable[[], float]):
        self._read = read

    def now(self) -> float:
        return self._read()


class SlackRequestGuard:
    """WSGI middleware verifying size, timestamp and signature of Slack requests."""

    def __init__(
        self,
        inner: WSGIApp,
        signing_secret: str,
        clock: Callable[[], float] = time.time,
        in_flight: InFlight | None = None,
    ):
        self._inner = inner
        self._verifier = SignatureVerifier(signing_secret, _ClockOf(clock))
        self._clock = clock
        self._in_flight = in_flight or InFlight()

    def __call__(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        meta = {
            "path": environ.get("PATH_INFO"),
            "remote": environ.get("REMOTE_ADDR"),
            "retry_num": environ.get("HTTP_X_SLACK_RETRY_NUM"),
        }
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            log.warning("slack request refused: body too large or unsized (%s, %s)", length, meta)
            return _answer(start, "413 Content Too Large", {"error": "request too large"})
        body = environ["wsgi.input"].read(length) if length else b""
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        problem = self._problem(body, timestamp, signature)
        if problem:
            log.warning(
                "slack request refused: %s (timestamp=%r, length=%s, sha256=%s, %s)",
                problem,
                timestamp[:20],
                len(body),
                hashlib.sha256(body).hexdigest()[:16],
                meta,
            )
            return _answer(start, "401 Unauthorized", {"error": "invalid request"})
        environ["wsgi.input"] = BytesIO(body)
        with self._in_flight:  # Bolt answers within the call: the ack is sent when it returns
            try:
                return self._inner(environ, start)
            except (ValueError, AttributeError, TypeError) as error:
                # Bolt parses the body before its own error handling starts: JSON that does
                # not parse, or parses to a list or a string, escapes it (else a 500).
                log.warning(
                    "signed slack request with a malformed body refused (%s, %s)",
                    type(error).__name__,
                    meta,
                )
                return _answer(start, "400 Bad Request", {"error": "malformed payload"})

    def _problem(self, body: bytes, timestamp: str, signature: str) -> str | None:
        if not timestamp or not signature:
            return "missing signature headers"
        if not (timestamp.isascii() and timestamp.isdigit()):  # "²".isdigit() is true
            return "malformed timestamp"
        if abs(self._clock() - int(timestamp)) > REPLAY_WINDOW:
            return "stale timestamp"
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return "body is not UTF-8"
        if not self._verifier.is_valid(text, timestamp, signature):
            return "bad signature"
        return None


# The keys Bolt's routing reads without checking, per interaction type: a signed payload
# missing one would crash Bolt's matchers with a 500 instead of being refused.
_REQUIRED: dict[str, Mapping[str, type]] = {
    "view_submission": {"view": dict, "user": dict},
    "view_closed": {"view": dict, "user": dict},
    "block_actions": {"actions": list, "user": dict},
    "message_action": {"callback_id": str, "trigger_id": str, "user": dict},
    "shortcut": {"callback_id": str, "trigger_id": str, "user": dict},
    "block_suggestion": {"action_id": str, "user": dict},
}
_VIEW_REQUIRED = {"id": str, "type": str, "callback_id": str}
_COMMAND_REQUIRED = {"command", "trigger_id", "user_id"}


def _has(obj: dict[str, Any], required: Mapping[str, type]) -> bool:
    return all(isinstance(obj.get(key), kind) for key, kind in required.items())


def well_formed(body: dict[str, Any]) -> bool:
    """Tell whether a body Bolt parsed has the shape Slack sends, as far as Bolt relies on it:
    a slash command's form, an `ssl_check`, or a payload or event with a type (and, for the
    interactions the bot handles, the keys Bolt's routing reads)."""
    if "command" in body or "ssl_check" in body:
        return "ssl_check" in body or body.keys() >= _COMMAND_REQUIRED
    kind = body.get("type")
    if not isinstance(kind, str):
        return False
    required = _REQUIRED.get(kind)
    if required is None:
        return True  # a type the bot does not handle: Bolt answers it as unhandled
    if not _has(body, required):
        return False
    return "view" not in required or _has(body["view"], _VIEW_REQUIRED)


def shape_of(body: dict[str, Any]) -> str:
    """What a body is, for a log line: a name of the bot's own, never text from the body."""
    if "command" in body:
        return "slash command"
    kind = body.get("type")
    return kind if kind in _REQUIRED else "other type"


def build_wsgi(
    slack: WSGIApp | None,
    ready: Callable[[], tuple[bool, dict[str, bool]]],
    routes: Mapping[str, WSGIApp] | None = None,
) -> WSGIApp:
    """Route `/healthz`, `/readyz`, in HTTP mode `/slack/events`, and the parts' own routes
    (the Jira webhook)."""
    extra = dict(routes or {})

    def app(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz":
            return _answer(start, "200 OK", {"status": "ok"})
        if path == "/readyz":
            ok, checks = ready()
            return _answer(start, "200 OK" if ok else "503 Service Unavailable", checks)
        if path == SLACK_PATH and slack is not None:
            if method != "POST":
                return _answer(start, "405 Method Not Allowed", {"error": "POST only"})
            return slack(environ, start)
        if path in extra:
            return extra[path](environ, start)
        return _answer(start, "404 Not Found", {"error": "not found"})

    return app
