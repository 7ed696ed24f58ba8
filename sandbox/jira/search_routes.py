"""The two search endpoints and how each pages: Cloud's /search/jql with an opaque
nextPageToken, and Data Center's /search with startAt and a `total` (gone from Cloud).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from sandbox.jira.http import Reply, Request, no_resource, non_negative
from sandbox.jira.json import FieldFilter, issue_json
from sandbox.jira.state import JiraSite
from sandbox.jira.wire import JiraError, JsonDict, error_body

_SEARCH_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
_UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)


class SearchRoutes:
    """Handlers for JQL search on one site."""

    def __init__(self, site: JiraSite) -> None:
        """Search the issues of `site`."""
        self._site = site

    def search_jql(self, request: Request, match: re.Match[str]) -> Reply:
        """GET|POST search/jql (Cloud): nextPageToken paging, no `total`, `id`-only by default."""
        if not self._site.cloud:
            return no_resource(request.path)
        args = _search_args(request)
        jql = str(args["jql"])
        wanted = FieldFilter(args["fields"], default="id", bare_ids=True)
        # Cloud allows bigger pages when only ids or keys are asked for.
        cap = 5000 if wanted.included <= {"id", "key"} else 100
        limit = min(non_negative(args.get("maxResults"), 50, "maxResults"), cap)
        token = args.get("nextPageToken")
        start = _decode_token(str(token), jql) if token else 0
        found, bounded = self._site.search(jql)
        if not bounded:
            raise JiraError(400, [_UNBOUNDED])
        expand = str(args.get("expand") or "")
        page = found[start : start + limit]
        result: JsonDict = {
            "issues": [issue_json(self._site, i, wanted, expand) for i in page],
            "isLast": start + limit >= len(found),
        }
        if not result["isLast"]:
            result["nextPageToken"] = _encode_token(start + limit, jql)
        return Reply(200, result)

    def search_old(self, request: Request, match: re.Match[str]) -> Reply:
        """GET|POST search: 410 Gone on Cloud (CHANGE-2046); startAt paging with `total` on DC."""
        if self._site.cloud:
            return Reply(410, error_body([_SEARCH_GONE]))
        args = _search_args(request)
        start = non_negative(args.get("startAt"), 0, "startAt")
        limit = min(non_negative(args.get("maxResults"), 50, "maxResults"), 1000)
        strict = str(args.get("validateQuery", "strict")).lower() not in ("warn", "none", "false")
        found, _ = self._site.search(str(args["jql"]), strict=strict)
        wanted = FieldFilter(args["fields"], default="*navigable")
        expand = str(args.get("expand") or "")
        page = found[start : start + limit]
        return Reply(
            200,
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": limit,
                "total": len(found),
                "issues": [issue_json(self._site, i, wanted, expand) for i in page],
            },
        )


def _search_args(request: Request) -> JsonDict:
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


def _query_digest(jql: str) -> str:
    """A short fingerprint of a query, so a page token only works for the query it came from."""
    return hashlib.sha256(jql.encode()).hexdigest()[:12]


def _encode_token(offset: int, jql: str) -> str:
    """An opaque nextPageToken bound to the query it pages through."""
    text = f"{offset}:{_query_digest(jql)}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_token(token: str, jql: str) -> int:
    """The offset in a nextPageToken; 400 when it is forged or from another query."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        offset, digest = text.split(":")
        if digest == _query_digest(jql):
            return int(offset)
    except (ValueError, binascii.Error):
        pass
    raise JiraError(400, ["The provided next page token is invalid or expired."])
