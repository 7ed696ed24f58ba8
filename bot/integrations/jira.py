"""JiraTracker: the TicketTracker port over Jira REST v2, through the `jira` library.

Retries are the outbox worker's job, so the client never retries by itself (a POST it
retried after a dropped connection could open a second issue). Every call has connect and
read timeouts, and calls are paced to the configured rate so a drained backlog never floods
Jira.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import requests
from jira import JIRA, JIRAError

from bot.domain import Ticket, TicketCategory, TicketComment, TicketDraft, TicketUser
from bot.errors import DeliveryDeferred, DeliveryRefused
from bot.integrations import jira_markup

log = logging.getLogger(__name__)

T = TypeVar("T")

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
TICKET_FIELDS = "summary,status,labels,created,updated,resolutiondate,assignee"
PAGE = 100  # issues per search page
MAX_PAGES = 20  # a reconciliation reads at most this many pages (2,000 issues)
DUPLICATE = "Duplicate"  # Jira's own link type (inward "is duplicated by", outward "duplicates")


class Pacer:
    """Spaces calls at least 1/rate seconds apart (a token bucket of size one)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._gap = 1.0 / per_second
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until the next call is allowed."""
        with self._lock:
            now = self._clock()
            delay = max(0.0, self._next - now)
            self._next = max(now, self._next) + self._gap
        if delay:
            time.sleep(delay)


def _jira_message(error: JIRAError) -> str:
    """Jira's own explanation, without URLs, headers or anything secret."""
    try:
        body = error.response.json() if error.response is not None else {}
    except ValueError:
        body = {}
    parts = list(body.get("errorMessages") or [])
    parts += [f"{field}: {message}" for field, message in (body.get("errors") or {}).items()]
    return "; ".join(str(p) for p in parts)[:500] or f"HTTP {error.status_code}"


def _retry_after(error: JIRAError) -> float | None:
    headers = error.response.headers if error.response is not None else {}
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def parse_time(value: str | None) -> dt.datetime | None:
    """Parse Jira's `2026-11-23T09:00:00.000+0000` timestamps."""
    if not value:
        return None
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(dt.UTC)


def label_query(label: str) -> str:
    """The JQL that finds the issue carrying an idempotency label."""
    return f'labels = "{_jql_string(label)}" ORDER BY key ASC'


def create_fields(draft: TicketDraft, project: str, issue_type: str) -> dict[str, Any]:
    """The fields of the create request for a draft: what Jira stores for the ticket."""
    fields: dict[str, Any] = {
        "project": {"key": project},
        "issuetype": {"name": issue_type},
        "summary": jira_markup.summary(draft.summary),
        "description": jira_markup.description(draft),
        "labels": [draft.idempotency_label, *draft.labels],
    }
    if draft.priority:
        fields["priority"] = {"name": draft.priority}
    if draft.components:
        fields["components"] = [{"name": name} for name in draft.components]
    fields.update(dict(draft.extra_fields))
    return fields


