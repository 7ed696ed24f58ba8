"""End to end: feedback filed through signed Slack requests lands in Slack and the database."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bot.app.build import Runtime
from sandbox.demo.samples import feedback_form
from sandbox.slack import SlackEmulator, SlackUserSimulator
from storage.db import make_sessions
from storage.models import FeedbackRow, OutboxRow

FEEDBACK = "C0FEEDBACK"
GENERAL = "C0GENERAL"


def good_values(**overrides: Any) -> dict[str, Any]:
    """A complete, valid form posting to the feedback channel."""
    return feedback_form(FEEDBACK, **overrides)


def rows(bot: Runtime) -> list[FeedbackRow]:
    """Every stored feedback row."""
    with make_sessions(bot.engine)() as session:
        return list(session.scalars(select(FeedbackRow).order_by(FeedbackRow.id)))


def mrkdwn_texts(node: Any) -> list[str]:
    """Every mrkdwn text in a block tree."""
    if isinstance(node, list):
        return [t for item in node for t in mrkdwn_texts(item)]
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "mrkdwn" else []
        return own + [t for v in node.values() for t in mrkdwn_texts(v)]
    return []


def open_modal(user: SlackUserSimulator, slack: SlackEmulator, text: str = "") -> dict[str, Any]:
    """Run /hypercare and return the modal Slack was asked to open (this one, not an earlier)."""
    opened = len([c for c in slack.calls_to("views.open") if c.response.get("ok")])
    response = user.slash_command(text)
    assert response.status_code == 200
    # views.open runs after the ack: wait for this command's modal, not the previous one.
    return slack.wait_for("views.open", count=opened + 1)[-1].response["view"]


def test_slash_command_opens_the_feedback_modal(
    user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """`/hypercare` opens a modal asking every structured field, posting to the feedback channel."""
    view = open_modal(user, slack)
    assert view["callback_id"] == "hypercare-feedback-modal"
    block_ids = [b.get("block_id") for b in view["blocks"] if b["type"] == "input"]
    assert block_ids == [
        "summary",
        "severity",
        "category",
        "component",
        "environment",
        "trying",
        "expected",
        "actual",
        "api_endpoint",
        "correlation_id",
        "users_affected",
        "channel",
    ]
    severity = next(b for b in view["blocks"] if b.get("block_id") == "severity")
    first = severity["element"]["options"][0]
    assert first["value"] == "sev1"
    assert first["description"]["text"] == "Production down or data at risk, no workaround"
    channel = next(b for b in view["blocks"] if b.get("block_id") == "channel")
    assert channel["element"]["initial_conversation"] == FEEDBACK


def test_slash_command_text_prefills_the_summary(
    user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """`/hypercare <text>` opens the modal with the text as the summary."""
    view = open_modal(user, slack, "Login page is blank on Safari")
    summary = next(b for b in view["blocks"] if b.get("block_id") == "summary")
    assert summary["element"]["initial_value"] == "Login page is blank on Safari"


def test_help_answers_ephemerally_without_a_modal(
    user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """`/hypercare help` answers in an ephemeral message and opens nothing."""
    response = user.slash_command("help")
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "Report to hypercare" in json.dumps(body["blocks"])
    assert slack.calls_to("views.open") == []


def test_submission_is_stored_then_receipt_and_confirmation_posted(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """A valid submission closes the modal, stores every field, posts a receipt and confirms."""
    view = open_modal(user, slack)
    response = user.submit_view(view, good_values())
    assert response.status_code == 200
    assert response.text in ("", "{}") or "errors" not in response.json()
    [row] = rows(bot)
    assert (row.summary, row.severity, row.component, row.correlation_id) == (
        "Checkout returns 504 for card payments",
        "sev1",
        "payments-api",
        "abc-123-def",
    )
    assert row.users_affected == "many" and row.reporter_id == "U0ALICE" and row.state == "new"
    post = slack.wait_for("chat.postMessage")[0]
    assert post.args["channel"] == FEEDBACK
    rendered = json.dumps(post.args["blocks"])
    assert f"HC-{row.id}" in rendered and "Critical" in rendered and "<@U0ALICE>" in rendered
    assert "Payments API" in rendered and "POST /v1/payments" in rendered
    ephemeral = slack.wait_for("chat.postEphemeral")[0]
    assert ephemeral.args["user"] == "U0ALICE" and f"HC-{row.id}" in ephemeral.args["text"]
    assert "slack.com/archives" in ephemeral.args["text"]  # links to the receipt
    slack.wait_for("chat.getPermalink")
    assert rows(bot)[0].receipt_ts == post.response["ts"]


def test_invalid_submission_returns_inline_errors_and_stores_nothing(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """An empty summary, over-long text and a forged option come back as errors on their fields."""
    view = open_modal(user, slack)
    values = good_values(summary="   ", category="not-a-category", actual="x" * 3001)
    response = user.submit_view(view, values)
    body = response.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"summary", "category", "actual"}
    assert rows(bot) == []
    assert slack.calls_to("chat.postMessage") == []


def test_double_submit_makes_one_feedback_and_one_receipt(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """Submitting the same modal twice (double click, retried delivery) stores and posts once."""
    view = open_modal(user, slack)
    first = user.submit_view(view, good_values())
    second = user.submit_view(view, good_values())
    assert first.status_code == second.status_code == 200
    slack.wait_for("chat.postEphemeral")
    assert len(rows(bot)) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_message_shortcut_prefills_and_links_both_ways(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """The shortcut keeps the message's text, author and link, and replies in its thread."""
    slack.add_message(
        GENERAL, "1700000000.000100", "Refunds fail with 500 since 9:00\nsee logs", "U0BOB"
    )
    response = user.message_shortcut(
        callback_id="report_to_hypercare",
        message_text="Refunds fail with 500 since 9:00\nsee logs",
        message_user="U0BOB",
        message_ts="1700000000.000100",
        channel_id=GENERAL,
    )
    assert response.status_code == 200
    view = slack.wait_for("views.open")[-1].response["view"]
    summary = next(b for b in view["blocks"] if b.get("block_id") == "summary")
    assert summary["element"]["initial_value"] == "Refunds fail with 500 since 9:00"
    context = json.dumps(view["blocks"][0])
    assert "<@U0BOB>" in context and "view message" in context
    kept = {k: v for k, v in good_values().items() if k not in ("summary", "actual")}
    user.submit_view(view, kept)  # the prefilled summary and text are left as they are
    reply = next(c for c in slack.wait_for("chat.postMessage", count=2) if c.args.get("thread_ts"))
    assert reply.args["channel"] == GENERAL and reply.args["thread_ts"] == "1700000000.000100"
    [row] = rows(bot)
    assert (
        reply.args["text"].count(f"HC-{row.id}") == 1 and "slack.com/archives" in reply.args["text"]
    )
    assert row.source_author_id == "U0BOB" and row.source_channel_id == GENERAL
    assert row.source_text == "Refunds fail with 500 since 9:00\nsee logs"
    assert row.source_permalink and "p1700000000000100" in row.source_permalink
    assert row.summary == "Refunds fail with 500 since 9:00"


