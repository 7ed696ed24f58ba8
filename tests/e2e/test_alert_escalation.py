"""End to end: an alert of an escalating severity pages the on-call until acknowledged."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.app.build import Runtime, build_runtime
from bot.domain import ItemKind, ItemRef
from sandbox.gateway.exposition import KongExposition
from sandbox.slack import SlackEmulator, SlackUserSimulator
from tests.conftest import SIGNING_SECRET, bot_settings
from tests.e2e.test_alert_flow import (
    ALERTS,
    Clock,
    alerts_posted,
    checkout_5xx,
    kong_source,
    step,
    with_metrics,
)
from tests.e2e.test_escalation import PRIMARY, SECONDARY, WAIT, escalating_program, pages_to
from tests.support import wait_until


@pytest.fixture
def escalating_alerts(
    slack: SlackEmulator, gateway: KongExposition, database_url: str
) -> Iterator[tuple[Runtime, Clock]]:
    """The bot reading the gateway; sev1 alerts escalate to one-person rotas."""
    metrics = {
        "allowed_hosts": ["127.0.0.1"],
        "sources": [kong_source(gateway)],
        "rules": [checkout_5xx()],
    }
    clock = Clock()
    settings = bot_settings(slack, database_url).model_copy(
        update={"escalation_tick_seconds": 3600}  # the test ticks by hand, on its clock
    )
    program = with_metrics(escalating_program(), metrics)
    runtime = build_runtime(settings, program, clock=clock).start()
    yield runtime, clock
    runtime.stop()


@pytest.fixture
def gateway() -> Iterator[KongExposition]:
    """The gateway's metrics endpoint."""
    exposition = KongExposition()
    yield exposition
    exposition.stop()


def test_a_firing_sev1_alert_pages_and_its_acknowledge_button_stops_the_climb(
    escalating_alerts: tuple[Runtime, Clock], gateway: KongExposition, slack: SlackEmulator
) -> None:
    """The primary is paged when the alert fires; a bystander may not acknowledge it, the
    primary may; then the secondary is never paged."""
    runtime, clock = escalating_alerts
    assert runtime.services.escalation is not None
    for errors in (0, 0, 40):  # fires on the third poll; the clock then stands still
        step(runtime, clock, gateway, ok=100, errors=errors)
    [alert] = wait_until(lambda: alerts_posted(slack))
    [page] = wait_until(lambda: pages_to(slack, PRIMARY))
    assert "Alert checkout-5xx" in json.dumps(page.args["blocks"])
    wait_until(
        lambda: any(
            f"Paging <@{PRIMARY}>" in str(c.args.get("text")) and c.args.get("thread_ts")
            for c in slack.calls_to("chat.postMessage")
        )
    )
    user = SlackUserSimulator(
        f"http://127.0.0.1:{runtime.port}/slack/events", SIGNING_SECRET, slack
    )
    for who in ("U0BYSTANDER", PRIMARY):
        user.click_button(
            action_id="ack-alert",
            value="1",
            message_ts=alert.response["ts"],
            channel_id=ALERTS,
            user_id=who,
        )
    [refusal] = wait_until(lambda: slack.ephemerals(user="U0BYSTANDER"))
    assert "Only the people paged" in refusal["text"]
    wait_until(lambda: "Acknowledged by" in str([c.args for c in slack.calls_to("chat.update")]))
    clock.tick(10 * WAIT)
    runtime.services.escalation.tick()
    record = runtime.services.escalation.state(ItemRef(ItemKind.ALERT, 1))
    assert record is not None and record.acknowledged_by == PRIMARY
    assert pages_to(slack, SECONDARY) == []
    user.close()
