"""Hostile-input tests: hypothesis settings, and the running bot on SQLite only.

The end-to-end property tests send many signed requests to one running bot; they run on SQLite
to keep the suite short (the storage paths they reach are the same on PostgreSQL, which the
e2e suite covers). No hypothesis example database is written into the checkout.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest
from hypothesis import HealthCheck, settings

# Pure functions: many examples are cheap.
PURE = settings(max_examples=300, deadline=None, database=None)
# Signed requests to a running bot: a few dozen per property keeps the package near a minute.
# The bot fixture lives for the whole test, so the examples share it (on purpose: whatever one
# example stores, the next must not store again).
E2E = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A fresh SQLite database (the hostile-input tests do not repeat on PostgreSQL)."""
    return f"sqlite:///{tmp_path / 'hypercare.db'}"


class Recorded(logging.Handler):
    """Every record a logger (and its children) emits while in a with-block, at any level.

    Used where pytest's caplog cannot be (hypothesis runs many examples per test function).
    """

    def __init__(self, name: str = "", level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []
        self._logger = logging.getLogger(name)
        self._level = self._logger.level
        self._wanted = level

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)

    def __enter__(self) -> list[logging.LogRecord]:
        self._logger.addHandler(self)
        self._logger.setLevel(min(self._wanted, self._logger.getEffectiveLevel()))
        return self.records

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)


def crashes(records: list[logging.LogRecord]) -> list[str]:
    """The records that report a failure: errors and anything carrying a traceback."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in records
        if r.levelno >= logging.ERROR or r.exc_info is not None
    ]


@pytest.fixture
def logged() -> Iterator[list[logging.LogRecord]]:
    """Every record of WARNING and above that any logger emits during the test."""
    with Recorded("", logging.WARNING) as records:
        yield records
