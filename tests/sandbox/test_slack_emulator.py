"""Tests for the Slack Web API emulator, driven through slack_sdk's real WebClient."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler

from sandbox.slack import SlackEmulator
from sandbox.slack import workspace as slack_workspace

TOKEN = "xoxb-test-token"


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    """A started emulator, stopped after the test."""
    with SlackEmulator(token=TOKEN) as emu:
        yield emu


@pytest.fixture
def client(emulator: SlackEmulator) -> WebClient:
    """A real WebClient pointed at the emulator."""
    return WebClient(token=TOKEN, base_url=emulator.base_url, timeout=5)


def section(text: str) -> dict[str, Any]:
    """A mrkdwn section block."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def modal(*blocks: dict[str, Any], title: str = "Report", **extra: Any) -> dict[str, Any]:
    """A modal view with a submit button."""
    view = {
        "type": "modal",
        "callback_id": "report",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Send"},
        "blocks": list(blocks) or [section("hi")],
    }
    return {**view, **extra}


def text_input(block_id: str, action_id: str = "value") -> dict[str, Any]:
    """An input block with a plain_text_input."""
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": "Summary"},
        "element": {"type": "plain_text_input", "action_id": action_id},
    }


def slack_error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    """The `error` field of a SlackApiError's response."""
    return str(excinfo.value.response["error"])


def test_base_url_is_loopback_api_root(emulator: SlackEmulator) -> None:
    """base_url points at 127.0.0.1 and ends with /api/ so WebClient can append method names."""
    assert emulator.base_url.startswith("http://127.0.0.1:")
    assert emulator.base_url.endswith("/api/")


def test_auth_test_answers_with_bot_identity(client: WebClient) -> None:
    """auth.test returns the configured team and bot user."""
    answer = client.auth_test()
    assert answer["team_id"] == "T0HYPER"
    assert answer["user_id"] == "UBOT"


def test_json_call_is_recorded_with_args(emulator: SlackEmulator, client: WebClient) -> None:
    """A JSON-bodied call is recorded with its arguments, status and answer."""
    client.chat_postMessage(channel="C1", text="hello", blocks=[section("*hi*")])
    (call,) = emulator.calls_to("chat.postMessage")
    assert call.args["channel"] == "C1"
    assert call.args["blocks"][0]["text"]["text"] == "*hi*"
    assert call.status == 200
    assert call.response["ok"] is True


def test_form_body_json_strings_are_decoded(emulator: SlackEmulator, client: WebClient) -> None:
    """`blocks` and `view` sent as JSON strings in form bodies are recorded decoded."""
    blocks = json.dumps([section("form")])
    client.api_call("chat.postMessage", params={"channel": "C1", "blocks": blocks})
    client.api_call("views.open", params={"trigger_id": "t1", "view": json.dumps(modal())})
    assert emulator.calls_to("chat.postMessage")[0].args["blocks"] == [section("form")]
    assert emulator.calls_to("views.open")[0].args["view"]["callback_id"] == "report"
    assert emulator.last_view()["callback_id"] == "report"


def test_get_query_args_are_read(emulator: SlackEmulator, client: WebClient) -> None:
    """GET calls (users.info) are answered from their query arguments."""
    emulator.add_user("U0ALICE", "alice", email="alice@example.com")
    assert client.users_info(user="U0ALICE")["user"]["name"] == "alice"


def test_bad_token_is_refused(emulator: SlackEmulator) -> None:
    """A wrong bearer token gets invalid_auth and a missing one not_authed."""
    with pytest.raises(SlackApiError) as excinfo:
        WebClient(token="xoxb-wrong", base_url=emulator.base_url).auth_test()
    assert slack_error(excinfo) == "invalid_auth"
    answer = httpx.post(emulator.base_url + "auth.test").json()
    assert answer == {"ok": False, "error": "not_authed"}


