"""User text made inert for every sink: Slack mrkdwn, Jira wiki markup and JQL strings."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.config import Program, load_program
from bot.domain import (
    Feedback,
    FeedbackState,
    KnownIssue,
    PlusOne,
    TicketComment,
    TicketDraft,
    UsersAffected,
)
from bot.integrations import jira_markup
from bot.integrations.jira import _jql_string as jql_string
from bot.integrations.jira import label_query
from bot.slack.blocks import feedback as feedback_blocks
from bot.slack.blocks import intake as intake_blocks
from bot.slack.blocks import tickets as ticket_blocks
from bot.slack.text import escape, safe
from sandbox.jira.jql_tokens import tokenize
from tests.hostile.conftest import PURE
from tests.hostile.strategies import any_text, hostile_text

ROOT = Path(__file__).resolve().parents[2]
REPORTER, ACTOR, CHANNEL = "U0ALICE", "U0LEAD1", "C0FEEDBACK"
# What Slack parses in mrkdwn: anything between < and > is a mention, broadcast or link.
SLACK_CONTROL = re.compile(r"<[^<>]*>")
ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")
# The bot's own date stamps (`<!date^…|fallback>`), which Slack shows in the reader's zone.
BOT_DATE = re.compile(r"^<!date\^\d+\^[^|<>]*\|[^<>]*>$")


def unescape(text: str) -> str:
    """Slack's reading of an escaped text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# -- Slack mrkdwn ------------------------------------------------------------------------------


@PURE
@given(any_text())
@example("<!channel> <!here> <@U123> <#C1|x> <https://evil|click> & &amp; *_~`")
def test_escaped_text_has_no_slack_control_sequence_and_reads_back_as_typed(text: str) -> None:
    """escape() leaves no < or >, no bare & and loses nothing: Slack shows what was typed."""
    out = escape(text)
    assert "<" not in out and ">" not in out
    assert not ENTITY.search(out)
    assert unescape(out) == text


@PURE
@given(any_text(), st.integers(min_value=40, max_value=3000))
def test_safe_text_is_escaped_and_within_its_limit(text: str, limit: int) -> None:
    """safe() output fits the limit, carries no control sequence and never cuts an entity."""
    out = safe(text, limit)
    assert len(out) <= limit
    assert "<" not in out and ">" not in out
    assert not ENTITY.search(out)


def _program() -> Program:
    return load_program(ROOT / "hypercare.example.yaml")


PROGRAM = _program()


def _feedback(text: str, short: str) -> Feedback:
    return Feedback(
        id=42,
        short_id="HC-42",
        summary=short,
        category="bug",
        severity="sev3",
        component="payments-api",
        environment="production",
        trying=text,
        expected=text,
        actual=text,
        api_endpoint=short or None,
        correlation_id=short or None,
        users_affected=UsersAffected.TEAM,
        channel_id=CHANNEL,
        reporter_id=REPORTER,
        state=FeedbackState.NEW,
        created_at=dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC),
        source=None,
        receipt_ts=None,
        receipt_permalink=None,
        known_workaround=text,
    )


def _mrkdwn(node: Any) -> list[str]:
    """Every text Slack parses as mrkdwn in a block tree (plain_text is shown as is)."""
    if isinstance(node, list):
        return [t for item in node for t in _mrkdwn(item)]
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "mrkdwn" else []
        return own + [t for v in node.values() for t in _mrkdwn(v)]
    return []


def _rendered(text: str, short: str) -> list[str]:
    """Every mrkdwn string the bot renders around one item full of user text."""
    item = _feedback(text, short)
    plus_one = PlusOne(REPORTER, "production", short, None, text, item.created_at)
    messages: list[tuple[str, list[Any]]] = [
        feedback_blocks.receipt(item, PROGRAM),
        ticket_blocks.status_blocks(item, "Medium"),
        intake_blocks.known_list([KnownIssue(item, 1)], 1),
        intake_blocks.top_list([(item, 2.5)]),
    ]
    texts = [intake_blocks.plus_one_in_thread(item, plus_one, PROGRAM)]
    texts += [intake_blocks.known_in_thread(item, text, ACTOR)]
    for fallback, rendered in messages:
        texts.append(fallback)
        texts += _mrkdwn([block.to_dict() for block in rendered])
    return texts


@PURE
@given(any_text(), hostile_text(150))
@example("<!channel> <@U123> <https://evil|click>", "<!here|here> <#C1|x>")
def test_user_text_in_messages_pings_nobody_and_links_nowhere(text: str, short: str) -> None:
    """In the receipt, status, +1, known-issue and top messages, the only Slack control
    sequences are the bot's own mentions of the reporter, the lead and the channel."""
    ours = {f"<@{REPORTER}>", f"<@{ACTOR}>", f"<#{CHANNEL}>"}
    for rendered in _rendered(text, short):
        found = {c for c in SLACK_CONTROL.findall(rendered) if not BOT_DATE.match(c)}
        assert found <= ours, rendered[:300]
        assert not ENTITY.search(rendered)


# -- Jira wiki markup --------------------------------------------------------------------------

WIKI_SPECIAL = set("*_?{}[]|!~^+#-\\")
# A tag that opens or closes a noformat block, parameters or not.
NOFORMAT_TAG = re.compile(r"\{noformat(?::[^}]*)?\}", re.IGNORECASE)


def unescaped_markup(text: str) -> list[str]:
    """The markup characters of wiki text that no backslash escapes, left to right."""
    found, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in WIKI_SPECIAL:
            i += 2
            continue
        if text[i] in WIKI_SPECIAL:
            found.append(text[i])
        i += 1
    return found


