"""Slack rendering: escaping, shortening, and messages and views within Block Kit limits."""

from __future__ import annotations

import datetime as dt
import json

from bot.config import Program
from bot.domain import (
    EscalatingItem,
    Feedback,
    FeedbackState,
    ItemKind,
    ItemRef,
    Page,
    SourceMessage,
    UsersAffected,
)
from bot.slack.blocks import escalation as escalation_blocks
from bot.slack.blocks import feedback as blocks
from bot.slack.text import escape, safe, shorten
from sandbox.slack.limits import check_message_blocks, check_view


def feedback(text: str = "It broke", source: SourceMessage | None = None) -> Feedback:
    """A stored feedback with the given free text everywhere."""
    return Feedback(
        id=42,
        short_id="HC-42",
        summary=text[:150],
        category="bug",
        severity="sev1",
        component="payments-api",
        environment="production",
        trying=text,
        expected=text,
        actual=text,
        api_endpoint=text[:300],
        correlation_id="c-1",
        users_affected=UsersAffected.ALL,
        channel_id="C0FEEDBACK",
        reporter_id="U0ALICE",
        state=FeedbackState.NEW,
        created_at=dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC),
        source=source,
        receipt_ts=None,
        receipt_permalink=None,
    )


def test_escape_neutralises_mentions_and_links() -> None:
    """Only &, < and > are escaped, which is enough to stop every ping and link."""
    assert (
        escape("<!channel> & <@U1> <http://x|y>")
        == "&lt;!channel&gt; &amp; &lt;@U1&gt; &lt;http://x|y&gt;"
    )
    assert escape("*bold* _it_") == "*bold* _it_"


def test_shorten_hits_the_limit_exactly_and_says_how_much_is_left_out() -> None:
    """Shortened text is exactly the limit long and counts what it left out."""
    out = shorten("x" * 5000, 3000)
    assert len(out) == 3000
    kept = out.index("…")
    assert out.endswith(f"({5000 - kept:,} more characters)")
    assert shorten("short", 10) == "short"


def test_safe_stays_within_the_limit_after_escaping() -> None:
    """Text made of characters that grow when escaped still fits."""
    assert len(safe("<" * 5000, 3000)) <= 3000
    assert "<" not in safe("<" * 5000, 3000)


def test_huge_receipt_stays_within_slack_limits(program: Program) -> None:
    """A receipt built from 3,000-character fields full of markup passes every Block Kit limit."""
    text, rendered = blocks.receipt(feedback("<&>" * 1000), program)
    dicts = [b.to_dict() for b in rendered]
    assert not check_message_blocks(dicts).errors
    assert len(text) <= 4000 and "<&>" not in json.dumps(dicts[1:])


def test_modal_stays_within_limits_for_a_large_program(program: Program) -> None:
    """The form with 100 categories and a 40,000-character source message is a valid view."""
    big = program.model_copy(
        update={
            "categories": [
                program.categories[0].model_copy(update={"id": f"c{i}"}) for i in range(100)
            ]
        }
    )
    source = SourceMessage("C0GENERAL", "1.2", "U0BOB", "é" * 40_000, "https://x.slack.com/p1")
    view = blocks.feedback_modal(big, blocks.ModalPrefill("C0FEEDBACK", "s", "a" * 5000, source))
    as_dict = view.to_dict()
    assert not check_view(as_dict).errors
    assert len(as_dict["private_metadata"]) <= 3000
    back = blocks.source_from_metadata(as_dict["private_metadata"])
    assert back is not None and back.author_id == "U0BOB" and back.text.startswith("éé")


def test_source_metadata_fits_even_when_json_escaping_doubles_the_text() -> None:
    """Quotes and line breaks, which double when JSON-encoded, are cut to fit 3,000 characters."""
    for text in ('"' * 5000, "\n" * 5000, 'a"\\' * 2000):
        source = SourceMessage("C1", "1.2", None, text, None)
        packed = blocks.source_metadata(source)
        assert len(packed) <= 3000
        back = blocks.source_from_metadata(packed)
        assert back is not None and text.startswith(back.text) and len(back.text) > 1000


def test_the_form_sent_to_slack_is_the_form_built_whole(program: Program) -> None:
    """The form from parts rendered once per program equals the form rendered whole, for every
    kind of prefill, and follows a changed program (a program file reloaded)."""
    source = SourceMessage("C0GENERAL", "1.2", "U0BOB", "It *broke* <@U0X>", "https://x/p1")
    prefills = [
        blocks.ModalPrefill("C0FEEDBACK"),
        blocks.ModalPrefill("C0FEEDBACK", "Checkout fails", "504 at /pay"),
        blocks.ModalPrefill("C0GENERAL", "From a message", "", source),
    ]
    for prefill in prefills:
        sent = blocks.feedback_modal_json(program, prefill)
        assert sent == blocks.feedback_modal(program, prefill).to_dict()
        assert not check_view(sent).errors
    renamed = program.model_copy(
        update={"components": [program.components[0].model_copy(update={"label": "Renamed"})]}
    )
    sent = blocks.feedback_modal_json(renamed, prefills[0])
    assert "Renamed" in json.dumps(sent)
    assert sent == blocks.feedback_modal(renamed, prefills[0]).to_dict()


def page(rounds: int, round_: int = 0) -> Page:
    """A page of HC-42 to its primary on-call, in round `round_` of `rounds`."""
    item = EscalatingItem(
        ref=ItemRef(ItemKind.FEEDBACK, 42),
        severity="sev1",
        title="Checkout returns 504",
        channel_id="C0FEEDBACK",
        thread_ts="1.2",
        link=None,
        started_at=dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC),
        resolved_at=None,
    )
    return Page(
        item=item,
        severity_label="Critical",
        role="primary on-call",
        round=round_,
        rounds=rounds,
        sla_breached=False,
        escalating_since=item.started_at,
    )


def test_a_page_names_its_round_only_when_the_policy_climbs_more_than_once() -> None:
    """ "round 2 of 3" tells the paged person the climb repeats; "round 1 of 1" would be noise,
    in the page DM, the grouped page DM and the thread mention alike."""

    def rendered(p: Page) -> str:
        lone = json.dumps(escalation_blocks.page_message(p)[1][1].to_dict(), ensure_ascii=False)
        grouped = json.dumps(
            [b.to_dict() for b in escalation_blocks.group_message(7, [p, p])[1]], ensure_ascii=False
        )
        return lone + grouped + escalation_blocks.thread_mention(p, ["<@U0PRIYA>"])

    once = rendered(page(rounds=1))
    assert "round" not in once.lower().replace("rotating", "")
    assert "Escalating since <!date^" in once
    again = rendered(page(rounds=3, round_=1))
    assert "Round 2 of 3 · escalating since <!date^" in again  # the DM's context
    assert "primary on-call* · round 2 of 3" in again  # the grouped DM's line
    assert "not acknowledged yet (round 2 of 3)." in again  # the thread mention
