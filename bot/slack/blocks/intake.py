"""Block Kit for smarter intake: suggestions in the form, "+1", merges and known issues."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.config import Program
from bot.domain import (
    Feedback,
    Field,
    KnownIssue,
    KnownOutcome,
    MergeOutcome,
    MergeResult,
    PlusOne,
    PlusOneOutcome,
    PlusOneResult,
    Suggestion,
)
from bot.slack.ids import (
    MERGE_TARGET_BLOCK,
    SAME_AS_BLOCK,
    SUGGESTION_BLOCK,
    WORKAROUND_BLOCK,
    Action,
    Callback,
    block_id,
)
from bot.slack.text import escape, safe, shorten

WORKAROUND_MAX = 1000
# The view keys views.update takes back; Slack's payload adds id, hash, state, team and more.
_VIEW_KEYS = ("type", "callback_id", "title", "submit", "close", "private_metadata", "blocks")


def ago(moment: dt.datetime) -> str:
    """How long ago, as Slack words it in each reader's own terms ("3 hours ago")."""
    return f"<!date^{int(moment.timestamp())}^{{ago}}|{moment:%Y-%m-%d %H:%M} UTC>"


def item_link(short_id: str, link: str | None) -> str:
    """An item's id, linked to its thread when it has one."""
    return f"<{link}|{short_id}>" if link else short_id


def _facts(suggestion: Suggestion, program: Program) -> str:
    severity = next((s for s in program.severities if s.id == suggestion.severity), None)
    label = (
        f"{severity.emoji} {escape(severity.label)}".strip() if severity else suggestion.severity
    )
    parts = [label, suggestion.state.value]
    if suggestion.ticket_key:
        key = escape(suggestion.ticket_key)
        parts.append(f"<{suggestion.ticket_url}|{key}>" if suggestion.ticket_url else key)
    people = "1 reporter" if suggestion.reporters == 1 else f"{suggestion.reporters} reporters"
    parts += [people, f"filed {ago(suggestion.created_at)}"]
    return " · ".join(parts)


def suggestion_blocks(suggestions: Sequence[Suggestion], program: Program) -> list[Block]:
    """The form's "maybe it is one of these" part; nothing at all when there is no match."""
    if not suggestions:
        return []
    blocks: list[Block] = [
        ContextBlock(
            block_id=f"{SUGGESTION_BLOCK}-head",
            elements=[
                MarkdownTextObject(
                    text=":mag: *Already reported?* If one of these is your problem, press "
                    "*Same problem: +1*: you are added to it instead of filing a new report."
                )
            ],
        )
    ]
    for s in suggestions:
        title = safe(s.summary, 300)
        blocks.append(
            SectionBlock(
                block_id=f"{SUGGESTION_BLOCK}-{s.feedback_id}",
                text=MarkdownTextObject(
                    text=f"*{item_link(s.short_id, s.link)}* {title}\n{_facts(s, program)}"
                ),
                accessory=ButtonElement(
                    text="Same problem: +1", action_id=Action.PLUS_ONE, value=str(s.feedback_id)
                ),
            )
        )
        if s.workaround:
            text = f":bulb: *Known issue, workaround:* {safe(s.workaround, 2000)}"
            blocks.append(
                ContextBlock(
                    block_id=f"{SUGGESTION_BLOCK}-{s.feedback_id}-known",
                    elements=[MarkdownTextObject(text=text)],
                )
            )
    ids = "-".join(str(s.feedback_id) for s in suggestions)
    options = [
        Option(value=str(s.feedback_id), text=shorten(f"Same as {s.short_id}", 75))
        for s in suggestions
    ]
    blocks.append(
        InputBlock(
            block_id=f"{SAME_AS_BLOCK}-{ids}",
            label="Is it one of these?",
            optional=True,
            hint="Choose one to add yourself to it on Submit instead of filing a new report.",
            element=RadioButtonsElement(action_id=Action.INPUT, options=options),
        )
    )
    return blocks


def form_with_suggestions(
    view: dict[str, Any], suggestions: Sequence[Suggestion], program: Program
) -> dict[str, Any] | None:
    """The open form (as Slack sent it) with these suggestions after the summary; None when it
    would not change (no suggestions shown, none to show: the form is left alone)."""
    blocks = [b for b in view.get("blocks") or [] if isinstance(b, dict)]
    kept = [b for b in blocks if not str(b.get("block_id") or "").startswith(SUGGESTION_BLOCK)]
    added = [block.to_dict() for block in suggestion_blocks(suggestions, program)]
    summary = block_id(Field.SUMMARY)
    at = next((i for i, b in enumerate(kept) if b.get("block_id") == summary), len(kept) - 1)
    new_blocks = [*kept[: at + 1], *added, *kept[at + 1 :]]
    if new_blocks == blocks:
        return None  # the same suggestions again, or none before and none now
    updated = {key: copy.deepcopy(view[key]) for key in _VIEW_KEYS if key in view}
    updated["blocks"] = new_blocks
    return updated