class JiraTracker:
    """Opens and reads Jira issues for hypercare feedback."""

    def __init__(
        self,
        *,
        url: str,
        project: str,
        issue_type: str,
        basic_auth: tuple[str, str] | None = None,
        token: str | None = None,
        requests_per_second: float = 5.0,
        timeouts: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
    ) -> None:
        self._url = url.rstrip("/")
        self._project = project
        self._issue_type = issue_type
        self._basic_auth = basic_auth
        self._token = token
        self._pacer = Pacer(requests_per_second)
        self._timeouts = timeouts
        self._client: JIRA | None = None
        self._cloud = False
        self._lock = threading.Lock()

    def _jira(self) -> JIRA:
        # Built lazily: construction asks Jira for its server info, and Jira may be down now.
        with self._lock:
            if self._client is None:
                self._pacer.wait()
                client = JIRA(
                    server=self._url,
                    basic_auth=self._basic_auth,
                    token_auth=self._token,
                    timeout=self._timeouts,
                    max_retries=0,
                    get_server_info=True,
                    options={"check_update": False},
                )
                self._cloud = bool(client._is_cloud)
                self._client = client
            return self._client

    def _call(self, what: str, fn: Callable[[JIRA], T]) -> T:
        """Run one paced Jira call, translating failures into the port's two errors."""
        try:
            client = self._jira()
            self._pacer.wait()
            return fn(client)
        except JIRAError as error:
            status = error.status_code or 0
            message = _jira_message(error)
            if status == 429 or status >= 500 or status == 0:
                raise DeliveryDeferred(
                    f"Jira {what}: {message}", _retry_after(error), peer_down=True
                ) from None
            raise DeliveryRefused(f"Jira refused {what}: {message}") from None
        except (requests.exceptions.RequestException, OSError) as error:
            raise DeliveryDeferred(f"Jira {what}: {type(error).__name__}", peer_down=True) from None

    def url_of(self, key: str) -> str:
        """Return the browser link of an issue."""
        return f"{self._url}/browse/{key}"

    def _ticket(self, raw: dict[str, Any]) -> Ticket:
        fields = raw.get("fields") or {}
        changed_by, changed_at = _last_change(raw, "status")
        assigned_by, assigned_at = _last_change(raw, "assignee")
        status = fields.get("status") or {}
        category = (status.get("statusCategory") or {}).get("key") or "new"
        return Ticket(
            key=str(raw["key"]),
            url=self.url_of(str(raw["key"])),
            status=str(status.get("name") or "Unknown"),
            category=TicketCategory(category)
            if category in {"new", "indeterminate", "done"}
            else TicketCategory.NEW,
            labels=tuple(fields.get("labels") or ()),
            updated=parse_time(fields.get("updated")),
            resolved=parse_time(fields.get("resolutiondate")),
            status_changed_by=changed_by,
            status_changed_at=changed_at,
            created=parse_time(fields.get("created")),
            assignee=_user(fields.get("assignee")),
            assignee_changed_by=assigned_by,
            assignee_changed_at=assigned_at,
        )

    def _search(self, jql: str, limit: int = 100, expand: str | None = None) -> list[Ticket]:
        def run(client: JIRA) -> list[dict[str, Any]]:
            if self._cloud:
                found = client.enhanced_search_issues(
                    jql, maxResults=limit, fields=TICKET_FIELDS, expand=expand, json_result=True
                )
            else:
                found = client.search_issues(
                    jql, maxResults=limit, fields=TICKET_FIELDS, expand=expand, json_result=True
                )
            return list(found.get("issues") or [])

        return [self._ticket(raw) for raw in self._call("search", run)]

    def _search_all(self, jql: str) -> list[Ticket]:
        """Every issue a query finds, page by page (at most MAX_PAGES pages)."""

        def page(after: str | int | None) -> tuple[list[dict[str, Any]], str | int | None]:
            def run(client: JIRA) -> Any:
                if self._cloud:  # Cloud pages with an opaque token, Data Center with an offset
                    return client.enhanced_search_issues(
                        jql,
                        nextPageToken=str(after) if after else None,
                        maxResults=PAGE,
                        fields=TICKET_FIELDS,
                        json_result=True,
                    )
                return client.search_issues(
                    jql,
                    startAt=int(after or 0),
                    maxResults=PAGE,
                    fields=TICKET_FIELDS,
                    json_result=True,
                )

            found = self._call("search", run)
            issues = list(found.get("issues") or [])
            if self._cloud:
                return issues, None if found.get("isLast", True) else found.get("nextPageToken")
            offset = int(found.get("startAt") or 0) + len(issues)
            more = issues and offset < int(found.get("total") or 0)
            return issues, offset if more else None

        raws: list[dict[str, Any]] = []
        after: str | int | None = None
        for _ in range(MAX_PAGES):
            issues, after = page(after)
            raws += issues
            if after is None:
                break
        else:
            log.warning("Jira search stopped after %s issues: %s", len(raws), jql)
        return [self._ticket(raw) for raw in raws]

    def find_all(self, label: str) -> list[Ticket]:
        """Return every issue carrying an idempotency label (one, unless Jira made duplicates)."""
        return self._search(label_query(label), limit=PAGE)

    def create(self, draft: TicketDraft) -> Ticket:
        """Open an issue; the caller has searched for its label first."""
        fields = create_fields(draft, self._project, self._issue_type)

        def run(client: JIRA) -> Any:
            return client.create_issue(fields=fields, prefetch=False)

        issue = self._call("the new issue", run)
        log.info("Jira issue %s created for %s", issue.key, draft.idempotency_label)
        # Jira's create answer has no status: leave it unknown ("") until a poll or webhook
        # says it, rather than inventing one that the first poll would "change".
        return Ticket(issue.key, self.url_of(issue.key), "", TicketCategory.NEW)

    def get(self, key: str) -> Ticket:
        """Return one issue's current state."""
        raw = self._call("the issue", lambda c: c.issue(key, fields=TICKET_FIELDS).raw)
        return self._ticket(raw)

    def updated_since(self, label: str, minutes: int) -> list[Ticket]:
        """Return issues with `label` updated in the last `minutes`, oldest change first."""
        jql = (
            f'labels = "{_jql_string(label)}" AND updated >= -{int(minutes)}m ORDER BY updated ASC'
        )
        return self._search(jql, expand="changelog")  # the changelog says who moved it, and when

    def created_since(self, label: str, minutes: int) -> list[Ticket]:
        """Return issues with `label` created in the last `minutes`, oldest first."""
        jql = (
            f'labels = "{_jql_string(label)}" AND created >= -{int(minutes)}m '
            "ORDER BY created ASC, key ASC"
        )
        return self._search_all(jql)

    def close_duplicate(self, key: str, original: str, comment: str, transition: str) -> bool:
        """Link `key` to `original` as a duplicate, comment once, close it via `transition`.

        Each step is safe to repeat, since the outbox retries the whole after a failure: Jira
        keeps one link of a type between two issues, the comment is added only when the issue
        has no comment with the same text, and an issue already done is left as it is.
        """
        self.link_duplicate(key, original)
        comments = self._call("the comments", lambda c: c.comments(key))
        if not any(getattr(existing, "body", None) == comment for existing in comments):
            self._call("the comment", lambda c: c.add_comment(key, comment))
        if self.get(key).category is TicketCategory.DONE:
            return True
        offered = self._call("the transitions", lambda c: c.transitions(key))
        wanted = transition.casefold()
        chosen = next(
            (
                t
                for t in offered
                if str(t.get("name", "")).casefold() == wanted
                or str((t.get("to") or {}).get("name", "")).casefold() == wanted
            ),
            None,
        )
        if chosen is None:
            names = ", ".join(sorted(str(t.get("name")) for t in offered)) or "none"
            log.warning(
                "Jira offers %s no transition %r (it offers: %s): the duplicate stays open",
                key,
                transition,
                names,
            )
            return False
        try:
            self._call("the transition", lambda c: c.transition_issue(key, str(chosen["id"])))
        except DeliveryRefused as refused:  # a screen wanting fields: a person must close it
            log.warning("Jira refused to close duplicate %s: %s", key, refused.reason)
            return False
        return True

    def comment(self, key: str, comment: TicketComment) -> None:
        """Add a comment, unless one carrying its marker is on the issue already."""
        body = jira_markup.comment(comment)
        mark = jira_markup.marker(comment.marker)

        def run(client: JIRA) -> None:
            # Comments have no idempotency key: a comment posted by a try whose answer was
            # lost is found by its marker, as tickets are found by their label.
            page = client._get_json(f"issue/{key}/comment", params={"maxResults": 1000})
            if any(mark in str(c.get("body") or "") for c in page.get("comments") or []):
                return
            client.add_comment(key, body)

        self._call("the comment", run)

    def assign(self, key: str, email: str) -> TicketUser | None:
        """Assign an issue to the Jira user with this e-mail; None when Jira has nobody with
        it (the issue is left as it is). Repeatable: assigning the assignee changes nothing."""

        def run(client: JIRA) -> TicketUser | None:
            # Cloud searches with `query`, Data Center with `username`; both match e-mails.
            param = "query" if self._cloud else "username"
            found = client._get_json("user/search", params={param: email, "maxResults": 10})
            users = [_user(u) for u in found if isinstance(u, dict)] if found else []
            exact = [u for u in users if u is not None and (u.email or "").lower() == email.lower()]
            if not exact:
                return None
            person = exact[0]
            body = {"accountId" if self._cloud else "name": person.id}
            url = client._get_url(f"issue/{key}/assignee")
            client._session.put(url, data=json.dumps(body))
            return person

        return self._call("the assignee", run)  # `run` sees `_cloud`: the client is built

    def link_duplicate(self, duplicate: str, original: str) -> None:
        """Link `duplicate` to `original` with Jira's Duplicate type, unless linked so already."""

        def run(client: JIRA) -> None:
            raw = client.issue(duplicate, fields="issuelinks").raw
            for link in (raw.get("fields") or {}).get("issuelinks") or []:
                other = (link.get("outwardIssue") or {}).get("key")
                if (link.get("type") or {}).get("name") == DUPLICATE and other == original:
                    return
            # Jira reads `inwardIssue` with the type's outward words: "duplicate duplicates
            # original". Posted directly: the library's helper first lists every link type.
            body = {
                "type": {"name": DUPLICATE},
                "inwardIssue": {"key": duplicate},
                "outwardIssue": {"key": original},
            }
            client._session.post(client._get_url("issueLink"), data=json.dumps(body))

        self._call("the issue link", run)

    def check(
        self, *, priorities: Sequence[str], components: Sequence[str], custom_fields: Sequence[str]
    ) -> list[str]:
        """Check that project, issue type, priorities, components and fields can be used."""

        def run(client: JIRA) -> list[str]:
            # The per-project create metadata (Cloud, and Data Center 8.4+). The library only
            # wraps it for Data Center, so ask for it directly; Cloud and DC name the list
            # differently.
            base = f"issue/createmeta/{self._project}/issuetypes"
            types_page = client._get_json(base, params={"maxResults": 200})
            types = {t["name"]: t["id"] for t in _values(types_page, "issueTypes")}
            if self._issue_type not in types:
                known = ", ".join(sorted(types))
                return [
                    f"jira.issue_type: {self._issue_type!r} is not an issue type of "
                    f"{self._project} (it has: {known})"
                ]
            fields_page = client._get_json(
                f"{base}/{types[self._issue_type]}", params={"maxResults": 200}
            )
            meta = {
                str(f.get("fieldId") or f.get("key")): f for f in _values(fields_page, "fields")
            }
            return _mapping_problems(meta, self._project, priorities, components, custom_fields)

        return self._call("the create metadata", run)


