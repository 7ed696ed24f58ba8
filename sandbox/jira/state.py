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

from sandbox.jira.catalogue import RESOLUTION_DONE, Catalogue, Status, Transition
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
    links: list[JsonDict] = field(default_factory=list)  # `issuelinks`, as GET issue shows them

    def answers_to(self, ref: str) -> bool:
        """Whether `ref` is this issue's key (any case) or id."""
        return ref.upper() == self.key or ref == self.id


# Jira's default issue link types (the ones every site starts with).
LINK_TYPES = {
    "Duplicate": {"id": "10002", "inward": "is duplicated by", "outward": "duplicates"},
    "Blocks": {"id": "10000", "inward": "is blocked by", "outward": "blocks"},
    "Relates": {"id": "10003", "inward": "relates to", "outward": "relates to"},
}


class JiraSite:
    """Catalogue, issues and rules of one emulated Jira site; the caller holds the lock."""

    def __init__(self, *, cloud: bool, project_key: str, clock: Callable[[], datetime]) -> None:
        """Seed the default catalogue; the emulator sets `base_url` and `bot_user` once bound."""
        self.cloud = cloud
        self._clock = clock
        self.base_url = "http://127.0.0.1"
        self.catalogue = Catalogue(cloud=cloud, project_key=project_key)
        self.issues: list[Issue] = []
        self.bot_user: JsonDict = {}
        self._next_id = {"issue": 10000, "comment": 10000, "history": 10100, "link": 10200}
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

    def link(self, type_name: str, inward: Issue, outward: Issue) -> None:
        """Link two issues as POST issueLink does: `inward` gets the type's outward words
        ("inward duplicates outward") and each issue lists the other."""
        kind = LINK_TYPES.get(type_name)
        if kind is None:
            raise JiraError(404, [f"No issue link type with name '{type_name}' found."])
        link_id = str(self._take_id("link"))
        link_type = {
            "id": kind["id"],
            "name": type_name,
            **{k: kind[k] for k in ("inward", "outward")},
        }
        inward.links.append(
            {
                "id": link_id,
                "type": link_type,
                "outwardIssue": {"id": outward.id, "key": outward.key},
            }
        )
        outward.links.append(
            {"id": link_id, "type": link_type, "inwardIssue": {"id": inward.id, "key": inward.key}}
        )
        inward.updated = outward.updated = self.now()

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