def chosen_same_as(values: dict[str, Any]) -> int | None:
    """The suggestion chosen in the form's "Is it one of these?", if any."""
    for key, state in values.items():
        if not str(key).startswith(SAME_AS_BLOCK) or not isinstance(state, dict):
            continue
        element = state.get(Action.INPUT)
        option = element.get("selected_option") if isinstance(element, dict) else None
        value = str((option or {}).get("value") or "") if isinstance(option, dict) else ""
        if value.isascii() and value.isdigit() and len(value) < 12:
            return int(value)
    return None


_PLUS_ONE_TEXT = {
    PlusOneOutcome.ALREADY: "You reported {item} already: you are counted once.",
    PlusOneOutcome.RESOLVED: (
        "{item} was resolved meanwhile, so I did not add you to it. If the problem is back, "
        "please file a new report."
    ),
    PlusOneOutcome.UNKNOWN: "That item does not exist any more; please file a new report.",
}


def plus_one_answer(result: PlusOneResult) -> str:
    """What the reporter is told about their +1 (mrkdwn)."""
    feedback = result.feedback
    item = item_link(feedback.short_id, feedback.receipt_permalink) if feedback else ""
    if result.outcome is PlusOneOutcome.ADDED and feedback is not None:
        return (
            f":white_check_mark: Thanks! You are added to {item} "
            f"({feedback.reporters} reporters now) instead of filing a new report. "
            "Updates appear in its thread."
        )
    if result.outcome is PlusOneOutcome.MERGED and result.merged_into is not None:
        into = result.merged_into
        return (
            f"{item} was merged into {item_link(into.short_id, into.receipt_permalink)} "
            "meanwhile: please add yourself there (it may show up if you type the summary again)."
        )
    return ":information_source: " + _PLUS_ONE_TEXT[result.outcome].format(item=item)


def plus_one_view(result: PlusOneResult) -> dict[str, Any]:
    """What the form becomes after its "+1": the answer, and a button to close it."""
    view = View(
        type="modal",
        callback_id=Callback.PLUS_ONE_DONE,
        title="Hypercare feedback",
        close="Done",
        blocks=[SectionBlock(text=MarkdownTextObject(text=plus_one_answer(result)))],
    )
    return view.to_dict()


def plus_one_in_thread(feedback: Feedback, entry: PlusOne, program: Program) -> str:
    """The thread note of a later reporter, with their details (their text made inert)."""
    environment = next(
        (escape(e.label) for e in program.environments if e.id == entry.environment),
        escape(entry.environment) or "not given",
    )
    moved = f" (moved here from {entry.moved_from})" if entry.moved_from else ""
    lines = [
        f":heavy_plus_sign: <@{entry.reporter_id}> has the same problem{moved}: "
        f"{feedback.short_id} now has *{feedback.reporters} reporters*, reaching about "
        f"{feedback.reach} people.",
        f"Environment: {environment} · Users affected: "
        + (entry.users_affected.label if entry.users_affected else "not given"),
    ]
    if entry.correlation_id:
        lines.append(f"Correlation id: `{safe(entry.correlation_id, 200)}`")
    if entry.text.strip():
        lines.append("> " + safe(entry.text, 2500).replace("\n", "\n> "))
    return "\n".join(lines)


def merge_in_thread(feedback: Feedback, other: Feedback, actor: str) -> str:
    """The thread note of a merge, in either item's thread."""
    link = item_link(other.short_id, other.receipt_permalink)
    if feedback.merged_into_id == other.id:
        return (
            f":twisted_rightwards_arrows: <@{actor}> merged {feedback.short_id} into {link}: "
            "its reporters now count there, and updates go in that thread."
        )
    note = (
        f":twisted_rightwards_arrows: <@{actor}> merged {link} into {feedback.short_id}: "
        f"{feedback.reporters} reporters now, reaching about {feedback.reach} people."
    )
    if feedback.state.value == "resolved":
        note += f" {feedback.short_id} is resolved; the merge re-opens nothing."
    return note


