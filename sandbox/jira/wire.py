"""How the emulated Jira writes errors, timestamps and whole lists on the wire.

Every other jira_* module speaks through these, so a refusal or a date looks the same whichever
part of the emulator produced it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

JsonDict = dict[str, Any]


class JiraError(Exception):
    """A request Jira refuses: the HTTP status plus Jira's `errorMessages`/`errors` body."""

    def __init__(
        self, status: int, messages: Iterable[str] = (), errors: dict[str, str] | None = None
    ) -> None:
        """Build the Jira-shaped error body for `status`."""
        self.status = status
        self.body = error_body(messages, errors)
        super().__init__(f"{status} {self.body}")


def error_body(messages: Iterable[str] = (), errors: dict[str, str] | None = None) -> JsonDict:
    """Jira's error shape: `{"errorMessages": [...], "errors": {field: message}}`."""
    return {"errorMessages": list(messages), "errors": dict(errors or {})}


def jira_time(moment: datetime) -> str:
    """A timestamp the way Jira writes it: `2026-11-23T09:00:00.000+0000`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def whole_page(key: str, items: list[Any]) -> JsonDict:
    """A list Jira pages but the emulator always returns in one piece (comments, histories)."""
    return {"startAt": 0, "maxResults": len(items), "total": len(items), key: items}
