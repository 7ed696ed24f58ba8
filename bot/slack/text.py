"""Making user text safe and short for Slack."""

from __future__ import annotations

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: str) -> str:
    """Escape Slack's three control characters so user text can never ping or link."""
    return text.translate(_ESCAPES)


def shorten(text: str, limit: int) -> str:
    """Cut text to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    omitted = len(text) - limit
    while True:  # the note's own length depends on the count; settles in a step or two
        note = f"… ({omitted:,} more characters)"
        keep = max(0, limit - len(note))
        if len(text) - keep == omitted:
            return text[:keep] + note
        omitted = len(text) - keep


def safe(text: str, limit: int) -> str:
    """Shorten, then escape, keeping the escaped result within `limit` characters."""
    budget = limit
    while True:
        out = escape(shorten(text, budget))
        if len(out) <= limit:
            return out
        budget -= len(out) - limit
