"""Pure translation between Slack payloads and domain drafts: no I/O, no Bolt."""

from __future__ import annotations

import re
from typing import Any

from bot.domain import FeedbackDraft, Field, SourceMessage, UsersAffected
from bot.feedback.service import clean_summary, summary_from_text
from bot.slack.blocks.feedback import ModalPrefill, source_from_metadata
from bot.slack.blocks.intake import chosen_same_as
from bot.slack.ids import SAME_AS_BLOCK, SUGGESTION_BLOCK, Action, block_id

HELP_WORDS = {"help", "?", "-h", "--help"}
# A feedback id (HC-42) or a Jira key (HYP-7): what `/hypercare ticket` takes.
_REFERENCE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}-\d{1,9}$")


def is_help(text: str) -> bool:
    """Tell whether the slash command asks for help."""
    return text.strip().lower() in HELP_WORDS


def ticket_reference(text: str) -> str | None:
    """Return X from `ticket X` when X looks like an id; other text is a summary."""
    words = text.split()
    if len(words) == 2 and words[0].lower() == "ticket" and _REFERENCE.match(words[1]):
        return words[1].upper()
    return None


def escalate_reference(text: str) -> str | None:
    """Return X from `escalate X` when X looks like an id."""
    words = text.split()
    if len(words) == 2 and words[0].lower() == "escalate" and _REFERENCE.match(words[1]):
        return words[1].upper()
    return None


def override_text(text: str) -> str | None:
    """Return what follows `override` when a person is named next; other text is a summary."""
    words = text.split()
    if len(words) >= 2 and words[0].lower() == "override" and words[1].startswith(("<@", "@")):
        return text.strip()[len(words[0]) :].strip()
    return None


def _digits(value: str) -> bool:
    """Tell whether a value is a plain id: 1 to 11 ASCII digits ("²".isdigit() is true too)."""
    return value.isascii() and value.isdigit() and len(value) < 12


def numeric_id(action: dict[str, Any]) -> int | None:
    """Read the id (feedback or alert) a button carries; None when the value is not one."""
    value = str(action.get("value") or "")
    return int(value) if _digits(value) else None


_MARKUP = re.compile(r"<([@#!])?([^<>|]*)(?:\|([^<>]*))?>")


def plain_command_text(text: str) -> str:
    """Read escaped command text as a person typed it: `<@U1|ana>` is `@ana`, `&amp;` is `&`."""

    def readable(match: re.Match[str]) -> str:
        sigil, target, label = match.groups()
        if sigil in ("@", "#"):
            return sigil + (label or target)
        if sigil == "!":
            return "@" + (label or target.split("^")[0])
        return label or target

    plain = _MARKUP.sub(readable, text)
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def prefill_from_command(command: dict[str, Any], default_channel: str) -> ModalPrefill:
    """Start the modal from `/hypercare <text>`: the text becomes the summary."""
    text = plain_command_text(command.get("text") or "")
    return ModalPrefill(channel_id=default_channel, summary=summary_from_text(text))


def prefill_from_message(
    shortcut: dict[str, Any], default_channel: str, permalink: str | None
) -> ModalPrefill:
    """Start the modal from a message shortcut: keep its text, author, channel and link."""
    message = shortcut.get("message") or {}
    text = str(message.get("text") or "")
    source = SourceMessage(
        channel_id=str((shortcut.get("channel") or {}).get("id") or ""),
        ts=str(message.get("ts") or shortcut.get("message_ts") or ""),
        author_id=message.get("user") or None,
        text=text,
        permalink=permalink,
    )
    return ModalPrefill(
        channel_id=default_channel, summary=summary_from_text(text), actual=text, source=source
    )


def _mapping(value: object) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one: a payload of another shape reads as
    empty fields (which validation then names), never as a crash."""
    return value if isinstance(value, dict) else {}


def _state_values(view: dict[str, Any]) -> dict[str, Any]:
    """A view's `state.values`, empty when missing or not an object."""
    return _mapping(_mapping(view.get("state")).get("values"))


def _value(values: dict[str, Any], field: Field) -> str:
    """Read one input's value whatever its element type; '' when empty or malformed."""
    state = _mapping(values.get(block_id(field))).get(Action.INPUT)
    if not isinstance(state, dict):
        return ""
    kind = state.get("type")
    if kind == "static_select":
        option = state.get("selected_option") or {}
        return str(option.get("value") or "") if isinstance(option, dict) else ""
    if kind == "conversations_select":
        return str(state.get("selected_conversation") or "")
    value = state.get("value")
    return value if isinstance(value, str) else ""


