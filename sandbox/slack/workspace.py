"""The emulated Slack workspace: its state and the Web API methods that act on it."""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.slack.limits import MESSAGE_TEXT_MAX, Findings, check_message_blocks, check_view

JsonDict = dict[str, Any]

WORKSPACE_URL = "https://hypercare-test.slack.com/"
APP_ID = "A0HYPER"
BOT_ID = "B0HYPER"
# Methods called with the app-level token (xapp-…) instead of the bot token.
APP_LEVEL_METHODS = frozenset({"apps.connections.open"})
# Slack lets a trigger_id be exchanged within 3 seconds of the interaction (protocols.md A3).
TRIGGER_TTL_SECONDS = 3.0
# A modal stack holds at most three views; views.push beyond that fails.
_VIEW_STACK_MAX = 3
# The first generated message ts is 1700000000.000100; later ones grow by 100 microseconds.
_TS_BASE_MICROS = 1_700_000_000_000_000


def json_copy(value: Any) -> Any:
    """A deep copy of JSON data (what Slack's calls carry), several times faster than
    `copy.deepcopy`: the emulator copies every message and answer, and in the benchmarks it
    shares the bot's process."""
    return json.loads(json.dumps(value))


def error(code: str, **extra: Any) -> JsonDict:
    """Build a Slack-style error answer."""
    return {"ok": False, "error": code, **extra}


def _invalid_blocks(errors: list[str], code: str = "invalid_blocks") -> JsonDict:
    """The answer Slack gives for blocks that break Block Kit rules."""
    messages = [f"[ERROR] {e}" for e in errors]
    return error(code, errors=errors, response_metadata={"messages": messages})


def _truthy(value: Any) -> bool:
    """Read a boolean argument that may arrive as a form string."""
    return value in (True, 1, "1", "true", "True")


def _has_content(args: JsonDict) -> bool:
    """Tell whether a message call carries text, blocks or attachments."""
    return any(args.get(key) not in (None, "", []) for key in ("text", "blocks", "attachments"))


def _fill_ids(blocks: Any) -> None:
    """Give blocks and interactive elements without ids generated ones, as Slack does."""
    if not isinstance(blocks, list):
        return
    for block in blocks:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", secrets.token_urlsafe(4))
        if block.get("type") not in ("input", "actions", "section"):
            continue
        elements = [block.get("element"), block.get("accessory"), *block.get("elements", [])]
        for element in elements:
            if isinstance(element, dict) and element.get("type") not in (None, "image"):
                element.setdefault("action_id", secrets.token_urlsafe(4))