def test_unknown_method(client: WebClient) -> None:
    """Methods the emulator does not implement answer unknown_method."""
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("files.upload")
    assert slack_error(excinfo) == "unknown_method"


def test_missing_arguments(client: WebClient) -> None:
    """Required arguments are enforced with Slack's error codes."""
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.postMessage", json={"channel": "C1"})
    assert slack_error(excinfo) == "no_text"
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.postMessage", json={"text": "x"})
    assert slack_error(excinfo) == "channel_not_found"
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("views.open", json={"view": modal()})
    assert slack_error(excinfo) == "invalid_arguments"


def _too_many_blocks() -> dict[str, Any]:
    return {"blocks": [section(str(i)) for i in range(51)]}


def _button(**fields: Any) -> dict[str, Any]:
    element = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "Go"}}
    return {"blocks": [{"type": "actions", "elements": [{**element, **fields}]}]}


def _select(options: int, text: str = "x", value: str = "v") -> dict[str, Any]:
    opts = [
        {"text": {"type": "plain_text", "text": text}, "value": f"{value}{i}"}
        for i in range(options)
    ]
    element = {"type": "static_select", "action_id": "s", "options": opts}
    return {"blocks": [{"type": "section", "text": section("x")["text"], "accessory": element}]}


@pytest.mark.parametrize(
    ("message", "pointer"),
    [
        (_too_many_blocks(), "/blocks]"),
        ({"blocks": [section("x" * 3001)]}, "/blocks/0/text/text]"),
        ({"blocks": [{"type": "section", "fields": [section("f")["text"]] * 11}]}, "/fields]"),
        (
            {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]},
            "/0/text/text]",
        ),
        (
            {"blocks": [{"type": "actions", "elements": _button()["blocks"][0]["elements"] * 26}]},
            "/elements]",
        ),
        ({"blocks": [{"type": "context", "elements": [section("c")["text"]] * 11}]}, "/elements]"),
        ({"blocks": [{**section("x"), "block_id": "b" * 256}]}, "/block_id]"),
        (_button(text={"type": "plain_text", "text": "t" * 76}), "/text/text]"),
        (_button(value="v" * 2001), "/value]"),
        (_button(action_id="a" * 256), "/action_id]"),
        (_select(101), "/options]"),
        (_select(1, text="t" * 76), "/options/0/text/text]"),
        (_select(1, value="v" * 151), "/options/0/value]"),
        ({"blocks": [section("")]}, "/blocks/0/text/text]"),
        ({"blocks": [text_input("b1")]}, "/blocks/0/type]"),
    ],
)
def test_message_block_limits_are_rejected(
    client: WebClient, message: dict[str, Any], pointer: str
) -> None:
    """Messages breaking a Block Kit limit get invalid_blocks with a json-pointer to the spot."""
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="fallback", **message)
    assert slack_error(excinfo) == "invalid_blocks"
    assert any(e.endswith(pointer) for e in excinfo.value.response["errors"]), (
        excinfo.value.response
    )


def test_limits_are_inclusive(client: WebClient) -> None:
    """Payloads exactly at the limits are accepted."""
    client.chat_postMessage(
        channel="C1", text="x", blocks=[section(str(i)) for i in range(49)] + [section("x" * 3000)]
    )
    client.views_open(trigger_id="t", view=modal(title="t" * 24, private_metadata="m" * 3000))


def test_overlong_message_text(client: WebClient) -> None:
    """Message text over 40,000 characters answers msg_too_long."""
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="x" * 40_001)
    assert slack_error(excinfo) == "msg_too_long"


