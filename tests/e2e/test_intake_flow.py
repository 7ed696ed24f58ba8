"""End to end: similar reports appear in the form as it is typed, "+1" joins an item instead of
filing a new one, and the item's thread, Jira ticket and counts follow."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.app.build import Runtime, build_runtime
from bot.config import Program
from sandbox.jira.api import JiraEmulator
from sandbox.slack import SlackEmulator, SlackUserSimulator
from storage.db import make_sessions
from storage.models import FeedbackRow, ReporterRow
from tests.conftest import bot_settings
from tests.e2e import test_jira_flow
from tests.e2e.test_feedback_flow import good_values, open_modal
from tests.e2e.test_jira_flow import JIRA_EMAIL, JIRA_TOKEN, ticket_of
from tests.support import wait_outbox_drained, wait_until

FEEDBACK = "C0FEEDBACK"

jira = test_jira_flow.jira  # the Jira emulator with the example's project


@pytest.fixture
def bot(
    slack: SlackEmulator, jira: JiraEmulator, database_url: str, program: Program
) -> Iterator[Runtime]:
    """The bot in HTTP mode with Jira connected (fast pacing)."""
    settings = bot_settings(slack, database_url).model_copy(
        update={
            "jira_url": jira.url,
            "jira_email": JIRA_EMAIL,
            "jira_api_token": SecretStr(JIRA_TOKEN),
            "jira_read_timeout": 1.0,
        }
    )
    assert program.jira is not None
    fast = program.model_copy(
        update={"jira": program.jira.model_copy(update={"max_requests_per_second": 50})}
    )
    runtime = build_runtime(settings, fast).start()
    yield runtime
    runtime.stop()


def file_report(user: SlackUserSimulator, slack: SlackEmulator, **values: Any) -> int:
    """File one report through the form and wait for its receipt; return its id."""
    posted = len(slack.calls_to("chat.postMessage"))
    view = open_modal(user, slack)
    assert user.submit_view(view, good_values(**values)).status_code == 200
    slack.wait_for("chat.postMessage", count=posted + 1)
    return len(slack.calls_to("views.open"))  # one form per report in these tests


def type_summary(
    user: SlackUserSimulator,
    slack: SlackEmulator,
    view: dict[str, Any],
    summary: str,
    **values: Any,
) -> dict[str, Any]:
    """Type a summary into an open form and return the form as the bot updated it."""
    updates = len([c for c in slack.calls_to("views.update") if c.response.get("ok")])
    response = user.type_in_view(view, "summary", summary, values)
    assert response.status_code == 200
    return slack.wait_for("views.update", count=updates + 1)[-1].response["view"]


def suggested_ids(view: dict[str, Any]) -> list[str]:
    """The item ids the form suggests, in order."""
    return [
        b["accessory"]["value"]
        for b in view["blocks"]
        if b.get("accessory", {}).get("action_id") == "plus-one"
    ]


def rows(bot: Runtime) -> list[FeedbackRow]:
    """Every stored feedback row."""
    with make_sessions(bot.engine)() as session:
        return list(session.scalars(select(FeedbackRow).order_by(FeedbackRow.id)))


def reporter_rows(bot: Runtime) -> list[ReporterRow]:
    """Every stored later reporter."""
    with make_sessions(bot.engine)() as session:
        return list(session.scalars(select(ReporterRow).order_by(ReporterRow.id)))


def test_typing_a_summary_shows_similar_open_reports_in_the_form(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """Typing a summary updates the open form (with its hash) with the matching open item."""
    file_report(user, slack, summary="Checkout returns 504 for card payments")
    file_report(user, slack, summary="Login page is blank on Safari", api_endpoint="GET /login")
    view = open_modal(user, slack)
    updates = len(slack.calls_to("views.update"))
    shown = type_summary(
        user, slack, view, "Card payments fail with 504 at checkout", actual="504 on pay"
    )
    call = slack.calls_to("views.update")[updates]
    assert call.args["view_id"] == view["id"] and call.args["hash"] == view["hash"]
    assert suggested_ids(shown) == ["1"]
    text = json.dumps(shown["blocks"])
    assert "HC-1" in text and "Checkout returns 504" in text and "Critical" in text
    assert "1 reporter" in text and "slack.com/archives" in text and "{ago}" in text
    # The form keeps every field, in place, with the suggestions after the summary.
    ids = [b.get("block_id") for b in shown["blocks"]]
    assert ids[0] == "summary" and ids[1].startswith("similar") and "channel" in ids


def test_no_match_leaves_the_form_alone(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """A summary nothing matches causes no update of the form at all."""
    file_report(user, slack, summary="Checkout returns 504 for card payments")
    view = open_modal(user, slack)
    user.type_in_view(view, "summary", "Printer toner dialog wording")
    # The lookup ran (it reads the database) when the next request is answered in order; wait
    # on something definite instead: a second, matching summary produces exactly one update.
    shown = type_summary(user, slack, view, "checkout 504 card payments")
    assert suggested_ids(shown) == ["1"]
    assert len(slack.calls_to("views.update")) == 1


def test_a_stale_view_hash_is_dropped_silently(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """A lookup answered after the form changed (hash conflict) neither updates nor errs."""
    file_report(user, slack, summary="Checkout returns 504 for card payments")
    view = open_modal(user, slack)
    type_summary(user, slack, view, "checkout 504 card payments")
    user.type_in_view(view, "summary", "checkout 504 card payments again")  # the old hash
    conflict = wait_until(
        lambda: [c for c in slack.calls_to("views.update") if not c.response.get("ok")]
    )
    assert conflict[0].response["error"] == "hash_conflict"
    wait_outbox_drained(bot.engine)
    said = [c.args["text"] for c in slack.calls_to("chat.postEphemeral")]
    assert not [text for text in said if "did not work" in text]


def test_plus_one_joins_the_item_posts_in_its_thread_and_comments_on_jira(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, jira: JiraEmulator
) -> None:
    """+1 stores no new report: the item counts two reporters and their reach, its thread and
    its Jira ticket say who, and the reporter is told privately with the link."""
    file_report(user, slack)
    key = ticket_of(bot)
    view = open_modal(user, slack)
    typed = {"environment": "staging", "correlation_id": "corr-<!here>-9", "users_affected": "team"}
    shown = type_summary(user, slack, view, "card payments 504 at checkout", **typed)
    pressed = user.click_in_view(
        shown,
        action_id="plus-one",
        value="1",
        values={**typed, "summary": "card 504 *again*"},
        user_id="U0BOB",
    )
    assert pressed.status_code == 200
    done = wait_until(
        lambda: [
            c
            for c in slack.calls_to("views.update")
            if c.args["view"].get("callback_id") == "hypercare-plus-one-done"
        ]
    )
    assert "HC-1" in json.dumps(done[0].args["view"]) and "2 reporters" in json.dumps(
        done[0].args["view"]
    )
    [row] = rows(bot)
    assert (row.reporters, row.reach) == (2, 1010)
    [reporter] = reporter_rows(bot)
    assert (reporter.reporter_id, reporter.environment, reporter.users_affected) == (
        "U0BOB",
        "staging",
        "team",
    )
    wait_outbox_drained(bot.engine, timeout=30)
    notes = [
        c for c in slack.calls_to("chat.postMessage") if "same problem" in c.args.get("text", "")
    ]
    [note] = notes
    assert note.args["thread_ts"] == row.receipt_ts and "<@U0BOB>" in note.args["text"]
    assert "<!here>" not in note.args["text"] and "&lt;!here&gt;" in note.args["text"]
    told = [c for c in slack.calls_to("chat.postEphemeral") if c.args["user"] == "U0BOB"]
    assert len(told) == 1 and "slack.com/archives" in told[0].args["text"]
    comments = [str(c["body"]) for c in jira.comments(key)]
    mine = [c for c in comments if "reported again" in c]
    assert len(mine) == 1 and "U0BOB" in mine[0] and "corr\\-" in mine[0]
    receipt = slack.calls_to("chat.update")[-1]
    assert "2 reporters" in json.dumps(receipt.args["blocks"])


def test_a_second_plus_one_by_the_same_person_counts_once(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """Pressing +1 twice (or again from a new form) adds the person once and says so."""
    file_report(user, slack)
    view = open_modal(user, slack)
    shown = type_summary(user, slack, view, "card payments 504 at checkout")
    user.click_in_view(shown, action_id="plus-one", value="1", user_id="U0BOB")
    user.click_in_view(shown, action_id="plus-one", value="1", user_id="U0BOB")
    pushed = slack.wait_for("views.push")[0]
    assert "already" in json.dumps(pushed.args["view"])
    assert rows(bot)[0].reporters == 2 and len(reporter_rows(bot)) == 1


def test_plus_one_on_a_resolved_item_is_refused_clearly(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """An item resolved meanwhile takes no +1: a notice over the form says so, nothing stored."""
    file_report(user, slack, severity="sev3")
    view = open_modal(user, slack)
    shown = type_summary(user, slack, view, "card payments 504 at checkout")
    with make_sessions(bot.engine).begin() as session:
        session.get_one(FeedbackRow, 1).state = "resolved"
    user.click_in_view(shown, action_id="plus-one", value="1", user_id="U0BOB")
    pushed = slack.wait_for("views.push")[0]
    assert "resolved meanwhile" in json.dumps(pushed.args["view"])
    assert rows(bot)[0].reporters == 1 and reporter_rows(bot) == []


def test_choosing_a_suggestion_before_submit_joins_it_instead_of_filing(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """ "Is it one of these?" chosen on Submit adds the reporter to that item; no new report."""
    file_report(user, slack, severity="sev3")
    view = open_modal(user, slack)
    shown = type_summary(user, slack, view, "card payments 504 at checkout")
    same_as = next(
        b["block_id"] for b in shown["blocks"] if b["block_id"].startswith("similar-same")
    )
    response = user.submit_view(shown, {"summary": "card 504", same_as: "1"}, user_id="U0BOB")
    body = response.json()
    assert body["response_action"] == "update"
    assert "You are added to" in json.dumps(body["view"])
    assert len(rows(bot)) == 1 and rows(bot)[0].reporters == 2


LEAD = "U0LEAD1"


def command(user: SlackUserSimulator, text: str, user_id: str = LEAD) -> str:
    """Run `/hypercare <text>` and return the private answer's text (blocks included)."""
    response = user.slash_command(text, user_id=user_id)
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    return str(body.get("text")) + json.dumps(body.get("blocks") or [])


