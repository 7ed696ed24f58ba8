"""Block Kit rendering: every message and view the bot shows, built with slack_sdk models."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    ConversationFilter,
    ConversationSelectElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.blocks.basic_components import DispatchActionConfig
from slack_sdk.models.views import View

from bot.config import Choice, Program
from bot.domain import Feedback, FeedbackState, Field, SourceMessage, UsersAffected
from bot.feedback.priority import score
from bot.feedback.service import CORRELATION_MAX, ENDPOINT_MAX, SUMMARY_MAX, TEXT_MAX
from bot.ports import utc_now
from bot.slack.blocks.escalation import receipt_ack_part
from bot.slack.blocks.intake import receipt_intake_part
from bot.slack.blocks.owners import receipt_owner_part
from bot.slack.blocks.tickets import receipt_ticket_part, when
from bot.slack.ids import COMMAND, Action, Callback, block_id
from bot.slack.text import escape, safe, shorten

METADATA_MAX = 3000
SECTION_MAX = 3000


@dataclass(frozen=True)
class ModalPrefill:
    """What the feedback modal starts with."""

    channel_id: str
    summary: str = ""
    actual: str = ""
    source: SourceMessage | None = None


def _choice_option(choice: Choice, emoji: str = "") -> Option:
    label = f"{emoji} {choice.label}".strip() if emoji else choice.label
    return Option(value=choice.id, text=shorten(label, 75), description=choice.description)


def _select(field: Field, label: str, options: list[Option], hint: str | None = None) -> InputBlock:
    return InputBlock(
        block_id=block_id(field),
        label=label,
        hint=hint,
        element=StaticSelectElement(action_id=Action.INPUT, options=options, placeholder="Choose…"),
    )


def _text_input(
    field: Field,
    label: str,
    *,
    max_length: int,
    multiline: bool = False,
    optional: bool = False,
    initial: str = "",
    placeholder: str | None = None,
) -> InputBlock:
    return InputBlock(
        block_id=block_id(field),
        label=label,
        optional=optional,
        element=PlainTextInputElement(
            action_id=Action.INPUT,
            multiline=multiline,
            max_length=max_length,
            initial_value=shorten(initial, max_length) or None,
            placeholder=placeholder,
        ),
    )


def source_metadata(source: SourceMessage | None) -> str:
    """Pack the source message into private_metadata, cutting its text to fit Slack's limit."""
    if source is None:
        return ""
    packed = {"c": source.channel_id, "ts": source.ts, "a": source.author_id, "p": source.permalink}
    room = METADATA_MAX - len(json.dumps({**packed, "t": ""}, ensure_ascii=False))
    text = source.text

    def fits(length: int) -> bool:
        return len(json.dumps(text[:length], ensure_ascii=False)) - 2 <= room

    # Quotes and control characters grow when JSON-encoded: find the longest prefix that fits.
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return json.dumps({**packed, "t": text[:low]}, ensure_ascii=False)


def source_from_metadata(metadata: str) -> SourceMessage | None:
    """Unpack the source message a modal was opened from."""
    if not metadata:
        return None
    data = json.loads(metadata)
    if not isinstance(data, dict) or not data.get("c") or not data.get("ts"):
        return None
    return SourceMessage(
        channel_id=str(data["c"]),
        ts=str(data["ts"]),
        author_id=str(data["a"]) if data.get("a") else None,
        text=str(data.get("t") or ""),
        permalink=str(data["p"]) if data.get("p") else None,
    )


def _summary_block(prefill: ModalPrefill) -> InputBlock:
    block = _text_input(
        Field.SUMMARY,
        "Summary",
        max_length=SUMMARY_MAX,
        initial=prefill.summary,
        placeholder="One line: what is wrong?",
    )
    # Typing (and Enter) sends the summary to the bot, which shows similar reports in the form.
    block.dispatch_action = True
    element = block.element
    assert isinstance(element, PlainTextInputElement)
    element.dispatch_action_config = DispatchActionConfig(
        trigger_actions_on=["on_enter_pressed", "on_character_entered"]
    )
    return block