@pytest.mark.parametrize(
    ("view", "pointer"),
    [
        (modal(title="t" * 25), "/view/title/text]"),
        (modal(private_metadata="m" * 3001), "/view/private_metadata]"),
        (modal(*[section(str(i)) for i in range(101)]), "/view/blocks]"),
        (modal(submit={"type": "plain_text", "text": "s" * 25}), "/view/submit/text]"),
        (
            modal({**text_input("b"), "element": {"type": "plain_text_input", "max_length": 3001}}),
            "/element/max_length]",
        ),
        ({**modal(text_input("b")), "submit": None}, "/view]"),
    ],
)
def test_view_limits_are_rejected(client: WebClient, view: dict[str, Any], pointer: str) -> None:
    """Views breaking a Block Kit limit get invalid_blocks with a json-pointer to the spot."""
    with pytest.raises(SlackApiError) as excinfo:
        client.views_open(trigger_id="t", view=view)
    assert slack_error(excinfo) == "invalid_blocks"
    assert any(e.endswith(pointer) for e in excinfo.value.response["errors"]), (
        excinfo.value.response
    )


def test_view_with_repeated_block_id(client: WebClient) -> None:
    """A view whose input blocks repeat a block_id answers duplicate_block_id."""
    with pytest.raises(SlackApiError) as excinfo:
        client.views_open(trigger_id="t", view=modal(text_input("same"), text_input("same")))
    assert slack_error(excinfo) == "duplicate_block_id"


def test_rate_limit_is_seen_as_429_with_retry_after(
    emulator: SlackEmulator, client: WebClient
) -> None:
    """An injected 429 reaches WebClient as SlackApiError with status 429 and Retry-After."""
    emulator.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="x")
    assert excinfo.value.response.status_code == 429
    assert excinfo.value.response.headers["Retry-After"] == "7"
    assert slack_error(excinfo) == "ratelimited"
    assert [c.status for c in emulator.calls_to("chat.postMessage")] == [429]


