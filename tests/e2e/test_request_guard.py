"""End to end: requests that are not genuine, fresh, small and well-formed are refused."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import quote

import pytest

from bot.app.build import Runtime
from sandbox.slack import SlackEmulator, SlackUserSimulator
from tests.conftest import SIGNING_SECRET
from tests.e2e.test_feedback_flow import rows

SECRET_TEXT = "canary-body-text-that-must-not-be-logged"


def form(**fields: str) -> str:
    """A form-encoded body."""
    return "&".join(f"{k}={quote(v)}" for k, v in fields.items())


def command_body() -> str:
    """A slash command body carrying text that must never be logged."""
    return form(
        command="/hypercare",
        text=SECRET_TEXT,
        user_id="U0ALICE",
        channel_id="C0FEEDBACK",
        trigger_id="1.2.abc",
        team_id="T0HYPER",
    )


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"X-Slack-Signature": "v0=" + "0" * 64}, "bad signature"),
        ({"X-Slack-Signature": ""}, "missing signature headers"),
        ({"X-Slack-Request-Timestamp": "yesterday"}, "malformed timestamp"),
        ({"X-Slack-Request-Timestamp": str(int(time.time()) - 600)}, "stale timestamp"),
    ],
)
def test_unverifiable_requests_get_401_and_a_log_line_without_the_body(
    bot: Runtime,
    user: SlackUserSimulator,
    slack: SlackEmulator,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    why: str,
) -> None:
    """Bad, missing, malformed or stale signatures are a 401, logged without body or secret."""
    caplog.set_level(logging.INFO)
    response = user.send_raw(
        command_body(), headers=headers, sign="X-Slack-Signature" not in headers
    )
    assert response.status_code == 401
    assert why in caplog.text
    assert SECRET_TEXT not in caplog.text and SIGNING_SECRET not in caplog.text
    assert slack.calls_to("views.open") == []


def test_stale_but_correctly_signed_request_is_refused(
    bot: Runtime, user: SlackUserSimulator
) -> None:
    """A genuine signature over a ten-minute-old timestamp (a replay) is a 401."""
    response = user.send_raw(command_body(), timestamp=str(int(time.time()) - 600))
    assert response.status_code == 401


def test_oversized_body_gets_413(
    bot: Runtime, user: SlackUserSimulator, slack: SlackEmulator
) -> None:
    """A body over the cap is refused before it is read, signed or not."""
    response = user.send_raw(form(text="x" * 1_100_000))
    assert response.status_code == 413
    assert slack.calls == [] or slack.calls_to("views.open") == []


@pytest.mark.parametrize(
    "body",
    [
        "payload=%7Bnot-json",
        "payload=" + quote("[1,2]"),
        "payload=" + quote('"a string"'),
        "\x00\x01",
    ],
)
def test_malformed_signed_payloads_get_a_4xx_never_a_500(
    bot: Runtime, user: SlackUserSimulator, body: str
) -> None:
    """Signed bodies that are not what Slack sends are refused with 400, and the bot keeps going."""
    assert user.send_raw(body).status_code == 400
    assert user.slash_command("help").status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "view_submission", "user": {"id": "U0ALICE"}, "view": {"callback_id": "other"}},
        {"type": "block_actions", "actions": []},
        {"type": "no_such_type"},
        {
            "type": "view_submission",
            "user": {"id": "U0ALICE"},
            "view": {
                "id": "V1",
                "callback_id": "hypercare-feedback-modal",
                "state": {"values": "x"},
            },
        },
    ],
)
def test_signed_but_unexpected_payloads_never_crash(
    bot: Runtime, user: SlackUserSimulator, payload: dict[str, object]
) -> None:
    """Unknown or ill-shaped interactions get a 2xx/4xx answer, store nothing and crash nothing."""
    response = user.send_raw("payload=" + quote(json.dumps(payload)))
    assert response.status_code < 500
    assert rows(bot) == []
    assert user.slash_command("help").status_code == 200


def test_get_on_the_events_path_is_refused(bot: Runtime, user: SlackUserSimulator) -> None:
    """Only POST reaches the Slack endpoint."""
    import httpx

    assert httpx.get(f"http://127.0.0.1:{bot.port}/slack/events").status_code == 405


def test_health_and_readiness(bot: Runtime) -> None:
    """/healthz says the process is up; /readyz that the database and Slack answer."""
    import httpx

    base = f"http://127.0.0.1:{bot.port}"
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200 and ready.json() == {"database": True, "slack": True}


def test_readiness_fails_while_slack_is_unreachable(bot: Runtime, slack: SlackEmulator) -> None:
    """/readyz answers 503 naming Slack when auth.test cannot succeed."""
    import httpx

    slack.stop()
    ready = httpx.get(f"http://127.0.0.1:{bot.port}/readyz", timeout=30)
    assert ready.status_code == 503 and ready.json()["slack"] is False
