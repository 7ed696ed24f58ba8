"""Hypothesis strategies for text an attacker or a careless user might type."""

from __future__ import annotations

from hypothesis import strategies as st

# What breaks chat and ticket markup: Slack control sequences, Jira wiki markup, JQL, SQL,
# invisible and bidi characters, line breaks.
NASTY = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S0123|@oncall>",
    "<@U123>",
    "<@U123|boss>",
    "<#C1|x>",
    "<https://evil.example|click>",
    "<mailto:a@b.c|mail>",
    "&",
    "&amp;",
    "&lt;!channel&gt;",
    "*_~`",
    "```",
    "@here",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u202e",
    "\u2066",
    "\u2069",
    "{noformat}",
    "{NOFORMAT}",
    "{noformat:title=x}",
    "{code}",
    "{code:java}",
    "{html}",
    "{color:red}",
    "[x|http://evil.example]",
    "[~admin]",
    "[~accountid:557058:1]",
    "!https://evil.example/x.png!",
    "||a||b||",
    "|",
    "h1. ",
    "\\",
    "\\\\",
    '"',
    "'",
    '" OR project = X',
    '\\" OR key is not empty ORDER BY key --',
    ")",
    "*",
    "?",
    "'; DROP TABLE feedback; --",
    "\n",
    "\r\n",
    "\t",
    "\u2028",
    "\x00",
)

nasty_piece = st.sampled_from(NASTY)


def hostile_text(max_size: int = 200) -> st.SearchStrategy[str]:
    """Arbitrary text, nasty fragments, and mixes of both (up to about `max_size` characters)."""
    mixed = st.lists(st.one_of(nasty_piece, st.text(max_size=10)), max_size=20).map("".join)
    return st.one_of(st.text(max_size=max_size), nasty_piece, mixed)


SLACK_MESSAGE_MAX = 40_000  # characters Slack keeps of a message


def long_text() -> st.SearchStrategy[str]:
    """A nasty fragment repeated past Slack's block and Jira's field limits, up to the longest
    message Slack keeps."""
    return st.builds(
        lambda piece, n: (piece * n)[:SLACK_MESSAGE_MAX], nasty_piece, st.integers(1_000, 20_000)
    )


def any_text(max_size: int = 200) -> st.SearchStrategy[str]:
    """Hostile text, now and then very long."""
    return st.one_of(hostile_text(max_size), long_text())
