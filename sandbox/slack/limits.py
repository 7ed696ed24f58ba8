"""Block Kit limit checks the Slack emulator applies to what the bot sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Limits from Slack's Block Kit reference, as encoded by slack_sdk's models (protocols.md A6).
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
MESSAGE_TEXT_MAX = 40_000
_ID_MAX = 255
_SECTION_TEXT_MAX = 3000
_SECTION_FIELDS_MAX = 10
_SECTION_FIELD_TEXT_MAX = 2000
_HEADER_TEXT_MAX = 150
_ACTIONS_ELEMENTS_MAX = 25
_CONTEXT_ELEMENTS_MAX = 10
_INPUT_LABEL_MAX = 2000
_MODAL_BUTTON_TEXT_MAX = 24
_PRIVATE_METADATA_MAX = 3000
_BUTTON_TEXT_MAX = 75
_BUTTON_VALUE_MAX = 2000
_URL_MAX = 3000
_PLACEHOLDER_MAX = 150
_SELECT_OPTIONS_MAX = 100
_OVERFLOW_OPTIONS_MAX = 5
_CHOICE_OPTIONS_MAX = 10
_OPTION_TEXT_MAX = 75
_OPTION_VALUE_MAX = 150
_TEXT_INPUT_LENGTH_MAX = 3000
_MARKDOWN_BLOCK_MAX = 12_000

_SELECTS_WITH_OPTIONS = {"static_select", "multi_static_select"}
_CHOICE_ELEMENTS = {"checkboxes", "radio_buttons"}


@dataclass
class Findings:
    """Violations found in one payload: Slack-style messages plus repeated block_ids."""

    errors: list[str] = field(default_factory=list)
    duplicate_block_ids: list[str] = field(default_factory=list)

    def fail(self, message: str, pointer: str) -> None:
        """Record one violation in Slack's `message [json-pointer:/path]` format."""
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    def max_len(self, value: Any, limit: int, pointer: str) -> None:
        """Record a string longer than `limit` characters."""
        if isinstance(value, str) and len(value) > limit:
            self.fail(f"must be less than {limit + 1} characters", pointer)

    def max_items(self, value: Any, limit: int, pointer: str) -> None:
        """Record a list with more than `limit` items."""
        if isinstance(value, list) and len(value) > limit:
            self.fail(f"must be less than {limit + 1} items", pointer)

    def text(self, obj: Any, limit: int, pointer: str, *, plain: bool = False) -> None:
        """Check a text object's type and length (emptiness is checked by the generic scan)."""
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            self.fail("must be a text object", pointer)
            return
        if plain and obj.get("type") != "plain_text":
            self.fail("must be a valid enum value", f"{pointer}/type")
        self.max_len(obj["text"], limit, f"{pointer}/text")


def check_message_blocks(blocks: Any) -> Findings:
    """Check the `blocks` of a chat.postMessage/postEphemeral/update call."""
    findings = Findings()
    _check_blocks(findings, blocks, "/blocks", surface="message")
    # Slack answers invalid_blocks for a repeated block_id in a message as well.
    for block_id in findings.duplicate_block_ids:
        findings.errors.append(f"duplicate block_id {block_id!r} [json-pointer:/blocks]")
    return findings


def check_view(view: Any) -> Findings:
    """Check a view given to views.open/update/push."""
    findings = Findings()
    if not isinstance(view, dict):
        findings.fail("must be an object", "/view")
        return findings
    kind = view.get("type")
    if kind not in ("modal", "home"):
        findings.fail("must be a valid enum value", "/view/type")
    if kind == "modal":
        if "title" not in view:
            findings.fail("missing required field: title", "/view")
        else:
            findings.text(view["title"], _MODAL_BUTTON_TEXT_MAX, "/view/title", plain=True)
        for key in ("submit", "close"):
            if view.get(key) is not None:
                findings.text(view[key], _MODAL_BUTTON_TEXT_MAX, f"/view/{key}", plain=True)
        blocks = view.get("blocks")
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        # Slack refuses a modal with input blocks but nothing to submit them with.
        if has_input and view.get("submit") is None:
            findings.fail("submit is required when an input block is within the blocks", "/view")
    findings.max_len(view.get("private_metadata"), _PRIVATE_METADATA_MAX, "/view/private_metadata")
    findings.max_len(view.get("callback_id"), _ID_MAX, "/view/callback_id")
    findings.max_len(view.get("external_id"), _ID_MAX, "/view/external_id")
    if "blocks" not in view:
        findings.fail("missing required field: blocks", "/view")
    else:
        _check_blocks(findings, view["blocks"], "/view/blocks", surface="view")
    _scan_empty_text(findings, view, "/view")
    return findings


def _check_blocks(findings: Findings, blocks: Any, pointer: str, *, surface: str) -> None:
    """Check a blocks array for one surface ("message" or "view")."""
    if not isinstance(blocks, list):
        findings.fail("must be an array", pointer)
        return
    findings.max_items(
        blocks, MESSAGE_BLOCKS_MAX if surface == "message" else VIEW_BLOCKS_MAX, pointer
    )
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        at = f"{pointer}/{index}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            findings.fail("missing required field: type", at)
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            findings.max_len(block_id, _ID_MAX, f"{at}/block_id")
            if block_id in seen:
                findings.duplicate_block_ids.append(str(block_id))
            seen.add(str(block_id))
        _check_block(findings, block, at, surface=surface)
    if surface == "message":
        _scan_empty_text(findings, blocks, pointer)