def _user(raw: object) -> TicketUser | None:
    """A Jira user object (assignee): account id on Cloud, user name on Data Center."""
    if not isinstance(raw, dict):
        return None
    ref = raw.get("accountId") or raw.get("name") or raw.get("key")
    if not ref:
        return None
    name = str(raw.get("displayName") or ref)
    email = raw.get("emailAddress")
    return TicketUser(str(ref), name, str(email) if email else None)


def _last_change(raw: dict[str, Any], field: str) -> tuple[str | None, dt.datetime | None]:
    """Who last changed a field of an issue, and when, from an expanded changelog."""
    histories = (raw.get("changelog") or {}).get("histories") or []
    for history in reversed(histories):
        items = history.get("items") or []
        if any(isinstance(i, dict) and i.get("field") == field for i in items):
            author = (history.get("author") or {}).get("displayName")
            return (str(author) if author else None), parse_time(history.get("created"))
    return None, None


def _values(page: Any, cloud_key: str) -> list[dict[str, Any]]:
    """The list in a create-metadata page: `values` on Data Center, another key on Cloud."""
    if not isinstance(page, dict):
        return []
    found = page.get("values", page.get(cloud_key)) or []
    return [item for item in found if isinstance(item, dict)]


def _allowed(field: dict[str, Any] | None) -> set[str]:
    values = (field or {}).get("allowedValues") or []
    return {str(v["name"]) for v in values if isinstance(v, dict) and v.get("name")}


