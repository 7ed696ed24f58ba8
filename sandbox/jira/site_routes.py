"""Routes that describe the site rather than its issues: server info, who is calling, and the
catalogue (projects, components, priorities, issue types, fields, create metadata).
"""

from __future__ import annotations

import re

from sandbox.jira.catalogue import Project
from sandbox.jira.http import Reply, Request, no_resource
from sandbox.jira.json import (
    all_fields_json,
    create_fields_json,
    named_json,
    named_list_json,
    project_json,
)
from sandbox.jira.state import JiraSite
from sandbox.jira.wire import JiraError, JsonDict, jira_time


class SiteRoutes:
    """Handlers for the identity and catalogue endpoints of one site."""

    def __init__(self, site: JiraSite) -> None:
        """Answer from `site`."""
        self._site = site

    def server_info(self, request: Request, match: re.Match[str]) -> Reply:
        """GET serverInfo (anonymous, as on Jira): what the `jira` library reads at startup."""
        cloud = self._site.cloud
        return Reply(
            200,
            {
                "baseUrl": self._site.base_url,
                "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.2",
                "versionNumbers": [1001, 0, 0] if cloud else [9, 12, 2],
                "deploymentType": "Cloud" if cloud else "Server",
                "buildNumber": 100280 if cloud else 9120002,
                "buildDate": "2026-11-02T00:00:00.000+0000",
                "serverTime": jira_time(self._site.now()),
                "scmInfo": "9f2c4e1d0b7a",
                "serverTitle": "Jira",
            },
        )

    def myself(self, request: Request, match: re.Match[str]) -> Reply:
        """GET myself: the bot's own user."""
        return Reply(200, self._site.bot_user)

    def user_search(self, request: Request, match: re.Match[str]) -> Reply:
        """GET user/search: `query` on Cloud, `username` on Server (e-mail or name prefix)."""
        query = request.param("query" if self._site.cloud else "username")
        if query is None:
            wanted = "query" if self._site.cloud else "username"
            raise JiraError(400, [f"The '{wanted}' query parameter is required."])
        return Reply(200, self._site.find_people(query))

    def session(self, request: Request, match: re.Match[str]) -> Reply:
        """GET /rest/auth/1/session, which `JIRA(validate=True)` calls."""
        user = self._site.bot_user
        name = user.get("name") or user.get("accountId")
        return Reply(200, {"self": user["self"], "name": name, "loginInfo": {"loginCount": 1}})

    def projects(self, request: Request, match: re.Match[str]) -> Reply:
        """GET project: every project."""
        return Reply(200, [project_json(self._site, p) for p in self._site.catalogue.projects])

    def project(self, request: Request, match: re.Match[str]) -> Reply:
        """GET project/{idOrKey}; issue types with expand=issueTypes (always on Server/DC)."""
        project = self._project_or_404(match["ref"])
        expanded = "issueTypes" in (request.param("expand") or "").split(",")
        shown = project_json(self._site, project, issue_types=expanded or not self._site.cloud)
        return Reply(200, shown)

    def components(self, request: Request, match: re.Match[str]) -> Reply:
        """GET project/{key}/components."""
        project = self._project_or_404(match["ref"])
        own = self._site.catalogue.components_of(project.key)
        return Reply(200, named_list_json(self._site, own, "component"))

    def priorities(self, request: Request, match: re.Match[str]) -> Reply:
        """GET priority."""
        priorities = self._site.catalogue.priorities
        return Reply(200, named_list_json(self._site, priorities, "priority"))

    def issue_types(self, request: Request, match: re.Match[str]) -> Reply:
        """GET issuetype."""
        issue_types = self._site.catalogue.issue_types
        return Reply(200, named_list_json(self._site, issue_types, "issuetype"))

    def fields(self, request: Request, match: re.Match[str]) -> Reply:
        """GET field."""
        return Reply(200, all_fields_json(self._site))

    def createmeta_legacy(self, request: Request, match: re.Match[str]) -> Reply:
        """GET issue/createmeta: Cloud still has it; Data Center 9 removed it (404)."""
        site = self._site
        if not site.cloud:
            return no_resource(request.path)
        keys = {k.upper() for k in request.listed("projectKeys")}
        ids = set(request.listed("projectIds"))
        type_ids = set(request.listed("issuetypeIds"))
        type_names = {n.lower() for n in request.listed("issuetypeNames")}
        with_fields = "projects.issuetypes.fields" in (request.param("expand") or "")
        fields = {f["fieldId"]: f for f in create_fields_json(site)}
        projects = []
        for project in site.catalogue.projects:
            if (keys or ids) and project.key not in keys and project.id not in ids:
                continue
            types = []
            for issue_type in site.catalogue.issue_types:
                if type_ids and issue_type.id not in type_ids:
                    continue
                if type_names and issue_type.name.lower() not in type_names:
                    continue
                shown = named_json(site, issue_type, "issuetype")
                if with_fields:
                    shown["fields"] = fields
                types.append(shown)
            projects.append(project_json(site, project, brief=True) | {"issuetypes": types})
        return Reply(200, {"expand": "projects", "projects": projects})

    def createmeta_types(self, request: Request, match: re.Match[str]) -> Reply:
        """GET issue/createmeta/{project}/issuetypes (Cloud: `issueTypes`, DC: `values`)."""
        self._project_or_404(match["ref"])
        types = named_list_json(self._site, self._site.catalogue.issue_types, "issuetype")
        return Reply(200, self._page(request, types, "issueTypes"))

    def createmeta_fields(self, request: Request, match: re.Match[str]) -> Reply:
        """GET issue/createmeta/{project}/issuetypes/{id} (Cloud: `fields`, DC: `values`)."""
        self._project_or_404(match["ref"])
        if not any(t.id == match["type"] for t in self._site.catalogue.issue_types):
            raise JiraError(404, [f"Issue type with id '{match['type']}' does not exist."])
        return Reply(200, self._page(request, create_fields_json(self._site), "fields"))

    def _page(self, request: Request, items: list[JsonDict], cloud_key: str) -> JsonDict:
        """A startAt/maxResults page; Data Center names the list `values` and adds `isLast`."""
        start, limit = request.count("startAt", 0), request.count("maxResults", 50)
        page: JsonDict = {"maxResults": limit, "startAt": start, "total": len(items)}
        page[cloud_key if self._site.cloud else "values"] = items[start : start + limit]
        if not self._site.cloud:
            page["isLast"] = start + limit >= len(items)
        return page

    def _project_or_404(self, ref: str) -> Project:
        """A project by id or key, or Jira's 404."""
        project = self._site.catalogue.find_project(ref)
        if project is None:
            raise JiraError(404, [f"No project could be found with key '{ref}'."])
        return project
