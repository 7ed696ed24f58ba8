"""Routes that read and change issues: create, get, delete, transitions, comments, links."""

from __future__ import annotations

import re

from sandbox.jira.failures import Faults
from sandbox.jira.http import Reply, Request
from sandbox.jira.json import FieldFilter, issue_json, transition_json
from sandbox.jira.state import JiraSite
from sandbox.jira.validation import CANNOT_SET
from sandbox.jira.wire import JiraError, whole_page


class IssueRoutes:
    """Handlers for the issue endpoints; the bot user is the author of every change."""

    def __init__(self, site: JiraSite, faults: Faults) -> None:
        """Store issues in `site`; `faults` may lose the answer to a create."""
        self._site = site
        self._faults = faults

    def create(self, request: Request, match: re.Match[str]) -> Reply:
        """POST issue: validate, store, answer 201 {id, key, self} (or drop the answer)."""
        issue = self._site.create_issue(request.body, self._site.bot_user)
        url = self._site.api_url("issue", issue.id)
        return Reply(
            201, {"id": issue.id, "key": issue.key, "self": url}, drop=self._faults.take_drop()
        )

    def get(self, request: Request, match: re.Match[str]) -> Reply:
        """GET issue/{idOrKey} with `fields` and `expand`."""
        issue = self._site.find_issue(match["ref"])
        wanted = FieldFilter(request.listed("fields"), default="*all")
        return Reply(200, issue_json(self._site, issue, wanted, request.param("expand") or ""))

    def link(self, request: Request, match: re.Match[str]) -> Reply:
        """POST issueLink {type: {name}, inwardIssue: {key}, outwardIssue: {key}}: 201."""
        body = request.body if isinstance(request.body, dict) else {}
        name = (body.get("type") or {}).get("name")
        refs = [
            (body.get(side) or {}).get("key") or (body.get(side) or {}).get("id")
            for side in ("inwardIssue", "outwardIssue")
        ]
        if not isinstance(name, str) or not all(isinstance(ref, str) for ref in refs):
            raise JiraError(400, ["Issue link type and both issues are required."])
        inward, outward = (self._site.find_issue(str(ref)) for ref in refs)
        self._site.link(name, inward, outward)
        return Reply(201)

    def delete(self, request: Request, match: re.Match[str]) -> Reply:
        """DELETE issue/{idOrKey}: 204."""
        self._site.issues.remove(self._site.find_issue(match["ref"]))
        return Reply(204)

    def transitions(self, request: Request, match: re.Match[str]) -> Reply:
        """GET issue/{key}/transitions: those offered from the current status."""
        issue = self._site.find_issue(match["ref"])
        only = request.param("transitionId")
        offered = [t for t in self._site.transitions_for(issue) if only in (None, t.id)]
        listed = [transition_json(self._site, t) for t in offered]
        return Reply(200, {"expand": "transitions", "transitions": listed})

    def transition(self, request: Request, match: re.Match[str]) -> Reply:
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
            raise JiraError(400, [], {name: CANNOT_SET.format(name) for name in extra})
        comments = (body.get("update") or {}).get("comment") or []
        self._site.move(issue, chosen, self._site.bot_user)
        for operation in comments:
            added = operation.get("add") if isinstance(operation, dict) else None
            if isinstance(added, dict):
                self._site.add_comment(issue, added.get("body"), self._site.bot_user)
        return Reply(204)

    def comments(self, request: Request, match: re.Match[str]) -> Reply:
        """GET issue/{key}/comment."""
        issue = self._site.find_issue(match["ref"])
        return Reply(200, whole_page("comments", issue.comments))

    def add_comment(self, request: Request, match: re.Match[str]) -> Reply:
        """POST issue/{key}/comment: 201 with the comment."""
        issue = self._site.find_issue(match["ref"])
        body = request.body.get("body") if isinstance(request.body, dict) else None
        return Reply(201, self._site.add_comment(issue, body, self._site.bot_user))
