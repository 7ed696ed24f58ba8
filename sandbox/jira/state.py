"""The emulated Jira site's state: its clock and users, the catalogue, and the stored issues with
their workflow moves and comments. Create checks, JSON shapes and JQL live in their own modules.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.jira.catalogue import RESOLUTION_DONE, Catalogue, LinkType, Status, Transition
from sandbox.jira.jql import run_search
from sandbox.jira.validation import IssueFields, check_comment, check_create
from sandbox.jira.wire import JiraError, JsonDict, jira_time


@dataclass(kw_only=True)
class Issue(IssueFields):
    """One stored issue: the fields its create request set plus what Jira keeps itself."""

    id: str
    key: str
    number: int
    status: Status
    created: datetime
    updated: datetime
    reporter: JsonDict
    resolutiondate: datetime | None = None
    comments: list[JsonDict] = field(default_factory=list)
    histories: list[JsonDict] = field(default_factory=list)
    links: list[IssueLink] = field(default_factory=list)

    def answers_to(self, ref: str) -> bool:
        """Whether `ref` is this issue's key (any case) or id."""
        return ref.upper() == self.key or ref == self.id


@dataclass(frozen=True)
class IssueLink:
    """A link seen from one issue: its type, which way it points, and the other issue."""

    id: str
    type: LinkType
    outward: bool  # True: this issue <type.outward> the other ("duplicates")
    other: Issue


