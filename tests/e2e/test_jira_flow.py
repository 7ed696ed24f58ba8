"""End to end: feedback filed in Slack becomes exactly one Jira ticket, whatever Jira does."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from bot.app.build import Runtime, build_runtime
from bot.config import Program
from bot.tickets.subjects import CREATE
from sandbox.jira.api import JiraEmulator
from sandbox.slack import SlackEmulator, SlackUserSimulator
from tests.conftest import SIGNING_SECRET, bot_settings
from tests.e2e.test_feedback_flow import good_values, open_modal
from tests.support import outbox_attempted, wait_outbox_drained, wait_until

JIRA_EMAIL, JIRA_TOKEN, HOOK_SECRET = "bot@example.com", "jira-canary-token", "hook-secret"


@pytest.fixture
def jira() -> Iterator[JiraEmulator]:
    """A Jira Cloud emulator with the example program's project and components."""
    emulator = JiraEmulator(email=JIRA_EMAIL, api_token=JIRA_TOKEN, webhook_secret=HOOK_SECRET)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def bot(
    slack: SlackEmulator, jira: JiraEmulator, database_url: str, program: Program
) -> Iterator[Runtime]:
    """The bot in HTTP mode with Jira connected (short timeouts, fast pacing)."""
    settings = bot_settings(slack, database_url).model_copy(
        update={
            "jira_url": jira.url,
            "jira_email": JIRA_EMAIL,
            "jira_api_token": SecretStr(JIRA_TOKEN),
            "jira_webhook_secret": SecretStr(HOOK_SECRET),
            "jira_read_timeout": 1.0,
        }
    )
    fast = program.model_copy(
        update={"jira": program.jira.model_copy(update={"max_requests_per_second": 50})}  # type: ignore[union-attr]
    )
    runtime = build_runtime(settings, fast).start()
    yield runtime
    runtime.stop()


def file(user: SlackUserSimulator, slack: SlackEmulator, **values: Any) -> None:
    """File one feedback through the modal."""
    view = open_modal(user, slack)
    assert user.submit_view(view, good_values(**values)).status_code == 200


def ticket_of(bot: Runtime, feedback_id: int = 1) -> str:
    """Wait until a feedback has its ticket key recorded."""

    def key() -> str | None:
        feedback = bot.services.feedback.get(feedback_id)
        return feedback.ticket_key if feedback else None

    return str(wait_until(key, timeout=45))


def test_a_critical_report_opens_one_well_formed_ticket(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, jira: JiraEmulator
) -> None:
    """A sev1 opens a ticket with priority, labels, component and an inert description."""
    nasty = "{color:red}x{color} [~admin] [click|https://evil.example] *bold* {noformat}"
    file(user, slack, actual=nasty)
    key = ticket_of(bot)
    [issue] = jira.issues()
    fields = issue["fields"]
    assert issue["key"] == key
    assert fields["summary"] == "[HC-1] Checkout returns 504 for card payments"
    assert fields["priority"]["name"] == "Highest"
    assert {"hypercare", "severity-sev1", "category-bug", "hypercare-hc-1", "go-live"} <= set(
        fields["labels"]
    )
    assert [c["name"] for c in fields["components"]] == ["Payments API"]
    description = fields["description"]
    inert = f"{{noformat}}\n{nasty.replace('{noformat}', '(noformat)')}\n{{noformat}}"
    assert inert in description
    assert "slack.com/archives" in description  # links back to the Slack thread
    update = slack.wait_for("chat.update")[-1]
    assert key in json.dumps(update.args["blocks"])
    notes = wait_until(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    )
    assert key in notes[0].args["text"]
    told = slack.wait_for("chat.postEphemeral", count=2)
    assert any(key in c.args["text"] for c in told)


