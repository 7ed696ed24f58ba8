"""Block Kit for root causes: the thread's prompt, the form, the note, answers."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.config import Program
from bot.domain import Feedback, RootCause
from bot.rca.service import TEXT_MAX, WHY_MAX, WHYS, RcaField, RcaOutcome
from bot.slack.blocks.owners import owner_text
from bot.slack.ids import ROOT_CAUSE_BLOCK, Action, Callback
from bot.slack.text import escape, safe, shorten


def field_block(field: RcaField, n: int = 0) -> str:
    """The block id of a form field (the whys are numbered 1…5)."""
    return f"{ROOT_CAUSE_BLOCK}why-{n}" if field is RcaField.WHYS else ROOT_CAUSE_BLOCK + field


def prompt(feedback: Feedback) -> tuple[str, list[Block]]:
    """The message in a resolved item's thread asking its owner for the root cause."""
    who = owner_text(feedback.owner_id, feedback.owner_name)
    who = "the owner" if who == "no owner" else who
    text = (
        f":mag: {feedback.short_id} is resolved. {who}, please record its root cause "
        "(the symptom, the 5 whys, the category, the fix and a prevention action)."
    )
    button = ButtonElement(
        text="Record root cause",
        action_id=Action.RECORD_ROOT_CAUSE,
        value=str(feedback.id),
        style="primary",
    )
    return text, [SectionBlock(text=MarkdownTextObject(text=text)), ActionsBlock(elements=[button])]


def _text(
    field: RcaField, label: str, *, limit: int, multiline: bool, optional: bool = False, n: int = 0
) -> InputBlock:
    return InputBlock(
        block_id=field_block(field, n),
        label=label,
        optional=optional,
        element=PlainTextInputElement(
            action_id=Action.INPUT, multiline=multiline, max_length=limit
        ),
    )


def modal(feedback: Feedback, program: Program) -> dict[str, Any]:
    """The root-cause form of an item (its id in private_metadata)."""
    options = [Option(value=c.id, text=shorten(c.label, 75)) for c in program.rca.categories]
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*{feedback.short_id}* · {safe(feedback.summary, 300)}\n"
                "Blameless: ask why the system allowed it, not who did it."
            )
        ),
        _text(RcaField.SYMPTOM, "Symptom (what users saw)", limit=TEXT_MAX, multiline=True),
        *(
            _text(
                RcaField.WHYS,
                f"Why {n}?",
                limit=WHY_MAX,
                multiline=False,
                optional=n > 1,
                n=n,
            )
            for n in range(1, WHYS + 1)
        ),
        InputBlock(
            block_id=field_block(RcaField.CATEGORY),
            label="Root-cause category",
            element=StaticSelectElement(
                action_id=Action.INPUT, options=options, placeholder="Choose…"
            ),
        ),
        _text(RcaField.FIX, "The fix", limit=TEXT_MAX, multiline=True),
        _text(RcaField.PREVENTION, "Prevention action", limit=TEXT_MAX, multiline=True),
    ]
    view = View(
        type="modal",
        callback_id=Callback.ROOT_CAUSE_MODAL,
        title="Root cause",
        submit="Record",
        close="Cancel",
        private_metadata=str(feedback.id),
        blocks=blocks,
    )
    return view.to_dict()


def note(feedback: Feedback, cause: RootCause, program: Program) -> str:
    """The root cause, told in the item's thread."""
    whys = "\n".join(f"{n}. {safe(w, 300)}" for n, w in enumerate(cause.whys, start=1))
    text = (
        f":mag: <@{cause.recorded_by}> recorded the root cause of {feedback.short_id}: "
        f"*{escape(program.rca.category_label(cause.category))}*\n"
        f"*Symptom:* {safe(cause.symptom, 600)}\n*5 whys:*\n{whys}\n"
        f"*Fix:* {safe(cause.fix, 600)}\n*Prevention:* {safe(cause.prevention, 600)}"
    )
    return text[:3900]


def refusal(outcome: RcaOutcome, reference: str) -> str:
    """Why a root cause cannot be recorded (or a post-mortem built) here."""
    if outcome is RcaOutcome.NOT_ALLOWED:
        return (
            "Only the item's owner or a hypercare lead can record its root cause (or its "
            "reporter, while nobody owns it)."
        )
    if outcome is RcaOutcome.NOT_RESOLVED:
        return "The root cause is recorded once the item is resolved."
    return f"I know no item called `{escape(reference)}`. Use an id like `HC-42`."


def postmortem_answer(feedback: Feedback) -> str:
    """The private answer to `/hypercare postmortem HC-42`."""
    where = (
        f"<{feedback.receipt_permalink}|its thread>" if feedback.receipt_permalink else "its thread"
    )
    return (
        f":memo: Drafting the post-mortem of {feedback.short_id}: it will be posted in {where} "
        "as a Markdown file in a moment."
    )


def postmortem_usage(prefix: str) -> str:
    """How `/hypercare postmortem` is used."""
    return f"Use `/hypercare postmortem {prefix}-42`."
