"""Sends signed slash commands, shortcuts, view submissions and clicks to the bot, as Slack does."""

from __future__ import annotations

import copy
import itertools
import json
import secrets
import time
import uuid
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from sandbox.slack.workspace import APP_ID, JsonDict

if TYPE_CHECKING:  # only for annotations: the emulator itself starts this module's subclasses
    from sandbox.slack.api import SlackEmulator

TEAM_DOMAIN = "hypercare-test"
# Slack still sends the deprecated verification token in every payload; Bolt ignores it.
VERIFICATION_TOKEN = "legacy-verification-token"

# Element type -> (state key, key of the prefilled value in the view), for non-option elements.
_SELECTED_KEYS: dict[str, tuple[str, str]] = {
    "users_select": ("selected_user", "initial_user"),
    "multi_users_select": ("selected_users", "initial_users"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "channels_select": ("selected_channel", "initial_channel"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
    "datetimepicker": ("selected_date_time", "initial_date_time"),
}
_SINGLE_OPTION = {"static_select", "external_select", "radio_buttons"}
_MULTI_OPTION = {"multi_static_select", "multi_external_select", "checkboxes"}


class SlackUserSimulator:
    """Plays a Slack user: builds Slack-shaped payloads, signs them and posts them to the bot."""

    transport = "HTTP"  # how `deliver` carries requests; only HTTP has headers and signatures

    def __init__(
        self,
        bot_url: str,
        signing_secret: str,
        emulator: SlackEmulator | None = None,
        team_id: str = "T0HYPER",
    ) -> None:
        """Target `bot_url` (the full events URL); an emulator, if given, supplies views."""
        self.bot_url = bot_url
        self.team_id = team_id
        self.emulator = emulator
        self._verifier = SignatureVerifier(signing_secret)
        self._http = httpx.Client(timeout=10.0)
        self._counter = itertools.count(1)

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    def __enter__(self) -> SlackUserSimulator:
        """Use the simulator in a with-block."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the HTTP client at the end of a with-block."""
        self.close()

    # -- what a user does --------------------------------------------------------------------------

    def slash_command(
        self,
        text: str = "",
        *,
        user_id: str = "U0ALICE",
        channel_id: str = "C0FEEDBACK",
        command: str = "/hypercare",
        trigger_id: str | None = None,
    ) -> httpx.Response:
        """Invoke a slash command: flat form fields as Slack sends them."""
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": channel_id.lower(),
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._hook_url("commands"),
            "trigger_id": self._trigger(trigger_id),
        }
        return self.send_raw(urlencode(fields))

    def message_shortcut(
        self,
        *,
        callback_id: str,
        message_text: str,
        message_ts: str,
        channel_id: str,
        message_user: str | None = "U0BOB",
        user_id: str = "U0ALICE",
        trigger_id: str | None = None,
    ) -> httpx.Response:
        """Use a message shortcut on a message (registered in the emulator if it has none yet)."""
        message: JsonDict = {
            "client_msg_id": str(uuid.uuid4()),
            "type": "message",
            "text": message_text,
            "ts": message_ts,
            "team": self.team_id,
            "blocks": [_rich_text(message_text)],
        }
        if message_user is not None:
            # Bot messages carry no user; bolt-js types mark message.user optional.
            message["user"] = message_user
            self._ensure_message(channel_id, message_ts, message_text, message_user)
        payload = {
            "type": "message_action",
            "token": VERIFICATION_TOKEN,
            "action_ts": f"{time.time():.6f}",
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "user": self._user(user_id),
            "channel": {"id": channel_id, "name": channel_id.lower()},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self._trigger(trigger_id),
            "message_ts": message_ts,
            "message": message,
            "response_url": self._hook_url("app"),
        }
        return self._send_payload(payload)

    def submit_view(
        self, view: JsonDict, values: dict[str, Any], *, user_id: str = "U0ALICE"
    ) -> httpx.Response:
        """Submit a modal with `values` keyed by input block_id; see build_state_values()."""
        submitted = copy.deepcopy(view)
        submitted["state"] = {"values": build_state_values(view, values)}
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "user": self._user(user_id),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self._trigger(None),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._send_payload(payload)

    def click_button(
        self,
        *,
        action_id: str,
        value: str,
        message_ts: str,
        channel_id: str,
        block_id: str | None = None,
        user_id: str = "U0ALICE",
    ) -> httpx.Response:
        """Click a button in a message; label and block_id come from the emulator when it knows."""
        message = self._known_message(channel_id, message_ts)
        button = _find_button(message, action_id) if message else None
        label = button[1].get("text", {}).get("text", action_id) if button else action_id
        payload: JsonDict = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel_id,
                "is_ephemeral": False,
            },
            "trigger_id": self._trigger(None),
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": channel_id.lower()},
            "message": message or {"type": "message", "ts": message_ts, "text": ""},
            "state": {"values": {}},
            "response_url": self._hook_url("actions"),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id or (button[0] if button else "b"),
                    "text": {"type": "plain_text", "text": label, "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return self._send_payload(payload)

    def type_in_view(
        self,
        view: JsonDict,
        block_id: str,
        text: str,
        values: dict[str, Any] | None = None,
        *,
        user_id: str = "U0ALICE",
    ) -> httpx.Response:
        """Type into an input whose block has `dispatch_action` (and press Enter): Slack sends
        a block_actions payload with the view as it stands, its hash and typed values."""
        block = next((b for b in view.get("blocks", []) if b.get("block_id") == block_id), None)
        if block is None or block.get("type") != "input":
            raise ValueError(f"no input block {block_id!r} in the view")
        if not block.get("dispatch_action"):
            raise ValueError(f"input {block_id!r} has no dispatch_action: Slack sends nothing")
        element = block.get("element") or {}
        typed = {**(values or {}), block_id: text}
        action = {
            "type": element.get("type", "plain_text_input"),
            "block_id": block_id,
            "action_id": element.get("action_id"),
            "value": text,
            "action_ts": f"{time.time():.6f}",
        }
        return self._send_payload(self._view_action(view, typed, action, user_id))

    def click_in_view(
        self,
        view: JsonDict,
        *,
        action_id: str,
        value: str,
        values: dict[str, Any] | None = None,
        user_id: str = "U0ALICE",
    ) -> httpx.Response:
        """Click a button inside a modal, with what the user typed in the form so far."""
        button = _find_button(view, action_id)
        if button is None:
            raise ValueError(f"no button {action_id!r} in the view")
        found = [
            e
            for b in view.get("blocks", [])
            for e in [*b.get("elements", []), b.get("accessory")]
            if isinstance(e, dict) and e.get("action_id") == action_id and e.get("value") == value
        ]
        if not found:
            raise ValueError(f"no button {action_id!r} with value {value!r} in the view")
        block = next(
            b["block_id"]
            for b in view.get("blocks", [])
            if found[0] in [*b.get("elements", []), b.get("accessory")]
        )
        action = {
            "type": "button",
            "block_id": block,
            "action_id": action_id,
            "text": copy.deepcopy(found[0].get("text")),
            "value": value,
            "action_ts": f"{time.time():.6f}",
        }
        return self._send_payload(self._view_action(view, values or {}, action, user_id))

    def _view_action(
        self, view: JsonDict, values: dict[str, Any], action: JsonDict, user_id: str
    ) -> JsonDict:
        """A block_actions payload from a modal: the view with its state, hash and the action."""
        current = copy.deepcopy(view)
        current["state"] = {"values": build_state_values(view, values)}
        return {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": view.get("id")},
            "trigger_id": self._trigger(None),
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "view": current,
            "actions": [action],
        }

    def send_raw(
        self,
        body: bytes | str,
        *,
        headers: dict[str, str] | None = None,
        sign: bool = True,
        timestamp: str | None = None,
    ) -> httpx.Response:
        """Send `body` as-is, timestamped and signed (unless sign=False); `headers` go on last."""
        if self.transport != "HTTP" and (headers or not sign or timestamp is not None):
            raise ValueError(f"{self.transport} has no HTTP headers, signatures or timestamps")
        raw = body.encode("utf-8") if isinstance(body, str) else body
        return self.deliver(raw, request_headers(self._verifier, raw, sign, timestamp, headers))

    def deliver(self, raw: bytes, headers: dict[str, str]) -> httpx.Response:
        """Carry one request to the bot: here an HTTP POST; subclasses carry it otherwise."""
        return self._http.post(self.bot_url, content=raw, headers=headers)

    def opened_view(self) -> JsonDict:
        """The view the bot most recently opened or updated in the emulator."""
        if self.emulator is None:
            raise RuntimeError("opened_view() needs the simulator to be given an emulator")
        return self.emulator.last_view()

    # -- helpers -----------------------------------------------------------------------------------

    def open_app_home(self, *, user_id: str = "U0ALICE") -> httpx.Response:
        """Open the app's Home tab: Slack sends an `app_home_opened` event (JSON)."""
        event = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": "D" + user_id[1:],
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        envelope = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": self.team_id, "user_id": "UBOT", "is_bot": True}],
        }
        return self.send_raw(json.dumps(envelope), headers={"Content-Type": "application/json"})

    def _send_payload(self, payload: JsonDict) -> httpx.Response:
        """Post an interactivity payload as the single form field `payload`."""
        return self.send_raw(urlencode({"payload": json.dumps(payload)}))

    def _trigger(self, trigger_id: str | None) -> str:
        """The given trigger_id or a fresh Slack-shaped one, noted in the emulator."""
        trigger = trigger_id or f"{int(time.time())}.{next(self._counter)}.{secrets.token_hex(16)}"
        if self.emulator is not None:
            self.emulator.issue_trigger(trigger)
        return trigger

    def _hook_url(self, kind: str) -> str:
        """A unique response_url of the given kind (commands, app, actions)."""
        return f"https://hooks.slack.com/{kind}/{self.team_id}/{next(self._counter)}/{secrets.token_hex(12)}"

    def _user(self, user_id: str) -> JsonDict:
        """The `user` object of interactivity payloads."""
        name = user_id.lower()
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _known_message(self, channel_id: str, ts: str) -> JsonDict | None:
        """The emulator's copy of a message, if there is an emulator and it knows the message."""
        if self.emulator is None:
            return None
        try:
            return self.emulator.message(channel_id, ts)
        except KeyError:
            return None

    def _ensure_message(self, channel_id: str, ts: str, text: str, user: str) -> None:
        """Register a message in the emulator, since a shortcut is only used on real messages."""
        if self.emulator is not None and self._known_message(channel_id, ts) is None:
            self.emulator.add_message(channel_id, ts, text, user)


