"""A Jira REST v2 emulator that speaks real HTTP on 127.0.0.1, for tests, benchmarks and demos."""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import math
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.sandbox.jira_state import (
    CANNOT_SET,
    CustomField,
    FieldFilter,
    Issue,
    JiraError,
    JiraSite,
    JsonDict,
    Named,
    Project,
    Status,
    Transition,
    error_body,
    jira_time,
)

_API = r"/rest/api/(?:2|latest)"
_SEARCH_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
_UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
_NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class RecordedCall:
    """One HTTP request as the emulator received and answered it."""

    method: str
    path: str
    query: dict[str, str]  # repeated parameters joined with ","
    body: Any  # the decoded JSON body, or None
    status: int
    at: float
    response: Any = None
    dropped: bool = False  # the answer was never sent (drop_after_create)


@dataclass
class _Failure:
    """A pending injected failure for requests matching a method and path prefix."""

    method: str
    prefix: str
    times: int
    status: int = 503
    retry_after: float | None = None
    body: JsonDict | None = None
    hang: float | None = None  # hang_next entries only delay, they do not fail


@dataclass
class _Request:
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


@dataclass
class _Reply:
    """What to send back: status, JSON body (None: empty), extra headers, or nothing at all."""

    status: int
    body: Any = None
    headers: dict[str, str] | None = None
    drop: bool = False


Route = Callable[[_Request, "re.Match[str]"], _Reply]


class _Server(ThreadingHTTPServer):
    """The HTTP server, holding its emulator for the request handler."""

    daemon_threads = True

    def __init__(self, emulator: JiraEmulator, port: int) -> None:
        super().__init__(("127.0.0.1", port), _RequestHandler)
        self.emulator = emulator


