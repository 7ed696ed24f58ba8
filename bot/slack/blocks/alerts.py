"""Block Kit for gateway alerts: alerts, source notices, the metrics and silences lists."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.alerts.engine.alerting import SourceEvent, SourceEventKind
from bot.alerts.service import SilenceView, SourceStatus, silence_choices, value_text
from bot.domain import Alert, AlertNote
from bot.slack.blocks.tickets import duplicate_text, when
from bot.slack.ids import Action, Callback
from bot.slack.text import escape
from bot.tickets.duplicates import read_note_detail


def scope_text(alert: Alert) -> str:
    """Show what the alert is about: the scope's labels, or everything."""
    if not alert.scope:
        return "all traffic"
    return ", ".join(f"{escape(k)}=`{escape(v)}`" for k, v in alert.scope)


def duration_text(seconds: float) -> str:
    """Show a duration the way people say it."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def alert_message(
    alert: Alert, silenced_until: dt.datetime | None = None, jira_enabled: bool = False
) -> tuple[str, list[Block]]:
    """Render an alert's channel message (firing, or resolved once updated in place)."""
    resolved = alert.state == "resolved"
    mark = ":white_check_mark:" if resolved else ":rotating_light:"
    state = "resolved" if resolved else "firing"
    title = f"{alert.rule_id} {state} · {alert.severity}"
    fields = [
        MarkdownTextObject(text=f"*Value*\n{value_text(alert.value, alert.unit)}"),
        MarkdownTextObject(text=f"*Threshold*\n{value_text(alert.threshold, alert.unit)}"),
        MarkdownTextObject(text=f"*Scope*\n{scope_text(alert)}"),
        MarkdownTextObject(text=f"*Since*\n{when(alert.since)}"),
    ]
    context = [f"Source `{escape(alert.source_id)}`"]
    if resolved and alert.resolved_at:
        lasted = (alert.resolved_at - alert.fired_at).total_seconds()
        context.append(f"Resolved {when(alert.resolved_at)} after {duration_text(lasted)}")
    else:
        context.append("Repeats and the resolution go in this thread")
    if alert.acknowledged_by and alert.acknowledged_at:
        context.append(f"Acknowledged by <@{alert.acknowledged_by}> {when(alert.acknowledged_at)}")
    if silenced_until and not resolved:
        context.append(f"Silenced until {when(silenced_until)}")
    if alert.ticket_key and alert.ticket_url:
        context.append(f"Jira <{alert.ticket_url}|{escape(alert.ticket_key)}>")
    blocks: list[Block] = [
        HeaderBlock(text=f"{'✅' if resolved else '🚨'} {title}"[:150]),
        SectionBlock(fields=fields),
        ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]),
    ]
    if not resolved:
        buttons = []
        if not alert.acknowledged_by:
            buttons.append(
                ButtonElement(
                    text="Acknowledge",
                    action_id=Action.ACK_ALERT,
                    value=str(alert.id),
                    style="primary",
                )
            )
        if not silenced_until:
            buttons.append(
                ButtonElement(text="Silence…", action_id=Action.SILENCE_ALERT, value=str(alert.id))
            )
        if jira_enabled and not alert.ticket_key:
            buttons.append(
                ButtonElement(
                    text="Create Jira ticket", action_id=Action.ALERT_TICKET, value=str(alert.id)
                )
            )
        if buttons:
            blocks.append(ActionsBlock(elements=buttons))
    fallback = f"{mark} {alert.rule_id} {state}: {value_text(alert.value, alert.unit)}"
    return fallback, blocks


def repeat_text(alert: Alert) -> str:
    """A reminder in the alert's thread."""
    return (
        f":repeat: Still firing: {value_text(alert.value, alert.unit)} "
        f"(threshold {value_text(alert.threshold, alert.unit)}), since {when(alert.since)}."
    )


def resolved_text(alert: Alert) -> str:
    """The resolution note in the alert's thread."""
    lasted = ((alert.resolved_at or alert.fired_at) - alert.fired_at).total_seconds()
    return (
        f":white_check_mark: Resolved after {duration_text(lasted)}: now "
        f"{value_text(alert.value, alert.unit)}."
    )


def note_text(note: AlertNote) -> str:
    """A note in an alert's thread: acknowledged, silenced, a ticket opened or refused."""
    if note.kind == "ticketed":  # `by` holds the key and `reason` the link
        return f":ticket: Jira ticket <{note.reason}|{escape(note.by)}> is open for this alert."
    if note.kind == "ticket_refused":  # `reason` holds what Jira said
        return (
            f":warning: Jira refused the ticket for this alert: {escape(note.reason)}. "
            "Fix the Jira mapping, then a lead can press *Create Jira ticket* again."
        )
    if note.kind == "ticket_duplicate":  # `reason` holds the duplicate, the keeper, the outcome
        return duplicate_text("this alert", *read_note_detail(note.reason))
    if note.kind == "acknowledged":
        return f":eyes: Acknowledged by <@{note.by}>."
    if note.kind == "silenced" and note.until:
        return (
            f":zipper_mouth_face: Silenced by <@{note.by}> until {when(note.until)}: "
            f"{escape(note.reason)}"
        )
    return f":loud_sound: Silence ended by <@{note.by}>."


