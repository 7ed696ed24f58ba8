"""The bot's log lines go to the stderr of the moment, tokens masked."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest

from bot.logs import setup_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_lines_follow_stderr_when_it_is_swapped_after_setup(
    restored_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set up once, then stderr is swapped (and the first stream closed, as a test's capture
    is): each line goes to the stderr of its moment and none fails on the closed one."""
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging("INFO")
    logging.getLogger("bot.test").info("one with xoxb-1234-secret")
    first_text = first.getvalue()
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("bot.test").info("two")
    assert "one with [redacted]" in first_text and "xoxb-1234" not in first_text
    assert "INFO bot.test: two" in second.getvalue()
    assert "Logging error" not in second.getvalue()
