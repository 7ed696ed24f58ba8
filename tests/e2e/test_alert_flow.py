"""End to end: a gateway's exposition goes bad, the bot alerts in Slack, and resolves it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from bot.app.build import Runtime, build_runtime
from bot.config import Program
from sandbox.gateway.exposition import KongExposition
from sandbox.jira.api import JiraEmulator
from sandbox.slack import SlackEmulator, SlackUserSimulator
from tests.conftest import SIGNING_SECRET, bot_settings
from tests.support import wait_outbox_drained, wait_until

ALERTS = "C0ALERTS"


class Clock:
    """A clock the test moves: the rules see minutes pass in milliseconds."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def tick(self, seconds: float = 15) -> None:
        self.now += dt.timedelta(seconds=seconds)


def kong_source(gateway: KongExposition) -> dict[str, Any]:
    """The program's source for the test gateway; the tests poll it by hand."""
    return {"id": "gw", "url": gateway.url, "preset": "kong", "interval": 3600, "timeout": 2}


def checkout_5xx(**extra: Any) -> dict[str, Any]:
    """The tests' rule: above 5 % of 5xx over a minute on the gateway source."""
    return {
        "id": "checkout-5xx",
        "source": "gw",
        "kind": "error_rate",
        "threshold": 0.05,
        "window": 60,
        "severity": "sev1",
        **extra,
    }


def with_metrics(program: Program, metrics: dict[str, Any]) -> Program:
    """The example program reading a gateway, alerting in the alerts channel."""
    return Program.model_validate(
        {
            **program.model_dump(by_alias=True),
            "metrics": metrics,
            "channels": {"feedback": "C0FEEDBACK", "alerts": ALERTS},
        }
    )


@pytest.fixture
def gateway() -> Iterator[KongExposition]:
    """The gateway's metrics endpoint."""
    exposition = KongExposition()
    yield exposition
    exposition.stop()


@pytest.fixture
def alerting(
    slack: SlackEmulator, gateway: KongExposition, database_url: str, program: Program
) -> Iterator[tuple[Runtime, Clock]]:
    """The bot reading the gateway with a 5xx rule, on a clock the test moves."""
    metrics = {
        "allowed_hosts": ["127.0.0.1"],
        "sources": [kong_source(gateway)],
        "rules": [checkout_5xx(resolve_threshold=0.02, repeat_interval=120, **{"for": 30})],
    }
    alerting_program = with_metrics(program, metrics)
    clock = Clock()
    runtime = build_runtime(
        bot_settings(slack, database_url), alerting_program, clock=clock
    ).start()
    yield runtime, clock
    runtime.stop()


def step(runtime: Runtime, clock: Clock, gateway: KongExposition, ok: int, errors: int) -> None:
    """Let 15 s of traffic through the gateway and poll it."""
    clock.tick()
    gateway.serve(ok, errors)
    assert runtime.services.alerts is not None
    runtime.services.alerts.poll("gw")


def alerts_posted(slack: SlackEmulator) -> list[Any]:
    """Top-level messages in the alerts channel."""
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.args["channel"] == ALERTS and not c.args.get("thread_ts") and c.status == 200
    ]