def silence_modal(alert: Alert, zone: ZoneInfo, now: dt.datetime) -> View:
    """The form a lead fills in to silence an alert: for how long, and why (required)."""
    options = [Option(value=key, text=label) for key, label, _ in silence_choices(zone, now)]
    # The choices' times are computed again at submit: the modal may stay open a while.
    return View(
        type="modal",
        callback_id=Callback.SILENCE_MODAL,
        title="Silence alert",
        submit="Silence",
        close="Cancel",
        private_metadata=str(alert.id),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"*{escape(alert.rule_id)}* on {scope_text(alert)}: repeats stop being "
                    "posted until the silence ends. Resolution is still posted."
                )
            ),
            InputBlock(
                block_id="duration",
                label="For how long",
                element=StaticSelectElement(
                    action_id=Action.INPUT, options=options, initial_option=options[0]
                ),
            ),
            InputBlock(
                block_id="reason",
                label="Why (shown in the alert's thread)",
                element=PlainTextInputElement(action_id=Action.INPUT, max_length=300),
            ),
        ],
    )


def source_notice_text(event: SourceEvent) -> str:
    """Say a metrics source went down or recovered."""
    source = f"`{escape(event.source_id)}`"
    if event.kind is SourceEventKind.SOURCE_DOWN:
        return (
            f":warning: Metrics source {source} is unreachable ({event.failure.value}) since "
            f"{when(event.failing_since)}. Its rules neither fire nor resolve until it is back."
        )
    return (
        f":white_check_mark: Metrics source {source} is back after "
        f"{duration_text(event.outage.total_seconds())}."
    )


MAX_BLOCKS = 45  # below Slack's 50 per message, leaving room for the header lines


def leads_only(leads: list[str]) -> str:
    """Say that only leads may do this, and who they are."""
    who = ", ".join(f"<@{lead}>" for lead in leads[:5]) or "a hypercare lead"
    return f"Only hypercare leads can do that. Ask {who}."


def _scope(scope: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{escape(k)}={escape(v)}" for k, v in scope) or "all traffic"


def metrics_status(sources: list[SourceStatus] | None) -> tuple[str, list[Block]]:
    """Render each source's state and each rule's current value."""
    if sources is None:
        text = "Gateway alerts are not set up: add a `metrics:` section to the program file."
        return text, [SectionBlock(text=MarkdownTextObject(text=text))]
    blocks: list[Block] = []
    for source in sources:
        state = (
            f":red_circle: down ({escape(source.failure or '?')})"
            if source.down
            else (
                ":large_green_circle: up" if source.last_success else ":white_circle: not read yet"
            )
        )
        seen = f" · last read {when(source.last_success)}" if source.last_success else ""
        lines = [f"*{escape(source.source_id)}* {state}{seen}"]
        for rule in source.rules:
            limit = value_text(rule.threshold, rule.unit)
            if not rule.values:
                lines.append(f"• `{escape(rule.rule_id)}`: no data yet (threshold {limit})")
                continue
            for scope, value in list(rule.values.items())[:10]:
                lines.append(
                    f"• `{escape(rule.rule_id)}` {_scope(scope)}: "
                    f"{value_text(value, rule.unit)} (threshold {limit})"
                )
        blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(lines)[:2990])))
    return "Gateway metrics", blocks[:MAX_BLOCKS]


def silences_list(silences: list[SilenceView] | None) -> tuple[str, list[Block]]:
    """Render the silences in force, each with an End button (leads only, checked on click)."""
    if not silences:
        text = "No alert is silenced right now."
        return text, [SectionBlock(text=MarkdownTextObject(text=text))]
    blocks: list[Block] = []
    for silence in silences[: MAX_BLOCKS - 1]:
        scope = _scope(silence.scope) if silence.scope is not None else "every scope"
        text = (
            f"*{escape(silence.rule_id)}* on {scope} until {when(silence.until)}\n"
            f"by <@{silence.by}>: {escape(silence.reason)}"
        )
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=text[:2990]),
                accessory=ButtonElement(
                    text="End now", action_id=Action.END_SILENCE, value=silence.rule_id[:2000]
                ),
            )
        )
    if len(silences) > len(blocks):
        more = f"and {len(silences) - len(blocks)} more"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=more)]))
    return f"{len(silences)} silence(s) in force", blocks