class Workspace:
    """Channels, users, messages and views of one fake workspace; not thread-safe by itself."""

    def __init__(self, team_id: str, bot_user_id: str) -> None:
        """Start with an empty workspace."""
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.channels: dict[str, JsonDict] = {}
        self.users: dict[str, JsonDict] = {}
        self.dms: dict[str, str] = {}  # DM channel id -> user id
        self.messages: dict[str, list[JsonDict]] = {}  # channel id -> messages in posting order
        self.ephemerals: list[JsonDict] = []
        self.views: dict[str, JsonDict] = {}
        self.homes: dict[str, str] = {}  # user id -> the view id of their Home tab
        self.last_view_id: str | None = None
        self._seen_ts: set[str] = set()
        self._ts_counter = 0
        self._view_counter = 0
        self._triggers_issued: dict[str, float] = {}
        self._triggers_used: set[str] = set()
        self.methods: dict[str, Callable[[JsonDict], JsonDict]] = {
            "auth.test": self.auth_test,
            "views.open": self.views_open,
            "views.push": self.views_push,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
            "chat.postMessage": self.chat_post_message,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.update": self.chat_update,
            "chat.getPermalink": self.chat_get_permalink,
            "conversations.info": self.conversations_info,
            "conversations.open": self.conversations_open,
            "conversations.history": self.conversations_history,
            "users.info": self.users_info,
            "users.lookupByEmail": self.users_lookup_by_email,
        }

    # -- registries --------------------------------------------------------------------------------

    def add_channel(self, channel_id: str, name: str, is_member: bool) -> None:
        """Register a public channel."""
        self.channels[channel_id] = {
            "id": channel_id,
            "name": name,
            "is_channel": True,
            "is_private": False,
            "is_im": False,
            "is_archived": False,
            "is_member": is_member,
        }

    def add_user(self, user_id: str, name: str, email: str | None, deleted: bool, tz: str) -> None:
        """Register a user with a users.info-shaped record."""
        offset = datetime.now(ZoneInfo(tz)).utcoffset()
        profile: JsonDict = {"real_name": name, "display_name": name}
        if email is not None:
            profile["email"] = email
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": name,
            "deleted": deleted,
            "is_bot": False,
            "tz": tz,
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "profile": profile,
        }

    def issue_trigger(self, trigger_id: str) -> None:
        """Note when a trigger_id was handed to the bot, so late use can expire it."""
        self._triggers_issued[trigger_id] = time.monotonic()

    def resolve_channel(self, channel: str) -> str:
        """Map a user id to its DM channel and a `#name` to the registered channel id."""
        if channel[:1] in ("U", "W"):
            return "D" + channel[1:]
        name = channel.removeprefix("#")
        for known in self.channels.values():
            if known["name"] == name:
                return str(known["id"])
        return channel

    def _dm_refused(self, target: str) -> JsonDict | None:
        """A DM to a deactivated user fails as on Slack; unregistered users are let through."""
        user = self.users.get(target)
        if user is not None and user["deleted"]:
            return error("user_disabled")
        return None

    def next_ts(self) -> str:
        """A fresh message ts, unique and greater than every ts generated before."""
        while True:
            self._ts_counter += 100
            micros = _TS_BASE_MICROS + self._ts_counter
            ts = f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
            if ts not in self._seen_ts:
                self._seen_ts.add(ts)
                return ts

    def store_message(self, channel: str, message: JsonDict) -> None:
        """Append a message to its channel and mark its thread parent as having replies."""
        self._seen_ts.add(message["ts"])
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            parent = self.find_message(channel, thread_ts)
            if parent is not None:
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = message["ts"]
        self.messages.setdefault(channel, []).append(message)

    def find_message(self, channel: str, ts: str) -> JsonDict | None:
        """The stored message with this ts in this channel, if any."""
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    # -- auth, users, conversations ----------------------------------------------------------------

    def auth_test(self, args: JsonDict) -> JsonDict:
        """auth.test: who the token belongs to."""
        return {
            "ok": True,
            "url": WORKSPACE_URL,
            "team": "Hypercare Test",
            "user": "hypercare",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def users_info(self, args: JsonDict) -> JsonDict:
        """users.info: a registered user, deleted ones included."""
        user = self.users.get(str(args.get("user", "")))
        return {"ok": True, "user": copy.deepcopy(user)} if user else error("user_not_found")

    def users_lookup_by_email(self, args: JsonDict) -> JsonDict:
        """users.lookupByEmail: deactivated users are not found, as on Slack."""
        email = str(args.get("email", "")).lower()
        for user in self.users.values():
            if not user["deleted"] and str(user["profile"].get("email", "")).lower() == email:
                return {"ok": True, "user": copy.deepcopy(user)}
        return error("users_not_found")

    def conversations_info(self, args: JsonDict) -> JsonDict:
        """conversations.info: registered channels and DMs the bot has opened."""
        channel = str(args.get("channel", ""))
        if channel in self.channels:
            return {"ok": True, "channel": copy.deepcopy(self.channels[channel])}
        if channel in self.dms:
            return {
                "ok": True,
                "channel": {"id": channel, "is_im": True, "user": self.dms[channel]},
            }
        return error("channel_not_found")

    def conversations_history(self, args: JsonDict) -> JsonDict:
        """conversations.history: a channel's messages, newest first, without thread replies;
        message metadata only with `include_all_metadata`, as on Slack."""
        channel = str(args.get("channel") or "")
        if channel not in self.channels and channel not in self.dms:
            return error("channel_not_found")
        try:
            limit = max(1, min(int(args.get("limit") or 100), 999))
        except (TypeError, ValueError):
            return error("invalid_limit")
        top = [
            m
            for m in self.messages.get(channel, [])
            if not m.get("thread_ts") or m["thread_ts"] == m["ts"]
        ]
        newest = sorted(top, key=lambda m: float(m["ts"]), reverse=True)[:limit]
        shown = copy.deepcopy(newest)
        if not _truthy(args.get("include_all_metadata")):
            for message in shown:
                message.pop("metadata", None)
        return {"ok": True, "messages": shown, "has_more": len(top) > limit}

    def conversations_open(self, args: JsonDict) -> JsonDict:
        """conversations.open: a D-channel for one user, a G-channel for several."""
        raw = args.get("users") or ""
        users = [u.strip() for u in (raw.split(",") if isinstance(raw, str) else raw) if u.strip()]
        if not users:
            return error("users_list_not_supplied")
        if len(users) == 1:
            if (refused := self._dm_refused(users[0])) is not None:
                return refused
            dm = self.resolve_channel(users[0])
            already = dm in self.dms
            self.dms[dm] = users[0]
            return {"ok": True, "already_open": already, "channel": {"id": dm}}
        digest = hashlib.sha1(",".join(sorted(users)).encode()).hexdigest()[:9].upper()
        return {"ok": True, "channel": {"id": f"G{digest}"}}

    # -- messages ----------------------------------------------------------------------------------

    def _message_problem(self, args: JsonDict) -> JsonDict | None:
        """Check the content of a message call; returns the error answer if any."""
        if not _has_content(args):
            return error("no_text")
        text = args.get("text")
        if isinstance(text, str) and len(text) > MESSAGE_TEXT_MAX:
            return error("msg_too_long")
        if args.get("blocks") is not None:
            findings = check_message_blocks(args["blocks"])
            if findings.errors:
                return _invalid_blocks(findings.errors)
        return None

    def _bot_message(self, args: JsonDict, ts: str) -> JsonDict:
        """The message object Slack returns for a message the bot posted."""
        message: JsonDict = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": self.team_id,
            "text": args.get("text") or "",
            "ts": ts,
        }
        if args.get("blocks") is not None:
            message["blocks"] = json_copy(args["blocks"])
            _fill_ids(message["blocks"])
        if isinstance(args.get("metadata"), dict):  # kept, and shown by history when asked
            message["metadata"] = json_copy(args["metadata"])
        return message

    def chat_post_message(self, args: JsonDict) -> JsonDict:
        """chat.postMessage: to a channel, a thread, or a user (which opens a DM)."""
        if not args.get("channel"):
            return error("channel_not_found")
        if (refused := self._dm_refused(str(args["channel"]))) is not None:
            return refused
        channel = self.resolve_channel(str(args["channel"]))
        if channel != args["channel"] and channel.startswith("D"):
            self.dms[channel] = str(args["channel"])
        known = self.channels.get(channel)
        if known is not None and not known["is_member"]:
            return error("not_in_channel")
        problem = self._message_problem(args)
        if problem is not None:
            return problem
        message = self._bot_message(args, self.next_ts())
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
            if _truthy(args.get("reply_broadcast")):
                message["subtype"] = "thread_broadcast"
        self.store_message(channel, message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def chat_post_ephemeral(self, args: JsonDict) -> JsonDict:
        """chat.postEphemeral: visible to one user in one channel."""
        if not args.get("channel"):
            return error("channel_not_found")
        if not args.get("user"):
            return error("user_not_found")
        problem = self._message_problem(args)
        if problem is not None:
            return problem
        ts = self.next_ts()
        ephemeral = {
            "channel": str(args["channel"]),
            "user": str(args["user"]),
            "ts": ts,
            "text": args.get("text") or "",
            "blocks": json_copy(args.get("blocks")),
            "thread_ts": args.get("thread_ts"),
        }
        self.ephemerals.append(ephemeral)
        return {"ok": True, "message_ts": ts}

    def chat_update(self, args: JsonDict) -> JsonDict:
        """chat.update: only messages the bot posted; omitted blocks are kept, as on Slack."""
        if not args.get("channel"):
            return error("channel_not_found")
        channel, ts = str(args["channel"]), str(args.get("ts") or "")
        message = self.find_message(channel, ts)
        if message is None:
            return error("message_not_found")
        if message.get("user") != self.bot_user_id:
            return error("cant_update_message")
        problem = self._message_problem(args)
        if problem is not None:
            return problem
        if "text" in args:
            message["text"] = args["text"] or ""
        if args.get("blocks") is not None:
            message["blocks"] = json_copy(args["blocks"])
            _fill_ids(message["blocks"])
        message["edited"] = {"user": self.bot_user_id, "ts": self.next_ts()}
        answer = {"channel": channel, "ts": ts, "text": message["text"]}
        return {"ok": True, **answer, "message": json_copy(message)}

    def chat_get_permalink(self, args: JsonDict) -> JsonDict:
        """chat.getPermalink: for messages the emulator has seen; thread replies get thread_ts."""
        channel, ts = str(args.get("channel") or ""), str(args.get("message_ts") or "")
        if not channel or (channel not in self.channels and channel not in self.messages):
            return error("channel_not_found")
        message = self.find_message(channel, ts)
        if message is None:
            return error("message_not_found")
        link = f"{WORKSPACE_URL}archives/{channel}/p{ts.replace('.', '')}"
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": link}

    # -- views -------------------------------------------------------------------------------------

    def _trigger_problem(self, args: JsonDict) -> JsonDict | None:
        """Check the trigger_id of views.open/push: present, fresh and not used before."""
        trigger = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger:
            return error("invalid_arguments")
        if trigger in self._triggers_used:
            return error("exchanged_trigger_id")
        issued = self._triggers_issued.get(str(trigger))
        if issued is not None and time.monotonic() - issued > TRIGGER_TTL_SECONDS:
            return error("expired_trigger_id")
        return None

    def _view_problem(self, view: Any, own_id: str | None = None) -> JsonDict | None:
        """Check a view against Block Kit rules and external_id uniqueness."""
        if not isinstance(view, dict):
            return error("invalid_arguments")
        findings: Findings = check_view(view)
        if findings.duplicate_block_ids:
            ids = [f"duplicate block_id {b!r}" for b in findings.duplicate_block_ids]
            return _invalid_blocks(ids, code="duplicate_block_id")
        if findings.errors:
            return _invalid_blocks(findings.errors)
        external_id = view.get("external_id")
        if external_id and any(
            v["external_id"] == external_id and v["id"] != own_id for v in self.views.values()
        ):
            return error("duplicate_external_id")
        return None

    def _store_view(
        self, view: JsonDict, view_id: str, previous: str | None, root: str
    ) -> JsonDict:
        """Build the full view object Slack returns, store it and make it the last view."""
        blocks = copy.deepcopy(view.get("blocks", []))
        _fill_ids(blocks)
        full: JsonDict = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view.get("type"),
            "blocks": blocks,
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": copy.deepcopy(view.get("title")),
            "clear_on_close": _truthy(view.get("clear_on_close", False)),
            "notify_on_close": _truthy(view.get("notify_on_close", False)),
            "close": copy.deepcopy(view.get("close")),
            "submit": copy.deepcopy(view.get("submit")),
            "previous_view_id": previous,
            "root_view_id": root,
            "app_id": APP_ID,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": BOT_ID,
        }
        self.views[view_id] = full
        self.last_view_id = view_id
        return {"ok": True, "view": copy.deepcopy(full)}

    def _new_view_id(self) -> str:
        """A fresh view id shaped like Slack's."""
        self._view_counter += 1
        return f"V{self._view_counter:010X}"

    def views_open(self, args: JsonDict) -> JsonDict:
        """views.open: needs a fresh trigger_id and a valid view."""
        if "view" not in args:
            return error("invalid_arguments")
        problem = self._trigger_problem(args) or self._view_problem(args["view"])
        if problem is not None:
            return problem
        self._triggers_used.add(str(args.get("trigger_id") or args.get("interactivity_pointer")))
        view_id = self._new_view_id()
        return self._store_view(args["view"], view_id, previous=None, root=view_id)

    def views_push(self, args: JsonDict) -> JsonDict:
        """views.push: stacks a view on the most recent one (at most three deep)."""
        if "view" not in args:
            return error("invalid_arguments")
        problem = self._trigger_problem(args) or self._view_problem(args["view"])
        if problem is not None:
            return problem
        if self.last_view_id is None:
            return error("not_found")
        depth, cursor = 0, self.views.get(self.last_view_id)
        while cursor is not None:
            depth += 1
            cursor = self.views.get(cursor["previous_view_id"] or "")
        if depth >= _VIEW_STACK_MAX:
            return error("push_limit_reached")
        self._triggers_used.add(str(args.get("trigger_id") or args.get("interactivity_pointer")))
        top = self.views[self.last_view_id]
        view_id = self._new_view_id()
        return self._store_view(args["view"], view_id, previous=top["id"], root=top["root_view_id"])

    def views_publish(self, args: JsonDict) -> JsonDict:
        """views.publish: a user's Home tab (no trigger needed); replaces the previous one."""
        user, view = args.get("user_id"), args.get("view")
        if not user or not isinstance(view, dict):
            return error("invalid_arguments")
        if view.get("type") != "home":
            return error("invalid_arguments")
        problem = self._view_problem(view, own_id=self.homes.get(str(user)))
        if problem is not None:
            return problem
        view_id = self.homes.get(str(user)) or self._new_view_id()
        self.homes[str(user)] = view_id
        return self._store_view(view, view_id, previous=None, root=view_id)

    def views_update(self, args: JsonDict) -> JsonDict:
        """views.update: by view_id or external_id; a given hash must be the current one."""
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if "view" not in args or not (view_id or external_id):
            return error("invalid_arguments")
        current = self.views.get(str(view_id)) if view_id else None
        if current is None and external_id:
            current = next(
                (v for v in self.views.values() if v["external_id"] == external_id), None
            )
        if current is None:
            return error("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            return error("hash_conflict")
        problem = self._view_problem(args["view"], own_id=current["id"])
        if problem is not None:
            return problem
        view = dict(args["view"])
        # An update that omits external_id keeps the one the view already has.
        view.setdefault("external_id", current["external_id"])
        previous, root = current["previous_view_id"], current["root_view_id"]
        return self._store_view(view, current["id"], previous=previous, root=root)
