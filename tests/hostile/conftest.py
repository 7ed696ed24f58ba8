"""Hostile-input tests: hypothesis settings, and the running bot on SQLite only.

The end-to-end property tests send many signed requests to one running bot; they run on SQLite
to keep the suite short (the storage paths they reach are the same on PostgreSQL, which the
e2e suite covers). No hypothesis example database is written into the checkout.
"""

from __future__ import annotations

from pathlib import Path

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