def _choices_blocks(program: Program) -> list[Block]:
    """Severity, category, component and environment: the program's lists, fixed per program."""
    severities = [_choice_option(s, s.emoji) for s in program.severities]
    return [
        _select(Field.SEVERITY, "Severity", severities, hint="How broken is it?"),
        _select(Field.CATEGORY, "Category", [_choice_option(c) for c in program.categories]),
        _select(Field.COMPONENT, "Component", [_choice_option(c) for c in program.components]),
        _select(
            Field.ENVIRONMENT, "Environment", [_choice_option(c) for c in program.environments]
        ),
        _text_input(
            Field.TRYING,
            "What were you trying to do?",
            max_length=TEXT_MAX,
            multiline=True,
            optional=True,
        ),
        _text_input(
            Field.EXPECTED,
            "What did you expect?",
            max_length=TEXT_MAX,
            multiline=True,
            optional=True,
        ),
    ]


def _actual_block(prefill: ModalPrefill) -> InputBlock:
    return _text_input(
        Field.ACTUAL,
        "What happened instead?",
        max_length=TEXT_MAX,
        multiline=True,
        initial=prefill.actual,
        placeholder="Error messages, screens, times…",
    )


def _details_blocks() -> list[Block]:
    return [
        _text_input(
            Field.API_ENDPOINT,
            "API endpoint",
            max_length=ENDPOINT_MAX,
            optional=True,
            placeholder="e.g. POST /v1/payments",
        ),
        _text_input(
            Field.CORRELATION_ID,
            "Correlation id",
            max_length=CORRELATION_MAX,
            optional=True,
            placeholder="From the gateway's response headers or logs",
        ),
        _select(
            Field.USERS_AFFECTED,
            "How many users are affected?",
            [Option(value=u.value, text=u.label) for u in UsersAffected],
        ),
    ]


def _channel_block(prefill: ModalPrefill) -> InputBlock:
    return InputBlock(
        block_id=block_id(Field.CHANNEL),
        label="Post it in",
        element=ConversationSelectElement(
            action_id=Action.INPUT,
            initial_conversation=prefill.channel_id,
            filter=ConversationFilter(include=["public", "private"], exclude_bot_users=True),
        ),
    )


def _source_blocks(prefill: ModalPrefill) -> list[Block]:
    if prefill.source is None:
        return []
    return [ContextBlock(elements=[MarkdownTextObject(text=_source_line(prefill.source))])]


def feedback_modal(program: Program, prefill: ModalPrefill) -> View:
    """Render the feedback form."""
    blocks: list[Block] = [
        *_source_blocks(prefill),
        _summary_block(prefill),
        *_choices_blocks(program),
        _actual_block(prefill),
        *_details_blocks(),
        _channel_block(prefill),
    ]
    return _form_view(prefill, blocks)


def _form_view(prefill: ModalPrefill, blocks: list[Block]) -> View:
    return View(
        type="modal",
        callback_id=Callback.FEEDBACK_MODAL,
        title="Hypercare feedback",
        submit="Submit",
        close="Cancel",
        private_metadata=source_metadata(prefill.source),
        blocks=blocks,
    )


@dataclass
class _Rendered:
    """What is rendered once per program: the form's fixed parts as Slack JSON, and the plain
    form (`/hypercare` with no text) per feedback channel, the same JSON every time."""

    program: Program
    choices: list[dict[str, Any]]
    details: list[dict[str, Any]]
    plain: dict[str, dict[str, Any]]  # by feedback channel


# Building the fixed parts is most of a form's cost (a millisecond of the ack path's CPU), and
# in an outage a hundred people open it at once.
_RENDERED: dict[int, _Rendered] = {}


def _rendered(program: Program) -> _Rendered:
    cached = _RENDERED.get(id(program))
    if cached is None or cached.program is not program:
        choices = [block.to_dict() for block in _choices_blocks(program)]
        details = [block.to_dict() for block in _details_blocks()]
        cached = _RENDERED[id(program)] = _Rendered(program, choices, details, {})
    return cached


def feedback_modal_json(program: Program, prefill: ModalPrefill) -> dict[str, Any]:
    """The feedback form as Slack JSON, the same as `feedback_modal(...).to_dict()`, built
    from the program's fixed parts rendered once and the prefilled parts rendered now; the
    plain form is built once. Callers send it as it is (a shared dict: never changed)."""
    if prefill != ModalPrefill(channel_id=prefill.channel_id):
        return _modal_json(program, prefill)
    plain = _rendered(program).plain
    if prefill.channel_id not in plain:
        plain[prefill.channel_id] = _modal_json(program, prefill)
    return plain[prefill.channel_id]


