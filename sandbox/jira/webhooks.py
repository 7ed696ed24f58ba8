"""Webhooks the emulated Jira sends: the payload of a status change and its signed delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sandbox.jira.json import issue_fields
from sandbox.jira.wire import JsonDict

if TYPE_CHECKING:
    from sandbox.jira.state import Issue, JiraSite

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def status_change_payload(site: JiraSite, issue: Issue) -> JsonDict:
    """A `jira:issue_updated` payload of the issue's last status change; LookupError if none."""
    history = next(
        (h for h in reversed(issue.histories) if any(i["field"] == "status" for i in h["items"])),
        None,
    )
    if history is None:
        raise LookupError(f"{issue.key} has never changed status")
    changed = datetime.strptime(history["created"], "%Y-%m-%dT%H:%M:%S.%f%z")
    return {
        "timestamp": int(changed.timestamp() * 1000),
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": history["author"],
        "issue": {
            "id": issue.id,
            "key": issue.key,
            "self": site.api_url("issue", issue.id),
            "fields": issue_fields(site, issue),
        },
        "changelog": {"id": history["id"], "items": history["items"]},
    }


def deliver(
    url: str,
    event: JsonDict,
    *,
    secret: str | None,
    identifier: str | None,
    retry: int,
    signature: str | None,
    timeout: float,
) -> int:
    """POST `event` the way Jira Cloud delivers a webhook; returns the HTTP status.

    The body is signed with `secret` (X-Hub-Signature, HMAC-SHA256) unless `signature` is given,
    which replaces the header value outright.
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
    elif secret is not None:
        digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature"] = f"sha256={digest}"
    request = urllib.request.Request(url, data=raw, headers=headers, method="POST")
    # No proxies: a configured HTTP(S)_PROXY must not see sandbox traffic.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as failure:
        return int(failure.code)
