"""A Jira REST v2 emulator that speaks real HTTP on 127.0.0.1, for tests, benchmarks and demos.

`JiraEmulator` is the object tests hold: it owns the lock, the server thread and the controls.
The rest lives by noun: jira_state (the site and its issues) over jira_catalogue, jira_routes
with the jira_*_routes handlers, jira_failures, jira_recording and jira_webhooks.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.jira.failures import Failure, Faults
from sandbox.jira.http import LoopbackServer, Reply, Request, decode_body
from sandbox.jira.json import issue_json
from sandbox.jira.recording import CallLog, RecordedCall
from sandbox.jira.routes import Router
from sandbox.jira.state import Issue, JiraSite
from sandbox.jira.webhooks import deliver, status_change_payload
from sandbox.jira.wire import JiraError, JsonDict
from sandbox.lifecycle import Startable

__all__ = ["JiraEmulator", "RecordedCall"]


class JiraEmulator(Startable):
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
        self._calls = CallLog(self._cond)
        self._faults = Faults()
        self._router = Router(self._site, self._faults, self._authenticated)
        self._wake = threading.Event()  # set by stop() so hang_next sleepers return early
        self._releases: list[threading.Event] = []  # one per create held by commit_late
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

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
        """Stop serving and release the port; sleeping requests are woken (held creates commit)."""
        with self._cond:
            self._wake.set()
            for release in self._releases:
                release.set()
            self._unbind()
            self._faults.outage = None

    @property
    def url(self) -> str:
        """The site URL, what a user puts in JIRA_URL, e.g. http://127.0.0.1:PORT."""
        if self._server is None and self._faults.outage != "refuse":
            raise RuntimeError("JiraEmulator is not started")
        return f"http://127.0.0.1:{self._port}"

    def _bind(self, port: int) -> None:
        """Serve on `port` (0: any free one)."""
        self._wake.clear()
        self._server = LoopbackServer(self._serve, port)
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
            self._site.catalogue.add_project(key, name, id)

    def add_issue_type(self, name: str, id: str | None = None) -> None:
        """Register an issue type, offered in every project."""
        with self._cond:
            self._site.catalogue.add_issue_type(name, id)

    def add_priority(self, name: str, id: str | None = None) -> None:
        """Register a priority after the existing ones (lowest rank)."""
        with self._cond:
            self._site.catalogue.add_priority(name, id)

    def add_component(self, name: str, id: str | None = None, project: str | None = None) -> None:
        """Register a component of `project` (default: the main project)."""
        with self._cond:
            self._site.catalogue.add_component(name, id, project or self.project_key)

    def add_status(self, name: str, id: str, category: str) -> None:
        """Register a workflow status; `category` is new, indeterminate or done."""
        with self._cond:
            self._site.catalogue.add_status(name, id, category)

    def add_transition(self, id: str, name: str, to: str, sources: tuple[str, ...] = ()) -> None:
        """Register a workflow transition into status `to` from `sources` (empty: global)."""
        with self._cond:
            self._site.catalogue.add_transition(id, name, to, sources)

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
        with self._cond:
            self._site.catalogue.add_custom_field(
                field_id, name, kind, required, list(options or [])
            )

    def require_field(self, field_id: str) -> None:
        """Make a system field (priority, components, labels, ...) required on create."""
        with self._cond:
            self._site.catalogue.required.add(field_id)

    # -- inspection and human actions --------------------------------------------------------------

    def issues(self) -> list[JsonDict]:
        """Every stored issue with all fields, in creation order."""
        with self._cond:
            return copy.deepcopy([issue_json(self._site, i) for i in self._site.issues])

    def issue(self, key: str) -> JsonDict:
        """One issue with all fields and its changelog; KeyError when unknown."""
        with self._cond:
            return copy.deepcopy(issue_json(self._site, self._find(key), expand="changelog"))

    def comments(self, key: str) -> list[JsonDict]:
        """The comments of an issue, oldest first; KeyError when unknown."""
        with self._cond:
            return copy.deepcopy(self._find(key).comments)

    def links(self, key: str) -> list[tuple[str, str]]:
        """An issue's links as (how it reads from here, other key): ("duplicates", "HYP-1")."""
        with self._cond:
            return [
                (link.type.outward if link.outward else link.type.inward, link.other.key)
                for link in self._find(key).links
            ]

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

    def add_user(self, display_name: str, email: str | None = None) -> JsonDict:
        """Register a person of the site: assignable, and found by user/search."""
        with self._cond:
            return copy.deepcopy(self._site.add_person(display_name, email))

    def assign(self, key: str, display_name: str | None, by: str = "Jira User") -> None:
        """Assign an issue to a registered person (None: unassign), as a human in Jira would."""
        with self._cond:
            person = None
            if display_name is not None:
                person = next(
                    (p for p in self._site.people if p["displayName"] == display_name), None
                )
                if person is None:
                    raise KeyError(f"no Jira user {display_name!r} (add_user first)")
            self._site.assign(self._find(key), person, self._site.user(by))

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
        return self._calls.all()

    def calls_to(self, method: str, path_prefix: str) -> list[RecordedCall]:
        """The requests with this method whose path is `path_prefix` or below it."""
        return self._calls.to(method, path_prefix)

    def reset_calls(self) -> None:
        """Forget the recorded calls; issues and catalogue are kept."""
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
        return self._calls.wait_for(method, path_prefix, count, timeout, status)

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
            failure = Failure(method.upper(), path_prefix, times, status, retry_after, body)
            self._faults.arm(failure)

    def hang_next(self, method: str, path_prefix: str, seconds: float, times: int = 1) -> None:
        """Delay the answer to the next `times` matching requests by `seconds`."""
        with self._cond:
            self._faults.arm(Failure(method.upper(), path_prefix, times, hang=seconds))

    def drop_after_create(self, times: int = 1) -> None:
        """Store the next `times` created issues but close the connection without answering."""
        with self._cond:
            self._faults.drop_after_create(times)

    def hold_after_create(self, seconds: float, times: int = 1) -> None:
        """Store the next created issues at once but answer only after `seconds`.

        This opens the window in which a client can die after Jira acted but before it heard.
        """
        with self._cond:
            self._faults.hold_after_create(seconds, times)

    def commit_late(self, seconds: float, times: int = 1) -> None:
        """Run the next `times` creates but commit them only after `seconds` (or at
        `commit_held()`), answering then, whether or not the client is still there.

        Until it commits, the issue is in no search and no GET, yet its key and `created` are
        the ones its create took (Jira numbers and stamps an issue when the create runs, not
        when its transaction commits), so a create that overtakes it is younger on both counts.
        This is the create a client can neither see nor stop: it gave up, or died, and the
        issue still appears later.
        """
        with self._cond:
            self._faults.commit_late(seconds, times)

    def held_creates(self) -> list[str]:
        """The keys of the creates run but not committed yet (commit_late)."""
        with self._cond:
            return [issue.key for issue in self._site.uncommitted]

    def commit_held(self) -> None:
        """Commit every held create now rather than at the end of its delay."""
        with self._cond:
            for release in self._releases:
                release.set()

    def set_rate_limit(self, per_second: float | None) -> None:
        """Admit `per_second` requests a second (burst of the same size); None lifts the limit."""
        with self._cond:
            self._faults.set_rate_limit(per_second)

    def go_down(self, *, refuse: bool = False) -> None:
        """Answer every request with 503, or with `refuse` close the port so connects fail."""
        with self._cond:
            if refuse and self._server is not None:
                self._unbind()
            self._faults.outage = "refuse" if refuse else "503"

    def come_back(self) -> None:
        """End an outage; a refused port is bound again, so `url` stays the same."""
        with self._cond:
            if self._faults.outage == "refuse":
                self._bind(self._port)
            self._faults.outage = None

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
        return deliver(
            url,
            event,
            secret=self.webhook_secret,
            identifier=identifier,
            retry=retry,
            signature=signature,
            timeout=timeout,
        )

    def status_change_event(self, key: str) -> JsonDict:
        """A `jira:issue_updated` payload of the last status change; LookupError if none."""
        with self._cond:
            return copy.deepcopy(status_change_payload(self._site, self._find(key)))

    # -- request handling --------------------------------------------------------------------------

    def _serve(
        self, *, method: str, target: str, content_type: str, authorization: str, raw: bytes
    ) -> Reply:
        """Answer one HTTP request and record it."""
        parts = urlsplit(target)
        path, params = parts.path, parse_qs(parts.query, keep_blank_values=True)
        body, body_error = decode_body(raw, content_type)
        with self._cond:
            delay = self._faults.take_hang(method, path)
        if delay > 0:
            # Sleep outside the lock so other requests are not held up; stop() cuts it short.
            self._wake.wait(delay)
        with self._cond:
            try:
                # Outages, the rate limit and injected failures come first, even before auth.
                reply = self._faults.intercept(method, path)
                if reply is None:
                    request = Request(method, path, params, body)
                    reply = self._router.answer(request, authorization, body_error)
            except JiraError as refused:
                reply = Reply(refused.status, refused.body)
            late = self._faults.take_late_commit(path, reply)
            if late is None:
                self._calls.record(method, path, params, body, reply)
            else:  # out of sight before the lock is let go: no search may see it early
                held = self._site.find_issue(str(reply.body["id"]))
                self._site.withhold(held)
                release = threading.Event()
                self._releases.append(release)
            hold = self._faults.take_hold(path, reply)
            answer = Reply(reply.status, copy.deepcopy(reply.body), reply.headers, reply.drop)
        if late is not None:
            release.wait(late)
            return self._commit(held, release, answer, (method, path, params, body))
        if hold:
            self._wake.wait(hold)
        return answer

    def _commit(
        self,
        issue: Issue,
        release: threading.Event,
        answer: Reply,
        call: tuple[str, str, dict[str, list[str]], Any],
    ) -> Reply:
        """Commit a held create and record its call (Jira answers it now, if anyone listens)."""
        with self._cond:
            self._releases.remove(release)
            self._site.commit(issue)
            self._calls.record(*call, answer)
        return answer

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
