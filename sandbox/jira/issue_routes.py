"""Routes that read and change issues: create, get, delete, transitions, comments and links."""

from __future__ import annotations

import re

from sandbox.jira.failures import Faults
from sandbox.jira.http import Reply, Request
from sandbox.jira.json import FieldFilter, issue_json, link_type_json, transition_json
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

    def assign(self, request: Request, match: re.Match[str]) -> Reply:
        """PUT issue/{key}/assignee: {"accountId"} on Cloud, {"name"} on Server; null (or
        "-1", the project default, which the emulated project leaves unassigned) clears it."""
        issue = self._site.find_issue(match["ref"])
        body = request.body if isinstance(request.body, dict) else None
        field_name = "accountId" if self._site.cloud else "name"
        if body is None or field_name not in body:
            raise JiraError(400, [f"'{field_name}' is required to assign an issue."])
        ref = body[field_name]
        person = None
        if ref not in (None, "-1"):
            person = self._site.person(str(ref))
            if person is None:
                raise JiraError(400, [], {"assignee": f"User '{ref}' does not exist."})
        self._site.assign(issue, person, self._site.bot_user)
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

    def link_types(self, request: Request, match: re.Match[str]) -> Reply:
        """GET issueLinkType: the site's link types."""
        listed = [link_type_json(self._site, t) for t in self._site.catalogue.link_types]
        return Reply(200, {"issueLinkTypes": listed})

    def add_link(self, request: Request, match: re.Match[str]) -> Reply:
        """POST issueLink: 201 with an empty body (an existing link is kept, not doubled)."""
        body = request.body if isinstance(request.body, dict) else {}
        ends = []
        for side in ("type", "inwardIssue", "outwardIssue"):
            value = body.get(side)
            if not isinstance(value, dict):
                raise JiraError(400, [f"'{side}' is required."])
            ends.append(value)
        link_type, inward, outward = ends
        refs = [str(end.get("key") or end.get("id") or "") for end in (inward, outward)]
        self._site.link(link_type, *(self._site.find_issue(ref) for ref in refs))
        return Reply(201)