def _mapping_problems(
    meta: dict[str, dict[str, Any]],
    project: str,
    priorities: Sequence[str],
    components: Sequence[str],
    custom_fields: Sequence[str],
) -> list[str]:
    """Compare a mapping with an issue type's create metadata; say what Jira would refuse."""
    problems: list[str] = []
    if priorities and "priority" not in meta:
        problems.append("severities: the issue type has no priority field on its create screen")
    allowed_priorities = _allowed(meta.get("priority"))
    for name in priorities:
        if "priority" in meta and allowed_priorities and name not in allowed_priorities:
            known = ", ".join(sorted(allowed_priorities))
            problems.append(f"severities: Jira priority {name!r} does not exist (it has: {known})")
    if components and "components" not in meta:
        problems.append("components: the issue type has no components field on its create screen")
    allowed_components = _allowed(meta.get("components"))
    for name in components:
        if "components" in meta and name not in allowed_components:
            problems.append(f"components: Jira component {name!r} does not exist in {project}")
    for field in custom_fields:
        if field not in meta:
            problems.append(f"jira.fields.{field}: not on the create screen of this issue type")
    return problems


def _jql_string(text: str) -> str:
    """Escape text for a double-quoted JQL string."""
    return text.replace("\\", "\\\\").replace('"', '\\"')
