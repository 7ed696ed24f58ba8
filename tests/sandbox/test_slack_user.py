"""Tests for the Slack user simulator against a tiny signature-checking HTTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from sandbox.slack import SlackEmulator, SlackUserSimulator
from sandbox.slack.user import build_state_values

SECRET = "test-signing-secret"


@dataclass
class Received:
    """What the fake bot got: one decoded form body per correctly signed request."""

    forms: list[dict[str, str]] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        """The JSON `payload` field of the last interactivity request."""
        return dict(json.loads(self.forms[-1]["payload"]))


@pytest.fixture
def bot() -> Iterator[tuple[str, Received]]:
    """A loopback HTTP server that answers 401 to badly signed requests and records the rest."""
    received = Received()
    verifier = SignatureVerifier(SECRET)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # name fixed by the stdlib
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            valid = verifier.is_valid_request(body, dict(self.headers.items()))
            if valid:
                form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
                received.forms.append(form)
            self.send_response(200 if valid else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/slack/events", received
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    """A started Slack emulator."""
    with SlackEmulator() as emu:
        yield emu


@pytest.fixture
def user(bot: tuple[str, Received], emulator: SlackEmulator) -> Iterator[SlackUserSimulator]:
    """A simulator posting to the fake bot, backed by the emulator."""
    with SlackUserSimulator(bot[0], SECRET, emulator=emulator) as sim:
        yield sim


def option(value: str, text: str) -> dict[str, Any]:
    """A plain_text option object."""
    return {"text": {"type": "plain_text", "text": text}, "value": value}


def input_block(block_id: str, element: dict[str, Any]) -> dict[str, Any]:
    """An input block around `element` (action_id "a")."""
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": block_id},
        "element": {"action_id": "a", **element},
    }


SEVERITIES = [option("p1", "Critical"), option("p2", "Major")]
FORM_VIEW = {
    "type": "modal",
    "callback_id": "report",
    "private_metadata": '{"channel": "C0FEEDBACK"}',
    "title": {"type": "plain_text", "text": "Report"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        input_block("summary", {"type": "plain_text_input", "initial_value": "prefilled"}),
        input_block("details", {"type": "plain_text_input", "multiline": True}),
        input_block("severity", {"type": "static_select", "options": SEVERITIES}),
        input_block(
            "where", {"type": "conversations_select", "initial_conversation": "C0FEEDBACK"}
        ),
        input_block("channel", {"type": "channels_select"}),
        input_block("owner", {"type": "users_select"}),
        input_block("count", {"type": "number_input", "is_decimal_allowed": False}),
        input_block("flags", {"type": "checkboxes", "options": [option("urgent", "Urgent")]}),
    ],
}


def test_slash_command_sends_signed_flat_form(
    user: SlackUserSimulator, bot: tuple[str, Received]
) -> None:
    """A slash command is a signed form with exactly the fields Slack documents."""
    assert user.slash_command("report login broken", trigger_id="123.456.abc").status_code == 200
    form = bot[1].forms[-1]
    assert set(form) == {
        "token", "team_id", "team_domain", "channel_id", "channel_name", "user_id", "user_name",
        "command", "text", "api_app_id", "is_enterprise_install", "response_url", "trigger_id",
    }  # fmt: skip
    assert form["command"] == "/hypercare"
    assert form["text"] == "report login broken"
    assert form["trigger_id"] == "123.456.abc"
    assert form["response_url"].startswith("https://hooks.slack.com/commands/T0HYPER/")


def test_trigger_ids_are_unique(user: SlackUserSimulator, bot: tuple[str, Received]) -> None:
    """Generated trigger_ids differ between requests."""
    user.slash_command()
    user.slash_command()
    assert bot[1].forms[0]["trigger_id"] != bot[1].forms[1]["trigger_id"]


def test_message_shortcut_payload(
    user: SlackUserSimulator, bot: tuple[str, Received], emulator: SlackEmulator
) -> None:
    """A message shortcut posts a message_action payload and registers the message."""
    user.message_shortcut(
        callback_id="create_issue",
        message_text="checkout is slow",
        message_ts="1600000000.000100",
        channel_id="C0FEEDBACK",
    )
    payload = bot[1].payload()
    assert payload["type"] == "message_action"
    assert payload["callback_id"] == "create_issue"
    assert payload["channel"]["id"] == "C0FEEDBACK"
    assert payload["message"]["text"] == "checkout is slow"
    assert payload["message"]["user"] == "U0BOB"
    assert payload["message_ts"] == payload["message"]["ts"] == "1600000000.000100"
    assert {"team", "user", "trigger_id", "response_url", "token", "action_ts"} <= set(payload)
    assert emulator.message("C0FEEDBACK", "1600000000.000100")["text"] == "checkout is slow"


def test_submit_view_builds_state_values(
    user: SlackUserSimulator, bot: tuple[str, Received], emulator: SlackEmulator
) -> None:
    """submit_view sends Slack's state.values shape for each element type, keeping prefills."""
    WebClient(token=emulator.token, base_url=emulator.base_url).views_open(
        trigger_id="t", view=FORM_VIEW
    )
    view = user.opened_view()
    values = {
        "severity": "p1",
        "channel": "C0OPS",
        "owner": "U0BOB",
        "count": 3,
        "flags": ["urgent"],
    }
    user.submit_view(view, values)
    payload = bot[1].payload()
    assert payload["type"] == "view_submission"
    assert payload["view"]["id"] == view["id"]
    assert payload["view"]["hash"] == view["hash"]
    assert payload["view"]["private_metadata"] == FORM_VIEW["private_metadata"]
    state = {block: entry["a"] for block, entry in payload["view"]["state"]["values"].items()}
    assert state == {
        "summary": {"type": "plain_text_input", "value": "prefilled"},
        "details": {"type": "plain_text_input", "value": None},
        "severity": {"type": "static_select", "selected_option": option("p1", "Critical")},
        "where": {"type": "conversations_select", "selected_conversation": "C0FEEDBACK"},
        "channel": {"type": "channels_select", "selected_channel": "C0OPS"},
        "owner": {"type": "users_select", "selected_user": "U0BOB"},
        "count": {"type": "number_input", "value": "3"},
        "flags": {"type": "checkboxes", "selected_options": [option("urgent", "Urgent")]},
    }


