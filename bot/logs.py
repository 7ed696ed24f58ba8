"""Logging setup: one line per event, with tokens masked as a last line of defence."""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

# Slack tokens (xoxb-, xapp-, ...) and HTTP credentials must never reach a log line.
_SECRET = re.compile(r"(xox[abposr]-|xapp-)[A-Za-z0-9-]+|(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+")


class RedactSecrets(logging.Filter):
    """Mask anything that looks like a token in the final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SECRET.search(message):
            record.msg, record.args = _SECRET.sub("[redacted]", message), None
        return True


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is when a line is logged, not when logging was set up
    (unless given a stream with `setStream`): whoever swaps stderr later (a test's capture, a
    supervisor) gets the lines, and a swapped-out stream that has since been closed never makes
    a line fail."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)  # not StreamHandler's: it would pin today's stderr
        self._chosen: TextIO | None = None

    @property
    def stream(self) -> TextIO:
        return self._chosen if self._chosen is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        self._chosen = value


def setup_logging(level: str) -> None:
    """Configure the root logger; quiet the libraries that log request bodies."""
    handler = _StderrHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S%z")
    )
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Bolt logs the whole body of a rejected request at INFO; the guard in front logs metadata.
    logging.getLogger("slack_bolt").setLevel(max(root.level, logging.WARNING))
    logging.getLogger("slack_sdk").setLevel(max(root.level, logging.WARNING))
    logging.getLogger("waitress").setLevel(max(root.level, logging.WARNING))
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))
    # websockets logs the Socket Mode handshake at DEBUG, single-use ticket in the URL included.
    logging.getLogger("websockets").setLevel(max(root.level, logging.INFO))
