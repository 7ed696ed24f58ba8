"""What the emulated Jira was asked and how it answered, for tests to inspect and wait on."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from sandbox.jira.http import Reply, request_matches


@dataclass(frozen=True)
class RecordedCall:
    """One HTTP request as the emulator received and answered it."""

    method: str
    path: str
    query: dict[str, str]  # repeated parameters joined with ","
    body: Any  # the decoded JSON body, or None
    status: int
    at: float
    response: Any = None
    dropped: bool = False  # the answer was never sent (drop_after_create)


class CallLog:
    """The recorded calls, guarded by the emulator's condition, which each new call notifies."""

    def __init__(self, cond: threading.Condition) -> None:
        """Record under `cond`, the lock that guards all emulator state."""
        self._cond = cond
        self._calls: list[RecordedCall] = []

    def record(
        self, method: str, path: str, params: dict[str, list[str]], body: Any, reply: Reply
    ) -> None:
        """Add an answered request and wake wait_for(); the caller holds the condition."""
        query = {name: ",".join(values) for name, values in params.items()}
        self._calls.append(
            RecordedCall(
                method, path, query, body, reply.status, time.time(), reply.body, reply.drop
            )
        )
        self._cond.notify_all()

    def all(self) -> list[RecordedCall]:
        """Every recorded call, oldest first."""
        with self._cond:
            return list(self._calls)

    def to(self, method: str, path_prefix: str) -> list[RecordedCall]:
        """The calls with this method whose path is `path_prefix` or below it."""
        with self._cond:
            return [
                c for c in self._calls if request_matches(c.method, c.path, method, path_prefix)
            ]

    def clear(self) -> None:
        """Forget every recorded call."""
        with self._cond:
            self._calls.clear()

    def wait_for(
        self, method: str, path_prefix: str, count: int, timeout: float, status: int | None
    ) -> list[RecordedCall]:
        """Block until `count` matching calls were answered with 2xx (or `status`); return them."""

        def matching() -> list[RecordedCall]:
            return [
                c
                for c in self.to(method, path_prefix)
                if (200 <= c.status < 300 if status is None else c.status == status)
            ]

        with self._cond:
            if self._cond.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                return matching()
            seen = ", ".join(
                f"{c.method} {c.path} {c.status}{' dropped' if c.dropped else ''}"
                for c in self._calls
            )
            wanted = "2xx" if status is None else str(status)
            raise AssertionError(
                f"expected {count} {method} {path_prefix} call(s) answered {wanted} within "
                f"{timeout}s, got {len(matching())}; recorded calls: [{seen or 'none'}]"
            )