LookupText = tuple[str, str, str | None, str | None, str | None, str | None]


def lookup_from_view(view: dict[str, Any]) -> LookupText:
    """What the similar-report lookup reads of an open form: summary, what happened,
    component, endpoint, category and severity (as filled in so far)."""
    values = _state_values(view)
    return (
        clean_summary(_value(values, Field.SUMMARY)),
        _value(values, Field.ACTUAL).strip(),
        _value(values, Field.COMPONENT) or None,
        _value(values, Field.API_ENDPOINT).strip() or None,
        _value(values, Field.CATEGORY) or None,
        _value(values, Field.SEVERITY) or None,
    )


def _known_shown(view: dict[str, Any]) -> int | None:
    """The first known issue the form's suggestions showed (its workaround was in sight)."""
    blocks = view.get("blocks")
    for block in blocks if isinstance(blocks, list) else []:
        match = _KNOWN_BLOCK.match(str(_mapping(block).get("block_id") or ""))
        if match:
            return int(match.group(1))
    return None


_KNOWN_BLOCK = re.compile(rf"^{SUGGESTION_BLOCK}-(\d{{1,11}})-known$")


def same_as(view: dict[str, Any]) -> int | None:
    """The suggestion the reporter chose in "Is it one of these?", if any."""
    return chosen_same_as(_state_values(view))


def same_as_block(view: dict[str, Any]) -> str:
    """The block id of the form's "Is it one of these?" choice (where its error goes)."""
    values = _state_values(view)
    return next((str(k) for k in values if str(k).startswith(SAME_AS_BLOCK)), SAME_AS_BLOCK)


def draft_from_view(view: dict[str, Any], reporter_id: str) -> FeedbackDraft:
    """Turn a submitted feedback modal into a draft."""
    values = _state_values(view)
    users = _value(values, Field.USERS_AFFECTED)
    try:
        source = source_from_metadata(str(view.get("private_metadata") or ""))
    except (ValueError, RecursionError):
        source = None  # metadata we did not write; report without a source rather than fail
    return FeedbackDraft(
        summary=clean_summary(_value(values, Field.SUMMARY)),
        category=_value(values, Field.CATEGORY),
        severity=_value(values, Field.SEVERITY),
        component=_value(values, Field.COMPONENT),
        environment=_value(values, Field.ENVIRONMENT),
        trying=_value(values, Field.TRYING).strip(),
        expected=_value(values, Field.EXPECTED).strip(),
        actual=_value(values, Field.ACTUAL).strip(),
        api_endpoint=_value(values, Field.API_ENDPOINT).strip() or None,
        correlation_id=_value(values, Field.CORRELATION_ID).strip() or None,
        users_affected=UsersAffected(users) if users in UsersAffected._value2member_map_ else None,
        channel_id=_value(values, Field.CHANNEL),
        reporter_id=reporter_id,
        # One feedback per modal: Slack keeps the view id across double clicks and retries.
        submission_key=f"view:{view.get('id')}",
        source=source,
        known_match_id=_known_shown(view),
    )


SILENCE_CHOICES = {"1h", "4h", "tomorrow"}


def silence_from_view(view: dict[str, Any]) -> tuple[str, str, int | None]:
    """Read (duration choice, reason, alert id) from a submitted silence modal."""
    values = _state_values(view)
    duration = _mapping(_mapping(values.get("duration")).get(Action.INPUT)).get("selected_option")
    choice = str((duration or {}).get("value") or "") if isinstance(duration, dict) else ""
    reason = _mapping(_mapping(values.get("reason")).get(Action.INPUT)).get("value")
    metadata = str(view.get("private_metadata") or "")
    alert_id = int(metadata) if _digits(metadata) else None
    return choice, reason.strip() if isinstance(reason, str) else "", alert_id


def silence_problems(choice: str, reason: str, is_lead: bool) -> dict[str, str]:
    """What is wrong with a silence request, by input block."""
    problems = {}
    if not is_lead:
        problems["reason"] = "Only hypercare leads can silence alerts."
    elif not reason:
        problems["reason"] = "Please say why (it is shown in the alert's thread)."
    elif len(reason) > 300:
        problems["reason"] = "Please keep the reason under 300 characters."
    if choice not in SILENCE_CHOICES:
        problems["duration"] = "Please pick one of the durations."
    return problems