def test_state_values_allow_forged_options_and_clearing() -> None:
    """Unknown option values are sent as given, and None clears a prefilled field."""
    state = build_state_values(FORM_VIEW, {"severity": "p0-forged", "summary": None})
    assert state["severity"]["a"]["selected_option"]["value"] == "p0-forged"
    assert state["summary"]["a"]["value"] is None


def test_state_values_reject_unknown_blocks() -> None:
    """A value for a block the view does not have is a test bug and raises ValueError."""
    with pytest.raises(ValueError, match="nope"):
        build_state_values(FORM_VIEW, {"nope": "x"})


def test_click_button_uses_the_emulated_message(
    user: SlackUserSimulator, bot: tuple[str, Received], emulator: SlackEmulator
) -> None:
    """A button click is a block_actions payload with the button's label and block_id."""
    button = {"type": "button", "action_id": "ack", "text": {"type": "plain_text", "text": "Ack"}}
    blocks = [{"type": "actions", "block_id": "controls", "elements": [button]}]
    client = WebClient(token=emulator.token, base_url=emulator.base_url)
    posted = client.chat_postMessage(channel="C0FEEDBACK", text="alert", blocks=blocks)
    user.click_button(action_id="ack", value="42", message_ts=posted["ts"], channel_id="C0FEEDBACK")
    payload = bot[1].payload()
    assert payload["type"] == "block_actions"
    assert payload["container"]["message_ts"] == posted["ts"]
    assert payload["message"]["text"] == "alert"
    (action,) = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"]) == ("ack", "controls", "42")
    assert action["text"]["text"] == "Ack"


def test_send_raw_signature_handling(user: SlackUserSimulator, bot: tuple[str, Received]) -> None:
    """send_raw signs by default; unsigned, stale or tampered requests fail verification."""
    assert user.send_raw("payload=%7B%7D").status_code == 200
    assert user.send_raw("payload=%7B%7D", sign=False).status_code == 401
    stale = str(int(time.time()) - 600)
    assert user.send_raw("payload=%7B%7D", timestamp=stale).status_code == 401
    tampered = {"X-Slack-Signature": "v0=" + "0" * 64}
    assert user.send_raw("payload=%7B%7D", headers=tampered).status_code == 401
    assert len(bot[1].forms) == 1


def test_opened_view_needs_an_emulator(bot: tuple[str, Received]) -> None:
    """opened_view() without an emulator raises RuntimeError."""
    with SlackUserSimulator(bot[0], SECRET) as sim, pytest.raises(RuntimeError):
        sim.opened_view()