def _modal_json(program: Program, prefill: ModalPrefill) -> dict[str, Any]:
    fixed = _rendered(program)
    # The view's own checks want a block: the summary, which the full list then replaces.
    view = _form_view(prefill, [_summary_block(prefill)]).to_dict()
    blocks = [
        *(block.to_dict() for block in _source_blocks(prefill)),
        view["blocks"][0],
        *fixed.choices,
        _actual_block(prefill).to_dict(),
        *fixed.details,
        _channel_block(prefill).to_dict(),
    ]
    view["blocks"] = blocks
    return view


def _source_line(source: SourceMessage) -> str:
    who = f"<@{source.author_id}>" if source.author_id else "an app"
    where = f"<#{source.channel_id}>"
    link = f" · <{source.permalink}|view message>" if source.permalink else ""
    return f"Reporting a message by {who} in {where}{link}"


def _label(choices: list[Any], choice_id: str) -> str:
    return next((c.label for c in choices if c.id == choice_id), choice_id)


def receipt(feedback: Feedback, program: Program) -> tuple[str, list[Block]]:
    """Render the receipt message: the feedback's home thread. Returns (fallback text, blocks)."""
    severity = program.severity(feedback.severity)
    title = shorten(f"{feedback.short_id} · {feedback.summary}", 150)
    fields = [
        MarkdownTextObject(text=f"*Severity*\n{severity.emoji} {escape(severity.label)}".strip()),
        MarkdownTextObject(
            text=f"*Category*\n{escape(_label(program.categories, feedback.category))}"
        ),
        MarkdownTextObject(
            text=f"*Component*\n{escape(_label(program.components, feedback.component))}"
        ),
        MarkdownTextObject(
            text=f"*Environment*\n{escape(_label(program.environments, feedback.environment))}"
        ),
        MarkdownTextObject(text=f"*Reporter*\n<@{feedback.reporter_id}>"),
        MarkdownTextObject(
            text="*Users affected*\n"
            + (feedback.users_affected.label if feedback.users_affected else "Not given")
        ),
    ]
    if feedback.api_endpoint:
        fields.append(
            MarkdownTextObject(text=f"*API endpoint*\n`{safe(feedback.api_endpoint, 300)}`")
        )
    if feedback.correlation_id:
        fields.append(
            MarkdownTextObject(text=f"*Correlation id*\n`{safe(feedback.correlation_id, 200)}`")
        )
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=title, emoji=False)),
        SectionBlock(fields=fields),
    ]
    for label, text in (
        ("What they were trying to do", feedback.trying),
        ("What they expected", feedback.expected),
        ("What happened", feedback.actual),
    ):
        if text.strip():
            body = safe(text, SECTION_MAX - len(label) - 4)
            blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*{label}*\n{body}")))
    # The score as of this rendering: the receipt is re-rendered as reporters join.
    open_now = feedback.state is not FeedbackState.RESOLVED
    priority = score(feedback, program, utc_now()) if open_now else None
    blocks += receipt_intake_part(feedback, buttons=True, priority=priority)
    blocks += receipt_ticket_part(feedback, jira_enabled=program.jira is not None)
    escalates = program.escalation is not None and bool(
        program.escalation.policy_for(feedback.severity)
    )
    blocks += receipt_ack_part(feedback, escalates)
    blocks += receipt_owner_part(feedback)
    context = [f"State: *{feedback.state.value}*", f"Filed {when(feedback.created_at)}"]
    if feedback.source and feedback.source.permalink:
        context.append(f"<{feedback.source.permalink}|Original message>")
    context.append("Updates go in this thread")
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]))
    fallback = f"{feedback.short_id} [{severity.label}] {escape(shorten(feedback.summary, 150))}"
    return fallback, blocks


def feedback_link(feedback: Feedback) -> str:
    """Link to the feedback's receipt, or its bare id when there is none yet."""
    if feedback.receipt_permalink:
        return f"<{feedback.receipt_permalink}|{feedback.short_id}>"
    return feedback.short_id