def test_a_known_issue_shows_its_workaround_in_a_later_form_and_its_receipt_links_it(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """A lead marks HC-1 known; a later report sees the workaround beside the suggestion, and
    filed anyway its receipt links the known issue; the list shows it; retiring ends it."""
    file_report(user, slack, severity="sev3")
    assert "only hypercare leads" in command(user, "known HC-1 use PayPal", "U0BOB").lower()
    # Slack sends typed `<`, `>` and `&` escaped, and a typed @here as <!here>.
    answer = command(user, "known HC-1 Pay by &lt;b&gt;PayPal&lt;/b&gt; <!here> until the fix")
    assert "is now a known issue" in answer
    [row] = rows(bot)
    assert row.known_workaround == "Pay by <b>PayPal</b> @here until the fix"
    listed = command(user, "known", "U0BOB")
    assert "HC-1" in listed and "&lt;b&gt;PayPal" in listed and "<b>" not in listed
    view = open_modal(user, slack)
    shown = type_summary(user, slack, view, "card payments 504 at checkout")
    text = json.dumps(shown["blocks"])
    assert "Known issue, workaround" in text and "PayPal" in text and "<!here>" not in text
    posted = len(slack.calls_to("chat.postMessage"))
    user.submit_view(shown, good_values(summary="checkout 504 again", severity="sev3"))
    receipts = slack.wait_for("chat.postMessage", count=posted + 1)
    receipt = next(c for c in receipts[posted:] if not c.args.get("thread_ts"))
    assert "Looks like known issue HC-1" in json.dumps(receipt.args["blocks"])
    assert "no longer" in command(user, "known done HC-1")
    assert "not a known issue" in command(user, "known done HC-1")
    assert "No known issues" in command(user, "known")


def test_the_receipt_button_opens_the_workaround_modal_for_leads_only(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """*Mark as known issue* tells a non-lead no; a lead's modal stores the workaround."""
    file_report(user, slack, severity="sev3")
    receipt = slack.calls_to("chat.postMessage")[0]
    ts, channel = receipt.response["ts"], receipt.args["channel"]
    user.click_button(
        action_id="mark-known", value="1", message_ts=ts, channel_id=channel, user_id="U0BOB"
    )
    refused = wait_until(
        lambda: [c for c in slack.calls_to("chat.postEphemeral") if c.args["user"] == "U0BOB"]
    )
    assert "Only hypercare leads" in refused[0].args["text"]
    user.click_button(
        action_id="mark-known", value="1", message_ts=ts, channel_id=channel, user_id=LEAD
    )
    modal = slack.wait_for("views.open", count=2)[-1].response["view"]
    assert modal["callback_id"] == "hypercare-known-modal"
    empty = user.submit_view(modal, {"workaround": "  "}, user_id=LEAD).json()
    assert empty["response_action"] == "errors"
    assert user.submit_view(modal, {"workaround": "Retry"}, user_id=LEAD).status_code == 200
    assert rows(bot)[0].known_workaround == "Retry"
    wait_outbox_drained(bot.engine)
    assert any("known issue" in c.args.get("text", "") for c in slack.calls_to("chat.postMessage"))


def test_merge_moves_reporters_closes_the_duplicate_and_links_the_tickets(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, jira: JiraEmulator
) -> None:
    """`merge HC-2 into HC-1`: HC-1 counts both reporters and their reach, HC-2 is closed and
    its receipt says where it went, its ticket is a Duplicate of HC-1's with a comment; it
    drops out of `top`; bad merges get clear answers."""
    file_report(user, slack)
    file_report(user, slack, summary="Card checkout times out", users_affected="team")
    with make_sessions(bot.engine).begin() as session:
        session.get_one(FeedbackRow, 2).reporter_id = "U0BOB"
    first, second = ticket_of(bot, 1), ticket_of(bot, 2)
    assert "HC-2" in command(user, "top", "U0BOB")
    assert "only hypercare leads" in command(user, "merge HC-2 into HC-1", "U0BOB").lower()
    assert "into itself" in command(user, "merge HC-1 into HC-1")
    assert "found no item" in command(user, "merge HC-2 into HC-99")
    assert "Merged HC-2 into" in command(user, "merge HC-2 into HC-1")
    assert "merged already" in command(user, "merge HC-2 into HC-1")
    assert "loop" in command(user, "merge HC-1 into HC-2")
    target, merged = rows(bot)
    assert (target.reporters, target.reach) == (2, 1010)
    assert merged.merged_into_id == 1 and merged.state == "resolved"
    top = command(user, "top", "U0BOB")
    assert "HC-1" in top and "HC-2" not in top
    wait_outbox_drained(bot.engine, timeout=30)
    assert jira.links(second) == [("duplicates", first)]
    # Jira wiki markup: the bot's words are escaped too (`-` starts a strike-through).
    assert any("HC\\-2 was merged into HC\\-1" in str(c["body"]) for c in jira.comments(second))
    updates = [json.dumps(c.args["blocks"]) for c in slack.calls_to("chat.update")]
    assert any("Merged into HC-1" in u for u in updates)
    assert any("2 reporters" in u for u in updates)
    # A +1 on the merged item is refused with where it went.
    view = open_modal(user, slack)
    shown = type_summary(user, slack, view, "card checkout 504 times out")
    assert "2" not in suggested_ids(shown)


class FailingLookup:
    """A lookup that fails, noting that it was asked."""

    def __init__(self) -> None:
        self.asked = threading.Event()

    def find(self, *args: object, **kwargs: object) -> list[object]:
        """Fail as a broken database would."""
        self.asked.set()
        raise RuntimeError("database gone")


def test_a_failing_lookup_shows_nothing_and_the_form_still_files(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """A lookup that raises gives no suggestions and no error; the report is filed as usual."""
    failing = FailingLookup()
    bot.services.intake.suggestions._lookup = failing  # type: ignore[assignment]
    view = open_modal(user, slack)
    assert user.type_in_view(view, "summary", "checkout 504").status_code == 200
    assert failing.asked.wait(10)
    assert user.submit_view(view, good_values()).status_code == 200
    slack.wait_for("chat.postEphemeral")
    wait_outbox_drained(bot.engine)
    assert slack.calls_to("views.update") == []
    said = [c.args["text"] for c in slack.calls_to("chat.postEphemeral")]
    assert any("Thanks" in text for text in said)
    assert not [text for text in said if "did not work" in text]


def test_the_digest_lists_known_issues_by_new_plus_ones_and_open_items_by_priority(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """The digest's Known issues section shows the +1s since the last digest; its open items
    put the much-reported item first."""
    file_report(user, slack, severity="sev3", summary="Export is slow", users_affected="one")
    file_report(user, slack, severity="sev3", summary="Checkout 504 on card payments")
    command(user, "known HC-2 Pay by invoice")
    view = open_modal(user, slack)
    shown = type_summary(user, slack, view, "card payments 504 at checkout")
    user.click_in_view(shown, action_id="plus-one", value="2", user_id="U0BOB")
    wait_until(lambda: rows(bot)[1].reporters == 2)
    digest = bot.services.digests.daily()
    sections = {s.title: s for s in digest.sections}
    [known] = sections["Known issues"].lines
    assert known.ref == "HC-2" and "Pay by invoice" in known.summary
    assert known.detail.startswith("+1 since the last digest")
    assert [line.ref for line in sections["Open items"].lines] == ["HC-2", "HC-1"]
    assert "priority" in sections["Open items"].lines[0].detail