def known_in_thread(feedback: Feedback, workaround: str | None, actor: str) -> str:
    """The thread note of an item marked as known (or no longer)."""
    if workaround is None:
        return f":bulb: <@{actor}> retired {feedback.short_id} as a known issue."
    return (
        f":bulb: <@{actor}> marked {feedback.short_id} as a known issue. Reporters will see "
        f"this workaround in the form:\n> {safe(workaround, 2000)}"
    )


def workaround_input(initial: str | None = None) -> InputBlock:
    """The known-issue modal's workaround field."""
    return InputBlock(
        block_id=WORKAROUND_BLOCK,
        label="Workaround",
        hint="Shown to everyone whose report matches this item.",
        element=PlainTextInputElement(
            action_id=Action.INPUT,
            multiline=True,
            max_length=WORKAROUND_MAX,
            initial_value=initial or None,
        ),
    )


def plus_one_refusal(result: PlusOneResult) -> str:
    """Why a +1 chosen on Submit was not taken, as plain text for the form's inline error."""
    feedback, into = result.feedback, result.merged_into
    item = feedback.short_id if feedback else "That item"
    if result.outcome is PlusOneOutcome.MERGED and into is not None:
        return f"{item} was merged into {into.short_id} meanwhile: choose that one, or none."
    if result.outcome is PlusOneOutcome.RESOLVED:
        return f"{item} was resolved meanwhile: choose none of these to file a new report."
    if result.outcome is PlusOneOutcome.ALREADY:
        return f"You reported {item} already: choose none of these to file a new report."
    return "That item does not exist any more: choose none of these to file a new report."


def plus_one_notice(result: PlusOneResult) -> dict[str, Any]:
    """A small modal pushed over the form when a +1 was not taken: closing it returns there."""
    view = View(
        type="modal",
        title="Not added",
        close="Back to the form",
        blocks=[SectionBlock(text=MarkdownTextObject(text=plus_one_answer(result)))],
    )
    return view.to_dict()


def receipt_intake_part(
    feedback: Feedback, *, buttons: bool, priority: float | None = None
) -> list[Block]:
    """The receipt's intake lines: priority, reporters and reach, known issue, merge; and
    the lead's buttons."""
    prefix = feedback.short_id.rsplit("-", 1)[0]
    lines: list[str] = []
    if priority is not None:
        lines.append(f":dart: *Priority {priority:.1f}* (severity, reach, reporters and age)")
    if feedback.merged_into_id is not None:
        lines.append(
            f":twisted_rightwards_arrows: *Merged into {prefix}-{feedback.merged_into_id}*: "
            "its reporters count there and updates go in its thread."
        )
    if feedback.reporters > 1:
        lines.append(
            f":busts_in_silhouette: *{feedback.reporters} reporters*, reaching about "
            f"{feedback.reach} people"
        )
    if feedback.known_workaround:
        lines.append(f":bulb: *Known issue, workaround:* {safe(feedback.known_workaround, 2000)}")
    if feedback.known_match_id is not None:
        lines.append(f":bulb: Looks like known issue {prefix}-{feedback.known_match_id}.")
    blocks: list[Block] = (
        [SectionBlock(text=MarkdownTextObject(text="\n".join(lines)))] if lines else []
    )
    if buttons and feedback.merged_into_id is None:
        value = str(feedback.id)
        known = "Edit workaround" if feedback.known_workaround else "Mark as known issue"
        blocks.append(
            ActionsBlock(
                block_id="intake",
                elements=[
                    ButtonElement(text=known, action_id=Action.MARK_KNOWN, value=value),
                    ButtonElement(text="Merge into…", action_id=Action.MERGE_INTO, value=value),
                ],
            )
        )
    return blocks


_KNOWN_TEXT = {
    KnownOutcome.MARKED: ":bulb: {item} is now a known issue; reporters will see the workaround.",
    KnownOutcome.UPDATED: ":bulb: The workaround of known issue {item} is updated.",
    KnownOutcome.RETIRED: ":bulb: {item} is no longer a known issue.",
    KnownOutcome.NOT_KNOWN: "{item} is not a known issue.",
    KnownOutcome.MERGED: "{item} was merged into another item: mark that one instead.",
    KnownOutcome.UNKNOWN: "I found no item {item}.",
    KnownOutcome.NOT_ALLOWED: "Only hypercare leads can mark or retire known issues.",
}