def _check_block(findings: Findings, block: dict[str, Any], at: str, *, surface: str) -> None:
    """Check the type-specific limits of one block."""
    kind = block["type"]
    if kind == "section":
        if "text" not in block and "fields" not in block:
            findings.fail("must provide either text or fields", at)
        if "text" in block:
            findings.text(block["text"], _SECTION_TEXT_MAX, f"{at}/text")
        fields = block.get("fields")
        if fields is not None:
            findings.max_items(fields, _SECTION_FIELDS_MAX, f"{at}/fields")
            for i, item in enumerate(fields if isinstance(fields, list) else []):
                findings.text(item, _SECTION_FIELD_TEXT_MAX, f"{at}/fields/{i}")
        if isinstance(block.get("accessory"), dict):
            _check_element(findings, block["accessory"], f"{at}/accessory")
    elif kind == "header":
        findings.text(block.get("text"), _HEADER_TEXT_MAX, f"{at}/text", plain=True)
    elif kind in ("actions", "context"):
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            findings.fail("must provide at least one element", f"{at}/elements")
            return
        limit = _ACTIONS_ELEMENTS_MAX if kind == "actions" else _CONTEXT_ELEMENTS_MAX
        findings.max_items(elements, limit, f"{at}/elements")
        for i, element in enumerate(elements):
            if isinstance(element, dict) and kind == "actions":
                _check_element(findings, element, f"{at}/elements/{i}")
    elif kind == "input":
        if surface == "message":
            # The bot must not put input blocks in messages (python-slack-sdk#1257).
            findings.fail("input blocks are not allowed in messages", f"{at}/type")
        findings.text(block.get("label"), _INPUT_LABEL_MAX, f"{at}/label", plain=True)
        if block.get("hint") is not None:
            findings.text(block["hint"], _INPUT_LABEL_MAX, f"{at}/hint", plain=True)
        if not isinstance(block.get("element"), dict):
            findings.fail("missing required field: element", at)
        else:
            _check_element(findings, block["element"], f"{at}/element")
    elif kind == "markdown":
        findings.max_len(block.get("text"), _MARKDOWN_BLOCK_MAX, f"{at}/text")


def _check_element(findings: Findings, element: dict[str, Any], at: str) -> None:
    """Check the limits of one interactive element."""
    kind = element.get("type")
    findings.max_len(element.get("action_id"), _ID_MAX, f"{at}/action_id")
    if element.get("placeholder") is not None:
        findings.text(element["placeholder"], _PLACEHOLDER_MAX, f"{at}/placeholder", plain=True)
    if kind == "button":
        findings.text(element.get("text"), _BUTTON_TEXT_MAX, f"{at}/text", plain=True)
        findings.max_len(element.get("value"), _BUTTON_VALUE_MAX, f"{at}/value")
        findings.max_len(element.get("url"), _URL_MAX, f"{at}/url")
    elif kind in _SELECTS_WITH_OPTIONS:
        options, groups = element.get("options"), element.get("option_groups")
        if options is None and groups is None:
            findings.fail("must provide either options or option_groups", at)
        findings.max_items(options, _SELECT_OPTIONS_MAX, f"{at}/options")
        findings.max_items(groups, _SELECT_OPTIONS_MAX, f"{at}/option_groups")
        _check_options(findings, options, f"{at}/options", plain=True)
        for g, group in enumerate(groups if isinstance(groups, list) else []):
            if isinstance(group, dict):
                _check_options(findings, group.get("options"), f"{at}/option_groups/{g}/options")
    elif kind == "overflow":
        findings.max_items(element.get("options"), _OVERFLOW_OPTIONS_MAX, f"{at}/options")
        _check_options(findings, element.get("options"), f"{at}/options", plain=True)
    elif kind in _CHOICE_ELEMENTS:
        findings.max_items(element.get("options"), _CHOICE_OPTIONS_MAX, f"{at}/options")
        _check_options(findings, element.get("options"), f"{at}/options", plain=False)
    elif kind == "plain_text_input":
        for key, low in (("max_length", 1), ("min_length", 0)):
            value = element.get(key)
            if isinstance(value, int) and not low <= value <= _TEXT_INPUT_LENGTH_MAX:
                findings.fail(f"must be between {low} and {_TEXT_INPUT_LENGTH_MAX}", f"{at}/{key}")


def _check_options(findings: Findings, options: Any, at: str, *, plain: bool = True) -> None:
    """Check each option object's text and value lengths."""
    for i, option in enumerate(options if isinstance(options, list) else []):
        if not isinstance(option, dict):
            findings.fail("must be an option object", f"{at}/{i}")
            continue
        findings.text(option.get("text"), _OPTION_TEXT_MAX, f"{at}/{i}/text", plain=plain)
        findings.max_len(option.get("value"), _OPTION_VALUE_MAX, f"{at}/{i}/value")


def _scan_empty_text(findings: Findings, node: Any, at: str) -> None:
    """Report every plain_text/mrkdwn text object whose text is empty, wherever it sits."""
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and node.get("text") == "":
            findings.fail("must be more than 0 characters", f"{at}/text")
        for key, value in node.items():
            _scan_empty_text(findings, value, f"{at}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _scan_empty_text(findings, value, f"{at}/{index}")
