"""End to end: the user pulse through the Slack emulator, on SQLite and PostgreSQL.

The scheduled pulse goes out once (also with two replicas, and late within its grace), retried
while Slack fails; numbers pressed record, change and repeat an answer; the comment form takes a
score with a comment and refuses an oversized one; a closed or unknown pulse takes nothing;
`/hypercare pulse` is for leads; reporters get one DM each; the weekly review, `/hypercare
status` and the `satisfaction_above` exit criterion show the score and its trend.

The bot runs on a clock the test moves; the pulse's job asks every 0.1 s of real time.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from bot.app.build import Runtime
from bot.config import Program
from bot.reports.build import build_exit_report
from sandbox.demo.samples import feedback_draft
from sandbox.slack import SlackEmulator, SlackUserSimulator
from storage import db
from storage.models import PulseAnswerRow, PulseRow
from tests.conftest import ROOT, SIGNING_SECRET
from tests.e2e.test_alert_flow import Clock
from tests.e2e.test_digest import DIGEST, digest_file, start
from tests.support import JobRuns, outbox_attempted, wait_outbox_drained, wait_until

PULSE = "C0PULSE"
LEAD, ALICE, BOB, CAROL = "U0LEAD1", "U0ALICE", "U0BOB", "U0CAROL"
# Monday 23 Nov 2026, 09:59 in Berlin: a minute before the pulse.
MONDAY_0959 = dt.datetime(2026, 11, 23, 8, 59, tzinfo=dt.UTC)
QUESTION = "How is the new <b>system</b> working for you?"


def pulse_file(**pulse: Any) -> dict[str, Any]:
    """The example program without rotas, escalation or digests, asking in C0PULSE on Mondays
    at 10:00; `pulse` changes the section."""
    raw: dict[str, Any] = yaml.safe_load((ROOT / "hypercare.example.yaml").read_text())
    del raw["oncall"], raw["escalation"]
    del raw["channels"]["digest"]
    raw["pulse"] = {"days": "MON", "at": "10:00", "to": PULSE, "question": QUESTION, **pulse}
    return raw


def pulse_program(**pulse: Any) -> Program:
    """The program of `pulse_file`."""
    return Program.model_validate(pulse_file(**pulse))


@pytest.fixture
def clock() -> Clock:
    """Monday 23 Nov, 09:59 Berlin."""
    moving = Clock()
    moving.now = MONDAY_0959
    return moving


def add_people(slack: SlackEmulator) -> None:
    """The pulse channel and a fourth person."""
    slack.add_channel(PULSE, "hypercare-pulse")
    slack.add_channel(DIGEST, "hypercare-digest")
    slack.add_user(CAROL, "carol", email="carol@example.com")


@pytest.fixture
def bot(slack: SlackEmulator, database_url: str, clock: Clock) -> Iterator[Runtime]:
    """The bot asking in C0PULSE on Mondays at 10:00."""
    add_people(slack)
    runtime = start(slack, database_url, clock, pulse_program())
    yield runtime
    runtime.stop()


@pytest.fixture
def user(bot: Runtime, slack: SlackEmulator) -> Iterator[SlackUserSimulator]:
    """A Slack user whose actions reach the bot as signed requests."""
    simulator = SlackUserSimulator(
        f"http://127.0.0.1:{bot.port}/slack/events", SIGNING_SECRET, emulator=slack
    )
    yield simulator
    simulator.close()


def pulses(slack: SlackEmulator, channel: str = PULSE) -> list[Any]:
    """Pulse messages posted (and accepted) in a channel, or DMed to a user id."""
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("channel") == channel
        and c.status == 200
        and c.response.get("ok")
        and "pulse-score-1" in json.dumps(c.args.get("blocks") or [])
    ]


def rows(bot: Runtime, model: type[PulseRow] | type[PulseAnswerRow]) -> int:
    """How many rows a table has."""
    with db.make_sessions(bot.engine)() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def buttons(call: Any) -> dict[str, str]:
    """A posted message's buttons: action id → value."""
    return {
        element["action_id"]: element["value"]
        for block in call.args["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }


def press(
    user: SlackUserSimulator,
    slack: SlackEmulator,
    posted: Any,
    action: str,
    who: str,
    value: str | None = None,
) -> str:
    """Press a button of a posted pulse as `who`; return what they alone were told."""
    told = len(slack.ephemerals(user=who))
    channel = str(posted.response["channel"])
    response = user.click_button(
        action_id=action,
        value=value if value is not None else buttons(posted)[action],
        message_ts=str(posted.response["ts"]),
        channel_id=channel,
        user_id=who,
    )
    assert response.status_code == 200
    answer = wait_until(lambda: slack.ephemerals(user=who)[told:])
    assert answer[0]["channel"] == channel
    return str(answer[0]["text"])


def send_scheduled(bot: Runtime, slack: SlackEmulator, clock: Clock) -> Any:
    """Move to Monday 10:00 and return the pulse message once it is posted."""
    clock.now = MONDAY_0959 + dt.timedelta(minutes=1)
    [posted] = wait_until(lambda: pulses(slack))
    return posted


def test_the_scheduled_pulse_goes_out_once_with_five_numbers_and_a_comment_button(
    bot: Runtime, slack: SlackEmulator, clock: Clock, database_url: str
) -> None:
    """At 10:00 Monday one pulse lands in the channel: the question (made inert), 1–5 buttons
    carrying the pulse's id, *Add a comment*; asking again, or a second replica, sends none."""
    runs = JobRuns(bot, "pulse")
    runs.wait_for_run_after(dt.datetime.now(dt.UTC))
    assert pulses(slack) == [] and rows(bot, PulseRow) == 0
    posted = send_scheduled(bot, slack, clock)
    assert buttons(posted) == {
        "pulse-score-1": "1:1",
        "pulse-score-2": "1:2",
        "pulse-score-3": "1:3",
        "pulse-score-4": "1:4",
        "pulse-score-5": "1:5",
        "pulse-comment": "1",
    }
    shown = json.dumps(posted.args["blocks"], ensure_ascii=False)
    assert "How is the new &lt;b&gt;system&lt;/b&gt; working for you?" in shown
    assert "<b>" not in shown and "One answer per person" in shown
    assert not bot.services.pulse.post_due()
    replica = start(slack, database_url, clock, pulse_program())
    try:
        JobRuns(replica, "pulse").wait_for_run_after(dt.datetime.now(dt.UTC))
        runs.wait_for_run_after(dt.datetime.now(dt.UTC))
        wait_outbox_drained(bot.engine)
        assert len(pulses(slack)) == 1 and rows(bot, PulseRow) == 1
    finally:
        replica.stop()


def test_a_pulse_slack_refuses_for_now_is_posted_once_when_slack_is_back(
    bot: Runtime, slack: SlackEmulator, clock: Clock
) -> None:
    """Slack answering 503 puts the post back; it goes out once when Slack answers again."""
    slack.fail_next("chat.postMessage", status=503, channel=PULSE)
    clock.now = MONDAY_0959 + dt.timedelta(minutes=1)
    wait_until(lambda: outbox_attempted(bot.engine, "pulse.post"))
    clock.tick(120)  # past the backoff
    wait_until(lambda: pulses(slack))
    wait_outbox_drained(bot.engine)
    assert len(pulses(slack)) == 1


def test_a_pulse_missed_while_down_is_sent_once_late_and_not_past_its_grace(
    slack: SlackEmulator, database_url: str, clock: Clock
) -> None:
    """Back at 15:30 (grace 6 h) the pulse goes out once, even with two replicas asking; back
    at 16:30, past it, it does not."""
    add_people(slack)
    clock.now = MONDAY_0959 + dt.timedelta(hours=5, minutes=31)
    first = start(slack, database_url, clock, pulse_program())
    second = start(slack, database_url, clock, pulse_program())
    try:
        wait_until(lambda: pulses(slack))
        assert not first.services.pulse.post_due() and not second.services.pulse.post_due()
        wait_outbox_drained(first.engine)
        assert len(pulses(slack)) == 1
    finally:
        first.stop()
        second.stop()


def test_a_pulse_missed_beyond_its_grace_is_skipped(
    slack: SlackEmulator, database_url: str, clock: Clock
) -> None:
    """Back at 16:30 Monday, past the 6 h grace: no pulse until next Monday's."""
    add_people(slack)
    clock.now = MONDAY_0959 + dt.timedelta(hours=6, minutes=31)
    runtime = start(slack, database_url, clock, pulse_program())
    try:
        JobRuns(runtime, "pulse").wait_for_run_after(dt.datetime.now(dt.UTC))
        assert not runtime.services.pulse.post_due()
        assert pulses(slack) == [] and rows(runtime, PulseRow) == 0
    finally:
        runtime.stop()


def test_a_press_records_an_answer_a_repeat_changes_nothing_another_number_changes_it(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, clock: Clock
) -> None:
    """Alice presses 4 (thanked), 4 again (told nothing changed), then 2 (changed from 4); Bob
    presses 5: two answers, CSAT 50 %, mean 3.5. Each answer is told to the presser alone."""
    posted = send_scheduled(bot, slack, clock)
    first = press(user, slack, posted, "pulse-score-4", ALICE)
    assert first.endswith("Thanks — you said 4/5. Change it any time by pressing another number.")
    again = press(user, slack, posted, "pulse-score-4", ALICE)
    assert "You already answered 4/5 — nothing changed" in again
    changed = press(user, slack, posted, "pulse-score-2", ALICE)
    assert changed.endswith("Changed your answer from 4 to 2.")
    assert "you said 5/5" in press(user, slack, posted, "pulse-score-5", BOB)
    assert rows(bot, PulseAnswerRow) == 2
    figures = bot.services.pulse.satisfaction(MONDAY_0959, clock.now + dt.timedelta(seconds=1))
    assert (figures.responses, figures.satisfied, figures.csat_percent, figures.mean) == (
        2,
        1,
        50.0,
        3.5,
    )
    assert slack.ephemerals(user=CAROL) == []  # nobody else was told anything
    assert len(slack.messages(PULSE)) == 1  # answers are never posted to the channel


def comment_form(
    user: SlackUserSimulator, slack: SlackEmulator, posted: Any, who: str
) -> dict[str, Any]:
    """Press *Add a comment* as `who` and return the form Slack was asked to open."""
    opened = len([c for c in slack.calls_to("views.open") if c.response.get("ok")])
    user.click_button(
        action_id="pulse-comment",
        value=buttons(posted)["pulse-comment"],
        message_ts=str(posted.response["ts"]),
        channel_id=str(posted.response["channel"]),
        user_id=who,
    )
    return dict(slack.wait_for("views.open", count=opened + 1)[-1].response["view"])


def initial(view: dict[str, Any], block_id: str) -> Any:
    """The initial value (or option) of a form input."""
    block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
    element = block["element"]
    option = element.get("initial_option")
    return option["value"] if option else element.get("initial_value")


def test_the_comment_form_takes_a_score_with_a_comment_and_refuses_bad_input_on_its_fields(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, clock: Clock
) -> None:
    """*Add a comment* opens a form with the presser's score so far; an oversized comment, an
    empty one and a missing score go back on their fields and store nothing; a good one stores
    the score with the comment. Comments are never shown in public; a lead reads them privately,
    escaped; a member may not."""
    posted = send_scheduled(bot, slack, clock)
    press(user, slack, posted, "pulse-score-3", ALICE)
    form = comment_form(user, slack, posted, ALICE)
    assert form["callback_id"] == "hypercare-pulse-comment-modal"
    assert form["private_metadata"] == "1"
    assert initial(form, "pulse-score") == "3" and initial(form, "pulse-comment") is None
    too_long = user.submit_view(
        form, {"pulse-score": "5", "pulse-comment": "x" * 1001}, user_id=ALICE
    ).json()
    assert too_long == {
        "response_action": "errors",
        "errors": {
            "pulse-comment": "Please keep your comment under 1,000 characters (this one has 1,001)."
        },
    }
    blank = comment_form(user, slack, posted, BOB)  # Bob has not answered: no score chosen
    assert initial(blank, "pulse-score") is None
    empty = user.submit_view(blank, {"pulse-comment": "  "}, user_id=BOB).json()
    assert empty["errors"] == {
        "pulse-score": "Please choose a number from 1 to 5.",
        "pulse-comment": "Please write your comment (or close the form).",
    }
    assert bot.services.pulse.answer_of(1, ALICE).score == 3  # type: ignore[union-attr]
    assert bot.services.pulse.answer_of(1, BOB) is None
    comment = "<!channel> The *refund* screen & search are slow <@U0EVIL>"
    done = user.submit_view(
        form, {"pulse-score": "5", "pulse-comment": comment}, user_id=ALICE
    ).json()
    assert done["response_action"] == "update"
    assert "Changed your answer from 3 to 5, with your comment" in json.dumps(done["view"])
    stored = bot.services.pulse.answer_of(1, ALICE)
    assert stored is not None and (stored.score, stored.comment) == (5, comment)
    again = comment_form(user, slack, posted, ALICE)
    assert initial(again, "pulse-score") == "5" and initial(again, "pulse-comment") == comment
    for call in slack.calls_to("chat.postMessage"):
        assert "refund" not in json.dumps(call.args)  # never posted anywhere
    refused = user.slash_command("pulse comments", user_id=BOB).json()
    assert refused["response_type"] == "ephemeral"
    assert "Only hypercare leads can read pulse comments" in refused["text"]
    listed = user.slash_command("pulse comments", user_id=LEAD).json()
    shown = json.dumps(listed["blocks"], ensure_ascii=False)
    assert listed["response_type"] == "ephemeral" and "the latest 1 of 1" in listed["text"]
    assert "*5/5* &lt;!channel&gt; The *refund* screen &amp; search are slow" in shown
    assert "<!channel>" not in shown and "<@U0EVIL>" not in shown


def test_a_closed_or_unknown_pulse_takes_no_answer_and_a_newer_pulse_closes_the_older(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, clock: Clock
) -> None:
    """A lead's pulse sent now closes Monday's: a press on the older says it has closed and
    stores nothing, and so does *Add a comment* (no form). A pulse past its 7 days is closed
    too; a forged button naming no pulse is told so."""
    monday = send_scheduled(bot, slack, clock)
    press(user, slack, monday, "pulse-score-4", ALICE)
    clock.tick(2 * 3600)
    sent = user.slash_command("pulse", user_id=LEAD).json()
    assert sent["response_type"] == "ephemeral" and "Pulse sent to <#C0PULSE>" in sent["text"]
    newer = wait_until(lambda: len(pulses(slack)) == 2 and pulses(slack))[-1]
    closed = press(user, slack, monday, "pulse-score-1", ALICE)
    assert closed.startswith("This pulse has closed") and "nothing was recorded" in closed
    assert bot.services.pulse.answer_of(1, ALICE).score == 4  # type: ignore[union-attr]
    opened = len(slack.calls_to("views.open"))
    told = press(user, slack, monday, "pulse-comment", BOB)
    assert told.startswith("This pulse has closed") and len(slack.calls_to("views.open")) == opened
    assert "you said 2/5" in press(user, slack, newer, "pulse-score-2", BOB)
    clock.tick(7 * 86400)
    assert press(user, slack, newer, "pulse-score-5", BOB).startswith("This pulse has closed")
    for value in ("99:3", "abc", "1:9", "99999999999:4", ""):
        told = press(user, slack, newer, "pulse-score-3", CAROL, value=value)
        assert told == "I know no such pulse: nothing was recorded."
    assert rows(bot, PulseAnswerRow) == 2


def test_only_leads_send_a_pulse_now_and_not_twice_in_an_hour(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, clock: Clock
) -> None:
    """A member's `/hypercare pulse` is refused privately and sends nothing; a lead's sends one
    (told privately); a second within the hour is refused; other words get the usage."""
    clock.now = MONDAY_0959 - dt.timedelta(days=1)  # Sunday: no scheduled pulse meanwhile
    refused = user.slash_command("pulse", user_id=BOB).json()
    assert refused == {
        "response_type": "ephemeral",
        "text": "Only hypercare leads can send the pulse. It goes out on its own schedule.",
    }
    assert rows(bot, PulseRow) == 0
    sent = user.slash_command("pulse", user_id=LEAD).json()
    assert "Pulse sent to <#C0PULSE>" in sent["text"]
    wait_until(lambda: pulses(slack))
    clock.tick(600)
    again = user.slash_command("Pulse", user_id=LEAD).json()
    assert again["text"].startswith("A pulse went out") and "at least 1 h after it" in again["text"]
    usage = user.slash_command("pulse now please", user_id=LEAD).json()
    assert usage["text"].startswith("Use `/hypercare pulse` to send the user pulse now")
    wait_outbox_drained(bot.engine)
    assert len(pulses(slack)) == 1 and rows(bot, PulseRow) == 1


def test_reporters_of_the_last_week_each_get_one_dm(
    slack: SlackEmulator, database_url: str, clock: Clock
) -> None:
    """With `to: reporters`, Alice (two reports) and Bob (one) each get one DM; Carol, who
    reported 8 days ago, gets none. A press in the DM is answered there.
    A lead's `/hypercare pulse` with nobody to ask says so and sends nothing."""
    add_people(slack)
    clock.now = MONDAY_0959 - dt.timedelta(days=8)
    runtime = start(slack, database_url, clock, pulse_program(to="reporters"))
    simulator = SlackUserSimulator(
        f"http://127.0.0.1:{runtime.port}/slack/events", SIGNING_SECRET, emulator=slack
    )
    try:
        nobody = simulator.slash_command("pulse", user_id=LEAD).json()
        assert nobody["text"].startswith("Nobody filed a report in the last 7 days")
        assert rows(runtime, PulseRow) == 0
        runtime.services.feedback.submit(
            feedback_draft(severity="sev3", reporter_id=CAROL, submission_key="view:c")
        )
        clock.now = MONDAY_0959 - dt.timedelta(days=2)
        for index, who in enumerate((ALICE, ALICE, BOB)):
            runtime.services.feedback.submit(
                feedback_draft(severity="sev3", reporter_id=who, submission_key=f"view:{index}")
            )
        clock.now = MONDAY_0959 + dt.timedelta(minutes=1)
        wait_until(lambda: pulses(slack, ALICE) and pulses(slack, BOB))
        wait_outbox_drained(runtime.engine)
        assert len(pulses(slack, ALICE)) == 1 and len(pulses(slack, BOB)) == 1
        assert pulses(slack, CAROL) == [] and pulses(slack, PULSE) == []
        [dm] = pulses(slack, BOB)
        assert str(dm.response["channel"]) == slack.dm_channel(BOB)
        assert "you said 4/5" in press(simulator, slack, dm, "pulse-score-4", BOB)
        [pulse] = [runtime.services.pulse.latest()]
        assert pulse is not None and pulse.recipients == 2 and pulse.channel_id is None
    finally:
        simulator.close()
        runtime.stop()


# -- the weekly review, `/hypercare status` and the exit criterion ------------------------------

MONDAY_9_NOV = dt.datetime(2026, 11, 9, 9, 0, tzinfo=dt.UTC)  # 10:00 Berlin
FRIDAY_1600 = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)


def reviews(slack: SlackEmulator) -> list[Any]:
    """Weekly review messages."""
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("channel") == DIGEST and "Weekly review" in str(c.args.get("text"))
    ]