def known_answer(outcome: KnownOutcome, feedback: Feedback | None, reference: str) -> str:
    """What a lead is told about marking or retiring a known issue."""
    item = item_link(feedback.short_id, feedback.receipt_permalink) if feedback else reference
    return _KNOWN_TEXT[outcome].format(item=escape(item) if feedback is None else item)


def known_list(issues: Sequence[KnownIssue], total: int) -> tuple[str, list[Block]]:
    """`/hypercare known`: the known issues, most reported first."""
    if not issues:
        text = "No known issues. Leads: `/hypercare known HC-42 <workaround>` marks one."
        return text, [SectionBlock(text=MarkdownTextObject(text=text))]
    lines = [
        f"• *{item_link(k.feedback.short_id, k.feedback.receipt_permalink)}* "
        f"{safe(k.feedback.summary, 150)} · {k.feedback.reporters} reporters\n"
        f"   :bulb: {safe(k.feedback.known_workaround or '', 400)}"
        for k in issues
    ]
    more = f"\n…and {total - len(issues)} more" if total > len(issues) else ""
    text = f"*Known issues* ({total}), most reported first:\n" + "\n".join(lines) + more
    return "Known issues", [SectionBlock(text=MarkdownTextObject(text=shorten(text, 3000)))]


def known_modal(feedback: Feedback) -> dict[str, Any]:
    """The "Mark as known issue" modal: the workaround, prefilled when there is one."""
    view = View(
        type="modal",
        callback_id=Callback.KNOWN_MODAL,
        title="Known issue",
        submit="Save",
        close="Cancel",
        private_metadata=str(feedback.id),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(text=f"*{feedback.short_id}* {safe(feedback.summary, 300)}")
            ),
            workaround_input(feedback.known_workaround),
        ],
    )
    return view.to_dict()


def merge_modal(feedback: Feedback) -> dict[str, Any]:
    """The "Merge into…" modal: the id of the item this one duplicates."""
    view = View(
        type="modal",
        callback_id=Callback.MERGE_MODAL,
        title="Merge into…",
        submit="Merge",
        close="Cancel",
        private_metadata=str(feedback.id),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"Merge *{feedback.short_id}* {safe(feedback.summary, 300)} into:"
                )
            ),
            InputBlock(
                block_id=MERGE_TARGET_BLOCK,
                label="Item id",
                hint="Its reporters, reach and thread link move there; its ticket is linked.",
                element=PlainTextInputElement(
                    action_id=Action.INPUT, max_length=30, placeholder="e.g. HC-9"
                ),
            ),
        ],
    )
    return view.to_dict()


def merge_answer(result: MergeResult, source: str, target: str) -> str:
    """What a lead is told about a merge."""
    merged, into = result.source, result.target
    s = merged.short_id if merged else escape(source)
    t = item_link(into.short_id, into.receipt_permalink) if into else escape(target)
    texts = {
        MergeOutcome.MERGED: f":twisted_rightwards_arrows: Merged {s} into {t}.",
        MergeOutcome.MERGED_INTO_RESOLVED: (
            f":twisted_rightwards_arrows: Merged {s} into {t}. Note: {t} is resolved, and "
            "the merge re-opens nothing; re-open it in Jira or escalate it if the problem is back."
        ),
        MergeOutcome.SAME: f"{s} cannot be merged into itself.",
        MergeOutcome.UNKNOWN: f"I found no item {escape(source)} or {escape(target)}.",
        MergeOutcome.ALREADY: f"{s} was merged already.",
        MergeOutcome.TARGET_MERGED: f"That item was merged into {t}: merge {s} into {t} instead.",
        MergeOutcome.CYCLE: f"{t} was merged into {s}: merging back would make a loop.",
        MergeOutcome.NOT_ALLOWED: "Only hypercare leads can merge items.",
    }
    return texts[result.outcome]


def top_list(items: Sequence[tuple[Feedback, float]]) -> tuple[str, list[Block]]:
    """`/hypercare top`: the open items with the highest priority score."""
    if not items:
        text = "No open items."
        return text, [SectionBlock(text=MarkdownTextObject(text=text))]
    lines = [
        f"{n}. *{item_link(f.short_id, f.receipt_permalink)}* {safe(f.summary, 150)} · "
        f"priority *{score:.1f}* · {f.severity} · {f.reporters} reporters · reach {f.reach}"
        for n, (f, score) in enumerate(items, 1)
    ]
    text = "*Top priority open items*\n" + "\n".join(lines)
    return "Top priority open items", [SectionBlock(text=MarkdownTextObject(text=text))]
