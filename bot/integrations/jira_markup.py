"""Jira wiki markup (REST v2) built so that user text stays inert."""

from __future__ import annotations

import re

from bot.domain import TicketComment, TicketDraft

SUMMARY_MAX = 255
DESCRIPTION_MAX = 32_000  # Jira refuses descriptions over 32,767 characters

# A noformat tag, bare or with parameters (`{noformat:title=x}`): Jira's macro parser takes
# either as the block's end, so neither may pass through from user text.
_NOFORMAT = re.compile(r"\{noformat(?::[^}]*)?\}", re.IGNORECASE)
# Characters that start wiki markup in running text (bold, links, mentions, macros, tables...).
_WIKI_SPECIAL = re.compile(r"([*_?{}\[\]|!~^+#\-\\])")


def summary(text: str) -> str:
    """Make a Jira summary: one line, at most 255 characters."""
    line = " ".join(text.split())
    return line if len(line) <= SUMMARY_MAX else line[: SUMMARY_MAX - 1] + "…"


def inline(text: str) -> str:
    """Escape short text for running wiki markup: every markup character gets a backslash."""
    return _WIKI_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def block(text: str) -> str:
    """Wrap free text in {noformat}, where Jira renders no markup, mentions or links."""
    # The only way out of a noformat block is a noformat tag; take every one out of user text.
    return "{noformat}\n" + _NOFORMAT.sub("(noformat)", text) + "\n{noformat}"


def _link(label: str, url: str) -> str:
    if not url.startswith(("https://", "http://")) or any(c in url for c in "|] \n"):
        return inline(label) + ": " + inline(url)
    return f"[{inline(label)}|{url}]"


def description(draft: TicketDraft) -> str:
    """Render a ticket's description: facts, links, then each detail as an inert block."""
    lines = [f"h3. {inline(draft.summary)}", ""]
    lines += [f"*{inline(name)}:* {inline(value)}" for name, value in draft.facts]
    lines += [f"*{inline(name)}:* {_link(name, url)}" for name, url in draft.links]
    for heading, text in draft.details:
        lines += ["", f"h4. {inline(heading)}", block(text)]
    lines += ["", f"_Filed by Hypercare Bot ({inline(draft.idempotency_label)})._"]
    rendered = "\n".join(lines)
    if len(rendered) > DESCRIPTION_MAX:
        cut = rendered[: DESCRIPTION_MAX - 200]
        if cut.count("{noformat}") % 2:  # do not leave a block open
            cut += "\n{noformat}"
        rendered = cut + "\n\n_(shortened: the full report is in Slack)_"
    return rendered


def marker(name: str) -> str:
    """The line that names the event a comment is about (found again before any retry)."""
    return f"_Hypercare Bot ({inline(name)})._"


def comment(draft: TicketComment) -> str:
    """Render a comment: a heading, facts, each detail as an inert block, then its marker."""
    lines = [f"*{inline(draft.heading)}*", ""]
    lines += [f"*{inline(name)}:* {inline(value)}" for name, value in draft.facts]
    for heading, text in draft.details:
        lines += ["", f"*{inline(heading)}*", block(text[: DESCRIPTION_MAX // 4])]
    lines += ["", marker(draft.marker)]
    return "\n".join(lines)