def build_state_values(view: JsonDict, values: dict[str, Any]) -> JsonDict:
    """Build `view.state.values` from {block_id: value}, with Slack's shape per element type."""
    inputs = {b.get("block_id"): b for b in view.get("blocks", []) if b.get("type") == "input"}
    if None in inputs:
        raise ValueError("an input block has no block_id; use a view returned by the emulator")
    unknown = set(values) - set(inputs)
    if unknown:
        raise ValueError(f"no input blocks with block_id {sorted(unknown)} in the view")
    state: JsonDict = {}
    for block_id, block in inputs.items():
        element = block.get("element", {})
        state[block_id] = {
            element.get("action_id"): _element_state(
                element, block_id in values, values.get(block_id)
            )
        }
    return state


def _element_state(element: JsonDict, given: bool, value: Any) -> JsonDict:
    """One element's entry in state.values; an untouched element keeps its initial value."""
    kind = str(element.get("type"))
    entry: JsonDict = {"type": kind}
    if kind in _SINGLE_OPTION:
        option = _option(element, value) if given and value is not None else None
        entry["selected_option"] = option if given else element.get("initial_option")
    elif kind in _MULTI_OPTION:
        chosen = [_option(element, v) for v in value or []] if given else None
        entry["selected_options"] = chosen if given else element.get("initial_options", [])
    elif kind in _SELECTED_KEYS:
        key, initial = _SELECTED_KEYS[kind]
        empty: Any = [] if kind.startswith("multi_") else None
        entry[key] = value if given else element.get(initial, empty)
    else:
        # Text-like inputs (plain_text_input, number_input, email/url inputs) send a string value.
        raw = value if given else element.get("initial_value")
        entry["value"] = None if raw is None else str(raw)
    return entry