def test_a_medium_report_waits_for_a_lead(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, jira: JiraEmulator
) -> None:
    """A sev3 gets a button; a non-lead is told no, a lead's click opens the ticket."""
    file(user, slack, severity="sev3")
    receipt = slack.wait_for("chat.postMessage")[0]
    assert "Create Jira ticket" in json.dumps(receipt.args["blocks"])
    ts, channel = receipt.response["ts"], receipt.args["channel"]
    user.click_button(
        action_id="create-ticket", value="1", message_ts=ts, channel_id=channel, user_id="U0BOB"
    )
    refusal = wait_until(
        lambda: [c for c in slack.calls_to("chat.postEphemeral") if c.args["user"] == "U0BOB"]
    )
    assert "Only hypercare leads" in refusal[0].args["text"]
    assert jira.issues() == []
    user.click_button(
        action_id="create-ticket", value="1", message_ts=ts, channel_id=channel, user_id="U0LEAD1"
    )
    ticket_of(bot)
    assert len(jira.issues()) == 1 and jira.issues()[0]["fields"]["priority"]["name"] == "Medium"


@pytest.mark.parametrize(
    "break_jira",
    [
        lambda j: j.fail_next("POST", "/rest/api/2/issue", status=503, times=3),
        lambda j: j.fail_next("POST", "/rest/api/2/issue", status=500, times=2),
        lambda j: j.fail_next("POST", "/rest/api/2/issue", status=429, retry_after=1, times=2),
        lambda j: j.hang_next("POST", "/rest/api/2/issue", seconds=3),
        lambda j: j.drop_after_create(times=1),
    ],
    ids=["503", "500", "429", "hang", "dropped-after-create"],
)
def test_every_failure_mode_ends_with_exactly_one_ticket(
    bot: Runtime,
    user: SlackUserSimulator,
    slack: SlackEmulator,
    jira: JiraEmulator,
    break_jira: Callable[[JiraEmulator], None],
) -> None:
    """Jira failing, throttling, hanging or dropping the answer still yields one ticket each."""
    break_jira(jira)
    for n in range(3):
        file(user, slack, summary=f"Problem {n}")
    for n in range(1, 4):
        ticket_of(bot, n)
    summaries = sorted(i["fields"]["summary"] for i in jira.issues())
    assert summaries == [f"[HC-{n}] Problem {n - 1}" for n in range(1, 4)]


def test_jira_refusal_is_shown_and_a_lead_can_retry(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, jira: JiraEmulator
) -> None:
    """A 400 is not retried: the thread says why, and Retry works once the mapping is fixed."""
    jira.fail_next(
        "POST",
        "/rest/api/2/issue",
        status=400,
        body={
            "errorMessages": [],
            "errors": {"components": "Component name 'Payments API' is not valid"},
        },
    )
    file(user, slack)
    note = wait_until(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    )
    assert "Component name" in note[0].args["text"] and JIRA_TOKEN not in note[0].args["text"]
    retry_receipt = wait_until(
        lambda: [
            c
            for c in slack.calls_to("chat.update")
            if "Retry ticket" in json.dumps(c.args["blocks"])
        ]
    )
    assert retry_receipt
    assert jira.issues() == []
    receipt = slack.calls_to("chat.postMessage")[0]
    user.click_button(
        action_id="create-ticket",
        value="1",
        message_ts=receipt.response["ts"],
        channel_id=receipt.args["channel"],
        user_id="U0LEAD1",
    )
    ticket_of(bot)
    assert len(jira.issues()) == 1