def test_the_weekly_review_status_and_exit_criterion_show_the_score_and_its_trend(
    slack: SlackEmulator, database_url: str
) -> None:
    """Three answers the week before (all 4 or 5), two this week (a 2 and a 5 with a comment):
    Friday's review has a *User pulse* section (CSAT 50 %, 2 answers, mean 3.5, one comment,
    down 50 points), never the comment; `/hypercare status` shows the last 7 days and the trend;
    the exit criterion wants 3 answers since go-live and is met once a third comes in and Alice
    changes her 2 to a 4."""
    add_people(slack)
    raw = digest_file()
    raw["pulse"] = {"days": "MON", "at": "10:00", "to": PULSE}
    raw["reports"]["exit_criteria"] = [{"satisfaction_above": {"percent": 80, "responses": 3}}]
    clock = Clock()
    clock.now = MONDAY_9_NOV
    runtime = start(slack, database_url, clock, Program.model_validate(raw))
    simulator = SlackUserSimulator(
        f"http://127.0.0.1:{runtime.port}/slack/events", SIGNING_SECRET, emulator=slack
    )
    try:
        [before] = wait_until(lambda: pulses(slack))
        for who, score in ((ALICE, "5"), (BOB, "4"), (CAROL, "5")):
            press(simulator, slack, before, f"pulse-score-{score}", who)
        clock.now = MONDAY_9_NOV + dt.timedelta(days=7)
        week = wait_until(lambda: len(pulses(slack)) == 2 and pulses(slack))[-1]
        press(simulator, slack, week, "pulse-score-2", ALICE)
        form = comment_form(simulator, slack, week, BOB)
        comment = "Search is <b>slow</b> but fine"
        answer = simulator.submit_view(
            form, {"pulse-score": "5", "pulse-comment": comment}, user_id=BOB
        )
        assert answer.json()["response_action"] == "update"
        clock.now = FRIDAY_1600
        [review] = wait_until(lambda: reviews(slack))
        text = json.dumps(review.args["blocks"], ensure_ascii=False)
        assert "*User pulse* — CSAT 50% · 2 answers · mean 3.5/5" in text
        assert "1 with a comment (leads: `/hypercare pulse comments`)" in text
        assert ":arrow_down: down 50 points on the week before (100%)" in text
        assert "slow" not in text
        assert "not enough answers yet: 2 of 3 (CSAT 50% so far)" in text
        status = simulator.slash_command("status").json()
        shown = json.dumps(status["blocks"], ensure_ascii=False)
        assert "*User pulse* (last 7 days) — CSAT 50% · 2 answers · mean 3.5/5" in shown
        assert "down 50 points on the 7 days before (100%)" in shown
        assert status["text"] == "Exit readiness: not ready"
        press(simulator, slack, week, "pulse-score-5", CAROL)
        press(simulator, slack, week, "pulse-score-4", ALICE)
        ready = simulator.slash_command("status").json()
        shown = json.dumps(ready["blocks"], ensure_ascii=False)
        assert ready["text"] == "Exit readiness: ready"
        assert (
            ":white_check_mark: *User satisfaction (CSAT) at least 80% (the window)* — "
            "CSAT 100% of 3 answers, mean 4.7/5"
        ) in shown
        weekly = runtime.services.pulse.weekly_satisfaction(
            dt.datetime(2026, 11, 9, tzinfo=runtime.program.zone),
            dt.datetime(2026, 11, 23, tzinfo=runtime.program.zone),
        )
        assert [(w.week_start, w.responses, w.csat_percent) for w in weekly] == [
            (dt.date(2026, 11, 9), 3, 100.0),
            (dt.date(2026, 11, 16), 3, 100.0),
        ]
        # The closing report reads the same answers: its weeks and its exit criterion.
        report = build_exit_report(runtime.program, db.make_sessions(runtime.engine), clock)
        markdown = report.files(report.build(clock.now))[0].content.decode()
        assert "| Week of | Answers | CSAT | Mean score |\n|---|---|---|---|\n" in markdown
        assert "| 2026-11-16 | 3 | 100 % | 4.67 |" in markdown
        assert "| met | CSAT 100% of 3 answers, mean 4\\.7/5 |" in markdown
    finally:
        simulator.close()
        runtime.stop()