def test_user_text_cannot_ping_or_link(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """Mentions, channel pings and links typed by a user reach Slack escaped."""
    view = open_modal(user, slack)
    nasty = "<!channel> <!here> <@U0LEAD1> <https://evil.example|click> & more"
    user.submit_view(view, good_values(summary=nasty, actual=nasty, correlation_id="<!here>"))
    post = slack.wait_for("chat.postMessage")[0]
    # plain_text objects are never parsed for mentions (the header keeps the summary verbatim);
    # every mrkdwn text and the fallback text must be escaped.
    everything = " ".join(mrkdwn_texts(post.args["blocks"])) + post.args["text"]
    assert nasty in json.dumps(post.args["blocks"][0]["text"]["text"])
    for token in ("<!channel>", "<!here>", "<@U0LEAD1>", "<https://evil"):
        assert token not in everything
    assert "&lt;!channel&gt;" in everything


def test_receipt_survives_slack_rate_limits_and_outages(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """A 429 then 503 from Slack delays the receipt; it still arrives, once, and nothing is lost."""
    slack.fail_next("chat.postMessage", status=429, retry_after=1, times=2)
    slack.fail_next("chat.postMessage", status=503, times=1)
    view = open_modal(user, slack)
    assert user.submit_view(view, good_values()).status_code == 200
    assert len(rows(bot)) == 1
    ok = slack.wait_for("chat.postMessage", timeout=20)
    assert len(ok) == 1
    statuses = [c.status for c in slack.calls_to("chat.postMessage")]
    assert statuses.count(200) == 1 and 429 in statuses and 503 in statuses
    slack.wait_for("chat.postEphemeral")


def test_unknown_channel_tells_the_reporter_and_keeps_the_feedback(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """When Slack refuses the receipt for good, the feedback stays and the reporter gets a DM."""
    slack.fail_next("chat.postMessage", status=200, error="channel_not_found")
    view = open_modal(user, slack)
    user.submit_view(view, good_values())
    dm = slack.wait_for("chat.postMessage")[0]
    assert dm.args["channel"] == "U0ALICE" and "is saved" in dm.args["text"]
    assert "channel_not_found" in dm.args["text"]
    assert len(rows(bot)) == 1
    with make_sessions(bot.engine)() as session:
        statuses = {(r.kind, r.status) for r in session.scalars(select(OutboxRow))}
    assert ("feedback.post_receipt", "failed") in statuses


def test_concurrent_duplicate_submissions_store_one_feedback(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """Five copies of one submission arriving at the same moment still make one feedback."""
    from concurrent.futures import ThreadPoolExecutor

    view = open_modal(user, slack)
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: user.submit_view(view, good_values()), range(5)))
    assert [a.status_code for a in answers] == [200] * 5
    slack.wait_for("chat.postEphemeral")
    assert len(rows(bot)) == 1 and len(slack.calls_to("chat.postMessage")) == 1


def test_a_database_failure_keeps_the_modal_open_and_loses_nothing(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """When storing fails, the modal stays open with a reference; resubmitting then works."""
    from sqlalchemy import text

    view = open_modal(user, slack)
    with bot.engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit RENAME TO audit_away"))
    body = user.submit_view(view, good_values()).json()
    assert body["response_action"] == "errors"
    assert "could not save this just now (ref " in body["errors"]["summary"]
    assert rows(bot) == []
    with bot.engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_away RENAME TO audit"))
    assert user.submit_view(view, good_values()).status_code == 200
    assert len(rows(bot)) == 1
    slack.wait_for("chat.postMessage")


def test_a_modal_that_cannot_open_is_explained_to_the_user(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """If Slack refuses to open the form, the user gets an ephemeral note with a reference."""
    slack.fail_next("views.open", status=200, error="expired_trigger_id")
    assert user.slash_command().status_code == 200
    note = slack.wait_for("chat.postEphemeral")[0]
    assert note.args["user"] == "U0ALICE" and "reference" in note.args["text"]


def test_feedback_creation_is_audited(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """Storing feedback writes an audit row naming the reporter."""
    view = open_modal(user, slack)
    user.submit_view(view, good_values())
    [row] = rows(bot)
    trail = bot.services.feedback.audit_trail(row.id)
    assert trail == [("U0ALICE", "created", {"severity": "sev1", "category": "bug"})]