def unescape_wiki(text: str) -> str:
    """Read escaped wiki text back (each backslash pair is its second character)."""
    return re.sub(r"\\(.)", r"\1", text)


@PURE
@given(any_text())
@example("[click|http://evil.example] [~admin] {html}<b>{html} ||a||b|| !x.png! {color:red}")
def test_inline_wiki_text_is_one_line_with_every_markup_character_escaped(text: str) -> None:
    """inline() yields one line whose every markup character is escaped, reading back as typed."""
    out = jira_markup.inline(text)
    assert "\n" not in out and "\r" not in out
    assert unescaped_markup(out) == []
    assert unescape_wiki(out) == " ".join(text.split())


@PURE
@given(any_text())
@example("{noformat}\n[x|http://e]\n{noformat}")
@example("{noformat:title=x}[~admin]{NoFormat}")
def test_noformat_block_cannot_be_closed_from_inside(text: str) -> None:
    """block() wraps text so that no noformat tag, with or without parameters, is inside."""
    out = jira_markup.block(text)
    assert out.startswith("{noformat}\n") and out.endswith("\n{noformat}")
    inner = out[len("{noformat}\n") : -len("\n{noformat}")]
    assert NOFORMAT_TAG.search(inner) is None


def _draft(summary: str, value: str, detail: str, url: str) -> TicketDraft:
    return TicketDraft(
        idempotency_label="hypercare-hc-42",
        summary=summary,
        facts=(("Severity", "High"), ("Environment", value)),
        details=(("What happened", detail), ("Expected", detail)),
        links=(("Slack thread", url),),
        priority="High",
        labels=("hypercare",),
        components=(),
    )


def skeleton(wiki: str) -> list[str]:
    """The markup a wiki text renders: unescaped markup characters outside noformat blocks,
    and each block as one token."""
    parts = re.split(r"(\{noformat\}.*?\{noformat\})", wiki, flags=re.DOTALL | re.IGNORECASE)
    out: list[str] = []
    for part in parts:
        out += ["BLOCK"] if part.lower().startswith("{noformat}") else unescaped_markup(part)
    return out


SLACK_URL = "https://hypercare-test.slack.com/archives/C0FEEDBACK/p1"


@PURE
@given(hostile_text(), hostile_text(), any_text(), st.one_of(st.just(SLACK_URL), hostile_text()))
@example("[~admin]", "{html}", "{noformat}\n||a||b||", "https://x|[~admin]")
def test_ticket_description_markup_is_the_bots_whatever_the_user_typed(
    summary: str, value: str, detail: str, url: str
) -> None:
    """User text adds no markup to a description: outside its inert blocks it renders the
    same links, bold and headings as a report of plain words, and every block closes."""
    wiki = jira_markup.description(_draft(summary, value, detail, url))
    plain_url = SLACK_URL if url == SLACK_URL else "plain"
    plain = jira_markup.description(_draft("words", "words", "words", plain_url))
    if len(wiki) < jira_markup.DESCRIPTION_MAX - 300:  # shortened ones are checked below
        assert skeleton(wiki) == skeleton(plain)
    assert "{" not in skeleton(wiki)  # every noformat tag pairs up, even when shortened
    assert len(wiki) <= jira_markup.DESCRIPTION_MAX


@PURE
@given(hostile_text(), any_text())
def test_comment_markup_is_the_bots_whatever_the_user_typed(value: str, detail: str) -> None:
    """A +1 or merge comment renders the same markup whatever its user text."""

    def comment(value: str, detail: str) -> str:
        draft = TicketComment("plus-one-7", "Also reported", (("Environment", value),))
        return jira_markup.comment(
            TicketComment(draft.marker, draft.heading, draft.facts, (("Said", detail),))
        )

    assert skeleton(comment(value, detail)) == skeleton(comment("words", "words"))


@PURE
@given(any_text())
def test_jira_summary_is_one_line_within_255_characters(text: str) -> None:
    """summary() never carries a line break and never exceeds Jira's 255 characters."""
    out = jira_markup.summary(text)
    assert len(out) <= jira_markup.SUMMARY_MAX
    assert len(out.splitlines()) <= 1


# -- JQL -----------------------------------------------------------------------------------------


@PURE
@given(any_text())
@example('" OR project = X OR labels = "')
@example('\\" OR key is not empty ORDER BY key --')
@example("\\")
def test_jql_string_cannot_break_out_of_its_quotes(text: str) -> None:
    """Quoted with _jql_string, any text stays one string literal that reads back as given."""
    tokens = tokenize(f'labels = "{jql_string(text)}" ORDER BY key ASC')
    kinds = [(t.kind, t.text.lower() if t.kind == "word" else t.text) for t in tokens]
    assert kinds == [
        ("word", "labels"),
        ("op", "="),
        ("string", text),
        ("word", "order"),
        ("word", "by"),
        ("word", "key"),
        ("word", "asc"),
        ("eof", "EOF"),
    ]


@pytest.mark.parametrize("label", ['hc" OR labels is not EMPTY OR labels = "x', "a\\", 'x\\"'])
def test_label_query_keeps_a_label_inside_one_string(label: str) -> None:
    """The idempotency-label search is one clause whatever the label holds."""
    strings = [t.text for t in tokenize(label_query(label)) if t.kind == "string"]
    assert strings == [label]
    assert json.dumps(label) != label_query(label)  # quoted by JQL's rules, not JSON's