def block_errors(problems: dict[Field, str]) -> dict[str, str]:
    """Key validation problems by the input block that shows them."""
    return {block_id(field): message for field, message in problems.items()}


_REF = r"[A-Za-z][A-Za-z0-9_]{0,19}-\d{1,9}"
_KNOWN_DONE = re.compile(rf"^known\s+(?:done|retire)\s+({_REF})\s*$", re.IGNORECASE)
_KNOWN_MARK = re.compile(rf"^known\s+({_REF})\s+(.+)$", re.IGNORECASE | re.DOTALL)
_MERGE = re.compile(rf"^merge\s+({_REF})\s+into\s+({_REF})\s*$", re.IGNORECASE)


def known_command(text: str) -> tuple[str, str | None] | None:
    """`known HC-42 <workaround>` → (HC-42, workaround); `known done HC-42` → (HC-42, None);
    anything else (`known` alone lists) → None."""
    stripped = text.strip()
    if done := _KNOWN_DONE.match(stripped):
        return done.group(1).upper(), None
    if mark := _KNOWN_MARK.match(stripped):
        return mark.group(1).upper(), plain_command_text(mark.group(2)).strip()
    return None


def is_known_list(text: str) -> bool:
    """Tell whether the command asks for the list of known issues."""
    return text.strip().lower() == "known"


def merge_command(text: str) -> tuple[str, str] | None:
    """`merge HC-12 into HC-9` → (HC-12, HC-9)."""
    match = _MERGE.match(text.strip())
    return (match.group(1).upper(), match.group(2).upper()) if match else None


def text_input(view: dict[str, Any], block: str) -> str:
    """A plain text input's value in a submitted view ('' when empty)."""
    values = _state_values(view)
    state = _mapping(values.get(block)).get(Action.INPUT)
    value = state.get("value") if isinstance(state, dict) else None
    return value.strip() if isinstance(value, str) else ""


def metadata_id(view: dict[str, Any]) -> int | None:
    """The item id a lead's modal carries in its private_metadata."""
    metadata = str(view.get("private_metadata") or "")
    return int(metadata) if _digits(metadata) else None


_ASSIGN = re.compile(r"^assign(?:\s+(\S+))?(?:\s+<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>)?\s*$", re.I)
_POSTMORTEM = re.compile(r"^post-?mortem(?:\s+(\S+))?\s*$", re.I)


def assign_command(text: str) -> tuple[str, str | None] | None:
    """`assign HC-42 <@U1|ana>` → (HC-42, U1); a malformed one → (what was given, None)."""
    stripped = text.strip()
    if not stripped.lower().startswith("assign") or stripped[6:7] not in ("", " ", "\t"):
        return None
    match = _ASSIGN.match(stripped)
    if match is None or not match.group(1) or not match.group(2):
        return (match.group(1) or "" if match else ""), None
    return match.group(1).upper(), match.group(2)


def postmortem_command(text: str) -> str | None:
    """`postmortem HC-42` → HC-42 ('' when the id is missing); None for other text."""
    match = _POSTMORTEM.match(text.strip())
    return (match.group(1) or "").upper() if match else None


def select_input(view: dict[str, Any], block: str) -> str:
    """A static select's chosen value in a submitted view ('' when none)."""
    values = (view.get("state") or {}).get("values") or {}
    state = (values.get(block) or {}).get(Action.INPUT)
    option = state.get("selected_option") if isinstance(state, dict) else None
    return str(option.get("value") or "") if isinstance(option, dict) else ""


_LESSON = re.compile(r"^lesson(?:\s+(.*))?$", re.IGNORECASE | re.DOTALL)


def lesson_command(text: str) -> str | None:
    """`lesson <text>` → the text as typed ('' for `lesson` alone); None for other text."""
    match = _LESSON.match(text.strip())
    return plain_command_text(match.group(1) or "").strip() if match else None


def is_lessons_list(text: str) -> bool:
    """Tell whether the command asks for the list of lessons learned."""
    return text.strip().lower() == "lessons"


EXIT_REPORT_WORDS = {"exit-report", "exit report"}


def is_exit_report(text: str) -> bool:
    """Tell whether the command asks for the closing report (`exit-report`)."""
    return " ".join(text.lower().split()) in EXIT_REPORT_WORDS