def test_an_error_burst_fires_once_repeats_in_thread_and_resolves_in_place(
    alerting: tuple[Runtime, Clock], gateway: KongExposition, slack: SlackEmulator
) -> None:
    """A 5xx burst held past `for` fires one message; repeats thread; recovery updates it."""
    runtime, clock = alerting
    for _ in range(3):
        step(runtime, clock, gateway, ok=100, errors=0)
    assert alerts_posted(slack) == []
    step(runtime, clock, gateway, ok=100, errors=40)  # breach starts: pending, not yet firing
    assert alerts_posted(slack) == []
    for _ in range(2):
        step(runtime, clock, gateway, ok=100, errors=40)
    [posted] = wait_until(lambda: alerts_posted(slack))
    text = str(posted.args["blocks"])
    assert "checkout-5xx firing" in text and "service=`checkout`" in text
    for _ in range(9):  # two minutes more: one reminder in the thread, not in the channel
        step(runtime, clock, gateway, ok=100, errors=40)
    wait_until(lambda: [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")])
    assert len(alerts_posted(slack)) == 1
    for _ in range(6):  # errors stop; the window empties of them
        step(runtime, clock, gateway, ok=100, errors=0)
    update = wait_until(lambda: slack.calls_to("chat.update"))[-1]
    assert update.args["ts"] == posted.response["ts"] and "resolved" in str(update.args["blocks"])
    notes = [c.args["text"] for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    wait_until(
        lambda: any(
            "Resolved after" in n
            for n in [
                c.args["text"]
                for c in slack.calls_to("chat.postMessage")
                if c.args.get("thread_ts")
            ]
        )
    )
    assert len(alerts_posted(slack)) == 1 and notes


def test_a_gateway_restart_is_not_an_error_spike(
    alerting: tuple[Runtime, Clock], gateway: KongExposition, slack: SlackEmulator
) -> None:
    """Counters dropping to zero (a restart) read as a reset: no alert."""
    runtime, clock = alerting
    for _ in range(4):
        step(runtime, clock, gateway, ok=100, errors=1)
    gateway.counts = {"200": 0, "500": 0}
    for _ in range(6):
        step(runtime, clock, gateway, ok=100, errors=1)
    assert alerts_posted(slack) == []


def test_a_dead_source_gives_one_notice_and_never_an_alert(
    alerting: tuple[Runtime, Clock], gateway: KongExposition, slack: SlackEmulator
) -> None:
    """Three failed reads give one 'unreachable' notice, more give none; no rule fires."""
    runtime, clock = alerting
    assert runtime.services.alerts is not None
    for _ in range(3):
        step(runtime, clock, gateway, ok=100, errors=0)
    gateway.stop()
    for _ in range(6):
        clock.tick()
        runtime.services.alerts.poll("gw")
    notice = wait_until(lambda: alerts_posted(slack))
    assert len(notice) == 1 and "unreachable" in notice[0].args["text"]
    assert "firing" not in str(notice)


def fire(runtime: Runtime, clock: Clock, gateway: KongExposition, slack: SlackEmulator) -> Any:
    """Drive the gateway into a held 5xx burst; return the alert's posted message call."""
    for _ in range(2):
        step(runtime, clock, gateway, ok=100, errors=0)
    for _ in range(4):
        step(runtime, clock, gateway, ok=100, errors=40)
    return wait_until(lambda: alerts_posted(slack))[0]


def thread_notes(slack: SlackEmulator) -> list[str]:
    """Texts posted in threads."""
    return [c.args["text"] for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]


def test_acknowledge_and_a_leads_silence(
    alerting: tuple[Runtime, Clock], gateway: KongExposition, slack: SlackEmulator
) -> None:
    """Acknowledge updates the alert; only a lead can silence, with a reason; repeats then stop."""
    from sandbox.slack import SlackUserSimulator
    from tests.conftest import SIGNING_SECRET

    runtime, clock = alerting
    user = SlackUserSimulator(
        f"http://127.0.0.1:{runtime.port}/slack/events", SIGNING_SECRET, slack
    )
    posted = fire(runtime, clock, gateway, slack)
    ts, alert_id = posted.response["ts"], "1"
    user.click_button(
        action_id="ack-alert", value=alert_id, message_ts=ts, channel_id=ALERTS, user_id="U0BOB"
    )
    wait_until(lambda: any("Acknowledged by <@U0BOB>" in n for n in thread_notes(slack)))
    update = wait_until(lambda: slack.calls_to("chat.update"))[-1]
    assert "Acknowledged by <@U0BOB>" in str(update.args["blocks"])
    user.click_button(
        action_id="silence-alert", value=alert_id, message_ts=ts, channel_id=ALERTS, user_id="U0BOB"
    )
    refusal = wait_until(lambda: slack.calls_to("chat.postEphemeral"))
    assert "Only hypercare leads" in refusal[0].args["text"]
    user.click_button(
        action_id="silence-alert",
        value=alert_id,
        message_ts=ts,
        channel_id=ALERTS,
        user_id="U0LEAD1",
    )
    modal = slack.wait_for("views.open")[-1].response["view"]
    errors = user.submit_view(modal, {"duration": "4h"}, user_id="U0LEAD1").json()
    assert errors["response_action"] == "errors" and "reason" in errors["errors"]
    user.submit_view(
        modal, {"duration": "4h", "reason": "Known issue, fix deploying"}, user_id="U0LEAD1"
    )
    wait_until(lambda: any("Silenced by <@U0LEAD1>" in n for n in thread_notes(slack)))
    before = len([n for n in thread_notes(slack) if "Still firing" in n])
    for _ in range(12):  # three minutes of errors: reminders would be due, but it is silenced
        step(runtime, clock, gateway, ok=100, errors=40)
    assert len([n for n in thread_notes(slack) if "Still firing" in n]) == before
    listed = user.slash_command("silences").json()
    assert "checkout-5xx" in str(listed["blocks"]) and "Known issue" in str(listed["blocks"])
    metrics = user.slash_command("metrics").json()
    assert "gw" in str(metrics["blocks"]) and "checkout-5xx" in str(metrics["blocks"])
    for who in ("U0BOB", "U0LEAD1"):  # only a lead may end a silence early
        user.click_button(
            action_id="end-silence",
            value="checkout-5xx",
            message_ts=ts,
            channel_id=ALERTS,
            user_id=who,
        )
    answers = wait_until(
        lambda: (
            len(slack.calls_to("chat.postEphemeral")) >= 3
            and [c.args["text"] for c in slack.calls_to("chat.postEphemeral")]
        )
    )
    assert "Only hypercare leads" in answers[1] and "Ended 1 silence" in answers[2]
    assert "No alert is silenced" in str(user.slash_command("silences").json()["blocks"])


def start_ticketing_bot(
    slack: SlackEmulator,
    gateway: KongExposition,
    database_url: str,
    program: Program,
    jira: JiraEmulator,
    clock: Clock,
) -> Runtime:
    """A started bot whose checkout 5xx rule opens a Jira ticket in the emulator when it fires."""
    metrics = {
        "allowed_hosts": ["127.0.0.1"],
        "sources": [kong_source(gateway)],
        "rules": [checkout_5xx(auto_ticket=True)],
    }
    settings = bot_settings(slack, database_url).model_copy(
        update={
            "jira_url": jira.url,
            "jira_email": "bot@example.com",
            "jira_api_token": SecretStr("t"),
        }
    )
    return build_runtime(settings, with_metrics(program, metrics), clock=clock).start()


def test_an_auto_ticket_rule_opens_one_jira_issue_linked_from_the_thread(
    slack: SlackEmulator, gateway: KongExposition, database_url: str, program: Program
) -> None:
    """A rule with auto_ticket opens exactly one Jira issue when it fires, noted in its thread."""
    jira = JiraEmulator(email="bot@example.com", api_token="t").start()
    clock = Clock()
    runtime = start_ticketing_bot(slack, gateway, database_url, program, jira, clock)
    try:
        fire(runtime, clock, gateway, slack)
        wait_until(lambda: jira.issues())
        note = wait_until(lambda: [n for n in thread_notes(slack) if "Jira ticket" in n])
        [issue] = jira.issues()
        assert issue["key"] in note[0] and "hypercare-alert-1" in issue["fields"]["labels"]
        assert issue["fields"]["priority"]["name"] == "Highest"
        for _ in range(4):
            step(runtime, clock, gateway, ok=100, errors=40)
        assert len(jira.issues()) == 1
        user = SlackUserSimulator(
            f"http://127.0.0.1:{runtime.port}/slack/events", SIGNING_SECRET, slack
        )
        posted = alerts_posted(slack)[0]
        user.click_button(
            action_id="alert-ticket",
            value="1",
            message_ts=posted.response["ts"],
            channel_id=ALERTS,
            user_id="U0LEAD1",
        )
        told = wait_until(lambda: slack.calls_to("chat.postEphemeral"))
        assert "already has a Jira ticket" in told[0].args["text"] and len(jira.issues()) == 1
    finally:
        runtime.stop()
        jira.stop()


def test_a_ticket_jira_refuses_is_explained_in_the_alert_thread(
    slack: SlackEmulator, gateway: KongExposition, database_url: str, program: Program
) -> None:
    """A 400 on an alert's ticket is not retried: the alert's thread says what Jira said."""
    jira = JiraEmulator(email="bot@example.com", api_token="t").start()
    jira.fail_next(
        "POST",
        "/rest/api/2/issue",
        status=400,
        body={"errorMessages": [], "errors": {"priority": "Priority 'Highest' is not valid"}},
    )
    clock = Clock()
    runtime = start_ticketing_bot(slack, gateway, database_url, program, jira, clock)
    try:
        fire(runtime, clock, gateway, slack)
        note = wait_until(lambda: [n for n in thread_notes(slack) if "Jira refused" in n])
        assert "Priority 'Highest' is not valid" in note[0] and "Create Jira ticket" in note[0]
        assert jira.issues() == []
    finally:
        runtime.stop()
        jira.stop()


def test_a_gateway_without_a_preset_is_described_explicitly(
    slack: SlackEmulator, gateway: KongExposition, database_url: str, program: Program
) -> None:
    """A source whose metrics are named in a `shape` (no preset) alerts the same way."""
    shape = {
        "requests": "kong_http_requests_total",
        "status_label": "code",
        "scope_labels": ["service"],
    }
    metrics = {
        "allowed_hosts": ["127.0.0.1"],
        "sources": [{"id": "gw", "url": gateway.url, "shape": shape, "interval": 3600}],
        "rules": [checkout_5xx()],
    }
    explicit = with_metrics(program, metrics)
    clock = Clock()
    runtime = build_runtime(bot_settings(slack, database_url), explicit, clock=clock).start()
    try:
        fired = fire(runtime, clock, gateway, slack)
        assert "service=`checkout`" in str(fired.args["blocks"])
        assert "route=" not in str(fired.args["blocks"])  # scoped by service only, as configured
    finally:
        runtime.stop()


@pytest.mark.parametrize(
    "garbage",
    [
        ("text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
        ("text/plain; version=0.0.4", b'kong_http_requests_total{service="checkout",code="5'),
        (
            "text/plain; version=0.0.4",
            b'# TYPE kong_http_requests_total counter\nkong_http_requests_total{code="500"} +Inf\n',
        ),
    ],
    ids=["html-error-page", "truncated", "non-finite"],
)
def test_a_garbled_exposition_is_a_parse_error_not_an_alert(
    alerting: tuple[Runtime, Clock],
    gateway: KongExposition,
    slack: SlackEmulator,
    garbage: tuple[str, bytes],
) -> None:
    """Garbage from the gateway gives one 'unreachable (parse_error)' notice and no alert."""
    runtime, clock = alerting
    for _ in range(3):
        step(runtime, clock, gateway, ok=100, errors=0)
    gateway.garbage = garbage
    for _ in range(5):
        step(runtime, clock, gateway, ok=100, errors=50)
    [notice] = wait_until(lambda: alerts_posted(slack))
    assert "parse_error" in notice.args["text"] and "firing" not in str(alerts_posted(slack))


def test_each_poll_adds_the_worst_scope_to_its_rule_hour(
    alerting: tuple[Runtime, Clock], gateway: KongExposition
) -> None:
    """The daily error-rate figures come from per-hour sums of each poll's worst scope."""
    from sqlalchemy import select

    from storage.db import make_sessions
    from storage.models import MetricHourRow

    runtime, clock = alerting
    for errors in (0, 0, 40, 40):
        step(runtime, clock, gateway, ok=100, errors=errors)
    with make_sessions(runtime.engine)() as session:
        [hour] = session.scalars(select(MetricHourRow)).all()
    assert (hour.rule_id, hour.unit, hour.source_id) == ("checkout-5xx", "ratio", "gw")
    assert hour.hour == clock.now.replace(minute=0, second=0, microsecond=0)
    assert hour.samples >= 2 and 0 < hour.worst <= 40 / 140 + 1e-9
    assert hour.total <= hour.samples * hour.worst + 1e-9


def test_a_flapping_source_says_down_and_back_once_per_outage_and_never_alerts(
    alerting: tuple[Runtime, Clock], gateway: KongExposition, slack: SlackEmulator
) -> None:
    """Blips shorter than three polls say nothing; each outage says down once and back once;
    no rule fires."""
    runtime, clock = alerting
    error_page = ("text/html", b"<html><body>502 Bad Gateway</body></html>")
    for _ in range(3):
        step(runtime, clock, gateway, ok=100, errors=0)
    for _ in range(4):  # up, down, up, down...: each failure is a blip
        gateway.garbage = error_page
        step(runtime, clock, gateway, ok=100, errors=0)
        gateway.garbage = None
        step(runtime, clock, gateway, ok=100, errors=0)
    wait_outbox_drained(runtime.engine)
    assert alerts_posted(slack) == []
    for _ in range(2):  # two outages of three polls, each followed by a good poll
        gateway.garbage = error_page
        for _ in range(3):
            step(runtime, clock, gateway, ok=100, errors=0)
        gateway.garbage = None
        step(runtime, clock, gateway, ok=100, errors=0)
    wait_until(lambda: len(alerts_posted(slack)) >= 4)
    wait_outbox_drained(runtime.engine)
    texts = [c.args["text"] for c in alerts_posted(slack)]
    assert ["unreachable" in t for t in texts] == [True, False, True, False]
    assert ["is back after" in t for t in texts] == [False, True, False, True]
    assert not any("firing" in str(c.args.get("blocks")) for c in alerts_posted(slack))
