"""The emulated Jira's routing table and the checks Jira makes before a route runs: unknown
paths (404), known paths with another method (405), authentication (401) and bad bodies.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sandbox.jira.failures import Faults
from sandbox.jira.http import Reply, Request, no_resource
from sandbox.jira.issue_routes import IssueRoutes
from sandbox.jira.search_routes import SearchRoutes
from sandbox.jira.site_routes import SiteRoutes
from sandbox.jira.state import JiraSite
from sandbox.jira.wire import error_body

Route = Callable[[Request, "re.Match[str]"], Reply]

_API = r"/rest/api/(?:2|latest)"
_NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."


class Router:
    """Finds the handler of a request and answers it, refusing what Jira would refuse first."""

    def __init__(
        self, site: JiraSite, faults: Faults, authenticated: Callable[[str], bool]
    ) -> None:
        """Route to handlers over `site`; `authenticated` judges an Authorization header."""
        self._authenticated = authenticated
        self._site_routes = SiteRoutes(site)
        self._table = self._build_table(
            self._site_routes, IssueRoutes(site, faults), SearchRoutes(site)
        )

    def answer(self, request: Request, authorization: str, body_error: Reply | None) -> Reply:
        """405, then 401, then 404, then a bad body, then the route (the order Jira checks in)."""
        route, match, allowed = self._route(request.method, request.path)
        if route is None and allowed:
            return Reply(405, error_body([f"Method {request.method} is not allowed here."]))
        public = route == self._site_routes.server_info  # Jira answers serverInfo anonymously
        if not public and not self._authenticated(authorization):
            reason = "AUTHENTICATED_FAILED" if authorization else "AUTHENTICATION_DENIED"
            return Reply(401, error_body([_NOT_AUTHENTICATED]), {"X-Seraph-LoginReason": reason})
        if route is None or match is None:
            return no_resource(request.path)
        if body_error is not None:
            return body_error
        return route(request, match)

    def _route(self, method: str, path: str) -> tuple[Route | None, re.Match[str] | None, bool]:
        """The handler for a request, its match, and whether the path exists for other methods."""
        other = False
        for route_method, pattern, route in self._table:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method == method:
                return route, match, True
            other = True
        return None, None, other

    @staticmethod
    def _build_table(
        site: SiteRoutes, issues: IssueRoutes, search: SearchRoutes
    ) -> list[tuple[str, re.Pattern[str], Route]]:
        """(method, path pattern, handler); each pattern also takes a trailing slash."""
        ref, issue = "(?P<ref>[^/]+)", rf"{_API}/issue/(?P<ref>[^/]+)"
        table: list[tuple[str, str, Route]] = [
            ("GET", rf"{_API}/serverInfo", site.server_info),
            ("GET", rf"{_API}/myself", site.myself),
            ("GET", rf"{_API}/user/search", site.user_search),
            ("GET", r"/rest/auth/1/session", site.session),
            ("GET", rf"{_API}/project", site.projects),
            ("GET", rf"{_API}/project/{ref}", site.project),
            ("GET", rf"{_API}/project/{ref}/components", site.components),
            ("GET", rf"{_API}/priority", site.priorities),
            ("GET", rf"{_API}/issuetype", site.issue_types),
            ("GET", rf"{_API}/field", site.fields),
            ("GET", rf"{_API}/issue/createmeta", site.createmeta_legacy),
            ("GET", rf"{_API}/issue/createmeta/{ref}/issuetypes", site.createmeta_types),
            (
                "GET",
                rf"{_API}/issue/createmeta/{ref}/issuetypes/(?P<type>[^/]+)",
                site.createmeta_fields,
            ),
            ("POST", rf"{_API}/issue", issues.create),
            ("GET", issue, issues.get),
            ("DELETE", issue, issues.delete),
            ("GET", rf"{issue}/transitions", issues.transitions),
            ("POST", rf"{issue}/transitions", issues.transition),
            ("PUT", rf"{issue}/assignee", issues.assign),
            ("GET", rf"{issue}/comment", issues.comments),
            ("POST", rf"{issue}/comment", issues.add_comment),
            ("GET", rf"{_API}/issueLinkType", issues.link_types),
            ("POST", rf"{_API}/issueLink", issues.add_link),
            ("GET", rf"{_API}/search/jql", search.search_jql),
            ("POST", rf"{_API}/search/jql", search.search_jql),
            ("GET", rf"{_API}/search", search.search_old),
            ("POST", rf"{_API}/search", search.search_old),
        ]
        return [(method, re.compile(pattern + "/?"), route) for method, pattern, route in table]