class _RequestHandler(BaseHTTPRequestHandler):
    """Turns HTTP requests into emulator calls (HTTP/1.0: one request per connection)."""

    server: _Server

    def do_GET(self) -> None:  # name fixed by the stdlib
        """Answer a GET."""
        self._answer()

    def do_POST(self) -> None:  # name fixed by the stdlib
        """Answer a POST."""
        self._answer()

    def do_PUT(self) -> None:  # name fixed by the stdlib
        """Answer a PUT."""
        self._answer()

    def do_DELETE(self) -> None:  # name fixed by the stdlib
        """Answer a DELETE."""
        self._answer()

    def _answer(self) -> None:
        """Read the body, ask the emulator, and write its reply (or drop the connection)."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply = self.server.emulator._serve(
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

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class JiraEmulator:
    """Fake of the Jira REST v2 endpoints the bot uses, served over HTTP on 127.0.0.1."""

    def __init__(
        self,
        *,
        deployment: str = "Cloud",
        email: str = "bot@example.com",
        api_token: str = "jira-test-token",
        pat: str | None = None,
        project_key: str = "HYP",
        webhook_secret: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Configure credentials and the catalogue; `deployment` is "Cloud" or "Server" (DC)."""
        if deployment not in ("Cloud", "Server"):
            raise ValueError(f"deployment must be 'Cloud' or 'Server', not {deployment!r}")
        self.deployment = deployment
        self.email = email
        self.api_token = api_token
        self.pat = pat or "jira-test-pat"
        self.project_key = project_key.upper()
        self.webhook_secret = webhook_secret
        # One condition guards all state and wakes wait_for() whenever a call is recorded.
        self._cond = threading.Condition(threading.RLock())
        self._site = JiraSite(
            cloud=self.cloud, project_key=project_key, clock=clock or (lambda: datetime.now(UTC))
        )
        self._site.bot_user = self._site.user("Hypercare Bot", email)
        self._calls: list[RecordedCall] = []
        self._failures: list[_Failure] = []
        self._drops = 0
        self._bucket: tuple[float, float, float] | None = None  # (rate, tokens, monotonic stamp)
        self._down: str | None = None  # None, "503" or "refuse"
        self._wake = threading.Event()  # set by stop() so hang_next sleepers return early
        self._holds: list[float] = []  # hold_after_create: delays of answers to creates
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._routes = self._route_table()

    @property
    def cloud(self) -> bool:
        """Whether this emulates Jira Cloud (else Data Center, which reports "Server")."""
        return self.deployment == "Cloud"

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> JiraEmulator:
        """Bind an ephemeral port on 127.0.0.1 and serve from a daemon thread."""
        with self._cond:
            if self._server is None:
                self._bind(0)
        return self

    def stop(self) -> None:
        """Stop serving and release the port; sleeping hang_next requests are woken."""
        with self._cond:
            self._wake.set()
            self._unbind()
            self._down = None

    def __enter__(self) -> JiraEmulator:
        """Start the emulator for a with-block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the emulator at the end of a with-block."""
        self.stop()

    @property
    def url(self) -> str:
        """The site URL, what a user puts in JIRA_URL, e.g. http://127.0.0.1:PORT."""
        if self._server is None and self._down != "refuse":
            raise RuntimeError("JiraEmulator is not started")
        return f"http://127.0.0.1:{self._port}"

    def _bind(self, port: int) -> None:
        """Serve on `port` (0: any free one)."""
        self._wake.clear()
        self._server = _Server(self, port)
        self._port = self._server.server_address[1]
        self._site.base_url = f"http://127.0.0.1:{self._port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # A short poll keeps stop() and go_down(refuse=True) quick in test teardown.
            kwargs={"poll_interval": 0.01},
            name="jira-emulator",
            daemon=True,
        )
        self._thread.start()

    def _unbind(self) -> None:
        """Close the listening socket so new connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server, self._thread = None, None

    # -- catalogue ---------------------------------------------------------------------------------

    def add_project(self, key: str, name: str, id: str | None = None) -> None:
        """Register another project (issues are numbered per project)."""
        with self._cond:
            self._site.add_project(key, name, id)

    def add_issue_type(self, name: str, id: str | None = None) -> None:
        """Register an issue type, offered in every project."""
        with self._cond:
            self._site.issue_types.append(
                Named(id or str(10001 + len(self._site.issue_types)), name)
            )

    def add_priority(self, name: str, id: str | None = None) -> None:
        """Register a priority after the existing ones (lowest rank)."""
        with self._cond:
            self._site.priorities.append(Named(id or str(len(self._site.priorities) + 1), name))

    def add_component(self, name: str, id: str | None = None, project: str | None = None) -> None:
        """Register a component of `project` (default: the main project)."""
        with self._cond:
            self._site.add_component(name, id, project or self.project_key)

    def add_status(self, name: str, id: str, category: str) -> None:
        """Register a workflow status; `category` is new, indeterminate or done."""
        if category not in ("new", "indeterminate", "done"):
            raise ValueError(f"unknown status category {category!r}")
        with self._cond:
            self._site.statuses.append(Status(id, name, category))

    def add_transition(self, id: str, name: str, to: str, sources: tuple[str, ...] = ()) -> None:
        """Register a workflow transition into status `to` from `sources` (empty: global)."""
        with self._cond:
            self._site.workflow.append(Transition(id, name, to, sources))

    def add_custom_field(
        self,
        field_id: str,
        name: str,
        *,
        kind: str = "string",
        required: bool = False,
        options: list[str] | None = None,
    ) -> None:
        """Add a custom field to the create screen (string, textarea, number, option, labels)."""
        if kind not in ("string", "textarea", "number", "option", "labels"):
            raise ValueError(f"unknown custom field kind {kind!r}")
        with self._cond:
            self._site.custom_fields[field_id] = CustomField(
                field_id, name, kind, required, list(options or [])
            )

    def require_field(self, field_id: str) -> None:
        """Make a system field (priority, components, labels, ...) required on create."""
        with self._cond:
            self._site.required.add(field_id)

    # -- inspection and human actions --------------------------------------------------------------

    def issues(self) -> list[JsonDict]:
        """Every stored issue with all fields, in creation order."""
        with self._cond:
            return copy.deepcopy([self._site.issue_json(i) for i in self._site.issues])

    def issue(self, key: str) -> JsonDict:
        """One issue with all fields and its changelog; KeyError when unknown."""
        with self._cond:
            return copy.deepcopy(self._site.issue_json(self._find(key), expand="changelog"))

    def comments(self, key: str) -> list[JsonDict]:
        """The comments of an issue, oldest first; KeyError when unknown."""
        with self._cond:
            return copy.deepcopy(self._find(key).comments)

    def comment(self, key: str, body: str, by: str = "Jira User") -> JsonDict:
        """Add a comment as a human in Jira would."""
        with self._cond:
            return copy.deepcopy(self._site.add_comment(self._find(key), body, self._site.user(by)))

    def transition(self, key: str, to_status: str, by: str = "Jira User") -> None:
        """Move an issue to `to_status` through the workflow, as a human in Jira would."""
        with self._cond:
            issue = self._find(key)
            offered = self._site.transitions_for(issue)
            chosen = next((t for t in offered if t.to.lower() == to_status.lower()), None)
            if chosen is None:
                names = ", ".join(f"{t.name} -> {t.to}" for t in offered) or "none"
                raise ValueError(
                    f"{issue.key} is {issue.status.name}; no transition to {to_status!r} "
                    f"(offered: {names})"
                )
            self._site.move(issue, chosen, self._site.user(by))

    def delete_issue(self, key: str) -> None:
        """Delete an issue, as an admin might; its key is not reused."""
        with self._cond:
            self._site.issues.remove(self._find(key))

    def _find(self, key: str) -> Issue:
        """A stored issue by key or id; KeyError when unknown."""
        try:
            return self._site.find_issue(key)
        except JiraError:
            raise KeyError(f"no issue {key}") from None

    # -- recorded calls ----------------------------------------------------------------------------

    @property
    def calls(self) -> list[RecordedCall]:
        """A snapshot of every request received so far, in order."""
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str, path_prefix: str) -> list[RecordedCall]:
        """The requests with this method whose path is `path_prefix` or below it."""
        with self._cond:
            return [c for c in self._calls if _matches(c.method, c.path, method, path_prefix)]

    def reset_calls(self) -> None:
        """Forget the recorded calls; issues and catalogue are kept."""
        with self._cond:
            self._calls.clear()

    def wait_for(
        self,
        method: str,
        path_prefix: str,
        count: int = 1,
        timeout: float = 5.0,
        *,
        status: int | None = None,
    ) -> list[RecordedCall]:
        """Block until `count` matching calls were answered with 2xx (or `status`); return them."""

        def matching() -> list[RecordedCall]:
            return [
                c
                for c in self._calls
                if _matches(c.method, c.path, method, path_prefix)
                and (200 <= c.status < 300 if status is None else c.status == status)
            ]

        with self._cond:
            if self._cond.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                return matching()
            seen = ", ".join(
                f"{c.method} {c.path} {c.status}{' dropped' if c.dropped else ''}"
                for c in self._calls
            )
            wanted = "2xx" if status is None else str(status)
            raise AssertionError(
                f"expected {count} {method} {path_prefix} call(s) answered {wanted} within "
                f"{timeout}s, got {len(matching())}; recorded calls: [{seen or 'none'}]"
            )

    # -- failure injection -------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        *,
        status: int = 503,
        times: int = 1,
        retry_after: float | None = None,
        body: JsonDict | None = None,
    ) -> None:
        """Answer the next `times` matching requests with `status` instead of handling them.

        With `retry_after`, a `Retry-After` header (whole seconds, rounded up, as Jira and the
        `jira` library's int() parsing expect) is sent; 429s then also carry X-RateLimit-*.
        """
        with self._cond:
            self._failures.append(
                _Failure(method.upper(), path_prefix, times, status, retry_after, body)
            )

    def hang_next(self, method: str, path_prefix: str, seconds: float, times: int = 1) -> None:
        """Delay the answer to the next `times` matching requests by `seconds`."""
        with self._cond:
            self._failures.append(_Failure(method.upper(), path_prefix, times, hang=seconds))

    def drop_after_create(self, times: int = 1) -> None:
        """Store the next `times` created issues but close the connection without answering."""
        with self._cond:
            self._drops += times

    def hold_after_create(self, seconds: float, times: int = 1) -> None:
        """Store the next created issues at once but answer only after `seconds`.

        This opens the window in which a client can die after Jira acted but before it heard.
        """
        with self._cond:
            self._holds.extend([seconds] * times)

    def set_rate_limit(self, per_second: float | None) -> None:
        """Admit `per_second` requests a second (burst of the same size); None lifts the limit."""
        with self._cond:
            self._bucket = (
                None if per_second is None else (per_second, max(per_second, 1.0), time.monotonic())
            )

    def go_down(self, *, refuse: bool = False) -> None:
        """Answer every request with 503, or with `refuse` close the port so connects fail."""
        with self._cond:
            if refuse and self._server is not None:
                self._unbind()
            self._down = "refuse" if refuse else "503"

    def come_back(self) -> None:
        """End an outage; a refused port is bound again, so `url` stays the same."""
        with self._cond:
            if self._down == "refuse":
                self._bind(self._port)
            self._down = None

    # -- webhooks ----------------------------------------------------------------------------------

    def send_webhook(
        self,
        url: str,
        event: JsonDict,
        *,
        identifier: str | None = None,
        retry: int = 0,
        signature: str | None = None,
        timeout: float = 5.0,
    ) -> int:
        """POST `event` to the bot the way Jira Cloud delivers a webhook; returns the HTTP status.

        `signature` overrides the `X-Hub-Signature` value, to test rejection of forged deliveries.
        """
        if urlsplit(url).hostname not in _LOOPBACK:
            raise ValueError(f"the sandbox only delivers webhooks to loopback URLs, not {url}")
        raw = json.dumps(event).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Atlassian Webhook HTTP Client",
            # Jira keeps the identifier across retries, which is what receivers dedupe on.
            "X-Atlassian-Webhook-Identifier": identifier or str(uuid.uuid4()),
            "X-Atlassian-Webhook-Retry": str(retry),
            "X-Atlassian-Webhook-Flow": "Primary",
        }
        if signature is not None:
            headers["X-Hub-Signature"] = signature
        elif self.webhook_secret is not None:
            digest = hmac.new(self.webhook_secret.encode(), raw, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature"] = f"sha256={digest}"
        request = urllib.request.Request(url, data=raw, headers=headers, method="POST")
        # No proxies: a configured HTTP(S)_PROXY must not see sandbox traffic.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as failure:
            return int(failure.code)

    def status_change_event(self, key: str) -> JsonDict:
        """A `jira:issue_updated` payload of the last status change; LookupError if none."""
        with self._cond:
            issue = self._find(key)
            history = next(
                (
                    h
                    for h in reversed(issue.histories)
                    if any(i["field"] == "status" for i in h["items"])
                ),
                None,
            )
            if history is None:
                raise LookupError(f"{issue.key} has never changed status")
            changed = datetime.strptime(history["created"], "%Y-%m-%dT%H:%M:%S.%f%z")
            return copy.deepcopy(
                {
                    "timestamp": int(changed.timestamp() * 1000),
                    "webhookEvent": "jira:issue_updated",
                    "issue_event_type_name": "issue_generic",
                    "user": history["author"],
                    "issue": {
                        "id": issue.id,
                        "key": issue.key,
                        "self": f"{self._site.base_url}/rest/api/2/issue/{issue.id}",
                        "fields": self._site.issue_fields(issue),
                    },
                    "changelog": {"id": history["id"], "items": history["items"]},
                }
            )

    # -- request handling --------------------------------------------------------------------------

    def _serve(
        self, *, method: str, target: str, content_type: str, authorization: str, raw: bytes
    ) -> _Reply:
        """Answer one HTTP request and record it."""
        parts = urlsplit(target)
        path, params = parts.path, parse_qs(parts.query, keep_blank_values=True)
        body, body_error = _decode(raw, content_type)
        with self._cond:
            delay = self._take_hang(method, path)
        if delay > 0:
            # Sleep outside the lock so other requests are not held up; stop() cuts it short.
            self._wake.wait(delay)
        with self._cond:
            try:
                reply = self._reply(_Request(method, path, params, body), authorization, body_error)
            except JiraError as refused:
                reply = _Reply(refused.status, refused.body)
            query = {name: ",".join(values) for name, values in params.items()}
            self._calls.append(
                RecordedCall(
                    method, path, query, body, reply.status, time.time(), reply.body, reply.drop
                )
            )
            self._cond.notify_all()
            created = reply.status == 201 and path.rstrip("/").endswith("/issue")
            hold = self._holds.pop(0) if created and self._holds else 0.0
            answer = _Reply(reply.status, copy.deepcopy(reply.body), reply.headers, reply.drop)
        if hold:
            self._wake.wait(hold)
        return answer

    def _reply(self, request: _Request, authorization: str, body_error: _Reply | None) -> _Reply:
        """Outage, rate limit, injected failure, auth, then the route."""
        if self._down is not None:
            return _Reply(503, error_body(["Service Unavailable"]), {"Retry-After": "30"})
        limited = self._rate_limited()
        if limited is not None:
            return limited
        injected = self._take_failure(request.method, request.path)
        if injected is not None:
            return injected
        route, match, allowed = self._route(request.method, request.path)
        if route is None and allowed:
            return _Reply(405, error_body([f"Method {request.method} is not allowed here."]))
        public = route == self._server_info  # Jira answers serverInfo anonymously
        if not public and not self._authenticated(authorization):
            reason = "AUTHENTICATED_FAILED" if authorization else "AUTHENTICATION_DENIED"
            return _Reply(401, error_body([_NOT_AUTHENTICATED]), {"X-Seraph-LoginReason": reason})
        if route is None or match is None:
            return _Reply(404, error_body([f"No REST resource at {request.path}"]))
        if body_error is not None:
            return body_error
        return route(request, match)

    def _authenticated(self, authorization: str) -> bool:
        """Cloud: Basic email:api_token. Server/DC: Bearer PAT."""
        scheme, _, value = authorization.partition(" ")
        if self.cloud:
            if scheme.lower() != "basic":
                return False
            try:
                given = base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(given, f"{self.email}:{self.api_token}".encode())
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.pat.encode()
        )

    def _rate_limited(self) -> _Reply | None:
        """Spend a token of the bucket, or answer 429 like Jira's burst limiter."""
        if self._bucket is None:
            return None
        rate, tokens, stamp = self._bucket
        now, capacity = time.monotonic(), max(rate, 1.0)
        tokens = min(capacity, tokens + (now - stamp) * rate)
        if tokens >= 1.0:
            self._bucket = (rate, tokens - 1.0, now)
            return None
        self._bucket = (rate, tokens, now)
        wait = (1.0 - tokens) / rate
        return _Reply(
            429, error_body(["Rate limit exceeded."]), _rate_headers(wait, capacity, rate)
        )

    def _take_failure(self, method: str, path: str) -> _Reply | None:
        """Consume the first injected failure matching this request, if any."""
        failure = next(
            (
                f
                for f in self._failures
                if f.hang is None and _matches(method, path, f.method, f.prefix)
            ),
            None,
        )
        if failure is None:
            return None
        failure.times -= 1
        if failure.times <= 0:
            self._failures.remove(failure)
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            if failure.status == 429:
                headers = _rate_headers(failure.retry_after, 100.0, 10.0)
            else:
                headers = {"Retry-After": str(math.ceil(failure.retry_after))}
        phrase = _phrase(failure.status)
        body = failure.body if failure.body is not None else error_body([phrase])
        return _Reply(failure.status, body, headers)

    def _take_hang(self, method: str, path: str) -> float:
        """Consume the first hang_next entry matching this request; its delay in seconds."""
        hang = next(
            (
                f
                for f in self._failures
                if f.hang is not None and _matches(method, path, f.method, f.prefix)
            ),
            None,
        )
        if hang is None or hang.hang is None:
            return 0.0
        hang.times -= 1
        if hang.times <= 0:
            self._failures.remove(hang)
        return hang.hang

    # -- routes ------------------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Route]]:
        """(method, path pattern, handler), most specific first."""
        table: list[tuple[str, str, Route]] = [
            ("GET", rf"{_API}/serverInfo", self._server_info),
            ("GET", rf"{_API}/myself", self._myself),
            ("GET", r"/rest/auth/1/session", self._session),
            ("GET", rf"{_API}/project", self._projects),
            ("GET", rf"{_API}/project/(?P<ref>[^/]+)", self._project),
            ("GET", rf"{_API}/project/(?P<ref>[^/]+)/components", self._components),
            ("GET", rf"{_API}/priority", self._priorities),
            ("GET", rf"{_API}/issuetype", self._issue_types),
            ("GET", rf"{_API}/field", self._fields),
            ("GET", rf"{_API}/issue/createmeta", self._createmeta_legacy),
            ("GET", rf"{_API}/issue/createmeta/(?P<ref>[^/]+)/issuetypes", self._createmeta_types),
            (
                "GET",
                rf"{_API}/issue/createmeta/(?P<ref>[^/]+)/issuetypes/(?P<type>[^/]+)",
                self._createmeta_fields,
            ),
            ("POST", rf"{_API}/issue", self._create_issue),
            ("GET", rf"{_API}/issue/(?P<ref>[^/]+)", self._get_issue),
            ("DELETE", rf"{_API}/issue/(?P<ref>[^/]+)", self._delete_issue),
            ("GET", rf"{_API}/issue/(?P<ref>[^/]+)/transitions", self._get_transitions),
            ("POST", rf"{_API}/issue/(?P<ref>[^/]+)/transitions", self._do_transition),
            ("GET", rf"{_API}/issue/(?P<ref>[^/]+)/comment", self._get_comments),
            ("POST", rf"{_API}/issue/(?P<ref>[^/]+)/comment", self._add_comment),
            ("GET", rf"{_API}/search/jql", self._search_jql),
            ("POST", rf"{_API}/search/jql", self._search_jql),
            ("GET", rf"{_API}/search", self._search_old),
            ("POST", rf"{_API}/search", self._search_old),
        ]
        return [(method, re.compile(pattern + "/?"), route) for method, pattern, route in table]

    def _route(self, method: str, path: str) -> tuple[Route | None, re.Match[str] | None, bool]:
        """The handler for a request, its match, and whether the path exists for other methods."""
        other = False
        for route_method, pattern, route in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method == method:
                return route, match, True
            other = True
        return None, None, other

    def _server_info(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET serverInfo (anonymous, as on Jira): what the `jira` library reads at startup."""
        version = [1001, 0, 0] if self.cloud else [9, 12, 2]
        return _Reply(
            200,
            {
                "baseUrl": self.url,
                "version": "1001.0.0-SNAPSHOT" if self.cloud else "9.12.2",
                "versionNumbers": version,
                "deploymentType": self.deployment,
                "buildNumber": 100280 if self.cloud else 9120002,
                "buildDate": "2026-11-02T00:00:00.000+0000",
                "serverTime": jira_time(self._site.now()),
                "scmInfo": "9f2c4e1d0b7a",
                "serverTitle": "Jira",
            },
        )

    def _myself(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET myself: the bot's own user."""
        return _Reply(200, self._site.bot_user)

    def _session(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET /rest/auth/1/session, which `JIRA(validate=True)` calls."""
        user = self._site.bot_user
        name = user.get("name") or user.get("accountId")
        return _Reply(200, {"self": user["self"], "name": name, "loginInfo": {"loginCount": 1}})

    def _projects(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET project: every project."""
        return _Reply(200, [self._site.project_json(p) for p in self._site.projects])

    def _project(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET project/{idOrKey}; issue types with expand=issueTypes (always on Server/DC)."""
        project = self._project_or_404(match["ref"])
        expanded = "issueTypes" in (request.param("expand") or "").split(",")
        return _Reply(200, self._site.project_json(project, issue_types=expanded or not self.cloud))

    def _components(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET project/{key}/components."""
        project = self._project_or_404(match["ref"])
        own = [c for c in self._site.components if c.project_key == project.key]
        return _Reply(200, [self._site.named_json(c, "component") for c in own])

    def _priorities(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET priority."""
        return _Reply(200, [self._site.named_json(p, "priority") for p in self._site.priorities])

    def _issue_types(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET issuetype."""
        return _Reply(200, [self._site.named_json(t, "issuetype") for t in self._site.issue_types])

    def _fields(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET field."""
        return _Reply(200, self._site.all_fields_json())

    def _createmeta_legacy(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET issue/createmeta: Cloud still has it; Data Center 9 removed it (404)."""
        if not self.cloud:
            return _Reply(404, error_body([f"No REST resource at {request.path}"]))
        keys = {k.upper() for k in request.listed("projectKeys")}
        ids = set(request.listed("projectIds"))
        type_ids = set(request.listed("issuetypeIds"))
        type_names = {n.lower() for n in request.listed("issuetypeNames")}
        with_fields = "projects.issuetypes.fields" in (request.param("expand") or "")
        fields = {f["fieldId"]: f for f in self._site.create_fields_json()}
        projects = []
        for project in self._site.projects:
            if (keys or ids) and project.key not in keys and project.id not in ids:
                continue
            types = []
            for issue_type in self._site.issue_types:
                if type_ids and issue_type.id not in type_ids:
                    continue
                if type_names and issue_type.name.lower() not in type_names:
                    continue
                shown = self._site.named_json(issue_type, "issuetype")
                if with_fields:
                    shown["fields"] = fields
                types.append(shown)
            projects.append(self._site.project_json(project, brief=True) | {"issuetypes": types})
        return _Reply(200, {"expand": "projects", "projects": projects})

    def _createmeta_types(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET issue/createmeta/{project}/issuetypes (Cloud: `issueTypes`, DC: `values`)."""
        self._project_or_404(match["ref"])
        types = [self._site.named_json(t, "issuetype") for t in self._site.issue_types]
        return _Reply(200, self._page(request, types, "issueTypes" if self.cloud else "values"))

    def _createmeta_fields(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET issue/createmeta/{project}/issuetypes/{id} (Cloud: `fields`, DC: `values`)."""
        self._project_or_404(match["ref"])
        if not any(t.id == match["type"] for t in self._site.issue_types):
            raise JiraError(404, [f"Issue type with id '{match['type']}' does not exist."])
        fields = self._site.create_fields_json()
        return _Reply(200, self._page(request, fields, "fields" if self.cloud else "values"))

    def _page(self, request: _Request, items: list[JsonDict], key: str) -> JsonDict:
        """A startAt/maxResults page; Data Center adds `isLast`."""
        start, limit = _int_param(request, "startAt", 0), _int_param(request, "maxResults", 50)
        page: JsonDict = {"maxResults": limit, "startAt": start, "total": len(items)}
        page[key] = items[start : start + limit]
        if not self.cloud:
            page["isLast"] = start + limit >= len(items)
        return page

    def _create_issue(self, request: _Request, match: re.Match[str]) -> _Reply:
        """POST issue: validate, store, answer 201 {id, key, self} (or drop the answer)."""
        issue = self._site.create_issue(request.body, self._site.bot_user)
        url = f"{self._site.base_url}/rest/api/2/issue/{issue.id}"
        reply = _Reply(201, {"id": issue.id, "key": issue.key, "self": url})
        if self._drops > 0:
            self._drops -= 1
            reply.drop = True
        return reply

    def _get_issue(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET issue/{idOrKey} with `fields` and `expand`."""
        issue = self._site.find_issue(match["ref"])
        wanted = FieldFilter(request.listed("fields"), default="*all")
        return _Reply(200, self._site.issue_json(issue, wanted, request.param("expand") or ""))

    def _delete_issue(self, request: _Request, match: re.Match[str]) -> _Reply:
        """DELETE issue/{idOrKey}: 204."""
        self._site.issues.remove(self._site.find_issue(match["ref"]))
        return _Reply(204)

    def _get_transitions(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET issue/{key}/transitions: those offered from the current status."""
        issue = self._site.find_issue(match["ref"])
        only = request.param("transitionId")
        offered = [t for t in self._site.transitions_for(issue) if only in (None, t.id)]
        return _Reply(
            200,
            {
                "expand": "transitions",
                "transitions": [self._site.transition_json(t) for t in offered],
            },
        )

    def _do_transition(self, request: _Request, match: re.Match[str]) -> _Reply:
        """POST issue/{key}/transitions: 204, or 400 for an id not offered from the status."""
        issue = self._site.find_issue(match["ref"])
        body = request.body if isinstance(request.body, dict) else {}
        wanted = body.get("transition")
        if not isinstance(wanted, dict) or wanted.get("id") in (None, ""):
            raise JiraError(400, ["Missing 'transition' identifier"])
        chosen = next(
            (t for t in self._site.transitions_for(issue) if t.id == str(wanted["id"])), None
        )
        if chosen is None:
            raise JiraError(400, [f"Transition id '{wanted['id']}' is not valid for this issue."])
        extra = body.get("fields") or {}
        if extra:
            # The emulated transitions have no screens, so Jira would refuse any field.
            raise JiraError(
                400,
                [],
                {name: CANNOT_SET.format(name) for name in extra},
            )
        comments = (body.get("update") or {}).get("comment") or []
        self._site.move(issue, chosen, self._site.bot_user)
        for operation in comments:
            added = operation.get("add") if isinstance(operation, dict) else None
            if isinstance(added, dict):
                self._site.add_comment(issue, added.get("body"), self._site.bot_user)
        return _Reply(204)

    def _get_comments(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET issue/{key}/comment."""
        issue = self._site.find_issue(match["ref"])
        total = len(issue.comments)
        body = {"startAt": 0, "maxResults": total, "total": total, "comments": issue.comments}
        return _Reply(200, body)

    def _add_comment(self, request: _Request, match: re.Match[str]) -> _Reply:
        """POST issue/{key}/comment: 201 with the comment."""
        issue = self._site.find_issue(match["ref"])
        body = request.body.get("body") if isinstance(request.body, dict) else None
        return _Reply(201, self._site.add_comment(issue, body, self._site.bot_user))

    def _search_jql(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET|POST search/jql (Cloud): nextPageToken paging, no `total`, `id`-only by default."""
        if not self.cloud:
            return _Reply(404, error_body([f"No REST resource at {request.path}"]))
        args = _search_args(request)
        wanted = FieldFilter(args["fields"], default="id", bare_ids=True)
        cap = 5000 if wanted.included <= {"id", "key"} else 100
        limit = min(_positive(args.get("maxResults"), 50, "maxResults"), cap)
        token = args.get("nextPageToken")
        start = _decode_token(str(token), str(args["jql"])) if token else 0
        found, bounded = self._site.search(str(args["jql"]))
        if not bounded:
            raise JiraError(
                400,
                [_UNBOUNDED],
            )
        page = found[start : start + limit]
        expand = str(args.get("expand") or "")
        result: JsonDict = {
            "issues": [self._site.issue_json(i, wanted, expand) for i in page],
            "isLast": start + limit >= len(found),
        }
        if not result["isLast"]:
            result["nextPageToken"] = _encode_token(start + limit, str(args["jql"]))
        return _Reply(200, result)

    def _search_old(self, request: _Request, match: re.Match[str]) -> _Reply:
        """GET|POST search: 410 Gone on Cloud (CHANGE-2046); startAt paging with `total` on DC."""
        if self.cloud:
            return _Reply(410, error_body([_SEARCH_GONE]))
        args = _search_args(request)
        start = _positive(args.get("startAt"), 0, "startAt")
        limit = min(_positive(args.get("maxResults"), 50, "maxResults"), 1000)
        strict = str(args.get("validateQuery", "strict")).lower() not in ("warn", "none", "false")
        found, _ = self._site.search(str(args["jql"]), strict=strict)
        wanted = FieldFilter(args["fields"], default="*navigable")
        expand = str(args.get("expand") or "")
        return _Reply(
            200,
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": limit,
                "total": len(found),
                "issues": [
                    self._site.issue_json(i, wanted, expand) for i in found[start : start + limit]
                ],
            },
        )

    def _project_or_404(self, ref: str) -> Project:
        """A project by id or key, or Jira's 404."""
        project = self._site.find_project(ref)
        if project is None:
            raise JiraError(404, [f"No project could be found with key '{ref}'."])
        return project


def _matches(method: str, path: str, want_method: str, prefix: str) -> bool:
    """Method equality (or "*") and a path at or below `prefix`, segment-wise."""
    if want_method.upper() not in ("*", method.upper()):
        return False
    prefix = prefix.rstrip("/")
    return path.rstrip("/") == prefix or path.startswith(prefix + "/")


def _decode(raw: bytes, content_type: str) -> tuple[Any, _Reply | None]:
    """The JSON body, or the 415/400 Jira answers for a non-JSON or malformed one."""
    if not raw:
        return None, None
    if content_type != "application/json":
        return None, _Reply(415, error_body([f"Unsupported Media Type: {content_type}"]))
    try:
        return json.loads(raw.decode("utf-8")), None
    except (UnicodeDecodeError, json.JSONDecodeError) as failure:
        return None, _Reply(400, error_body([f"Unexpected character in the JSON body: {failure}"]))


def _search_args(request: _Request) -> JsonDict:
    """Search parameters from the query string (GET) or the JSON body (POST)."""
    if request.method == "POST":
        body = request.body if isinstance(request.body, dict) else {}
        fields = body.get("fields") or []
        return dict(body) | {
            "jql": body.get("jql") or "",
            "fields": [fields] if isinstance(fields, str) else [str(f) for f in fields],
        }
    args: JsonDict = {name: values[-1] for name, values in request.params.items()}
    return args | {"jql": request.param("jql", "") or "", "fields": request.listed("fields")}


def _positive(value: Any, default: int, name: str) -> int:
    """A non-negative integer parameter, or Jira's 400."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise JiraError(
            400, [f"The value '{value}' is invalid for the '{name}' parameter."]
        ) from None
    if number < 0:
        raise JiraError(400, [f"The value '{value}' is invalid for the '{name}' parameter."])
    return number


def _int_param(request: _Request, name: str, default: int) -> int:
    """An integer query parameter."""
    return _positive(request.param(name), default, name)


def _encode_token(offset: int, jql: str) -> str:
    """An opaque nextPageToken bound to the query it pages through."""
    digest = hashlib.sha256(jql.encode()).hexdigest()[:12]
    return base64.urlsafe_b64encode(f"{offset}:{digest}".encode()).decode().rstrip("=")


def _decode_token(token: str, jql: str) -> int:
    """The offset in a nextPageToken; 400 when it is forged or from another query."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        offset, digest = text.split(":")
        if digest == hashlib.sha256(jql.encode()).hexdigest()[:12]:
            return int(offset)
    except (ValueError, binascii.Error):
        pass
    raise JiraError(400, ["The provided next page token is invalid or expired."])


def _rate_headers(wait: float, limit: float, rate: float) -> dict[str, str]:
    """Jira's 429 headers; Retry-After is whole seconds since clients parse it with int()."""
    reset = datetime.fromtimestamp(time.time() + wait, UTC).strftime("%Y-%m-%dT%H:%MZ")
    return {
        "Retry-After": str(math.ceil(wait)),
        "X-RateLimit-Limit": str(int(limit)),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-FillRate": str(rate),
        "X-RateLimit-Interval-Seconds": "1",
        "X-RateLimit-Reset": reset,
        "RateLimit-Reason": "jira-burst-based",
    }


def _phrase(status: int) -> str:
    """The reason phrase of a status code, for injected error bodies."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
