"""Block Kit for `/hypercare oncall`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

from bot.oncall.overrides import OverrideRequest
from bot.oncall.rota import Handoff
from bot.oncall.service import OnCallView, OverrideOutcome
from bot.slack.blocks.tickets import when
from bot.slack.text import escape


def person(member: str | None) -> str:
    """A rota member as Slack shows them: a mention for a user id, else the e-mail."""
    if member is None:
        return "_nobody_"
    return f"<@{member}>" if "@" not in member else escape(member)


def _next(handoff: Handoff | None) -> str:
    if handoff is None:
        return "no hand-off scheduled"
    return f"next: {person(handoff.incoming)} from {when(handoff.at)}"


def handoff_text(handoff: Mapping[str, object]) -> str:
    """The hand-off notice: who hands over to whom, on which rota."""
    at = dt.datetime.fromisoformat(str(handoff["at"]))
    outgoing = handoff.get("outgoing")
    incoming = handoff.get("incoming")
    late = " (posted late: the bot was away)" if handoff.get("late") else ""
    return (
        f":arrows_counterclockwise: On-call hand-off on *{escape(str(handoff['rota']))}*: "
        f"{person(str(outgoing) if outgoing else None)} → "
        f"{person(str(incoming) if incoming else None)} since {when(at)}{late}."
    )


NO_ROTAS = "No on-call rota is set up: add an `oncall:` section to the program file."


def override_answer(
    outcome: OverrideOutcome, request: OverrideRequest, admins: Sequence[str]
) -> str:
    """Answer an admin's override, or say who may add one."""
    if outcome is OverrideOutcome.NO_ROTAS:
        return NO_ROTAS
    if outcome is OverrideOutcome.NOT_ALLOWED:
        who = ", ".join(f"<@{admin}>" for admin in admins) or "nobody (roles.admins is empty)"
        return f"Only hypercare admins can add on-call overrides. Ask {who}."
    return (
        f":white_check_mark: <@{request.who}> is on call on *{escape(request.rota)}* until "
        f"{when(request.until)}. The team channel gets a hand-off notice."
    )


def oncall_now(view: OnCallView | None) -> tuple[str, list[Block]]:
    """Render who is on call now and next."""
    if view is None:
        text = NO_ROTAS
        return text, [SectionBlock(text=MarkdownTextObject(text=text))]
    lines = [f"*Primary:* {person(view.primary)} · {_next(view.primary_next)}"]
    if view.secondary is not None or view.secondary_next is not None:
        lines.append(f"*Secondary:* {person(view.secondary)} · {_next(view.secondary_next)}")
    return "On call now", [SectionBlock(text=MarkdownTextObject(text="\n".join(lines)))]