class JiraSite:
    """Catalogue, issues and rules of one emulated Jira site; the caller holds the lock."""

    def __init__(self, *, cloud: bool, project_key: str, clock: Callable[[], datetime]) -> None:
        """Seed the default catalogue; the emulator sets `base_url` and `bot_user` once bound."""
        self.cloud = cloud
        self._clock = clock
        self.base_url = "http://127.0.0.1"
        self.catalogue = Catalogue(cloud=cloud, project_key=project_key)
        self.issues: list[Issue] = []
        # Created but not committed (late_commit): not in search or GET until committed.
        self.uncommitted: list[Issue] = []
        self.bot_user: JsonDict = {}
        self.people: list[JsonDict] = []  # the site's users, found by user/search and assigned
        self._next_id = {"issue": 10000, "comment": 10000, "history": 10100, "link": 10500}
        self._numbers: dict[str, int] = {}

    def now(self) -> datetime:
        """The site clock in UTC, at Jira's millisecond precision."""
        moment = self._clock()
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def api_url(self, *parts: str) -> str:
        """The `self` link of a REST v2 resource, e.g. api_url("issue", "10000")."""
        return "/".join((f"{self.base_url}/rest/api/2", *parts))

    def user(self, display_name: str, email: str | None = None) -> JsonDict:
        """A user object as the deployment shows it: accountId on Cloud, name/key on Server."""
        slug = re.sub(r"[^a-z0-9]+", "-", display_name.lower()).strip("-") or "user"
        base = self.api_url("user")
        if self.cloud:
            account = hashlib.sha256(display_name.encode()).hexdigest()[:24]
            user: JsonDict = {"self": f"{base}?accountId={account}", "accountId": account}
        else:
            user = {"self": f"{base}?username={slug}", "name": slug, "key": slug}
        if email is not None:
            user["emailAddress"] = email
        user.update(displayName=display_name, active=True, timeZone="Etc/UTC")
        if self.cloud:
            user["accountType"] = "atlassian"
        return user

    def add_person(self, display_name: str, email: str | None) -> JsonDict:
        """Register a user of the site (assignable, found by user/search)."""
        person = self.user(display_name, email)
        self.people.append(person)
        return person

    def find_people(self, query: str) -> list[JsonDict]:
        """Users whose e-mail, name or display name starts with `query` (any case), as
        GET user/search matches them."""
        wanted = query.strip().lower()
        if not wanted:
            return []
        fields = ("emailAddress", "displayName", "name")
        return [
            p
            for p in self.people
            if any(str(p.get(f) or "").lower().startswith(wanted) for f in fields)
        ]

    def person(self, ref: str) -> JsonDict | None:
        """A registered user by account id (Cloud) or user name (Server)."""
        field_name = "accountId" if self.cloud else "name"
        return next((p for p in self.people if p.get(field_name) == ref), None)

    def assign(self, issue: Issue, person: JsonDict | None, author: JsonDict) -> None:
        """Set (None: clear) the assignee, with `updated` and a changelog entry."""
        before = issue.assignee
        if (before or {}).get("self") == (person or {}).get("self"):
            return
        key = "accountId" if self.cloud else "name"

        def side(user: JsonDict | None) -> tuple[str | None, str | None]:
            return (user.get(key), user.get("displayName")) if user else (None, None)

        now = self.now()
        issue.assignee, issue.updated = person, now
        issue.histories.append(
            {
                "id": str(self._take_id("history")),
                "author": author,
                "created": jira_time(now),
                "items": [_change("assignee", side(before), side(person))],
            }
        )

    # -- issues ------------------------------------------------------------------------------------

    def create_issue(self, body: Any, reporter: JsonDict) -> Issue:
        """Validate a create request as Jira does and store the issue in the initial status."""
        checked = check_create(self, body)
        project_key = checked.project.key
        number = self._numbers.get(project_key, 0) + 1
        self._numbers[project_key] = number
        now = self.now()
        issue = Issue(
            **vars(checked),
            id=str(self._take_id("issue")),
            key=f"{project_key}-{number}",
            number=number,
            status=self.catalogue.initial_status(),
            created=now,
            updated=now,
            reporter=reporter,
        )
        self.issues.append(issue)
        return issue

    def withhold(self, issue: Issue) -> None:
        """Keep a just-created issue out of sight until `commit` (its transaction is open).

        It keeps the key and `created` stamped when its create ran, as Jira does: the number
        and the timestamp are taken by the create, before the transaction commits.
        """
        self.issues.remove(issue)
        self.uncommitted.append(issue)

    def commit(self, issue: Issue) -> None:
        """Make a withheld issue visible, in creation order among the others."""
        self.uncommitted.remove(issue)
        self.issues.append(issue)
        self.issues.sort(key=lambda i: int(i.id))

    def link(self, type_ref: JsonDict, inward: Issue, outward: Issue) -> None:
        """Link two issues: `inward` <type.outward> `outward` (Jira's REST naming, which
        reads backwards: `inwardIssue` is the one that "duplicates"). A link that exists
        already is left as it is, as Jira does."""
        link_type = self.catalogue.find_link_type(type_ref)
        if link_type is None:
            raise JiraError(404, ["No issue link type with name or id given was found."])
        if inward is outward:
            raise JiraError(400, ["You cannot link an issue to itself."])
        if any(k.type is link_type and k.outward and k.other is outward for k in inward.links):
            return
        link_id = str(self._take_id("link"))
        inward.links.append(IssueLink(link_id, link_type, True, outward))
        outward.links.append(IssueLink(link_id, link_type, False, inward))

    def find_issue(self, ref: str) -> Issue:
        """An issue by key (any case) or id; 404 the way Jira answers."""
        for issue in self.issues:
            if issue.answers_to(ref):
                return issue
        raise JiraError(404, ["Issue does not exist or you do not have permission to see it."])

    def search(self, jql: str, *, strict: bool = True) -> tuple[list[Issue], bool]:
        """Issues matching `jql` in its order, and whether the query had a restriction."""
        return run_search(self, jql, strict=strict)

    def transitions_for(self, issue: Issue) -> list[Transition]:
        """The transitions offered from the issue's current status."""
        return self.catalogue.transitions_from(issue.status)

    def move(self, issue: Issue, transition: Transition, author: JsonDict) -> None:
        """Apply a transition: status, resolution, `updated`, and a changelog entry."""
        target = self.catalogue.find_status(transition.to)
        if target is None:
            raise KeyError(f"transition {transition.id} leads to unknown status {transition.to}")
        before, now = issue.status, self.now()
        done = RESOLUTION_DONE["id"], RESOLUTION_DONE["name"]
        items: list[JsonDict] = []
        if target.category == "done" and before.category != "done":
            issue.resolutiondate = now
            items.append(_change("resolution", (None, None), done))
        elif target.category != "done" and before.category == "done":
            issue.resolutiondate = None
            items.append(_change("resolution", done, (None, None)))
        items.append(_change("status", (before.id, before.name), (target.id, target.name)))
        issue.status, issue.updated = target, now
        issue.histories.append(
            {
                "id": str(self._take_id("history")),
                "author": author,
                "created": jira_time(now),
                "items": items,
            }
        )

    def add_comment(self, issue: Issue, body: Any, author: JsonDict) -> JsonDict:
        """Store a comment (wiki-markup string) and bump the issue's `updated`."""
        text = check_comment(body)
        now, comment_id = self.now(), str(self._take_id("comment"))
        comment = {
            "self": self.api_url("issue", issue.id, "comment", comment_id),
            "id": comment_id,
            "author": author,
            "body": text,
            "updateAuthor": author,
            "created": jira_time(now),
            "updated": jira_time(now),
            "jsdPublic": True,
        }
        issue.comments.append(comment)
        issue.updated = now
        return comment

    def _take_id(self, kind: str) -> int:
        """The next id of a counter."""
        value = self._next_id[kind]
        self._next_id[kind] += 1
        return value


def _change(
    field_id: str, old: tuple[str | None, str | None], new: tuple[str | None, str | None]
) -> JsonDict:
    """A changelog item, (id, display text) before and after, as histories and webhooks carry it."""
    return {
        "field": field_id,
        "fieldtype": "jira",
        "fieldId": field_id,
        "from": old[0],
        "fromString": old[1],
        "to": new[0],
        "toString": new[1],
    }
