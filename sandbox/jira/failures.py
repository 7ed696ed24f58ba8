"""Failures a test injects into the emulated Jira: outages, a rate limit, failed or delayed
answers, creates whose answer is lost or late, and creates committed late. The caller holds the
emulator's lock.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus

from sandbox.jira.http import Reply, request_matches
from sandbox.jira.wire import JsonDict, error_body


@dataclass
class Failure:
    """A pending injected failure for requests matching a method and path prefix."""

    method: str
    prefix: str
    times: int
    status: int = 503
    retry_after: float | None = None
    body: JsonDict | None = None
    hang: float | None = None  # hang_next entries only delay, they do not fail


class Faults:
    """The pending injected failures, each consumed by the requests it matches."""

    def __init__(self) -> None:
        """No failures: every request reaches its route."""
        self.outage: str | None = None  # None, "503" or "refuse" (the port is closed)
        self._failures: list[Failure] = []
        self._drops = 0
        self._holds: list[float] = []  # delays of the answers to the next creates
        self._late_commits: list[float] = []  # delays of the commits of the next creates
        self._bucket: tuple[float, float, float] | None = None  # (rate, tokens, monotonic stamp)

    # -- arming ------------------------------------------------------------------------------------

    def arm(self, failure: Failure) -> None:
        """Queue an injected failure (or, with `hang`, a delay) for the requests it matches."""
        self._failures.append(failure)

    def drop_after_create(self, times: int) -> None:
        """Store the next `times` created issues but send no answer."""
        self._drops += times

    def hold_after_create(self, seconds: float, times: int) -> None:
        """Answer the next `times` creates only after `seconds`."""
        self._holds.extend([seconds] * times)

    def commit_late(self, seconds: float, times: int) -> None:
        """Commit the next `times` creates (and answer them) only after `seconds`."""
        self._late_commits.extend([seconds] * times)

    def set_rate_limit(self, per_second: float | None) -> None:
        """A token bucket of `per_second` (burst of the same size, at least 1); None: no limit."""
        self._bucket = (
            None if per_second is None else (per_second, max(per_second, 1.0), time.monotonic())
        )

    # -- consuming ---------------------------------------------------------------------------------

    def intercept(self, method: str, path: str) -> Reply | None:
        """The outage, rate-limit or injected-failure answer to a request, in that order."""
        if self.outage is not None:
            return Reply(503, error_body(["Service Unavailable"]), {"Retry-After": "30"})
        limited = self._rate_limited()
        if limited is not None:
            return limited
        failure = self._consume(method, path, hanging=False)
        if failure is None:
            return None
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            if failure.status == 429:
                headers = _rate_headers(failure.retry_after, 100.0, 10.0)
            else:
                headers = {"Retry-After": str(math.ceil(failure.retry_after))}
        body = failure.body if failure.body is not None else error_body([_phrase(failure.status)])
        return Reply(failure.status, body, headers)

    def take_hang(self, method: str, path: str) -> float:
        """Seconds to delay this request by (0.0: none), consuming a hang_next entry."""
        hang = self._consume(method, path, hanging=True)
        return hang.hang if hang is not None and hang.hang is not None else 0.0

    def take_drop(self) -> bool:
        """Whether the answer to this successful create is to be lost."""
        if self._drops <= 0:
            return False
        self._drops -= 1
        return True

    def take_hold(self, path: str, reply: Reply) -> float:
        """Seconds to hold back the answer to a successful create (0.0: none)."""
        created = reply.status == 201 and path.rstrip("/").endswith("/issue")
        return self._holds.pop(0) if created and self._holds else 0.0

    def take_late_commit(self, path: str, reply: Reply) -> float | None:
        """Seconds until this successful create commits, or None when it commits at once."""
        created = reply.status == 201 and path.rstrip("/").endswith("/issue")
        return self._late_commits.pop(0) if created and self._late_commits else None

    def _consume(self, method: str, path: str, *, hanging: bool) -> Failure | None:
        """The first matching failure (or hang_next entry), used up once."""
        entry = next(
            (
                f
                for f in self._failures
                if (f.hang is not None) == hanging
                and request_matches(method, path, f.method, f.prefix)
            ),
            None,
        )
        if entry is not None:
            entry.times -= 1
            if entry.times <= 0:
                self._failures.remove(entry)
        return entry

    def _rate_limited(self) -> Reply | None:
        """Spend a token of the bucket, or answer 429 like Jira's burst limiter."""
        if self._bucket is None:
            return None
        rate, tokens, stamp = self._bucket
        now, capacity = time.monotonic(), max(rate, 1.0)
        tokens = min(capacity, tokens + (now - stamp) * rate)
        if tokens >= 1.0:
            self._bucket = (rate, tokens - 1.0, now)
            return None
        self._bucket = (rate, tokens, now)
        wait = (1.0 - tokens) / rate
        return Reply(429, error_body(["Rate limit exceeded."]), _rate_headers(wait, capacity, rate))


def _rate_headers(wait: float, limit: float, rate: float) -> dict[str, str]:
    """Jira's 429 headers; Retry-After is whole seconds since clients parse it with int()."""
    reset = datetime.fromtimestamp(time.time() + wait, UTC).strftime("%Y-%m-%dT%H:%MZ")
    return {
        "Retry-After": str(math.ceil(wait)),
        "X-RateLimit-Limit": str(int(limit)),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-FillRate": str(rate),
        "X-RateLimit-Interval-Seconds": "1",
        "X-RateLimit-Reset": reset,
        "RateLimit-Reason": "jira-burst-based",
    }


def _phrase(status: int) -> str:
    """The reason phrase of a status code, for injected error bodies."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