def source_reply(feedback: Feedback) -> str:
    """Text of the reply in the reported message's thread."""
    return (
        f":clipboard: <@{feedback.reporter_id}> reported this to hypercare as "
        f"{feedback_link(feedback)}. Follow it there."
    )


def confirmation(feedback: Feedback) -> str:
    """Text of the reporter's private confirmation."""
    return (
        f":white_check_mark: Thanks! Your feedback is filed as {feedback_link(feedback)} "
        f"in <#{feedback.channel_id}>. Updates will appear in its thread."
    )


def delivery_failure(feedback: Feedback, reason: str) -> str:
    """Text telling the reporter the feedback is saved but could not be posted."""
    return (
        f":warning: Your feedback *{feedback.short_id}* is saved, but I could not post it in "
        f"<#{feedback.channel_id}> (Slack said `{escape(reason)}`). Invite me to that channel "
        f"or ask a hypercare lead; nothing you wrote is lost."
    )


def help_message(program: Program) -> tuple[str, list[Block]]:
    """Render `/hypercare help`."""
    text = (
        f"*Hypercare Bot* helps the *{escape(program.name)}* team catch problems after go-live.\n\n"
        f"• `{COMMAND}` opens the feedback form.\n"
        f"• `{COMMAND} {escape('<summary>')}` opens it with the summary filled in.\n"
        "• On any message, choose *More actions ⋯ → Report to hypercare* to turn it into "
        "feedback, keeping its text, author and link.\n"
        f"• `{COMMAND} ticket {program.id_prefix}-42` shows one item's state and Jira ticket.\n"
        f"• `{COMMAND} metrics` shows the gateway's sources and rules; "
        f"`{COMMAND} silences` lists silenced alerts; `{COMMAND} oncall` shows who is on call.\n"
        f"• `{COMMAND} status` shows whether the exit criteria are met, the days left, and "
        "who owns what; the bot's *Home* tab shows the program at a glance, your open items "
        "and your own reports.\n"
        f"• Leads: `{COMMAND} exit-report` posts the hypercare closing report (the hand-over: "
        "KPIs, exit criteria, open items, known issues, lessons, charts) in the digest channel.\n"
        f"• Urgent items page the on-call until someone presses *Acknowledge*. Leads: "
        f"`{COMMAND} escalate {program.id_prefix}-42` restarts an item's escalation. Admins: "
        f"`{COMMAND} override @someone until 18:00` puts someone on call.\n"
        "• While you type a summary the form shows similar open reports and known issues; "
        "*Same problem: +1* adds you to one instead of filing a duplicate.\n"
        f"• `{COMMAND} known` lists known issues and their workarounds; `{COMMAND} top` the "
        f"open items with the highest priority. Leads: `{COMMAND} known "
        f"{program.id_prefix}-42 {escape('<workaround>')}`, `{COMMAND} known done "
        f"{program.id_prefix}-42`, `{COMMAND} merge {program.id_prefix}-12 into "
        f"{program.id_prefix}-9`.\n"
        "• *Take it* on a receipt makes you the item's owner (its Jira ticket is assigned to "
        f"you). Leads: `{COMMAND} assign {program.id_prefix}-42 @someone`, and *Resolve*.\n"
        f"• `{COMMAND} postmortem {program.id_prefix}-42` posts a blameless post-mortem draft "
        "in the item's thread; resolved urgent items ask their owner for the root cause.\n"
        f"• `{COMMAND} lesson {escape('<what we learned>')}` records a lesson learned (a form "
        f"asks its kind and the items it names); `{COMMAND} lessons` lists the latest.\n"
        f"• Leads: `{COMMAND} pulse` sends the user pulse (how satisfied people are, 1 to 5) "
        f"now; `{COMMAND} pulse comments` reads its latest comments privately.\n"
        f"• `{COMMAND} help` shows this message.\n\n"
        f"Feedback is posted in <#{program.channels.feedback}> by default; each report gets an id "
        f"like `{program.id_prefix}-42` and its own thread for updates."
    )
    return "Hypercare Bot help", [SectionBlock(text=MarkdownTextObject(text=text)), DividerBlock()]


def error_message(reference: str) -> str:
    """Text shown when something failed on the bot's side."""
    return (
        f":warning: Sorry, that did not work on our side (reference `{reference}`). "
        "Please try again in a moment; if it keeps failing, give the reference to a hypercare lead."
    )