def _option(element: JsonDict, value: Any) -> JsonDict:
    """The view's option with this value, or a made-up one (to forge payloads in tests)."""
    groups = element.get("option_groups") or []
    options = list(element.get("options") or []) + [o for g in groups for o in g.get("options", [])]
    for option in options:
        if option.get("value") == value:
            return copy.deepcopy(option)
    return {"text": {"type": "plain_text", "text": str(value), "emoji": True}, "value": str(value)}


def _find_button(message: JsonDict, action_id: str) -> tuple[str, JsonDict] | None:
    """The (block_id, element) of the button with `action_id` in a message's blocks."""
    for block in message.get("blocks") or []:
        candidates = [*block.get("elements", []), block.get("accessory")]
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return str(block.get("block_id", "b")), element
    return None


def _rich_text(text: str) -> JsonDict:
    """The rich_text block Slack attaches to a message a person typed."""
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return {"type": "rich_text", "block_id": secrets.token_urlsafe(4), "elements": [section]}


def request_headers(
    verifier: SignatureVerifier,
    raw: bytes,
    sign: bool = True,
    timestamp: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers Slack sends with `raw`: timestamped, signed unless told not to, then `extra`."""
    stamp = timestamp if timestamp is not None else str(int(time.time()))
    # The timestamp goes out even unsigned, so a test isolates the signature check.
    sent = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp}
    if sign:
        sent["X-Slack-Signature"] = verifier.generate_signature(timestamp=stamp, body=raw) or ""
    sent.update(extra or {})
    return sent