def test_while_jira_is_down_feedback_is_accepted_and_drains_in_order(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, jira: JiraEmulator
) -> None:
    """With Jira unreachable, reports keep coming; when it returns they become tickets in order."""
    jira.go_down(refuse=True)
    for n in range(5):
        file(user, slack, summary=f"Outage report {n}")
    slack.wait_for("chat.postEphemeral", count=5)
    # The bot tried Jira and was turned away: the creates wait in the outbox, none got through.
    wait_until(lambda: outbox_attempted(bot.engine, CREATE))
    assert jira.issues() == []
    jira.come_back()
    wait_until(lambda: len(jira.issues()) == 5, timeout=40)
    by_number = sorted(jira.issues(), key=lambda i: int(i["key"].split("-")[1]))
    summaries = [i["fields"]["summary"] for i in by_number]
    assert summaries == [f"[HC-{n}] Outage report {n - 1}" for n in range(1, 6)]
    for n in range(1, 6):
        assert ticket_of(bot, n) == f"HYP-{n}"


def test_status_changes_reach_the_thread_once_by_poll_or_webhook(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, jira: JiraEmulator
) -> None:
    """A change seen by the poller and again by the webhook is posted once; Done resolves."""
    file(user, slack)
    key = ticket_of(bot)
    wait_until(lambda: [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")])
    jira.transition(key, "In Progress", by="Dana Dev")
    assert bot.services.tickets.sync(5) == 1
    hook = f"http://127.0.0.1:{bot.port}/jira/webhook"
    assert jira.send_webhook(hook, jira.status_change_event(key), identifier="d-1") == 200
    notes = wait_until(
        lambda: [
            c for c in slack.calls_to("chat.postMessage") if "In Progress" in c.args.get("text", "")
        ]
    )
    wait_outbox_drained(bot.engine)  # the poll's and the webhook's effects all ran
    assert (
        len(
            [
                c
                for c in slack.calls_to("chat.postMessage")
                if "In Progress" in c.args.get("text", "")
            ]
        )
        == 1
    )
    assert notes[0].args["thread_ts"] == slack.calls_to("chat.postMessage")[0].response["ts"]
    assert "by Dana Dev" in notes[0].args["text"]  # the poll read who it was from the changelog
    jira.transition(key, "Done", by="Dana Dev")
    assert jira.send_webhook(hook, jira.status_change_event(key), identifier="d-2") == 200
    assert jira.send_webhook(hook, jira.status_change_event(key), identifier="d-2") == 200  # retry
    done = wait_until(
        lambda: [
            c for c in slack.calls_to("chat.postMessage") if "*Done*" in c.args.get("text", "")
        ]
    )
    assert len(done) == 1 and "Dana Dev" in done[0].args["text"]
    feedback = bot.services.feedback.get(1)
    assert feedback is not None and feedback.state.value == "resolved" and feedback.resolved_at
    assert bot.services.tickets.sync(5) == 0  # the poller sees nothing new


def test_the_first_poll_of_a_new_issue_announces_nothing(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """Jira's create answer has no status; the first poll learns "To Do" quietly (no note)."""
    file(user, slack)
    key = ticket_of(bot)
    assert bot.services.tickets.sync(5) == 0
    assert bot.services.tickets.sync(5) == 0
    wait_outbox_drained(bot.engine)  # whatever the polls queued has been posted
    assert not [c for c in slack.calls_to("chat.postMessage") if "is now" in c.args.get("text", "")]
    feedback = bot.services.tickets.lookup(key)
    assert feedback is not None and feedback.ticket_status == "To Do"


def test_webhook_with_a_bad_signature_is_refused(bot: Runtime, jira: JiraEmulator) -> None:
    """A webhook not signed with the shared secret is a 401 and changes nothing."""
    hook = f"http://127.0.0.1:{bot.port}/jira/webhook"
    assert (
        jira.send_webhook(hook, {"webhookEvent": "jira:issue_updated"}, signature="sha256=00")
        == 401
    )


def test_ticket_command_shows_an_item_by_either_id(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator, jira: JiraEmulator
) -> None:
    """`/hypercare ticket HC-1` and `/hypercare ticket HYP-1` show the same item, privately."""
    file(user, slack)
    key = ticket_of(bot)
    for reference in ("HC-1", key, key.lower()):
        body = user.slash_command(f"ticket {reference}").json()
        assert body["response_type"] == "ephemeral" and key in json.dumps(body["blocks"])
    missing = user.slash_command("ticket HC-999").json()
    assert "HC-999" in missing["text"]
    assert user.slash_command("ticket page is blank").status_code == 200  # a summary, not a lookup
    slack.wait_for("views.open", count=2)


def check_config_with_jira(
    jira: JiraEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    program: dict[str, Any],
    token: str = JIRA_TOKEN,
) -> int:
    """Run `hypercare-bot check-config` against the Jira emulator with a program dict."""
    import yaml

    from bot.cli import main

    path = tmp_path / "hypercare.yaml"
    path.write_text(yaml.safe_dump(program))
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "HYPERCARE_CONFIG": str(path),
        "SLACK_BOT_TOKEN": "xoxb-check",
        "SLACK_SIGNING_SECRET": "check",
        "JIRA_URL": jira.url,
        "JIRA_EMAIL": JIRA_EMAIL,
        "JIRA_API_TOKEN": token,
        "JIRA_READ_TIMEOUT": "2",
    }.items():
        monkeypatch.setenv(name, value)
    return main(["check-config"])


def example_dict() -> dict[str, Any]:
    """The example program as a dict."""
    import yaml

    from tests.conftest import ROOT

    return dict(yaml.safe_load((ROOT / "hypercare.example.yaml").read_text()))


def test_check_config_names_each_wrong_jira_mapping(
    jira: JiraEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """check-config asks Jira and names the priority, component and field it would refuse."""
    assert check_config_with_jira(jira, monkeypatch, tmp_path, example_dict()) == 0
    broken = example_dict()
    broken["severities"][0]["jira_priority"] = "Blocker"
    broken["components"][0]["jira_component"] = "Payment Gateway"
    broken["jira"]["fields"] = {"customfield_10999": "x"}
    assert check_config_with_jira(jira, monkeypatch, tmp_path, broken) == 1
    err = capsys.readouterr().err
    assert "Jira priority 'Blocker' does not exist" in err
    assert "Jira component 'Payment Gateway' does not exist" in err
    assert "jira.fields.customfield_10999" in err


def test_check_config_survives_an_unreachable_jira_and_reports_bad_credentials(
    jira: JiraEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Jira being down is a warning (exit 0); wrong credentials are an error naming Jira."""
    jira.go_down(refuse=True)
    assert check_config_with_jira(jira, monkeypatch, tmp_path, example_dict()) == 0
    assert "warning: Jira mapping not checked" in capsys.readouterr().err
    jira.come_back()
    assert check_config_with_jira(jira, monkeypatch, tmp_path, example_dict(), token="wrong") == 1
    err = capsys.readouterr().err
    assert "Jira refused" in err and "wrong" not in err


def test_jira_data_center_with_a_personal_access_token(
    slack: SlackEmulator, database_url: str, program: Program
) -> None:
    """Against Data Center (bearer PAT, the older search endpoint) tickets open and sync too."""
    dc = JiraEmulator(deployment="Server", pat="dc-pat-canary").start()
    settings = bot_settings(slack, database_url).model_copy(
        update={"jira_url": dc.url, "jira_pat": SecretStr("dc-pat-canary")}
    )
    runtime = build_runtime(settings, program).start()
    try:
        user = SlackUserSimulator(
            f"http://127.0.0.1:{runtime.port}/slack/events", SIGNING_SECRET, slack
        )
        file(user, slack)
        key = ticket_of(runtime)
        assert dc.calls_to("GET", "/rest/api/2/search") or dc.calls_to("POST", "/rest/api/2/search")
        dc.transition(key, "In Progress")
        assert runtime.services.tickets.sync(5) == 1
        feedback = runtime.services.feedback.get(1)
        assert feedback is not None and feedback.ticket_status == "In Progress"
    finally:
        runtime.stop()
        dc.stop()