def test_rate_limit_retry_handler_succeeds_on_second_attempt(
    emulator: SlackEmulator, client: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With RateLimitErrorRetryHandler the call after one 429 succeeds."""
    monkeypatch.setattr(random, "random", lambda: 0.0)  # the handler sleeps Retry-After + random()
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    emulator.fail_next("chat.postMessage", status=429, retry_after=0)
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True
    assert [c.status for c in emulator.calls_to("chat.postMessage")] == [429, 200]


def test_server_errors_and_api_errors_can_be_injected(
    emulator: SlackEmulator, client: WebClient
) -> None:
    """fail_next gives `times` 5xx answers, or 200 answers with a chosen error, then recovers."""
    emulator.fail_next("chat.postMessage", status=503, times=2)
    emulator.fail_next("chat.postMessage", status=200, error="user_not_in_channel")
    for expected_status, expected_error in [(503, "fatal_error")] * 2 + [
        (200, "user_not_in_channel")
    ]:
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel="C1", text="x")
        assert excinfo.value.response.status_code == expected_status
        assert slack_error(excinfo) == expected_error
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True


def test_latency_delays_answers(emulator: SlackEmulator, client: WebClient) -> None:
    """set_latency holds the answer back for the given time."""
    emulator.set_latency("auth.test", 0.2)
    started = time.monotonic()
    client.auth_test()
    assert time.monotonic() - started >= 0.2


def test_messages_threads_and_permalinks(emulator: SlackEmulator, client: WebClient) -> None:
    """Replies land in the thread, not the channel, and their permalinks carry thread_ts and cid."""
    parent = client.chat_postMessage(channel="C1", text="parent")
    reply = client.chat_postMessage(channel="C1", text="reply", thread_ts=parent["ts"])
    assert float(reply["ts"]) > float(parent["ts"])
    assert [m["text"] for m in emulator.messages("C1")] == ["parent"]
    assert [m["text"] for m in emulator.thread("C1", parent["ts"])] == ["reply"]
    assert emulator.message("C1", parent["ts"])["reply_count"] == 1
    top = client.chat_getPermalink(channel="C1", message_ts=parent["ts"])["permalink"]
    assert top == f"https://hypercare-test.slack.com/archives/C1/p{parent['ts'].replace('.', '')}"
    link = client.chat_getPermalink(channel="C1", message_ts=reply["ts"])["permalink"]
    assert link.endswith(f"?thread_ts={parent['ts']}&cid=C1")


def test_permalink_needs_a_known_message(emulator: SlackEmulator, client: WebClient) -> None:
    """chat.getPermalink fails for unseen messages and works for ones given to add_message."""
    emulator.add_channel("C1", "feedback")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_getPermalink(channel="C1", message_ts="1600000000.000001")
    assert slack_error(excinfo) == "message_not_found"
    emulator.add_message("C1", "1600000000.000001", "from a user", "U0BOB")
    assert client.chat_getPermalink(channel="C1", message_ts="1600000000.000001")["ok"] is True


def test_chat_update(emulator: SlackEmulator, client: WebClient) -> None:
    """chat.update edits the bot's own message, keeps omitted blocks, and rejects unknown ts."""
    posted = client.chat_postMessage(channel="C1", text="v1", blocks=[section("one")])
    client.chat_update(channel="C1", ts=posted["ts"], text="v2")
    updated = emulator.message("C1", posted["ts"])
    assert updated["text"] == "v2"
    assert updated["blocks"][0]["text"]["text"] == "one"
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C1", ts="1.000001", text="x")
    assert slack_error(excinfo) == "message_not_found"
    emulator.add_message("C1", "1600000000.000001", "mine?", "U0BOB")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C1", ts="1600000000.000001", text="x")
    assert slack_error(excinfo) == "cant_update_message"


def test_dm_to_user_id(emulator: SlackEmulator, client: WebClient) -> None:
    """Posting to a user id answers with a D-channel, which conversations.open also returns."""
    answer = client.chat_postMessage(channel="U0ALICE", text="psst")
    assert answer["channel"] == emulator.dm_channel("U0ALICE")
    assert answer["channel"].startswith("D")
    assert client.conversations_open(users="U0ALICE")["channel"]["id"] == answer["channel"]
    assert [m["text"] for m in emulator.messages("U0ALICE")] == ["psst"]


def test_not_in_channel(emulator: SlackEmulator, client: WebClient) -> None:
    """Posting to a registered channel the bot is not in answers not_in_channel."""
    emulator.add_channel("C2", "private-ish", is_member=False)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C2", text="x")
    assert slack_error(excinfo) == "not_in_channel"


def test_ephemerals(emulator: SlackEmulator, client: WebClient) -> None:
    """chat.postEphemeral answers message_ts and is listed per channel and user."""
    answer = client.chat_postEphemeral(channel="C1", user="U0ALICE", text="only you")
    assert answer["message_ts"]
    assert [e["text"] for e in emulator.ephemerals(user="U0ALICE")] == ["only you"]
    assert emulator.ephemerals(channel="C9") == []
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.postEphemeral", json={"channel": "C1", "text": "x"})
    assert slack_error(excinfo) == "user_not_found"


def test_registries(emulator: SlackEmulator, client: WebClient) -> None:
    """users.info, users.lookupByEmail and conversations.info answer from the registries."""
    emulator.add_user("U0ALICE", "alice", email="Alice@Example.com")
    emulator.add_user("U0GONE", "gone", email="gone@example.com", deleted=True)
    emulator.add_channel("C1", "feedback")
    assert client.users_lookupByEmail(email="alice@example.com")["user"]["id"] == "U0ALICE"
    assert client.users_info(user="U0GONE")["user"]["deleted"] is True
    assert client.conversations_info(channel="C1")["channel"]["name"] == "feedback"
    failing: list[tuple[Callable[[], object], str]] = [
        (lambda: client.users_lookupByEmail(email="gone@example.com"), "users_not_found"),
        (lambda: client.users_info(user="U0NOBODY"), "user_not_found"),
        (lambda: client.conversations_info(channel="C404"), "channel_not_found"),
    ]
    for call, code in failing:
        with pytest.raises(SlackApiError) as excinfo:
            call()
        assert slack_error(excinfo) == code


def test_views_open_and_update(emulator: SlackEmulator, client: WebClient) -> None:
    """views.open returns the full view; views.update checks the hash and issues a new one."""
    opened = client.views_open(trigger_id="t1", view=modal(text_input("summary")))["view"]
    assert opened["id"].startswith("V")
    assert opened["state"] == {"values": {}}
    assert emulator.view(opened["id"]) == opened
    with pytest.raises(SlackApiError) as excinfo:
        client.views_update(view_id=opened["id"], hash="stale", view=modal())
    assert slack_error(excinfo) == "hash_conflict"
    updated = client.views_update(
        view_id=opened["id"], hash=opened["hash"], view=modal(title="Done")
    )
    assert updated["view"]["hash"] != opened["hash"]
    assert emulator.last_view()["title"]["text"] == "Done"
    with pytest.raises(SlackApiError) as excinfo:
        client.views_update(view_id="V404", view=modal())
    assert slack_error(excinfo) == "not_found"


def test_views_update_by_external_id(emulator: SlackEmulator, client: WebClient) -> None:
    """views.update finds a view by its external_id."""
    client.views_open(trigger_id="t1", view=modal(external_id="report-1"))
    client.views_update(external_id="report-1", view=modal(title="Again"))
    assert emulator.last_view()["external_id"] == "report-1"
    assert emulator.last_view()["title"]["text"] == "Again"


def test_trigger_ids_are_single_use_and_expire(
    emulator: SlackEmulator, client: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trigger_id works once, and one noted via issue_trigger expires after its TTL."""
    client.views_open(trigger_id="t1", view=modal())
    with pytest.raises(SlackApiError) as excinfo:
        client.views_open(trigger_id="t1", view=modal())
    assert slack_error(excinfo) == "exchanged_trigger_id"
    monkeypatch.setattr(slack_workspace, "TRIGGER_TTL_SECONDS", -1.0)
    emulator.issue_trigger("t2")
    with pytest.raises(SlackApiError) as excinfo:
        client.views_open(trigger_id="t2", view=modal())
    assert slack_error(excinfo) == "expired_trigger_id"


def test_views_push_stacks_views(emulator: SlackEmulator, client: WebClient) -> None:
    """views.push links the new view to the previous one and stops at three views."""
    root = client.views_open(trigger_id="t1", view=modal())["view"]
    pushed = client.views_push(trigger_id="t2", view=modal(title="Step 2"))["view"]
    assert pushed["previous_view_id"] == root["id"]
    assert pushed["root_view_id"] == root["id"]
    client.views_push(trigger_id="t3", view=modal(title="Step 3"))
    with pytest.raises(SlackApiError) as excinfo:
        client.views_push(trigger_id="t4", view=modal(title="Step 4"))
    assert slack_error(excinfo) == "push_limit_reached"
    assert len(emulator.views) == 3


def test_wait_for_returns_when_calls_arrive(emulator: SlackEmulator, client: WebClient) -> None:
    """wait_for blocks until a call made from another thread is recorded."""
    threading.Timer(0.05, lambda: client.chat_postMessage(channel="C1", text="later")).start()
    (call,) = emulator.wait_for("chat.postMessage", timeout=2.0)
    assert call.args["text"] == "later"


def test_wait_for_times_out_with_listing(emulator: SlackEmulator, client: WebClient) -> None:
    """wait_for raises AssertionError naming the calls it did see, counting only successes."""
    emulator.fail_next("chat.postMessage", status=500)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="x")
    client.auth_test()
    with pytest.raises(
        AssertionError, match=r"chat\.postMessage:500:fatal_error, auth\.test:200:ok"
    ):
        emulator.wait_for("chat.postMessage", timeout=0.1)


def test_reset_calls_keeps_state(emulator: SlackEmulator, client: WebClient) -> None:
    """reset_calls forgets the call log but not the messages."""
    client.chat_postMessage(channel="C1", text="x")
    emulator.reset_calls()
    assert emulator.calls == []
    assert len(emulator.messages("C1")) == 1
