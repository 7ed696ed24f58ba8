"""Render what Slack would show (Block Kit, mrkdwn) as readable terminal text."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Names = Callable[[str], str]

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def mrkdwn(text: str, names: Names) -> str:
    """Turn mrkdwn into plain text: mentions to @names, links to `label (url)`, entities back."""

    def token(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            return "@" + names(target[1:])
        if target.startswith("#"):
            return "#" + names(target[1:])
        if target.startswith("!date^"):
            return label or target
        if target.startswith("!"):
            return "@" + target[1:]
        return f"{label} ({target})" if label else target

    text = _LINK.sub(token, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: Any, names: Names) -> str:
    if not isinstance(obj, dict):
        return ""
    raw = str(obj.get("text", ""))
    return mrkdwn(raw, names) if obj.get("type") == "mrkdwn" else raw


def blocks(items: list[dict[str, Any]], names: Names, indent: str = "  │ ") -> str:
    """Render message or modal blocks as indented lines."""
    lines: list[str] = []
    for block in items:
        kind = block.get("type")
        if kind == "header":
            lines.append(_text(block.get("text"), names).upper())
        elif kind == "section":
            if block.get("text"):
                lines += _text(block["text"], names).splitlines()
            fields = [_text(f, names).replace("\n", ": ", 1) for f in block.get("fields", [])]
            lines += [" · ".join(fields[i : i + 3]) for i in range(0, len(fields), 3)]
        elif kind == "context":
            lines.append("  ".join(_text(e, names) for e in block.get("elements", [])))
        elif kind == "divider":
            lines.append("─" * 40)
        elif kind == "input":
            lines.append(_input(block, names))
    return "\n".join(indent + line for line in lines)


def _input(block: dict[str, Any], names: Names) -> str:
    label = _text(block.get("label"), names)
    element = block.get("element") or {}
    shown = element.get("initial_value") or ""
    if element.get("initial_conversation"):
        shown = "#" + names(element["initial_conversation"])
    if element.get("options"):
        shown = " / ".join(_text(o.get("text"), names) for o in element["options"][:4]) + " …"
    optional = " (optional)" if block.get("optional") else ""
    return f"[{label}{optional}] {shown}".rstrip()
